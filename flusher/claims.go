package flusher

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata"
)

// idleBufferAfter is how long a discovered buffer may stay empty before it is no longer
// polled (SCAN or the high-water trigger finds it again when it refills). Named buffers
// are polled for good.
const idleBufferAfter = 10 * time.Minute

// claimLoop claims buffers as they fill and at every interval, renews and adopts leases,
// and publishes the status, until ctx is done. It never waits on the store.
func (f *Flusher) claimLoop(ctx context.Context, sub *redisdata.Subscriber) {
	check := time.NewTicker(f.opts.CheckEvery)
	defer check.Stop()
	now := time.Now()
	nextFlush := now.Add(f.opts.Interval)
	nextLLEN, nextStatus, nextAdopt := now, now, now
	nextRenew := now.Add(f.opts.Lease / 3)
	f.mu.Lock()
	f.stats.NextFlush, f.phase = nextFlush, ""
	f.mu.Unlock()
	// Alive from the start, not from the first check: a dashboard started with the flusher
	// (the demo's) would otherwise call it dead on its first poll.
	f.publishStatus(ctx)
	nextStatus = now.Add(f.opts.StatusEvery)
	for {
		select {
		case <-ctx.Done():
			return
		case <-check.C:
		}
		now := time.Now()
		arrivals := sub.Stats()
		var due []string
		if now.After(nextFlush) {
			nextFlush = now.Add(f.opts.Interval)
			f.update(func(s *Stats) { s.NextFlush = nextFlush })
			due = mergeKeys(f.bufferKeys(), mergeKeys(f.publishedSinceClaim(arrivals), f.candidateBuffers()))
		} else {
			due = f.overHighWater(arrivals)
			if now.After(nextLLEN) {
				nextLLEN = now.Add(f.opts.LLENEvery)
				for _, k := range f.pollBuffers(ctx) {
					if !slices.Contains(due, k) {
						due = append(due, k)
					}
				}
			}
		}
		if len(due) > 0 {
			f.claim(ctx, due)
		}
		if now.After(nextRenew) {
			nextRenew = now.Add(f.opts.Lease / 3)
			f.renew(ctx)
		}
		if now.After(nextAdopt) {
			nextAdopt = now.Add(f.opts.AdoptEvery)
			f.adopt(ctx)
		}
		if now.After(nextStatus) {
			nextStatus = now.Add(f.opts.StatusEvery)
			f.publishStatus(ctx)
		}
	}
}

func (f *Flusher) notify() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

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

// overHighWater returns the buffers whose asset published HighWater ticks since its last
// claim: the trigger that keeps up with fast feeds without polling. An asset seen only on
// pub/sub is tried too: its claim tells whether it has a buffer at all, and a channel
// that publishes fewer than HighWater messages never costs a command.
func (f *Flusher) overHighWater(arrivals redisdata.SubscriberStats) []string {
	var due []string
	for asset, c := range arrivals.Assets {
		if asset == "" || c.Received-f.lastPublished[asset] < int64(f.opts.HighWater) {
			continue
		}
		if len(f.opts.Assets) > 0 && !slices.Contains(f.opts.Assets, asset) {
			continue
		}
		due = append(due, f.opts.TickKey.Key(asset, ""))
	}
	slices.Sort(due)
	return due
}

// publishedSinceClaim returns the buffers of counted names that published since their
// last claim and are not known buffers yet: an interval claim tries each, so a new slow
// feed is flushed before the next SCAN. Counted names are at most MaxAssets, and one
// whose claim finds nothing gives up its place, so junk costs little.
func (f *Flusher) publishedSinceClaim(arrivals redisdata.SubscriberStats) []string {
	var keys []string
	f.mu.Lock()
	defer f.mu.Unlock()
	for asset, c := range arrivals.Assets {
		if asset == "" || c.Received <= f.lastPublished[asset] {
			continue
		}
		if key := f.opts.TickKey.Key(asset, ""); f.buffers[key] == "" {
			keys = append(keys, key)
		}
	}
	return keys
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

// backlogRoom is how many more entries the flusher may claim before MaxBacklog.
func (f *Flusher) backlogRoom() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	entries, _, _ := f.heldLocked()
	return f.opts.MaxBacklog - entries
}

// claim claims the buffers and wakes the writer.
func (f *Flusher) claim(ctx context.Context, keys []string) {
	if len(keys) == 0 {
		return
	}
	if f.backlogRoom() <= 0 {
		// Claiming more would only move the risk from the producers' trim to Redis's
		// memory; the status says why nothing is claimed.
		return
	}
	if time.Now().Before(f.claimRetryAt) {
		return // Redis did not answer the last claim: the backoff comes first
	}
	// Counted before the claim: a tick published by then was pushed before the RENAME
	// (producers push, then publish), so it is in this claim or was trimmed.
	var before map[string]redisdata.AssetCounts
	windowInexact := true
	if f.countsFn != nil {
		before = f.countsFn()
	}
	results, err := f.claimer.Claim(ctx, keys)
	if err != nil {
		// Every 20 ms a high-water trigger would try again, and log it: back off.
		f.claimBackoff = min(max(2*f.claimBackoff, f.opts.RetryMin), f.opts.RetryMax)
		f.claimRetryAt = time.Now().Add(f.claimBackoff)
		f.failed(&f.claimErr, err)
		return
	}
	f.claimBackoff = 0
	// Counted after, once the subscriber has every tick published before the claim
	// ended: the next claim's window starts here, past the ticks pushed while this one
	// ran (they are in it, though published after the count above). Without the sync a
	// tick claimed now but still on its way to the subscriber would fall in the next
	// window and be counted lost.
	var after map[string]redisdata.AssetCounts
	if f.countsFn != nil {
		synced := f.syncFn == nil
		if !synced {
			syncCtx, cancel := context.WithTimeout(ctx, time.Second)
			synced = f.syncFn(syncCtx) == nil
			cancel()
		}
		after = f.countsFn()
		windowInexact, f.windowInexact = f.windowInexact, !synced
	}
	var claimed []redisdata.ClaimRef
	var failures []error
	for _, r := range results {
		asset := f.assetOf(r.Buffer)
		var moved int64
		if r.Claim != nil {
			moved = r.Claim.Len
			claimed = append(claimed, *r.Claim)
			f.knowBuffer(r.Buffer)
		} else if r.Err == nil && !f.isKnown(r.Buffer) {
			// A name seen only on pub/sub whose buffer holds nothing: it gives up its
			// place among the counted names (a junk channel must not keep it).
			f.admission.Forget(asset)
			delete(f.lastPublished, asset)
			continue
		}
		f.estimateTrimLoss(asset, moved, before, after, windowInexact)
		switch {
		case r.Err == nil:
		case strings.Contains(r.Err.Error(), "WRONGTYPE"): // Redis 6 wraps it in "ERR Error running script"
			// Not a list: whatever it is, it is not a tick buffer. Said once, then left alone.
			f.opts.Log(r.Err.Error() + ": not a tick buffer; no longer claimed")
			f.forgetBuffer(r.Buffer)
		default:
			failures = append(failures, r.Err)
		}
	}
	if len(failures) > 0 {
		// A buffer that cannot be claimed (MOVED, NOPERM...) is a failing flusher, not
		// one with nothing to do.
		f.failed(&f.claimErr, fmt.Errorf("%d of %d claims failed: %w", len(failures), len(results), failures[0]))
	} else {
		f.succeeded(&f.claimErr)
	}
	if len(claimed) > 0 {
		f.hold(claimed, false)
		f.pause("claimed")
	}
}

// hold takes claims into the held set and wakes the writer.
func (f *Flusher) hold(refs []redisdata.ClaimRef, adopted bool) {
	var n int64
	f.mu.Lock()
	for _, ref := range refs {
		if _, ok := f.held[ref.Key]; ok {
			continue
		}
		f.held[ref.Key] = &heldClaim{ref: ref, asset: f.assetOfLocked(ref.Buffer)}
		n += ref.Len
	}
	if adopted {
		f.stats.Adopted += n
	} else {
		f.stats.Produced += n
	}
	f.mu.Unlock()
	f.notify()
}

func (f *Flusher) assetOfLocked(buffer string) string {
	if asset, ok := f.buffers[buffer]; ok {
		return asset
	}
	asset, _, _ := f.opts.TickKey.Match(buffer)
	return asset
}

func (f *Flusher) heldRefs() []redisdata.ClaimRef {
	f.mu.Lock()
	defer f.mu.Unlock()
	refs := make([]redisdata.ClaimRef, 0, len(f.held))
	for _, h := range f.held {
		refs = append(refs, h.ref)
	}
	slices.SortFunc(refs, func(a, b redisdata.ClaimRef) int {
		return cmp.Or(cmp.Compare(a.Buffer, b.Buffer), cmp.Compare(a.ID, b.ID))
	})
	return refs
}

// drop forgets claims: released, or adopted by another flusher.
func (f *Flusher) drop(refs []redisdata.ClaimRef) {
	f.mu.Lock()
	for _, r := range refs {
		delete(f.held, r.Key)
	}
	f.mu.Unlock()
}

// renew extends the leases of the held claims and lets go of those another flusher
// adopted (this one lost Redis for longer than a lease).
func (f *Flusher) renew(ctx context.Context) {
	refs := f.heldRefs()
	if len(refs) == 0 {
		return
	}
	lost, err := f.claimer.Renew(ctx, refs)
	if err != nil {
		f.opts.Log(err.Error())
	}
	if len(lost) > 0 {
		f.opts.Log(fmt.Sprintf("%d claims were taken over by another flusher after their lease ran out", len(lost)))
		f.drop(lost)
	}
}

// adopt takes over claims whose lease ran out, within the backlog's room.
func (f *Flusher) adopt(ctx context.Context) {
	f.mu.Lock()
	buffers := slices.Clone(f.registries)
	for _, h := range f.held {
		buffers = append(buffers, h.ref.Buffer)
	}
	f.mu.Unlock()
	slices.Sort(buffers)
	buffers = slices.Compact(buffers)
	room := f.backlogRoom()
	if len(buffers) == 0 || room <= 0 {
		return
	}
	// Claims are at most a buffer's cap long, usually much less: room for this many.
	maxClaims := int(min(room/int64(f.opts.Cap)+1, 1000))
	adopted, surplus, err := f.claimer.Adopt(ctx, buffers, maxClaims)
	if err != nil {
		f.opts.Log(err.Error())
	}
	if len(surplus) > 0 {
		// Leased beyond the room there is: handed back at once, not held idle a lease long.
		if err := f.claimer.Abandon(ctx, surplus); err != nil {
			f.opts.Log(err.Error())
		}
	}
	if len(adopted) > 0 {
		var n int64
		for _, a := range adopted {
			n += a.Len
		}
		f.opts.Log(fmt.Sprintf("adopted %d claims (%d entries) whose lease ran out", len(adopted), n))
		f.hold(adopted, true)
	}
}

// estimateTrimLoss counts what the producer's LTRIM may have discarded: when a claim
// finds a buffer at its cap, the ticks published in the claim's window beyond those
// claimed were trimmed unread. The window runs from the count after the last claim to
// the count before this one, so a tick pushed during a claim is never counted as lost:
// the estimate errs low, and a loss is never silent.
func (f *Flusher) estimateTrimLoss(asset string, moved int64, before, after map[string]redisdata.AssetCounts, inexact bool) {
	// 0 before the subscriber runs
	window := before[asset].Received - f.lastPublished[asset]
	f.lastPublished[asset] = after[asset].Received
	if inexact {
		return // the window's start is not exact: better no estimate than a high one
	}
	switch {
	case moved >= int64(f.opts.Cap) && window > moved:
		lost := window - moved
		f.update(func(s *Stats) { s.LostToTrim += lost })
		f.opts.Log(fmt.Sprintf("%s: buffer was full at claim: about %d ticks lost to the producer's trim", asset, lost))
	case moved >= int64(f.opts.Cap):
		// Full, but nothing published to count against: a loss may have happened unseen.
		f.opts.Log(fmt.Sprintf("%s: buffer was full at claim; ticks may have been trimmed (the producer does not publish, so the loss cannot be counted)", asset))
	}
}
