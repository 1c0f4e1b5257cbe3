package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quflx/quflx-tui/redisdata/redistest"
)

// QuFLX v2 end to end, as an operator runs it: a collector stand-in on a real server,
// status judging health from heartbeats and feeds, the plain monitor and the dashboard on
// market_data.

func TestStatusOfQuFLXv2(t *testing.T) {
	srv := redistest.Real(t)
	v2 := redistest.StartV2(t, srv.Addr, redistest.V2Options{BeatEvery: 300 * time.Millisecond})
	conn := []string{"-h", "127.0.0.1", "-p", strconv.Itoa(srv.Port), "--profile", "quflx-v2"}
	status := func(extra ...string) (map[string]any, int, time.Duration) {
		t.Helper()
		start := time.Now()
		out, errOut, code := run(t, nil, append(append([]string{"status", "--json"}, conn...), extra...)...)
		took := time.Since(start)
		var report map[string]any
		if err := json.Unmarshal([]byte(out), &report); err != nil {
			t.Fatalf("status --json printed %q (stderr %q): %v", out, errOut, err)
		}
		return report, code, took
	}
	health := func(r map[string]any) (string, string) {
		h := r["health"].(map[string]any)
		return h["status"].(string), fmt.Sprint(h["reasons"])
	}

	// The default listening window (6 s): every service heard, healthy, no buffer or
	// flusher missed.
	r, code, took := status()
	if st, why := health(r); code != 0 || st != "healthy" {
		t.Fatalf("live v2: exit %d, %s %s", code, st, why)
	}
	if took < 6*time.Second {
		t.Fatalf("status took %v: it did not listen for the default 6s", took)
	}
	t.Logf("status --profile quflx-v2 --json took %v (6 s of listening)", took.Round(time.Millisecond))
	if r["topology"] != "quflx-v2" || len(r["buffers"].([]any)) != 0 || r["flusher"] != nil {
		t.Fatalf("report: topology %v buffers %v flusher %v", r["topology"], r["buffers"], r["flusher"])
	}
	services := map[string]string{}
	for _, s := range r["services"].([]any) {
		m := s.(map[string]any)
		services[m["service"].(string)] = m["state"].(string)
	}
	if services["collector"] != "connected" || services["scanner"] != "connected" {
		t.Fatalf("services %v", services)
	}
	if len(r["feeds"].([]any)) != 2 || len(r["signals"].([]any)) == 0 || len(r["regimes"].([]any)) != 2 {
		t.Fatalf("feeds %v signals %v regimes %v", r["feeds"], r["signals"], r["regimes"])
	}

	// The collector says it is disconnected: degraded, exit 1, saying so.
	v2.SetStatus("collector", "disconnected")
	fast := []string{"--listen", "1500ms", "--heartbeat-stale", "3s"}
	r, code, _ = status(fast...)
	if st, why := health(r); code != 1 || st != "degraded" || !strings.Contains(why, "service collector disconnected (on system_status") {
		t.Fatalf("disconnected collector: exit %d, %s %s", code, st, why)
	}
	// The text says the same, with the services and no buffer table.
	out, _, code := run(t, nil, append(append([]string{"status"}, conn...), fast...)...)
	if code != 1 || !strings.Contains(out, "DEGRADED") || !strings.Contains(lineWith(out, "collector  system_status"), "DISCONNECTED") ||
		!strings.Contains(out, "SERVICE") || strings.Contains(out, "BUFFER") || strings.Contains(out, "flusher") {
		t.Fatalf("text status: exit %d\n%s", code, out)
	}

	// Everything stops: no ticks, no heartbeat.
	v2.Stop()
	r, code, _ = status(fast...)
	if st, why := health(r); code != 1 || !strings.Contains(why, "no ticks on market_data") || !strings.Contains(why, "no service heartbeat") {
		t.Fatalf("stopped: exit %d, %s %s", code, st, why)
	}
	// --expect-services names what must beat.
	r, _, _ = status(append(fast, "--expect-services", "collector")...)
	if _, why := health(r); !strings.Contains(why, "service collector: no heartbeat") {
		t.Fatalf("expected collector: %s", why)
	}
}

// The issue's own command: --channel market_data, which was refused ("has no {asset}").
func TestMonitorOnMarketData(t *testing.T) {
	srv := redistest.Real(t)
	redistest.StartV2(t, srv.Addr, redistest.V2Options{BeatEvery: 300 * time.Millisecond})
	conn := []string{"-h", "127.0.0.1", "-p", strconv.Itoa(srv.Port)}
	// The channel alone: the assets come from the payloads, admitted under --profile
	// quflx-v2 only (no key vouches for them), so v1 counts them as not admitted.
	out, errOut, code := run(t, nil, append(conn, "--no-ui", "--channel", "market_data", "--duration", "2500ms")...)
	if code != 0 || !strings.Contains(out, "not admitted") {
		t.Fatalf("--channel market_data: exit %d\n%s\n%s", code, out, errOut)
	}
	out, errOut, code = run(t, nil, append(conn, "--no-ui", "--profile", "quflx-v2", "--duration", "2500ms")...)
	last := lineWith(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:], "EURUSD")
	if code != 0 || !strings.Contains(last, "EURUSD") || !strings.Contains(last, "GBPUSD") ||
		!strings.Contains(last, "collector connected") || !strings.Contains(last, "scanner connected") || strings.Contains(last, " buf ") {
		t.Fatalf("--profile quflx-v2: exit %d, last line %q\n%s\n%s", code, last, out, errOut)
	}
}

// The dashboard of a QuFLX v2 deployment in a real terminal: assets from market_data,
// services, signals, regimes; no buffer gauge, cache or flusher panel; a service that
// says it is disconnected shows so, and the header says degraded.
func TestDashboardOfQuFLXv2InARealTerminal(t *testing.T) {
	srv := redistest.Real(t)
	v2 := redistest.StartV2(t, srv.Addr, redistest.V2Options{BeatEvery: 300 * time.Millisecond})
	dir := t.TempDir()
	rc := filepath.Join(dir, "rc")
	cmd := fmt.Sprintf("XDG_CACHE_HOME=%s %s -h 127.0.0.1 -p %d --profile quflx-v2 --heartbeat-stale 2s; echo EXIT:$? > %s; sleep 30",
		dir, binary, srv.Port, rc)
	s := newTmux(t, 120, 40, cmd)
	want := []string{"Watchlist", "Regime", "EURUSD", "GBPUSD", "trending", "Services", "collector", "scanner",
		"Signals", "conflu", "READ-ONLY", "healthy"}
	screen := s.waitFor("the v2 panels", 15*time.Second, func(screen string) bool {
		for _, w := range want {
			if !strings.Contains(screen, w) {
				return false
			}
		}
		return true
	})
	for _, absent := range []string{"Buffer", "─ Cache", "Flusher"} {
		if strings.Contains(screen, absent) {
			t.Fatalf("v2 screen shows %q:\n%s", absent, screen)
		}
	}
	v2.SetStatus("collector", "disconnected")
	s.waitFor("collector disconnected, health degraded", 5*time.Second, func(screen string) bool {
		return strings.Contains(lineWith(screen, "● collector"), "disconnected") && strings.Contains(screen, "degraded")
	})
	v2.SetStatus("scanner", "")
	s.waitFor("scanner stale", 6*time.Second, func(screen string) bool {
		return strings.Contains(lineWith(screen, "● scanner"), "stale")
	})
	s.run("send-keys", "-t", s.name, "q")
	s.waitExit(rc, 3*time.Second)
}
