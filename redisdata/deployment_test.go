package redisdata

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata/redistest"
)

// One node's address: the poller finds the buffers and cache keys of every master, reads
// each node's INFO and the slots it serves, and sums the masters' figures.
func TestPollerSeesEveryClusterNode(t *testing.T) {
	cluster := redistest.RealCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w, err := Dial(ctx, Options{Addr: cluster.Addrs[0]})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	const assets = 40
	pipe := w.Pipeline()
	for i := range assets {
		asset := fmt.Sprintf("A%02d_otc", i)
		for j := range i + 1 {
			pipe.LPush(ctx, "ticks:"+asset, fmt.Sprintf(`{"price":1.%04d,"timestamp":%d}`, j, 1729760400+j))
		}
		pipe.SetEx(ctx, "historical:"+asset+":1m", candlesJSON(3), time.Hour)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}

	c, err := Dial(ctx, Options{Addr: cluster.Addrs[2], ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p := NewPoller(c, PollerOptions{TickKey: tickPattern, CacheKey: cachePattern, LastTicks: true})
	snap, err := p.Poll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Buffers) != assets || len(snap.Caches) != assets {
		t.Fatalf("found %d buffers and %d cache keys, want %d of each", len(snap.Buffers), len(snap.Caches), assets)
	}
	for i, b := range snap.Buffers {
		if b.Err != nil || b.Len != int64(i+1) || b.Last == nil {
			t.Fatalf("buffer %s: len %d, last %v, err %v; want len %d", b.Key, b.Len, b.Last, b.Err, i+1)
		}
	}
	if len(snap.Nodes) != 3 {
		t.Fatalf("%d nodes, want 3: %+v", len(snap.Nodes), snap.Nodes)
	}
	slots := 0
	var mem, keys int64
	for _, n := range snap.Nodes {
		if n.Err != nil || n.Role != "master" || n.Slots == 0 || !n.Info.UsedMemory.Known {
			t.Fatalf("node %+v", n)
		}
		slots += n.Slots
		mem += n.Info.UsedMemory.V
		keys += n.Info.Keyspace[0].Keys
	}
	if slots != 16384 {
		t.Fatalf("the nodes serve %d slots, want 16384", slots)
	}
	if snap.Info.UsedMemory.V != mem || snap.Info.Keyspace[0].Keys != keys || keys != 2*assets {
		t.Fatalf("sum: memory %d (nodes %d), keys %d (nodes %d, want %d)",
			snap.Info.UsedMemory.V, mem, snap.Info.Keyspace[0].Keys, keys, 2*assets)
	}
	if _, err := p.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	snap, err = p.Poll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !snap.Window.Valid || snap.Window.OpsPerSec <= 0 || !snap.Nodes[0].Window.Valid {
		t.Fatalf("no window rates after three polls: sum %+v, node %+v", snap.Window, snap.Nodes[0].Window)
	}
	r := NewReport(snap, c.Endpoint(), 0, Thresholds{NoFlusher: true}, time.Now())
	if r.Server.Mode != "cluster" || len(r.Server.Nodes) != 3 || len(r.Buffers) != assets {
		t.Fatalf("report: mode %q, %d nodes, %d buffers", r.Server.Mode, len(r.Server.Nodes), len(r.Buffers))
	}
}

// Through Sentinel the Watch follows a failover by itself: the poller's commands go to the
// new master, the subscriber reconnects to the master the Sentinels name now, and ticks
// published on the new master reach the market. The time from SENTINEL FAILOVER to the
// first such tick is logged (the closing figure).
func TestWatchFollowsASentinelFailover(t *testing.T) {
	const pw, spw = "data-pw-81x", "sentinel-pw-27q"
	set := redistest.RealSentinel(t, redistest.SentinelOptions{Password: pw, SentinelPassword: spw})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	opts := Options{Sentinels: []string{set.Sentinel.Addr}, MasterName: set.Name, Password: pw, SentinelPassword: spw}
	ro := opts
	ro.ReadOnly = true
	c, err := Dial(ctx, ro)
	if err != nil {
		t.Fatal(err)
	}
	watch := NewWatch(c, WatchOptions{TickKey: tickPattern, CacheKey: cachePattern, Channel: chanPattern,
		Subscribe: true, PollEvery: 200 * time.Millisecond, DiscoverEvery: 500 * time.Millisecond,
		Thresholds: model.HealthThresholds{NoFlusher: true}})
	watch.Start(ctx)
	defer watch.Close()

	wo := opts
	wo.MaxRetries = -1
	writer, err := Dial(ctx, wo)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	prod := NewProducer(writer, ProducerOptions{TickKey: tickPattern, Channel: chanPattern})
	var acked, failed atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // a tick every 5 ms, stamped when sent
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			tick := model.Tick{Asset: "EURUSD_otc", Price: 1 + float64(i%1000)/1e4, UnixMicro: time.Now().UnixMicro()}
			if err := prod.Write(ctx, []model.Tick{tick}); err != nil {
				failed.Add(1)
			} else {
				acked.Add(1)
			}
		}
	}()
	defer func() { close(stop); <-done }()

	lastArrival := func(asset string) (last model.Tick, first time.Time) {
		for _, v := range watch.Market().Views(time.Now().UnixMicro(), nil) {
			if v.Asset == asset {
				return v.Last, v.First.Time()
			}
		}
		return model.Tick{}, time.Time{}
	}
	// MARK_otc is published only on the new master, directly, from the moment the
	// failover is asked for: its first arrival is the first tick the Watch takes from the
	// new master. Its buffer (replicated before the failover) is what admits the name.
	if err := writer.LPush(ctx, "ticks:MARK_otc", `{"price":2,"timestamp":1729760400}`).Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "live ticks and the marker's buffer before the failover", func() bool {
		tick, _ := lastArrival("EURUSD_otc")
		r := watch.Latest()
		return tick.UnixMicro > 0 && r.Snapshot != nil && len(r.Snapshot.Buffers) == 2
	})
	if m := watch.Latest().Snapshot.Master; m != set.Master.Addr {
		t.Fatalf("snapshot names master %q, want %s", m, set.Master.Addr)
	}
	nc := redis.NewClient(&redis.Options{Addr: set.Replica.Addr, Password: pw})
	defer nc.Close()
	markCtx, stopMarks := context.WithCancel(ctx)
	defer stopMarks()
	go func() {
		for i := 0; markCtx.Err() == nil; i++ {
			nc.Publish(markCtx, "updates:MARK_otc", fmt.Sprintf(`{"price":2.%04d,"timestamp":%.6f}`, i%10000,
				float64(time.Now().UnixMicro())/1e6))
			time.Sleep(5 * time.Millisecond)
		}
	}()

	issued, newMaster := set.Switch(t)
	switched := time.Now()
	if newMaster != set.Replica.Addr {
		t.Fatalf("new master %s, want the replica %s", newMaster, set.Replica.Addr)
	}
	// The first marker the market holds was stamped when sent: on loopback, within a
	// millisecond of its arrival.
	var firstNew time.Time
	waitFor(t, 20*time.Second, "a tick from the new master", func() bool {
		_, first := lastArrival("MARK_otc")
		firstNew = first
		return !first.IsZero()
	})
	waitFor(t, 10*time.Second, "a reading naming the new master", func() bool {
		r := watch.Latest()
		return r.Err == nil && r.Snapshot != nil && r.Snapshot.Master == newMaster && r.Report.Server.Mode == "sentinel"
	})
	// The ticks written through the failover client land on the new master too.
	before, _ := lastArrival("EURUSD_otc")
	waitFor(t, 10*time.Second, "ticks written through Sentinel after the failover", func() bool {
		tick, _ := lastArrival("EURUSD_otc")
		return tick.UnixMicro > before.UnixMicro && tick.UnixMicro > switched.UnixMicro()
	})
	role, err := nc.Info(ctx, "replication").Result()
	if err != nil || !strings.Contains(role, "role:master") {
		t.Fatalf("new master %s: %v %q", newMaster, err, role)
	}
	t.Logf("SENTINEL FAILOVER issued → first tick from the new master on the Watch after %v (the Sentinel "+
		"named it after %v); writes through Sentinel acknowledged %d, failed %d",
		firstNew.Sub(issued).Round(time.Millisecond), switched.Sub(issued).Round(time.Millisecond), acked.Load(), failed.Load())
	r := watch.Next(ctx, watch.Latest().Seq) // a reading taken after the marker arrived
	if sub := r.Sub; sub.State != StateLive || sub.Reconnects < 1 {
		t.Fatalf("subscriber after the failover: %+v", sub)
	}
	for _, e := range r.Events {
		t.Logf("%v after the command: %s", e.At.Sub(issued).Round(time.Millisecond), e.Text)
	}
}

// A cluster node that does not answer, or Sentinels that cannot be asked, degrade health
// with a finding each (what alert rules are made of), and the report says which.
func TestReportDegradesOnAnUnansweredNodeOrSentinel(t *testing.T) {
	known := func(v int64) Int { return Int{V: v, Known: true} }
	now := time.Now()
	snap := &Snapshot{At: now, Nodes: []NodeInfo{
		{Addr: "10.0.0.1:7000", Role: "master", Slots: 8192, Info: Info{Role: "master", UsedMemory: known(1 << 20)}},
		{Addr: "10.0.0.2:7000", Err: errors.New("INFO 10.0.0.2:7000: i/o timeout")},
	}}
	r := NewReport(snap, "10.0.0.1:7000", 0, Thresholds{NoFlusher: true}, now)
	if r.Server.Mode != "cluster" || r.Health.Status != Degraded || len(r.Health.Findings) != len(r.Health.Reasons) {
		t.Fatalf("report %+v", r.Health)
	}
	f := r.Health.Findings[len(r.Health.Findings)-1]
	if f.Kind != model.FindingClusterNode || f.Subject != "10.0.0.2:7000" || !strings.Contains(f.Text, "i/o timeout") {
		t.Fatalf("finding %+v", f)
	}
	snap = &Snapshot{At: now, MasterErr: errors.New("ask the Sentinels for master m: connection refused")}
	r = NewReport(snap, "master m via sentinel s:26379", 0, Thresholds{NoFlusher: true}, now)
	if r.Server.Mode != "sentinel" || r.Health.Status != Degraded || r.Health.Findings[0].Kind != model.FindingSentinel {
		t.Fatalf("sentinel report %+v", r.Health)
	}
}
