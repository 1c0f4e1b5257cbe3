// Package flusher is quflx-tui's batch processor: it moves ticks from the Redis buffers
// into the SQL store without losing or duplicating one, which QuFLX's own processor did
// not manage (see the defects list of the wire format), and keeps that promise under
// faults: a connection reset mid-command, any number of flushers at once, a store
// outage, a crash at any step, Redis Cluster.
//
// # The claim protocol
//
// A claim is an immutable batch. To claim a buffer, a flusher RENAMEs it to a new key
// named by a claim id that is never reused (owner instance + sequence), in a Lua script
// that also records the claim in the buffer's lease registry with the flusher as owner and
// a lease deadline on the server's clock. Every key of a buffer shares the buffer's
// cluster slot ("quflx:{ticks:EURUSD_otc}:claim:<id>", see redisdata), so the script is
// atomic on a cluster too. RENAME takes whatever the buffer holds at that instant: a tick
// pushed a moment later lands in a fresh buffer, and the producer's LTRIM can no longer
// reach claimed ticks, however long the store is down.
//
// Writing a claim commits its entries to the store together with the claim's progress
// (quflx_claim_progress: how many of its entries are committed) in one transaction, and
// only from where the store says the claim stands. A second writer of the same entries (a
// replay after a crash, a flusher that took the claim over while its owner was merely
// slow) is refused by the store and moves on from the recorded progress. Every entry is
// therefore committed exactly once, and the counters (rows, duplicates, dead-letter
// occurrences) are exact. Only when a claim is committed whole is it released: DEL of its
// key and of its registry entry. Because claims never change and their ids never repeat,
// a release applied twice, replayed after a reset, or made by a second flusher deletes
// nothing that was not committed: there is no count to get wrong (the first flusher's
// "remove the first n" release did exactly that when a retried LTRIM ran twice).
//
// Leases only share the work. A flusher renews its leases every Lease/3; claims whose
// lease ran out (the owner was killed, or lost Redis for longer than a lease) are adopted
// by whichever flusher sees them first, so a killed flusher's claims are written by the
// others within Lease + DiscoverEvery + AdoptEvery. A claim whose outcome was unknown (a
// reply lost) is found the same way. None of the commands the flusher sends is unsafe to
// repeat (claims are idempotent by id, renewals and adoptions compare the owner, releases
// delete by unique id): the safety does not rest on the client's retry settings. Its
// client is given MaxRetries -1 all the same, though on Redis Cluster go-redis re-sends
// after a network error up to MaxRedirects times regardless.
//
// Two loops and a scanner share the work. The claim loop claims buffers as they fill
// (high-water arrivals counted from pub/sub, or LLEN polls for producers that do not
// publish) and at every interval, renews and adopts leases, and never waits on the store.
// The write loop reads claims in chunks bounded in entries and in bytes and writes them
// with their dead letters. Discovery (SCAN for buffers and lease registries) runs on its
// own, so a large keyspace never delays a claim. While the store is down claims pile up in
// Redis, up to MaxBacklog entries; past it the flusher stops claiming and says so
// ("backlog full: store down since ...") rather than let Redis run out of memory.
package flusher

import (
	"context"
	"fmt"
	"os"
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
	// Assets fixes the buffers to flush; empty means discover them (SCAN, and assets
	// seen publishing whose buffer turns out to hold ticks).
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
	// DiscoverEvery is how often SCAN looks for new buffers and lease registries
	// (default 5 s).
	DiscoverEvery time.Duration
	// ReadChunk bounds the entries of each read of a claim (default 5000); the claimer
	// bounds its bytes.
	ReadChunk int
	// MaxBatch and MaxBatchBytes bound one store transaction (default 50,000 entries,
	// 32 MiB).
	MaxBatch      int
	MaxBatchBytes int
	// MaxBacklog is how many claimed, uncommitted entries this flusher holds before it
	// stops claiming (default 1,000,000: about 150 MB of Redis memory).
	MaxBacklog int64
	// Lease, and how often expired leases are looked for (defaults 15 s and 1 s).
	Lease      time.Duration
	AdoptEvery time.Duration
	// Instance identifies this flusher in leases and in its status (default random).
	Instance string
	// Namespace starts the flusher's own keys (default "quflx").
	Namespace string
	// MaxAssets bounds the buffers followed besides the named ones (default
	// model.DefaultMaxAssets): a buffer is followed once SCAN or a claim finds it, never
	// for a channel name alone.
	MaxAssets int
	// StatusKey is the single status key of the first flusher, still written for readers
	// that know only it (default quflx:flusher:status); StatusEvery is the heartbeat
	// (default 1 s).
	StatusKey   string
	StatusEvery time.Duration
	// WriteTimeout bounds each store call (default 60 s): a store that stopped answering
	// mid-transaction (a cut network) fails the write instead of holding the writer.
	WriteTimeout time.Duration
	// RetryMin and RetryMax bound the backoff after a failed write (100 ms to 500 ms: a
	// store that comes back is written to within a second, its first commit included).
	RetryMin, RetryMax time.Duration
	// PauseAt stops the flusher for good at a step ("claimed", "read", "before-commit",
	// "committed"), after saying so on stderr: crash tests SIGKILL it there.
	PauseAt string
	// Log receives one line per notable event (nil: discarded).
	Log func(string)
	// Observe is told of timings as they happen (metrics observe them here, so that the
	// flusher knows nothing of any exposition format).
	Observe Observer
}

// Observer receives the flusher's timings; either func may be nil. They are called on
// the write loop's goroutine and must not block.
type Observer struct {
	// Flush: one pass of the write loop over the held claims (progress read, claim reads,
	// store transactions, releases), when there was something to write.
	Flush func(took time.Duration, err error)
	// StoreWrite: one store transaction.
	StoreWrite func(took time.Duration, err error)
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
	def(&o.RetryMax, 500*time.Millisecond)
	def(&o.Lease, 15*time.Second)
	def(&o.AdoptEvery, time.Second)
	def(&o.WriteTimeout, time.Minute)
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
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = 32 << 20
	}
	if o.MaxBacklog <= 0 {
		o.MaxBacklog = 1_000_000
	}
	if o.Instance == "" {
		o.Instance = redisdata.NewInstanceID()
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
	StateStarting    = "starting"
	StateIdle        = "idle"
	StateFlushing    = "flushing"
	StateRetrying    = "retrying"     // the store or Redis failed; ticks are kept and retried
	StateBacklogFull = "backlog-full" // retrying, and no longer claiming: the producers' trim may lose ticks
	StateStopped     = "stopped"
)

// Stats are the flusher's counters.
type Stats struct {
	State             string
	Produced          int64 // entries taken from the buffers by this flusher's claims
	Adopted           int64 // entries of other flushers' claims taken over
	Flushed           int64 // ticks committed
	Bad               int64 // entries set aside as dead letters
	LostToTrim        int64 // estimated ticks trimmed by the producer before a claim
	Vanished          int64 // ticks of claims that left Redis before they were stored
	DuplicatesSkipped int64 // ticks already in the store (resends)
	Conflicts         int64 // writes refused because another flusher had committed the entries
	Errors            int64 // failed claims and writes
	Flushes           int64 // committed writes
	LastRows          int64
	LastFlush         time.Time
	NextFlush         time.Time
	LastErr           string
	LastErrAt         time.Time
	InFlight          int64 // entries held in claims and not yet committed
	Claims            int   // claims held
	Buffers           int   // buffers those claims came from
	DownSince         time.Time
	BacklogFull       bool
}

// Flusher moves buffered ticks into the store.
type Flusher struct {
	rc        *redisdata.Client
	st        store.Store
	opts      Options
	claimer   *redisdata.Claimer
	admission *model.Admission // whose pub/sub arrivals are counted
	decoder   model.Decoder    // the write loop's
	host      string
	start     time.Time

	// The claim loop's own state.
	lastPublished map[string]int64     // asset -> pub/sub arrivals at its last claim
	emptySince    map[string]time.Time // buffer -> when its LLEN was first seen 0
	countsFn      func() map[string]redisdata.AssetCounts
	syncFn        func(context.Context) error // the counts then include every tick published before
	windowInexact bool                        // the last claim's after-count missed its sync
	storedAssets  map[string]*storedAsset     // under mu
	claimBackoff  time.Duration               // after a claim round trip Redis did not answer
	claimRetryAt  time.Time

	wake chan struct{} // something was claimed or adopted: write it

	mu         sync.Mutex           // guards what follows
	buffers    map[string]string    // buffers known to exist or named -> asset
	notBuffers map[string]time.Time // keys that matched the pattern but are not lists -> until when ignored
	registries []string             // buffers with a lease registry, at the last discovery
	held       map[string]*heldClaim
	busy       map[string]time.Time // claim id -> until when another session holds its row (the writer's own)
	stats      Stats
	phase      string // starting, running, stopped
	writing    bool
	claimErr   bool
	writeErr   bool
	buffered   int64 // ticks in the buffers at the last LLEN poll, for the backlog
}

// heldClaim is a claim this flusher holds the lease of.
type heldClaim struct {
	ref   redisdata.ClaimRef
	asset string
}

// New returns a flusher writing to st. rc must be allowed to write (the flusher claims
// and deletes keys): running one is the caller's explicit choice. rc should not retry
// commands by itself (MaxRetries -1); the flusher's own commands are safe to repeat, but
// blind retries are not what anyone should rely on.
func New(rc *redisdata.Client, st store.Store, opts Options) *Flusher {
	opts.defaults()
	f := &Flusher{
		rc: rc, st: st, opts: opts,
		// The owner of leases and the stem of claim ids is unique to this process even
		// when the Instance label is reused (a restart, an embedding program's fixed
		// name): a new claim must never take an earlier run's id, whose progress the store
		// remembers.
		claimer: redisdata.NewClaimer(rc, redisdata.ClaimOptions{
			Namespace: opts.Namespace, Owner: opts.Instance + "." + redisdata.NewInstanceID(), Lease: opts.Lease,
		}),
		// Arrivals are counted from a name's first message (the high-water trigger and the
		// trim-loss estimate need them), up to MaxAssets names; buffers are polled and
		// claimed at interval only once a key vouches for them.
		admission:     model.NewAdmission(model.AdmissionOptions{Named: opts.Assets, Max: opts.MaxAssets, Open: true}),
		start:         time.Now(),
		lastPublished: map[string]int64{},
		emptySince:    map[string]time.Time{},
		wake:          make(chan struct{}, 1),
		buffers:       map[string]string{},
		notBuffers:    map[string]time.Time{},
		held:          map[string]*heldClaim{},
		busy:          map[string]time.Time{},
		phase:         StateStarting,
	}
	f.host, _ = os.Hostname()
	for _, a := range opts.Assets {
		f.buffers[opts.TickKey.Key(a, "")] = a
	}
	return f
}

// Instance returns the flusher's instance id.
func (f *Flusher) Instance() string { return f.opts.Instance }

// Stats returns a snapshot of the counters.
func (f *Flusher) Stats() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.stats
	s.InFlight, s.Claims, s.Buffers = f.heldLocked()
	s.BacklogFull = s.InFlight >= f.opts.MaxBacklog
	switch {
	case f.phase != "":
		s.State = f.phase
	case s.BacklogFull && (f.claimErr || f.writeErr):
		s.State = StateBacklogFull
	case f.claimErr || f.writeErr:
		s.State = StateRetrying
	case f.writing:
		s.State = StateFlushing
	default:
		s.State = StateIdle
	}
	return s
}

func (f *Flusher) heldLocked() (entries int64, claims, buffers int) {
	seen := map[string]bool{}
	for _, h := range f.held {
		entries += h.ref.Len
		seen[h.ref.Buffer] = true
	}
	return entries, len(f.held), len(seen)
}

func (f *Flusher) update(fn func(s *Stats)) {
	f.mu.Lock()
	fn(&f.stats)
	f.mu.Unlock()
}

// Run flushes until ctx is done, then makes a last claim and write, hands whatever it
// could not commit over to other flushers, and returns. Failures of the store or of
// Redis are retried forever, never returned: ticks stay claimed meanwhile.
func (f *Flusher) Run(ctx context.Context) error {
	subCtx, stopSub := context.WithCancel(context.Background())
	sub := redisdata.NewSubscriber(f.rc, redisdata.SubscriberOptions{
		Channel: f.opts.Channel, Assets: f.opts.Assets, CountOnly: true, Admission: f.admission,
	})
	subDone := make(chan struct{})
	go func() {
		defer close(subDone)
		_ = sub.Run(subCtx)
	}()
	defer func() { stopSub(); <-subDone }()
	f.countsFn = func() map[string]redisdata.AssetCounts { return sub.Stats().Assets }
	f.syncFn = sub.Sync

	discoverCtx, stopDiscover := context.WithCancel(context.Background())
	discovered := make(chan struct{})
	go func() {
		defer close(discovered)
		f.discoverLoop(discoverCtx)
	}()

	// The write loop stops after its current write; the last write follows the last claim.
	stopWriting := make(chan struct{})
	written := make(chan struct{})
	go func() {
		defer close(written)
		f.writeLoop(stopWriting)
	}()

	f.claimLoop(ctx, sub)

	stopDiscover()
	<-discovered
	close(stopWriting)
	<-written // a write under way is bounded by WriteTimeout
	final, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f.claimRetryAt = time.Time{} // the last claim is made whatever the backoff
	f.claim(final, f.bufferKeys())
	if err := f.writeAll(final, false); err != nil {
		f.failed(&f.writeErr, err)
	}
	f.handOver(final)
	f.pollBuffers(final) // what the last claim left behind, for the last status
	f.mu.Lock()
	f.phase, f.stats.NextFlush = StateStopped, time.Time{}
	f.mu.Unlock()
	f.publishStatus(final)
	return nil
}

// handOver ends the leases of claims that could not be committed, so that another
// flusher adopts them at once instead of after the lease.
func (f *Flusher) handOver(ctx context.Context) {
	refs := f.heldRefs()
	if len(refs) == 0 {
		return
	}
	if err := f.claimer.Abandon(ctx, refs); err != nil {
		f.opts.Log(fmt.Sprintf("hand over %d claims: %v (their leases run out instead)", len(refs), err))
		return
	}
	f.opts.Log(fmt.Sprintf("handed %d uncommitted claims over to other flushers", len(refs)))
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
