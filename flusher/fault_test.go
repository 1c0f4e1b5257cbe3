package flusher

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata"
	"github.com/quflx/quflx-tui/redisdata/redistest"
	"github.com/quflx/quflx-tui/simulator"
	"github.com/quflx/quflx-tui/store"
	"github.com/quflx/quflx-tui/store/storetest"
)

// recordingSink is a producer that remembers every distinct tick it wrote.
type recordingSink struct {
	p    *redisdata.Producer
	mu   sync.Mutex
	seen map[tickID]bool
}

type tickID struct {
	asset string
	us    int64
	price float64
}

func (s *recordingSink) Write(ctx context.Context, ticks []model.Tick) error {
	err := s.p.Write(ctx, ticks)
	if err == nil {
		s.mu.Lock()
		for _, t := range ticks {
			s.seen[tickID{t.Asset, t.UnixMicro, t.Price}] = true
		}
		s.mu.Unlock()
	}
	return err
}

func (s *recordingSink) distinct() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int64(len(s.seen))
}

// feed runs a synthetic feed of assets × perAsset ticks/s into Redis as a v1 producer for
// d, and returns what it wrote once it is done.
func feed(t *testing.T, c *redisdata.Client, assets int, perAsset float64, d time.Duration) *recordingSink {
	t.Helper()
	var as []simulator.Asset
	for i := range assets {
		as = append(as, simulator.Asset{Name: fmt.Sprintf("F%02d_otc", i), Price: 1 + float64(i), Decimals: 5, Vol: 2e-5})
	}
	syn := simulator.NewSynthetic(simulator.SyntheticOptions{Assets: as, Rate: perAsset, Seed: 7}, time.Now())
	sink := &recordingSink{seen: map[tickID]bool{},
		p: redisdata.NewProducer(c, redisdata.ProducerOptions{TickKey: tickKey, Channel: channel})}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := simulator.NewFeeder(sink, []simulator.Source{syn}, simulator.FeedOptions{MaxBatch: 500}).Run(ctx); err != nil {
		t.Fatal(err)
	}
	return sink
}

func dialDirect(t *testing.T, addr string, retries int) *redisdata.Client {
	t.Helper()
	c, err := redisdata.Dial(context.Background(), redisdata.Options{Addr: addr, MaxRetries: retries, PoolSize: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Hundreds of faults between the flusher and a real redis-server during a feed: replies
// dropped after Redis applied the command, connections reset, the link frozen. Every
// tick is stored once: the flusher's counters match the store exactly, with no write
// made twice. The flusher's client is run both as shipped (no retries) and with go-redis
// retrying blindly, to show that safety does not rest on the retry setting.
func TestNoLossOrDuplicateUnderInjectedFaults(t *testing.T) {
	for _, retries := range []int{-1, 3} {
		t.Run("retries="+strconv.Itoa(retries), func(t *testing.T) {
			t.Parallel()
			srv := redistest.Real(t)
			proxy := redistest.NewProxy(t, srv.Addr)
			st, err := store.Open(context.Background(), storetest.SQLiteDSN(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			fc := dialDirect(t, proxy.Addr, retries)
			f := New(fc, st, Options{TickKey: tickKey, Channel: channel, Interval: 500 * time.Millisecond,
				HighWater: 200, Lease: time.Second, AdoptEvery: 100 * time.Millisecond, DiscoverEvery: 200 * time.Millisecond,
				Log: func(string) {}})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); _ = f.Run(ctx) }()

			chaosCtx, stopChaos := context.WithCancel(context.Background())
			proxy.Chaos(chaosCtx, redistest.ChaosOptions{Every: 8 * time.Millisecond, FreezeFor: 30 * time.Millisecond, Seed: uint64(retries + 10)})
			sink := feed(t, dialDirect(t, srv.Addr, -1), 4, 600, 8*time.Second)
			stopChaos()
			faults := proxy.Faults()
			produced := sink.distinct()
			r := &rig{t: t, store: st}
			waitFor(t, 30*time.Second, "every tick stored", func() bool { return r.count() == produced })
			cancel()
			<-done
			s := f.Stats()
			if s.Flushed != produced || s.DuplicatesSkipped != 0 || s.Bad != 0 || s.InFlight != 0 {
				t.Fatalf("produced %d; flusher %+v", produced, s)
			}
			total := faults.DroppedReplies + faults.Resets + faults.Freezes
			if total < 300 {
				t.Fatalf("only %d faults injected (%+v)", total, faults)
			}
			t.Logf("produced %d, stored %d, duplicated 0; %d faults (%+v); flusher errors %d, conflicts %d, adopted %d",
				produced, r.count(), total, faults, s.Errors, s.Conflicts, s.Adopted)
		})
	}
}

// outage is how long the store is down in the outage tests: the issue asks for a minute.
func outage() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("QUFLX_OUTAGE")); err == nil {
		return d
	}
	return time.Minute
}

// A store outage of a minute under a 5,000 ticks/s feed: claims pile up in Redis, where
// the producers' trim cannot reach them, and once the store is back writing resumes
// within two seconds although the feed wakes the writer every few milliseconds (a retry
// timer made anew on every wake-up never fired while the feed was busy).
func TestStoreOutageUnderABusyFeed(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			srv := redistest.Real(t)
			var (
				st       store.Store
				down, up func()
				err      error
			)
			ctx := context.Background()
			if kind == "sqlite" {
				path := storetest.SQLitePath(t)
				st, err = store.Open(ctx, "sqlite:"+path)
				if err != nil {
					t.Fatal(err)
				}
				// The lock waits its turn behind the flusher's writes, as a backup would.
				locker, _ := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
				t.Cleanup(func() { locker.Close() })
				conn, err := locker.Conn(ctx)
				if err != nil {
					t.Fatal(err)
				}
				down = func() {
					if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
						t.Fatal(err)
					}
				}
				up = func() { conn.ExecContext(ctx, "ROLLBACK"); conn.Close() }
			} else {
				// PostgreSQL behind a proxy that plays a stopped server: every connection
				// reset, new ones refused.
				dsn := storetest.PostgresURL(t)
				proxy := redistest.NewProxy(t, storetest.HostPort(t, dsn))
				st, err = store.Open(ctx, storetest.WithHostPort(t, dsn, proxy.Addr))
				if err != nil {
					t.Fatal(err)
				}
				down, up = proxy.Down, proxy.Up
			}
			t.Cleanup(func() { st.Close() })
			r := &rig{t: t, store: st}
			f := New(dialDirect(t, srv.Addr, -1), st, Options{TickKey: tickKey, Channel: channel, Log: func(string) {}})
			runCtx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); _ = f.Run(runCtx) }()

			feedDone := make(chan *recordingSink)
			d := outage()
			go func() { feedDone <- feed(t, dialDirect(t, srv.Addr, -1), 10, 500, d+6*time.Second) }()
			time.Sleep(2 * time.Second)
			down()
			time.Sleep(d)
			held := f.Stats()
			back := time.Now()
			up()
			// The first commit after the store came back.
			waitFor(t, 10*time.Second, "a write after the outage", func() bool { return f.Stats().LastFlush.After(back) })
			resumed := f.Stats().LastFlush.Sub(back)
			sink := <-feedDone
			produced := sink.distinct()
			// A bound, not an expectation: under -race, pure-Go SQLite writes its 300,000
			// held ticks far slower than it does in production.
			waitFor(t, 3*time.Minute, "every tick stored", func() bool { return r.count() == produced })
			cancel()
			<-done
			s := f.Stats()
			// (A SQLite writer waits 5 s on a lock before it fails: a shorter outage is a slow write.)
			if held.InFlight == 0 || (d >= 10*time.Second && (held.Errors == 0 || held.DownSince.IsZero())) {
				t.Fatalf("during the outage: %+v", held)
			}
			if s.Flushed != produced || s.LostToTrim != 0 || s.InFlight != 0 || s.DuplicatesSkipped != 0 {
				t.Fatalf("produced %d; flusher %+v", produced, s)
			}
			if resumed > 2*time.Second {
				t.Errorf("writing resumed %v after the store came back, want within 2s", resumed)
			}
			t.Logf("%s down %v under 5,000 ticks/s: %d entries held in %d claims at the end of it; writing resumed %v after it came back; produced %d, stored %d, lost 0, duplicated 0",
				kind, d, held.InFlight, held.Claims, resumed.Round(time.Millisecond), produced, r.count())
		})
	}
}

// A flusher froze in the middle of a PostgreSQL transaction (its host hung, its network
// went): its session holds a claim's progress row until the server gives up on it. A
// flusher that adopts that claim must not block behind the lock with every other claim
// waiting: the locked claim is set aside and retried, the others are written.
func TestALockedClaimDoesNotStallTheOthers(t *testing.T) {
	dsn := storetest.PostgresURL(t)
	srv := redistest.Real(t)
	r := newRigWithStore(t, srv.Addr, dsn)
	ctx := context.Background()
	base := time.Now().Add(-time.Minute).UnixMicro()
	r.produce([]string{"A_otc"}, 100, base)
	dead := redisdata.NewClaimer(r.redis, redisdata.ClaimOptions{Owner: "frozen", Lease: 300 * time.Millisecond})
	res, err := dead.Claim(ctx, []string{"ticks:A_otc"})
	if err != nil || res[0].Claim == nil {
		t.Fatal(err)
	}
	// The frozen flusher's open transaction, holding the claim's progress row.
	zombie, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer zombie.Close(ctx)
	tx, err := zombie.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO quflx_claim_progress (claim_id, committed) VALUES ($1, 50)`, res[0].Claim.ID); err != nil {
		t.Fatal(err)
	}
	f, stop := r.run(Options{Interval: 100 * time.Millisecond, Lease: time.Second, AdoptEvery: 50 * time.Millisecond,
		DiscoverEvery: 100 * time.Millisecond})
	waitFor(t, 5*time.Second, "the locked claim adopted", func() bool { return f.Stats().Adopted == 100 })
	time.Sleep(300 * time.Millisecond) // its write is under way, against the lock
	others := r.produce([]string{"B_otc"}, 200, base)
	waitFor(t, 10*time.Second, "the other asset's ticks, beside the locked claim", func() bool {
		n, _ := r.store.CountTicks(ctx, "B_otc")
		return n == int64(len(others))
	})
	if n, _ := r.store.CountTicks(ctx, "A_otc"); n != 0 {
		t.Fatalf("%d ticks of the locked claim stored while its row was locked", n)
	}
	tx.Rollback(ctx) // the frozen flusher's session ends
	waitFor(t, 10*time.Second, "the locked claim, once free", func() bool { return r.count() == 300 })
	stop()
	if s := f.Stats(); s.Flushed != 300 || s.InFlight != 0 {
		t.Fatalf("stats %+v", s)
	}
}
