package flusher

import (
	"context"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/quflx/quflx-tui/redisdata"
	"github.com/quflx/quflx-tui/store"
)

// writeLoop writes whatever is in flight when woken, backing off after failures, until
// stop is closed (a write under way finishes first).
func (f *Flusher) writeLoop(stop <-chan struct{}) {
	ctx := context.Background()
	backoff := time.Duration(0)
	for {
		var retry <-chan time.Time
		if backoff > 0 {
			retry = time.After(backoff)
		}
		select {
		case <-stop:
			return
		case <-f.wake:
			if backoff > 0 {
				continue // still backing off: the retry timer comes
			}
		case <-retry:
		}
		if err := f.writeAll(ctx); err != nil {
			backoff = min(max(2*backoff, f.opts.RetryMin), f.opts.RetryMax)
			f.failed(&f.writeErr, fmt.Errorf("%w (retry in %s)", err, backoff))
			continue
		}
		backoff = 0
	}
}

// writeAll reads every in-flight list in bounded chunks and writes them to the store in
// transactions of at most MaxBatch entries. After the last commit the committed entries
// are removed from the heads of their lists; entries claims appended meanwhile stay.
func (f *Flusher) writeAll(ctx context.Context) error {
	lists, assets := f.inflightLists()
	if len(lists) == 0 {
		return nil
	}
	lens, err := f.release.Lengths(ctx, lists)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.writing = true
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.writing = false
		f.mu.Unlock()
	}()

	var (
		batch     store.Batch
		inBatch   = map[string]int64{} // entries of each list in the batch being built
		committed = map[string]int64{} // entries of each list committed
		rows      int64
		first     = true
	)
	commit := func() error {
		if len(batch.Ticks)+len(batch.Dead) == 0 {
			return nil
		}
		if first {
			f.pause("read")
			first = false
		}
		batch.BeforeCommit = func() error { f.pause("before-commit"); return nil }
		res, err := f.st.Write(ctx, batch)
		if err != nil {
			return fmt.Errorf("write %d ticks to %s: %w", len(batch.Ticks), f.st.Kind(), err)
		}
		rows += int64(res.Inserted)
		f.update(func(s *Stats) {
			s.Flushed += int64(res.Inserted)
			s.DuplicatesSkipped += int64(res.Duplicates)
			s.Bad += int64(len(batch.Dead))
		})
		for k, n := range inBatch {
			committed[k] += n
		}
		clear(inBatch)
		batch = store.Batch{Ticks: batch.Ticks[:0], Dead: batch.Dead[:0]}
		return nil
	}

	for i, list := range lists {
		for start := int64(0); start < lens[i] && err == nil; start += int64(f.opts.ReadChunk) {
			var entries []string
			n := min(int64(f.opts.ReadChunk), lens[i]-start)
			if entries, err = f.release.Read(ctx, list, start, n); err != nil {
				break
			}
			f.decode(assets[i], entries, &batch)
			inBatch[list] += int64(len(entries))
			if len(batch.Ticks)+len(batch.Dead) >= f.opts.MaxBatch {
				err = commit()
			}
		}
		if err != nil {
			break
		}
	}
	if err == nil {
		err = commit()
	}
	if len(committed) > 0 {
		f.pause("committed")
	}
	// Committed entries are removed even when a later transaction failed: they are safe
	// in the store, and a replay would only be skipped as duplicates.
	remaining, relErr := f.release.Release(ctx, committed)
	if relErr != nil && err == nil {
		err = relErr
	}
	f.setInFlight(remaining, lists, lens, committed)
	if err != nil {
		return err
	}
	if len(committed) > 0 {
		now := time.Now()
		f.update(func(s *Stats) { s.Flushes++; s.LastFlush, s.LastRows = now, rows })
	}
	f.succeeded(&f.writeErr)
	return nil
}

// inflightLists returns the known in-flight lists and their assets, sorted.
func (f *Flusher) inflightLists() ([]string, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	lists := make([]string, 0, len(f.inflight))
	for k := range f.inflight {
		lists = append(lists, k)
	}
	slices.Sort(lists)
	assets := make([]string, len(lists))
	for i, k := range lists {
		assets[i] = f.inflight[k]
	}
	return lists, assets
}

// setInFlight records what is left in flight after a write. Lists stay known even when
// empty: a claim may refill one at any moment, and forgetting it then would strand it.
func (f *Flusher) setInFlight(remaining map[string]int64, lists []string, lens []int64, committed map[string]int64) {
	var total int64
	for i, k := range lists {
		left, ok := remaining[k]
		if !ok {
			left = lens[i] - committed[k]
		}
		total += left
	}
	f.update(func(s *Stats) { s.InFlight = total })
}

// decode turns entries into ticks, and the undecodable ones into dead letters: set aside
// with the reason, never silently dropped and never blocking the buffer.
func (f *Flusher) decode(asset string, entries []string, batch *store.Batch) {
	now := time.Now()
	for _, e := range entries {
		t, err := f.decoder.DecodeString(e, asset, now.UnixMicro())
		if err == nil {
			err = store.ValidateTick(t) // what the store would refuse must not block the batch
		}
		if err != nil {
			batch.Dead = append(batch.Dead, store.DeadLetter{Asset: asset, Payload: e, Reason: err.Error(), At: now})
			continue
		}
		batch.Ticks = append(batch.Ticks, t)
	}
}

// failed records a failed claim or write; flag says which.
func (f *Flusher) failed(flag *bool, err error) {
	now := time.Now()
	f.mu.Lock()
	*flag = true
	f.stats.Errors++
	f.stats.LastErr, f.stats.LastErrAt = err.Error(), now
	f.mu.Unlock()
	f.opts.Log("flush failed: " + err.Error())
}

// succeeded clears a failure flag, and the last error once nothing is failing.
func (f *Flusher) succeeded(flag *bool) {
	f.mu.Lock()
	*flag = false
	if !f.claimErr && !f.writeErr {
		f.stats.LastErr = ""
	}
	f.mu.Unlock()
}

// publishStatus writes the status key for dashboards in other processes.
func (f *Flusher) publishStatus(ctx context.Context) {
	st := f.Stats()
	// The backlog's buffered part is the claim loop's last LLEN poll (every LLENEvery): no
	// extra round trip for the heartbeat.
	f.mu.Lock()
	buffered := f.buffered
	f.mu.Unlock()
	status := redisdata.FlusherStatus{
		State: st.State, Store: f.st.Describe(), Host: f.host, PID: os.Getpid(),
		StartedAt: f.start, Heartbeat: time.Now(), LastFlush: st.LastFlush, NextFlush: st.NextFlush,
		Interval: f.opts.Interval.Seconds(), HighWater: f.opts.HighWater,
		LastRows: st.LastRows, Produced: st.Produced, Flushed: st.Flushed, Bad: st.Bad,
		LostToTrim: st.LostToTrim, DuplicatesSkipped: st.DuplicatesSkipped,
		Errors: st.Errors, LastError: st.LastErr, LastErrorAt: st.LastErrAt, Backlog: st.InFlight + buffered,
	}
	ttl := max(5*f.opts.StatusEvery, 5*time.Second)
	if err := redisdata.PublishFlusherStatus(ctx, f.rc, f.opts.StatusKey, status, ttl); err != nil {
		f.opts.Log(err.Error())
	}
}
