package model

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestRing(t *testing.T) {
	r := NewRing[int](3)
	if _, ok := r.Last(); ok || r.Len() != 0 {
		t.Fatal("new ring not empty")
	}
	for i := 1; i <= 5; i++ {
		r.Push(i)
	}
	if got := r.AppendTo(nil); !slices.Equal(got, []int{3, 4, 5}) {
		t.Fatalf("AppendTo = %v", got)
	}
	if last, _ := r.Last(); last != 5 || r.At(0) != 3 || r.Len() != 3 || r.Cap() != 3 {
		t.Fatalf("last %d at0 %d len %d", last, r.At(0), r.Len())
	}
	r.Reset()
	r.Push(9)
	if got := r.AppendTo(nil); !slices.Equal(got, []int{9}) {
		t.Fatalf("after reset %v", got)
	}
}

func TestRateMeter(t *testing.T) {
	sec := int64(time.Second)
	m := NewRateMeter(5*time.Second, 250*time.Millisecond)
	start := 1000 * sec
	// 100 events per second for 10 seconds, evenly.
	for i := range int64(1000) {
		m.Add(start+i*sec/100, 1)
	}
	now := start + 10*sec - 1
	if r := m.Rate(now); math.Abs(r-100) > 3 {
		t.Fatalf("steady rate %.1f, want about 100", r)
	}
	// Half a second into a new stream the rate is already right, not diluted by the window.
	m2 := NewRateMeter(5*time.Second, 250*time.Millisecond)
	for i := range int64(50) {
		m2.Add(start+i*sec/100, 1)
	}
	if r := m2.Rate(start + sec/2); math.Abs(r-100) > 5 {
		t.Fatalf("young stream rate %.1f, want about 100", r)
	}
	// After silence longer than the window the rate is zero; the total stays.
	if r := m.Rate(now + 6*sec); r != 0 || m.Total() != 1000 {
		t.Fatalf("after silence rate %.1f total %d", r, m.Total())
	}
}

func TestLatencyHistogramQuantilesAreClose(t *testing.T) {
	var h LatencyHistogram
	rng := rand.New(rand.NewPCG(1, 2))
	vals := make([]int64, 100_000)
	for i := range vals {
		// Log-normal around 1 ms, with a tail.
		vals[i] = int64(math.Exp(rng.NormFloat64()*1.2) * float64(time.Millisecond))
		h.Record(time.Duration(vals[i]))
	}
	slices.Sort(vals)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		exact := float64(vals[int(math.Ceil(q*float64(len(vals))))-1])
		got := float64(h.Quantile(q))
		if rel := math.Abs(got-exact) / exact; rel > 0.02 {
			t.Errorf("q%.3f: got %v exact %v (%.1f%% off)", q, time.Duration(got), time.Duration(exact), rel*100)
		}
	}
	if h.Max() != time.Duration(vals[len(vals)-1]) || h.Min() != time.Duration(vals[0]) || h.Count() != 100_000 {
		t.Fatalf("max %v min %v count %d", h.Max(), h.Min(), h.Count())
	}
	s := h.Summary()
	if !(s.P50 <= s.P90 && s.P90 <= s.P99 && s.P99 <= s.Max) {
		t.Fatalf("summary not monotone: %+v", s)
	}
}

func TestLatencyHistogramEdges(t *testing.T) {
	var h LatencyHistogram
	if h.Quantile(0.5) != 0 || h.Mean() != 0 {
		t.Fatal("empty histogram not zero")
	}
	h.Record(-5)
	h.Record(7)
	h.Record(time.Hour) // beyond the resolved range: clamps into the top bucket
	if h.Max() != time.Hour || h.Quantile(0.5) != 7 || h.Min() != 0 {
		t.Fatalf("max %v p50 %v min %v", h.Max(), h.Quantile(0.5), h.Min())
	}
	var o LatencyHistogram
	o.Record(3 * time.Millisecond)
	h.Merge(&o)
	if h.Count() != 4 {
		t.Fatalf("merged count %d", h.Count())
	}
	h.Reset()
	if h.Count() != 0 || h.Max() != 0 {
		t.Fatal("reset")
	}
	// Every bucket's bounds must tile the range without gaps.
	for i := 1; i < histBuckets; i++ {
		_, prevHi := histBounds(i - 1)
		lo, hi := histBounds(i)
		if lo != prevHi+1 || hi < lo || histIndex(lo) != i || histIndex(hi) != i {
			t.Fatalf("bucket %d: [%d,%d] after %d", i, lo, hi, prevHi)
		}
	}
}

func TestTimeframe(t *testing.T) {
	for s, want := range map[string]Timeframe{"1m": TF1m, "1M": TF1m, " 5m": TF5m, "15M": TF15m, "1h": TF1h, "4H": TF4h} {
		got, err := ParseTimeframe(s)
		if err != nil || got != want {
			t.Errorf("ParseTimeframe(%q) = %v, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "2m", "1d", "m", "1mo"} {
		if _, err := ParseTimeframe(s); err == nil {
			t.Errorf("ParseTimeframe(%q) accepted", s)
		}
	}
	if TF15m.String() != "15m" || TF4h.String() != "4h" || TF1m.Duration() != time.Minute {
		t.Fatal("String/Duration")
	}
	if got := TF5m.BucketStart(1752960407177000); got != 1752960300 {
		t.Fatalf("BucketStart = %d", got)
	}
}

func TestKeyPattern(t *testing.T) {
	cache := MustKeyPattern("historical:{asset}:{timeframe}")
	if k := cache.Key("EURUSD_otc", "1M"); k != "historical:EURUSD_otc:1M" {
		t.Fatalf("Key = %q", k)
	}
	if g := cache.Glob(); g != "historical:*:*" {
		t.Fatalf("Glob = %q", g)
	}
	if g := cache.GlobWith("A*B", ""); g != `historical:A\*B:*` {
		t.Fatalf("GlobWith = %q", g)
	}
	for key, want := range map[string][2]string{
		"historical:EURUSD_otc:1M":   {"EURUSD_otc", "1M"},
		"historical:EUR:USD:15m":     {"EUR:USD", "15m"},
		"historical:x:":              {},
		"ticks:EURUSD_otc":           {},
		"historical::1m":             {},
		"historical:EURUSD_otc:1m:x": {"EURUSD_otc:1m", "x"},
	} {
		a, tf, ok := cache.Match(key)
		if ok != (want[0] != "") || a != want[0] || tf != want[1] {
			t.Errorf("Match(%q) = %q %q %v, want %v", key, a, tf, ok, want)
		}
	}
	tagged := MustKeyPattern("ticks:{{asset}}")
	if k := tagged.Key("EURUSD_otc", ""); k != "ticks:{EURUSD_otc}" {
		t.Fatalf("hash-tag Key = %q", k)
	}
	if a, _, ok := tagged.Match("ticks:{EURUSD_otc}"); !ok || a != "EURUSD_otc" {
		t.Fatalf("hash-tag Match = %q %v", a, ok)
	}
	if tagged.HasTimeframe() || !cache.HasTimeframe() {
		t.Fatal("HasTimeframe")
	}
	for _, bad := range []string{"ticks", "ticks:{asset}{timeframe}", "{asset}:{asset}", "{timeframe}"} {
		if _, err := ParseKeyPattern(bad); err == nil {
			t.Errorf("ParseKeyPattern(%q) accepted", bad)
		}
	}
}
