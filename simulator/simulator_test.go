package simulator

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quflx/quflx-tui/model"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// drain runs a source over simulated time, in steps, without sleeping.
func drain(src Source, from, to time.Time, step time.Duration) []model.Tick {
	var out []model.Tick
	for now := from; !now.After(to); now = now.Add(step) {
		out = src.Due(now, out)
	}
	return out
}

func TestSyntheticIsDeterministicRealisticAndPaced(t *testing.T) {
	assets := Pick(3)
	mk := func(seed uint64) []model.Tick {
		s := NewSynthetic(SyntheticOptions{Assets: assets, Rate: 10, Seed: seed}, t0)
		return drain(s, t0, t0.Add(10*time.Minute), 37*time.Millisecond)
	}
	a, b, c := mk(7), mk(7), mk(8)
	if !slices.Equal(a, b) {
		t.Fatal("same seed gave different ticks")
	}
	if slices.Equal(a, c) {
		t.Fatal("different seeds gave the same ticks")
	}
	per := map[string][]model.Tick{}
	for _, tk := range a {
		per[tk.Asset] = append(per[tk.Asset], tk)
	}
	for _, as := range assets {
		ticks := per[as.Name]
		// 10 ticks/s for 600 s: Poisson, so within a few percent of 6000.
		if n := len(ticks); n < 5700 || n > 6300 {
			t.Errorf("%s: %d ticks in 10 minutes at 10/s", as.Name, n)
		}
		scale := math.Pow10(as.Decimals)
		for i, tk := range ticks {
			if i > 0 && tk.UnixMicro <= ticks[i-1].UnixMicro {
				t.Fatalf("%s: timestamps not increasing at %d", as.Name, i)
			}
			if tk.UnixMicro > t0.Add(10*time.Minute).UnixMicro() {
				t.Fatalf("%s: tick from the future", as.Name)
			}
			if r := tk.Price * scale; math.Abs(r-math.Round(r)) > 1e-6 {
				t.Fatalf("%s: price %v is not on the %d-decimal grid", as.Name, tk.Price, as.Decimals)
			}
			if math.Abs(tk.Price/as.Price-1) > 0.02 {
				t.Fatalf("%s: price %v wandered from %v", as.Name, tk.Price, as.Price)
			}
		}
		if moved := ticks[len(ticks)-1].Price != ticks[0].Price; !moved {
			t.Errorf("%s: price never moved", as.Name)
		}
	}
	if per["EURUSD_otc"][0].Price < 1.07 || per["USDJPY_otc"][0].Price < 149 {
		t.Fatalf("levels: %v %v", per["EURUSD_otc"][0], per["USDJPY_otc"][0])
	}
}

func TestSyntheticBurstsRaiseTheRate(t *testing.T) {
	assets := Pick(1)
	count := func(bursts bool) int {
		s := NewSynthetic(SyntheticOptions{Assets: assets, Rate: 5, Seed: 3, Bursts: bursts}, t0)
		return len(drain(s, t0, t0.Add(time.Hour), 100*time.Millisecond))
	}
	plain, bursty := count(false), count(true)
	if bursty <= plain*102/100 {
		t.Fatalf("bursts did not show: %d ticks with, %d without", bursty, plain)
	}
}

func TestSyntheticSkipsAStallInsteadOfFlooding(t *testing.T) {
	s := NewSynthetic(SyntheticOptions{Assets: Pick(1), Rate: 100, Seed: 1}, t0)
	ticks := s.Due(t0.Add(time.Hour), nil)
	if len(ticks) > 300 { // at most maxCatchUp (2 s) of ticks at 100/s
		t.Fatalf("%d ticks after a one-hour stall", len(ticks))
	}
}

func TestParseAssets(t *testing.T) {
	as, err := ParseAssets([]string{"20"})
	if err != nil || len(as) != 20 || as[0].Name != "EURUSD_otc" || as[19].Name != "SYN020_otc" {
		t.Fatalf("%v %v", err, as)
	}
	as, err = ParseAssets([]string{"usdjpy_otc", "NEWCOIN_otc", "NEWCOIN_otc"})
	if err != nil || len(as) != 2 || as[0].Decimals != 3 || as[1].Name != "NEWCOIN_otc" || Lookup("NEWCOIN_otc") != as[1] {
		t.Fatalf("%v %v", err, as)
	}
	for _, bad := range [][]string{{"0"}, {"-3"}, {""}} {
		if _, err := ParseAssets(bad); err == nil {
			t.Errorf("ParseAssets(%q) accepted", bad)
		}
	}
}

func TestBackfillEndsWhereTheLiveWalkStarts(t *testing.T) {
	a := Lookup("EURUSD_otc")
	cs := Backfill(a, t0.Add(30*time.Second), 3*time.Hour, 240, 1)
	if len(cs) != 180 {
		t.Fatalf("%d candles for 3 hours", len(cs))
	}
	last := cs[len(cs)-1]
	if last.Close != a.Price || last.Start != t0.Unix()-60 {
		t.Fatalf("last candle %+v", last)
	}
	for i, c := range cs {
		if c.Low > min(c.Open, c.Close) || c.High < max(c.Open, c.Close) || c.Volume < 1 {
			t.Fatalf("candle %d inconsistent: %+v", i, c)
		}
		if i > 0 && c.Start != cs[i-1].Start+60 {
			t.Fatalf("candle %d not contiguous", i)
		}
	}
}

// A hole in a kept history is filled from the close before it to the live walk's start,
// and a new seed fills it with new prices: a demo store kept between runs must not chart
// one shape again and again, nor jump at the hole's edges.
func TestBackfillFromBridgesAHole(t *testing.T) {
	a := Lookup("EURUSD_otc")
	open := a.Price * 1.004 // where an earlier run stopped, far from the level
	cs := BackfillFrom(a, open, t0, 90*time.Minute, 240, 5)
	if len(cs) != 90 {
		t.Fatalf("%d candles for 90 minutes", len(cs))
	}
	if cs[0].Open != a.Round(open) || cs[len(cs)-1].Close != a.Price {
		t.Fatalf("bridge from %v to %v runs from %v to %v", a.Round(open), a.Price, cs[0].Open, cs[len(cs)-1].Close)
	}
	for i, c := range cs {
		if c.Low > min(c.Open, c.Close) || c.High < max(c.Open, c.Close) {
			t.Fatalf("candle %d inconsistent: %+v", i, c)
		}
		if i > 0 && c.Open != cs[i-1].Close {
			t.Fatalf("candle %d opens at %v after a close at %v", i, c.Open, cs[i-1].Close)
		}
	}
	other := BackfillFrom(a, open, t0, 90*time.Minute, 240, 6)
	same := 0
	for i := range cs {
		if cs[i].Close == other[i].Close {
			same++
		}
	}
	if same > len(cs)/2 {
		t.Fatalf("seeds 5 and 6 share %d of %d closes", same, len(cs))
	}
}

func TestReplayKeepsTheRecordingsQuirks(t *testing.T) {
	r, err := LoadReplay("../testdata/EURUSD_otc_ticks.csv", ReplayOptions{Speed: 100}, t0)
	if err != nil {
		t.Fatal(err)
	}
	recorded := r.ticks
	if r.Len() != 25297 || recorded[0].Asset != "EURUSD_otc" {
		t.Fatalf("len %d asset %q", r.Len(), recorded[0].Asset)
	}
	// 70 minutes at 100x: 42 s.
	got := drain(r, t0, t0.Add(45*time.Second), 50*time.Millisecond)
	if len(got) != len(recorded) {
		t.Fatalf("replayed %d of %d", len(got), len(recorded))
	}
	if _, ok := r.NextDue(); ok {
		t.Fatal("exhausted replay still has ticks due")
	}
	backwards, dups := 0, 0
	for i := range got {
		if got[i].Price != recorded[i].Price {
			t.Fatalf("row %d price changed", i)
		}
		// Timestamps are moved onto the present and compressed by the speed.
		want := t0.UnixMicro() + (recorded[i].UnixMicro-recorded[0].UnixMicro)/100
		if d := got[i].UnixMicro - want; d < -1 || d > 1 {
			t.Fatalf("row %d: timestamp %d, want %d", i, got[i].UnixMicro, want)
		}
		if i > 0 && got[i].UnixMicro < got[i-1].UnixMicro {
			backwards++
		}
		if i > 0 && got[i] == got[i-1] {
			dups++
		}
	}
	if backwards != 248 || dups < 15000 {
		t.Fatalf("quirks lost: %d backward steps (want 248), %d repeats", backwards, dups)
	}
}

func TestReplayPacesInRealTimeAndLoops(t *testing.T) {
	r, err := LoadReplay("../testdata/AUDCAD_otc_1m_candles.csv", ReplayOptions{Speed: 60, Loop: true, KeepTime: true}, t0)
	if err != nil {
		t.Fatal(err)
	}
	// One candle a minute at 60x is one a second.
	if n := len(r.Due(t0.Add(10500*time.Millisecond), nil)); n != 11 {
		t.Fatalf("%d candles after 10.5 s, want 11", n)
	}
	r2, _ := LoadReplay("../testdata/AUDCAD_otc_1m_candles.csv", ReplayOptions{Speed: 60, Loop: true, KeepTime: true}, t0)
	got := drain(r2, t0, t0.Add(250*time.Second), time.Second)
	if len(got) <= r2.Len() {
		t.Fatalf("loop did not restart: %d ticks", len(got))
	}
	first, again := got[0], got[r2.Len()]
	if first.Kind != model.KindCandle || again.Price != first.Price || again.UnixMicro <= got[r2.Len()-1].UnixMicro {
		t.Fatalf("second pass %+v after %+v", again, got[r2.Len()-1])
	}
}

func TestReplayOfTimeOnlyFile(t *testing.T) {
	day := time.Date(2025, 10, 4, 0, 0, 0, 0, time.UTC)
	r, err := LoadReplay("../testdata/ZARUSD_otc_ticks_timeonly.csv", ReplayOptions{Date: day, KeepTime: true, Speed: 1000}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if r.Stats.RepeatedHeader != 1 || r.Len() != 4047 {
		t.Fatalf("stats %+v len %d", r.Stats, r.Len())
	}
	first := r.Due(t0, nil)[0]
	if first.Asset != "ZARUSD_otc" || first.Time() != day.Add(11*time.Hour+12*time.Minute+57*time.Second) {
		t.Fatalf("first %+v at %v", first, first.Time())
	}
}

func TestReplayErrors(t *testing.T) {
	if _, err := LoadReplay("../testdata/nope.csv", ReplayOptions{}, t0); err == nil {
		t.Fatal("missing file accepted")
	}
	if _, err := LoadReplay("../testdata/ZARUSD_otc_ticks_timeonly.csv", ReplayOptions{}, time.Time{}); err == nil ||
		!strings.Contains(err.Error(), "no ticks") {
		t.Fatalf("time-only file without any date: %v", err)
	}
}

// collectSink is a real in-memory sink that fails its first writes.
type collectSink struct {
	mu       sync.Mutex
	ticks    []model.Tick
	failures int
}

func (s *collectSink) Write(_ context.Context, ticks []model.Tick) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failures > 0 {
		s.failures--
		return errors.New("connection refused")
	}
	s.ticks = append(s.ticks, ticks...)
	return nil
}

func TestFeederRetriesAFailingSinkWithoutLoss(t *testing.T) {
	sink := &collectSink{failures: 3}
	src := NewSynthetic(SyntheticOptions{Assets: Pick(2), Rate: 2000, Seed: 1}, time.Now())
	f := NewFeeder(sink, []Source{src}, FeedOptions{Limit: 3000})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.Run(ctx); err != nil {
		t.Fatal(err)
	}
	st := f.Stats()
	if st.Produced != 3000 || len(sink.ticks) != 3000 || st.Errors != 3 || st.Dropped != 0 || st.Failing {
		t.Fatalf("stats %+v, sink got %d", st, len(sink.ticks))
	}
	seen := map[model.Tick]bool{}
	for _, tk := range sink.ticks {
		if seen[tk] {
			t.Fatalf("tick written twice: %+v", tk)
		}
		seen[tk] = true
	}
}

func TestFeederStopsWhenSourcesAreExhausted(t *testing.T) {
	r, err := LoadReplay("../testdata/AUDCAD_otc_1m_candles.csv", ReplayOptions{Speed: 1e6}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	sink := &collectSink{}
	f := NewFeeder(sink, []Source{r}, FeedOptions{})
	done := make(chan error)
	go func() { done <- f.Run(context.Background()) }()
	select {
	case err := <-done:
		if err != nil || len(sink.ticks) != 101 {
			t.Fatalf("%v, %d ticks", err, len(sink.ticks))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("feeder did not stop at the end of the recording")
	}
}

// applyingSink applies every write, like Redis does with a pipeline already sent, and
// answers as a client would: with the context's error when it ended meanwhile.
type applyingSink struct {
	mu      sync.Mutex
	applied int
	slow    time.Duration
}

func (s *applyingSink) Write(ctx context.Context, ticks []model.Tick) error {
	time.Sleep(s.slow)
	s.mu.Lock()
	s.applied += len(ticks)
	s.mu.Unlock()
	return ctx.Err()
}

// The end of --duration in the middle of a write: the batch was applied (and published),
// so the feed must count it. It once reported 50,094 of 50,095 published ticks.
func TestFeederCountsTheBatchUnderWayAtTheEnd(t *testing.T) {
	syn := NewSynthetic(SyntheticOptions{Assets: []Asset{{Name: "A_otc", Price: 1, Decimals: 5}}, Rate: 2000, Seed: 1}, time.Now())
	sink := &applyingSink{slow: 30 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	f := NewFeeder(sink, []Source{syn}, FeedOptions{})
	if err := f.Run(ctx); err != nil {
		t.Fatal(err)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if st := f.Stats(); st.Produced != int64(sink.applied) || st.Errors != 0 {
		t.Fatalf("feed counted %d ticks with %d errors; the sink applied %d", st.Produced, st.Errors, sink.applied)
	}
}
