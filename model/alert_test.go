package model

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var alertT0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return alertT0.Add(time.Duration(s * float64(time.Second))) }

func staleHealth(asset string, age float64) *Health {
	h := JudgeHealth(HealthFacts{Buffers: []BufferFact{{Key: "ticks:" + asset, Asset: asset, Size: 10,
		LastTick: at(0).Add(-time.Duration(age * float64(time.Second)))}}},
		HealthThresholds{NoFlusher: true, Stale: 60 * time.Second}, at(0))
	return &h
}

func healthy() *Health { return &Health{Status: Healthy, Reasons: []string{}} }

func prices(m map[string]float64) func(string) (float64, bool) {
	return func(a string) (float64, bool) { p, ok := m[a]; return p, ok }
}

// A condition that flaps within the hold makes no transition at all; one that holds for
// the hold fires once, however often it is observed.
func TestAlertHoldSuppressesFlaps(t *testing.T) {
	a := NewAlerts(AlertOptions{Hold: 5 * time.Second})
	stale, fine := staleHealth("EURUSD", 61), healthy()
	for i, h := range []*Health{stale, fine, stale, stale, fine, stale, fine} { // never 5 s on end
		if tr := a.Observe(at(float64(i)), AlertInput{Health: h}); len(tr) != 0 {
			t.Fatalf("flap %d made %v", i, tr)
		}
	}
	var fired []AlertTransition
	for s := 10; s <= 30; s++ {
		fired = append(fired, a.Observe(at(float64(s)), AlertInput{Health: stale})...)
	}
	if len(fired) != 1 || fired[0].State != AlertFiring || fired[0].Rule != FindingFeedStale ||
		fired[0].Asset != "EURUSD" || !fired[0].At.Equal(at(15)) {
		t.Fatalf("want one firing at +15s, got %+v", fired)
	}
	if *fired[0].Threshold != 60 || *fired[0].Value < 60 {
		t.Fatalf("value %v threshold %v", *fired[0].Value, *fired[0].Threshold)
	}
	// Healthy for less than the hold, then stale again: still firing, nothing said.
	for s := 31; s <= 34; s++ {
		if tr := a.Observe(at(float64(s)), AlertInput{Health: fine}); len(tr) != 0 {
			t.Fatalf("resolved within the hold: %v", tr)
		}
	}
	if tr := a.Observe(at(35), AlertInput{Health: stale}); len(tr) != 0 {
		t.Fatalf("%v", tr)
	}
	if n := len(a.Firing()); n != 1 {
		t.Fatalf("%d firing", n)
	}
	// Healthy for the hold: resolved once.
	var resolved []AlertTransition
	for s := 36; s <= 50; s++ {
		resolved = append(resolved, a.Observe(at(float64(s)), AlertInput{Health: fine})...)
	}
	if len(resolved) != 1 || resolved[0].State != AlertResolved || !resolved[0].At.Equal(at(41)) ||
		resolved[0].Value != nil || !strings.HasPrefix(resolved[0].Reason, "cleared: feed EURUSD stale") {
		t.Fatalf("want one resolution at +41s, got %+v", resolved)
	}
	if n := len(a.Firing()); n != 0 {
		t.Fatalf("%d firing after resolution", n)
	}
}

// A hold ends at its time even when no new input comes: NextDue says when.
func TestAlertFiresAtNextDueWithoutInput(t *testing.T) {
	a := NewAlerts(AlertOptions{Hold: 5 * time.Second, Prices: []PriceRule{mustRule(t, "EURUSD_otc>1.09")}})
	a.Observe(at(0), AlertInput{Price: prices(map[string]float64{"EURUSD_otc": 1.0901})})
	due := a.NextDue()
	if !due.Equal(at(5)) {
		t.Fatalf("due %v", due)
	}
	if tr := a.Observe(due.Add(-time.Millisecond), AlertInput{}); len(tr) != 0 {
		t.Fatalf("early: %v", tr)
	}
	tr := a.Observe(due, AlertInput{})
	if len(tr) != 1 || tr[0].Rule != RulePriceAbove || *tr[0].Value != 1.0901 || *tr[0].Threshold != 1.09 ||
		tr[0].Reason != "EURUSD_otc 1.0901 above 1.09" {
		t.Fatalf("%+v", tr)
	}
	if !a.NextDue().IsZero() {
		t.Fatal("a hold still under way")
	}
	// Crossing back: resolved with the price now.
	a.Observe(at(6), AlertInput{Price: prices(map[string]float64{"EURUSD_otc": 1.0899})})
	tr = a.Observe(at(11), AlertInput{})
	if len(tr) != 1 || tr[0].State != AlertResolved || *tr[0].Value != 1.0899 ||
		tr[0].Reason != "EURUSD_otc 1.0899 no longer above 1.09" {
		t.Fatalf("%+v", tr)
	}
}

// Transitions of one rule are never closer than the hold, whatever the input does.
func TestAlertTransitionsAtLeastHoldApart(t *testing.T) {
	hold := 3 * time.Second
	a := NewAlerts(AlertOptions{Hold: hold, Prices: []PriceRule{mustRule(t, "X<10")}})
	var last time.Time
	n := 0
	seed := uint64(7)
	for ms := 0; ms < 120_000; ms += 100 {
		seed = seed*6364136223846793005 + 1442695040888963407
		// Below for 7 s, above for 7 s, and so on, with a flick to the other side one
		// sample in sixteen: a noisy level.
		below := (ms/7000)%2 == 0
		if seed>>60 == 0 {
			below = !below
		}
		p := 11.0
		if below {
			p = 9
		}
		for _, tr := range a.Observe(at(float64(ms)/1000), AlertInput{Price: prices(map[string]float64{"X": p})}) {
			if !last.IsZero() && tr.At.Sub(last) < hold {
				t.Fatalf("transitions %v apart", tr.At.Sub(last))
			}
			last = tr.At
			n++
		}
	}
	if n < 4 {
		t.Fatalf("%d transitions: the noisy level hardly moved, the test proves nothing", n)
	}
}

// Zero hold: at once, both ways.
func TestAlertZeroHold(t *testing.T) {
	a := NewAlerts(AlertOptions{})
	if tr := a.Observe(at(0), AlertInput{Health: staleHealth("A", 70)}); len(tr) != 1 || tr[0].State != AlertFiring {
		t.Fatalf("%v", tr)
	}
	if tr := a.Observe(at(1), AlertInput{Health: healthy()}); len(tr) != 1 || tr[0].State != AlertResolved {
		t.Fatalf("%v", tr)
	}
}

// A server that cannot be read fires its own alert and neither fires nor resolves the
// others: unknown is not clear.
func TestAlertDownServerKeepsOtherRules(t *testing.T) {
	a := NewAlerts(AlertOptions{})
	a.Observe(at(0), AlertInput{Health: staleHealth("A", 70)})
	down := DownHealth("127.0.0.1:6379", errors.New("dial tcp: connection refused"))
	tr := a.Observe(at(1), AlertInput{Health: &down})
	if len(tr) != 1 || tr[0].Rule != FindingServerDown || tr[0].State != AlertFiring {
		t.Fatalf("%+v", tr)
	}
	if n := len(a.Firing()); n != 2 {
		t.Fatalf("%d firing, want the stale feed and the server", n)
	}
	if tr := a.Observe(at(2), AlertInput{Health: healthy()}); len(tr) != 2 {
		t.Fatalf("both resolve once the server answers healthy: %+v", tr)
	}
}

// Every finding is a rule, the fallback for reasons without one too; a finding's figure
// changing from poll to poll is the same alert.
func TestAlertRulesAreTheHealthFindings(t *testing.T) {
	now := at(0)
	h := JudgeHealth(HealthFacts{
		Buffers: []BufferFact{{Key: "ticks:A", Asset: "A", Size: 950, LastTick: now.Add(-2 * time.Minute)},
			{Key: "ticks:B", Asset: "B", Err: "WRONGTYPE"}},
		Caches:        []CacheFact{{Key: "historical:A:1m", State: "expired"}},
		MissingCaches: []string{"cache of A 5m expired or missing"},
		Flusher: &FlusherFact{State: "running", Heartbeat: now, Problem: "backlog full: 1000000 entries held",
			BacklogFull: true, Backlog: 1_000_000, MaxBacklog: 1_000_000, LostToTrim: 3},
	}, HealthThresholds{}, now)
	h.Reasons = append(h.Reasons, "service collector silent for 12s") // a judgement that gave only a text
	want := []string{FindingBufferFill, FindingFeedStale, FindingBufferError, FindingCacheExpired,
		FindingCacheMissing, FindingBacklogFull, FindingTrimLoss, FindingUnknown}
	a := NewAlerts(AlertOptions{})
	var got []string
	for _, tr := range a.Observe(now, AlertInput{Health: &h}) {
		got = append(got, tr.Rule)
	}
	for _, w := range want {
		if !strings.Contains(strings.Join(got, " "), w) {
			t.Errorf("no %s alert among %v", w, got)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d alerts %v, want %d", len(got), got, len(want))
	}
	h2 := h
	h2.Reasons = append(h.Reasons[:len(h.Reasons)-1:len(h.Reasons)-1], "service collector silent for 13s")
	if tr := a.Observe(at(1), AlertInput{Health: &h2}); len(tr) != 0 {
		t.Fatalf("the same findings with new figures made %+v", tr)
	}
}

func TestParsePriceRule(t *testing.T) {
	r, err := ParsePriceRule(" EURUSD_otc > 1.0900 ")
	if err != nil || r.Asset != "EURUSD_otc" || !r.Above || r.Level != 1.09 || r.Text != "EURUSD_otc>1.0900" {
		t.Fatalf("%+v %v", r, err)
	}
	if r, err := ParsePriceRule("X<2"); err != nil || r.Above || r.Kind() != RulePriceBelow {
		t.Fatalf("%+v %v", r, err)
	}
	for _, bad := range []string{"EURUSD_otc", ">1.09", "EURUSD_otc>", "EURUSD_otc>=1.09", "EURUSD_otc>abc",
		"EURUSD_otc>NaN", "EURUSD_otc=1.09", "A\x1b[2J>1"} {
		if _, err := ParsePriceRule(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func mustRule(t *testing.T, s string) PriceRule {
	t.Helper()
	r, err := ParsePriceRule(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func BenchmarkAlertsObserve(b *testing.B) {
	a := NewAlerts(AlertOptions{Hold: 5 * time.Second, Prices: []PriceRule{{Asset: "A", Above: true, Level: 1, Text: "A>1"}}})
	h := staleHealth("A", 70)
	p := prices(map[string]float64{"A": 1.5})
	for i := 0; b.Loop(); i++ {
		a.Observe(at(float64(i)/10), AlertInput{Health: h, Price: p})
	}
}

// Each of several flushers is an alert of its own, named by its instance.
func TestAlertEachFlusherIsItsOwnRule(t *testing.T) {
	now := at(0)
	h := JudgeHealth(HealthFacts{Flushers: []FlusherFact{
		{Instance: "a1", State: "running", Heartbeat: now, Problem: "store down since 11:59:40"},
		{Instance: "b2", State: "running", Heartbeat: now, Problem: "backlog full: 1000 entries held", BacklogFull: true,
			Backlog: 1000, MaxBacklog: 1000},
	}}, HealthThresholds{}, now)
	a := NewAlerts(AlertOptions{})
	tr := a.Observe(now, AlertInput{Health: &h})
	if len(tr) != 2 || tr[0].Subject == tr[1].Subject {
		t.Fatalf("%+v", tr)
	}
	got := map[string]string{}
	for _, x := range tr {
		got[x.Subject] = x.Rule
	}
	if got["flusher a1"] != FindingFlusherProblem || got["flusher b2"] != FindingBacklogFull {
		t.Fatalf("%v", got)
	}
}
