package flusher

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata"
)

// The buffer set: the buffers a flusher knows (named, discovered by SCAN, vouched for by a
// claim), found and polled, and forgotten when they stay empty.

// idleBufferAfter is how long a discovered buffer may stay empty before it is no longer
// polled (SCAN or the high-water trigger finds it again when it refills). Named buffers
// are polled for good.
const idleBufferAfter = 10 * time.Minute

// bufferKeys returns the buffers known to exist (or named), sorted.
func (f *Flusher) bufferKeys() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	keys := make([]string, 0, len(f.buffers))
	for k := range f.buffers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (f *Flusher) assetOf(buffer string) string {
	f.mu.Lock()
	asset, ok := f.buffers[buffer]
	f.mu.Unlock()
	if !ok {
		asset, _, _ = f.opts.TickKey.Match(buffer)
	}
	return asset
}

// knowBuffer adds a buffer that was found to exist.
// An existing buffer is always flushed, whatever its name and however many there are: the
// limit on assets is for names seen only on pub/sub, and ticks in a list someone made are
// data, stored or dead-lettered, never left to the producers' trim. Keys of the flusher's
// own namespace are never buffers (a --tick-key of '{asset}' would match them).
func (f *Flusher) knowBuffer(key string) {
	asset, _, ok := f.opts.TickKey.Match(key)
	if !ok || (len(f.opts.Assets) > 0 && !slices.Contains(f.opts.Assets, asset)) ||
		strings.HasPrefix(key, f.namespace()+":") {
		return
	}
	f.admission.Vouch(asset) // counted from now on, when there is room
	f.mu.Lock()
	if _, known := f.buffers[key]; !known && !f.notBuffers[key].After(time.Now()) {
		f.buffers[key] = asset
	}
	f.mu.Unlock()
}

func (f *Flusher) namespace() string {
	if f.opts.Namespace != "" {
		return f.opts.Namespace
	}
	return redisdata.DefaultClaimNamespace
}

func (f *Flusher) isKnown(buffer string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.buffers[buffer]
	return ok
}

// notABufferFor is how long a key found not to be a list is left alone before it is
// looked at again (it may become one).
const notABufferFor = 10 * time.Minute

// forgetBuffer stops claiming a key that turned out not to be a tick buffer, for a while;
// a named asset's buffer is never forgotten (its errors stay in the status).
func (f *Flusher) forgetBuffer(key string) {
	if asset, _, _ := f.opts.TickKey.Match(key); slices.Contains(f.opts.Assets, asset) {
		return
	}
	f.mu.Lock()
	delete(f.buffers, key)
	f.notBuffers[key] = time.Now().Add(notABufferFor)
	f.mu.Unlock()
	delete(f.emptySince, key)
}

// discoverLoop looks for buffers and lease registries by SCAN, apart from the claim loop:
// a large keyspace makes discovery slow, never a claim late.
func (f *Flusher) discoverLoop(ctx context.Context) {
	legacyDone := false
	for {
		if !legacyDone {
			legacyDone = f.adoptLegacy(ctx)
		}
		f.discover(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(f.opts.DiscoverEvery):
		}
	}
}

// adoptLegacy turns the first flusher's in-flight lists into claims of ours: a SCAN like
// any other discovery, so it runs here and not before the claim loop starts. While a
// flusher of that version still beats, its lists are its own (it appends to them and
// trims the head): they are left alone until it stops. Reports whether it is done.
func (f *Flusher) adoptLegacy(ctx context.Context) bool {
	if ns := f.opts.Namespace; ns != "" && ns != redisdata.DefaultClaimNamespace {
		return true // the first flusher's lists belong to the default namespace's flushers
	}
	if st, ok, err := redisdata.ReadFlusherStatus(ctx, f.rc, redisdata.DefaultFlusherStatusKey); err == nil && ok &&
		st.Instance == "" && time.Since(st.Heartbeat) < 10*time.Second {
		return false
	}
	adopted, err := f.claimer.AdoptLegacy(ctx, func(buffer string) bool {
		asset, _, ok := f.opts.TickKey.Match(buffer)
		return ok && (len(f.opts.Assets) == 0 || slices.Contains(f.opts.Assets, asset))
	})
	if err != nil {
		if ctx.Err() == nil {
			f.opts.Log(fmt.Sprintf("adopt the first flusher's in-flight lists: %v", err))
		}
		return false
	}
	if len(adopted) > 0 {
		f.opts.Log(fmt.Sprintf("adopted %d in-flight lists left by an earlier version", len(adopted)))
		f.hold(adopted, true)
	}
	return true
}

func (f *Flusher) discover(ctx context.Context) {
	if len(f.opts.Assets) == 0 {
		glob := f.opts.TickKey.Glob()
		err := f.rc.ScanEach(ctx, glob, 1000, func(keys []string) {
			for _, k := range keys {
				f.knowBuffer(k)
			}
		})
		if err != nil && ctx.Err() == nil {
			f.opts.Log(fmt.Sprintf("discover buffers: %v", err))
		}
	}
	registries, err := f.claimer.Registries(ctx)
	if err != nil {
		if ctx.Err() == nil {
			f.opts.Log(fmt.Sprintf("discover claims: %v", err))
		}
		// What the reachable nodes said, and what the others said last time.
		f.mu.Lock()
		registries = mergeKeys(registries, f.registries)
		f.mu.Unlock()
	}
	if len(f.opts.Assets) > 0 {
		registries = slices.DeleteFunc(registries, func(b string) bool {
			asset, _, ok := f.opts.TickKey.Match(b)
			return !ok || !slices.Contains(f.opts.Assets, asset)
		})
	}
	f.mu.Lock()
	f.registries = registries
	f.mu.Unlock()
}

// maxCandidateClaims bounds the claims an interval tries for names seen only on pub/sub.
const maxCandidateClaims = 100

// candidateBuffers returns the buffers of names seen publishing that no SCAN or claim has
// vouched for yet: an interval claim tries each, so a new slow feed is flushed before the
// next SCAN, while a flood of junk channel names costs at most maxCandidateClaims claim
// attempts per interval (a claim of a missing key moves nothing) and no LLEN at all.
func (f *Flusher) candidateBuffers() []string {
	names := f.admission.Candidates(maxCandidateClaims)
	f.admission.Drop(names...) // tried once; seen again, they come back
	keys := make([]string, 0, len(names))
	for _, asset := range names {
		if model.PlausibleAsset(asset) == "" {
			keys = append(keys, f.opts.TickKey.Key(asset, ""))
		}
	}
	return keys
}

// mergeKeys returns the sorted union of two key lists.
func mergeKeys(a, b []string) []string {
	out := append(slices.Clone(a), b...)
	slices.Sort(out)
	return slices.Compact(out)
}

// pollBuffers polls LLEN of every known buffer in one round trip and returns those at
// HighWater. Buffers empty for idleBufferAfter are forgotten, unless named.
func (f *Flusher) pollBuffers(ctx context.Context) []string {
	keys := f.bufferKeys()
	lens, err := redisdata.ListLengths(ctx, f.rc, keys)
	if err != nil {
		return nil // a dead server shows in the next claim
	}
	now := time.Now()
	var due, idle []string
	var total int64
	for i, k := range keys {
		total += lens[i]
		switch {
		case lens[i] >= int64(f.opts.HighWater):
			due = append(due, k)
		case lens[i] > 0:
			delete(f.emptySince, k)
		case f.emptySince[k].IsZero():
			f.emptySince[k] = now
		case now.Sub(f.emptySince[k]) > idleBufferAfter && len(f.opts.Assets) == 0:
			idle = append(idle, k)
			delete(f.emptySince, k)
		}
	}
	f.mu.Lock()
	f.buffered = total
	for _, k := range idle {
		delete(f.buffers, k)
	}
	f.mu.Unlock()
	for _, k := range idle {
		if asset, _, ok := f.opts.TickKey.Match(k); ok {
			f.admission.Unvouch(asset) // its place among the counted names goes back
		}
	}
	return due
}
