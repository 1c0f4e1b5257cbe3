package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quflx/quflx-tui/alert"
	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata"
	"github.com/quflx/quflx-tui/redisdata/redistest"
)

// testFeed is a QuFLX v1 producer of one asset whose price the test sets: LPUSH + LTRIM
// into the buffer, then PUBLISH, rate times a second while running.
type testFeed struct {
	c       *redisdata.Client
	asset   string
	price   atomic.Uint64 // math.Float64bits
	running atomic.Bool
	last    atomic.Int64 // Unix ns of the last tick written
	n       atomic.Int64
}

func startTestFeed(t *testing.T, addr, asset string, price float64, rate int) *testFeed {
	c, err := redisdata.NewClient(redisdata.Options{Addr: addr})
	if err != nil {
		t.Fatal(err)
	}
	f := &testFeed{c: c, asset: asset}
	f.setPrice(price)
	f.running.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait(); c.Close() })
	wg.Go(func() {
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if !f.running.Load() {
				continue
			}
			now := time.Now()
			payload := string(redisdata.AppendPayload(nil, model.Tick{Asset: asset, Price: f.getPrice(), UnixMicro: now.UnixMicro()}))
			pipe := c.Pipeline()
			pipe.LPush(ctx, "ticks:"+asset, payload)
			pipe.LTrim(ctx, "ticks:"+asset, 0, 999)
			pipe.Publish(ctx, "updates:"+asset, payload)
			if _, err := pipe.Exec(ctx); err == nil {
				f.last.Store(now.UnixNano())
				f.n.Add(1)
			}
		}
	})
	return f
}

func (f *testFeed) setPrice(p float64) { f.price.Store(uint64(int64(p * 1e6))) }
func (f *testFeed) getPrice() float64  { return float64(int64(f.price.Load())) / 1e6 }

// stop stops the feed and returns when its last tick was written.
func (f *testFeed) stop() time.Time {
	f.running.Store(false)
	time.Sleep(300 * time.Millisecond) // a write under way lands
	return time.Unix(0, f.last.Load())
}

// recordedNotifications reads what the --alert-exec script appended.
func recordedNotifications(t *testing.T, file string) []alert.Notification {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []alert.Notification
	for _, line := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var n alert.Notification
		if err := json.Unmarshal([]byte(line), &n); err != nil {
			t.Fatalf("the script received %q: %v", line, err)
		}
		out = append(out, n)
	}
	return out
}

func countOf(ns []alert.Notification, rule, state string) int {
	n := 0
	for _, x := range ns {
		if x.Rule == rule && x.State == state {
			n++
		}
	}
	return n
}

func waitNotification(t *testing.T, file, rule, state string, count int, limit time.Duration) alert.Notification {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ns := recordedNotifications(t, file)
		if countOf(ns, rule, state) >= count {
			seen := 0
			for _, x := range ns {
				if x.Rule == rule && x.State == state {
					if seen++; seen == count {
						return x
					}
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s %s (#%d) within %v; received:\n%+v", rule, state, count, limit, ns)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The alerts end to end on a real server, in --no-ui with the default thresholds (stale
// after 60 s, a hold of 5 s): a price crossing its level fires and resolves once each; a
// feed that stops fires "feed_stale" once, however long it stays stopped, and resolves
// once when it restarts. An --alert-exec script records what it receives. The figure:
// time from the feed's last tick to the stale alert firing.
func TestAlertsFeedStaleAndPriceCrossingNoUI(t *testing.T) {
	srv := redistest.Real(t)
	dir := t.TempDir()
	rec := filepath.Join(dir, "received")
	script := filepath.Join(dir, "notify.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\ncat >> "+rec+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	feed := startTestFeed(t, srv.Addr, "EURUSD_otc", 1.0850, 10)
	cmd, out, errOut := startCmd(t, nil, "-p", strconv.Itoa(srv.Port), "--no-ui",
		"--alert-price", "EURUSD_otc>1.0900", "--alert-exec", script)
	waitOutput(t, out, "EURUSD_otc 1.085", 10*time.Second)

	// A price crossing: above the level for longer than the hold, then back.
	feed.setPrice(1.0912)
	crossed := time.Now()
	f := waitNotification(t, rec, "price_above", "firing", 1, 15*time.Second)
	if *f.Asset != "EURUSD_otc" || *f.Value != 1.0912 || *f.Threshold != 1.09 || f.Subject != "EURUSD_otc>1.0900" {
		t.Fatalf("%+v", f)
	}
	if at, _ := time.Parse(time.RFC3339Nano, f.At); at.Sub(crossed) < 5*time.Second {
		t.Fatalf("fired %v after the crossing, within the 5 s hold", at.Sub(crossed))
	}
	feed.setPrice(1.0850)
	r := waitNotification(t, rec, "price_above", "resolved", 1, 15*time.Second)
	if *r.Value != 1.085 {
		t.Fatalf("%+v", r)
	}

	// The feed stops: stale after 60 s, fired after the 5 s hold, once.
	stopped := feed.stop()
	stale := waitNotification(t, rec, "feed_stale", "firing", 1, 90*time.Second)
	noticed := time.Now()
	at, err := time.Parse(time.RFC3339Nano, stale.At)
	if err != nil {
		t.Fatal(err)
	}
	if *stale.Asset != "EURUSD_otc" || *stale.Threshold != 60 || *stale.Value <= 60 || at.Sub(stopped) < 65*time.Second {
		t.Fatalf("%+v, %v after the last tick", stale, at.Sub(stopped))
	}
	t.Logf("FIGURE feed stopped -> feed_stale fired: %v (notification at), %v (script had it); thresholds: stale 60s, hold 5s, poll 1s",
		at.Sub(stopped).Round(10*time.Millisecond), noticed.Sub(stopped).Round(10*time.Millisecond))
	time.Sleep(8 * time.Second) // still stale, and re-judged every second: nothing new
	if n := countOf(recordedNotifications(t, rec), "feed_stale", "firing"); n != 1 {
		t.Fatalf("feed_stale fired %d times", n)
	}

	// The feed restarts: resolved once.
	feed.running.Store(true)
	restarted := time.Now()
	res := waitNotification(t, rec, "feed_stale", "resolved", 1, 20*time.Second)
	if at, _ := time.Parse(time.RFC3339Nano, res.At); at.Sub(restarted) < 5*time.Second || res.Value != nil {
		t.Fatalf("%+v, %v after the restart", res, at.Sub(restarted))
	}
	time.Sleep(3 * time.Second)
	ns := recordedNotifications(t, rec)
	for _, c := range []struct{ rule, state string }{{"feed_stale", "firing"}, {"feed_stale", "resolved"},
		{"price_above", "firing"}, {"price_above", "resolved"}} {
		if n := countOf(ns, c.rule, c.state); n != 1 {
			t.Fatalf("%s %s %d times: %+v", c.rule, c.state, n, ns)
		}
	}
	_ = cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit %v\n%s", err, errOut.String())
	}
	// --no-ui says the same as lines.
	for _, want := range []string{"ALERT firing price_above EURUSD_otc: EURUSD_otc 1.0912 above 1.09",
		"ALERT resolved price_above", "ALERT firing feed_stale EURUSD_otc: feed EURUSD_otc stale", "ALERT resolved feed_stale"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("no %q in the output:\n%s", want, out.String())
		}
	}
}

// The dashboard in a real terminal: an alert shows in the header; a command that sleeps
// 10 s never holds the screen back (ticks keep being drawn); its failure shows in the
// events panel.
func TestAlertExecNeverBlocksTheDashboard(t *testing.T) {
	srv := redistest.Real(t)
	dir := t.TempDir()
	started, rc := filepath.Join(dir, "started"), filepath.Join(dir, "rc")
	feed := startTestFeed(t, srv.Addr, "EURUSD_otc", 1.0950, 20)
	var moving atomic.Bool
	moving.Store(true)
	go func() { // a price that moves every tick, to see the screen keep up
		for i := 0; moving.Load(); i++ {
			feed.setPrice(1.0950 + float64(i%500)/1e4)
			time.Sleep(50 * time.Millisecond)
		}
	}()
	t.Cleanup(func() { moving.Store(false) })
	command := fmt.Sprintf("echo \"$(date +%%s.%%N)\" >> %s; sleep 10; echo 'notifier down: 503' >&2; exit 7", started)
	s := newTmux(t, 120, 40, fmt.Sprintf("%s -p %d --alert-price 'EURUSD_otc>1.09' --alert-hold 0s --alert-exec-timeout 30s "+
		"--alert-exec %q; echo EXIT:$? > %s; sleep 30", binary, srv.Port, command, rc))
	s.waitFor("the alert in the header", 15*time.Second, func(screen string) bool {
		top := strings.SplitN(screen, "\n", 2)[0]
		return strings.Contains(top, "ALERT") && strings.Contains(screen, "EURUSD_otc")
	})
	waitFile(t, started, 5*time.Second)
	// While the command sleeps, the screen keeps moving: the EURUSD_otc row changes.
	var rows []string
	for range 8 {
		rows = append(rows, watchlistRow(s.capture(), "EURUSD_otc"))
		time.Sleep(500 * time.Millisecond)
	}
	changes := 0
	for i := 1; i < len(rows); i++ {
		if rows[i] != rows[i-1] {
			changes++
		}
	}
	if b, _ := os.ReadFile(started); changes < 5 || strings.Count(string(b), "\n") != 1 {
		t.Fatalf("the row changed %d times in 4 s while the command ran (runs: %q):\n%s", changes, b, strings.Join(rows, "\n"))
	}
	s.waitFor("the command's failure in the events panel", 15*time.Second, func(screen string) bool {
		return strings.Contains(screen, "exit 7: notifier down: 503")
	})
	s.run("send-keys", "-t", s.name, "q")
	s.waitExit(rc, 5*time.Second)
}

func waitFile(t *testing.T, path string, limit time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(limit); ; time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", path, limit)
		}
	}
}

// watchlistRow is asset's row of the watchlist: the header and the chart's title name the
// asset too, the row alone starts with it inside the box.
func watchlistRow(screen, asset string) string {
	for _, l := range strings.Split(screen, "\n") {
		if rest, ok := strings.CutPrefix(l, "│"); ok && strings.HasPrefix(strings.TrimLeft(rest, " >▶*"), asset) {
			return l
		}
	}
	return ""
}
