package main

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/quflx/quflx-tui/metrics/metricstest"
	"github.com/quflx/quflx-tui/redisdata/redistest"
)

// metricsAddr waits for a mode's "metrics at http://ADDR/metrics" line and returns ADDR.
func metricsAddr(t *testing.T, errOut *syncBuffer) string {
	t.Helper()
	re := regexp.MustCompile(`metrics at http://(\S+)/metrics`)
	waitOutput(t, errOut, "/metrics", 10*time.Second)
	m := re.FindStringSubmatch(errOut.String())
	if m == nil {
		t.Fatalf("no metrics address in:\n%s", errOut.String())
	}
	return m[1]
}

// waitMetric scrapes addr until ok holds of the exposition, and returns it.
func waitMetric(t *testing.T, addr, what string, limit time.Duration, ok func(exposition string) bool) string {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		text := metricstest.Scrape(t, addr)
		if ok(text) {
			return text
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; last scrape:\n%s", what, limit, text)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The three modes an operator scrapes, against a real Redis: the monitor (--no-ui)
// counts every tick the feed wrote, per asset, and its firing alerts; the feed counts what
// it wrote; the flusher counts the rows it committed, times its flushes and store writes,
// and its backlog drains to zero. Every exposition passes promtool's linter.
func TestMetricsOfMonitorFeedAndFlush(t *testing.T) {
	srv := redistest.Real(t)
	port := strconv.Itoa(srv.Port)
	conn := []string{"-h", "127.0.0.1", "-p", port}
	assets := "EURUSD_otc,GBPUSD_otc"

	mon, _, monErr := startCmd(t, nil, append(conn, "--no-ui", "--poll", "200ms", "--assets", assets,
		"--alert-price", "EURUSD_otc>0", "--alert-hold", "0s", "--metrics", "127.0.0.1:0")...)
	monAddr := metricsAddr(t, monErr)
	waitMetric(t, monAddr, "monitor subscribed", 10*time.Second, func(x string) bool {
		v, _ := metricstest.Value(x, "quflx_subscriber_connected")
		return v == 1
	})

	store := "sqlite:" + filepath.Join(t.TempDir(), "ticks.db")
	flush, _, flushErr := startCmd(t, nil, append(conn, "flush", "--store", store, "--flush-interval", "300ms",
		"--assets", assets, "--metrics", "127.0.0.1:0")...)
	flushAddr := metricsAddr(t, flushErr)

	feed, feedOut, feedErr := startCmd(t, nil, append(conn, "feed", "--assets", assets, "--rate", "100",
		"--duration", "3s", "--json", "--metrics", "127.0.0.1:0")...)
	feedAddr := metricsAddr(t, feedErr)
	feedText := waitMetric(t, feedAddr, "feed counting", 10*time.Second, func(x string) bool {
		v, _ := metricstest.Value(x, "quflx_feed_ticks_total")
		return v > 0
	})
	if err := feed.Wait(); err != nil {
		t.Fatalf("feed: %v\n%s", err, feedErr.String())
	}
	var summary struct{ Produced int64 }
	if err := json.Unmarshal([]byte(feedOut.String()), &summary); err != nil || summary.Produced == 0 {
		t.Fatalf("feed summary %q: %v", feedOut.String(), err)
	}
	fed := float64(summary.Produced)

	// The monitor counted each tick once, under its asset.
	monText := waitMetric(t, monAddr, "monitor counts every tick fed", 10*time.Second, func(x string) bool {
		return metricstest.Sum(x, "quflx_ticks_received_total") == fed
	})
	for _, a := range []string{"EURUSD_otc", "GBPUSD_otc"} {
		if v, ok := metricstest.Value(monText, `quflx_ticks_received_total{asset="`+a+`"}`); !ok || v == 0 {
			t.Errorf("no ticks counted for %s:\n%s", a, monText)
		}
		if v, ok := metricstest.Value(monText, `quflx_buffer_capacity_entries{asset="`+a+`"}`); !ok || v != 1000 {
			t.Errorf("buffer of %s: capacity %v %v", a, v, ok)
		}
	}
	for _, zero := range []string{"quflx_decode_errors_total", "quflx_ticks_dropped_total"} {
		if v, ok := metricstest.Value(monText, zero); !ok || v != 0 {
			t.Errorf("%s = %v (present %v)", zero, v, ok)
		}
	}
	if v, _ := metricstest.Value(monText, "quflx_redis_up"); v != 1 {
		t.Errorf("quflx_redis_up = %v", v)
	}
	// The price rule fires once the asset has a price (the health rules may add theirs).
	if v, _ := metricstest.Value(monText, "quflx_alerts_firing"); v < 1 {
		t.Errorf("quflx_alerts_firing = %v with EURUSD_otc above 0", v)
	}

	// The flusher committed every tick, timed its flushes and writes, and has no backlog.
	flushText := waitMetric(t, flushAddr, "flusher committed every tick", 15*time.Second, func(x string) bool {
		rows, _ := metricstest.Value(x, "quflx_flusher_rows_total")
		backlog, _ := metricstest.Value(x, "quflx_flusher_backlog_entries")
		return rows == fed && backlog == 0
	})
	for _, positive := range []string{"quflx_flusher_flush_duration_seconds_count",
		`quflx_store_write_duration_seconds_count{result="ok"}`, "quflx_flusher_last_flush_timestamp_seconds"} {
		if v, ok := metricstest.Value(flushText, positive); !ok || v <= 0 {
			t.Errorf("%s = %v (present %v)", positive, v, ok)
		}
	}
	if v, _ := metricstest.Value(flushText, "quflx_flusher_errors_total"); v != 0 {
		t.Errorf("flusher errors %v", v)
	}

	for _, c := range []struct {
		name string
		pid  int
	}{{"monitor", mon.Process.Pid}, {"flush", flush.Process.Pid}} {
		if err := syscall.Kill(c.pid, syscall.SIGTERM); err != nil {
			t.Fatalf("stop %s: %v", c.name, err)
		}
	}
	if err := mon.Wait(); err != nil {
		t.Errorf("monitor: %v", err)
	}
	if err := flush.Wait(); err != nil {
		t.Errorf("flush: %v\n%s", err, flushErr.String())
	}
	for _, text := range []string{monText, feedText, flushText} {
		metricstest.Promtool(t, text)
	}
}
