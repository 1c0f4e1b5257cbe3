package store_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/store"
	"github.com/quflx/quflx-tui/store/storetest"
)

const (
	copyBenchBatch   = 50_000 // ticks per batch
	copyBenchBatches = 10     // batches of each kind per benchmark iteration
)

// copyBenchAssets are the feed's assets and their starting prices (all quoted to 5 places).
var copyBenchAssets = []struct {
	name  string
	price float64
}{
	{"EURUSD_otc", 1.08123}, {"GBPUSD_otc", 1.27456}, {"USDJPY_otc", 151.234},
	{"AUDCAD_otc", 0.90512}, {"EURJPY_otc", 163.871}, {"USDCHF_otc", 0.88342},
	{"NZDUSD_otc", 0.60127}, {"EURGBP_otc", 0.85033}, {"BTCUSD_otc", 64210.5},
	{"XAUUSD_otc", 2331.47},
}

// copyBenchTicks returns batch n of a feed of the assets above, interleaved as a real feed
// arrives: each asset ticks every 250 ms with up to 200 ms of microsecond jitter (so every
// tick is distinct, and a batch spans about 21 minutes, 22 candles, per asset), its price a
// wave of about ±0.3% quoted to 5 decimal places.
func copyBenchTicks(n int) []model.Tick {
	ticks := make([]model.Tick, copyBenchBatch)
	per := copyBenchBatch / len(copyBenchAssets)
	for i := range ticks {
		a := copyBenchAssets[i%len(copyBenchAssets)]
		k := int64(n*per + i/len(copyBenchAssets)) // this asset's tick sequence
		jitter := (k*7919 + int64(i%len(copyBenchAssets))*104729) % 200_000
		wave := 0.002*math.Sin(float64(k)/300) + 0.0008*math.Sin(float64(k)/37+float64(i%7))
		ticks[i] = model.Tick{
			Asset:     a.name,
			UnixMicro: t0*1_000_000 + k*250_000 + jitter,
			Price:     math.Round(a.price*(1+wave)*1e5) / 1e5,
		}
	}
	return ticks
}

// replayed reports whether tick i of a batch counts among the 30% already stored in the
// replay variant: scattered through the batch, as resends are.
func replayed(i int) bool { return (i*7+i/10)%10 < 3 }

const rawTicksDDL = `CREATE TABLE raw_ticks (
	pair varchar(64) NOT NULL,
	price decimal(20,10) NOT NULL,
	"timestamp" bigint NOT NULL,
	timestamp_us bigint NOT NULL,
	created_at timestamptz DEFAULT now()
);
CREATE UNIQUE INDEX raw_ticks_key ON raw_ticks (pair, timestamp_us, price)`

// BenchmarkPostgresWriteVsCopy compares, in one run and on one server, store.Write of
// batches of 50,000 ticks with a raw CopyFrom of the same rows into a table of
// historical_ticks' columns and unique key: the cost of idempotency, candles and the
// claim fence on top of the fastest way rows get into PostgreSQL. Batches alternate
// (copy, write, write, copy, ...) so that the machine's noise falls on both alike.
//
// In "replay30", 30% of each batch's ticks were stored by an earlier Write (untimed), as
// resends are in a real feed: Write must skip them and count only the rest into candles.
// The raw COPY copies the whole batch either way (it cannot skip anything).
//
// Metrics: copy-rows/s, write-rows/s (batch ticks handled per second, new or not) and
// write/copy, their ratio. Run with QUFLX_PG_URL set, e.g.
//
//	go test ./store/ -run '^$' -bench PostgresWriteVsCopy -benchtime 1x
func BenchmarkPostgresWriteVsCopy(b *testing.B) {
	for _, v := range []struct {
		name   string
		replay bool
	}{{"new", false}, {"replay30", true}} {
		b.Run(v.name, func(b *testing.B) {
			ctx := context.Background()
			dsn := storetest.PostgresURL(b)
			s, err := store.Open(ctx, dsn)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close(ctx)
			if _, err := conn.Exec(ctx, rawTicksDDL); err != nil {
				b.Fatal(err)
			}

			var copyTime, writeTime time.Duration
			copied, written := 0, 0
			batch := 0
			// One untimed warm-up of each, then copyBenchBatches of each per iteration.
			run := func(timed bool) {
				ticks := copyBenchTicks(batch)
				claim := fmt.Sprintf("bench-%d", batch)
				batch++
				wantNew := len(ticks)
				if v.replay {
					var old []model.Tick
					for i, t := range ticks {
						if replayed(i) {
							old = append(old, t)
						}
					}
					if _, err := s.Write(ctx, store.Batch{Ticks: old}); err != nil {
						b.Fatal(err)
					}
					wantNew -= len(old)
				}
				copyFirst := batch%2 == 0
				for step := range 2 {
					if (step == 0) == copyFirst {
						start := time.Now()
						n, err := conn.CopyFrom(ctx, pgx.Identifier{"raw_ticks"},
							[]string{"pair", "price", "timestamp", "timestamp_us"},
							pgx.CopyFromSlice(len(ticks), func(i int) ([]any, error) {
								t := &ticks[i]
								return []any{t.Asset, t.Price, t.UnixMicro / 1_000_000, t.UnixMicro}, nil
							}))
						took := time.Since(start)
						if err != nil || n != int64(len(ticks)) {
							b.Fatalf("CopyFrom: %d rows, %v", n, err)
						}
						if timed {
							copyTime += took
							copied += len(ticks)
						}
						continue
					}
					start := time.Now()
					res, err := s.Write(ctx, store.Batch{Ticks: ticks, Claims: []store.ClaimSpan{{ID: claim, From: 0, To: int64(len(ticks))}}})
					took := time.Since(start)
					if err != nil {
						b.Fatal(err)
					}
					if res.Inserted != wantNew || res.Duplicates != len(ticks)-wantNew || res.Candles == 0 {
						b.Fatalf("Write = %+v, want %d new of %d and some candles", res, wantNew, len(ticks))
					}
					if timed {
						writeTime += took
						written += len(ticks)
					}
				}
			}
			run(false)
			for b.Loop() {
				for range copyBenchBatches {
					run(true)
				}
			}
			copyRate := float64(copied) / copyTime.Seconds()
			writeRate := float64(written) / writeTime.Seconds()
			b.ReportMetric(copyRate, "copy-rows/s")
			b.ReportMetric(writeRate, "write-rows/s")
			b.ReportMetric(writeRate/copyRate, "write/copy")
		})
	}
}

// The tests below check what BenchmarkPostgresWriteVsCopy's Write relies on: the ticks it
// finds stored are skipped exactly, a tick another writer commits after that look-up
// makes it write the batch again skipping conflicts in the database, and writers of
// overlapping batches neither deadlock nor count a tick twice.

// A tick committed by another session while Write waits on it (after Write found it new)
// is counted as a duplicate, and the candles count only the ticks Write stored.
func TestPostgresWriteRacingAnotherSession(t *testing.T) {
	for _, commit := range []bool{true, false} {
		t.Run(fmt.Sprintf("commit=%v", commit), func(t *testing.T) {
			dsn := storetest.PostgresURL(t)
			s := openStore(t, dsn)
			ctx := context.Background()
			ticks := sampleTicks()
			other := postgresConn(t, dsn)
			defer other.Close(ctx)
			tx, err := other.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx) //nolint:errcheck
			raced := ticks[17]
			if _, err := tx.Exec(ctx, `INSERT INTO historical_ticks (pair, price, "timestamp", timestamp_us)
				VALUES ($1, $2::numeric, $3, $4)`, raced.Asset, fmt.Sprint(raced.Price), raced.UnixMicro/1e6, raced.UnixMicro); err != nil {
				t.Fatal(err)
			}
			type result struct {
				res store.WriteResult
				err error
			}
			done := make(chan result, 1)
			go func() {
				res, err := s.Write(ctx, store.Batch{Ticks: ticks, Claims: []store.ClaimSpan{{ID: "c", From: 0, To: 120}}})
				done <- result{res, err}
			}()
			// Wait until the Write waits on the other session's uncommitted tick.
			deadline := time.Now().Add(10 * time.Second)
			for postgresQueryInt(t, dsn, `SELECT count(*) FROM pg_stat_activity
				WHERE datname = current_database() AND wait_event_type = 'Lock'`) == 0 {
				if time.Now().After(deadline) {
					t.Fatal("the Write never waited on the other session's tick")
				}
				time.Sleep(10 * time.Millisecond)
			}
			if commit {
				err = tx.Commit(ctx)
			} else {
				err = tx.Rollback(ctx)
			}
			if err != nil {
				t.Fatal(err)
			}
			r := <-done
			want := store.WriteResult{Inserted: 120, Candles: 6}
			if commit {
				want = store.WriteResult{Inserted: 119, Duplicates: 1, Candles: 6}
			}
			if r.err != nil || r.res != want {
				t.Fatalf("Write = %+v, %v; want %+v", r.res, r.err, want)
			}
			if n := countTicks(t, s, ""); n != 120 {
				t.Fatalf("CountTicks = %d, want 120", n)
			}
			var volume int64
			for _, c := range candles(t, s, raced.Asset, model.TF1m, 10) {
				volume += c.Volume
			}
			// The raced tick is one of the asset's 60: stored by the other session, it is
			// not in the candles Write made.
			if wantVolume := int64(60 - want.Duplicates); volume != wantVolume {
				t.Fatalf("volume of %s = %d, want %d", raced.Asset, volume, wantVolume)
			}
			if p, err := s.ClaimProgress(ctx, []string{"c"}); err != nil || p["c"] != 120 {
				t.Fatalf("ClaimProgress = %v, %v", p, err)
			}
		})
	}
}

// Writers of overlapping batches, each in its own arrival order, all commit: none
// deadlocks, every tick is stored once and counted once, and the candles are those of
// all the ticks.
func TestPostgresOverlappingWritersAgree(t *testing.T) {
	dsn := storetest.PostgresURL(t)
	const writers, perAsset = 4, 1500
	var all []model.Tick
	for a, asset := range []string{"EURUSD_otc", "GBPUSD_otc", "USDJPY_otc"} {
		for i := range perAsset {
			price := math.Round((1.1+float64(a)+0.0001*float64((i*7)%13))*1e5) / 1e5
			all = append(all, tick(asset, float64(i)*0.25+0.000123*float64(a), price))
		}
	}
	stores := make([]store.Store, writers)
	for w := range stores {
		stores[w] = openStore(t, dsn)
	}
	var wg sync.WaitGroup
	inserted := make([]int, writers)
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			mine := slices.Clone(all)
			rng.Shuffle(len(mine), func(i, j int) { mine[i], mine[j] = mine[j], mine[i] })
			for len(mine) > 0 {
				n := min(len(mine), 400+rng.IntN(400))
				res, err := stores[w].Write(context.Background(), store.Batch{Ticks: mine[:n]})
				if err != nil {
					errs <- fmt.Errorf("writer %d: %w", w, err)
					return
				}
				inserted[w] += res.Inserted
				mine = mine[n:]
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	total := 0
	for _, n := range inserted {
		total += n
	}
	if total != len(all) {
		t.Errorf("writers inserted %d ticks in all, want %d", total, len(all))
	}
	if n := countTicks(t, stores[0], ""); n != int64(len(all)) {
		t.Errorf("CountTicks = %d, want %d", n, len(all))
	}
	for _, asset := range []string{"EURUSD_otc", "GBPUSD_otc", "USDJPY_otc"} {
		var mine []model.Tick
		for _, tk := range all {
			if tk.Asset == asset {
				mine = append(mine, tk)
			}
		}
		diffCandles(t, asset, candles(t, stores[0], asset, model.TF1m, 100), referenceCandles(mine, model.TF1m))
	}
}

// A replay whose ticks are few and far between over a dense history (more stored ticks in
// its time span than Write reads through) is still skipped exactly.
func TestPostgresSparseReplayOverDenseHistory(t *testing.T) {
	s := openStore(t, storetest.PostgresURL(t))
	var dense []model.Tick
	for i := range 6000 {
		dense = append(dense, tick("EURUSD_otc", float64(i)*0.001, 1.1+float64(i%50)/1e5))
	}
	write(t, s, store.Batch{Ticks: dense})
	var sparse []model.Tick
	for i := 0; i < 6000; i += 300 {
		sparse = append(sparse, dense[i])                                         // stored
		sparse = append(sparse, tick("EURUSD_otc", float64(i)*0.001+0.0005, 1.2)) // new
	}
	if res := write(t, s, store.Batch{Ticks: sparse}); res.Inserted != 20 || res.Duplicates != 20 {
		t.Fatalf("sparse replay = %+v, want 20 new and 20 duplicates", res)
	}
	if n := countTicks(t, s, ""); n != 6020 {
		t.Fatalf("CountTicks = %d, want 6020", n)
	}
}

// Assets are stored byte for byte, whatever they hold, and prices whichever places they
// have are found again when replayed.
func TestPostgresOddAssetsAndPricesRoundTrip(t *testing.T) {
	s := openStore(t, storetest.PostgresURL(t))
	assets := []string{"tab\there", `back\slash`, "new\nline", "cr\rx", `\.`, "ünïcødé €", "comma,quote\"'"}
	prices := []float64{2, 64210.5, 0.00001, 1.0812300000001, 9999999999.99, 123.456789012345}
	var ticks []model.Tick
	for a, asset := range assets {
		for p, price := range prices {
			ticks = append(ticks, tick(asset, float64(a*10+p), price))
		}
	}
	if res := write(t, s, store.Batch{Ticks: ticks}); res.Inserted != len(ticks) {
		t.Fatalf("Write = %+v, want %d new", res, len(ticks))
	}
	for _, asset := range assets {
		if n := countTicks(t, s, asset); n != int64(len(prices)) {
			t.Errorf("CountTicks(%q) = %d, want %d", asset, n, len(prices))
		}
	}
	if res := write(t, s, store.Batch{Ticks: ticks}); res.Inserted != 0 || res.Duplicates != len(ticks) || res.Candles != 0 {
		t.Fatalf("replay = %+v, want all %d duplicates", res, len(ticks))
	}
}
