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
		if keys := r.redis.Keys(ctx, "quflx:{ticks:*").Val(); len(keys) != 0 {
			t.Fatalf("claims left: %v", keys)
		}
		st, ok, err := redisdata.ReadFlusherStatus(ctx, r.redis, redisdata.DefaultFlusherStatusKey)
		if err != nil || !ok || st.State != StateStopped || st.Heartbeat.IsZero() {
			t.Fatalf("final status %+v %v %v", st, ok, err)
		}
	})
}

// A claim a killed flusher left behind is adopted once its lease runs out, and written
// from where the store says it stands: the 60 entries the dead flusher had committed are
// not even read again.
func TestAKilledFlushersClaimIsAdoptedAndFinished(t *testing.T) {
	srv := redistest.Real(t)
	r := newRig(t, srv.Addr)
	ctx := context.Background()
	ticks := r.produce([]string{"A_otc"}, 100, time.Now().Add(-time.Minute).UnixMicro())
	dead := redisdata.NewClaimer(r.redis, redisdata.ClaimOptions{Owner: "dead", Lease: 500 * time.Millisecond})
	res, err := dead.Claim(ctx, []string{"ticks:A_otc"})
	if err != nil || res[0].Claim == nil {
		t.Fatal(err)
	}
	// The dead flusher had committed the first 60 entries (list index order) before dying.
	read, _ := dead.Read(ctx, *res[0].Claim, 0, 60)
	var first []model.Tick
	for _, e := range read.Entries {
		tk, err := (&model.Decoder{}).DecodeString(e, "A_otc", 0)
		if err != nil {
			t.Fatal(err)
		}
		first = append(first, tk)
	}
	if _, err := r.store.Write(ctx, store.Batch{Ticks: first, Claims: []store.ClaimSpan{{ID: res[0].Claim.ID, From: 0, To: 60}}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	f, stop := r.run(Options{Interval: time.Hour, AdoptEvery: 50 * time.Millisecond, DiscoverEvery: 100 * time.Millisecond})
	waitFor(t, 5*time.Second, "adopted and finished", func() bool { return r.count() == int64(len(ticks)) })
	took := time.Since(start)
	stop()
	s := f.Stats()
	if s.Flushed != 40 || s.DuplicatesSkipped != 0 || s.Adopted != 100 || s.InFlight != 0 {
		t.Fatalf("stats %+v", s)
	}
	if keys := r.redis.Keys(ctx, "quflx:{ticks:*").Val(); len(keys) != 0 {
		t.Fatalf("claim keys left after adoption: %v", keys)
	}
	t.Logf("a dead flusher's claim (lease 500ms) was finished %v after the new flusher started", took.Round(time.Millisecond))
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
	unlock := r.lockStore()
	f, stop := r.run(Options{Interval: 300 * time.Millisecond, HighWater: 200, RetryMax: 300 * time.Millisecond})
	time.Sleep(100 * time.Millisecond)
	// 3 x 1000 per asset in 1.5 s: three times the buffer cap while the store is down.
	ticks := r.produceAt([]string{"A_otc", "B_otc"}, 3000, time.Now().Add(-time.Minute).UnixMicro(), 2000)
	waitFor(t, 30*time.Second, "failed writes", func() bool { return f.Stats().Errors >= 1 })
	if s := f.Stats(); s.State != StateRetrying || s.InFlight == 0 {
		t.Fatalf("while down: %+v", s)
	}
	unlock()
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
				f := New(c, st, Options{TickKey: tickKey, Channel: channel, Interval: time.Hour, Assets: benchAssets(10)})
				start := time.Now()
				f.claim(ctx, f.bufferKeys())
				if err := f.writeAll(ctx, false); err != nil {
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

func benchAssets(n int) []string {
	var assets []string
	for a := range n {
		assets = append(assets, fmt.Sprintf("BENCH%02d_otc", a))
	}
	return assets
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

// Discovery walks the whole keyspace with SCAN; on a large keyspace that takes long, and
// it must not hold up the high-water claims of a fast feed (it ran inside the claim loop).
func TestALargeKeyspaceDoesNotDelayClaims(t *testing.T) {
	srv := redistest.Real(t, "--enable-debug-command", "yes")
	r := newRig(t, srv.Addr)
	ctx := context.Background()
	// In steps: one DEBUG POPULATE of a million keys outlasts the client's read timeout
	// on a loaded machine.
	for i := range 10 {
		if err := r.redis.Do(ctx, "DEBUG", "POPULATE", 100_000, fmt.Sprintf("unrelated%d", i)).Err(); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	var n int
	_ = r.redis.ScanEach(ctx, "ticks:*", 1000, func(keys []string) { n += len(keys) })
	scan := time.Since(start)
	f, stop := r.run(Options{Interval: time.Hour, HighWater: 300, DiscoverEvery: time.Millisecond})
	time.Sleep(200 * time.Millisecond)
	// 2 × 3000 ticks/s: the buffers' cap of 1000 fills in a third of a second.
	ticks := r.produceAt([]string{"A_otc", "B_otc"}, 6000, time.Now().Add(-time.Minute).UnixMicro(), 3000)
	waitFor(t, 10*time.Second, "the ticks above the last high-water mark", func() bool { return r.count() >= int64(len(ticks))-600 })
	stop()
	if s := f.Stats(); s.LostToTrim != 0 || s.Flushed != int64(len(ticks)) {
		t.Fatalf("stats %+v", s)
	}
	t.Logf("one discovery SCAN of 1,000,000 keys takes %v; nothing lost to the trim at 2 x 3000 ticks/s", scan.Round(time.Millisecond))
}

// A key that matches the buffer pattern but is not a list is not a buffer: it is said
// once and left alone, and does not make the flusher look failing. A claim that fails
// for any other reason does.
func TestAKeyThatIsNotAListIsLeftAlone(t *testing.T) {
	srv := redistest.Real(t)
	r := newRig(t, srv.Addr)
	ctx := context.Background()
	r.redis.Set(ctx, "ticks:NOTALIST", "x", 0)
	ticks := r.produce([]string{"A_otc"}, 100, time.Now().Add(-time.Minute).UnixMicro())
	var mu sync.Mutex
	var said int
	f, stop := r.run(Options{Interval: 100 * time.Millisecond, DiscoverEvery: 50 * time.Millisecond, Log: func(line string) {
		if strings.Contains(line, "NOTALIST") {
			mu.Lock()
			said++
			mu.Unlock()
		}
	}})
	waitFor(t, 5*time.Second, "stored", func() bool { return r.count() == int64(len(ticks)) })
	time.Sleep(500 * time.Millisecond) // several intervals and discoveries more
	stop()
	mu.Lock()
	defer mu.Unlock()
	if s := f.Stats(); said != 1 || s.LastErr != "" || s.Errors != 0 {
		t.Fatalf("said %d times; stats %+v", said, s)
	}
}

// A flusher restarted under the same Instance name (an operator's label, or an embedding
// program's fixed one) must not take its new claims for an earlier run's, whose progress
// the store remembers: that released 200 new ticks unwritten.
func TestARestartUnderTheSameInstanceNameLosesNothing(t *testing.T) {
	srv := redistest.Real(t)
	r := newRig(t, srv.Addr)
	base := time.Now().Add(-time.Minute).UnixMicro()
	opts := Options{Instance: "host1", Interval: 100 * time.Millisecond}
	_, stop := r.run(opts)
	first := r.produce([]string{"A_otc"}, 300, base)
	waitFor(t, 5*time.Second, "the first run's ticks", func() bool { return r.count() == int64(len(first)) })
	stop()
	f, stop2 := r.run(opts)
	second := r.produce([]string{"A_otc"}, 200, base+1_000_000)
	waitFor(t, 5*time.Second, "the second run's ticks", func() bool { return r.count() == int64(len(first)+len(second)) })
	stop2()
	if s := f.Stats(); s.Flushed != 200 {
		t.Fatalf("second run %+v", s)
	}
}

// The limit on assets is for names seen only on pub/sub: a buffer that exists is data, and
// is flushed however many there are.
func TestEveryExistingBufferIsFlushedPastMaxAssets(t *testing.T) {
	srv := redistest.Real(t)
	r := newRig(t, srv.Addr)
	ticks := r.produce([]string{"A_otc", "B_otc", "C_otc", "D_otc", "E_otc"}, 20, time.Now().Add(-time.Minute).UnixMicro())
	_, stop := r.run(Options{MaxAssets: 2, Interval: 100 * time.Millisecond, DiscoverEvery: 50 * time.Millisecond})
	waitFor(t, 5*time.Second, "every buffer flushed", func() bool { return r.count() == int64(len(ticks)) })
	stop()
}

// The first flusher's in-flight lists are its own while it still beats (it appends to
// them and trims their head): they are adopted only once it has stopped.
func TestLegacyListsWaitForTheOldFlusherToStop(t *testing.T) {
	srv := redistest.Real(t)
	r := newRig(t, srv.Addr)
	ctx := context.Background()
	ticks := r.produce([]string{"A_otc"}, 50, time.Now().Add(-time.Minute).UnixMicro())
	if err := r.redis.Rename(ctx, "ticks:A_otc", redisdata.LegacyClaimPrefix+"ticks:A_otc").Err(); err != nil {
		t.Fatal(err)
	}
	old := redisdata.FlusherStatus{State: "flushing", Heartbeat: time.Now()} // no instance: the first version
	if err := redisdata.PublishFlusherStatus(ctx, r.redis, redisdata.DefaultFlusherStatusKey, old, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	_, stop := r.run(Options{Interval: 100 * time.Millisecond, DiscoverEvery: 100 * time.Millisecond, StatusKey: "other:status"})
	time.Sleep(700 * time.Millisecond)
	if n := r.redis.LLen(ctx, redisdata.LegacyClaimPrefix+"ticks:A_otc").Val(); n != 50 || r.count() != 0 {
		t.Fatalf("the old flusher's list was taken while it beat: %d left, %d stored", n, r.count())
	}
	waitFor(t, 10*time.Second, "adopted once the old flusher's heartbeat expired", func() bool { return r.count() == int64(len(ticks)) })
	stop()
}

// lockStore takes the SQLite store's write lock, as another process would (a backup, a
// migration), until the returned function gives it back.
func (r *rig) lockStore() (unlock func()) {
	r.t.Helper()
	ctx := context.Background()
	locker, err := sql.Open("sqlite", r.dbPath)
	if err != nil {
		r.t.Fatal(err)
	}
	conn, err := locker.Conn(ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		r.t.Fatal(err)
	}
	var once sync.Once
	unlock = func() {
		once.Do(func() {
			if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
				r.t.Fatal(err)
			}
			conn.Close()
			locker.Close()
		})
	}
	r.t.Cleanup(unlock)
	return unlock
}
