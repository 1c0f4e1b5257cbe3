package redisdata

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata/redistest"
)

// Several readers (dashboards, SSH sessions) share one session: they see the same ticks
// and readings, and reading costs the server nothing; only the session's own poll does.
func TestWatchIsSharedByReadersWithoutIOOfTheirOwn(t *testing.T) {
	redistest.Each(t, func(t *testing.T, target redistest.Target) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		w := newWriter(t, target.Addr)
		w.RPush(ctx, "ticks:EURUSD_otc", `{"price":1.08,"timestamp":1729760400}`)
		c, err := NewClient(Options{Addr: target.Addr, ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		var rt roundTrips
		c.AddHook(&rt)
		watch := NewWatch(c, WatchOptions{TickKey: tickPattern, CacheKey: cachePattern, Channel: chanPattern,
			Subscribe: true, PollEvery: 100 * time.Millisecond})
		watch.Start(ctx)
		defer watch.Close()

		const readers = 4
		var wg sync.WaitGroup
		seen := make([]uint64, readers)
		for i := range readers {
			updates, stop := watch.Updates()
			wg.Go(func() {
				defer stop()
				for seen[i] < 5 {
					select {
					case <-ctx.Done():
						return
					case <-updates:
					}
					r := watch.Latest()
					if r.Err != nil || r.Snapshot == nil || len(r.Snapshot.Buffers) != 1 {
						t.Errorf("reader %d: reading %+v", i, r)
						return
					}
					seen[i] = r.Seq
					for range 100 { // a reader may look as often as it likes
						_ = watch.Latest()
					}
				}
			})
		}
		waitFor(t, 5*time.Second, "subscribed", func() bool { return watch.Latest().Sub.State == StateLive })
		for i := range 50 {
			w.Publish(ctx, "updates:EURUSD_otc", fmt.Sprintf(`{"price":1.%02d,"timestamp":%d}`, i, 1729760401+i))
		}
		wg.Wait()
		for i, s := range seen {
			if s < 5 {
				t.Fatalf("reader %d saw readings up to %d, want 5", i, s)
			}
		}
		waitFor(t, 5*time.Second, "ticks in the market", func() bool { return watch.Market().Total() == 50 })

		// Round trips follow the polls, not the readers: a poll is a PING and one pipeline
		// (plus discovery's SCANs now and then).
		watch.Close()
		polls := watch.Latest().Seq
		if pipes, cmds := uint64(rt.pipelines.Load()), uint64(rt.commands.Load()); pipes != polls {
			t.Fatalf("%d pipelines (%d commands) for %d polls with %d readers", pipes, cmds, polls, readers)
		}
	})
}

// A server that goes away gives a reading with the error and status's "down" health; the
// session recovers by itself when the server is back.
func TestWatchReportsDownAndRecovers(t *testing.T) {
	srv := redistest.Real(t)
	c, err := NewClient(Options{Addr: srv.Addr, ReadOnly: true, DialTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	watch := NewWatch(c, WatchOptions{TickKey: tickPattern, CacheKey: cachePattern, PollEvery: 100 * time.Millisecond,
		Thresholds: model.HealthThresholds{NoFlusher: true}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	watch.Start(ctx)
	defer watch.Close()
	waitFor(t, 5*time.Second, "a first reading", func() bool { return watch.Latest().Seq > 0 })
	if r := watch.Latest(); r.Err != nil || r.Report.Health.Status == Down {
		t.Fatalf("first reading: err %v, health %+v", r.Err, r.Report.Health)
	}
	srv.Kill()
	waitFor(t, 10*time.Second, "down", func() bool {
		r := watch.Latest()
		return r.Err != nil && r.Snapshot == nil && r.Report.Health.Status == Down
	})
	srv.Restart(t)
	waitFor(t, 15*time.Second, "recovered", func() bool {
		r := watch.Latest()
		return r.Err == nil && r.Report.Health.Status != Down
	})
}

// PollServer reads INFO and the flusher status only: no buffer is touched.
func TestWatchPollServerReadsNoKeys(t *testing.T) {
	m := redistest.Mini(t)
	w := newWriter(t, m.Addr())
	ctx := context.Background()
	w.RPush(ctx, "ticks:EURUSD_otc", `{"price":1.08,"timestamp":1729760400}`)
	c, _ := NewClient(Options{Addr: m.Addr(), ReadOnly: true})
	watch := NewWatch(c, WatchOptions{TickKey: tickPattern, CacheKey: cachePattern})
	defer watch.Close()
	r := watch.PollServer(ctx)
	if r.Err != nil || r.Snapshot == nil {
		t.Fatalf("PollServer: %v", r.Err)
	}
	if len(r.Snapshot.Buffers) != 0 || r.Snapshot.Info.ConnectedClients.V == 0 {
		t.Fatalf("PollServer read buffers %v or no INFO %+v", r.Snapshot.Buffers, r.Snapshot.Info)
	}
	if r.Report.Health.Status == Down {
		t.Fatalf("health %+v", r.Report.Health)
	}
}

// Under QuFLX v2 admission is open: regimes or signals for names that never tick must
// not take the places real assets' ticks need (they did, until a restart).
func TestSideChannelNamesTakeNoAdmissionPlaces(t *testing.T) {
	c, err := NewClient(Options{Addr: redistest.Mini(t).Addr(), ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	w := NewWatch(c, WatchOptions{MaxAssets: 3, Channel: model.MustChannelPattern("market_data"), PubSubOnly: true})
	defer w.Close()
	for i := range 3 {
		if err := w.pipeline.Observe(model.SideRegime, "strategy:regime", fmt.Appendf(nil, `{"asset":"JUNK%d","regime":"x"}`, i), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if !w.admission.Admit("EURUSD_otc") {
		t.Fatal("a real asset's tick was refused after three junk regimes")
	}
}
