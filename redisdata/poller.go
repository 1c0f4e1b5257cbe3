package redisdata

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/quflx/quflx-tui/model"
)

const (
	defaultMaxKeys       = 5000
	defaultMaxCacheBytes = 1 << 20
)

// PollerOptions configures a Poller.
type PollerOptions struct {
	TickKey  model.KeyPattern // "ticks:{asset}"
	CacheKey model.KeyPattern // "historical:{asset}:{timeframe}"
	// Assets fixes the set of assets; empty means discover them with SCAN.
	Assets []string
	// DiscoverEvery is how often SCAN looks for new keys (default 15 s): a full SCAN costs
	// the server far more than the pipelined LLEN/PTTL of the keys already known.
	DiscoverEvery time.Duration
	// ScanCount is the COUNT hint of each SCAN call (default 1000).
	ScanCount int64
	// MaxKeys caps how many buffers and how many cache keys are tracked (default 5000).
	MaxKeys int
	// MaxCacheBytes: cache values larger than this are not read to count candles
	// (default 1 MiB; a full 200-candle QuFLX cache is about 25 KB).
	MaxCacheBytes int64
	// FlusherStatusKey, when set, is read in the same pipeline (see FlusherStatus), with
	// every flusher instance's status under FlusherNamespace (default "quflx").
	FlusherStatusKey string
	FlusherNamespace string
	// LastTicks reads each buffer's two ends (LINDEX 0 and -1) in the same pipeline, for
	// its newest tick whichever end the producer pushes to.
	LastTicks bool
	// Admission, when set, is told which assets a key vouches for (buffers and cache keys
	// found by discovery), and each poll checks up to MaxCandidateChecks names it refused
	// (seen on pub/sub) for a buffer or a flusher's claims. Only vouched assets are polled:
	// a flood of junk channel names costs no LLEN.
	Admission *model.Admission
	// MaxCandidateChecks bounds the names checked per poll (default 50).
	MaxCandidateChecks int
	// FillInfo, when set, completes each poll's INFO from the server's own counters: the
	// demo's embedded server is in this process (Embedded.FillInfo).
	FillInfo func(*Info)
}

// Snapshot is the result of one poll.
type Snapshot struct {
	At         time.Time
	RoundTrip  time.Duration // wall time of the main pipeline
	RoundTrips int           // round trips this poll made (1 in steady state)
	Info       Info
	InfoErr    error // no section of INFO could be read
	Window     ServerWindow
	Buffers    []BufferStat
	Caches     []CacheKeyStat
	// Flusher is the batch flusher's published status; nil when none is published (or
	// its heartbeat key expired), or FlusherStatusKey is not set.
	Flusher *FlusherStatus
	// Flushers are the statuses of every flusher instance with a live heartbeat, by
	// instance (the single Flusher when only a first-version flusher publishes).
	Flushers   []FlusherStatus
	FlusherErr error // the status key held something unreadable
	// Seen is each asset's newest tick from pub/sub, when a subscriber runs (set by the
	// Watch; the poll itself does not subscribe).
	Seen map[string]SeenTick
	// Nodes are the servers of a Redis Cluster, masters first (nil for a single server);
	// Info and Window are then their masters' sum.
	Nodes []NodeInfo
	// Master is the server the Sentinels name as master at this poll ("" without
	// Sentinel); MasterErr says why none could be asked.
	Master    string
	MasterErr error
	// Discovery
	DiscoveredAt time.Time
	DiscoverErr  error
}

// Poller reads buffer sizes, cache TTLs and sizes, and INFO, in one pipelined round trip
// per poll; key discovery with SCAN runs less often. Safe for one poll at a time.
type Poller struct {
	client *Client
	opts   PollerOptions

	mu           sync.Mutex // serialises polls
	buffers      []bufferKey
	caches       []cacheKey
	extraAssets  []string       // learned from pub/sub
	missed       map[string]int // asset -> discoveries in a row that found none of its keys
	discoveredAt time.Time
	// flusherInstances are the flushers the last poll found in the index.
	flusherInstances []string
	flushersListed   bool
	ends             EndsRead // how buffer ends are read on this server
	// flushed are the assets the flushers' statuses name: their buffers are polled and
	// kept though the flushers drain them away.
	flushed     map[string]bool
	discoverErr error
	unsupported map[string]bool // INFO sections this server refuses
	inspector   *cacheInspector
	decoder     model.Decoder
	prevInfo    *Info
	prevAt      time.Time
	prevNodes   map[string]nodePrev // a cluster's nodes' previous INFO, by address
}

// NewPoller returns a poller.
func NewPoller(c *Client, opts PollerOptions) *Poller {
	if opts.DiscoverEvery <= 0 {
		opts.DiscoverEvery = 15 * time.Second
	}
	if opts.ScanCount <= 0 {
		opts.ScanCount = 1000
	}
	if opts.MaxKeys <= 0 {
		opts.MaxKeys = defaultMaxKeys
	}
	if opts.MaxCacheBytes <= 0 {
		opts.MaxCacheBytes = defaultMaxCacheBytes
	}
	if opts.MaxCandidateChecks <= 0 {
		opts.MaxCandidateChecks = 50
	}
	p := &Poller{client: c, opts: opts, unsupported: map[string]bool{},
		inspector: newCacheInspector(opts.MaxCacheBytes), missed: map[string]int{}, prevNodes: map[string]nodePrev{}}
	for _, a := range opts.Assets {
		p.buffers = append(p.buffers, bufferKey{a, opts.TickKey.Key(a, "")})
	}
	return p
}

// AddAssets makes the poller watch the buffers of assets known by other means (named,
// or vouched for elsewhere) before the next discovery finds their keys.
func (p *Poller) AddAssets(assets ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.addAssetsLocked(assets)
}

func (p *Poller) addAssetsLocked(assets []string) {
	for _, a := range assets {
		if !slices.Contains(p.extraAssets, a) && !p.hasBufferLocked(a) && len(p.buffers) < p.opts.MaxKeys {
			p.extraAssets = append(p.extraAssets, a)
			p.buffers = append(p.buffers, bufferKey{a, p.opts.TickKey.Key(a, "")})
		}
	}
	p.sortBuffersLocked()
}

func (p *Poller) hasBufferLocked(asset string) bool {
	return slices.ContainsFunc(p.buffers, func(b bufferKey) bool { return b.asset == asset })
}

func (p *Poller) sortBuffersLocked() {
	slices.SortFunc(p.buffers, func(a, b bufferKey) int { return compareStrings(a.asset, b.asset) })
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// PollServer reads only INFO (and the flusher status) in one round trip: no discovery,
// no buffers, no caches.
func (p *Poller) PollServer(ctx context.Context) (*Snapshot, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	snap := &Snapshot{At: time.Now()}
	p.listFlushers(ctx, snap)
	side := p.startSide(ctx, snap)
	defer side() // also on error: the side read must not outlive the poll
	pipe := p.client.Pipeline()
	server := p.queueServer(ctx, pipe)
	start := time.Now()
	_, err := pipe.Exec(ctx)
	side()
	snap.RoundTrip = time.Since(start)
	snap.RoundTrips++
	if err != nil && !isRedisError(err) && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("poll %s: %w", p.client.Endpoint(), err)
	}
	p.readServer(snap, server)
	return snap, nil
}

// Poll reads everything once. It returns an error only when the server could not be
// reached; errors of single keys or INFO sections are reported inside the snapshot.
func (p *Poller) Poll(ctx context.Context) (*Snapshot, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	snap := &Snapshot{At: time.Now()}
	if time.Since(p.discoveredAt) >= p.opts.DiscoverEvery {
		if err := p.discoverLocked(ctx); err != nil && !isRedisError(err) {
			return nil, err
		}
		snap.RoundTrips++ // at least one SCAN call per pattern; counted once
	}
	snap.DiscoveredAt, snap.DiscoverErr = p.discoveredAt, p.discoverErr
	p.listFlushers(ctx, snap)

	side := p.startSide(ctx, snap)
	defer side() // also on error: the side read must not outlive the poll
	pipe := p.client.Pipeline()
	bufCmds := queueBuffers(ctx, pipe, p.buffers, p.opts.LastTicks, p.ends)
	cacheCmds := p.inspector.queue(ctx, pipe, p.caches)
	server := p.queueServer(ctx, pipe)
	candidates, candidateCmds := p.queueCandidates(ctx, pipe)
	start := time.Now()
	_, err := pipe.Exec(ctx)
	side()
	snap.RoundTrip = time.Since(start)
	snap.RoundTrips++
	// Per-key errors (WRONGTYPE, a missing key's nil) are the snapshot's; only a failed
	// round trip fails the poll.
	if err != nil && !isRedisError(err) && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("poll %s: %w", p.client.Endpoint(), err)
	}

	if next := endsRefusal(bufCmds, p.ends); next != p.ends {
		// The server refused the bounded read of the ends: read the buffers once more,
		// the way it allows (once per poller).
		p.ends = next
		again := p.client.Pipeline()
		bufCmds = queueBuffers(ctx, again, p.buffers, p.opts.LastTicks, p.ends)
		if _, err := again.Exec(ctx); err != nil && !isRedisError(err) && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("poll %s: %w", p.client.Endpoint(), err)
		}
		snap.RoundTrips++
	}
	snap.Buffers = readBuffers(p.buffers, bufCmds, &p.decoder)
	p.readServer(snap, server)
	p.followFlushedAssets(snap.Flushers)
	p.readCandidates(candidates, candidateCmds)
	var recount []int
	snap.Caches, recount = p.inspector.read(cacheCmds)
	if len(recount) > 0 {
		snap.RoundTrips++
		if err := p.inspector.count(ctx, p.client, snap.Caches, recount); err != nil {
			return nil, err
		}
	}
	return snap, nil
}

// followFlushedAssets polls the buffers of the assets the flushers hold or stored: a
// buffer a flusher drains is empty or absent most of the time, and its asset must not
// vanish from the pipeline's view for that.
func (p *Poller) followFlushedAssets(flushers []FlusherStatus) {
	if p.flushed == nil {
		p.flushed = map[string]bool{}
	}
	clear(p.flushed)
	var names []string
	for _, f := range flushers {
		for _, a := range f.Assets {
			if !p.flushed[a.Asset] {
				p.flushed[a.Asset] = true
				names = append(names, a.Asset)
			}
		}
	}
	if len(p.opts.Assets) > 0 {
		return // the named assets only
	}
	var admitted []string
	for _, a := range names {
		if p.vouch(a) {
			admitted = append(admitted, a)
		}
	}
	p.addAssetsLocked(admitted)
}
