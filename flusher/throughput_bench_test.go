package flusher

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/quflx/quflx-tui/redisdata"
	"github.com/quflx/quflx-tui/redisdata/redistest"
	"github.com/quflx/quflx-tui/store"
	"github.com/quflx/quflx-tui/store/storetest"
)

// throughputRounds is how many rounds of each mode a benchmark iteration runs, in turn,
// so that the machine's noise falls on all alike.
const throughputRounds = 3

// flushMode is how many flushers run, and whether each is given a third of the assets.
type flushMode struct {
	flushers int
	split    bool
}

// BenchmarkFlushersOneVsThree measures, for each store, the end-to-end rate of one flusher
// and of three running together against the same Redis and store: 10 buffers of 20,000
// ticks are filled, then the flushers start (each with its own Redis client and store
// connection, as separate processes would) and claim at once; the clock stops when every
// tick is committed.
//
// Claims are whole buffers (RENAME), and a flusher claims every due buffer in one
// pipelined round trip: with the buffers full before anyone starts, whichever flusher
// claims first takes them all. 3f-max-share is the largest share of the entries one of
// the three claimed, averaged over the rounds (1/3 would be an even split, 1 means one
// did everything). To show what three writers at once make of the store, "3f-split" runs
// three flushers that are each given a third of the assets (Options.Assets), so that
// they must share the work.
//
// Committed is read from the flushers' own counters (Stats.Flushed counts a Write's new
// rows once it has committed) rather than by polling COUNT(*), which on a two-core machine
// would take CPU from what is measured; the store's count is checked after each round.
//
//	go test ./flusher/ -run '^$' -bench FlushersOneVsThree -benchtime 1x
func BenchmarkFlushersOneVsThree(b *testing.B) {
	modes := []flushMode{{1, false}, {3, false}, {3, true}}
	for _, kind := range []string{"sqlite", "postgres"} {
		b.Run(kind, func(b *testing.B) {
			srv := redistest.Real(b)
			elapsed := make([]time.Duration, len(modes))
			ticks := make([]int, len(modes))
			shares, round := 0.0, 0
			for b.Loop() {
				for range throughputRounds {
					for k := range modes {
						m := (k + round) % len(modes) // rotate which goes first
						took, total, share := flushRound(b, srv.Addr, kind, modes[m])
						elapsed[m] += took
						ticks[m] += total
						if m == 1 {
							shares += share
						}
					}
					round++
				}
			}
			rate := func(m int) float64 { return float64(ticks[m]) / elapsed[m].Seconds() }
			b.ReportMetric(rate(0), "1f-ticks/s")
			b.ReportMetric(rate(1), "3f-ticks/s")
			b.ReportMetric(rate(1)/rate(0), "3f/1f")
			b.ReportMetric(shares/float64(round), "3f-max-share")
			b.ReportMetric(rate(2), "3f-split-ticks/s")
			b.ReportMetric(rate(2)/rate(0), "3f-split/1f")
		})
	}
}

// flushRound fills the buffers, runs the flushers of mode until all is committed into a
// fresh store of kind, and returns the time that took, the ticks, and the largest share of
// the entries one flusher claimed.
func flushRound(b *testing.B, addr, kind string, mode flushMode) (time.Duration, int, float64) {
	b.Helper()
	ctx := context.Background()
	dsn := "sqlite:" + filepath.Join(b.TempDir(), "quflx.db")
	if kind == "postgres" {
		dsn = storetest.PostgresURL(b)
	}
	fill, err := redisdata.NewClient(redisdata.Options{Addr: addr, MaxRetries: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer fill.Close()
	total := fillBuffers(b, fill, 10, 20_000)

	n := mode.flushers
	flushers := make([]*Flusher, n)
	for i := range flushers {
		assets := benchAssets(10)
		if mode.split {
			var mine []string
			for a, asset := range assets {
				if a%n == i {
					mine = append(mine, asset)
				}
			}
			assets = mine
		}
		c, err := redisdata.NewClient(redisdata.Options{Addr: addr, MaxRetries: -1})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		st, err := store.Open(ctx, dsn)
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		flushers[i] = New(c, st, Options{
			TickKey: tickKey, Channel: channel, Assets: assets,
			Interval: 50 * time.Millisecond, StatusEvery: time.Hour,
			Instance: fmt.Sprintf("bench-%d-of-%d", i, n),
		})
	}
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	start := time.Now()
	for _, f := range flushers {
		wg.Go(func() { _ = f.Run(runCtx) })
	}
	committed := func() (flushed, produced, most int64) {
		for _, f := range flushers {
			s := f.Stats()
			flushed += s.Flushed
			produced += s.Produced + s.Adopted
			most = max(most, s.Produced+s.Adopted)
		}
		return
	}
	deadline := start.Add(5 * time.Minute)
	for {
		if flushed, _, _ := committed(); flushed >= int64(total) {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			wg.Wait()
			flushed, _, _ := committed()
			b.Fatalf("%s, %+v: %d of %d ticks committed after 5 minutes", kind, mode, flushed, total)
		}
		time.Sleep(2 * time.Millisecond)
	}
	took := time.Since(start)
	cancel()
	wg.Wait()

	flushed, produced, most := committed()
	if flushed != int64(total) || produced != int64(total) {
		b.Fatalf("%s, %+v: flushed %d, claimed %d, want %d", kind, mode, flushed, produced, total)
	}
	check, err := store.Open(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer check.Close()
	if stored, err := check.CountTicks(ctx, ""); err != nil || stored != int64(total) {
		b.Fatalf("%s, %+v: store holds %d ticks (%v), want %d", kind, mode, stored, err, total)
	}
	return took, total, float64(most) / float64(total)
}
