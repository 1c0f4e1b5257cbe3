package model

import (
	"cmp"
	"os"
	"runtime"
	"slices"
	"strconv"
	"testing"
)

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func tick(ms int64, price float64) Tick { return Tick{Asset: "A", Price: price, UnixMicro: ms * 1000} }

const t0 int64 = 1752960000000 // a minute boundary, in ms

func TestCandleBuilderInOrder(t *testing.T) {
	b := NewCandleBuilder(TF1m, 0)
	for i, p := range []float64{1.0, 1.3, 0.9, 1.1} {
		b.Add(tick(t0+int64(i)*1000, p))
	}
	b.Add(tick(t0+60_000, 2.0))
	got := b.Candles(nil)
	want := []Candle{
		{Start: t0 / 1000, Open: 1.0, High: 1.3, Low: 0.9, Close: 1.1, Volume: 4},
		{Start: t0/1000 + 60, Open: 2, High: 2, Low: 2, Close: 2, Volume: 1},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func TestCandleBuilderDropsDuplicatesAndAmendsOutOfOrder(t *testing.T) {
	b := NewCandleBuilder(TF1m, 0)
	steps := []struct {
		t    Tick
		want AddResult
	}{
		{tick(t0+10_000, 1.10), Added},
		{tick(t0+20_000, 1.20), Added},
		{tick(t0+20_000, 1.20), Duplicate}, // resend
		{tick(t0+5_000, 1.05), Amended},    // earlier than the open: becomes the open
		{tick(t0+15_000, 1.30), Amended},   // in the middle: only widens the range
		{tick(t0+10_000, 1.10), Duplicate}, // an old resend, arriving backwards
		{tick(t0+20_000, 1.25), Added},     // same ms, new price: a distinct tick, the latest close
		{tick(t0+61_000, 1.40), Added},     // next minute
		{tick(t0+59_000, 1.00), Amended},   // late tick for the first minute: new low and close
		{tick(t0+20_500, 1.22), Amended},
	}
	for i, s := range steps {
		if got := b.Add(s.t); got != s.want {
			t.Fatalf("step %d: Add(%+v) = %v, want %v", i, s.t, got, s.want)
		}
	}
	first := b.Candles(nil)[0]
	want := Candle{Start: t0 / 1000, Open: 1.05, High: 1.30, Low: 1.00, Close: 1.00, Volume: 7}
	if first != want {
		t.Fatalf("first candle %+v, want %+v", first, want)
	}
	st := b.Stats()
	if st.Duplicates != 2 || st.OutOfOrder != 4 || st.Accepted != 8 {
		t.Fatalf("stats %+v", st)
	}
}

func TestCandleBuilderFillsGapsAndDropsTooLate(t *testing.T) {
	b := NewCandleBuilder(TF1m, 3)
	b.Add(tick(t0, 1))
	b.Add(tick(t0+120_000, 3)) // minute 2; minute 1 is missing
	if got := b.Add(tick(t0+60_000, 2)); got != Amended {
		t.Fatalf("gap tick: %v", got)
	}
	starts := func() (s []int64) {
		for _, c := range b.Candles(nil) {
			s = append(s, c.Start-t0/1000)
		}
		return s
	}
	if got := starts(); !slices.Equal(got, []int64{0, 60, 120}) {
		t.Fatalf("starts %v", got)
	}
	b.Add(tick(t0+180_000, 4)) // window of 3 now holds 60, 120, 180
	if got := b.Add(tick(t0+1_000, 9)); got != TooLate {
		t.Fatalf("tick older than the window: %v", got)
	}
	if got := starts(); !slices.Equal(got, []int64{60, 120, 180}) {
		t.Fatalf("starts %v", got)
	}
	if b.Stats().TooLate != 1 {
		t.Fatalf("stats %+v", b.Stats())
	}
}

func TestCandleBuilderKeepsBoundedMemory(t *testing.T) {
	b := NewCandleBuilder(TF1m, 10)
	for i := range int64(10_000) {
		b.Add(tick(t0+i*60_000, 1+float64(i%7)))
	}
	if b.Len() != 10 || cap(b.slots) > 20 {
		t.Fatalf("len %d cap %d", b.Len(), cap(b.slots))
	}
	last, _ := b.Last()
	if last.Start != t0/1000+9999*60 {
		t.Fatalf("last %+v", last)
	}
}

func TestCandleBuilderCandleAsTick(t *testing.T) {
	b := NewCandleBuilder(TF5m, 0)
	b.Add(Tick{Asset: "A", Kind: KindCandle, UnixMicro: t0 * 1000, Open: 1.0, High: 1.5, Low: 0.8, Price: 1.2})
	b.Add(Tick{Asset: "A", Kind: KindCandle, UnixMicro: (t0 + 60_000) * 1000, Open: 1.2, High: 1.6, Low: 1.1, Price: 1.3})
	got, _ := b.Last()
	want := Candle{Start: TF5m.BucketStart(t0 * 1000), Open: 1.0, High: 1.6, Low: 0.8, Close: 1.3, Volume: 2}
	if got != want {
		t.Fatalf("got %+v want %+v", got, want)
	}
}

func TestCandleBuilderSeed(t *testing.T) {
	b := NewCandleBuilder(TF1m, 0)
	b.Add(tick(t0+120_000+5_000, 1.5)) // live ticks start mid-minute 2
	b.Add(tick(t0+120_000+9_000, 1.6))
	s := t0 / 1000
	b.Seed([]Candle{
		{Start: s + 60, Open: 1.2, High: 1.3, Low: 1.1, Close: 1.25, Volume: 5},
		{Start: s, Open: 1.0, High: 1.2, Low: 0.9, Close: 1.2, Volume: 4}, // out of order
		{Start: s + 120, Open: 1.4, High: 1.55, Low: 1.35, Close: 1.5, Volume: 3},
		{Start: s + 30, Open: 1, High: 1, Low: 1, Close: 1, Volume: 1}, // not a 1m bucket
	})
	got := b.Candles(nil)
	want := []Candle{
		{Start: s, Open: 1.0, High: 1.2, Low: 0.9, Close: 1.2, Volume: 4},
		{Start: s + 60, Open: 1.2, High: 1.3, Low: 1.1, Close: 1.25, Volume: 5},
		{Start: s + 120, Open: 1.4, High: 1.6, Low: 1.35, Close: 1.6, Volume: 3},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	b.Add(tick(t0+120_000+30_000, 1.45)) // live ticks keep moving the seeded candle's close
	if last, _ := b.Last(); last.Close != 1.45 || last.Open != 1.4 {
		t.Fatalf("after seed %+v", last)
	}
}

// loadEURUSD reads the real recording through the CSV reader.
func loadEURUSD(t testing.TB) []Tick {
	t.Helper()
	f, err := os.Open("../testdata/EURUSD_otc_ticks.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ticks, st, err := ReadCSV(f, CSVOptions{Asset: "EURUSD_otc"})
	if err != nil {
		t.Fatal(err)
	}
	if st.Bad != 0 || len(ticks) != 25297 || st.Empty != 1 {
		t.Fatalf("read %d ticks, stats %+v", len(ticks), st)
	}
	return ticks
}

// referenceCandles is the straightforward aggregation the builder must agree with: drop
// exact (time, price) repeats, sort by time (stable, so arrival breaks ties), group by
// bucket.
func referenceCandles(ticks []Tick, tf Timeframe) []Candle {
	type key struct {
		ms    int64
		price float64
	}
	seen := map[key]bool{}
	var uniq []Tick
	for _, t := range ticks {
		k := key{t.UnixMicro, t.Price}
		if !seen[k] {
			seen[k] = true
			uniq = append(uniq, t)
		}
	}
	slices.SortStableFunc(uniq, func(a, b Tick) int { return cmp.Compare(a.UnixMicro, b.UnixMicro) })
	var out []Candle
	for _, t := range uniq {
		start := t.UnixMicro / 1e6 / int64(tf) * int64(tf)
		if n := len(out); n > 0 && out[n-1].Start == start {
			c := &out[n-1]
			c.High, c.Low, c.Close = max(c.High, t.Price), min(c.Low, t.Price), t.Price
			c.Volume++
			continue
		}
		out = append(out, Candle{Start: start, Open: t.Price, High: t.Price, Low: t.Price, Close: t.Price, Volume: 1})
	}
	return out
}

func TestCandleBuilderOnRealEURUSD(t *testing.T) {
	ticks := loadEURUSD(t)
	for _, tf := range Timeframes {
		b := NewCandleBuilder(tf, 1000)
		for _, tk := range ticks {
			b.Add(tk)
		}
		got, want := b.Candles(nil), referenceCandles(ticks, tf)
		if !slices.Equal(got, want) {
			for i := range min(len(got), len(want)) {
				if got[i] != want[i] {
					t.Fatalf("%s: candle %d: got %+v want %+v", tf, i, got[i], want[i])
				}
			}
			t.Fatalf("%s: %d candles, want %d", tf, len(got), len(want))
		}
		st := b.Stats()
		// 16,525 of the 25,297 rows are resends; every one must be caught.
		if st.Duplicates != 16525 || st.Accepted != 8772 || st.TooLate != 0 {
			t.Fatalf("%s: stats %+v", tf, st)
		}
		if tf == TF1m && len(got) != 71 {
			t.Fatalf("1m candles: %d, want 71: the 70-minute recording touches 71 clock minutes", len(got))
		}
	}
}

// The 1-minute candles of the AUDCAD recording, replayed as candle-as-tick updates, must
// come out of the builder as recorded, and their 5-minute aggregation must match.
func TestCandleBuilderOnRealAUDCADCandles(t *testing.T) {
	f, err := os.Open("../testdata/AUDCAD_otc_1m_candles.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ticks, _, err := ReadCSV(f, CSVOptions{Asset: "AUDCAD_otc"})
	if err != nil || len(ticks) != 101 {
		t.Fatalf("read %d candles: %v", len(ticks), err)
	}
	b1, b5 := NewCandleBuilder(TF1m, 0), NewCandleBuilder(TF5m, 0)
	for _, tk := range ticks {
		b1.Add(tk)
		b5.Add(tk)
	}
	got := b1.Candles(nil)
	for i, tk := range ticks {
		want := Candle{Start: tk.UnixMicro / 1e6, Open: tk.Open, High: tk.High, Low: tk.Low, Close: tk.Price, Volume: 1}
		if got[i] != want {
			t.Fatalf("candle %d: got %+v want %+v", i, got[i], want)
		}
	}
	for _, c5 := range b5.Candles(nil) {
		var want Candle
		for _, c := range got {
			if c.Start < c5.Start || c.Start >= c5.Start+300 {
				continue
			}
			if want.Volume == 0 {
				want = Candle{Start: c5.Start, Open: c.Open, High: c.High, Low: c.Low}
			}
			want.High, want.Low, want.Close = max(want.High, c.High), min(want.Low, c.Low), c.Close
			want.Volume++
		}
		if c5 != want {
			t.Fatalf("5m candle got %+v want %+v", c5, want)
		}
	}
}

func TestCandleJSONRoundTripAndQuirks(t *testing.T) {
	in := []Candle{
		{Start: 1729760400, Open: 1.0823, High: 1.0825, Low: 1.0821, Close: 1.0824, Volume: 12},
		{Start: 1729760460, Open: 150.123, High: 150.2, Low: 150.001, Close: 150.1, Volume: 0},
	}
	js := AppendCandlesJSON(nil, in)
	out, bad, err := DecodeCandles(js)
	if err != nil || bad != 0 || !slices.Equal(out, in) {
		t.Fatalf("round trip: %v %d %+v\n%s", err, bad, out, js)
	}
	mixed := `[{"timestamp":"2024-10-24T09:00:00+00:00","open":1,"high":2,"low":0.5,"close":1.5},
	  {"t":1729760460000,"o":1,"h":1,"l":1,"c":1,"v":3},
	  [1729760520,1,1.2,0.9,1.1,4],
	  {"timestamp":1729760580,"open":1,"high":0.5,"low":2,"close":1},
	  {"timestamp":1729760640,"open":NaN,"high":1,"low":1,"close":1},
	  "garbage", {"date":"2024-10-24 09:05:00Z","open":1,"high":1,"low":1,"close":1}]`
	out, bad, err = DecodeCandles([]byte(mixed))
	if err != nil || bad != 3 || len(out) != 4 {
		t.Fatalf("mixed: err %v bad %d out %+v", err, bad, out)
	}
	if out[1].Start != 1729760460 || out[1].Volume != 3 || out[2].Close != 1.1 || out[3].Start != 1729760700 {
		t.Fatalf("mixed decoded wrong: %+v", out)
	}
	for _, s := range []string{``, `{}`, `[`, `[{"timestamp":1}`, `[1,]`, `[] x`} {
		if _, _, err := DecodeCandles([]byte(s)); err == nil {
			t.Errorf("DecodeCandles(%q) accepted", s)
		}
	}
}

func BenchmarkDecodeAndBuildEURUSD(b *testing.B) {
	ticks := loadEURUSD(b)
	payloads := make([][]byte, len(ticks))
	for i, t := range ticks {
		payloads[i] = []byte(`{"asset":"EURUSD_otc","price":` + formatFloat(t.Price) + `,"timestamp":` +
			formatFloat(float64(t.UnixMicro)/1e6) + `}`)
	}
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	n := 0
	for b.Loop() {
		var d Decoder
		cb := NewCandleBuilder(TF1m, 0)
		for _, p := range payloads {
			t, err := d.Decode(p, "", nowUs)
			if err != nil {
				b.Fatal(err)
			}
			cb.Add(t)
		}
		n += len(payloads)
	}
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(n), "allocs/tick")
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "ticks/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/tick")
}

func FuzzDecodeCandles(f *testing.F) {
	f.Add(string(AppendCandlesJSON(nil, []Candle{{Start: 1729760400, Open: 1, High: 2, Low: 0.5, Close: 1.5, Volume: 3}})))
	f.Add(`[[1729760520,1,1.2,0.9,1.1,4],{"t":1729760460000,"o":1,"h":1,"l":1,"c":1}]`)
	f.Add(`[{"timestamp":"2024-10-24T09:00:00+00:00","open":NaN}]`)
	f.Add(`[`)
	f.Fuzz(func(t *testing.T, s string) {
		candles, bad, err := DecodeCandles([]byte(s))
		if err != nil {
			if candles != nil || bad != 0 {
				t.Fatalf("error with results: %v %d", candles, bad)
			}
			return
		}
		for _, c := range candles {
			if !(c.Low > 0) || c.High < c.Low || c.High > MaxPrice || c.Start <= 0 {
				t.Fatalf("accepted unusable candle %+v from %q", c, s)
			}
		}
	})
}

func TestCountCandles(t *testing.T) {
	cs := make([]Candle, 200)
	for i := range cs {
		cs[i] = Candle{Start: 1729760400 + int64(i)*60, Open: 1, High: 2, Low: 0.5, Close: 1.5, Volume: 3}
	}
	for _, c := range []struct {
		in   string
		want int
	}{
		{string(AppendCandlesJSON(nil, cs)), 200},
		{`[]`, 0},
		{` [ ] `, 0},
		{`[{"t":1,"d":"{[,]}\"}"},[1,2,[3]],{"x":{}}]`, 3},
		{`[1, 2, "three"]`, 3},
	} {
		got, err := CountCandles([]byte(c.in))
		if err != nil || got != c.want {
			t.Errorf("CountCandles(%.40q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{``, `{}`, `[{"a":1}`, `"x"`} {
		if _, err := CountCandles([]byte(bad)); err == nil {
			t.Errorf("CountCandles(%q) accepted", bad)
		}
	}
}

func BenchmarkCountCandles(b *testing.B) {
	cs := make([]Candle, 200)
	for i := range cs {
		cs[i] = Candle{Start: 1729760400 + int64(i)*60, Open: 1.08231, High: 1.08259, Low: 1.08211, Close: 1.08241, Volume: 31}
	}
	js := AppendCandlesJSON(nil, cs)
	b.SetBytes(int64(len(js)))
	for b.Loop() {
		if n, _ := CountCandles(js); n != 200 {
			b.Fatal(n)
		}
	}
}

func FuzzCountCandles(f *testing.F) {
	f.Add(string(AppendCandlesJSON(nil, []Candle{{Start: 1, Open: 1, High: 1, Low: 1, Close: 1}})))
	f.Add(`[{"t":1,"d":"{[,]}\"}"},[1,2,[3]],{"x":{}}]`)
	f.Add(`["a\\",1]`)
	f.Fuzz(func(t *testing.T, s string) {
		n, err := CountCandles([]byte(s))
		candles, bad, derr := DecodeCandles([]byte(s))
		// Whenever the full decoder reads an array, the counter counts its entries.
		if derr == nil && (err != nil || n != len(candles)+bad) {
			t.Fatalf("CountCandles(%q) = %d, %v; DecodeCandles read %d + %d bad", s, n, err, len(candles), bad)
		}
	})
}
