package model

import (
	"sync"
	"testing"
	"time"
)

func TestMarketAggregates(t *testing.T) {
	m := NewMarket(MarketOptions{SparkSeconds: 5})
	base := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC).UnixMicro()
	add := func(asset string, sec float64, price float64) {
		us := base + int64(sec*1e6)
		m.Add(Tick{Asset: asset, Price: price, UnixMicro: us}, us)
	}
	v0 := m.Version()
	for i, p := range []float64{1.08503, 1.08511, 1.08494, 1.08527} {
		add("EURUSD_otc", float64(i), p)
	}
	add("EURUSD_otc", 1.5, 1.0) // late: amends candles, does not move the last price
	add("USDJPY_otc", 0, 150.123)
	if m.Version() == v0 || m.Total() != 6 {
		t.Fatalf("version %d total %d", m.Version(), m.Total())
	}
	views := m.Views(base*1000+3_500_000_000, nil)
	if len(views) != 2 || views[0].Asset != "EURUSD_otc" || views[1].Asset != "USDJPY_otc" {
		t.Fatalf("views %+v", views)
	}
	eur := views[0]
	if eur.Last.Price != 1.08527 || eur.First.Price != 1.08503 || eur.Ticks != 5 || eur.Decimals != 5 || views[1].Decimals != 3 {
		t.Fatalf("EURUSD view %+v", eur)
	}
	if d := eur.Change - 0.00024; d > 1e-12 || d < -1e-12 {
		t.Fatalf("change %v", eur.Change)
	}
	// One close per past second, then the current price.
	if got := eur.Spark; len(got) != 4 || got[0] != 1.08503 || got[3] != 1.08527 {
		t.Fatalf("spark %v", got)
	}
	candles := m.Candles("EURUSD_otc", TF1m, nil)
	if len(candles) != 1 || candles[0].Low != 1.0 || candles[0].Close != 1.08527 || candles[0].Volume != 5 {
		t.Fatalf("candles %+v", candles)
	}
	arr, sampled := m.TakeArrivals(nil)
	if len(arr) != 6 || sampled != 0 {
		t.Fatalf("arrivals %d sampled %d", len(arr), sampled)
	}
	if arr, _ := m.TakeArrivals(nil); len(arr) != 0 {
		t.Fatal("arrivals not forgotten")
	}
	// Views reuses the spark slices it is given.
	again := m.Views(base*1000, views)
	if &again[0].Spark[0] != &views[0].Spark[0] {
		t.Fatal("spark slice not reused")
	}
}

func TestMarketSamplesABurstAndSeeds(t *testing.T) {
	m := NewMarket(MarketOptions{MaxArrivals: 100})
	base := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC).UnixMicro()
	for i := range int64(100_000) {
		m.Add(Tick{Asset: "A", Price: 1 + float64(i%10)/1e4, UnixMicro: base + i}, base+i)
	}
	arr, sampled := m.TakeArrivals(nil)
	if len(arr) != 100 || sampled != 99_900 {
		t.Fatalf("arrivals %d sampled %d", len(arr), sampled)
	}
	// The sample spans the burst, not only its start.
	lastSeen := int64(0)
	for _, a := range arr {
		lastSeen = max(lastSeen, a)
	}
	if lastSeen < base+99_000 {
		t.Fatalf("sample ends at %d", lastSeen-base)
	}
	hist := []Candle{{Start: base/1e6 - 3600, Open: 1, High: 1, Low: 1, Close: 1, Volume: 1}}
	m.Seed("A", TF1h, hist)
	if c := m.Candles("A", TF1h, nil); len(c) != 2 || c[0] != hist[0] {
		t.Fatalf("seeded %+v", c)
	}
}

func TestMarketIsSafeForConcurrentUse(t *testing.T) {
	m := NewMarket(MarketOptions{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range int64(20_000) {
			m.Add(Tick{Asset: []string{"A", "B", "C"}[i%3], Price: 1, UnixMicro: 1e15 + i}, 1e15+i)
		}
	}()
	go func() {
		defer wg.Done()
		var views []AssetView
		for range 200 {
			views = m.Views(time.Now().UnixNano(), views)
			m.Candles("A", TF5m, nil)
			m.TakeArrivals(nil)
		}
	}()
	wg.Wait()
	if m.Total() != 20_000 {
		t.Fatal(m.Total())
	}
}

func BenchmarkMarketAdd(b *testing.B) {
	m := NewMarket(MarketOptions{})
	base := time.Now().UnixMicro()
	i := int64(0)
	b.ReportAllocs()
	for b.Loop() {
		m.Add(Tick{Asset: "EURUSD_otc", Price: 1.08 + float64(i%100)/1e5, UnixMicro: base + i}, base+i)
		i++
	}
}
