// Package flusher is quflx-tui's batch processor: it moves ticks from the Redis buffers
// into the SQL store without losing or duplicating one, which QuFLX's own processor did
// not manage (see the defects list of the wire format).
//
// Two loops share the work. The claim loop moves buffers atomically into in-flight lists
// (redisdata.Claimer) whenever a buffer fills towards the producer's trim cap or the
// interval passes; it never waits on the store, so a slow or dead store cannot make the
// producer's LTRIM throw ticks away. The write loop reads the in-flight lists in bounded
// chunks, writes ticks and dead letters to the store in one transaction, and only then
// removes the committed entries. A crash anywhere in between leaves the entries in flight
// for the next run, whose idempotent inserts make the replay harmless.
package flusher

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata"
	"github.com/quflx/quflx-tui/store"
)

// Options configures a Flusher.
type Options struct {
	TickKey model.KeyPattern
	Channel model.KeyPattern
	// Assets fixes the buffers to flush; empty means discover them (assets seen
	// publishing, and SCAN for those that do not publish).
	Assets []string
	// Interval between regular flushes of every buffer (default 30 s, as QuFLX).
	Interval time.Duration
	// HighWater flushes a buffer early once this many ticks arrived since its last claim
	// (default 500), well before the producer's LTRIM at Cap throws any away.
	HighWater int
	// Cap is the producers' buffer cap (default 1000): a claim that finds a full buffer
	// may have lost ticks to the trim, and the loss is estimated and counted.
	Cap int
	// CheckEvery is how often arrivals are compared with HighWater (default 20 ms).
	CheckEvery time.Duration
	// LLENEvery is how often buffer lengths are polled, for producers that do not
	// publish (default 500 ms).
	LLENEvery time.Duration
	// DiscoverEvery is how often SCAN looks for new buffers (default 5 s).
	DiscoverEvery time.Duration
	// ReadChunk bounds each LRANGE of an in-flight list (default 5000).
	ReadChunk int
	// MaxBatch bounds the entries of one store transaction (default 50,000).
	MaxBatch int
	// StatusKey is where the status is published (default quflx:flusher:status);
	// StatusEvery is the heartbeat (default 1 s).
	StatusKey   string
	StatusEvery time.Duration
	// RetryMin and RetryMax bound the backoff after a failed write (100 ms to 10 s).
	RetryMin, RetryMax time.Duration
	// ClaimPrefix names the in-flight lists (default redisdata.DefaultClaimPrefix).
	ClaimPrefix string
	// PauseAt stops the flusher for good at a step ("claimed", "read", "before-commit",
	// "committed"), after saying so on stderr: crash tests SIGKILL it there.
	PauseAt string
	// Log receives one line per notable event (nil: discarded).
	Log func(string)
}

func (o *Options) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Interval, 30*time.Second)
	def(&o.CheckEvery, 20*time.Millisecond)
	def(&o.LLENEvery, 500*time.Millisecond)
	def(&o.DiscoverEvery, 5*time.Second)
	def(&o.StatusEvery, time.Second)
	def(&o.RetryMin, 100*time.Millisecond)
	def(&o.RetryMax, 10*time.Second)
	if o.HighWater <= 0 {
		o.HighWater = 500
	}
	if o.Cap <= 0 {
		o.Cap = redisdata.DefaultBufferCap
	}
	if o.ReadChunk <= 0 {
		o.ReadChunk = 5000
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 50_000
	}
	if o.StatusKey == "" {
		o.StatusKey = redisdata.DefaultFlusherStatusKey
	}
	if o.Log == nil {
		o.Log = func(string) {}
	}
}

// States of the flusher.
const (
	StateStarting = "starting"
	StateIdle     = "idle"
	StateFlushing = "flushing"
	StateRetrying = "retrying" // the store or Redis failed; ticks are kept and retried
	StateStopped  = "stopped"
)

// Stats are the flusher's counters.
type Stats struct {
	State             string
	Produced          int64 // entries taken from the buffers
	Flushed           int64 // ticks committed
	Bad               int64 // entries set aside as dead letters
	LostToTrim        int64 // estimated ticks trimmed by the producer before a claim
	DuplicatesSkipped int64 // ticks already in the store (replays, resends)
	Errors            int64 // failed claims and writes
	Flushes           int64 // committed writes
	LastRows          int64
	LastFlush         time.Time
	NextFlush         time.Time
	LastErr           string
	LastErrAt         time.Time
	InFlight          int64 // entries claimed and not yet committed
}

// Flusher moves buffered ticks into the store.
type Flusher struct {
	rc      *redisdata.Client
	st      store.Store
	opts    Options
	claimer *redisdata.Claimer // the claim loop's
	release *redisdata.Claimer // the write loop's
	decoder model.Decoder      // the write loop's
	host    string
	start   time.Time

	// The claim loop's own state.
	buffers       map[string]string // buffer key -> asset
	lastPublished map[string]int64  // asset -> pub/sub arrivals at its last claim
	countsFn      func() map[string]redisdata.AssetCounts

	// Shared between the loops.
	wake     chan struct{}     // a claim moved something: write it
	mu       sync.Mutex        // guards what follows
	inflight map[string]string // every in-flight list seen -> its asset
	stats    Stats
	phase    string // starting, running, stopped
	writing  bool
	claimErr bool  // the last claim failed
	writeErr bool  // the last write failed
	buffered int64 // ticks in the buffers at the last LLEN poll, for the status's backlog
}

// New returns a flusher writing to st. rc must be allowed to write (the flusher claims
// and trims keys): running one is the caller's explicit choice.
func New(rc *redisdata.Client, st store.Store, opts Options) *Flusher {
	opts.defaults()
	f := &Flusher{
		rc: rc, st: st, opts: opts,
		claimer:       redisdata.NewClaimer(rc, opts.ClaimPrefix),
		release:       redisdata.NewClaimer(rc, opts.ClaimPrefix),
		start:         time.Now(),
		buffers:       map[string]string{},
		lastPublished: map[string]int64{},
		wake:          make(chan struct{}, 1),
		inflight:      map[string]string{},
	}
	f.host, _ = os.Hostname()
	f.phase = StateStarting
	for _, a := range opts.Assets {
		f.buffers[opts.TickKey.Key(a, "")] = a
	}
	return f
}

// Stats returns a snapshot of the counters.
func (f *Flusher) Stats() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.stats
	switch {
	case f.phase != "":
		s.State = f.phase
	case f.claimErr || f.writeErr:
		s.State = StateRetrying
	case f.writing:
		s.State = StateFlushing
	default:
		s.State = StateIdle
	}
	return s
}

func (f *Flusher) update(fn func(s *Stats)) {
	f.mu.Lock()
	fn(&f.stats)
	f.mu.Unlock()
}

// Run flushes until ctx is done, then makes a last claim and write and returns. Failures
// of the store or of Redis are retried forever, never returned: ticks stay in flight
// meanwhile.
func (f *Flusher) Run(ctx context.Context) error {
	// Claims left in flight by a crashed run are written first.
	if keys, err := f.claimer.Unfinished(ctx); err != nil {
		f.failed(&f.claimErr, fmt.Errorf("recover: %w", err))
	} else if len(keys) > 0 {
		f.opts.Log(fmt.Sprintf("recovering %d claims left in flight by an earlier run", len(keys)))
		f.addBuffers(keys)
		for _, k := range keys {
			f.markInflight(k)
		}
		f.notify()
	}

	subCtx, stopSub := context.WithCancel(context.Background())
	defer stopSub()
	sub := redisdata.NewSubscriber(f.rc, redisdata.SubscriberOptions{
		Channel: f.opts.Channel, Assets: f.opts.Assets, CountOnly: true,
	})
	go func() { _ = sub.Run(subCtx) }()
	f.countsFn = func() map[string]redisdata.AssetCounts { return sub.Stats().Assets }

	// The write loop stops after its current write; the last write follows the last claim.
	stopWriting := make(chan struct{})
	written := make(chan struct{})
	go func() {
		defer close(written)
		f.writeLoop(stopWriting)
	}()

	f.claimLoop(ctx, sub)

	final, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	close(stopWriting)
	<-written
	f.claim(final, f.bufferKeys())
	if err := f.writeAll(final); err != nil {
		f.failed(&f.writeErr, err)
	}
	f.longBuffers(final) // what the last claim left behind, for the last status
	f.mu.Lock()
	f.phase, f.stats.NextFlush = StateStopped, time.Time{}
	f.mu.Unlock()
	f.publishStatus(final)
	return nil
}

// claimLoop claims buffers as they fill and at every interval, until ctx is done.
func (f *Flusher) claimLoop(ctx context.Context, sub *redisdata.Subscriber) {
	check := time.NewTicker(f.opts.CheckEvery)
	defer check.Stop()
	now := time.Now()
	nextFlush := now.Add(f.opts.Interval)
	nextLLEN, nextDiscover, nextStatus := now, now, now
	f.mu.Lock()
	f.stats.NextFlush, f.phase = nextFlush, ""
	f.mu.Unlock()
	for {
		select {
		case <-ctx.Done():
			return
		case <-check.C:
		}
		now := time.Now()
		arrivals := sub.Stats()
		f.addPublishing(arrivals)
		if now.After(nextDiscover) {
			nextDiscover = now.Add(f.opts.DiscoverEvery)
			f.discover(ctx)
		}
		var due []string
		if now.After(nextFlush) {
			nextFlush = now.Add(f.opts.Interval)
			f.update(func(s *Stats) { s.NextFlush = nextFlush })
			due = f.bufferKeys()
		} else {
			due = f.overHighWater(arrivals)
			if now.After(nextLLEN) {
				nextLLEN = now.Add(f.opts.LLENEvery)
				for _, k := range f.longBuffers(ctx) {
					if !slices.Contains(due, k) {
						due = append(due, k)
					}
				}
			}
		}
		if len(due) > 0 {
			f.claim(ctx, due)
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

func (f *Flusher) addBuffers(keys []string) {
	for _, k := range keys {
		if _, ok := f.buffers[k]; ok {
			continue
		}
		if asset, _, ok := f.opts.TickKey.Match(k); ok {
			f.buffers[k] = asset
		}
	}
}

func (f *Flusher) bufferKeys() []string {
	keys := make([]string, 0, len(f.buffers))
	for k := range f.buffers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// addPublishing adds the buffers of assets seen publishing, at once: a fast new feed
// must not wait for the next SCAN to be flushed.
func (f *Flusher) addPublishing(arrivals redisdata.SubscriberStats) {
	if len(f.opts.Assets) > 0 {
		return
	}
	for asset := range arrivals.Assets {
		if asset == "" {
			continue
		}
		if key := f.opts.TickKey.Key(asset, ""); f.buffers[key] == "" {
			f.buffers[key] = asset
		}
	}
}

// discover finds buffers by SCAN, for producers that do not publish.
func (f *Flusher) discover(ctx context.Context) {
	if len(f.opts.Assets) > 0 {
		return
	}
	var cursor uint64
	glob := f.opts.TickKey.Glob()
	for {
		keys, next, err := f.rc.Scan(ctx, cursor, glob, 1000).Result()
		if err != nil {
			f.opts.Log(fmt.Sprintf("discover: scan %s: %v", glob, err))
			return
		}
		f.addBuffers(keys)
		if next == 0 {
			return
		}
		cursor = next
	}
}

// overHighWater returns the buffers whose asset published HighWater ticks since its
// last claim: the trigger that keeps up with fast feeds without polling.
func (f *Flusher) overHighWater(arrivals redisdata.SubscriberStats) []string {
	var due []string
	for key, asset := range f.buffers {
		if arrivals.Assets[asset].Received-f.lastPublished[asset] >= int64(f.opts.HighWater) {
			due = append(due, key)
		}
	}
	return due
}

// longBuffers polls LLEN of every buffer in one round trip.
func (f *Flusher) longBuffers(ctx context.Context) []string {
	keys := f.bufferKeys()
	lens, err := redisdata.ListLengths(ctx, f.rc, keys)
	if err != nil {
		return nil // a dead server shows in the next claim
	}
	var due []string
	var total int64
	for i, k := range keys {
		total += lens[i]
		if lens[i] >= int64(f.opts.HighWater) {
			due = append(due, k)
		}
	}
	f.mu.Lock()
	f.buffered = total
	f.mu.Unlock()
	return due
}

// claim moves the buffers into their in-flight lists and wakes the writer.
func (f *Flusher) claim(ctx context.Context, keys []string) {
	if len(keys) == 0 {
		return
	}
	claims, err := f.claimer.Claim(ctx, keys)
	if err != nil {
		f.failed(&f.claimErr, err)
		return
	}
	f.succeeded(&f.claimErr)
	var arrivals map[string]redisdata.AssetCounts
	if f.countsFn != nil {
		arrivals = f.countsFn()
	}
	moved := false
	for _, c := range claims {
		if c.Err != nil {
			f.opts.Log(c.Err.Error())
			continue
		}
		asset := f.buffers[c.BufferKey]
		f.estimateTrimLoss(asset, c.Moved, arrivals)
		if c.Pending > 0 {
			f.markInflight(c.BufferKey)
		}
		if c.Moved > 0 {
			moved = true
			f.update(func(s *Stats) { s.Produced += c.Moved })
		}
	}
	if moved {
		f.pause("claimed")
		f.notify()
	}
}

func (f *Flusher) markInflight(bufferKey string) {
	asset, ok := f.buffers[bufferKey]
	if !ok {
		asset, _, _ = f.opts.TickKey.Match(bufferKey)
	}
	f.mu.Lock()
	f.inflight[f.claimer.InflightKey(bufferKey)] = asset
	f.mu.Unlock()
}

// estimateTrimLoss counts what the producer's LTRIM may have discarded: when a claim
// finds a buffer at its cap, the ticks published since the last claim beyond those
// claimed were trimmed unread. Pub/sub counts make it an estimate; the point is that a
// loss is never silent.
func (f *Flusher) estimateTrimLoss(asset string, moved int64, arrivals map[string]redisdata.AssetCounts) {
	count := arrivals[asset].Received // 0 before the subscriber runs
	window := count - f.lastPublished[asset]
	f.lastPublished[asset] = count
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

// pause is the crash-test hook: at the configured step it says so and blocks for good.
func (f *Flusher) pause(step string) {
	if f.opts.PauseAt != step {
		return
	}
	f.opts.Log("paused at " + step)
	fmt.Fprintf(os.Stderr, "flusher: paused at %s\n", step)
	select {}
}
