package model

import (
	"fmt"
	"runtime"
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

func TestMarketKeepsTheNewestOfABurstAndSeeds(t *testing.T) {
	m := NewMarket(MarketOptions{MaxArrivals: 100})
	base := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC).UnixMicro()
	for i := range int64(100_000) {
		m.Add(Tick{Asset: "A", Price: 1 + float64(i%10)/1e4, UnixMicro: base + i}, base+i)
	}
	arr, sampled := m.TakeArrivals(nil)
	if len(arr) != 100 || sampled != 99_900 {
		t.Fatalf("arrivals %d sampled %d", len(arr), sampled)
	}
	// The newest of the burst are kept, not its start.
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

func TestPruneDropsIdleAssets(t *testing.T) {
	m := NewMarket(MarketOptions{})
	m.Add(Tick{Asset: "OLD", Price: 1, UnixMicro: 1e15}, 1000)
	m.Add(Tick{Asset: "NAMED", Price: 1, UnixMicro: 1e15}, 1000)
	m.Add(Tick{Asset: "NEW", Price: 1, UnixMicro: 1e15}, 5000)
	dropped := m.Prune(2000, func(a string) bool { return a == "NAMED" })
	if len(dropped) != 1 || dropped[0] != "OLD" {
		t.Fatalf("dropped %v", dropped)
	}
	var names []string
	for _, v := range m.Views(0, nil) {
		names = append(names, v.Asset)
	}
	if len(names) != 2 || names[0] != "NAMED" || names[1] != "NEW" {
		t.Fatalf("left %v", names)
	}
}

// Each asset costs little until it trades: 20,000 names seen once must not take the
// gigabytes that preallocated candle slots did (6.6 GB allocated in the report).
func TestAnAssetCostsLittleUntilItTrades(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	m := NewMarket(MarketOptions{})
	for i := range 20_000 {
		m.Add(Tick{Asset: fmt.Sprintf("junk%d", i), Price: 1, UnixMicro: 1e15}, 1)
	}
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 500<<20 {
		t.Fatalf("20,000 one-tick assets allocated %d MB", alloc>>20)
	}
}

// Several displays share one market: each reads the arrivals after its own cursor, and
// each has its own wake-up, which fires once however many ticks came.
func TestMarketServesSeveralDisplays(t *testing.T) {
	m := NewMarket(MarketOptions{MaxArrivals: 10})
	a, stopA := m.Changes()
	b, stopB := m.Changes()
	defer stopA()
	for i := range int64(4) {
		m.Add(Tick{Asset: "A", Price: 1, UnixMicro: 100 + i}, 100+i)
	}
	for name, ch := range map[string]<-chan struct{}{"a": a, "b": b} {
		select {
		case <-ch:
		default:
			t.Fatalf("display %s not woken", name)
		}
		select {
		case <-ch:
			t.Fatalf("display %s woken twice for one look", name)
		default:
		}
	}
	stopB()
	m.Add(Tick{Asset: "A", Price: 1, UnixMicro: 104}, 104)
	select {
	case <-b:
		t.Fatal("a stopped display is still woken")
	default:
	}

	first, next, missed := m.ArrivalsSince(0, nil)
	if len(first) != 5 || next != 5 || missed != 0 || first[0] != 100 || first[4] != 104 {
		t.Fatalf("first display: %v next %d missed %d", first, next, missed)
	}
	second, _, _ := m.ArrivalsSince(3, nil)
	if len(second) != 2 || second[0] != 103 {
		t.Fatalf("second display: %v", second)
	}
	for i := range int64(20) {
		m.Add(Tick{Asset: "A", Price: 1, UnixMicro: 200 + i}, 200+i)
	}
	late, next, missed := m.ArrivalsSince(next, nil)
	if len(late) != 10 || missed != 10 || next != 25 || late[0] != 210 || late[9] != 219 {
		t.Fatalf("a display behind by more than the ring: %v next %d missed %d", late, next, missed)
	}
}
