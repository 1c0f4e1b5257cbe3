package redisdata

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/quflx/quflx-tui/model"
)

// CandleSource answers "candles of asset A at timeframe T" from durable storage
// (store.Store does).
type CandleSource interface {
	Candles(ctx context.Context, asset string, tf model.Timeframe, limit int) ([]model.Candle, error)
}

// HistorySource says where loaded history came from.
type HistorySource string

const (
	FromCache HistorySource = "cache"
	FromStore HistorySource = "store"
	FromNone  HistorySource = "none" // a cache miss and no store (or an empty one)
)

// HistoryResult is loaded chart history and what it cost.
type HistoryResult struct {
	Candles []model.Candle // oldest first
	Source  HistorySource
	Latency time.Duration // of the lookup that answered
	Key     string        // the cache key
	Filled  bool          // the cache was filled from the store
}

// History loads chart history: the candle cache first, the store on a miss, filling the
// cache from the store (SETEX, at most the cache's candle limit) when allowed.
type History struct {
	cache  *CandleCache
	source CandleSource // nil: cache only
	fill   bool

	mu       sync.Mutex
	storeLat model.LatencyHistogram
}

// NewHistory returns a loader. fill must be false against a live Redis unless the user
// asked for writes: filling the cache is a write.
func NewHistory(cache *CandleCache, source CandleSource, fill bool) *History {
	return &History{cache: cache, source: source, fill: fill}
}

// Load returns the history of asset at tf.
func (h *History) Load(ctx context.Context, asset string, tf model.Timeframe) (HistoryResult, error) {
	read, cacheErr := h.cache.Get(ctx, asset, tf)
	if cacheErr == nil && read.Hit {
		return HistoryResult{Candles: read.Candles, Source: FromCache, Latency: read.Latency, Key: read.Key}, nil
	}
	res := HistoryResult{Source: FromNone, Latency: read.Latency, Key: read.Key}
	if h.source == nil {
		return res, cacheErr
	}
	start := time.Now()
	candles, err := h.source.Candles(ctx, asset, tf, h.cache.opts.MaxCandles)
	res.Latency = time.Since(start)
	h.mu.Lock()
	h.storeLat.Record(res.Latency)
	h.mu.Unlock()
	if err != nil {
		return res, fmt.Errorf("history %s %s: %w", asset, tf, err)
	}
	if len(candles) == 0 {
		return res, cacheErr
	}
	res.Candles, res.Source = candles, FromStore
	if h.fill {
		if _, err := h.cache.Put(ctx, asset, tf, candles); err != nil {
			return res, err
		}
		res.Filled = true
	}
	return res, nil
}

// StoreLatency summarises the store lookups made on cache misses.
func (h *History) StoreLatency() model.LatencySummary {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.storeLat.Summary()
}
