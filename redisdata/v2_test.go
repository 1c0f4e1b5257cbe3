package redisdata

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata/redistest"
)

// v2Watch watches addr as a QuFLX v2 deployment: market_data and the side channels.
func v2Watch(t *testing.T, addr string, th model.HealthThresholds, expect ...string) *Watch {
	t.Helper()
	c, err := NewClient(Options{Addr: addr, ReadOnly: true, ClientName: "quflx-v2-test"})
	if err != nil {
		t.Fatal(err)
	}
	w := NewWatch(c, WatchOptions{TickKey: tickPattern, CacheKey: cachePattern, Channel: model.MustChannelPattern("market_data"),
		Subscribe: true, PollEvery: 100 * time.Millisecond, Thresholds: th, PubSubOnly: true,
		HeartbeatChannels: []string{"system_status", "scan:heartbeat"}, SignalChannel: "trading:signals",
		RegimeChannel: "strategy:regime", AlertChannel: "alerts:dispatched", ExpectServices: expect})
	w.Start(context.Background())
	t.Cleanup(func() { w.Close() })
	return w
}

func reasonsOf(r *Reading) string { return strings.Join(r.Report.Health.Reasons, "; ") }

// A QuFLX v2 deployment on a real server: every asset on market_data, heartbeats,
// signals and regimes, all on the subscriber's one connection; healthy while the services
// beat, degraded with the reason when one says it is disconnected or falls silent.
func TestWatchFollowsQuFLXv2(t *testing.T) {
	srv := redistest.Real(t)
	collector := redistest.StartV2(t, srv.Addr, redistest.V2Options{BeatEvery: 200 * time.Millisecond})
	// Beats every 200 ms: a 1.5 s threshold is the stand-in's "three periods and more".
	th := model.HealthThresholds{ServiceStale: 1500 * time.Millisecond, Stale: 5 * time.Second}
	w := v2Watch(t, srv.Addr, th, "collector", "scanner")

	var r *Reading
	waitFor(t, 10*time.Second, "assets, services, signals and regimes", func() bool {
		r = w.Latest()
		return len(r.Pipeline.Services) == 2 && len(r.Pipeline.Regimes) == 2 && len(r.Pipeline.Signals) > 1 &&
			len(w.Market().Views(time.Now().UnixNano(), nil)) == 2 && r.Report.ListenedSeconds != nil && *r.Report.ListenedSeconds > 0.6
	})
	if r.Report.Health.Status != Healthy || r.Report.Topology != TopologyV2 {
		t.Fatalf("live v2 pipeline: %s %s (%s)", r.Report.Topology, r.Report.Health.Status, reasonsOf(r))
	}
	if len(r.Report.Buffers) != 0 || len(r.Report.Caches) != 0 || len(r.Report.Feeds) != 2 || len(r.Report.Services) != 2 {
		t.Fatalf("report: buffers %v caches %v feeds %v services %v", r.Report.Buffers, r.Report.Caches, r.Report.Feeds, r.Report.Services)
	}
	for _, s := range r.Pipeline.Signals {
		if s.Strategy != "confluence_v2" || s.Confidence != 0.8 || (s.Action != "BUY" && s.Action != "SELL") {
			t.Fatalf("signal %+v", s)
		}
	}
	if reg, ok := r.Pipeline.Regime("EURUSD"); !ok || reg.Condition != "trending" {
		t.Fatalf("regime %+v", reg)
	}
	if got := w.SignalsFor("EURUSD", nil); len(got) == 0 {
		t.Fatal("no signals for the chart")
	}
	if r.Sub.NotAdmitted != 0 || r.Sub.Bad != 0 || r.Sub.SideReceived == 0 {
		t.Fatalf("subscriber: not admitted %d bad %d side %d", r.Sub.NotAdmitted, r.Sub.Bad, r.Sub.SideReceived)
	}
	// One subscriber connection carries the ticks and every side channel.
	probe := newWriter(t, srv.Addr)
	ctx := context.Background()
	clients, err := probe.Do(ctx, "CLIENT", "LIST", "TYPE", "pubsub").Text()
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(strings.TrimSpace(clients), "\n") + 1; n != 1 || !strings.Contains(clients, " sub=6 psub=0 ") {
		t.Fatalf("pub/sub connections (want one, on market_data and the 5 side channels):\n%s", clients)
	}

	// The collector says it is disconnected: degraded, saying which and why.
	collector.SetStatus("collector", "disconnected")
	waitFor(t, 5*time.Second, "degraded: collector disconnected", func() bool {
		r = w.Latest()
		return strings.Contains(reasonsOf(r), "service collector disconnected (on system_status")
	})
	if r.Report.Health.Status != Degraded {
		t.Fatalf("disconnected collector: %s", r.Report.Health.Status)
	}
	// The scanner stops beating: stale after the threshold.
	collector.SetStatus("collector", "connected")
	collector.SetStatus("scanner", "")
	waitFor(t, 5*time.Second, "degraded: scanner stale", func() bool {
		r = w.Latest()
		return strings.Contains(reasonsOf(r), "service scanner stale") && !strings.Contains(reasonsOf(r), "collector")
	})
	// Junk on the side channels is counted, never shown raw.
	_ = collector.Publish("trading:signals", "\x1b[2Jnot json")
	_ = collector.Publish("trading:signals", `{"asset":"EURUSD","action":"BUY","strategy_id":"\u001b]0;x\u0007evil"}`)
	waitFor(t, 5*time.Second, "a bad signal counted", func() bool {
		r = w.Latest()
		return r.Pipeline.Counts.Bad >= 1
	})
	for _, s := range r.Pipeline.Signals {
		if strings.ContainsAny(s.Strategy, "\x1b\x07") {
			t.Fatalf("unprintable strategy %q", s.Strategy)
		}
	}
	// A dispatched alert, and the unusable message, reach the events panel.
	_ = collector.Publish("alerts:dispatched", `{"asset":"EURUSD","type":"signal","message":"BUY EURUSD 80%"}`)
	waitFor(t, 5*time.Second, "the alert and the bad message as events", func() bool {
		var alert, bad bool
		for _, e := range w.Latest().Events {
			alert = alert || e.Kind == "dispatched" && e.Text == "EURUSD: signal BUY EURUSD 80%"
			bad = bad || e.Kind == "bad" && strings.Contains(e.Text, "side-channel messages unusable")
		}
		return alert && bad
	})
	// The feed stops: stale, then the services alone cannot make it healthy.
	collector.StopTicks()
	waitFor(t, 10*time.Second, "feeds stale", func() bool {
		return strings.Contains(reasonsOf(w.Latest()), "feed EURUSD stale")
	})
}

// A channel pattern and side channels share one connection (PSUBSCRIBE and SUBSCRIBE):
// v1's updates:{asset} with heartbeats followed too. A side message is no tick.
func TestSubscriberPatternAndSideChannelsOnOneConnection(t *testing.T) {
	srv := redistest.Real(t)
	c, err := NewClient(Options{Addr: srv.Addr, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	side := make(chan string, 10)
	sub := NewSubscriber(c, SubscriberOptions{Channel: chanPattern, Side: []string{"system_status"},
		OnSide: func(channel string, payload []byte, _ time.Time) { side <- channel + " " + string(payload) }})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go sub.Run(ctx)
	waitFor(t, 5*time.Second, "subscribed", func() bool { return sub.Stats().State == StateLive })
	w := newWriter(t, srv.Addr)
	waitFor(t, 5*time.Second, "both subscriptions", func() bool {
		list, _ := w.Do(ctx, "CLIENT", "LIST", "TYPE", "pubsub").Text()
		return strings.Contains(list, " sub=1 psub=1 ") && strings.Count(strings.TrimSpace(list), "\n") == 0
	})
	w.Publish(ctx, "system_status", `{"service":"collector","status":"connected"}`)
	w.Publish(ctx, "updates:EURUSD_otc", `{"price":1.08,"timestamp":`+strconv.FormatInt(time.Now().Unix(), 10)+`}`)
	select {
	case got := <-side:
		if got != `system_status {"service":"collector","status":"connected"}` {
			t.Fatalf("side message %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no side message")
	}
	select {
	case tick := <-sub.Ticks():
		if tick.Asset != "EURUSD_otc" || tick.Price != 1.08 {
			t.Fatalf("tick %+v", tick)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no tick")
	}
	if st := sub.Stats(); st.Received != 1 || st.SideReceived != 1 || st.Bad != 0 {
		t.Fatalf("received %d side %d bad %d", st.Received, st.SideReceived, st.Bad)
	}
}
