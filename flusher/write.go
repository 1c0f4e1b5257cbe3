package flusher

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/quflx/quflx-tui/redisdata"
	"github.com/quflx/quflx-tui/store"
)

// writeLoop writes whatever is claimed when woken, backing off after failures, until stop
// is closed (a write under way finishes first). The retry timer is armed once per failure
// and survives wake-ups: a busy feed wakes the writer far more often than the backoff, and
// a timer made anew on every wake-up would never fire.
func (f *Flusher) writeLoop(stop <-chan struct{}) {
	ctx := context.Background()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	var backoff time.Duration
	lastPrune := time.Now()
	for {
		select {
		case <-stop:
			return
		case <-f.wake:
			if backoff > 0 {
				continue // the armed retry comes; claims are safe meanwhile
			}
		case <-retry.C:
		}
		if err := f.writeAll(ctx, backoff > 0); err != nil {
			backoff = min(max(2*backoff, f.opts.RetryMin), f.opts.RetryMax)
			f.failed(&f.writeErr, fmt.Errorf("%w (retry in %s)", err, backoff))
			retry.Reset(backoff)
			continue
		}
		backoff = 0
		if time.Since(lastPrune) > time.Hour {
			lastPrune = time.Now()
			f.pruneProgress(ctx)
		}
		// Claims set aside as busy are tried again when their time is up, whether or not
		// anything new is claimed meanwhile.
		if next := f.nextBusy(); !next.IsZero() {
			retry.Reset(time.Until(next))
		}
	}
}

// progressKeptFor is how long the store keeps a claim's progress after it last moved. A
// claim is released as soon as it is committed whole, so a row this old belongs to a
// claim long gone; forgetting one still in flight would let a replay count its dead
// letters twice (its ticks are idempotent anyway).
const progressKeptFor = 7 * 24 * time.Hour

func (f *Flusher) pruneProgress(ctx context.Context) {
	n, err := storeCall(f, ctx, func(ctx context.Context) (int64, error) {
		return f.st.PruneClaimProgress(ctx, time.Now().Add(-progressKeptFor))
	})
	switch {
	case err != nil:
		f.opts.Log(fmt.Sprintf("prune claim progress: %v", err))
	case n > 0:
		f.opts.Log(fmt.Sprintf("forgot the progress of %d claims released more than a week ago", n))
	}
}

// nextBusy returns when the earliest claim set aside as busy is due again (zero: none).
func (f *Flusher) nextBusy() time.Time {
	var next time.Time
	for _, until := range f.busy {
		if next.IsZero() || until.Before(next) {
			next = until
		}
	}
	return next
}

// maxConflictRounds bounds how often one writeAll starts over after another flusher
// committed entries it was about to write.
const maxConflictRounds = 5

// probeBatch bounds the first transaction after a failed write: a store that came back
// is proven, and written to, at once (a 50,000-tick first transaction took seconds), and
// a store that is still failing rolls little back.
const probeBatch = 1000

// writeAll commits every held claim. A claim another flusher committed meanwhile (the
// store refuses the write) is simply looked at again from where the store says it stands.
// probe makes the first transaction small (see probeBatch).
func (f *Flusher) writeAll(ctx context.Context, probe bool) error {
	f.mu.Lock()
	f.writing = true
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.writing = false
		f.mu.Unlock()
	}()
	for round := 0; ; round++ {
		err := f.writeHeld(ctx, probe)
		var busy *store.ClaimBusyError
		switch {
		case errors.As(err, &busy) && round < maxConflictRounds:
			// Another session holds the claim's row (a writer mid-transaction, or one that
			// froze there): set it aside for a lease and write the others now.
			f.busy[busy.ID] = time.Now().Add(f.opts.Lease)
			f.opts.Log(fmt.Sprintf("claim %s is locked by another session; set aside for %s", busy.ID, f.opts.Lease))
		case errors.Is(err, store.ErrClaimConflict) && round < maxConflictRounds:
			f.update(func(s *Stats) { s.Conflicts++ })
		default:
			if err == nil {
				f.succeeded(&f.writeErr)
			}
			return err
		}
	}
}

// pending is what is left of one claim to commit.
type pending struct {
	heldClaim
	from int64 // committed, per the store
}

// writeHeld reads the held claims from where the store says each stands, in chunks
// bounded in entries and bytes, writes them in transactions of at most MaxBatch entries
// (or MaxBatchBytes), and releases every claim committed whole.
func (f *Flusher) writeHeld(ctx context.Context, probe bool) (err error) {
	now := time.Now()
	refs := slices.DeleteFunc(f.heldRefs(), func(r redisdata.ClaimRef) bool { return f.busy[r.ID].After(now) })
	maps.DeleteFunc(f.busy, func(_ string, until time.Time) bool { return !until.After(now) })
	if len(refs) == 0 {
		return nil
	}
	if observe := f.opts.Observe.Flush; observe != nil {
		defer func() { observe(time.Since(now), err) }()
	}
	ids := make([]string, len(refs))
	for i, r := range refs {
		ids[i] = r.ID
	}
	progress, err := storeCall(f, ctx, func(ctx context.Context) (map[string]int64, error) {
		return f.st.ClaimProgress(ctx, ids)
	})
	if err != nil {
		return fmt.Errorf("read claim progress from %s: %w", f.st.Kind(), err)
	}
	var done []redisdata.ClaimRef // committed whole: to release
	var todo []pending
	for _, r := range refs {
		if from := progress[r.ID]; from >= r.Len {
			done = append(done, r)
		} else {
			todo = append(todo, pending{heldClaim{ref: r, asset: f.assetOf(r.Buffer)}, from})
		}
	}

	b := batchBuilder{f: f, limit: f.opts.MaxBatch}
	if probe {
		b.limit = min(probeBatch, f.opts.MaxBatch)
	}
	first := true
	commit := func() error {
		if b.empty() {
			return nil
		}
		if first {
			f.pause("read")
			first = false
		}
		finished, err := b.commit(ctx)
		if err != nil {
			return err
		}
		b.limit = f.opts.MaxBatch // proven: full transactions from now on
		done = append(done, finished...)
		return nil
	}
	for _, p := range todo {
		for pos := p.from; pos < p.ref.Len && err == nil; {
			var r redisdata.Read
			n := min(int64(f.opts.ReadChunk), int64(b.limit-b.entries), p.ref.Len-pos)
			if r, err = f.claimer.Read(ctx, p.ref, pos, int(max(n, 1))); err != nil {
				break
			}
			if len(r.Entries) == 0 {
				// The claim is gone. Another flusher that adopted it and committed it
				// released it; anything else (eviction, FLUSHDB, a DEL) lost its ticks,
				// which the store's progress tells.
				f.vanished(ctx, p.ref)
				f.drop([]redisdata.ClaimRef{p.ref})
				break
			}
			b.add(p, pos, r)
			pos += int64(len(r.Entries))
			if b.full() {
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
	if len(done) > 0 {
		f.pause("committed")
		// Released even when a later transaction failed: their entries are committed.
		// Those a release did not reach (a node down) are released at the next write.
		released, relErr := f.claimer.Release(ctx, done)
		f.drop(released)
		err = errors.Join(err, relErr)
	}
	return err
}

// vanished counts what a claim that left Redis held beyond the store's progress: ticks no
// one stored, lost without a trace unless said here.
func (f *Flusher) vanished(ctx context.Context, ref redisdata.ClaimRef) {
	progress, err := storeCall(f, ctx, func(ctx context.Context) (map[string]int64, error) {
		return f.st.ClaimProgress(ctx, []string{ref.ID})
	})
	if err != nil {
		f.opts.Log(fmt.Sprintf("claim %s of %s left Redis; its progress could not be read (%v): up to %d ticks may be lost",
			ref.ID, ref.Buffer, err, ref.Len))
		return
	}
	if lost := ref.Len - progress[ref.ID]; lost > 0 {
		f.update(func(s *Stats) { s.Vanished += lost })
		f.opts.Log(fmt.Sprintf("claim %s of %s left Redis before it was stored: %d ticks lost (evicted under an allkeys-* "+
			"maxmemory policy, FLUSHDB or DEL?)", ref.ID, ref.Buffer, lost))
	}
}

// storeCall runs one store call under WriteTimeout.
func storeCall[T any](f *Flusher, ctx context.Context, call func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, f.opts.WriteTimeout)
	defer cancel()
	return call(ctx)
}

// batchBuilder gathers decoded entries and their claim spans into one transaction.
type batchBuilder struct {
	f       *Flusher
	batch   store.Batch
	spans   map[string]*store.ClaimSpan
	claims  map[string]redisdata.ClaimRef
	entries int
	bytes   int
	limit   int // entries per transaction
}

func (b *batchBuilder) empty() bool { return b.entries == 0 }

func (b *batchBuilder) full() bool {
	return b.entries >= b.limit || b.bytes >= b.f.opts.MaxBatchBytes
}

// add decodes entries [pos, pos+len) of a claim into the batch.
func (b *batchBuilder) add(p pending, pos int64, r redisdata.Read) {
	if b.spans == nil {
		b.spans, b.claims = map[string]*store.ClaimSpan{}, map[string]redisdata.ClaimRef{}
	}
	span := b.spans[p.ref.ID]
	if span == nil {
		span = &store.ClaimSpan{ID: p.ref.ID, From: pos, To: pos}
		b.spans[p.ref.ID], b.claims[p.ref.ID] = span, p.ref
	}
	span.To = pos + int64(len(r.Entries))
	now := time.Now()
	for i, e := range r.Entries {
		b.bytes += len(e)
		if big, ok := r.Oversize[i]; ok {
			b.batch.Dead = append(b.batch.Dead, oversizeLetter(p.asset, e, big, b.f.claimer.Options().MaxEntryBytes, now))
			continue
		}
		t, err := b.f.decoder.DecodeString(e, p.asset, now.UnixMicro())
		if err == nil {
			err = store.ValidateTick(t) // what the store would refuse must not block the batch
		}
		if err != nil {
			b.batch.Dead = append(b.batch.Dead, store.DeadLetter{Asset: p.asset, Payload: e, Reason: err.Error(), At: now})
			continue
		}
		b.batch.Ticks = append(b.batch.Ticks, t)
	}
	b.entries += len(r.Entries)
}

// oversizeLetter is the dead letter of an entry too long to read whole: its first bytes,
// and an identity made from the SHA-1 Redis computed of the whole, so that the same junk
// met again counts as the same letter.
func oversizeLetter(asset, head string, big redisdata.Oversize, limit int, at time.Time) store.DeadLetter {
	sum := sha256.Sum256([]byte("sha1:" + big.SHA1))
	return store.DeadLetter{
		Asset: asset, Payload: head, At: at, SHA256: hex.EncodeToString(sum[:]),
		Reason: fmt.Sprintf("entry of %d bytes is over the %d-byte read limit; first %d bytes kept (SHA-1 %s)",
			big.Len, limit, len(head), big.SHA1),
	}
}

// commit writes the batch and returns the claims it completed.
func (b *batchBuilder) commit(ctx context.Context) ([]redisdata.ClaimRef, error) {
	f := b.f
	for _, sp := range b.spans {
		b.batch.Claims = append(b.batch.Claims, *sp)
	}
	b.batch.BeforeCommit = func() error { f.pause("before-commit"); return nil }
	began := time.Now()
	res, err := storeCall(f, ctx, func(ctx context.Context) (store.WriteResult, error) { return f.st.Write(ctx, b.batch) })
	if observe := f.opts.Observe.StoreWrite; observe != nil {
		observe(time.Since(began), err)
	}
	if err != nil {
		err = fmt.Errorf("write %d ticks to %s: %w", len(b.batch.Ticks), f.st.Kind(), err)
		b.reset()
		return nil, err
	}
	now := time.Now()
	f.noteStored(b.batch.Ticks)
	f.update(func(s *Stats) {
		s.Flushed += int64(res.Inserted)
		s.DuplicatesSkipped += int64(res.Duplicates)
		s.Bad += int64(res.DeadLetters)
		s.Flushes++
		s.LastFlush, s.LastRows = now, int64(res.Inserted)
	})
	var finished []redisdata.ClaimRef
	for id, sp := range b.spans {
		if ref := b.claims[id]; sp.To >= ref.Len {
			finished = append(finished, ref)
		}
	}
	b.reset()
	return finished, nil
}

func (b *batchBuilder) reset() {
	b.batch = store.Batch{Ticks: b.batch.Ticks[:0], Dead: b.batch.Dead[:0]}
	clear(b.spans)
	clear(b.claims)
	b.entries, b.bytes = 0, 0
}

// failed records a failed claim or write; flag says which.
func (f *Flusher) failed(flag *bool, err error) {
	now := time.Now()
	f.mu.Lock()
	*flag = true
	f.stats.Errors++
	f.stats.LastErr, f.stats.LastErrAt = err.Error(), now
	if flag == &f.writeErr && f.stats.DownSince.IsZero() {
		f.stats.DownSince = now
	}
	f.mu.Unlock()
	f.opts.Log("flush failed: " + err.Error())
}

// succeeded clears a failure flag, and the last error once nothing is failing.
func (f *Flusher) succeeded(flag *bool) {
	f.mu.Lock()
	*flag = false
	if flag == &f.writeErr {
		f.stats.DownSince = time.Time{}
	}
	if !f.claimErr && !f.writeErr {
		f.stats.LastErr = ""
	}
	f.mu.Unlock()
}
