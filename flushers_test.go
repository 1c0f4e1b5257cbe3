package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/quflx/quflx-tui/cli"
	"github.com/quflx/quflx-tui/redisdata"
	"github.com/quflx/quflx-tui/redisdata/redistest"
	"github.com/redis/go-redis/v9"
)

// Several flushers against one Redis and one store, as the claim protocol promises it
// works: killed at random, started at once, together at start.

// flusherProc is one `quflx-tui flush` process, reaped by a goroutine of its own so that
// a test can tell at any moment whether it is still running.
type flusherProc struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan struct{} // closed once the process has been reaped
	err            error         // Wait's result, set before done is closed
}

// startFlusher starts `quflx-tui flush args...`; the process is killed at the end of the
// test if it is still running then.
func startFlusher(t *testing.T, env []string, args ...string) *flusherProc {
	t.Helper()
	p := &flusherProc{stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(binary, append([]string{"flush"}, args...)...)
	p.cmd.Env = append(cleanEnv(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill() // an error only says it is gone already
		<-p.done
	})
	return p
}

// running reports whether the process has not exited yet.
func (p *flusherProc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// stop sends sig and waits (up to limit) for the process to end; it returns Wait's error.
func (p *flusherProc) stop(t *testing.T, sig syscall.Signal, limit time.Duration) error {
	t.Helper()
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return p.err
	case <-time.After(limit):
		t.Fatalf("flusher still running %v after %v; stderr:\n%s", limit, sig, p.stderr.String())
		return nil
	}
}

// exitCode is the process's exit status once it has ended, -1 for a signal.
func (p *flusherProc) exitCode() int {
	<-p.done
	return p.cmd.ProcessState.ExitCode()
}

var startLine = regexp.MustCompile(`flusher ([0-9a-f]+) moving buffers`)

// instance is the flusher's instance id from its start line, "" before it is written.
func (p *flusherProc) instance() string {
	if m := startLine.FindStringSubmatch(p.stderr.String()); m != nil {
		return m[1]
	}
	return ""
}

// statusWatcher polls every flusher's published status and remembers, per instance, the
// highest counters it saw.
type statusWatcher struct {
	mu    sync.Mutex
	seen  map[string]flusherCounts
	polls int
	errs  int
	stop  context.CancelFunc
	done  chan struct{}
}

// flusherCounts are the counters of one flusher instance, each the highest published.
type flusherCounts struct {
	flushed, produced, adopted, duplicates, conflicts int64
}

func watchStatuses(t *testing.T, addr string, every time.Duration) *statusWatcher {
	t.Helper()
	c, err := redisdata.NewClient(redisdata.Options{Addr: addr})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &statusWatcher{seen: map[string]flusherCounts{}, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		defer c.Close()
		for {
			w.poll(ctx, c)
			select {
			case <-ctx.Done():
				w.poll(context.Background(), c) // the last statuses of flushers that just stopped
				return
			case <-time.After(every):
			}
		}
	}()
	t.Cleanup(w.close)
	return w
}

func (w *statusWatcher) poll(ctx context.Context, c *redisdata.Client) {
	sts, err := redisdata.ReadFlusherStatuses(ctx, c, "")
	w.mu.Lock()
	defer w.mu.Unlock()
	w.polls++
	if err != nil {
		w.errs++
		return
	}
	for _, st := range sts {
		c := w.seen[st.Instance]
		w.seen[st.Instance] = flusherCounts{
			flushed: max(c.flushed, st.Flushed), produced: max(c.produced, st.Produced), adopted: max(c.adopted, st.Adopted),
			duplicates: max(c.duplicates, st.DuplicatesSkipped), conflicts: max(c.conflicts, st.Conflicts),
		}
	}
}

// close stops polling after a last poll, which sees the final statuses of flushers that
// just stopped. It may be called more than once.
func (w *statusWatcher) close() {
	w.stop()
	<-w.done
}

// snapshot returns the counters by instance, and how many polls were made and failed.
func (w *statusWatcher) snapshot() (seen map[string]flusherCounts, polls, errs int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.seen), w.polls, w.errs
}

// waitStored polls the SQLite store until it holds want ticks or limit passes, and returns
// what it holds (storedTicks fails the test on a tick stored twice).
func waitStored(t *testing.T, path string, want int, limit time.Duration) map[tickKey]bool {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		got := storedTicks(t, path)
		if len(got) >= want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Three flusher slots run against one Redis and one SQLite file while a feed writes
// 60,000 ticks; every 0.5-2 s a random slot's flusher is SIGKILLed and a new one started
// in its place at once (once, two slots at nearly the same time). The store ends up with
// exactly the published ticks, none twice, and every slot did a share of the work.
func TestThreeFlushersWithRandomKills(t *testing.T) {
	const (
		slots = 3
		total = 60000
	)
	srv := redistest.Real(t)
	port := strconv.Itoa(srv.Port)
	path := filepath.Join(t.TempDir(), "quflx.db")
	conn := []string{"-h", "127.0.0.1", "-p", port}
	flushArgs := append([]string{"--store", "sqlite:" + path, "--flush-interval", "300ms", "--high-water", "200",
		"--lease", "1s"}, conn...)

	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0x5107))

	published := collectPublished(t, srv.Addr)
	statuses := watchStatuses(t, srv.Addr, 200*time.Millisecond)

	// Every process ever started, by slot; the last of each is the one running.
	procs := make([][]*flusherProc, slots)
	start := func(slot int) {
		procs[slot] = append(procs[slot], startFlusher(t, nil, flushArgs...))
	}
	for s := range slots {
		start(s)
	}
	// The first flushers open the fresh store together; wait for them before the feed, so
	// that a failure to start is reported as what it is.
	for s := range slots {
		waitOutput(t, procs[s][0].stderr, "moving buffers", 10*time.Second)
	}

	feed, feedOut, feedErr := startCmd(t, nil, append([]string{"feed", "--assets", "4", "--rate", "1000",
		"--count", strconv.Itoa(total), "--bursts=false", "--json"}, conn...)...)
	feedDone := make(chan error, 1)
	go func() { feedDone <- feed.Wait() }()

	kills, doubles := 0, 0
	kill := func(slot int) {
		p := procs[slot][len(procs[slot])-1]
		waitOutput(t, p.stderr, "moving buffers", 10*time.Second) // kill flushers, not processes still starting
		if !p.running() {
			t.Fatalf("slot %d: flusher exited on its own (%v); stderr:\n%s", slot, p.err, p.stderr.String())
		}
		if err := p.stop(t, syscall.SIGKILL, 5*time.Second); err == nil {
			t.Fatalf("slot %d: SIGKILLed flusher exited 0", slot)
		}
		kills++
		start(slot)
	}
	// The double kill comes at one of the first events, well before the feed ends.
	doubleAt := 1 + rng.IntN(3)
	var feedErrv error
	for event, feeding := 0, true; feeding; event++ {
		select {
		case feedErrv = <-feedDone:
			feeding = false
			continue
		case <-time.After(500*time.Millisecond + time.Duration(rng.Int64N(int64(1500*time.Millisecond)))):
		}
		first := rng.IntN(slots)
		kill(first)
		if event == doubleAt {
			time.Sleep(time.Duration(rng.Int64N(int64(50 * time.Millisecond))))
			kill((first + 1 + rng.IntN(slots-1)) % slots)
			doubles++
		}
	}
	if feedErrv != nil {
		t.Fatalf("feed: %v\n%s\n%s", feedErrv, feedOut.String(), feedErr.String())
	}
	var fed cli.Summary
	if err := json.Unmarshal([]byte(feedOut.String()), &fed); err != nil || fed.Produced != total {
		t.Fatalf("feed summary %q: %v", feedOut.String(), err)
	}

	// The killed flushers' claims are adopted by the survivors once their 1 s leases run out.
	waited := time.Now()
	waitStored(t, path, total, 40*time.Second)
	settle := time.Since(waited)
	survivors := 0
	for s := range slots {
		p := procs[s][len(procs[s])-1]
		if !p.running() {
			t.Fatalf("slot %d: flusher exited on its own (%v); stderr:\n%s", s, p.err, p.stderr.String())
		}
		if err := p.stop(t, syscall.SIGTERM, 35*time.Second); err != nil {
			t.Fatalf("slot %d: flusher ended by SIGTERM: %v; stderr:\n%s", s, err, p.stderr.String())
		}
		survivors++
	}
	statuses.close()
	stored := storedTicks(t, path) // the final word, read once every flusher is gone

	want := published(total)
	if len(want) != total {
		t.Fatalf("collector saw %d ticks published, the feed produced %d", len(want), total)
	}
	if len(stored) != total {
		t.Fatalf("store holds %d ticks, %d were produced (waited %v after the feed)", len(stored), total, settle)
	}
	for k := range want {
		if !stored[k] {
			t.Fatalf("published tick %+v is not in the store", k)
		}
	}

	// Instances to slots, from each process's start line; shares from the heartbeats.
	seen, polls, pollErrs := statuses.snapshot()
	shares := make([]int64, slots)
	instances := make([]int, slots)
	var all flusherCounts
	for s := range slots {
		for i, p := range procs[s] {
			id := p.instance()
			if id == "" {
				t.Fatalf("slot %d, process %d wrote no start line; stderr:\n%s", s, i, p.stderr.String())
			}
			c := seen[id]
			shares[s] += c.flushed
			all.flushed += c.flushed
			all.produced += c.produced
			all.adopted += c.adopted
			all.duplicates += c.duplicates
			all.conflicts += c.conflicts
			instances[s]++
		}
	}
	if len(seen) < slots || len(seen) > kills+slots {
		t.Fatalf("%d instances published a status, %d flushers ran", len(seen), kills+slots)
	}
	// A killed flusher's work since its last heartbeat (up to a second) is missing from
	// what it published, so the sums may fall short of the total, never exceed it; and the
	// feed's ticks are all distinct, so a duplicate skipped is an entry written twice.
	if all.flushed > total || all.produced > total || all.duplicates != 0 {
		t.Fatalf("the flushers' heartbeats add up to %+v for %d ticks produced", all, total)
	}
	for s := range slots {
		if shares[s] == 0 {
			t.Fatalf("slot %d stored nothing; shares %v", s, shares)
		}
	}
	if kills < 5 || doubles != 1 {
		t.Fatalf("%d kills (%d double), want at least 5 and one double", kills, doubles)
	}
	t.Logf("produced %d, stored %d, duplicated 0; %d kills (one double) over %d instances, %d survivors stopped by SIGTERM; "+
		"store complete %v after the feed; per-slot shares %v (instances per slot %v); heartbeats (%d polls, %d failed) "+
		"add up to flushed %d, claimed %d, adopted %d, duplicates skipped %d, writes refused by the fence %d",
		fed.Produced, len(stored), kills, kills+slots, survivors, settle.Round(10*time.Millisecond), shares, instances,
		polls, pollErrs, all.flushed, all.produced, all.adopted, all.duplicates, all.conflicts)
}

// Several flushers opening one fresh SQLite file at the same instant all start: none
// exits with "database is locked (SQLITE_BUSY)". Switching a new file to WAL takes its
// lock without waiting in busy_timeout, so a loser used to fail at once.
//
// The flushers reach Redis through a frozen proxy: each sends its first command and
// waits; the thaw answers them all at once, and they open the store together, within a
// millisecond instead of the few that process starts spread them over. Three lanes of
// rounds run side by side, each with its own proxy and a new file every round.
func TestFlushersOpenOneFreshSQLiteFileTogether(t *testing.T) {
	const (
		lanes  = 3
		rounds = 8 // per lane
		each   = 6 // flushers per round
	)
	srv := redistest.Real(t)
	dir := t.TempDir()
	var mu sync.Mutex
	var failures []string
	var wg sync.WaitGroup
	for lane := range lanes {
		proxy := redistest.NewProxy(t, srv.Addr)
		_, port, _ := strings.Cut(proxy.Addr, ":")
		wg.Go(func() {
			for r := range rounds {
				path := filepath.Join(dir, fmt.Sprintf("lane%d-round%d.db", lane, r))
				proxy.Freeze()
				procs := make([]*flusherProc, each)
				for i := range procs {
					procs[i] = startFlusher(t, nil, "--store", "sqlite:"+path, "-h", "127.0.0.1", "-p", port,
						"--duration", "2s", "--lease", "1s")
				}
				time.Sleep(300 * time.Millisecond) // every one has sent its PING
				proxy.Thaw()
				var bad []string
				for i, p := range procs {
					if code := p.exitCode(); code != 0 {
						bad = append(bad, fmt.Sprintf("flusher %d: exit %d: %s", i, code, strings.TrimSpace(p.stderr.String())))
					}
				}
				if len(bad) > 0 {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("lane %d, round %d: %d of %d flushers failed:\n%s",
						lane, r, len(bad), each, strings.Join(bad, "\n")))
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d of %d rounds had a flusher fail at start:\n%s", len(failures), lanes*rounds, strings.Join(failures, "\n"))
	}
	t.Logf("%d rounds of %d flushers opening a fresh store together: all started and ended cleanly", lanes*rounds, each)
}

// A flusher whose very first reply from Redis is lost (the connection reset after the
// server answered) retries instead of exiting 2, then flushes, and exits 0 on SIGTERM.
func TestFlusherRetriesALostFirstReply(t *testing.T) {
	srv := redistest.Real(t)
	proxy := redistest.NewProxy(t, srv.Addr)
	_, proxyPort, _ := strings.Cut(proxy.Addr, ":")
	path := filepath.Join(t.TempDir(), "quflx.db")

	proxy.DropReplies(1)
	fl := startFlusher(t, nil, "--store", "sqlite:"+path, "-h", "127.0.0.1", "-p", proxyPort,
		"--flush-interval", "300ms", "--high-water", "200")
	deadline := time.Now().Add(15 * time.Second)
	for fl.instance() == "" {
		if !fl.running() || time.Now().After(deadline) {
			t.Fatalf("flusher did not start (exit %v, running %v); stderr:\n%s", fl.err, fl.running(), fl.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if f := proxy.Faults(); f.DroppedReplies != 1 {
		t.Fatalf("the proxy dropped %d replies, want 1", f.DroppedReplies)
	}

	// A feed straight to the server; the flusher, through the proxy, stores all of it.
	_, feedErr, code := run(t, nil, "feed", "-h", "127.0.0.1", "-p", strconv.Itoa(srv.Port), "--assets", "2",
		"--rate", "500", "--count", "2000", "--bursts=false", "--json")
	if code != 0 {
		t.Fatalf("feed exit %d: %s", code, feedErr)
	}
	stored := waitStored(t, path, 2000, 15*time.Second)
	if len(stored) != 2000 {
		t.Fatalf("store holds %d of 2000 ticks; flusher stderr:\n%s", len(stored), fl.stderr.String())
	}
	if err := fl.stop(t, syscall.SIGTERM, 35*time.Second); err != nil {
		t.Fatalf("flusher ended by SIGTERM: %v; stderr:\n%s", err, fl.stderr.String())
	}
	t.Logf("after the lost reply: stored %d; flusher stderr:\n%s", len(stored), fl.stderr.String())
}

// On a Redis Cluster, a flusher told to treat one node as a single server (--cluster off)
// can reach only that node's slots: it used to store the buffers it found there (a
// third), never see the others (its SCAN covers one node) and exit 0. It must refuse,
// with a non-zero exit and a line that says why, and leave every tick where it is. The
// same flusher with the cluster found from that node (the default, auto) then stores
// every tick the feed wrote and exits 0.
func TestFlusherOnAClusterNode(t *testing.T) {
	cl := redistest.RealCluster(t, 3)
	host, port, _ := strings.Cut(cl.Addrs[0], ":")
	const total = 4000
	// Eight assets: their buffers fall in the slots of every node.
	_, feedErr, code := run(t, nil, "feed", "-h", host, "-p", port, "--assets", "8", "--rate", "1000",
		"--count", strconv.Itoa(total), "--bursts=false", "--json")
	if code != 0 {
		t.Fatalf("feed exit %d: %s", code, feedErr)
	}
	dir := t.TempDir()

	alone := filepath.Join(dir, "alone.db")
	out, errOut, code := run(t, nil, "flush", "--cluster", "off", "--store", "sqlite:"+alone, "-h", host, "-p", port,
		"--duration", "3s", "--flush-interval", "300ms", "--json")
	storedAlone := 0
	if _, err := os.Stat(alone); err == nil {
		storedAlone = len(storedTicks(t, alone))
	}
	if code == 0 {
		t.Fatalf("--cluster off on one node of a cluster: exit 0 having stored %d of %d ticks; stdout %s\nstderr:\n%s",
			storedAlone, total, out, errOut)
	}
	if !strings.Contains(errOut, "Redis Cluster") || !strings.Contains(errOut, "--cluster off") {
		t.Fatalf("--cluster off: exit %d without saying the node belongs to a cluster:\n%s", code, errOut)
	}
	if storedAlone != 0 {
		t.Fatalf("--cluster off: exit %d, yet stored %d ticks", code, storedAlone)
	}
	t.Logf("--cluster off: exit %d, stored nothing: %s", code, strings.TrimSpace(errOut))

	auto := filepath.Join(dir, "auto.db")
	out, errOut, code = run(t, nil, "flush", "--store", "sqlite:"+auto, "-h", host, "-p", port,
		"--duration", "3s", "--flush-interval", "300ms", "--json")
	var s cli.Summary
	if code != 0 || json.Unmarshal([]byte(out), &s) != nil {
		t.Fatalf("auto: exit %d, stdout %q; stderr:\n%s", code, out, errOut)
	}
	if stored := len(storedTicks(t, auto)); stored != total || s.Flushed != total {
		t.Fatalf("auto: stored %d, summary %+v; the feed wrote %d", stored, s, total)
	}
	t.Logf("auto: exit 0, stored all %d ticks", total)
}

// Someone who can create keys chooses their names: a key "ticks:<escape sequence>" that
// the flusher mentions in its log must not reach the operator's terminal as control.
func TestFlusherLogsAreSanitised(t *testing.T) {
	srv := redistest.Real(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer c.Close()
	c.Set(context.Background(), "ticks:\x1b]0;OWNED\x07\x1b[2J", "x", 0)
	_, errOut, _ := run(t, nil, "flush", "--redis", "redis://"+srv.Addr, "--store", "sqlite:"+t.TempDir()+"/q.db",
		"--flush-interval", "300ms", "--duration", "1500ms")
	if strings.ContainsAny(errOut, "\x1b\x07") || !strings.Contains(errOut, `\x1b]0;OWNED`) {
		t.Fatalf("the flusher's log:\n%q", errOut)
	}
}
