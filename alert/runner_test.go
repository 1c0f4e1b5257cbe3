package alert

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/quflx/quflx-tui/model"
)

func priceIs(p float64) func(string) (float64, bool) {
	return func(string) (float64, bool) { return p, true }
}

func waitFor(t *testing.T, what string, limit time.Duration, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !ok(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, limit)
		}
	}
}

// recorder is a command that appends what it reads on stdin to a file.
func recorder(t *testing.T) (command, file string) {
	file = filepath.Join(t.TempDir(), "received")
	return "cat >> " + file, file
}

func received(t *testing.T, file string) []Notification {
	b, _ := os.ReadFile(file)
	var out []Notification
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		var n Notification
		if err := json.Unmarshal([]byte(line), &n); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		out = append(out, n)
	}
	return out
}

// The command reads one JSON object per transition, with every field the issue names.
func TestExecReceivesEachTransition(t *testing.T) {
	cmd, file := recorder(t)
	r := NewRunner(Options{Prices: []model.PriceRule{{Asset: "EURUSD_otc", Above: true, Level: 1.09, Text: "EURUSD_otc>1.09"}},
		Exec: ExecOptions{Command: cmd}})
	r.exec.start()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	r.Observe(now, model.AlertInput{Price: priceIs(1.0912)})
	r.Observe(now.Add(time.Second), model.AlertInput{Price: priceIs(1.0912)}) // still above: nothing new
	r.Observe(now.Add(2*time.Second), model.AlertInput{Price: priceIs(1.0899)})
	r.Close(5 * time.Second)
	got := received(t, file)
	if len(got) != 2 {
		t.Fatalf("%d notifications: %+v", len(got), got)
	}
	f, res := got[0], got[1]
	if f.State != "firing" || f.Rule != "price_above" || *f.Asset != "EURUSD_otc" || *f.Value != 1.0912 ||
		*f.Threshold != 1.09 || f.At != "2026-11-26T12:00:00Z" || !strings.Contains(f.Reason, "above 1.09") {
		t.Fatalf("firing: %+v", f)
	}
	if f.Subject != "EURUSD_otc>1.09" {
		t.Fatalf("subject %q", f.Subject)
	}
	if res.State != "resolved" || *res.Value != 1.0899 || res.At != "2026-11-26T12:00:02Z" {
		t.Fatalf("resolved: %+v", res)
	}
	st := r.State()
	if len(st.Events) != 2 || st.Events[0].Kind != KindFiring || st.Events[1].Kind != KindResolved || r.FiringCount() != 0 {
		t.Fatalf("%+v", st)
	}
}

// A failing command and one that times out are events, with the exit code and the first
// line of stderr.
func TestExecFailuresAreEvents(t *testing.T) {
	for _, c := range []struct {
		command, want string
		timeout       time.Duration
	}{
		{"echo; echo 'webhook refused: 403' >&2; echo more >&2; exit 3", "exit 3: webhook refused: 403 (firing price_above)", 0},
		{"sleep 30", "timed out after 300ms (firing price_above)", 300 * time.Millisecond},
	} {
		r := NewRunner(Options{Prices: []model.PriceRule{{Asset: "A", Above: true, Level: 1, Text: "A>1"}},
			Exec: ExecOptions{Command: c.command, Timeout: c.timeout}})
		r.exec.start()
		start := time.Now()
		r.Observe(start, model.AlertInput{Price: priceIs(2)})
		waitFor(t, "the failure", 5*time.Second, func() bool { return r.State().ExecFailed == 1 })
		if c.timeout > 0 && time.Since(start) > 3*time.Second {
			t.Fatalf("the timed-out command was waited for %v: its process group was not killed", time.Since(start))
		}
		st := r.State()
		if last := st.Events[len(st.Events)-1]; last.Kind != KindExec || last.Text != c.want {
			t.Fatalf("%q, want %q", last.Text, c.want)
		}
		r.Close(time.Second)
	}
}

// A slow command never makes Observe wait: what does not fit the queue is counted and
// said once.
func TestExecQueueOverflowIsCountedNotWaitedFor(t *testing.T) {
	r := NewRunner(Options{Prices: []model.PriceRule{{Asset: "A", Above: true, Level: 1, Text: "A>1"}},
		Exec: ExecOptions{Command: "sleep 10", Queue: 2}})
	r.exec.start()
	now := time.Now()
	start := time.Now()
	for i := range 20 { // 20 transitions: fire, resolve, fire...
		p := 2.0
		if i%2 == 1 {
			p = 0
		}
		r.Observe(now.Add(time.Duration(i)*time.Second), model.AlertInput{Price: priceIs(p)})
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("20 transitions took %v with a command that sleeps", took)
	}
	st := r.State()
	// One running, two queued: 17 dropped (or 18 if the worker had not yet taken one).
	if st.ExecDropped < 17 || st.ExecDropped > 18 {
		t.Fatalf("%d dropped", st.ExecDropped)
	}
	n := 0
	for _, e := range st.Events {
		if e.Kind == KindExec && strings.Contains(e.Text, "queue full") {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d queue-full events, want one for the burst", n)
	}
	closing := time.Now()
	r.Close(200 * time.Millisecond)
	if took := time.Since(closing); took > 3*time.Second {
		t.Fatalf("Close took %v", took)
	}
}

func TestNotifierEnvDropsRedisCredentials(t *testing.T) {
	env := NotifierEnv([]string{"PATH=/bin", "REDIS_PASSWORD=hunter2", "REDIS_URL=redis://:pw@h:1", "REDISCLI_AUTH=x",
		"REDIS_USERNAME=u", "REDIS_HOST=h", "SENTINEL_PASSWORD=s", "QUFLX_SENTINEL_PASSWORD=s", "SLACK_TOKEN=keep",
		"WEBHOOK_URL=https://hooks/x", "PGPASSWORD=pg", "DATABASE_URL=postgres://u:p@h/db"})
	want := []string{"PATH=/bin", "REDIS_HOST=h", "SLACK_TOKEN=keep", "WEBHOOK_URL=https://hooks/x"}
	if !slices.Equal(env, want) {
		t.Fatalf("%v", env)
	}
}

// A resolution reads as its firing did, said once: a finding whose subject is its whole
// text (a missing cache) used to show that text twice, "cache_missing cache of A 1m
// expired or missing: cleared: cache of A 1m expired or missing".
func TestDescribeSaysTheSubjectOnce(t *testing.T) {
	text := "cache of A 1m expired or missing"
	fired := model.Alert{Rule: model.FindingCacheMissing, Subject: text, Reason: text}
	cleared := fired
	cleared.Reason = "cleared: " + text
	for _, tr := range []model.AlertTransition{
		{State: model.AlertFiring, Alert: fired},
		{State: model.AlertResolved, Alert: cleared},
	} {
		if got := Describe(tr); strings.Count(got, text) != 1 {
			t.Errorf("%s: %q", tr.State, got)
		}
	}
	stale := model.Alert{Rule: model.FindingFeedStale, Subject: "EURUSD_otc", Asset: "EURUSD_otc",
		Reason: "feed EURUSD_otc stale: last tick 1m2s ago"}
	if got, want := Describe(model.AlertTransition{State: model.AlertFiring, Alert: stale}),
		"feed_stale EURUSD_otc: feed EURUSD_otc stale: last tick 1m2s ago"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
