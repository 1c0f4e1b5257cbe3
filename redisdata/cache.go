package redisdata

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/quflx/quflx-tui/model"
)

// QuFLX's cache settings.
const (
	DefaultCacheTTL     = time.Hour
	DefaultCacheCandles = 200
)

// CacheOptions configures a CandleCache.
type CacheOptions struct {
	Key        model.KeyPattern // "historical:{asset}:{timeframe}"
	TTL        time.Duration    // default 3600 s
	MaxCandles int              // newest candles kept per key, default 200
}

// CacheRead is the result of one cache lookup.
type CacheRead struct {
	Candles []model.Candle
	Hit     bool
	Key     string // the key read (or the one a miss would be written to)
	Latency time.Duration
	Bad     int // cached candles skipped as unusable
}

// CacheStats are the application-level hits and misses of the candle cache, with their
// latency. They count only this process's lookups, unlike the server's keyspace_hits.
type CacheStats struct {
	Hits, Misses int64
	HitLatency   model.LatencySummary
	MissLatency  model.LatencySummary
}

// HitRate is hits / (hits + misses); ok is false before the first lookup.
func (s CacheStats) HitRate() (rate float64, ok bool) {
	if s.Hits+s.Misses == 0 {
		return 0, false
	}
	return float64(s.Hits) / float64(s.Hits+s.Misses), true
}

// CandleCache reads and writes QuFLX's candle cache.
//
// QuFLX spells timeframes both "1M" and "1m" in keys. A lookup tries both spellings in one
// pipelined round trip and remembers which exists; a write goes to the spelling already
// in use, so an existing key is never shadowed by a twin.
type CandleCache struct {
	client *Client
	opts   CacheOptions

	mu        sync.Mutex
	spelling  map[assetTF]string
	hits      int64
	misses    int64
	hitLat    model.LatencyHistogram
	missLat   model.LatencyHistogram
	encodeBuf []byte
}

type assetTF struct {
	asset string
	tf    model.Timeframe
}

// NewCandleCache returns a cache over client.
func NewCandleCache(c *Client, opts CacheOptions) *CandleCache {
	if opts.TTL <= 0 {
		opts.TTL = DefaultCacheTTL
	}
	if opts.MaxCandles <= 0 {
		opts.MaxCandles = DefaultCacheCandles
	}
	return &CandleCache{client: c, opts: opts, spelling: map[assetTF]string{}}
}

// Learn records the spelling of an existing cache key (from discovery).
func (cc *CandleCache) Learn(key string) {
	asset, tfText, ok := cc.opts.Key.Match(key)
	if !ok {
		return
	}
	tf, err := model.ParseTimeframe(tfText)
	if err != nil {
		return
	}
	cc.mu.Lock()
	cc.spelling[assetTF{asset, tf}] = key
	cc.mu.Unlock()
}

// candidates returns the keys to look at for asset and tf, the remembered spelling first.
func (cc *CandleCache) candidates(asset string, tf model.Timeframe) []string {
	cc.mu.Lock()
	known, ok := cc.spelling[assetTF{asset, tf}]
	cc.mu.Unlock()
	if ok {
		return []string{known}
	}
	lower := tf.String()
	keys := []string{cc.opts.Key.Key(asset, lower)}
	if upper := strings.ToUpper(lower); upper != lower {
		keys = append(keys, cc.opts.Key.Key(asset, upper))
	}
	return keys
}

// MaxCacheValueBytes bounds a cache value read for the chart: QuFLX's 200 candles are
// about 25 KB.
const MaxCacheValueBytes = 4 << 20

// Get reads the cached candles of asset at tf, oldest first. A missing key is a miss,
// not an error; a value that is not a candle array is an error and counts as a miss.
func (cc *CandleCache) Get(ctx context.Context, asset string, tf model.Timeframe) (CacheRead, error) {
	keys := cc.candidates(asset, tf)
	start := time.Now()
	pipe := cc.client.Pipeline()
	cmds := make([]*redis.StringCmd, len(keys))
	lens := make([]*redis.IntCmd, len(keys))
	for i, k := range keys {
		// Bounded: a cache key is anyone's to write who may write to Redis. A value over
		// the limit is refused by its length; its first bytes are all that crosses.
		lens[i] = pipe.StrLen(ctx, k)
		cmds[i] = pipe.GetRange(ctx, k, 0, MaxCacheValueBytes-1)
	}
	_, err := pipe.Exec(ctx)
	read := CacheRead{Key: keys[0], Latency: time.Since(start)}
	if err != nil && !errors.Is(err, redis.Nil) && !isRedisError(err) {
		return read, fmt.Errorf("cache get %s: %w", keys[0], err)
	}
	for i, cmd := range cmds {
		n, err := lens[i].Result()
		if err == nil && n == 0 {
			continue // GETRANGE and STRLEN of a missing key: 0, "" (a miss)
		}
		if err == nil && n > MaxCacheValueBytes {
			cc.record(false, read.Latency)
			return read, fmt.Errorf("cache get %s: a value of %d bytes is over the %d-byte limit", keys[i], n, MaxCacheValueBytes)
		}
		val, err := cmd.Bytes()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			cc.record(false, read.Latency)
			return read, fmt.Errorf("cache get %s: %w", keys[i], err)
		}
		candles, bad, err := model.DecodeCandles(val)
		read.Key = keys[i]
		if err != nil {
			cc.record(false, read.Latency)
			return read, fmt.Errorf("cache get %s: %w", keys[i], err)
		}
		cc.mu.Lock()
		cc.spelling[assetTF{asset, tf}] = keys[i]
		cc.mu.Unlock()
		read.Candles, read.Bad, read.Hit = candles, bad, true
		cc.record(true, read.Latency)
		return read, nil
	}
	cc.record(false, read.Latency)
	return read, nil
}

func (cc *CandleCache) record(hit bool, d time.Duration) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if hit {
		cc.hits++
		cc.hitLat.Record(d)
	} else {
		cc.misses++
		cc.missLat.Record(d)
	}
}

// Put writes the newest MaxCandles candles with SETEX and the cache TTL, as the QuFLX
// producers do, to the key's existing spelling when there is one. It returns the key.
func (cc *CandleCache) Put(ctx context.Context, asset string, tf model.Timeframe, candles []model.Candle) (string, error) {
	if len(candles) > cc.opts.MaxCandles {
		candles = candles[len(candles)-cc.opts.MaxCandles:]
	}
	key, err := cc.resolve(ctx, asset, tf)
	if err != nil {
		return key, err
	}
	cc.mu.Lock()
	cc.encodeBuf = model.AppendCandlesJSON(cc.encodeBuf[:0], candles)
	val := string(cc.encodeBuf)
	cc.mu.Unlock()
	if err := cc.client.SetEx(ctx, key, val, cc.opts.TTL).Err(); err != nil {
		return key, fmt.Errorf("cache put %s: %w", key, err)
	}
	return key, nil
}

// resolve picks the key to write: the remembered spelling, else whichever spelling
// exists, else the canonical lower-case one.
func (cc *CandleCache) resolve(ctx context.Context, asset string, tf model.Timeframe) (string, error) {
	keys := cc.candidates(asset, tf)
	key := keys[0]
	if len(keys) > 1 {
		n, err := cc.client.Exists(ctx, keys[1]).Result()
		if err != nil {
			return key, fmt.Errorf("cache put %s: %w", key, err)
		}
		if n > 0 {
			key = keys[1]
		}
	}
	cc.mu.Lock()
	cc.spelling[assetTF{asset, tf}] = key
	cc.mu.Unlock()
	return key, nil
}

// Stats returns the application hit/miss counts and latencies.
func (cc *CandleCache) Stats() CacheStats {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return CacheStats{
		Hits: cc.hits, Misses: cc.misses,
		HitLatency: cc.hitLat.Summary(), MissLatency: cc.missLat.Summary(),
	}
}
