package store_test

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/store"
	"github.com/quflx/quflx-tui/store/storetest"
)

const (
	benchBatch  = 5000
	benchAssets = 10
)

// benchTicks returns batch n of a feed of benchAssets assets, each ticking every 500 ms with
// a microsecond jitter: every tick is new, and a batch spans about 4 minutes per asset, so
// each Write also upserts about 50 candles.
func benchTicks(n int) []model.Tick {
	ticks := make([]model.Tick, benchBatch)
	for i := range ticks {
		seq := n*benchBatch + i
		step := int64(seq / benchAssets)
		ticks[i] = model.Tick{
			Asset:     fmt.Sprintf("BENCH%02d_otc", seq%benchAssets),
			UnixMicro: t0*1_000_000 + step*500_000 + int64(seq%997),
			Price:     math.Round((1.1+0.001*math.Sin(float64(seq)/50))*1e5) / 1e5,
		}
	}
	return ticks
}

func benchmarkWrite(b *testing.B, dsn string) {
	s, err := store.Open(context.Background(), dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	n := 0
	for b.Loop() {
		b.StopTimer()
		batch := store.Batch{Ticks: benchTicks(n)}
		n++
		b.StartTimer()
		res, err := s.Write(ctx, batch)
		if err != nil {
			b.Fatal(err)
		}
		if res.Inserted != benchBatch || res.Candles == 0 {
			b.Fatalf("Write = %+v, want %d new ticks and some candles", res, benchBatch)
		}
	}
	b.ReportMetric(float64(n*benchBatch)/b.Elapsed().Seconds(), "ticks/s")
}

func BenchmarkWriteSQLite(b *testing.B) {
	benchmarkWrite(b, storetest.SQLiteDSN(b))
}

func BenchmarkWritePostgres(b *testing.B) {
	benchmarkWrite(b, storetest.PostgresURL(b))
}

func BenchmarkCandles1hFromMinutes(b *testing.B) {
	s := openStore(b, storetest.SQLiteDSN(b))
	for n := range 40 { // 200,000 ticks: about 5.5 hours of 1m candles per asset
		write(b, s, store.Batch{Ticks: benchTicks(n)})
	}
	ctx := context.Background()
	for b.Loop() {
		got, err := s.Candles(ctx, "BENCH03_otc", model.TF1h, 200)
		if err != nil || len(got) == 0 {
			b.Fatalf("Candles: %d, %v", len(got), err)
		}
	}
}
