package redisdata

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata/redistest"
)

func TestCandleCacheMissPutHit(t *testing.T) {
	redistest.Each(t, func(t *testing.T, target redistest.Target) {
		ctx := context.Background()
		c, _ := NewClient(Options{Addr: target.Addr})
		defer c.Close()
		cc := NewCandleCache(c, CacheOptions{Key: cachePattern})

		r, err := cc.Get(ctx, "EURUSD_otc", model.TF5m)
		if err != nil || r.Hit || r.Key != "historical:EURUSD_otc:5m" || r.Latency <= 0 {
			t.Fatalf("miss: %+v %v", r, err)
		}
		candles := make([]model.Candle, 250)
		for i := range candles {
			candles[i] = model.Candle{Start: 1729760400 + int64(i)*300, Open: 1.08, High: 1.09, Low: 1.07, Close: 1.085, Volume: int64(i)}
		}
		key, err := cc.Put(ctx, "EURUSD_otc", model.TF5m, candles)
		if err != nil || key != "historical:EURUSD_otc:5m" {
			t.Fatalf("put: %s %v", key, err)
		}
		ttl := c.TTL(ctx, key).Val()
		if ttl < 3590*time.Second || ttl > time.Hour {
			t.Fatalf("TTL %v, want the QuFLX 3600 s", ttl)
		}
		r, err = cc.Get(ctx, "EURUSD_otc", model.TF5m)
		if err != nil || !r.Hit || !slices.Equal(r.Candles, candles[50:]) {
			t.Fatalf("hit: %v %d candles", err, len(r.Candles))
		}
		st := cc.Stats()
		if st.Hits != 1 || st.Misses != 1 || st.HitLatency.Count != 1 || st.MissLatency.Count != 1 {
			t.Fatalf("stats %+v", st)
		}
		if rate, ok := st.HitRate(); !ok || rate != 0.5 {
			t.Fatalf("hit rate %v", rate)
		}
	})
}

func TestCandleCacheKeepsTheKeysSpelling(t *testing.T) {
	m := redistest.Mini(t)
	ctx := context.Background()
	c, _ := NewClient(Options{Addr: m.Addr()})
	defer c.Close()
	m.Set("historical:EURUSD_otc:1M", `[{"timestamp":1729760400,"open":1,"high":1,"low":1,"close":1,"volume":1}]`)

	cc := NewCandleCache(c, CacheOptions{Key: cachePattern})
	r, err := cc.Get(ctx, "EURUSD_otc", model.TF1m)
	if err != nil || !r.Hit || r.Key != "historical:EURUSD_otc:1M" || len(r.Candles) != 1 {
		t.Fatalf("upper-case key: %+v %v", r, err)
	}
	key, _ := cc.Put(ctx, "EURUSD_otc", model.TF1m, r.Candles)
	if key != "historical:EURUSD_otc:1M" || m.Exists("historical:EURUSD_otc:1m") {
		t.Fatalf("wrote %s; a lower-case twin exists: %v", key, m.Exists("historical:EURUSD_otc:1m"))
	}
	// A fresh cache that never read the key still writes to the existing spelling.
	fresh := NewCandleCache(c, CacheOptions{Key: cachePattern})
	if key, _ := fresh.Put(ctx, "EURUSD_otc", model.TF1m, r.Candles); key != "historical:EURUSD_otc:1M" {
		t.Fatalf("fresh put wrote %s", key)
	}
}

func TestCandleCacheCorruptValueIsAnErrorAndAMiss(t *testing.T) {
	m := redistest.Mini(t)
	c, _ := NewClient(Options{Addr: m.Addr()})
	defer c.Close()
	m.Set("historical:A:1h", `{"not":"an array"}`)
	m.Lpush("historical:B:1h", "x")
	cc := NewCandleCache(c, CacheOptions{Key: cachePattern})
	for _, asset := range []string{"A", "B"} {
		r, err := cc.Get(context.Background(), asset, model.TF1h)
		if err == nil || r.Hit || !strings.Contains(err.Error(), "historical:"+asset+":1h") {
			t.Fatalf("%s: %+v %v", asset, r, err)
		}
	}
	if st := cc.Stats(); st.Misses != 2 || st.Hits != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestReadRecentEitherProducerOrder(t *testing.T) {
	redistest.Each(t, func(t *testing.T, target redistest.Target) {
		ctx := context.Background()
		w := newWriter(t, target.Addr)
		payloads := eurusdPayloads(t)[:1000]
		// v1: LPUSH, newest at index 0; v2: RPUSH, newest at the end. Both capped at 1000.
		pipe := w.Pipeline()
		for _, p := range payloads {
			pipe.LPush(ctx, "ticks:V1", p)
			pipe.RPush(ctx, "ticks:V2", p)
		}
		pipe.LPush(ctx, "ticks:V1", "garbage")
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
		c, _ := NewClient(Options{Addr: target.Addr, ReadOnly: true})
		defer c.Close()

		var d model.Decoder
		want := make([]model.Tick, 0, 50)
		for _, p := range payloads[950:] {
			tk, _ := d.DecodeString(p, "", 0)
			want = append(want, tk)
		}
		v2, err := ReadRecent(ctx, c, "ticks:V2", "V2", 50, OrderUnknown)
		if err != nil || v2.Order != OrderNewestLast || v2.Len != 1000 || !slices.Equal(v2.Ticks, want) {
			t.Fatalf("v2: %v order %v len %d, %d ticks", err, v2.Order, v2.Len, len(v2.Ticks))
		}
		// V1's newest entry is garbage: it is counted, and order detection uses the
		// decodable entries around it.
		v1, err := ReadRecent(ctx, c, "ticks:V1", "V1", 51, OrderUnknown)
		if err != nil || v1.Order != OrderNewestFirst || v1.Bad != 1 || !slices.Equal(v1.Ticks, want) {
			t.Fatalf("v1: %v order %v bad %d, %d ticks", err, v1.Order, v1.Bad, len(v1.Ticks))
		}
		// Bounded: asking for a million reads at most MaxRecent.
		all, _ := ReadRecent(ctx, c, "ticks:V2", "V2", 1_000_000, OrderUnknown)
		if len(all.Ticks) != MaxRecent {
			t.Fatalf("unbounded read: %d", len(all.Ticks))
		}
		empty, err := ReadRecent(ctx, c, "ticks:NONE", "NONE", 10, OrderNewestFirst)
		if err != nil || len(empty.Ticks) != 0 || empty.Len != 0 {
			t.Fatalf("empty: %+v %v", empty, err)
		}
	})
}
