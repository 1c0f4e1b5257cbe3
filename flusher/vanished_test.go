package flusher

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quflx/quflx-tui/redisdata/redistest"
)

// A claim whose list leaves Redis before it is stored (evicted under an allkeys-*
// maxmemory policy, a FLUSHDB, an operator's DEL) was dropped as if another flusher had
// committed it: its ticks were gone and nothing said so. Now the loss is counted, logged
// and in the status.
func TestAVanishedClaimIsCountedAndSaid(t *testing.T) {
	srv := redistest.Real(t)
	r := newRig(t, srv.Addr)
	ctx := context.Background()
	unlock := r.lockStore()
	var mu sync.Mutex
	var lines []string
	f, stop := r.run(Options{Interval: 200 * time.Millisecond, RetryMax: 200 * time.Millisecond,
		Log: func(l string) { mu.Lock(); lines = append(lines, l); mu.Unlock() }})
	ticks := r.produce([]string{"A_otc"}, 100, time.Now().Add(-time.Minute).UnixMicro())
	waitFor(t, 30*time.Second, "a failed write", func() bool { return f.Stats().Errors >= 1 })
	for _, ref := range f.heldRefs() {
		r.redis.Del(ctx, ref.Key) // evicted
	}
	unlock()
	waitFor(t, 10*time.Second, "nothing in flight", func() bool { return f.Stats().InFlight == 0 })
	stop()
	s := f.Stats()
	mu.Lock()
	defer mu.Unlock()
	said := false
	for _, l := range lines {
		said = said || strings.Contains(l, "left Redis before it was stored")
	}
	if lost := int64(len(ticks)) - r.count(); lost == 0 || s.Vanished != lost || !said || f.Status().Vanished != lost {
		t.Fatalf("stored %d of %d; vanished %d (status %d); said %v: %q", r.count(), len(ticks), s.Vanished, f.Status().Vanished, said, lines)
	}
}
