package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	_ "modernc.org/sqlite"

	"github.com/quflx/quflx-tui/cli"
	"github.com/quflx/quflx-tui/metrics/metricstest"
	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata"
	"github.com/quflx/quflx-tui/redisdata/redistest"
)

// The tests here run the real binary, as a user would.

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "quflx-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "quflx-tui")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		panic("build: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func run(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(cleanEnv(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code = cmd.ProcessState.ExitCode()
	if err != nil && code < 0 {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// cleanEnv drops the REDIS_* variables of whoever runs the tests, and their config file.
func cleanEnv() []string {
	env := []string{"XDG_CONFIG_HOME=" + filepath.Join(os.TempDir(), "quflx-tui-tests-no-config")}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "REDIS_") && !strings.HasPrefix(kv, "XDG_CONFIG_HOME=") {
			env = append(env, kv)
		}
	}
	return env
}

func TestUnreachableServerIsOneClearLine(t *testing.T) {
	port := strconv.Itoa(redistest.FreePort(t))
	start := time.Now()
	_, stderr, code := run(t, []string{"REDIS_HOST=127.0.0.1", "REDIS_PORT=" + port})
	if code != 2 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "cannot reach Redis at 127.0.0.1:"+port) {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("took %v to give up", took)
	}
}

func TestBadFlagIsOneClearLine(t *testing.T) {
	_, stderr, code := run(t, nil, "--port", "six")
	if code != 2 || strings.Count(stderr, "\n") != 1 || strings.Contains(stderr, "goroutine") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

func TestVersionAndHelp(t *testing.T) {
	out, _, code := run(t, nil, "--version")
	if code != 0 || !strings.HasPrefix(out, "quflx-tui ") {
		t.Fatalf("--version: %d %q", code, out)
	}
	out, _, code = run(t, nil, "--help")
	if code != 0 || !strings.Contains(out, "SYNOPSIS") || !strings.Contains(out, "--env-file") {
		t.Fatalf("--help: %d", code)
	}
}

func TestPlainMonitorAgainstRealServer(t *testing.T) {
	srv := redistest.Real(t)
	port := strconv.Itoa(srv.Port)
	cmd := exec.Command(binary, "-h", "127.0.0.1", "-p", port, "--no-ui", "--poll", "200ms")
	cmd.Env = cleanEnv()
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tick := `{"price":1.08241,"timestamp":` + strconv.FormatInt(time.Now().Unix(), 10) + `}`
	// A bare channel name is not enough to be tracked (anyone can publish one)...
	for range 3 {
		_ = exec.Command("redis-cli", "-p", port, "PUBLISH", "updates:JUNK_otc", tick).Run()
	}
	// ...a producer's buffer is: QuFLX pushes, then publishes.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		_ = exec.Command("redis-cli", "-p", port, "LPUSH", "ticks:EURUSD_otc", tick).Run()
		_ = exec.Command("redis-cli", "-p", port, "PUBLISH", "updates:EURUSD_otc", tick).Run()
		if strings.Contains(out.String(), "EURUSD_otc 1.08241") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	if err != nil || !strings.Contains(out.String(), "live redis ") || !strings.Contains(out.String(), "EURUSD_otc 1.08241") ||
		strings.Contains(out.String(), "JUNK_otc") || !strings.Contains(out.String(), "not admitted") {
		t.Fatalf("exit %v\n%s", err, out.String())
	}
}

// syncBuffer is a bytes.Buffer safe to read while a child process writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startCmd starts the binary with its output collected.
func startCmd(t *testing.T, env []string, args ...string) (*exec.Cmd, *syncBuffer, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(cleanEnv(), env...)
	var out, errOut syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd, &out, &errOut
}

func waitOutput(t *testing.T, buf *syncBuffer, want string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !strings.Contains(buf.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q within %v; output:\n%s", want, limit, buf.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type tickKey struct {
	asset string
	us    int64
	price float64
}

// The crash test of the pipeline issue: a fast feed runs while flushers are SIGKILLed at
// every step between claim and commit and restarted; afterwards the store holds exactly
// the produced ticks, no more, no fewer.
func TestNoLossWhenTheFlusherIsKilledAtEveryStep(t *testing.T) {
	srv := redistest.Real(t)
	port := strconv.Itoa(srv.Port)
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "quflx.db")
	conn := []string{"-h", "127.0.0.1", "-p", port}

	// Everything the feed pushes it also publishes: collect it as the reference.
	published := collectPublished(t, srv.Addr)

	feed, feedOut, _ := startCmd(t, nil, append([]string{"feed", "--assets", "4", "--rate", "1000",
		"--count", "40000", "--bursts=false", "--json"}, conn...)...)
	flushArgs := append([]string{"flush", "--store", dsn, "--flush-interval", "300ms", "--high-water", "200",
		"--lease", "1s"}, conn...)
	for _, step := range []string{"claimed", "read", "before-commit", "committed"} {
		fl, _, flErr := startCmd(t, []string{"QUFLX_FLUSH_PAUSE_AT=" + step}, flushArgs...)
		waitOutput(t, flErr, "paused at "+step, 10*time.Second)
		_ = fl.Process.Signal(syscall.SIGKILL)
		_ = fl.Wait()
	}
	final, finalOut, finalErr := startCmd(t, nil, append(flushArgs, "--json")...)
	if err := feed.Wait(); err != nil {
		t.Fatalf("feed: %v\n%s", err, feedOut.String())
	}
	var fed cli.Summary
	if err := json.Unmarshal([]byte(feedOut.String()), &fed); err != nil || fed.Produced != 40000 {
		t.Fatalf("feed summary %q: %v", feedOut.String(), err)
	}
	// The killed flushers' claims are the final flusher's once their leases run out.
	path := strings.TrimPrefix(dsn, "sqlite:")
	for deadline := time.Now().Add(20 * time.Second); len(storedTicks(t, path)) < 40000 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	_ = final.Process.Signal(syscall.SIGTERM)
	if err := final.Wait(); err != nil {
		t.Fatalf("final flush: %v\n%s", err, finalErr.String())
	}
	var flushed cli.Summary
	if err := json.Unmarshal([]byte(finalOut.String()), &flushed); err != nil {
		t.Fatalf("flush summary %q: %v", finalOut.String(), err)
	}

	stored := storedTicks(t, strings.TrimPrefix(dsn, "sqlite:"))
	want := published(40000)
	if len(stored) != len(want) || len(stored) != 40000 {
		t.Fatalf("store holds %d ticks, %d were published, 40000 produced", len(stored), len(want))
	}
	for k := range want {
		if !stored[k] {
			t.Fatalf("published tick %+v is not in the store", k)
		}
	}
	t.Logf("40000 produced, 40000 stored; last flusher: %+v", flushed)
}

// collectPublished subscribes to every channel and returns a function that waits for n
// ticks and returns them.
func collectPublished(t *testing.T, addr string) func(n int) map[tickKey]bool {
	c, err := redisdata.NewClient(redisdata.Options{Addr: addr})
	if err != nil {
		t.Fatal(err)
	}
	sub := redisdata.NewSubscriber(c, redisdata.SubscriberOptions{Channel: model.MustKeyPattern("updates:{asset}"), Buffer: 1 << 17})
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	got := map[tickKey]bool{}
	done := make(chan struct{})
	go func() { _ = sub.Run(ctx) }()
	go func() {
		defer close(done)
		for tk := range sub.Ticks() {
			mu.Lock()
			got[tickKey{tk.Asset, tk.UnixMicro, tk.Price}] = true
			mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); <-done; c.Close() })
	for deadline := time.Now().Add(3 * time.Second); sub.Stats().State != redisdata.StateLive; {
		if time.Now().After(deadline) {
			t.Fatal("collector not subscribed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return func(n int) map[tickKey]bool {
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			size := len(got)
			mu.Unlock()
			if size >= n || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if st := sub.Stats(); st.Dropped > 0 || st.Bad > 0 {
			t.Fatalf("collector dropped %d, bad %d", st.Dropped, st.Bad)
		}
		mu.Lock()
		defer mu.Unlock()
		return got
	}
}

// storedTicks reads the store's tick table directly.
func storedTicks(t *testing.T, path string) map[tickKey]bool {
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT pair, timestamp_us, price FROM historical_ticks`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[tickKey]bool{}
	for rows.Next() {
		var k tickKey
		if err := rows.Scan(&k.asset, &k.us, &k.price); err != nil {
			t.Fatal(err)
		}
		if out[k] {
			t.Fatalf("tick stored twice: %+v", k)
		}
		out[k] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// The README's run command works with no Redis installed: the demo embeds one.
func TestDemoRunsWithoutAnyServer(t *testing.T) {
	cache := t.TempDir()
	cmd, out, errOut := startCmd(t, []string{"PATH=/usr/bin/nonexistent", "XDG_CACHE_HOME=" + cache, "HOME=" + cache},
		"--demo", "--no-ui", "--flush-interval", "1s", "--duration", "6s")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("demo: %v\n%s\n%s", err, out.String(), errOut.String())
	}
	logs, lines := errOut.String(), out.String()
	if !strings.Contains(logs, "embedded Redis on 127.0.0.1:") || !strings.Contains(logs, filepath.Join(cache, "quflx-tui", "demo.db")) {
		t.Fatalf("demo did not say where things are:\n%s", logs)
	}
	flushed := regexp.MustCompile(`fed (\d+) .* flushed (\d+),`).FindAllStringSubmatch(lines, -1)
	if len(flushed) == 0 || !strings.Contains(lines, "EURUSD_otc") {
		t.Fatalf("demo output:\n%s", lines)
	}
	if last := flushed[len(flushed)-1]; last[1] == "0" || last[2] == "0" {
		t.Fatalf("nothing fed or flushed in 6 s:\n%s", lines)
	}
}

// --demo --redis URL runs the same pipeline against a real server.
func TestDemoAgainstARealServer(t *testing.T) {
	srv := redistest.Real(t)
	cache := t.TempDir()
	c, _ := redisdata.NewClient(redisdata.Options{Addr: srv.Addr})
	defer c.Close()
	ctx := context.Background()
	// The live pipeline's own buffer and cache of an asset the demo simulates: the demo
	// must neither claim the one nor overwrite the other.
	live := []any{`{"price":1.0850,"timestamp":1729760400.1}`, `{"price":1.0851,"timestamp":1729760400.2}`}
	c.RPush(ctx, "ticks:EURUSD_otc", live...)
	c.Set(ctx, "historical:EURUSD_otc:1m", "[]", 0)
	cmd, out, errOut := startCmd(t, []string{"XDG_CACHE_HOME=" + cache},
		"--demo", "--no-ui", "--redis", "redis://"+srv.Addr, "--assets", "3", "--rate", "50",
		"--flush-interval", "500ms", "--duration", "4s")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("demo: %v\n%s\n%s", err, out.String(), errOut.String())
	}
	if strings.Contains(errOut.String(), "embedded") {
		t.Fatal("the demo embedded a server although one was given")
	}
	if !strings.Contains(errOut.String(), "--demo writes a simulated feed, its candle caches and a flusher's claims into the Redis at "+srv.Addr) {
		t.Fatalf("the demo did not say it writes to the named server:\n%s", errOut.String())
	}
	if got := c.LRange(ctx, "ticks:EURUSD_otc", 0, -1).Val(); len(got) != 2 || got[0] != live[0] || got[1] != live[1] {
		t.Fatalf("the live buffer ticks:EURUSD_otc after the demo: %q", got)
	}
	if got := c.Get(ctx, "historical:EURUSD_otc:1m").Val(); got != "[]" {
		t.Fatalf("the live cache was overwritten: %.80q", got)
	}
	if keys := c.Keys(ctx, "quflx-demo:historical:*").Val(); len(keys) == 0 {
		t.Fatalf("the demo's caches are not under quflx-demo: %q", c.Keys(ctx, "*").Val())
	}
	// The demo's flusher keeps to its own keys: a real flusher's status is not touched.
	if n := c.Exists(ctx, redisdata.DefaultFlusherStatusKey).Val(); n != 0 {
		t.Fatal("the demo wrote the real flusher's status key")
	}
	st, ok, err := redisdata.ReadFlusherStatus(ctx, c, "quflx-demo:flusher:status")
	if err != nil || !ok || st.Flushed == 0 || st.State != "stopped" || st.Flushed != st.Produced || st.LostToTrim != 0 {
		t.Fatalf("flusher status on the real server: %+v %v %v", st, ok, err)
	}
}

// The demo's cache is whole from its first second: every asset, every timeframe. It used
// to fill an asset's cache only as its candles closed, so every demo began by firing
// (and a minute later resolving) a "cache missing" alert for each asset it was not charting.
func TestDemoCacheIsWholeFromTheStart(t *testing.T) {
	srv := redistest.Real(t)
	c, _ := redisdata.NewClient(redisdata.Options{Addr: srv.Addr})
	defer c.Close()
	cmd, out, errOut := startCmd(t, []string{"XDG_CACHE_HOME=" + t.TempDir()},
		"--demo", "--no-ui", "--redis", "redis://"+srv.Addr, "--assets", "3", "--rate", "20", "--duration", "2s")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("demo: %v\n%s\n%s", err, out.String(), errOut.String())
	}
	ctx := context.Background()
	assets := map[string]bool{}
	for _, key := range c.Keys(ctx, "quflx-demo:ticks:*").Val() {
		assets[strings.TrimPrefix(key, "quflx-demo:ticks:")] = true
	}
	st, _, _ := redisdata.ReadFlusherStatus(ctx, c, "quflx-demo:flusher:status")
	for _, a := range st.Assets {
		assets[a.Asset] = true
	}
	if len(assets) != 3 {
		t.Fatalf("assets of the demo: %v", assets)
	}
	for asset := range assets {
		for _, tf := range []string{"1m", "5m", "15m", "1h", "4h"} {
			key := "quflx-demo:historical:" + asset + ":" + tf
			if n, _ := c.StrLen(ctx, key).Result(); n < 100 {
				t.Errorf("%s: %d bytes", key, n)
			}
		}
	}
}

// On a trading box QuFLX's REDIS_URL and REDIS_HOST are exported: --demo must not take
// them as consent to write synthetic ticks into production. Only a server named on the
// command line is written to.
func TestDemoIgnoresTheEnvironmentsRedis(t *testing.T) {
	srv := redistest.Real(t)
	cache := t.TempDir()
	for _, c := range []struct {
		env  []string
		args []string
	}{
		{[]string{"REDIS_URL=redis://" + srv.Addr}, nil},
		{[]string{"REDIS_HOST=127.0.0.1", "REDIS_PORT=" + strconv.Itoa(srv.Port)}, nil},
		// A port alone on the command line does not name a server: the host would be the
		// environment's.
		{[]string{"REDIS_HOST=127.0.0.1"}, []string{"-p", strconv.Itoa(srv.Port)}},
	} {
		env := c.env
		cmd, out, errOut := startCmd(t, append(env, "XDG_CACHE_HOME="+cache),
			append([]string{"--demo", "--no-ui", "--flush-interval", "500ms", "--duration", "2s"}, c.args...)...)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("demo: %v\n%s\n%s", err, out.String(), errOut.String())
		}
		if logs := errOut.String(); !strings.Contains(logs, "embedded Redis on") && !strings.Contains(logs, "throwaway redis-server") {
			t.Fatalf("with %v the demo did not use its own Redis:\n%s", env, logs)
		}
	}
	c, _ := redisdata.NewClient(redisdata.Options{Addr: srv.Addr})
	defer c.Close()
	if n := c.DBSize(context.Background()).Val(); n != 0 {
		t.Fatalf("the demo wrote %d keys into the server the environment names", n)
	}
}

// tmuxSession runs the binary in a real terminal (tmux) of w x h.
type tmuxSession struct {
	t    *testing.T
	name string
}

func newTmux(t *testing.T, w, h int, command string) *tmuxSession {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		if redistest.RequireReal() {
			t.Fatal("QUFLX_REQUIRE_REAL=1 but tmux is not installed")
		}
		t.Skip("tmux not installed")
	}
	s := &tmuxSession{t: t, name: fmt.Sprintf("quflx-test-%d", time.Now().UnixNano())}
	out, err := exec.Command("tmux", "new-session", "-d", "-s", s.name, "-x", strconv.Itoa(w), "-y", strconv.Itoa(h),
		command).CombinedOutput()
	if err != nil {
		t.Fatalf("tmux: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("tmux", "kill-session", "-t", s.name).Run() })
	return s
}

func (s *tmuxSession) run(args ...string) string {
	out, err := exec.Command("tmux", args...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func (s *tmuxSession) capture() string { return s.run("capture-pane", "-p", "-t", s.name) }

// waitExit waits for the exit status the pane's shell writes to rc ("EXIT:n") once the
// program ends, and fails unless it is 0.
func (s *tmuxSession) waitExit(rc string, limit time.Duration) {
	s.t.Helper()
	for deadline := time.Now().Add(limit); ; time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(rc); err == nil && len(b) > 0 {
			if got := strings.TrimSpace(string(b)); got != "EXIT:0" {
				s.t.Fatalf("exit status %s", got)
			}
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("still running %v after the key that quits:\n%s", limit, s.capture())
		}
	}
}

func (s *tmuxSession) waitFor(what string, limit time.Duration, ok func(screen string) bool) string {
	s.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		screen := s.capture()
		if ok(screen) {
			return screen
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no %s within %v; screen:\n%s", what, limit, screen)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lineWith returns the first screen line containing s.
func lineWith(screen, s string) string {
	for _, l := range strings.Split(screen, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

// The end-to-end test of the dashboard issue, in a real terminal.
func TestDashboardInARealTerminal(t *testing.T) {
	dir := t.TempDir()
	rc := filepath.Join(dir, "rc")
	metricsAt := "127.0.0.1:" + strconv.Itoa(redistest.FreePort(t))
	cmd := fmt.Sprintf("XDG_CACHE_HOME=%s %s --demo --rate 20 --metrics %s; echo EXIT:$? > %s; sleep 30", dir, binary,
		metricsAt, rc)
	s := newTmux(t, 120, 40, cmd)

	panels := []string{"Watchlist", "Redis", "Cache", "Flusher", "Latency", "Events", "EURUSD_otc", "DEMO", "live"}
	if _, err := exec.LookPath("redis-server"); err == nil {
		// The demo runs on a throwaway redis-server: the header says so, and the Redis
		// panel has a real server's figures.
		panels = append(panels, "(throwaway)", "mem ", "hit ")
	}
	first := s.waitFor("every panel", 15*time.Second, func(screen string) bool {
		for _, p := range panels {
			if !strings.Contains(screen, p) {
				return false
			}
		}
		return strings.Contains(screen, "cache hit") || strings.Contains(screen, "store ")
	})
	// Prices move: some watchlist row differs two seconds later.
	time.Sleep(2 * time.Second)
	second := s.capture()
	changed := false
	for _, asset := range []string{"EURUSD_otc", "USDJPY_otc", "GBPUSD_otc", "AUDCAD_otc"} {
		a, b := lineWith(first, asset), lineWith(second, asset)
		if a != "" && b != "" && a[:min(len(a), 60)] != b[:min(len(b), 60)] {
			changed = true
		}
	}
	if !changed {
		t.Fatalf("no price changed in 2 s:\n%s\n---\n%s", first, second)
	}
	// The dashboard serves its metrics while it runs: the ticks it shows are counted.
	waitMetric(t, metricsAt, "the dashboard's metrics", 5*time.Second, func(x string) bool {
		return metricstest.Sum(x, "quflx_ticks_received_total") > 0
	})

	s.run("send-keys", "-t", s.name, "?")
	s.waitFor("the help", 3*time.Second, func(screen string) bool {
		return strings.Contains(screen, "previous panel") && strings.Contains(screen, "freeze display")
	})
	s.run("send-keys", "-t", s.name, "Escape")
	s.waitFor("the help closed", 3*time.Second, func(screen string) bool { return strings.Contains(screen, "Flusher") })

	s.run("resize-window", "-t", s.name, "-x", "80", "-y", "24")
	compact := s.waitFor("the compact layout", 3*time.Second, func(screen string) bool {
		lines := strings.Split(strings.TrimRight(screen, "\n"), "\n")
		return len(lines) <= 24 && strings.Contains(screen, "Watchlist") && strings.Contains(screen, "1m 5m 15m") &&
			strings.Contains(screen, "live") && !strings.Contains(screen, "─ Redis ─")
	})
	for i, l := range strings.Split(compact, "\n") {
		if w := len([]rune(l)); w > 80 {
			t.Fatalf("compact line %d is %d wide", i, w)
		}
	}

	s.run("send-keys", "-t", s.name, "q")
	quit := time.Now()
	s.waitExit(rc, 3*time.Second)
	took := time.Since(quit)
	// The terminal is restored: main screen, no mouse reporting, cursor shown.
	modes := strings.TrimSpace(s.run("display", "-p", "-t", s.name, "#{alternate_on} #{mouse_any_flag} #{cursor_flag}"))
	if modes != "0 0 1" {
		t.Fatalf("terminal not restored: alternate, mouse, cursor = %s", modes)
	}
	if took > time.Second {
		t.Fatalf("quit took %v, want within a second", took)
	}
	t.Logf("quit in %v; after exit:\n%s", took.Round(time.Millisecond), s.capture())
}

// seedQuFLX fills a server as a QuFLX deployment of n assets would look: buffers of 500
// ticks and five cache keys of 200 candles per asset, and a flusher status.
func seedQuFLX(t testing.TB, addr string, n int, fresh bool) {
	// Dial: a cluster node's address reaches the whole cluster.
	c, err := redisdata.Dial(context.Background(), redisdata.Options{Addr: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	now := time.Now()
	candles := make([]model.Candle, 200)
	for i := range candles {
		candles[i] = model.Candle{Start: now.Unix()/60*60 - int64(200-i)*60, Open: 1.08231, High: 1.08259, Low: 1.08211, Close: 1.08241, Volume: 31}
	}
	js := string(model.AppendCandlesJSON(nil, candles))
	pipe := c.Pipeline()
	for a := range n {
		asset := fmt.Sprintf("ASSET%03d_otc", a)
		vals := make([]any, 500)
		for i := range vals {
			vals[i] = string(redisdata.AppendPayload(nil, model.Tick{Asset: asset, Price: 1.08 + float64(i)/1e5,
				UnixMicro: now.Add(-time.Duration(500-i) * time.Millisecond).UnixMicro()}))
		}
		pipe.RPush(ctx, "ticks:"+asset, vals...)
		for _, tf := range []string{"1m", "5m", "15m", "1h", "4h"} {
			pipe.SetEx(ctx, "historical:"+asset+":"+tf, js, time.Hour)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if fresh {
		st := redisdata.FlusherStatus{State: "idle", Store: "sqlite:quflx.db", Heartbeat: now, StartedAt: now}
		if err := redisdata.PublishFlusherStatus(ctx, c, redisdata.DefaultFlusherStatusKey, st, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
}

// BenchmarkStatusProcess runs `quflx-tui status --json` as a process against 100 assets
// and 500 cache keys: wall time including process start.
func BenchmarkStatusProcess(b *testing.B) {
	srv := redistest.Real(b)
	seedQuFLX(b, srv.Addr, 100, true)
	var ms []float64
	for b.Loop() {
		start := time.Now()
		cmd := exec.Command(binary, "status", "--json", "-h", "127.0.0.1", "-p", strconv.Itoa(srv.Port))
		cmd.Env = cleanEnv()
		out, err := cmd.Output()
		if err != nil {
			b.Fatalf("status: %v\n%s", err, out)
		}
		ms = append(ms, float64(time.Since(start).Microseconds())/1000)
		if !strings.Contains(string(out), `"status":"healthy"`) || strings.Count(string(out), `"asset":`) < 100 {
			b.Fatalf("unexpected report %.300s", out)
		}
	}
	slices.Sort(ms)
	b.ReportMetric(ms[len(ms)/2], "ms/status(p50)")
	b.ReportMetric(ms[len(ms)-1], "ms/status(max)")
}

// status as a health check: one exit status for each state, against a real server.
func TestStatusExitCodes(t *testing.T) {
	srv := redistest.Real(t)
	port := strconv.Itoa(srv.Port)
	conn := []string{"-h", "127.0.0.1", "-p", port}
	status := func(extra ...string) (map[string]any, int) {
		t.Helper()
		out, errOut, code := run(t, nil, append(append([]string{"status", "--json"}, conn...), extra...)...)
		var report map[string]any
		if err := json.Unmarshal([]byte(out), &report); err != nil {
			t.Fatalf("status --json printed %q (stderr %q): %v", out, errOut, err)
		}
		return report, code
	}
	reasons := func(r map[string]any) string { return fmt.Sprint(r["health"].(map[string]any)["reasons"]) }

	seedQuFLX(t, srv.Addr, 3, true)
	r, code := status()
	if code != 0 || r["health"].(map[string]any)["status"] != "healthy" {
		t.Fatalf("healthy: exit %d, %s", code, reasons(r))
	}
	for _, key := range []string{"server", "buffers", "caches", "flusher", "health", "hit_rates"} {
		if _, ok := r[key]; !ok {
			t.Fatalf("report lacks %q", key)
		}
	}
	b := r["buffers"].([]any)[0].(map[string]any)
	for _, key := range []string{"asset", "key", "size", "capacity", "last_price", "last_timestamp"} {
		if _, ok := b[key]; !ok {
			t.Fatalf("buffer lacks %q: %v", key, b)
		}
	}
	c := r["caches"].([]any)[0].(map[string]any)
	for _, key := range []string{"key", "asset", "timeframe", "ttl_seconds", "candles", "state"} {
		if _, ok := c[key]; !ok {
			t.Fatalf("cache lacks %q: %v", key, c)
		}
	}
	if c["candles"].(float64) != 200 || c["state"] != "fresh" {
		t.Fatalf("cache %v", c)
	}

	// A buffer above 90% of its cap: degraded, and the threshold is a flag.
	w, _ := redisdata.NewClient(redisdata.Options{Addr: srv.Addr})
	defer w.Close()
	ctx := context.Background()
	for range 450 {
		w.RPush(ctx, "ticks:ASSET000_otc", `{"price":1.1,"timestamp":`+strconv.FormatInt(time.Now().Unix(), 10)+`}`)
	}
	r, code = status()
	if code != 1 || !strings.Contains(reasons(r), "ticks:ASSET000_otc at 95%") {
		t.Fatalf("full buffer: exit %d, %s", code, reasons(r))
	}
	if _, code = status("--max-fill", "0.99"); code != 0 {
		t.Fatalf("--max-fill 0.99: exit %d", code)
	}
	// A stale feed.
	if r, code = status("--max-fill", "0.99", "--stale", "1ms"); code != 1 || !strings.Contains(reasons(r), "stale") {
		t.Fatalf("stale: exit %d, %s", code, reasons(r))
	}
	// An expired cache key.
	w.Del(ctx, "historical:ASSET001_otc:5m")
	if r, code = status("--max-fill", "0.99"); code != 1 || !strings.Contains(reasons(r), "ASSET001_otc 5m expired or missing") {
		t.Fatalf("expired cache: exit %d, %s", code, reasons(r))
	}
	// A flusher without a heartbeat.
	w.Del(ctx, redisdata.DefaultFlusherStatusKey)
	r, code = status("--max-fill", "0.99")
	if code != 1 || !strings.Contains(reasons(r), "no flusher heartbeat") || r["flusher"] != nil {
		t.Fatalf("no flusher: exit %d, %s", code, reasons(r))
	}

	// The aligned text says the same.
	out, _, code := run(t, nil, append([]string{"status", "--max-fill", "0.99"}, conn...)...)
	if code != 1 || !strings.Contains(out, "DEGRADED") || !strings.Contains(out, "BUFFER") || !strings.Contains(out, "ticks:ASSET002_otc") {
		t.Fatalf("text status: exit %d\n%s", code, out)
	}

	// Unreachable: 2, with the reason.
	srv.Kill()
	r, code = status()
	if code != 2 || r["health"].(map[string]any)["status"] != "down" || !strings.Contains(reasons(r), "refused") {
		t.Fatalf("down: exit %d, %v", code, r["health"])
	}
	// Misconfigured: 2.
	if _, _, code = run(t, nil, "status", "--max-fill", "7"); code != 2 {
		t.Fatalf("bad threshold: exit %d", code)
	}
}

func TestStatusWatchRepeats(t *testing.T) {
	srv := redistest.Real(t)
	seedQuFLX(t, srv.Addr, 2, true)
	cmd, out, _ := startCmd(t, nil, "status", "--json", "--watch", "200ms", "-h", "127.0.0.1", "-p", strconv.Itoa(srv.Port))
	time.Sleep(time.Second)
	_ = cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if err != nil || len(lines) < 3 {
		t.Fatalf("--watch: %v, %d reports", err, len(lines))
	}
	for _, l := range lines {
		var r map[string]any
		if json.Unmarshal([]byte(l), &r) != nil || r["schema"].(float64) != 1 {
			t.Fatalf("not a report: %q", l)
		}
	}
}

// The MCP server as a real subprocess over stdio, spoken to by the SDK's client.
func TestMCPOverStdio(t *testing.T) {
	srv := redistest.Real(t)
	seedQuFLX(t, srv.Addr, 3, true)
	ctx := context.Background()
	connect := func(extra ...string) *sdk.ClientSession {
		cmd := exec.Command(binary, append([]string{"mcp", "--redis", "redis://" + srv.Addr}, extra...)...)
		cmd.Env = cleanEnv()
		var stderr syncBuffer
		cmd.Stderr = &stderr
		client := sdk.NewClient(&sdk.Implementation{Name: "quflx-test", Version: "1"}, nil)
		cs, err := client.Connect(ctx, &sdk.CommandTransport{Command: cmd}, nil)
		if err != nil {
			t.Fatalf("connect: %v\n%s", err, stderr.String())
		}
		t.Cleanup(func() { cs.Close() })
		return cs
	}
	cs := connect()
	tools, err := cs.ListTools(ctx, nil)
	if err != nil || len(tools.Tools) != 9 {
		t.Fatalf("tools: %v, %d", err, len(tools.Tools))
	}
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "quflx_monitor_buffers", Arguments: map[string]any{}})
	if err != nil || res.IsError {
		t.Fatalf("monitor: %v %+v", err, res)
	}
	b, _ := json.Marshal(res.StructuredContent)
	if !strings.Contains(string(b), `"count":3`) || !strings.Contains(string(b), `"capacity":1000`) {
		t.Fatalf("monitor result %s", b)
	}
	if res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "redis_set", Arguments: map[string]any{"key": "k", "value": "v"}}); err == nil && !res.IsError {
		t.Fatal("redis_set served without --allow-writes")
	}
	rw := connect("--allow-writes")
	res, err = rw.CallTool(ctx, &sdk.CallToolParams{Name: "redis_set", Arguments: map[string]any{"key": "k", "value": "v", "ttl": 30}})
	if err != nil || res.IsError {
		t.Fatalf("redis_set with --allow-writes: %v %+v", err, res)
	}
	res, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "redis_get", Arguments: map[string]any{"key": "k"}})
	if err != nil || res.IsError {
		t.Fatalf("redis_get: %v", err)
	}
	if b, _ := json.Marshal(res.StructuredContent); !strings.Contains(string(b), `"value":"v"`) {
		t.Fatalf("redis_get %s", b)
	}
}
