package redisdata

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata/redistest"
	"github.com/quflx/quflx-tui/store"
)

// On a cache miss the store answers and fills the cache (at most 200 candles, with the
// TTL); the next lookup is a hit. Without fill (a live Redis, read-only) nothing is written.
func TestHistoryFallsBackToTheStoreAndFillsTheCache(t *testing.T) {
	redistest.Each(t, func(t *testing.T, target redistest.Target) {
		ctx := context.Background()
		st, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "h.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		start := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC).Unix()
		var minutes []model.Candle
		for i := range int64(600) {
			minutes = append(minutes, model.Candle{Start: start + i*60, Open: 1, High: 1.2, Low: 0.8, Close: 1.1, Volume: 2})
		}
		if err := st.WriteCandles(ctx, "EURUSD_otc", minutes); err != nil {
			t.Fatal(err)
		}
		c := newWriter(t, target.Addr)

		readOnly, _ := NewClient(Options{Addr: target.Addr, ReadOnly: true})
		defer readOnly.Close()
		noFill := NewHistory(NewCandleCache(readOnly, CacheOptions{Key: cachePattern}), st, false)
		res, err := noFill.Load(ctx, "EURUSD_otc", model.TF5m)
		if err != nil || res.Source != FromStore || res.Filled || len(res.Candles) != 120 {
			t.Fatalf("read-only load: %+v %v", res, err)
		}
		if c.Exists(ctx, "historical:EURUSD_otc:5m").Val() != 0 {
			t.Fatal("a read-only history wrote the cache")
		}

		cache := NewCandleCache(c, CacheOptions{Key: cachePattern})
		h := NewHistory(cache, st, true)
		res, err = h.Load(ctx, "EURUSD_otc", model.TF1m)
		if err != nil || res.Source != FromStore || !res.Filled || len(res.Candles) != 200 || res.Latency <= 0 {
			t.Fatalf("miss: %+v %v", res, err)
		}
		if !slices.Equal(res.Candles, minutes[400:]) {
			t.Fatal("store history differs from what was written")
		}
		if ttl := c.TTL(ctx, "historical:EURUSD_otc:1m").Val(); ttl < 59*time.Minute {
			t.Fatalf("filled cache TTL %v", ttl)
		}
		res, err = h.Load(ctx, "EURUSD_otc", model.TF1m)
		if err != nil || res.Source != FromCache || !slices.Equal(res.Candles, minutes[400:]) {
			t.Fatalf("hit: %+v %v", res.Source, err)
		}
		if s := cache.Stats(); s.Hits != 1 || s.Misses != 1 || h.StoreLatency().Count != 1 {
			t.Fatalf("cache stats %+v, store lookups %d", s, h.StoreLatency().Count)
		}
		none, err := h.Load(ctx, "NOTHING_otc", model.TF1h)
		if err != nil || none.Source != FromNone || len(none.Candles) != 0 {
			t.Fatalf("unknown asset: %+v %v", none, err)
		}
	})
}

// A panned chart's pages back: the cache answers with what it holds older than the chart's
// oldest candle, the store with the rest; nothing is written, and the end of history is an
// empty answer, not an error.
func TestHistoryLoadBeforePagesFromCacheThenStore(t *testing.T) {
	redistest.Each(t, func(t *testing.T, target redistest.Target) {
		ctx := context.Background()
		st, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "h.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		start := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC).Unix()
		var minutes []model.Candle
		for i := range int64(600) {
			minutes = append(minutes, model.Candle{Start: start + i*60, Open: 1, High: 1.2, Low: 0.8, Close: 1.1, Volume: 2})
		}
		if err := st.WriteCandles(ctx, "EURUSD_otc", minutes); err != nil {
			t.Fatal(err)
		}
		c := newWriter(t, target.Addr)
		cache := NewCandleCache(c, CacheOptions{Key: cachePattern})
		if _, err := cache.Put(ctx, "EURUSD_otc", model.TF1m, minutes); err != nil { // the newest 200
			t.Fatal(err)
		}
		cached := minutes[400:]
		readOnly, _ := NewClient(Options{Addr: target.Addr, ReadOnly: true})
		defer readOnly.Close()
		h := NewHistory(NewCandleCache(readOnly, CacheOptions{Key: cachePattern}), st, false)

		// The chart holds the newest 50: the cache has 150 older.
		res, err := h.LoadBefore(ctx, "EURUSD_otc", model.TF1m, minutes[550].Start, 100)
		if err != nil || res.Source != FromCache || !slices.Equal(res.Candles, cached[50:150]) {
			t.Fatalf("from the cache: %s, %d candles, %v", res.Source, len(res.Candles), err)
		}
		// The chart holds all the cache had: the store answers.
		res, err = h.LoadBefore(ctx, "EURUSD_otc", model.TF1m, cached[0].Start, 300)
		if err != nil || res.Source != FromStore || !slices.Equal(res.Candles, minutes[100:400]) || res.Filled {
			t.Fatalf("from the store: %s, %d candles, %v", res.Source, len(res.Candles), err)
		}
		res, err = h.LoadBefore(ctx, "EURUSD_otc", model.TF5m, minutes[100].Start, 300)
		if err != nil || res.Source != FromStore || len(res.Candles) != 20 || res.Candles[19].Start != minutes[95].Start {
			t.Fatalf("5m from the store: %s, %d candles, %v", res.Source, len(res.Candles), err)
		}
		// The beginning of history.
		res, err = h.LoadBefore(ctx, "EURUSD_otc", model.TF1m, minutes[0].Start, 300)
		if err != nil || res.Source != FromNone || len(res.Candles) != 0 {
			t.Fatalf("before the first candle: %s, %d candles, %v", res.Source, len(res.Candles), err)
		}
		if n := c.Exists(ctx, "historical:EURUSD_otc:5m").Val(); n != 0 {
			t.Fatal("a page load wrote the cache")
		}
	})
}
