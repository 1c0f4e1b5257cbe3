package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quflx/quflx-tui/cli"
	"github.com/quflx/quflx-tui/redisdata/redistest"
)

// The store is locked while a feed runs: the flusher claims up to --max-backlog entries
// and then stops, so that Redis's memory is not the next thing to fail, and says so
// where operators look: `status` is degraded with the flusher's own words ("backlog
// full: store down since ..."). When the store comes back everything held is written,
// and what the producers' trim threw away meanwhile is counted, not silent.
func TestBacklogCeilingIsShownAndLossIsCounted(t *testing.T) {
	srv := redistest.Real(t)
	conn := []string{"-h", "127.0.0.1", "-p", strconv.Itoa(srv.Port)}
	path := filepath.Join(t.TempDir(), "quflx.db")
	dsn := "sqlite:" + path
	// The store exists before it is locked.
	if _, stderr, code := run(t, nil, append([]string{"flush", "--store", dsn, "--duration", "100ms"}, conn...)...); code != 0 {
		t.Fatalf("create the store: %s", stderr)
	}
	ctx := context.Background()
	locker, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close()
	lock, err := locker.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}

	fl, flOut, flErr := startCmd(t, nil, append([]string{"flush", "--store", dsn, "--max-backlog", "2000",
		"--high-water", "200", "--flush-interval", "300ms", "--json"}, conn...)...)
	feed, feedOut, _ := startCmd(t, nil, append([]string{"feed", "--assets", "2", "--rate", "1000",
		"--count", "12000", "--bursts=false", "--json"}, conn...)...)

	var report struct {
		Flusher struct {
			State       string `json:"state"`
			BacklogFull bool   `json:"backlog_full"`
			InFlight    int64  `json:"in_flight"`
			Problem     string `json:"problem"`
		} `json:"flusher"`
		Health struct {
			Status  string   `json:"status"`
			Reasons []string `json:"reasons"`
		} `json:"health"`
	}
	var code int
	var text string
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, _, c := run(t, nil, append([]string{"status", "--json"}, conn...)...)
		_ = json.Unmarshal([]byte(out), &report)
		if strings.HasPrefix(report.Flusher.Problem, "backlog full: store down since") {
			code = c
			text, _, _ = run(t, nil, append([]string{"status"}, conn...)...)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no backlog-full status after 20s; last report %s\nflusher: %s", out, flErr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code != 1 || report.Health.Status != "degraded" || report.Flusher.State != "backlog-full" ||
		!report.Flusher.BacklogFull || report.Flusher.InFlight < 2000 {
		t.Fatalf("status exit %d, report %+v", code, report)
	}
	reasonShown := false
	for _, r := range report.Health.Reasons {
		reasonShown = reasonShown || strings.HasPrefix(r, "flusher: backlog full: store down since")
	}
	if !reasonShown || !strings.Contains(text, "backlog full: store down since") {
		t.Fatalf("reasons %q; text:\n%s", report.Health.Reasons, text)
	}

	if err := feed.Wait(); err != nil {
		t.Fatalf("feed: %v", err)
	}
	var fed cli.Summary
	if err := json.Unmarshal([]byte(feedOut.String()), &fed); err != nil {
		t.Fatal(err)
	}
	if _, err := lock.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	lock.Close()
	time.Sleep(3 * time.Second) // the writer's retry, then the interval's claims
	_ = fl.Process.Signal(syscall.SIGTERM)
	if err := fl.Wait(); err != nil {
		t.Fatalf("flush: %v\n%s", err, flErr.String())
	}
	var flushed cli.Summary
	if err := json.Unmarshal([]byte(flOut.String()), &flushed); err != nil {
		t.Fatalf("flush summary %q: %v", flOut.String(), err)
	}
	stored := int64(len(storedTicks(t, path)))
	if flushed.LostToTrim == 0 || stored != flushed.Flushed || stored+flushed.LostToTrim < fed.Produced*95/100 ||
		stored+flushed.LostToTrim > fed.Produced {
		t.Fatalf("produced %d, stored %d, counted lost to trim %d", fed.Produced, stored, flushed.LostToTrim)
	}
	t.Logf("store locked, --max-backlog 2000: status said %q; afterwards produced %d, stored %d, counted lost to the trim %d",
		report.Flusher.Problem, fed.Produced, stored, flushed.LostToTrim)
}
