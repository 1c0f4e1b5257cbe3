package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata"
	"github.com/quflx/quflx-tui/redisdata/redistest"
)

// statusJSON runs `quflx-tui status --json args...` and returns its report and wall time.
func statusJSON(t *testing.T, args ...string) (redisdata.Report, time.Duration) {
	t.Helper()
	start := time.Now()
	cmd := exec.Command(binary, append([]string{"status", "--json"}, args...)...)
	cmd.Env = cleanEnv()
	out, err := cmd.Output()
	took := time.Since(start)
	var r redisdata.Report
	if jerr := json.Unmarshal(out, &r); jerr != nil {
		t.Fatalf("status %v: %v, %v\n%s", args, err, jerr, out)
	}
	return r, took
}

// One node's address of a 3-master cluster is enough for status: it lists the buffers of
// every master and every node with its role, slots and memory, the server figures summed.
// The wall time is compared with a single server holding the same 100 assets.
func TestStatusOfAClusterFromOneNode(t *testing.T) {
	cl := redistest.RealCluster(t, 3)
	single := redistest.Real(t)
	const assets = 100
	seedQuFLX(t, cl.Addrs[0], assets, true)
	seedQuFLX(t, single.Addr, assets, true)

	r, _ := statusJSON(t, "--redis", "redis://"+cl.Addrs[1])
	if r.Server.Mode != "cluster" || len(r.Server.Nodes) != 3 {
		t.Fatalf("mode %q, nodes %+v", r.Server.Mode, r.Server.Nodes)
	}
	slots := 0
	var mem int64
	for _, n := range r.Server.Nodes {
		if n.Error != "" || n.Role == nil || *n.Role != "master" || n.UsedMemory == nil || !slices.Contains(cl.Addrs, n.Address) {
			t.Fatalf("node %+v", n)
		}
		slots += n.Slots
		mem += *n.UsedMemory
	}
	if slots != 16384 || r.Server.UsedMemory == nil || *r.Server.UsedMemory != mem {
		t.Fatalf("slots %d, memory %v (nodes %d)", slots, r.Server.UsedMemory, mem)
	}
	seen := map[string]bool{}
	for _, b := range r.Buffers {
		if b.Size != 500 || b.LastPrice == nil {
			t.Fatalf("buffer %+v", b)
		}
		seen[b.Asset] = true
	}
	if len(seen) != assets || len(r.Caches) != 5*assets {
		t.Fatalf("%d assets' buffers and %d cache keys, want %d and %d", len(seen), len(r.Caches), assets, 5*assets)
	}
	if r.Health.Status != "healthy" {
		t.Fatalf("health %+v", r.Health)
	}

	text, errOut, code := run(t, nil, "status", "--redis", "redis://"+cl.Addrs[2])
	if code != 0 || strings.Count(text, "\nnode ") != 3 || !strings.Contains(text, "cluster of 3 nodes") {
		t.Fatalf("status text: exit %d\n%s\n%s", code, text, errOut)
	}

	// Wall time, process start included: five runs each, alternating, medians compared.
	var onCluster, onSingle []time.Duration
	for range 5 {
		_, c := statusJSON(t, "--redis", "redis://"+cl.Addrs[0])
		s, d := statusJSON(t, "--redis", "redis://"+single.Addr)
		if s.Server.Mode != "standalone" || len(s.Buffers) != assets {
			t.Fatalf("single server: mode %q, %d buffers", s.Server.Mode, len(s.Buffers))
		}
		onCluster, onSingle = append(onCluster, c), append(onSingle, d)
	}
	slices.Sort(onCluster)
	slices.Sort(onSingle)
	t.Logf("status --json with %d assets (500 cache keys), median of 5: 3-master cluster %v, single server %v (ratio %.2f)",
		assets, onCluster[2].Round(time.Millisecond), onSingle[2].Round(time.Millisecond),
		float64(onCluster[2])/float64(onSingle[2]))
}

// A tick written through Sentinel by the test's own producer, with what the write said.
type sentWrite struct {
	tick    model.Tick
	started time.Time
	acked   bool
}

// feed and flush through Sentinel across SENTINEL FAILOVER: both follow the master by
// themselves. Every tick whose write began once the old master had become a replica (so
// only the new master can have acknowledged it) is stored, and no tick is stored twice.
// Acknowledged writes of the failover's window may be lost (asynchronous replication: the
// old master's last writes and those a client sent it before it learned of the switch);
// they are counted and logged, not asserted away.
func TestFeedAndFlushThroughSentinelAcrossAFailover(t *testing.T) {
	set := redistest.RealSentinel(t, redistest.SentinelOptions{})
	sentinel := []string{"--sentinel", set.Sentinel.Addr, "--master-name", set.Name}
	path := filepath.Join(t.TempDir(), "ticks.db")
	flusher := startFlusher(t, nil, append([]string{"--store", "sqlite:" + path, "--flush-interval", "200ms",
		"--duration", "60s", "--json"}, sentinel...)...)
	feed, feedOut, feedErr := startCmd(t, nil, append([]string{"feed", "--assets", "EURUSD_otc,GBPUSD_otc", "--rate", "50",
		"--bursts=false", "--duration", "60s", "--json"}, sentinel...)...)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	writer, err := redisdata.Dial(ctx, redisdata.Options{Sentinels: []string{set.Sentinel.Addr}, MasterName: set.Name,
		MaxRetries: -1, ClientName: "quflx-test-writer"})
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	prod := redisdata.NewProducer(writer, redisdata.ProducerOptions{TickKey: model.MustKeyPattern("ticks:{asset}"),
		Channel: model.MustKeyPattern("updates:{asset}")})
	var mu sync.Mutex
	var writes []sentWrite
	stop := make(chan struct{})
	done := make(chan struct{})
	base := time.Now().UnixMicro()
	go func() {
		defer close(done)
		for i := int64(0); ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(4 * time.Millisecond):
			}
			w := sentWrite{tick: model.Tick{Asset: "SENT_otc", Price: 1 + float64(i%997)/1e4, UnixMicro: base + i},
				started: time.Now()}
			w.acked = prod.Write(ctx, []model.Tick{w.tick}) == nil
			mu.Lock()
			writes = append(writes, w)
			mu.Unlock()
		}
	}()

	time.Sleep(2 * time.Second)
	issued, newMaster := set.Failover(t)
	demoted := time.Now()
	time.Sleep(2 * time.Second)
	close(stop)
	<-done
	// The feed and the flusher stop by themselves: SIGTERM now, then wait.
	_ = feed.Process.Signal(syscall.SIGTERM)
	if err := feed.Wait(); err != nil {
		t.Fatalf("feed: %v\n%s", err, feedErr.String())
	}

	var must, ackedBefore []model.Tick
	startedAt := map[int64]time.Time{}
	failed := 0
	for _, w := range writes {
		switch {
		case !w.acked:
			failed++
		case w.started.After(demoted):
			must = append(must, w.tick)
		default:
			ackedBefore = append(ackedBefore, w.tick)
			startedAt[w.tick.UnixMicro] = w.started
		}
	}
	if len(must) < 100 {
		t.Fatalf("only %d ticks written after the failover", len(must))
	}
	has := func(stored map[tickKey]bool) map[[2]any]bool {
		out := map[[2]any]bool{}
		for k := range stored {
			out[[2]any{k.asset, k.us}] = true
		}
		return out
	}
	var stored map[tickKey]bool // storedTicks fails the test on a tick stored twice
	var missing []model.Tick
	deadline := time.Now().Add(20 * time.Second)
	for {
		stored = storedTicks(t, path)
		in := has(stored)
		missing = missing[:0]
		for _, tk := range must {
			if !in[[2]any{tk.Asset, tk.UnixMicro}] {
				missing = append(missing, tk)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(missing) > 0 {
		t.Fatalf("%d of %d ticks the new master acknowledged are not stored (first %+v)\nflusher:\n%s",
			len(missing), len(must), missing[0], flusher.stderr.String())
	}
	in := has(stored)
	lost := 0
	var lostFrom, lostTo time.Duration // of the lost writes' starts, after SENTINEL FAILOVER
	for _, tk := range ackedBefore {
		if !in[[2]any{tk.Asset, tk.UnixMicro}] {
			at := startedAt[tk.UnixMicro].Sub(issued)
			if lost == 0 || at < lostFrom {
				lostFrom = at
			}
			lostTo = max(lostTo, at)
			lost++
		}
	}
	feedAfter := 0
	for k := range stored {
		if k.asset != "SENT_otc" && k.us > demoted.UnixMicro() {
			feedAfter++
		}
	}
	if feedAfter == 0 {
		t.Fatalf("no tick of the feed process written after the failover is stored\nfeed:\n%s\n%s", feedOut.String(), feedErr.String())
	}
	if err := flusher.stop(t, syscall.SIGTERM, 10*time.Second); err != nil {
		t.Fatalf("flusher: %v\n%s", err, flusher.stderr.String())
	}
	t.Logf("failover to %s done %v after SENTINEL FAILOVER; test producer: %d acknowledged after it, all stored; "+
		"%d acknowledged before or during it, %d of them not stored (asynchronous replication: written %v to %v "+
		"after the command); %d writes failed; "+
		"feed process: %d of its ticks after the failover stored; feed summary %s; flusher summary %s",
		newMaster, demoted.Sub(issued).Round(time.Millisecond), len(must), len(ackedBefore), lost, lostFrom.Round(time.Millisecond), lostTo.Round(time.Millisecond), failed, feedAfter,
		strings.TrimSpace(feedOut.String()), strings.TrimSpace(flusher.stdout.String()))
}

// The dashboard through Sentinel keeps showing live data across SENTINEL FAILOVER, and its
// header names the new master. MARK_otc is published only on the server that becomes the
// new master, directly, with a price nothing else sends: the time from the command to that
// price on screen is the failover's time to live data (logged).
func TestDashboardThroughSentinelAcrossAFailover(t *testing.T) {
	set := redistest.RealSentinel(t, redistest.SentinelOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	mc := redis.NewClient(&redis.Options{Addr: set.Master.Addr})
	defer mc.Close()
	// A buffer admits the marker's name (a published name alone is not enough).
	mark := string(redisdata.AppendPayload(nil, model.Tick{Asset: "MARK_otc", Price: 1.5, UnixMicro: time.Now().UnixMicro()}))
	if err := mc.LPush(ctx, "ticks:MARK_otc", mark).Err(); err != nil {
		t.Fatal(err)
	}
	sentinel := []string{"--sentinel", set.Sentinel.Addr, "--master-name", set.Name}
	startCmd(t, nil, append([]string{"feed", "--assets", "EURUSD_otc", "--rate", "20", "--duration", "80s"}, sentinel...)...)

	cmd := fmt.Sprintf("%s --sentinel %s --master-name %s --poll 300ms --discover 1s; sleep 30", binary, set.Sentinel.Addr, set.Name)
	s := newTmux(t, 200, 45, cmd)
	// Until its row shows, MARK_otc is published at 1.5 on the first master: the row proves
	// the name admitted (its buffer discovered).
	s.waitFor("live data from the first master", 15*time.Second, func(screen string) bool {
		mc.Publish(ctx, "updates:MARK_otc", mark)
		return strings.Contains(rowOf(screen, "EURUSD_otc"), "EURUSD_otc") && strings.Contains(rowOf(screen, "MARK_otc"), "1.5") &&
			strings.Contains(screen, "→ "+set.Master.Addr) && strings.Contains(screen, "live")
	})

	rc := redis.NewClient(&redis.Options{Addr: set.Replica.Addr})
	defer rc.Close()
	markCtx, stopMarks := context.WithCancel(ctx)
	defer stopMarks()
	go func() {
		for markCtx.Err() == nil {
			payload := redisdata.AppendPayload(nil, model.Tick{Asset: "MARK_otc", Price: 7.7777, UnixMicro: time.Now().UnixMicro()})
			rc.Publish(markCtx, "updates:MARK_otc", string(payload))
			time.Sleep(10 * time.Millisecond)
		}
	}()
	// The screen is watched from the moment the command is sent (Failover returns only
	// once the old master is a replica, seconds later).
	var onScreen, headerMoved atomic.Int64
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	issuedAt := make(chan time.Time, 1)
	go func() {
		issued := <-issuedAt
		for watchCtx.Err() == nil {
			out, err := exec.Command("tmux", "capture-pane", "-p", "-t", s.name).Output()
			if err == nil {
				screen := string(out)
				since := int64(time.Since(issued))
				if strings.Contains(rowOf(screen, "MARK_otc"), "7.7777") {
					onScreen.CompareAndSwap(0, since)
				}
				if strings.Contains(screen, "→ "+set.Replica.Addr) {
					headerMoved.CompareAndSwap(0, since)
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	before := s.capture()
	issuedAt <- time.Now()
	issued, newMaster := set.Switch(t)
	named := time.Since(issued)
	if newMaster != set.Replica.Addr {
		t.Fatalf("new master %s, want the replica %s", newMaster, set.Replica.Addr)
	}
	after := s.waitFor("the new master's data and name", 15*time.Second, func(screen string) bool {
		return onScreen.Load() > 0 && headerMoved.Load() > 0 && strings.Contains(screen, "live")
	})
	// The feed, writing through Sentinel, goes on through the new master: its row moves.
	time.Sleep(2 * time.Second)
	later := s.capture()
	if a, b := rowOf(after, "EURUSD_otc"), rowOf(later, "EURUSD_otc"); a == "" || a == b {
		t.Fatalf("EURUSD_otc did not move after the failover:\n%s\n---\n%s", after, later)
	}
	stopWatch()
	t.Logf("SENTINEL FAILOVER → the new master's ticks on screen after %v, its name in the header after %v "+
		"(the Sentinel named it after %v)", time.Duration(onScreen.Load()).Round(time.Millisecond),
		time.Duration(headerMoved.Load()).Round(time.Millisecond), named.Round(time.Millisecond))
	t.Logf("before:\n%s\nafter:\n%s", lineWith(before, "quflx-tui"), lineWith(later, "quflx-tui"))
}

// rowOf is the watchlist row of asset ("" when it has none): the header and the events
// may name the asset too.
func rowOf(screen, asset string) string { return lineWith(screen, "│"+asset+" ") }
