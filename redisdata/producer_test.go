package redisdata

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata/redistest"
)

func TestAppendPayloadRoundTrips(t *testing.T) {
	var d model.Decoder
	for _, tk := range []model.Tick{
		{Asset: "EURUSD_otc", Price: 1.08241, UnixMicro: 1752960407177000},
		{Asset: "EURUSD_otc", Price: 1.08241, UnixMicro: 1752960407177123},
		{Asset: "USDJPY_otc", Price: 150.001, UnixMicro: 1752960407000005},
		{Asset: "AUDCAD_otc", Kind: model.KindCandle, Price: 0.97757, Open: 0.97756, High: 0.97782, Low: 0.97732,
			Volume: 3, UnixMicro: 1759605360000000},
	} {
		payload := AppendPayload(nil, tk)
		got, err := d.Decode(payload, "", 0)
		if err != nil || got != tk {
			t.Fatalf("%s decoded to %+v, %v; want %+v", payload, got, err, tk)
		}
	}
	if got := string(AppendPayload(nil, model.Tick{Asset: "A", Price: 1.5, UnixMicro: 1752960407177000})); got !=
		`{"asset":"A","price":1.5,"timestamp":1752960407.177}` {
		t.Fatalf("millisecond payload %s", got)
	}
}

func TestProducerWritesAsQuFLXDoes(t *testing.T) {
	redistest.Each(t, func(t *testing.T, target redistest.Target) {
		for _, v := range []ProducerVersion{ProducerV1, ProducerV2} {
			t.Run(fmt.Sprint("v", int(v)), func(t *testing.T) {
				ctx := context.Background()
				w := newWriter(t, target.Addr)
				w.FlushAll(ctx)
				sub := startSubscriber(t, target.Addr, SubscriberOptions{Buffer: 4096})
				p := NewProducer(w, ProducerOptions{TickKey: tickPattern, Channel: chanPattern, Version: v, Cap: 100})
				base := time.Now().UnixMicro()
				var ticks []model.Tick
				for i := range 250 {
					ticks = append(ticks, model.Tick{Asset: "EURUSD_otc", Price: 1.08 + float64(i)/1e5, UnixMicro: base + int64(i)})
				}
				for chunk := range slices.Chunk(ticks, 64) {
					if err := p.Write(ctx, chunk); err != nil {
						t.Fatal(err)
					}
				}
				if n := w.LLen(ctx, "ticks:EURUSD_otc").Val(); n != 100 {
					t.Fatalf("buffer holds %d, want the cap of 100", n)
				}
				// The newest 100, in the producer's order.
				recent, err := ReadRecent(ctx, w, "ticks:EURUSD_otc", "", 100, OrderUnknown)
				wantOrder := map[ProducerVersion]ListOrder{ProducerV1: OrderNewestFirst, ProducerV2: OrderNewestLast}[v]
				if err != nil || recent.Order != wantOrder || !slices.Equal(recent.Ticks, ticks[150:]) {
					t.Fatalf("buffer: %v order %v, %d ticks", err, recent.Order, len(recent.Ticks))
				}
				// Every tick was published, in order.
				for i := range ticks {
					if got := nextTick(t, sub, 2*time.Second); got != ticks[i] {
						t.Fatalf("published %d: %+v, want %+v", i, got, ticks[i])
					}
				}
			})
		}
	})
}

func TestProducerKeepsTheCacheAsCandlesClose(t *testing.T) {
	m := redistest.Mini(t)
	ctx := context.Background()
	w := newWriter(t, m.Addr())
	cache := NewCandleCache(w, CacheOptions{Key: cachePattern})
	p := NewProducer(w, ProducerOptions{TickKey: tickPattern, Channel: chanPattern, Cache: cache})
	// Five hours of history, then live ticks crossing a minute boundary (12:02 to 12:03)
	// but no 5-minute one.
	start := time.Date(2026, 11, 25, 12, 2, 0, 0, time.UTC)
	var history []model.Candle
	for i := range 300 {
		history = append(history, model.Candle{Start: start.Unix() - int64(300-i)*60, Open: 1, High: 1.1, Low: 0.9, Close: 1, Volume: 5})
	}
	p.Seed("EURUSD_otc", history)
	if m.Exists("historical:EURUSD_otc:1m") {
		t.Fatal("cache written before any candle closed")
	}
	tick := func(sec int, price float64) model.Tick {
		return model.Tick{Asset: "EURUSD_otc", Price: price, UnixMicro: start.Add(time.Duration(sec) * time.Second).UnixMicro()}
	}
	if err := p.Write(ctx, []model.Tick{tick(1, 1.05), tick(30, 1.06), tick(61, 1.07)}); err != nil {
		t.Fatal(err)
	}
	r, err := cache.Get(ctx, "EURUSD_otc", model.TF1m)
	if err != nil || !r.Hit || len(r.Candles) != 200 {
		t.Fatalf("1m cache: %v hit %v, %d candles", err, r.Hit, len(r.Candles))
	}
	last := r.Candles[len(r.Candles)-1]
	prev := r.Candles[len(r.Candles)-2]
	if prev.Start != start.Unix() || prev.Close != 1.06 || prev.Volume != 2 || last.Close != 1.07 {
		t.Fatalf("closed candle %+v, forming %+v", prev, last)
	}
	if ttl := m.TTL("historical:EURUSD_otc:1m"); ttl != time.Hour {
		t.Fatalf("TTL %v", ttl)
	}
	// The 5-minute candle has not closed: no write yet.
	if m.Exists("historical:EURUSD_otc:5m") {
		t.Fatal("5m cache written before its candle closed")
	}
	if err := p.WriteCaches(ctx); err != nil || !m.Exists("historical:EURUSD_otc:4h") {
		t.Fatalf("WriteCaches: %v", err)
	}
}

// BenchmarkProducerVsRedisBenchmark feeds 10 assets into a real redis-server as a v1
// producer (LPUSH, LTRIM, PUBLISH per tick) and reports ticks/s beside redis-benchmark's
// LPUSH at the same pipeline depth (commands per round trip), measured in the same run.
func BenchmarkProducerVsRedisBenchmark(b *testing.B) {
	benchPath, err := exec.LookPath("redis-benchmark")
	if err != nil {
		if redistest.RequireReal() {
			b.Fatal("redis-benchmark not installed")
		}
		b.Skip("redis-benchmark not installed")
	}
	srv := redistest.Real(b)
	w := newWriter(b, srv.Addr)
	const assets, perBatch = 10, 256 // 768 commands per round trip
	p := NewProducer(w, ProducerOptions{TickKey: tickPattern, Channel: chanPattern})
	base := time.Now().UnixMicro()
	batch := make([]model.Tick, perBatch)
	ctx := context.Background()
	n := 0
	start := time.Now()
	for b.Loop() {
		for i := range batch {
			batch[i] = model.Tick{Asset: fmt.Sprintf("ASSET%d_otc", (n+i)%assets), Price: 1.08 + float64((n+i)%500)/1e5, UnixMicro: base + int64(n+i)}
		}
		if err := p.Write(ctx, batch); err != nil {
			b.Fatal(err)
		}
		n += perBatch
	}
	ticksPerSec := float64(n) / time.Since(start).Seconds()
	out, err := exec.Command(benchPath, "-h", "127.0.0.1", "-p", strconv.Itoa(srv.Port), "-c", "1",
		"-P", strconv.Itoa(3*perBatch), "-n", "2000000", "-q", "LPUSH", "bench:list", `{"asset":"EURUSD_otc","price":1.08241,"timestamp":1752960407.177123}`).CombinedOutput()
	if err != nil {
		b.Fatalf("redis-benchmark: %v\n%s", err, out)
	}
	lpush := parseRedisBenchmarkRate(b, string(out))
	b.ReportMetric(ticksPerSec, "ticks/s")
	b.ReportMetric(3*ticksPerSec, "commands/s")
	b.ReportMetric(lpush, "redis-benchmark-lpush/s")
	b.ReportMetric(3*ticksPerSec/lpush, "ratio")
}
