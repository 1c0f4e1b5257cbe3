package redisdata

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/quflx/quflx-tui/model"
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
	// FlusherStatusKey, when set, is read in the same pipeline (see FlusherStatus).
	FlusherStatusKey string
	// LastTicks reads each buffer's two ends (LINDEX 0 and -1) in the same pipeline, for
	// its newest tick whichever end the producer pushes to.
	LastTicks bool
}

// BufferStat is one tick buffer as polled.
type BufferStat struct {
	Asset string
	Key   string
	Len   int64
	Err   error // WRONGTYPE and the like, for this key only
	// With PollerOptions.LastTicks: the newest tick (nil when empty or undecodable) and
	// the producer's order as told by the two ends.
	Last  *model.Tick
	Order ListOrder
}

// CacheKeyStat is one candle-cache key as polled.
type CacheKeyStat struct {
	Asset         string
	Timeframe     model.Timeframe
	TimeframeText string // as spelled in the key ("1M" or "1m")
	Key           string
	Exists        bool
	TTL           time.Duration // remaining; 0 with NoExpiry when the key has none
	NoExpiry      bool
	Bytes         int64
	Candles       int // -1 when not counted (too large, or unreadable)
	Err           error
}

// ServerWindow holds rates computed from two consecutive INFO samples: exact for the poll
// window, unlike instantaneous_ops_per_sec, and current, unlike the lifetime hit rate.
type ServerWindow struct {
	Seconds      float64
	OpsPerSec    float64 // Δ total_commands_processed / Δt (includes our own poll)
	HitRate      float64 // Δ hits / (Δ hits + Δ misses)
	HitRateKnown bool
	Valid        bool // false on the first poll and after a server restart
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
	Flusher    *FlusherStatus
	FlusherErr error // the status key held something unreadable
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
	extraAssets  []string // learned from pub/sub
	discoveredAt time.Time
	discoverErr  error
	unsupported  map[string]bool // INFO sections this server refuses
	memo         map[string]cacheMemo
	decoder      model.Decoder
	prevInfo     *Info
	prevAt       time.Time
}

type bufferKey struct{ asset, key string }

type cacheKey struct {
	asset, tfText, key string
	tf                 model.Timeframe
}

type cacheMemo struct {
	bytes   int64
	ttl     time.Duration
	candles int
}

// infoSections are what the poller asks INFO for (miniredis answers only clients and
// stats).
var infoSections = []string{"server", "clients", "memory", "stats", "replication", "keyspace"}

// NewPoller returns a poller.
func NewPoller(c *Client, opts PollerOptions) *Poller {
	if opts.DiscoverEvery <= 0 {
		opts.DiscoverEvery = 15 * time.Second
	}
	if opts.ScanCount <= 0 {
		opts.ScanCount = 1000
	}
	if opts.MaxKeys <= 0 {
		opts.MaxKeys = 5000
	}
	if opts.MaxCacheBytes <= 0 {
		opts.MaxCacheBytes = 1 << 20
	}
	p := &Poller{client: c, opts: opts, unsupported: map[string]bool{}, memo: map[string]cacheMemo{}}
	for _, a := range opts.Assets {
		p.buffers = append(p.buffers, bufferKey{a, opts.TickKey.Key(a, "")})
	}
	return p
}

// AddAssets makes the poller watch the buffers of assets seen elsewhere (on pub/sub)
// before the next discovery finds their keys.
func (p *Poller) AddAssets(assets ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
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

// Discover runs SCAN for tick and cache keys now.
func (p *Poller) Discover(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.discoverLocked(ctx)
}

func (p *Poller) discoverLocked(ctx context.Context) error {
	p.discoveredAt = time.Now()
	fixed := len(p.opts.Assets) > 0
	buffers := slices.Clone(p.buffers)
	if !fixed {
		keys, err := p.scan(ctx, p.opts.TickKey.Glob())
		if err != nil {
			p.discoverErr = err
			return err
		}
		for _, k := range keys {
			asset, _, ok := p.opts.TickKey.Match(k)
			if ok && !slices.ContainsFunc(buffers, func(b bufferKey) bool { return b.asset == asset }) &&
				len(buffers) < p.opts.MaxKeys {
				buffers = append(buffers, bufferKey{asset, k})
			}
		}
	}
	keys, err := p.scan(ctx, p.opts.CacheKey.Glob())
	if err != nil {
		p.discoverErr = err
		return err
	}
	var only []string
	if fixed {
		only = p.opts.Assets
	}
	caches := cacheKeysOf(p.opts.CacheKey, keys, only, p.opts.MaxKeys)
	p.buffers, p.caches, p.discoverErr = buffers, caches, nil
	p.sortBuffersLocked()
	return nil
}

// cacheKeysOf keeps the keys that match the cache pattern with a known timeframe (and, when
// only is set, one of those assets), sorted by asset and timeframe.
func cacheKeysOf(pattern model.KeyPattern, keys, only []string, limit int) []cacheKey {
	var caches []cacheKey
	for _, k := range keys {
		asset, tfText, ok := pattern.Match(k)
		if !ok {
			continue
		}
		tf, err := model.ParseTimeframe(tfText)
		if err != nil || (len(only) > 0 && !slices.Contains(only, asset)) {
			continue
		}
		if len(caches) < limit {
			caches = append(caches, cacheKey{asset: asset, tfText: tfText, key: k, tf: tf})
		}
	}
	slices.SortFunc(caches, func(a, b cacheKey) int {
		if c := compareStrings(a.asset, b.asset); c != 0 {
			return c
		}
		return int(a.tf - b.tf)
	})
	return caches
}

// scan walks the keyspace for the poller's discovery.
func (p *Poller) scan(ctx context.Context, glob string) ([]string, error) {
	return ScanKeys(ctx, p.client, glob, p.opts.ScanCount, 4*p.opts.MaxKeys)
}

// ScanKeys walks the keyspace with SCAN MATCH glob COUNT count, never KEYS (which blocks
// the server for the whole walk), and stops after limit keys. The keys come back sorted.
func ScanKeys(ctx context.Context, c *Client, glob string, count int64, limit int) ([]string, error) {
	var keys []string
	var cursor uint64
	for {
		batch, next, err := c.Scan(ctx, cursor, glob, count).Result()
		if err != nil {
			return keys, fmt.Errorf("scan %s: %w", glob, err)
		}
		keys = append(keys, batch...)
		if next == 0 || len(keys) >= limit {
			slices.Sort(keys)
			keys = slices.Compact(keys)
			return keys[:min(len(keys), limit)], nil
		}
		cursor = next
	}
}

// InspectCaches reads the TTL, size and candle count of cache keys in two pipelined round
// trips (the second only for values to count), for one-shot callers.
func InspectCaches(ctx context.Context, c *Client, pattern model.KeyPattern, keys []string) ([]CacheKeyStat, error) {
	p := NewPoller(c, PollerOptions{CacheKey: pattern})
	p.caches = cacheKeysOf(pattern, keys, nil, p.opts.MaxKeys)
	pipe := c.Pipeline()
	pttls := make([]*redis.DurationCmd, len(p.caches))
	strlens := make([]*redis.IntCmd, len(p.caches))
	for i, k := range p.caches {
		pttls[i] = pipe.PTTL(ctx, k.key)
		strlens[i] = pipe.StrLen(ctx, k.key)
	}
	if len(p.caches) > 0 {
		if _, err := pipe.Exec(ctx); err != nil && !isRedisError(err) {
			return nil, fmt.Errorf("inspect %d cache keys: %w", len(p.caches), err)
		}
	}
	snap := &Snapshot{}
	if recount := p.readCaches(snap, pttls, strlens); len(recount) > 0 {
		if err := p.countCandles(ctx, snap, recount); err != nil {
			return nil, err
		}
	}
	return snap.Caches, nil
}

// PollServer reads only INFO (and the flusher status) in one round trip: no discovery,
// no buffers, no caches.
func (p *Poller) PollServer(ctx context.Context) (*Snapshot, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	snap := &Snapshot{At: time.Now()}
	pipe := p.client.Pipeline()
	server := p.queueServer(ctx, pipe)
	start := time.Now()
	_, err := pipe.Exec(ctx)
	snap.RoundTrip, snap.RoundTrips = time.Since(start), 1
	if err != nil && !isRedisError(err) && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("poll %s: %w", p.client.Endpoint(), err)
	}
	p.readServer(snap, server)
	return snap, nil
}

// serverCmds are the INFO sections and the flusher status of a poll.
type serverCmds struct {
	sections []string
	infos    []*redis.StringCmd
	status   *redis.StringCmd
}

// queueServer adds INFO, one section a command (old servers take one section per INFO,
// and a section a server refuses then fails alone), and the flusher status to pipe.
func (p *Poller) queueServer(ctx context.Context, pipe redis.Pipeliner) serverCmds {
	var sc serverCmds
	for _, sec := range infoSections {
		if !p.unsupported[sec] {
			sc.sections = append(sc.sections, sec)
			sc.infos = append(sc.infos, pipe.Info(ctx, sec))
		}
	}
	if p.opts.FlusherStatusKey != "" {
		sc.status = pipe.Get(ctx, p.opts.FlusherStatusKey)
	}
	return sc
}

func (p *Poller) readServer(snap *Snapshot, sc serverCmds) {
	p.readInfo(snap, sc.sections, sc.infos)
	if sc.status != nil {
		snap.Flusher, snap.FlusherErr = parseFlusherStatus(sc.status)
	}
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

	pipe := p.client.Pipeline()
	bufCmds := queueBuffers(ctx, pipe, p.buffers, p.opts.LastTicks)
	pttls := make([]*redis.DurationCmd, len(p.caches))
	strlens := make([]*redis.IntCmd, len(p.caches))
	for i, c := range p.caches {
		pttls[i] = pipe.PTTL(ctx, c.key)
		strlens[i] = pipe.StrLen(ctx, c.key)
	}
	server := p.queueServer(ctx, pipe)
	start := time.Now()
	_, err := pipe.Exec(ctx)
	snap.RoundTrip = time.Since(start)
	snap.RoundTrips++
	// Per-key errors (WRONGTYPE, a missing key's nil) are the snapshot's; only a failed
	// round trip fails the poll.
	if err != nil && !isRedisError(err) && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("poll %s: %w", p.client.Endpoint(), err)
	}

	snap.Buffers = readBuffers(p.buffers, bufCmds, &p.decoder)
	p.readServer(snap, server)
	recount := p.readCaches(snap, pttls, strlens)
	if len(recount) > 0 {
		snap.RoundTrips++
		if err := p.countCandles(ctx, snap, recount); err != nil {
			return nil, err
		}
	}
	return snap, nil
}

func (p *Poller) readInfo(snap *Snapshot, sections []string, infos []*redis.StringCmd) {
	readAny := false
	var firstErr error
	for i, cmd := range infos {
		text, err := cmd.Result()
		if err != nil {
			if isRedisError(err) {
				p.unsupported[sections[i]] = true
			}
			firstErr = orErr(firstErr, err)
			continue
		}
		ParseInfo(text, &snap.Info)
		readAny = true
	}
	if !readAny {
		snap.InfoErr = orErr(firstErr, errors.New("no INFO section answered"))
		return
	}
	cur := snap.Info
	if prev := p.prevInfo; prev != nil {
		w := ServerWindow{Seconds: snap.At.Sub(p.prevAt).Seconds()}
		dCmd := cur.TotalCommands.V - prev.TotalCommands.V
		dHits := cur.KeyspaceHits.V - prev.KeyspaceHits.V
		dMiss := cur.KeyspaceMisses.V - prev.KeyspaceMisses.V
		restarted := dCmd < 0 || dHits < 0 || dMiss < 0 ||
			(cur.UptimeSeconds.Known && prev.UptimeSeconds.Known && cur.UptimeSeconds.V < prev.UptimeSeconds.V)
		if w.Seconds > 0 && !restarted {
			w.Valid = true
			if cur.TotalCommands.Known {
				w.OpsPerSec = float64(dCmd) / w.Seconds
			}
			if cur.KeyspaceHits.Known && dHits+dMiss > 0 {
				w.HitRate, w.HitRateKnown = float64(dHits)/float64(dHits+dMiss), true
			}
		}
		snap.Window = w
	}
	p.prevInfo, p.prevAt = &cur, snap.At
}

func orErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// readCaches fills the cache stats and returns the indexes of keys whose candles must be
// counted again: those whose size changed or whose TTL went up (a SETEX rewrote them).
func (p *Poller) readCaches(snap *Snapshot, pttls []*redis.DurationCmd, strlens []*redis.IntCmd) []int {
	snap.Caches = make([]CacheKeyStat, len(p.caches))
	var recount []int
	for i, c := range p.caches {
		st := CacheKeyStat{Asset: c.asset, Timeframe: c.tf, TimeframeText: c.tfText, Key: c.key, Candles: -1}
		ttl, err := pttls[i].Result()
		if err == nil {
			st.Bytes, err = strlens[i].Result()
		}
		st.Err = err
		switch {
		case err != nil:
		case ttl == -2: // go-redis passes -2 and -1 through unscaled
			delete(p.memo, c.key)
		case ttl == -1:
			st.Exists, st.NoExpiry = true, true
		default:
			st.Exists, st.TTL = true, ttl
		}
		if st.Exists {
			m, seen := p.memo[c.key]
			rewritten := !seen || m.bytes != st.Bytes || (!st.NoExpiry && st.TTL > m.ttl+time.Second)
			if rewritten && st.Bytes <= p.opts.MaxCacheBytes {
				recount = append(recount, i)
			} else if !rewritten {
				st.Candles = m.candles
			}
			p.memo[c.key] = cacheMemo{bytes: st.Bytes, ttl: st.TTL, candles: st.Candles}
		}
		snap.Caches[i] = st
	}
	return recount
}

// countCandles reads the rewritten cache values, in one more pipelined round trip, to
// count their candles.
func (p *Poller) countCandles(ctx context.Context, snap *Snapshot, idx []int) error {
	pipe := p.client.Pipeline()
	gets := make([]*redis.StringCmd, len(idx))
	for j, i := range idx {
		gets[j] = pipe.Get(ctx, snap.Caches[i].Key)
	}
	if _, err := pipe.Exec(ctx); err != nil && !isRedisError(err) && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("read cache values: %w", err)
	}
	// Counting scans every byte (12 MB for 500 full caches): spread it over the cores.
	counts := make([]int, len(idx))
	errs := make([]error, len(idx))
	var wg sync.WaitGroup
	workers := max(1, min(runtime.GOMAXPROCS(0), len(idx)/32))
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := w; j < len(idx); j += workers {
				val, err := gets[j].Bytes()
				if err == nil {
					counts[j], err = model.CountCandles(val)
				}
				errs[j] = err
			}
		}()
	}
	wg.Wait()
	for j, i := range idx {
		st := &snap.Caches[i]
		if err := errs[j]; err != nil {
			if !errors.Is(err, redis.Nil) {
				st.Err = fmt.Errorf("%s: %w", st.Key, err)
			}
			continue
		}
		st.Candles = counts[j]
		m := p.memo[st.Key]
		m.candles = st.Candles
		p.memo[st.Key] = m
	}
	return nil
}

// bufferCmds are one buffer's commands in a pipeline.
type bufferCmds struct {
	llen       *redis.IntCmd
	head, tail *redis.StringCmd
}

// queueBuffers adds LLEN, and with last also LINDEX 0 and -1, of every buffer to pipe.
func queueBuffers(ctx context.Context, pipe redis.Pipeliner, buffers []bufferKey, last bool) []bufferCmds {
	cmds := make([]bufferCmds, len(buffers))
	for i, b := range buffers {
		cmds[i].llen = pipe.LLen(ctx, b.key)
		if last {
			cmds[i].head = pipe.LIndex(ctx, b.key, 0)
			cmds[i].tail = pipe.LIndex(ctx, b.key, -1)
		}
	}
	return cmds
}

// readBuffers reads the replies of queueBuffers. The newest tick is the later-stamped of
// the two ends, which also tells the producer's order.
func readBuffers(buffers []bufferKey, cmds []bufferCmds, d *model.Decoder) []BufferStat {
	out := make([]BufferStat, len(buffers))
	now := time.Now().UnixMicro()
	for i, b := range buffers {
		n, err := cmds[i].llen.Result()
		st := BufferStat{Asset: b.asset, Key: b.key, Len: n, Err: err}
		if c := cmds[i]; c.head != nil && err == nil && n > 0 {
			head, herr := d.DecodeString(c.head.Val(), b.asset, now)
			tail, terr := d.DecodeString(c.tail.Val(), b.asset, now)
			switch {
			case herr == nil && terr == nil:
				st.Last = &head
				switch {
				case head.UnixMicro > tail.UnixMicro:
					st.Order = OrderNewestFirst
				case head.UnixMicro < tail.UnixMicro:
					st.Order, st.Last = OrderNewestLast, &tail
				}
			case herr == nil:
				st.Last = &head
			case terr == nil:
				st.Last = &tail
			}
		}
		out[i] = st
	}
	return out
}

// ReadBuffers reads the length and the newest tick of each asset's buffer in one pipelined
// round trip.
func ReadBuffers(ctx context.Context, c *Client, tickKey model.KeyPattern, assets []string) ([]BufferStat, error) {
	buffers := make([]bufferKey, len(assets))
	for i, a := range assets {
		buffers[i] = bufferKey{a, tickKey.Key(a, "")}
	}
	pipe := c.Pipeline()
	cmds := queueBuffers(ctx, pipe, buffers, true)
	if _, err := pipe.Exec(ctx); err != nil && !isRedisError(err) && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read %d buffers: %w", len(assets), err)
	}
	var d model.Decoder
	return readBuffers(buffers, cmds, &d), nil
}
