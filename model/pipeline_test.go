package model

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

var pipeNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func TestPipelineReadsQuFLXv2Payloads(t *testing.T) {
	p := NewPipeline(PipelineOptions{})
	must := func(kind SideKind, channel, payload string, at time.Time) {
		t.Helper()
		if err := p.Observe(kind, channel, []byte(payload), at); err != nil {
			t.Fatalf("%s %s: %v", kind, payload, err)
		}
	}
	must(SideHeartbeat, "system_status", `{"service": "collector", "status": "connected", "timestamp": 1764072000.5}`, pipeNow)
	must(SideHeartbeat, "scan:heartbeat", `{"timestamp": "2026-11-25T11:59:59Z", "alive": true}`, pipeNow)
	must(SideSignal, "trading:signals", `{"timestamp": 1764072000, "asset": "EURUSD", "action": "buy", "confidence": 0.8, "strategy_id": "confluence", "metadata": {"rsi": 28.5,  "why": ["a", "b"]}}`, pipeNow)
	must(SideSignal, "trading:signals", `{"timestamp": 1764072001, "asset": "GBPUSD", "action": "SELL", "confidence": 65, "strategy_id": "s2"}`, pipeNow)
	must(SideRegime, "strategy:regime", `{"timestamp": 1764072000, "asset": "EURUSD", "condition": "trending", "confluence_score": 0.72, "direction": "bullish", "suggested_expiry": 300, "technicals": {"adx": 31}, "is_tradeable": true}`, pipeNow)
	must(SideAlert, "alerts:dispatched", `{"asset": "EURUSD", "type": "signal", "message": "BUY EURUSD 80%"}`, pipeNow)

	v := p.View(0)
	if len(v.Services) != 2 {
		t.Fatalf("services %+v", v.Services)
	}
	col := v.Services[0] // sorted by name
	if col.Service != "collector" || col.Status != "connected" || col.Sent.Unix() != 1764072000 || col.Beats != 1 {
		t.Errorf("collector %+v", col)
	}
	if sc := v.Services[1]; sc.Service != "scan" || sc.Status != ServiceUp || sc.Sent.IsZero() {
		t.Errorf("scanner named by its channel, status from alive: %+v", sc)
	}
	if len(v.Signals) != 2 || v.Signals[0].Asset != "GBPUSD" || v.Signals[0].Confidence != 0.65 {
		t.Fatalf("signals newest first, a percentage scaled: %+v", v.Signals)
	}
	s := v.Signals[1]
	if s.Action != "BUY" || s.Confidence != 0.8 || s.Strategy != "confluence" || s.Metadata != `{"rsi":28.5,"why":["a","b"]}` ||
		s.At.Unix() != 1764072000 {
		t.Errorf("signal %+v", s)
	}
	r, ok := v.Regime("EURUSD")
	if !ok || r.Condition != "trending" || r.Direction != "bullish" || r.Confluence != 0.72 || !r.Tradeable ||
		!r.TradeableKnown || r.Expiry != "300" {
		t.Errorf("regime %+v %v", r, ok)
	}
	if _, ok := v.Regime("GBPUSD"); ok {
		t.Error("a regime for an asset that had none")
	}
	if len(v.Alerts) != 1 || v.Alerts[0].Text != "signal BUY EURUSD 80%" {
		t.Errorf("alerts %+v", v.Alerts)
	}
	if got := p.SignalsFor("EURUSD", nil); len(got) != 1 || got[0].Action != "BUY" {
		t.Errorf("SignalsFor %+v", got)
	}
	if c := v.Counts; c.Heartbeats != 2 || c.Signals != 2 || c.Regimes != 1 || c.Alerts != 1 || c.Bad != 0 {
		t.Errorf("counts %+v", c)
	}
}

func TestPipelineCountsWhatItCannotUse(t *testing.T) {
	p := NewPipeline(PipelineOptions{})
	for _, c := range []struct {
		kind    SideKind
		payload string
	}{
		{SideSignal, `not json`},
		{SideSignal, `null`},
		{SideSignal, `[1,2]`},
		{SideSignal, `{"action":"BUY"}`},                        // no asset
		{SideSignal, `{"asset":"EURUSD"}`},                      // no action
		{SideSignal, `{"asset":"EUR\u0007USD","action":"BUY"}`}, // a bell in the name
		{SideRegime, `{"asset":"EURUSD"}`},                      // says nothing
		{SideHeartbeat, `"collector"`},
	} {
		err := p.Observe(c.kind, "ch", []byte(c.payload), pipeNow)
		if !errors.Is(err, ErrBadSide) {
			t.Errorf("%s %s: %v, want ErrBadSide", c.kind, c.payload, err)
		}
	}
	v := p.View(0)
	if v.Counts.Bad != 8 || v.Counts.LastBad == "" || len(v.Signals) != 0 || len(v.Services) != 0 {
		t.Errorf("counts %+v view %+v", v.Counts, v)
	}
}

// Whatever a publisher chooses is bounded and printable: service names, strategies,
// metadata, the number of services and assets.
func TestPipelineBoundsWhatPublishersChoose(t *testing.T) {
	p := NewPipeline(PipelineOptions{MaxServices: 3, MaxAssets: 2, MaxSignals: 5, MaxSignalsPerAsset: 2})
	long := strings.Repeat("x", 500)
	for i := range 10 {
		_ = p.Observe(SideHeartbeat, "system_status", fmt.Appendf(nil, `{"service":"svc%d\u001b[31m%s","status":"ok"}`, i, long), pipeNow)
	}
	_ = p.Observe(SideSignal, "s", fmt.Appendf(nil, `{"asset":"A","action":"BUY","strategy_id":"\u001b]0;pwned\u0007%s","metadata":{"blob":"%s"}}`, long, long), pipeNow)
	for i := range 10 {
		_ = p.Observe(SideSignal, "s", fmt.Appendf(nil, `{"asset":"B%d","action":"SELL"}`, i), pipeNow)
		_ = p.Observe(SideSignal, "s", []byte(`{"asset":"A","action":"SELL"}`), pipeNow)
	}
	v := p.View(0)
	if len(v.Services) != 3 || v.Counts.Refused == 0 {
		t.Fatalf("%d services tracked, %d refused; want 3 and some", len(v.Services), v.Counts.Refused)
	}
	for _, s := range v.Services {
		if len(s.Service) > 80 || strings.ContainsRune(s.Service, 0x1b) {
			t.Errorf("service name %q", s.Service)
		}
	}
	if len(v.Signals) != 5 {
		t.Errorf("%d recent signals kept, want 5", len(v.Signals))
	}
	if got := p.SignalsFor("A", nil); len(got) != 2 {
		t.Errorf("%d signals of A kept, want 2", len(got))
	}
	all := p.SignalsFor("A", nil)
	for _, s := range append(all, v.Signals...) {
		if len(s.Strategy) > 80 || len(s.Metadata) > 200 || strings.ContainsAny(s.Strategy+s.Metadata, "\x1b\x07") {
			t.Errorf("signal %q %q", s.Strategy, s.Metadata)
		}
	}
	if p.SignalsFor("B9", nil) != nil {
		t.Error("signals kept for an asset past MaxAssets")
	}
	// An admission refuses assets too.
	q := NewPipeline(PipelineOptions{Admit: func(a string) bool { return a == "EURUSD" }})
	_ = q.Observe(SideRegime, "r", []byte(`{"asset":"JUNK","condition":"x"}`), pipeNow)
	_ = q.Observe(SideRegime, "r", []byte(`{"asset":"EURUSD","condition":"x"}`), pipeNow)
	if qv := q.View(0); len(qv.Regimes) != 1 || qv.Counts.Refused != 1 {
		t.Errorf("admission: %+v", qv)
	}
}

func TestServiceState(t *testing.T) {
	b := ServiceBeat{Service: "collector", Status: "connected", Received: pipeNow}
	if s := b.State(pipeNow.Add(10*time.Second), 15*time.Second); s != ServiceUp {
		t.Errorf("10 s old: %s", s)
	}
	if s := b.State(pipeNow.Add(16*time.Second), 15*time.Second); s != ServiceStale {
		t.Errorf("16 s old: %s", s)
	}
	b.Status = "Disconnected"
	if s := b.State(pipeNow, 15*time.Second); s != ServiceDown {
		t.Errorf("disconnected: %s", s)
	}
}

func TestJudgeHealthFromPubSub(t *testing.T) {
	th := HealthThresholds{NoFlusher: true, Stale: 10 * time.Second}
	live := LiveFacts{Heard: 6 * time.Second, TickChannel: "market_data", HeartbeatChannels: []string{"system_status"},
		Feeds:    []FeedFact{{Asset: "EURUSD", LastTick: pipeNow.Add(-time.Second)}},
		Services: []ServiceBeat{{Service: "collector", Channel: "system_status", Status: "connected", Received: pipeNow.Add(-2 * time.Second)}}}
	judge := func(l LiveFacts) Health { return JudgeHealth(HealthFacts{Live: &l}, th, pipeNow) }
	if h := judge(live); h.Status != Healthy {
		t.Fatalf("live pipeline: %+v", h)
	}
	for _, c := range []struct {
		name   string
		change func(l *LiveFacts)
		reason string
	}{
		{"disconnected", func(l *LiveFacts) { l.Services[0].Status = "disconnected" }, "service collector disconnected (on system_status"},
		{"silent service", func(l *LiveFacts) { l.Services[0].Received = pipeNow.Add(-20 * time.Second) }, "service collector stale: last heartbeat 20s ago"},
		{"stale feed", func(l *LiveFacts) { l.Feeds[0].LastTick = pipeNow.Add(-time.Minute) }, "feed EURUSD stale: last tick 1m0s ago"},
		{"no ticks", func(l *LiveFacts) { l.Feeds = nil }, "no ticks on market_data in 6s"},
		{"no heartbeat", func(l *LiveFacts) { l.Services = nil }, "no service heartbeat on system_status in 6s"},
		{"expected service", func(l *LiveFacts) { l.Expect = []string{"collector", "scanner"} }, "service scanner: no heartbeat in 6s"},
	} {
		l := live
		l.Services = append([]ServiceBeat(nil), live.Services...)
		l.Feeds = append([]FeedFact(nil), live.Feeds...)
		c.change(&l)
		h := judge(l)
		if h.Status != Degraded || !strings.Contains(strings.Join(h.Reasons, "; "), c.reason) {
			t.Errorf("%s: %+v, want degraded with %q", c.name, h, c.reason)
		}
	}
	// Too short a window proves no absence.
	short := live
	short.Heard, short.Feeds, short.Services = time.Second, nil, nil
	if h := judge(short); h.Status != Healthy {
		t.Errorf("1 s of listening: %+v", h)
	}
}

func TestChannelPatternWithoutAsset(t *testing.T) {
	if _, err := ParseKeyPattern("market_data"); err == nil || !strings.Contains(err.Error(), "has no {asset}") {
		t.Errorf("a key pattern without {asset}: %v", err)
	}
	p, err := ParseChannelPattern("market_data")
	if err != nil {
		t.Fatal(err)
	}
	if p.HasAsset() || p.Key("EURUSD", "") != "market_data" || p.Glob() != "market_data" {
		t.Errorf("pattern %+v: key %q glob %q", p, p.Key("EURUSD", ""), p.Glob())
	}
	if asset, _, ok := p.Match("market_data"); !ok || asset != "" {
		t.Errorf("Match(market_data) = %q %v", asset, ok)
	}
	if _, _, ok := p.Match("market_data2"); ok {
		t.Error("matched another channel")
	}
	if q, err := ParseChannelPattern("updates:{asset}"); err != nil || !q.HasAsset() {
		t.Errorf("updates:{asset}: %v", err)
	}
	if _, err := ParseChannelPattern(""); err == nil {
		t.Error("an empty channel accepted")
	}
}

// The side channels' cost per message, in the subscriber's goroutine (QuFLX v2 sends a
// heartbeat per service every 5 s and a signal now and then: this is far from the ticks'
// budget, but it runs on the reader that takes them).
func BenchmarkPipelineObserve(b *testing.B) {
	p := NewPipeline(PipelineOptions{})
	for _, c := range []struct {
		name    string
		kind    SideKind
		payload []byte
	}{
		{"heartbeat", SideHeartbeat, []byte(`{"service": "collector", "status": "connected", "timestamp": 1764072000.5}`)},
		{"signal", SideSignal, []byte(`{"timestamp": 1764072000, "asset": "EURUSD", "action": "BUY", "confidence": 0.8, "strategy_id": "confluence", "metadata": {"rsi": 28.5}}`)},
		{"regime", SideRegime, []byte(`{"timestamp": 1764072000, "asset": "EURUSD", "condition": "trending", "confluence_score": 0.72, "direction": "bullish", "suggested_expiry": 300, "technicals": {"adx": 31}, "is_tradeable": true}`)},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := p.Observe(c.kind, "ch", c.payload, pipeNow); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A service that says it is disconnected is an alert of its own (the health's finding is
// the rule), firing once and resolving once it is connected again.
func TestServiceDisconnectedIsAnAlert(t *testing.T) {
	th := HealthThresholds{NoFlusher: true}
	judge := func(status string, at time.Time) *Health {
		h := JudgeHealth(HealthFacts{Live: &LiveFacts{Heard: time.Minute, HeartbeatChannels: []string{"system_status"},
			Services: []ServiceBeat{{Service: "collector", Channel: "system_status", Status: status, Received: at}}}}, th, at)
		return &h
	}
	a := NewAlerts(AlertOptions{Hold: time.Second})
	var got []AlertTransition
	for s := range 10 {
		status := "connected"
		if s >= 2 && s < 6 {
			status = "disconnected"
		}
		now := pipeNow.Add(time.Duration(s) * time.Second)
		got = append(got, a.Observe(now, AlertInput{Health: judge(status, now)})...)
	}
	if len(got) != 2 || got[0].State != AlertFiring || got[0].Rule != FindingServiceDown ||
		got[0].Subject != "service collector" || got[1].State != AlertResolved {
		t.Fatalf("transitions %+v", got)
	}
}

// Names a publisher makes up on the side channels must not keep real ones out: 32 junk
// services filled the table for good (a real "scanner … disconnected" was refused), and
// signals or regimes for names that never tick took admission places from real assets.
func TestPipelineJunkCannotCrowdOutRealNames(t *testing.T) {
	now := time.Now()
	p := NewPipeline(PipelineOptions{MaxAssets: 3})
	for i := range 40 {
		if err := p.Observe(SideHeartbeat, "system_status", fmt.Appendf(nil, `{"service":"junk%d","status":"connected"}`, i), now.Add(time.Duration(i)*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	_ = p.Observe(SideHeartbeat, "system_status", []byte(`{"service":"scanner","status":"disconnected"}`), now.Add(time.Second))
	v := p.View(0)
	found := false
	for _, s := range v.Services {
		found = found || (s.Service == "scanner" && s.Status == ServiceDown)
	}
	if !found || len(v.Services) > 32 {
		t.Fatalf("after 40 junk services the real one is kept: %v (%d kept, %d refused)", found, len(v.Services), v.Counts.Refused)
	}
}
