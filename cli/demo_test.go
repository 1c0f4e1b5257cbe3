package cli

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/simulator"
	"github.com/quflx/quflx-tui/store"
)

// Each run of the feed plays new prices unless --seed names them: with one default seed,
// a demo store kept between runs charted the same shape once per run.
func TestEachRunPicksItsOwnSeed(t *testing.T) {
	first, second := defaults("feed", envOf(nil)).Feed, defaults("feed", envOf(nil)).Feed
	first.resolveSeed()
	second.resolveSeed()
	if first.Seed == 0 || first.Seed == second.Seed {
		t.Fatalf("two runs seeded %d and %d", first.Seed, second.Seed)
	}
	named := FeedConfig{Seed: 42}
	named.resolveSeed()
	if named.Seed != 42 {
		t.Fatalf("--seed 42 became %d", named.Seed)
	}
}

// A demo store from an earlier run: the time since is filled from where that run stopped
// to where this one starts, with no hole and no jump, and the earlier history is kept.
func TestDemoFillsTheHoleSinceTheLastRun(t *testing.T) {
	ctx := t.Context()
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "demo.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a := simulator.Lookup("EURUSD_otc")
	fc := FeedConfig{Rate: 4, Seed: 3}
	firstRun := time.Date(2026, 11, 26, 9, 0, 30, 0, time.UTC)
	earlier, err := seedHistory(ctx, st, a, firstRun, 3*time.Hour, fc)
	if err != nil || len(earlier) != 180 {
		t.Fatalf("first run: %d candles, %v", len(earlier), err)
	}
	// The earlier run went on for a minute and stopped far from the asset's level.
	stopped := a.Round(a.Price * 1.003)
	last := model.Candle{Start: firstRun.Truncate(time.Minute).Unix(), Open: a.Price, High: stopped, Low: a.Price,
		Close: stopped, Volume: 200}
	if err := st.WriteCandles(ctx, a.Name, []model.Candle{last}); err != nil {
		t.Fatal(err)
	}

	fc.Seed = 4
	history, err := seedHistory(ctx, st, a, firstRun.Add(45*time.Minute), 3*time.Hour, fc)
	if err != nil {
		t.Fatal(err)
	}
	// The history asked for is 3 hours: the newest 180 kept candles, then the fill.
	fill, before := history[len(history)-44:], history[len(history)-45]
	if len(history) != 180+44 || before != last {
		t.Fatalf("%d candles, the earlier run's last %+v", len(history), before)
	}
	if fill[0].Start != last.Start+60 || fill[0].Open != stopped || fill[len(fill)-1].Close != a.Price {
		t.Fatalf("the hole filled from %+v to %+v; the earlier run stopped at %v", fill[0], fill[len(fill)-1], stopped)
	}
	kept, err := st.Candles(ctx, a.Name, model.TF1m, 1000)
	if err != nil || len(kept) != 181+44 {
		t.Fatalf("the store holds %d candles, not 181 earlier and 44 filled (%v)", len(kept), err)
	}
}
