package redisdata

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/quflx/quflx-tui/model"
)

// CandleSource answers "candles of asset A at timeframe T" from durable storage
// (store.Store does).
type CandleSource interface {
	// Candles returns the newest limit candles, oldest first.
	Candles(ctx context.Context, asset string, tf model.Timeframe, limit int) ([]model.Candle, error)
	// CandlesBefore returns the newest limit candles that start before before (Unix
	// seconds), oldest first.
	CandlesBefore(ctx context.Context, asset string, tf model.Timeframe, before int64, limit int) ([]model.Candle, error)
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

// LoadBefore returns up to limit candles of asset at tf older than before (Unix seconds),
// oldest first: a panned chart's next page back. The cache answers when it holds such
// candles (it holds only the newest few hundred, so mostly it does not), else the store.
// An empty result with no error means there is no older history. It never writes: the
// cache holds the newest candles, not pages of old ones.
func (h *History) LoadBefore(ctx context.Context, asset string, tf model.Timeframe, before int64, limit int) (HistoryResult, error) {
	read, cacheErr := h.cache.Get(ctx, asset, tf)
	if cacheErr == nil && read.Hit {
		var older []model.Candle
		for _, c := range read.Candles { // a publisher's order is not to be trusted
			if c.Start < before {
				older = append(older, c)
			}
		}
		if len(older) > 0 {
			slices.SortFunc(older, func(a, b model.Candle) int { return cmp.Compare(a.Start, b.Start) })
			older = older[max(0, len(older)-limit):]
			return HistoryResult{Candles: older, Source: FromCache, Latency: read.Latency, Key: read.Key}, nil
		}
	}
	res := HistoryResult{Source: FromNone, Latency: read.Latency, Key: read.Key}
	if h.source == nil {
		return res, cacheErr
	}
	start := time.Now()
	candles, err := h.source.CandlesBefore(ctx, asset, tf, before, limit)
	res.Latency = time.Since(start)
	h.mu.Lock()
	h.storeLat.Record(res.Latency)
	h.mu.Unlock()
	if err != nil {
		return res, fmt.Errorf("history %s %s before %d: %w", asset, tf, before, err)
	}
	if len(candles) > 0 {
		res.Candles, res.Source = candles, FromStore
	}
	return res, nil
}

// StoreLatency summarises the store lookups made on cache misses.
func (h *History) StoreLatency() model.LatencySummary {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.storeLat.Summary()
}
