package flusher

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata"
)

// Status returns what the flusher publishes about itself.
func (f *Flusher) Status() redisdata.FlusherStatus {
	st := f.Stats()
	// The backlog's buffered part is the claim loop's last LLEN poll (every LLENEvery): no
	// extra round trip for the heartbeat.
	f.mu.Lock()
	buffered := f.buffered
	assets := f.assetsLocked()
	f.mu.Unlock()
	return redisdata.FlusherStatus{
		Instance: f.opts.Instance, State: st.State, Store: f.st.Describe(), Host: f.host, PID: os.Getpid(),
		StartedAt: f.start, Heartbeat: time.Now(), LastFlush: st.LastFlush, NextFlush: st.NextFlush,
		Interval: f.opts.Interval.Seconds(), HighWater: f.opts.HighWater,
		LastRows: st.LastRows, Produced: st.Produced, Flushed: st.Flushed, Bad: st.Bad,
		LostToTrim: st.LostToTrim, Vanished: st.Vanished, DuplicatesSkipped: st.DuplicatesSkipped,
		Errors: st.Errors, LastError: st.LastErr, LastErrorAt: st.LastErrAt, Backlog: st.InFlight + buffered,
		InFlight: st.InFlight, Claims: st.Claims, Buffers: st.Buffers, Adopted: st.Adopted, Conflicts: st.Conflicts,
		MaxBacklog: f.opts.MaxBacklog, BacklogFull: st.BacklogFull, DownSince: st.DownSince,
		Problem: problem(st, f.opts.MaxBacklog), Assets: assets,
	}
}

// storedAsset is what the flusher committed of one asset.
type storedAsset struct {
	stored int64
	last   model.Tick // the newest committed
}

// noteStored records committed ticks per asset: readers learn from the status which
// assets the pipeline carries and how fresh each is, though their buffers stay drained.
func (f *Flusher) noteStored(ticks []model.Tick) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.storedAssets == nil {
		f.storedAssets = map[string]*storedAsset{}
	}
	for _, t := range ticks {
		a := f.storedAssets[t.Asset]
		if a == nil {
			if len(f.storedAssets) >= maxStoredAssets {
				continue // bounded: names come from the buffers' keys, anyone's to choose
			}
			a = &storedAsset{}
			f.storedAssets[t.Asset] = a
		}
		a.stored++
		if t.UnixMicro >= a.last.UnixMicro {
			a.last = t
		}
	}
}

const maxStoredAssets = 4 * redisdata.MaxFlusherAssets

// assetsLocked lists what the flusher holds and stored per asset, the most recently
// stored first kept when there are more than a status lists.
func (f *Flusher) assetsLocked() []redisdata.FlusherAsset {
	byName := map[string]*redisdata.FlusherAsset{}
	get := func(asset string) *redisdata.FlusherAsset {
		a := byName[asset]
		if a == nil {
			a = &redisdata.FlusherAsset{Asset: asset}
			byName[asset] = a
		}
		return a
	}
	for _, h := range f.held {
		if h.asset != "" {
			get(h.asset).InFlight += h.ref.Len
		}
	}
	for name, s := range f.storedAssets {
		a := get(name)
		a.Stored, a.LastTick, a.LastPrice = s.stored, s.last.Time(), s.last.Price
	}
	out := make([]redisdata.FlusherAsset, 0, len(byName))
	for _, a := range byName {
		out = append(out, *a)
	}
	if len(out) > redisdata.MaxFlusherAssets {
		slices.SortFunc(out, func(a, b redisdata.FlusherAsset) int {
			return cmp.Or(cmp.Compare(b.InFlight, a.InFlight), b.LastTick.Compare(a.LastTick))
		})
		out = out[:redisdata.MaxFlusherAssets]
	}
	slices.SortFunc(out, func(a, b redisdata.FlusherAsset) int { return cmp.Compare(a.Asset, b.Asset) })
	return out
}

// problem says in one line what an operator must know, or "".
func problem(st Stats, maxBacklog int64) string {
	switch {
	case st.BacklogFull && !st.DownSince.IsZero():
		return fmt.Sprintf("backlog full: store down since %s, %d entries held (--max-backlog %d): no longer claiming, the producers' trim may lose ticks",
			st.DownSince.Format("2006-01-02 15:04:05"), st.InFlight, maxBacklog)
	case st.BacklogFull:
		return fmt.Sprintf("backlog full: %d entries held (--max-backlog %d): no longer claiming", st.InFlight, maxBacklog)
	case !st.DownSince.IsZero():
		return fmt.Sprintf("store down since %s: %d entries held in Redis, retrying", st.DownSince.Format("2006-01-02 15:04:05"), st.InFlight)
	case st.LastErr != "":
		return st.LastErr
	}
	return ""
}

// publishStatus writes the status keys for dashboards and health checks in other
// processes.
func (f *Flusher) publishStatus(ctx context.Context) {
	ttl := max(5*f.opts.StatusEvery, 5*time.Second)
	if err := redisdata.PublishFlusherStatusIn(ctx, f.rc, f.opts.Namespace, f.opts.StatusKey, f.Status(), ttl); err != nil {
		f.opts.Log(err.Error())
	}
}
