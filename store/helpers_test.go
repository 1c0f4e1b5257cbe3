package store_test

import (
	"cmp"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/store"
	"github.com/quflx/quflx-tui/store/storetest"
)

// t0 is an hour start (Unix seconds) near the recorded data.
const t0 = 1752958800

// backend is one real database kind the behaviour tests run against.
type backend struct {
	name string
	// fresh returns the DSN of a new, empty database.
	fresh func(tb testing.TB) string
	// exec runs SQL on a connection of its own, beside the store's.
	exec func(tb testing.TB, dsn, query string)
	// queryInt runs a query returning one integer.
	queryInt func(tb testing.TB, dsn, query string) int64
}

var backends = []backend{
	{name: "sqlite", fresh: storetest.SQLiteDSN, exec: sqliteExec, queryInt: sqliteQueryInt},
	{name: "postgres", fresh: storetest.PostgresURL, exec: postgresExec, queryInt: postgresQueryInt},
}

// eachBackend runs fn against every backend, in parallel subtests.
func eachBackend(t *testing.T, fn func(t *testing.T, be backend)) {
	t.Helper()
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			fn(t, be)
		})
	}
}

func sqliteDB(tb testing.TB, dsn string) *sql.DB {
	tb.Helper()
	db, err := sql.Open("sqlite", strings.TrimPrefix(dsn, "sqlite:")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		tb.Fatal(err)
	}
	return db
}

func sqliteExec(tb testing.TB, dsn, query string) {
	tb.Helper()
	db := sqliteDB(tb, dsn)
	defer db.Close()
	if _, err := db.Exec(query); err != nil {
		tb.Fatalf("sqlite exec %.80q: %v", query, err)
	}
}

func sqliteQueryInt(tb testing.TB, dsn, query string) int64 {
	tb.Helper()
	db := sqliteDB(tb, dsn)
	defer db.Close()
	var n int64
	if err := db.QueryRow(query).Scan(&n); err != nil {
		tb.Fatalf("sqlite query %.80q: %v", query, err)
	}
	return n
}

func postgresConn(tb testing.TB, dsn string) *pgx.Conn {
	tb.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		tb.Fatal(err)
	}
	return conn
}

func postgresExec(tb testing.TB, dsn, query string) {
	tb.Helper()
	conn := postgresConn(tb, dsn)
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), query); err != nil {
		tb.Fatalf("postgres exec %.80q: %v", query, err)
	}
}

func postgresQueryInt(tb testing.TB, dsn, query string) int64 {
	tb.Helper()
	conn := postgresConn(tb, dsn)
	defer conn.Close(context.Background())
	var n int64
	if err := conn.QueryRow(context.Background(), query).Scan(&n); err != nil {
		tb.Fatalf("postgres query %.80q: %v", query, err)
	}
	return n
}

func openStore(tb testing.TB, dsn string) store.Store {
	tb.Helper()
	s, err := store.Open(context.Background(), dsn)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return s
}

func write(tb testing.TB, s store.Store, b store.Batch) store.WriteResult {
	tb.Helper()
	res, err := s.Write(context.Background(), b)
	if err != nil {
		tb.Fatalf("Write: %v", err)
	}
	return res
}

func candles(tb testing.TB, s store.Store, asset string, tf model.Timeframe, limit int) []model.Candle {
	tb.Helper()
	got, err := s.Candles(context.Background(), asset, tf, limit)
	if err != nil {
		tb.Fatalf("Candles(%s, %v, %d): %v", asset, tf, limit, err)
	}
	return got
}

func countTicks(tb testing.TB, s store.Store, asset string) int64 {
	tb.Helper()
	n, err := s.CountTicks(context.Background(), asset)
	if err != nil {
		tb.Fatalf("CountTicks: %v", err)
	}
	return n
}

func countDead(tb testing.TB, s store.Store, asset string) int64 {
	tb.Helper()
	n, err := s.CountDeadLetters(context.Background(), asset)
	if err != nil {
		tb.Fatalf("CountDeadLetters: %v", err)
	}
	return n
}

// tick makes a tick sec seconds (fractions allowed, to the microsecond) after t0.
func tick(asset string, sec float64, price float64) model.Tick {
	return model.Tick{Asset: asset, Price: price, UnixMicro: t0*1_000_000 + int64(sec*1e6+0.5)}
}

// referenceCandles is the straightforward aggregation the store must match: drop exact
// (asset, time, price) repeats, group by bucket, open = earliest tick, close = latest
// (arrival order breaks ties), high = max, low = min, volume = count.
func referenceCandles(ticks []model.Tick, tf model.Timeframe) []model.Candle {
	type key struct {
		us    int64
		price float64
	}
	type acc struct {
		c               model.Candle
		openUs, closeUs int64
	}
	seen := map[key]bool{}
	buckets := map[int64]*acc{}
	for _, t := range ticks {
		if seen[key{t.UnixMicro, t.Price}] {
			continue
		}
		seen[key{t.UnixMicro, t.Price}] = true
		start := tf.BucketStart(t.UnixMicro)
		a, ok := buckets[start]
		if !ok {
			buckets[start] = &acc{model.Candle{Start: start, Open: t.Price, High: t.Price, Low: t.Price, Close: t.Price, Volume: 1}, t.UnixMicro, t.UnixMicro}
			continue
		}
		a.c.High = max(a.c.High, t.Price)
		a.c.Low = min(a.c.Low, t.Price)
		a.c.Volume++
		if t.UnixMicro < a.openUs {
			a.c.Open, a.openUs = t.Price, t.UnixMicro
		}
		if t.UnixMicro >= a.closeUs {
			a.c.Close, a.closeUs = t.Price, t.UnixMicro
		}
	}
	var out []model.Candle
	for _, a := range buckets {
		out = append(out, a.c)
	}
	slices.SortFunc(out, func(a, b model.Candle) int { return cmp.Compare(a.Start, b.Start) })
	return out
}

// referenceFromCandles aggregates 1-minute candles into tf the straightforward way.
func referenceFromCandles(in []model.Candle, tf model.Timeframe) []model.Candle {
	var out []model.Candle
	for _, c := range in {
		start := c.Start - c.Start%int64(tf)
		if n := len(out); n > 0 && out[n-1].Start == start {
			last := &out[n-1]
			last.High = max(last.High, c.High)
			last.Low = min(last.Low, c.Low)
			last.Close = c.Close
			last.Volume += c.Volume
			continue
		}
		c.Start = start
		out = append(out, c)
	}
	return out
}

func diffCandles(tb testing.TB, what string, got, want []model.Candle) {
	tb.Helper()
	if slices.Equal(got, want) {
		return
	}
	tb.Errorf("%s: got %d candles, want %d", what, len(got), len(want))
	for i := 0; i < max(len(got), len(want)); i++ {
		var g, w model.Candle
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			tb.Errorf("  [%d] got %+v\n        want %+v", i, g, w)
			return
		}
	}
}

func openTestdata(name string) (*os.File, error) {
	return os.Open(filepath.Join("..", "testdata", name))
}

func readRecording(tb testing.TB) []model.Tick {
	tb.Helper()
	f, err := openTestdata("EURUSD_otc_ticks.csv")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	ticks, stats, err := model.ReadCSV(f, model.CSVOptions{Asset: "EURUSD_otc"})
	if err != nil {
		tb.Fatal(err)
	}
	if stats.Bad != 0 || len(ticks) < 25000 {
		tb.Fatalf("recording read as %d ticks, %d bad", len(ticks), stats.Bad)
	}
	return ticks
}
