package flusher

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/quflx/quflx-tui/redisdata"
)

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
