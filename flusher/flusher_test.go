package flusher

import (
	"context"
	"database/sql"
	"encoding/csv"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata"
	"github.com/quflx/quflx-tui/redisdata/redistest"
	"github.com/quflx/quflx-tui/simulator"
	"github.com/quflx/quflx-tui/store"
	"github.com/quflx/quflx-tui/store/storetest"
)

var (
	tickKey = model.MustKeyPattern("ticks:{asset}")
	channel = model.MustKeyPattern("updates:{asset}")
)

type rig struct {
	t      *testing.T
	redis  *redisdata.Client
	store  store.Store
	dbPath string
}

func newRig(t *testing.T, addr string) *rig {
	path := filepath.Join(t.TempDir(), "quflx.db")
	r := newRigWithStore(t, addr, "sqlite:"+path)
	r.dbPath = path
	return r
}

func newRigWithStore(t *testing.T, addr, dsn string) *rig {
	t.Helper()
	c, err := redisdata.NewClient(redisdata.Options{Addr: addr, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &rig{t: t, redis: c, store: st}
}

// run starts a flusher; the returned stop waits for its last flush.
func (r *rig) run(opts Options) (*Flusher, func()) {
	opts.TickKey, opts.Channel = tickKey, channel
	if opts.Log == nil {
		opts.Log = func(line string) { r.t.Log(line) }
	}
	f := New(r.redis, r.store, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.Run(ctx)
	}()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	r.t.Cleanup(stop)
	return f, stop
}

// produce writes n ticks per asset as a v1 producer, as fast as it can, returning them.
func (r *rig) produce(assets []string, n int, base int64) []model.Tick {
	return r.produceAt(assets, n, base, 0)
}

// produceAt writes n ticks per asset at perSecond ticks per second per asset (0: as fast
// as possible), in batches of 50 per asset.
func (r *rig) produceAt(assets []string, n int, base int64, perSecond int) []model.Tick {
	p := redisdata.NewProducer(r.redis, redisdata.ProducerOptions{TickKey: tickKey, Channel: channel})
	var all []model.Tick
	start := time.Now()
	for i := 0; i < n; i += 50 {
		var batch []model.Tick
		for k := i; k < min(i+50, n); k++ {
			for j, a := range assets {
				batch = append(batch, model.Tick{Asset: a, Price: 1 + float64(k%97)/1e4 + float64(j), UnixMicro: base + int64(k)})
			}
		}
		if err := p.Write(context.Background(), batch); err != nil {
			r.t.Fatal(err)
		}
		all = append(all, batch...)
		if perSecond > 0 {
			time.Sleep(time.Until(start.Add(time.Duration(i+50) * time.Second / time.Duration(perSecond))))
		}
	}
	return all
}

func (r *rig) count() int64 {
	n, err := r.store.CountTicks(context.Background(), "")
	if err != nil {
		r.t.Fatal(err)
	}
	return n
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFlushMovesEveryTickOnceAndSetsBadOnesAside(t *testing.T) {
	redistest.Each(t, func(t *testing.T, target redistest.Target) {
		r := newRig(t, target.Addr)
		ctx := context.Background()
		base := time.Now().Add(-time.Minute).UnixMicro()
		ticks := r.produce([]string{"EURUSD_otc", "USDJPY_otc"}, 300, base)
		r.redis.LPush(ctx, "ticks:EURUSD_otc", "not json", `{"price":-1,"timestamp":1752960407}`)

		f, stop := r.run(Options{Interval: 200 * time.Millisecond, StatusEvery: 50 * time.Millisecond})
		waitFor(t, 5*time.Second, "all ticks stored", func() bool { return r.count() == int64(len(ticks)) })
		waitFor(t, 2*time.Second, "status published", func() bool {
			st, ok, _ := redisdata.ReadFlusherStatus(ctx, r.redis, redisdata.DefaultFlusherStatusKey)
			return ok && st.Flushed == int64(len(ticks)) && st.Bad == 2 && st.Store == r.store.Describe()
		})
		stop()
		s := f.Stats()
		if s.Flushed != int64(len(ticks)) || s.Bad != 2 || s.Produced != int64(len(ticks))+2 || s.InFlight != 0 ||
			s.State != StateStopped || s.DuplicatesSkipped != 0 {
			t.Fatalf("stats %+v", s)
		}
		if dead, _ := r.store.CountDeadLetters(ctx, "EURUSD_otc"); dead != 2 {
			t.Fatalf("dead letters %d", dead)
		}
		if keys := r.redis.Keys(ctx, "quflx:inflight:*").Val(); len(keys) != 0 {
			t.Fatalf("claims left: %v", keys)
		}
		st, ok, err := redisdata.ReadFlusherStatus(ctx, r.redis, redisdata.DefaultFlusherStatusKey)
		if err != nil || !ok || st.State != StateStopped || st.Heartbeat.IsZero() {
			t.Fatalf("final status %+v %v %v", st, ok, err)
		}
	})
}

// A claim a crashed run left in flight is flushed first; if its commit had already
// happened, the replay inserts nothing twice.
func TestRecoveryOfClaimsLeftInFlight(t *testing.T) {
	srv := redistest.Real(t)
	r := newRig(t, srv.Addr)
	ctx := context.Background()
	ticks := r.produce([]string{"A_otc"}, 100, time.Now().Add(-time.Minute).UnixMicro())
	cl := redisdata.NewClaimer(r.redis, "")
	if _, err := cl.Claim(ctx, []string{"ticks:A_otc"}); err != nil {
		t.Fatal(err)
	}
	// The crashed run had committed the first 60 before dying.
	if _, err := r.store.Write(ctx, store.Batch{Ticks: ticks[:60]}); err != nil {
		t.Fatal(err)
	}
	f, stop := r.run(Options{Interval: time.Hour})
	waitFor(t, 5*time.Second, "recovered", func() bool { return r.count() == 100 })
	stop()
	s := f.Stats()
	if s.Flushed != 40 || s.DuplicatesSkipped != 60 || s.InFlight != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// The high-water trigger keeps up with a fast producer: nothing reaches the LTRIM cap.
// (The interval flushes the tail below the high-water mark.)
func TestHighWaterKeepsAheadOfTheTrim(t *testing.T) {
	srv := redistest.Real(t)
	r := newRig(t, srv.Addr)
	f, stop := r.run(Options{Interval: time.Second, HighWater: 300})
	time.Sleep(100 * time.Millisecond) // the flusher's subscriber is up
	// 2 x 2500 ticks/s for 2 s: the cap of 1000 fills in 0.4 s without the flusher.
	ticks := r.produceAt([]string{"A_otc", "B_otc"}, 5000, time.Now().Add(-time.Minute).UnixMicro(), 2500)
	waitFor(t, 10*time.Second, "all stored", func() bool { return r.count() == int64(len(ticks)) })
	stop()
	if s := f.Stats(); s.LostToTrim != 0 || s.Flushed != int64(len(ticks)) {
		t.Fatalf("stats %+v", s)
	}
}

// When the producer outruns a flusher that does not flush, the trim loss is counted.
func TestLossToTheTrimIsCountedNotSilent(t *testing.T) {
	srv := redistest.Real(t)
	r := newRig(t, srv.Addr)
	f, stop := r.run(Options{Interval: 2 * time.Second, HighWater: 1_000_000, LLENEvery: time.Hour})
	time.Sleep(200 * time.Millisecond)
	r.produce([]string{"A_otc"}, 3000, time.Now().Add(-time.Minute).UnixMicro()) // cap 1000
	waitFor(t, 5*time.Second, "the flush", func() bool { return r.count() == 1000 })
	stop()
	if s := f.Stats(); s.LostToTrim < 1990 || s.LostToTrim > 2000 {
		t.Fatalf("lost to trim %d, want about 2000 (stats %+v)", s.LostToTrim, s)
	}
}

// The store is locked by another process for a while (a backup, a migration): writes
// fail, the flusher keeps draining the buffers into its claims so the producer's trim
// loses nothing, and everything lands once the lock goes.
func TestNoLossWhileTheStoreIsDown(t *testing.T) {
	srv := redistest.Real(t)
	r := newRig(t, srv.Addr)
	ctx := context.Background()
	locker, err := sql.Open("sqlite", r.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close()
	conn, err := locker.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	f, stop := r.run(Options{Interval: 300 * time.Millisecond, HighWater: 200, RetryMax: 300 * time.Millisecond})
	time.Sleep(100 * time.Millisecond)
	// 3 x 1000 per asset in 1.5 s: three times the buffer cap while the store is down.
	ticks := r.produceAt([]string{"A_otc", "B_otc"}, 3000, time.Now().Add(-time.Minute).UnixMicro(), 2000)
	waitFor(t, 30*time.Second, "failed writes", func() bool { return f.Stats().Errors >= 1 })
	if s := f.Stats(); s.State != StateRetrying || s.InFlight == 0 {
		t.Fatalf("while down: %+v", s)
	}
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	waitFor(t, 15*time.Second, "all stored after the store came back", func() bool { return r.count() == int64(len(ticks)) })
	stop()
	s := f.Stats()
	if s.LostToTrim != 0 || s.Flushed != int64(len(ticks)) || s.InFlight != 0 || s.Errors < 1 || s.LastErr != "" {
		t.Fatalf("stats %+v", s)
	}
	t.Logf("store down: %d failed attempts, all %d ticks stored", s.Errors, s.Flushed)
}

// PostgreSQL refuses connections for a while (the database is closed to connections and
// its sessions are killed, as in a failover); nothing is lost.
func TestNoLossWhilePostgresIsDown(t *testing.T) {
	dsn := storetest.PostgresURL(t)
	u, _ := url.Parse(dsn)
	db := pgx.Identifier{strings.TrimPrefix(u.Path, "/")}.Sanitize()
	srv := redistest.Real(t)
	r := newRigWithStore(t, srv.Addr, dsn)
	f, stop := r.run(Options{Interval: 300 * time.Millisecond, HighWater: 200, RetryMax: 300 * time.Millisecond})
	time.Sleep(100 * time.Millisecond)

	storetest.AdminExec(t, "ALTER DATABASE "+db+" ALLOW_CONNECTIONS false")
	storetest.AdminExec(t, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "+
		"'"+strings.Trim(db, `"`)+"' AND pid <> pg_backend_pid()")
	ticks := r.produceAt([]string{"A_otc", "B_otc"}, 3000, time.Now().Add(-time.Minute).UnixMicro(), 2000)
	waitFor(t, 10*time.Second, "failed writes", func() bool { return f.Stats().Errors >= 1 })
	if s := f.Stats(); s.State != StateRetrying {
		t.Fatalf("while down: %+v", s)
	}
	storetest.AdminExec(t, "ALTER DATABASE "+db+" ALLOW_CONNECTIONS true")
	waitFor(t, 15*time.Second, "all stored after the database came back", func() bool { return r.count() == int64(len(ticks)) })
	stop()
	if s := f.Stats(); s.LostToTrim != 0 || s.Flushed != int64(len(ticks)) || s.InFlight != 0 || s.LastErr != "" {
		t.Fatalf("stats %+v", s)
	}
}

// BenchmarkFlush measures the whole path, claim to commit: 10 buffers of 20,000 ticks in
// a real redis-server flushed into each store.
func BenchmarkFlush(b *testing.B) {
	for _, kind := range []string{"sqlite", "postgres"} {
		b.Run(kind, func(b *testing.B) {
			srv := redistest.Real(b)
			c, _ := redisdata.NewClient(redisdata.Options{Addr: srv.Addr})
			defer c.Close()
			ctx := context.Background()
			total := 0
			var elapsed time.Duration
			for i := 0; b.Loop(); i++ {
				dsn := "sqlite:" + filepath.Join(b.TempDir(), fmt.Sprint(i, ".db"))
				if kind == "postgres" {
					dsn = storetest.PostgresURL(b)
				}
				st, err := store.Open(ctx, dsn)
				if err != nil {
					b.Fatal(err)
				}
				n := fillBuffers(b, c, 10, 20_000)
				f := New(c, st, Options{TickKey: tickKey, Channel: channel, Interval: time.Hour})
				f.addBuffers(benchKeys(10))
				start := time.Now()
				f.claim(ctx, f.bufferKeys())
				if err := f.writeAll(ctx); err != nil {
					b.Fatal(err)
				}
				elapsed += time.Since(start)
				if s := f.Stats(); s.Flushed != int64(n) {
					b.Fatalf("flushed %d of %d: %+v", s.Flushed, n, s)
				}
				total += n
				st.Close()
			}
			b.ReportMetric(float64(total)/elapsed.Seconds(), "ticks/s")
		})
	}
}

// fillBuffers pushes perAsset distinct ticks into each of n buffers (without a cap).
func fillBuffers(b *testing.B, c *redisdata.Client, n, perAsset int) int {
	ctx := context.Background()
	base := time.Now().Add(-time.Hour).UnixMicro()
	for a := range n {
		pipe := c.Pipeline()
		key := fmt.Sprintf("ticks:BENCH%02d_otc", a)
		vals := make([]any, 0, 1000)
		for i := range perAsset {
			t := model.Tick{Asset: fmt.Sprintf("BENCH%02d_otc", a), Price: 1 + float64(i%1000)/1e5, UnixMicro: base + int64(i)}
			vals = append(vals, string(redisdata.AppendPayload(nil, t)))
			if len(vals) == cap(vals) {
				pipe.LPush(ctx, key, vals...)
				vals = vals[:0]
			}
		}
		if len(vals) > 0 {
			pipe.LPush(ctx, key, vals...)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			b.Fatal(err)
		}
	}
	return n * perAsset
}

func benchKeys(n int) []string {
	var keys []string
	for a := range n {
		keys = append(keys, fmt.Sprintf("ticks:BENCH%02d_otc", a))
	}
	return keys
}

// Replaying the real EURUSD recording through the whole pipeline (producer, Redis,
// flusher, store) gives the same 1-minute candles as a straightforward aggregation of the
// file written here.
func TestReplayOfRealEURUSDGivesTheSameCandles(t *testing.T) {
	srv := redistest.Real(t)
	r := newRig(t, srv.Addr)
	ctx := context.Background()
	replay, err := simulator.LoadReplay("../testdata/EURUSD_otc_ticks.csv",
		simulator.ReplayOptions{KeepTime: true, Speed: 1e6}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// Replayed as fast as the producer goes, the file would outrun the trim at 1000; the
	// point here is the candles, so the buffer is given room (the trim has its own tests).
	f, stop := r.run(Options{Interval: 200 * time.Millisecond, HighWater: 300, Cap: 100_000})
	time.Sleep(100 * time.Millisecond)
	producer := redisdata.NewProducer(r.redis, redisdata.ProducerOptions{TickKey: tickKey, Channel: channel, Cap: 100_000})
	feeder := simulator.NewFeeder(producer, []simulator.Source{replay}, simulator.FeedOptions{MaxBatch: 200})
	if err := feeder.Run(ctx); err != nil || feeder.Stats().Produced != 25297 {
		t.Fatalf("replay: %v %+v", err, feeder.Stats())
	}
	want := straightforwardMinutes(t, "../testdata/EURUSD_otc_ticks.csv")
	waitFor(t, 10*time.Second, "every distinct tick stored", func() bool { return r.count() == want.ticks })
	stop()
	got, err := r.store.Candles(ctx, "EURUSD_otc", model.TF1m, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want.candles) {
		t.Fatalf("%d candles, want %d", len(got), len(want.candles))
	}
	for i := range got {
		if got[i] != want.candles[i] {
			t.Fatalf("candle %d: got %+v, want %+v", i, got[i], want.candles[i])
		}
	}
	if s := f.Stats(); s.LostToTrim != 0 || s.Flushed != want.ticks || s.DuplicatesSkipped != 25297-want.ticks {
		t.Fatalf("stats %+v", s)
	}
}

type minutes struct {
	candles []model.Candle
	ticks   int64
}

// straightforwardMinutes aggregates the CSV the obvious way: parse with encoding/csv,
// drop exact (time, price) repeats, sort by time, group by minute.
func straightforwardMinutes(t *testing.T, path string) minutes {
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	rows, err := csv.NewReader(fh).ReadAll() // skips the empty line
	if err != nil {
		t.Fatal(err)
	}
	type tk struct {
		us    int64
		price float64
	}
	seen := map[tk]bool{}
	var ticks []tk
	for _, row := range rows[1:] {
		sec, _ := strconv.ParseFloat(row[0], 64)
		price, _ := strconv.ParseFloat(row[1], 64)
		k := tk{int64(math.Round(sec * 1e6)), price}
		if !seen[k] {
			seen[k] = true
			ticks = append(ticks, k)
		}
	}
	sort.SliceStable(ticks, func(i, j int) bool { return ticks[i].us < ticks[j].us })
	var out []model.Candle
	for _, k := range ticks {
		start := k.us / 1e6 / 60 * 60
		if n := len(out); n > 0 && out[n-1].Start == start {
			c := &out[n-1]
			c.High, c.Low, c.Close, c.Volume = max(c.High, k.price), min(c.Low, k.price), k.price, c.Volume+1
			continue
		}
		out = append(out, model.Candle{Start: start, Open: k.price, High: k.price, Low: k.price, Close: k.price, Volume: 1})
	}
	return minutes{candles: out, ticks: int64(len(ticks))}
}
