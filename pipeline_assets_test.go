package main

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quflx/quflx-tui/redisdata"
	"github.com/quflx/quflx-tui/redisdata/redistest"
)

// With flushers draining the buffers at high water, status still sees the pipeline's
// assets (from what each flusher holds and stored) and judges the feed from the newest
// tick anywhere: it was `"buffers": []` and healthy while the feed was dead. Two
// flushers share the work; both are listed, with their sum.
func TestDrainedPipelineKeepsItsAssetsAndGoesStale(t *testing.T) {
	srv := redistest.Real(t)
	conn := []string{"-h", "127.0.0.1", "-p", strconv.Itoa(srv.Port)}
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "quflx.db")
	flushArgs := append([]string{"flush", "--store", dsn, "--high-water", "5", "--flush-interval", "200ms"}, conn...)
	if _, stderr, code := run(t, nil, "migrate", "--store", dsn); code != 0 {
		t.Fatalf("migrate: %s", stderr)
	}
	for range 2 {
		fl, _, flErr := startCmd(t, nil, flushArgs...)
		t.Cleanup(func() {
			_ = fl.Process.Signal(syscall.SIGTERM)
			if err := fl.Wait(); err != nil {
				t.Errorf("flush: %v\n%s", err, flErr.String())
			}
		})
	}
	// QuFLX's own producer shape: 30 ticks/s per asset, three assets.
	feed, _, feedErr := startCmd(t, nil, append([]string{"feed", "--assets", "3", "--rate", "30", "--bursts=false"}, conn...)...)

	status := func() (redisdata.Report, int) {
		out, stderr, code := run(t, nil, append([]string{"status", "--json", "--stale", "2s"}, conn...)...)
		var r redisdata.Report
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("status --json: %v\n%s\n%s", err, out, stderr)
		}
		return r, code
	}
	var live redisdata.Report
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, code := status()
		stored := 0
		for _, a := range r.Assets {
			if a.Stored > 0 {
				stored++
			}
		}
		if code == 0 && len(r.Flushers) == 2 && r.FlushersSum.Alive == 2 && stored == 3 {
			live = r
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no healthy report naming 3 stored assets and 2 flushers in 20s: exit %d, %+v\nfeed: %s", code, r, feedErr.String())
		}
		time.Sleep(300 * time.Millisecond)
	}
	for _, a := range live.Assets {
		if a.LastTimestamp == nil || *a.LastAgeSeconds > 2 || !slices.Contains(a.Sources, "store") {
			t.Errorf("live asset %+v: want a fresh tick the flushers stored", a)
		}
	}
	text, _, _ := run(t, nil, append([]string{"status", "--stale", "2s"}, conn...)...)
	if !strings.Contains(text, "flushers\t") && !strings.Contains(text, "flushers ") || !strings.Contains(text, "2 alive") {
		t.Errorf("text status does not list both flushers:\n%s", text)
	}

	// The producer stops: its buffers stay drained; the feed is stale all the same.
	_ = feed.Process.Signal(syscall.SIGTERM)
	_ = feed.Wait()
	deadline = time.Now().Add(15 * time.Second)
	for {
		r, code := status()
		stale := 0
		for _, reason := range r.Health.Reasons {
			if strings.HasPrefix(reason, "feed ") && strings.Contains(reason, " stale: ") {
				stale++
			}
		}
		if stale == 3 && code == 1 && r.Health.Status == redisdata.Degraded && len(r.Assets) == 3 {
			t.Logf("drained and stopped: %q", r.Health.Reasons)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stopped feed was not judged stale within 15s: exit %d, health %+v, assets %+v", code, r.Health, r.Assets)
		}
		time.Sleep(300 * time.Millisecond)
	}
}
