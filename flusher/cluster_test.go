package flusher

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata"
	"github.com/quflx/quflx-tui/redisdata/redistest"
	"github.com/quflx/quflx-tui/store"
	"github.com/quflx/quflx-tui/store/storetest"
)

// runFlusher starts a flusher until the test ends; stop waits for its last flush.
func runFlusher(t *testing.T, c *redisdata.Client, st store.Store, opts Options) (*Flusher, func()) {
	t.Helper()
	opts.TickKey, opts.Channel = tickKey, channel
	if opts.Log == nil {
		opts.Log = func(string) {}
	}
	f := New(c, st, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = f.Run(ctx) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return f, stop
}

// A 3-master Redis Cluster: a feed and two flushers, each given a different node's
// address, and one master killed and restarted (its append-only file kept) in the middle
// of the feed. Every tick the feed wrote is stored once, and both flushers did part of it.
func TestClusterFeedTwoFlushersAndANodeRestart(t *testing.T) {
	cluster := redistest.RealCluster(t, 3, "--appendonly", "yes", "--appendfsync", "always")
	st, err := store.Open(context.Background(), storetest.SQLiteDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	opts := Options{Interval: 300 * time.Millisecond, HighWater: 200, Lease: time.Second,
		AdoptEvery: 100 * time.Millisecond, DiscoverEvery: 300 * time.Millisecond}
	a, stopA := runFlusher(t, dialDirect(t, cluster.Addrs[0], -1), st, opts)
	b, stopB := runFlusher(t, dialDirect(t, cluster.Addrs[1], -1), st, opts)

	feedDone := make(chan *recordingSink)
	go func() { feedDone <- feed(t, dialDirect(t, cluster.Addrs[2], -1), 6, 500, 8*time.Second) }()
	time.Sleep(3 * time.Second)
	victim := cluster.Nodes[1]
	victim.Kill()
	down := time.Now()
	victim.Restart(t)
	cluster.WaitOK(t)
	outage := time.Since(down)
	sink := <-feedDone
	produced := sink.distinct()
	r := &rig{t: t, store: st}
	waitFor(t, 30*time.Second, "every tick stored", func() bool { return r.count() == produced })
	stopA()
	stopB()
	sa, sb := a.Stats(), b.Stats()
	if sa.Flushed == 0 || sb.Flushed == 0 || sa.Flushed+sb.Flushed != produced {
		t.Fatalf("produced %d; flusher a stored %d, b %d", produced, sa.Flushed, sb.Flushed)
	}
	if sa.InFlight != 0 || sb.InFlight != 0 || sa.LostToTrim+sb.LostToTrim != 0 {
		t.Fatalf("a %+v\nb %+v", sa, sb)
	}
	t.Logf("cluster, node restarted (down %v): produced %d, stored %d (a %d, b %d), duplicate entries skipped %d (the feed's retried writes), errors a %d b %d",
		outage.Round(time.Millisecond), produced, r.count(), sa.Flushed, sb.Flushed,
		sa.DuplicatesSkipped+sb.DuplicatesSkipped, sa.Errors, sb.Errors)
}

// Redis restarted with persistence on (appendonly, fsync always) in the middle of a
// flush: the claims, leases and buffers come back from the append-only file, the flusher
// reconnects by itself, and every tick is stored once.
func TestRedisRestartWithPersistenceMidFlush(t *testing.T) {
	srv := redistest.Real(t, "--appendonly", "yes", "--appendfsync", "always")
	st, err := store.Open(context.Background(), storetest.SQLiteDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f, stop := runFlusher(t, dialDirect(t, srv.Addr, -1), st, Options{Interval: 200 * time.Millisecond,
		HighWater: 200, Lease: time.Second, AdoptEvery: 100 * time.Millisecond, DiscoverEvery: 200 * time.Millisecond})
	feedDone := make(chan *recordingSink)
	go func() { feedDone <- feed(t, dialDirect(t, srv.Addr, -1), 4, 1000, 6*time.Second) }()
	r := &rig{t: t, store: st}
	waitFor(t, 10*time.Second, "flushing under way", func() bool { return r.count() > 2000 })
	srv.Kill()
	srv.Restart(t)
	sink := <-feedDone
	produced := sink.distinct()
	waitFor(t, 30*time.Second, "every tick stored", func() bool { return r.count() == produced })
	stop()
	s := f.Stats()
	if s.Flushed != produced || s.InFlight != 0 || s.LostToTrim != 0 {
		t.Fatalf("produced %d; flusher %+v", produced, s)
	}
	t.Logf("redis-server killed and restarted mid-flush: produced %d, stored %d, flusher errors %d, adopted %d",
		produced, r.count(), s.Errors, s.Adopted)
}

// One master of a cluster is down while the others serve (cluster-require-full-coverage
// no): ticks of assets whose buffers live on the other masters are still flushed. The
// claimer once threw away every node's answers when one node failed.
func TestClusterWithAMasterDownStillFlushesTheRest(t *testing.T) {
	cluster := redistest.RealCluster(t, 3, "--cluster-require-full-coverage", "no")
	st, err := store.Open(context.Background(), storetest.SQLiteDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	c := dialDirect(t, cluster.Addrs[0], -1)
	// Which master holds which asset's buffer.
	onNode := map[string][]string{}
	for i := range 12 {
		asset := fmt.Sprintf("N%02d_otc", i)
		slot, err := c.ClusterKeySlot(ctx, tickKey.Key(asset, "")).Result()
		if err != nil {
			t.Fatal(err)
		}
		onNode[masterOf(t, c, slot)] = append(onNode[masterOf(t, c, slot)], asset)
	}
	victim := cluster.Nodes[2]
	var live []string
	for addr, assets := range onNode {
		if addr != victim.Addr {
			live = append(live, assets...)
		}
	}
	if len(live) == 0 || len(onNode[victim.Addr]) == 0 {
		t.Fatalf("assets by node %v: the test needs some on the victim and some elsewhere", onNode)
	}
	f, stop := runFlusher(t, dialDirect(t, cluster.Addrs[0], -1), st, Options{Interval: 200 * time.Millisecond,
		HighWater: 50, Lease: time.Second, DiscoverEvery: 200 * time.Millisecond, AdoptEvery: 100 * time.Millisecond})
	p := redisdata.NewProducer(c, redisdata.ProducerOptions{TickKey: tickKey, Channel: channel})
	base := time.Now().Add(-time.Minute).UnixMicro()
	// Every asset, the victim's too, is flushed once, so the flusher knows every buffer
	// and its claims go to every master.
	var all []model.Tick
	for _, assets := range onNode {
		for _, a := range assets {
			all = append(all, model.Tick{Asset: a, Price: 9, UnixMicro: base - 1})
		}
	}
	if err := p.Write(ctx, all); err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, store: st}
	waitFor(t, 10*time.Second, "every asset flushed once", func() bool { return r.count() == int64(len(all)) })
	victim.Kill()
	want := int64(len(all))
	for i := range 100 {
		var batch []model.Tick
		for j, a := range live {
			batch = append(batch, model.Tick{Asset: a, Price: 1 + float64(j), UnixMicro: base + int64(i)})
		}
		if err := p.Write(ctx, batch); err != nil {
			t.Fatalf("writing to the live masters: %v", err)
		}
		want += int64(len(batch))
	}
	waitFor(t, 15*time.Second, "the live masters' ticks stored", func() bool { return r.count() == want })
	stop()
	t.Logf("one master down: %d ticks of %d assets on the other masters stored; flusher errors %d", want, len(live), f.Stats().Errors)
}

// masterOf returns the address of the master serving slot.
func masterOf(t *testing.T, c *redisdata.Client, slot int64) string {
	t.Helper()
	shards, err := c.ClusterSlots(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range shards {
		if int64(s.Start) <= slot && slot <= int64(s.End) {
			return s.Nodes[0].Addr
		}
	}
	t.Fatalf("no master for slot %d", slot)
	return ""
}
