package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/quflx/quflx-tui/redisdata/redistest"
)

// rssMB reads a process's resident memory from /proc.
func rssMB(t *testing.T, pid int) float64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("process %d is gone: %v", pid, err)
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.Fields(rest)[0])
			return float64(kb) / 1024
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// commandCalls reads how often the server ran a command.
func commandCalls(t *testing.T, c *redis.Client, cmd string) int64 {
	t.Helper()
	info := c.Info(context.Background(), "commandstats").Val()
	for line := range strings.Lines(info) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_"+cmd+":calls="); ok {
			n, _ := strconv.ParseInt(rest[:strings.IndexByte(rest, ',')], 10, 64)
			return n
		}
	}
	return 0
}

// Anyone who can PUBLISH can send anything: 20,000 junk channel and asset names, escape
// sequences in names and payloads (a window title, clear screen, the 8-bit CSI), 1 MB
// payloads, binary garbage. With the dashboard (in a real terminal) and a flusher
// watching, both stay up with bounded memory, nothing reaches the terminal as control,
// the flusher's LLEN polling does not grow with the junk, and the real feed is still
// flushed and shown.
func TestAHostilePublisherCannotHurtTheOperator(t *testing.T) {
	srv := redistest.Real(t)
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, PoolSize: 8})
	defer c.Close()
	url := "redis://" + srv.Addr
	dir := t.TempDir()
	feed, _, _ := startCmd(t, nil, "feed", "--redis", url, "--assets", "3", "--rate", "20", "--duration", "40s")
	defer func() { _ = feed.Process.Kill(); _ = feed.Wait() }()
	// What the flusher does with junk names happens once per interval: a short one here,
	// so that the window below spans three.
	fl, _, flErr := startCmd(t, nil, "flush", "--redis", url, "--store", "sqlite:"+filepath.Join(dir, "q.db"),
		"--flush-interval", "5s")
	defer func() { _ = fl.Process.Signal(syscall.SIGTERM); _ = fl.Wait() }()
	tm := newTmux(t, 120, 40, binary+" --redis "+url)
	tm.waitFor("the dashboard with the real feed", 15*time.Second, func(s string) bool {
		return strings.Contains(s, "EURUSD_otc") && strings.Contains(s, "live")
	})
	dashPID, _ := strconv.Atoi(strings.TrimSpace(tm.run("display", "-p", "-t", tm.name, "#{pane_pid}")))
	title := strings.TrimSpace(tm.run("display", "-p", "-t", tm.name, "#{pane_title}"))
	rssBefore := rssMB(t, dashPID)
	llen0, eval0 := commandCalls(t, c, "llen"), commandCalls(t, c, "evalsha")+commandCalls(t, c, "eval")

	rng := rand.New(rand.NewPCG(1, 2))
	nasty := []string{
		"\x1b]0;pwned\x07EURUSD_otc", "\x1b[2J\x1b[H", "\u009b31mC1-CSI", "tab\tname", "bidi\u202emoc.evil",
		"\x1b[?1049l", "\x1bP+q\x1b\\",
	}
	big := strings.Repeat("\x1b[2J", 1<<18) // 1 MB of clear-screens
	start := time.Now()
	const junk = 20_000
	pipe := c.Pipeline()
	for i := range junk {
		ch := fmt.Sprintf("updates:junk%d", i)
		switch i % 10 {
		case 0: // an asset name in the payload that is an escape sequence
			pipe.Publish(ctx, ch, fmt.Sprintf(`{"asset":%q,"price":1.5,"timestamp":%d}`, nasty[rng.IntN(len(nasty))], time.Now().Unix()))
		case 1: // a channel name that is one
			pipe.Publish(ctx, "updates:"+nasty[rng.IntN(len(nasty))]+strconv.Itoa(i), `{"price":1.5,"timestamp":1752960407}`)
		case 2: // binary garbage
			b := make([]byte, 64)
			for j := range b {
				b[j] = byte(rng.IntN(256))
			}
			pipe.Publish(ctx, ch, string(b))
		case 3: // a payload full of escape sequences
			pipe.Publish(ctx, ch, `{"asset":"X","price":"\u001b]0;pwned\u0007","timestamp":1}`+nasty[rng.IntN(len(nasty))])
		default: // a plausible junk name with a good tick
			pipe.Publish(ctx, ch, fmt.Sprintf(`{"price":1.%d,"timestamp":%d}`, i, time.Now().Unix()))
		}
		if i%1000 == 999 {
			pipe.Publish(ctx, "updates:EURUSD_otc", big)
			if _, err := pipe.Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	flood := time.Since(start)
	// Each junk name that got a place among the counted ones (at most --max-assets) or
	// among the remembered candidates (at most 100 an interval) is tried once by a claim
	// (an LLEN inside the script) at an interval, then forgotten. The polls of buffers
	// are those of the real feed's. The first flusher polled every junk name for good.
	time.Sleep(16 * time.Second)
	window := time.Since(start).Seconds()
	llens := commandCalls(t, c, "llen") - llen0
	evals := commandCalls(t, c, "evalsha") + commandCalls(t, c, "eval") - eval0

	screen := tm.capture()
	for _, bad := range []string{"\x1b", "\u009b", "\u202e"} {
		if strings.Contains(screen, bad) {
			t.Fatalf("a control character reached the screen:\n%s", screen)
		}
	}
	if now := strings.TrimSpace(tm.run("display", "-p", "-t", tm.name, "#{pane_title}")); now != title || strings.Contains(now, "pwned") {
		t.Fatalf("the window title was changed by a payload: %q (was %q)", now, title)
	}
	if !strings.Contains(screen, "EURUSD_otc") || !strings.Contains(screen, "live") || !strings.Contains(screen, "not admitted") {
		t.Fatalf("the dashboard no longer shows the real feed and the count of refused names:\n%s", screen)
	}
	dashRSS, flRSS := rssMB(t, dashPID), rssMB(t, fl.Process.Pid)
	if dashRSS > 250 || flRSS > 250 {
		t.Fatalf("resident memory after the flood: dashboard %.0f MB, flusher %.0f MB", dashRSS, flRSS)
	}
	if llens > 5000 {
		t.Fatalf("%d LLEN in %.0f s after %d junk names: polling grows with junk", llens, window, junk)
	}
	// Both still work: the dashboard answers keys, and the flusher still flushes the feed.
	tm.run("send-keys", "-t", tm.name, "?")
	tm.waitFor("the help, answering keys after the flood", 5*time.Second, func(s string) bool { return strings.Contains(s, "filter") })
	if fl.ProcessState != nil {
		t.Fatalf("the flusher exited:\n%s", flErr.String())
	}
	t.Logf("%d junk names, escape sequences and twenty 1 MB payloads published in %v: dashboard RSS %.0f MB (%.0f before), flusher %.0f MB; "+
		"over %.0f s (three flush intervals) %d LLEN (%.0f/s, claim scripts' included) and %d claim scripts",
		junk, flood.Round(time.Millisecond), dashRSS, rssBefore, flRSS, window, llens, float64(llens)/window, evals)
}
