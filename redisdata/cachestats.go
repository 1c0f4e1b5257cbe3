package redisdata

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/quflx/quflx-tui/model"
)

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

type cacheKey struct {
	asset, tfText, key string
	tf                 model.Timeframe
}

type cacheMemo struct {
	bytes   int64
	ttl     time.Duration
	candles int
}

// cacheInspector reads cache keys' TTL and size in a caller's pipeline and counts the
// candles of values that changed since it last looked (a full count reads every byte).
type cacheInspector struct {
	maxBytes int64 // larger values are not read to count candles
	memo     map[string]cacheMemo
}

func newCacheInspector(maxBytes int64) *cacheInspector {
	return &cacheInspector{maxBytes: maxBytes, memo: map[string]cacheMemo{}}
}

// cacheCmds are the replies queue asked for, one pair a key.
type cacheCmds struct {
	keys    []cacheKey
	pttls   []*redis.DurationCmd
	strlens []*redis.IntCmd
}

// queue adds PTTL and STRLEN of each key to pipe.
func (ci *cacheInspector) queue(ctx context.Context, pipe redis.Pipeliner, keys []cacheKey) cacheCmds {
	cmds := cacheCmds{keys: keys, pttls: make([]*redis.DurationCmd, len(keys)), strlens: make([]*redis.IntCmd, len(keys))}
	for i, k := range keys {
		cmds.pttls[i] = pipe.PTTL(ctx, k.key)
		cmds.strlens[i] = pipe.StrLen(ctx, k.key)
	}
	return cmds
}

// InspectCaches reads the TTL, size and candle count of cache keys in two pipelined round
// trips (the second only for values to count), for one-shot callers.
func InspectCaches(ctx context.Context, c *Client, pattern model.KeyPattern, keys []string) ([]CacheKeyStat, error) {
	ci := newCacheInspector(defaultMaxCacheBytes)
	pipe := c.Pipeline()
	cmds := ci.queue(ctx, pipe, cacheKeysOf(pattern, keys, nil, defaultMaxKeys))
	if len(cmds.keys) > 0 {
		if _, err := pipe.Exec(ctx); err != nil && !isRedisError(err) {
			return nil, fmt.Errorf("inspect %d cache keys: %w", len(cmds.keys), err)
		}
	}
	stats, recount := ci.read(cmds)
	if len(recount) > 0 {
		if err := ci.count(ctx, c, stats, recount); err != nil {
			return nil, err
		}
	}
	return stats, nil
}

// read returns the cache stats and the indexes of keys whose candles must be counted
// again: those whose size changed or whose TTL went up (a SETEX rewrote them).
func (ci *cacheInspector) read(cmds cacheCmds) (stats []CacheKeyStat, recount []int) {
	stats = make([]CacheKeyStat, len(cmds.keys))
	for i, c := range cmds.keys {
		st := CacheKeyStat{Asset: c.asset, Timeframe: c.tf, TimeframeText: c.tfText, Key: c.key, Candles: -1}
		ttl, err := cmds.pttls[i].Result()
		if err == nil {
			st.Bytes, err = cmds.strlens[i].Result()
		}
		st.Err = err
		switch {
		case err != nil:
		case ttl == -2: // go-redis passes -2 and -1 through unscaled
			delete(ci.memo, c.key)
		case ttl == -1:
			st.Exists, st.NoExpiry = true, true
		default:
			st.Exists, st.TTL = true, ttl
		}
		if st.Exists {
			m, seen := ci.memo[c.key]
			rewritten := !seen || m.bytes != st.Bytes || (!st.NoExpiry && st.TTL > m.ttl+time.Second)
			if rewritten && st.Bytes <= ci.maxBytes {
				recount = append(recount, i)
			} else if !rewritten {
				st.Candles = m.candles
			}
			ci.memo[c.key] = cacheMemo{bytes: st.Bytes, ttl: st.TTL, candles: st.Candles}
		}
		stats[i] = st
	}
	return stats, recount
}

// count reads the rewritten cache values, in one more pipelined round trip, to count
// their candles.
func (ci *cacheInspector) count(ctx context.Context, c *Client, stats []CacheKeyStat, idx []int) error {
	pipe := c.Pipeline()
	gets := make([]*redis.StringCmd, len(idx))
	for j, i := range idx {
		gets[j] = pipe.Get(ctx, stats[i].Key)
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
		wg.Go(func() {
			for j := w; j < len(idx); j += workers {
				val, err := gets[j].Bytes()
				if err == nil {
					counts[j], err = model.CountCandles(val)
				}
				errs[j] = err
			}
		})
	}
	wg.Wait()
	for j, i := range idx {
		st := &stats[i]
		if err := errs[j]; err != nil {
			if !errors.Is(err, redis.Nil) {
				st.Err = fmt.Errorf("%s: %w", st.Key, err)
			}
			continue
		}
		st.Candles = counts[j]
		m := ci.memo[st.Key]
		m.candles = st.Candles
		ci.memo[st.Key] = m
	}
	return nil
}
