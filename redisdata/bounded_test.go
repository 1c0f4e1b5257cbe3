package redisdata

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata/redistest"
)

func allocatedBy(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// A read-only poll and the chart's cache read take a publisher-chosen value only up to a
// bound: one 64 MiB entry at a buffer's end, or a 64 MiB cache value, used to cross the
// network whole on every poll (128 MiB allocated per poll).
func TestReadsOfPublisherValuesAreBounded(t *testing.T) {
	srv := redistest.Real(t)
	ctx := context.Background()
	w, err := NewClient(Options{Addr: srv.Addr})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	junk := strings.Repeat("x", 64<<20)
	tick := `{"price":1.0850,"timestamp":1729760400.5}`
	w.RPush(ctx, "ticks:EURUSD_otc", junk, tick)
	w.RPush(ctx, "ticks:GBPUSD_otc", tick)
	w.Set(ctx, "historical:EURUSD_otc:1m", "["+junk+"]", 0)

	ro, err := NewClient(Options{Addr: srv.Addr, ReadOnly: true, ReadTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	p := NewPoller(ro, PollerOptions{TickKey: model.MustKeyPattern("ticks:{asset}"),
		CacheKey: model.MustKeyPattern("historical:{asset}:{timeframe}"), LastTicks: true})
	var snap *Snapshot
	n := allocatedBy(func() {
		if snap, err = p.Poll(ctx); err != nil {
			t.Fatal(err)
		}
	})
	if n > 8<<20 {
		t.Errorf("one poll of a buffer holding a 64 MiB entry allocated %d MiB", n>>20)
	}
	for _, b := range snap.Buffers {
		// The junk end is no tick; the other end still is.
		if b.Last == nil || b.Last.Price != 1.0850 || b.Len == 0 {
			t.Errorf("buffer %s: len %d, last %+v", b.Key, b.Len, b.Last)
		}
	}
	cc := NewCandleCache(ro, CacheOptions{Key: model.MustKeyPattern("historical:{asset}:{timeframe}")})
	n = allocatedBy(func() {
		if _, err = cc.Get(ctx, "EURUSD_otc", model.TF1m); err == nil || !strings.Contains(err.Error(), "over the") {
			t.Errorf("a 64 MiB cache value: %v", err)
		}
	})
	if n > 8<<20 {
		t.Errorf("one cache read of a 64 MiB value allocated %d MiB", n>>20)
	}
	t.Logf("one poll and one cache read, each meeting a 64 MiB value: %d KiB allocated by the cache read", n>>10)
}
