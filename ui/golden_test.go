package ui

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata"
)

// The dashboard as a program (teatest), at the two sizes the issue names, against golden
// files (regenerate with: go test ./ui -run Golden -update).
func TestGoldenScreens(t *testing.T) {
	for _, size := range [][2]int{{120, 40}, {80, 24}} {
		w, h := size[0], size[1]
		t.Run(fmt.Sprintf("%dx%d", w, h), func(t *testing.T) {
			opts, _ := fixtureOptions(8)
			m := New(opts)
			tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(w, h))
			// The chart's title names the history's source once it has loaded (the latency
			// panel's "cache hit" comes earlier, from the poll).
			teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte("4h  cache hit")) },
				teatest.WithDuration(10*time.Second), teatest.WithCheckInterval(20*time.Millisecond))
			tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("q")})
			tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
			golden.RequireEqual(t, []byte(m.Screen()))
		})
	}
}

// The dashboard of a QuFLX v2 deployment (pub/sub only) at 120x40: no buffer column, cache
// or flusher panel; services with their heartbeats, signals, a regime column.
func TestGoldenScreenQuFLXv2(t *testing.T) {
	opts, b := fixtureOptions(8)
	b.pubsub = true
	opts.PubSubOnly = true
	m := New(opts)
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(120, 40))
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
		return bytes.Contains(b, []byte("4h  cache hit")) && bytes.Contains(b, []byte("executor"))
	}, teatest.WithDuration(10*time.Second), teatest.WithCheckInterval(20*time.Millisecond))
	tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("q")})
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
	screen := m.Screen()
	for _, want := range []string{"Services", "collector", "connected", "executor", "disconnected", "scanner", "stale",
		"Signals", "BUY", "SELL", "Regime", "trending"} {
		if !strings.Contains(screen, want) {
			t.Errorf("the v2 screen lacks %q", want)
		}
	}
	for _, absent := range []string{"Buffer", "Cache", "Flusher", "no flusher heartbeat"} {
		if strings.Contains(screen, absent) {
			t.Errorf("the v2 screen shows %q", absent)
		}
	}
	golden.RequireEqual(t, []byte(screen))
}

// Each component alone, at a fixed size, fed from the fixture through its own setters:
// a change to one panel touches only its own golden (regenerate with
// go test ./ui -run Golden -update).
func TestGoldenPanels(t *testing.T) {
	opts, b := fixtureOptions(8)
	opts = opts.withDefaults()
	ctx := newFrameContext(opts)
	p := b.Poll(context.Background())
	mk := opts.Market
	views := mk.Views(fixedNow.UnixNano(), nil)
	asset := views[0].Asset
	res, err := b.History(context.Background(), asset, model.TF1m)
	if err != nil {
		t.Fatal(err)
	}
	mk.Seed(asset, model.TF1m, res.Candles)
	var lnk link
	own := lnk.observe(&p, fixedNow, nil) // the health event
	screen := model.LatencySummary{Count: 40, P50: 44 * time.Millisecond, P99: 64 * time.Millisecond}
	// The same poll of a 3-master cluster, and of a master reached through Sentinel.
	cluster, sentinel := p, p
	cs, ss := *p.Snapshot, *p.Snapshot
	cs.Nodes = fixtureNodes()
	ss.Master = "10.0.0.12:6379"
	cluster.Snapshot, sentinel.Snapshot = &cs, &ss
	// A QuFLX v2 deployment's poll, and the context of a dashboard with its topology.
	b.pubsub = true
	v2 := b.Poll(context.Background())
	b.pubsub = false
	v2opts := opts
	v2opts.PubSubOnly = true
	v2ctx := newFrameContext(v2opts)

	for _, c := range []struct {
		name string
		w, h int
		make func() component
	}{
		{"header", 160, 1, func() component {
			c := newHeader(ctx)
			c.SetServer(&p)
			c.SetLink(lnk.conn, lnk.health)
			return c
		}},
		{"header_alerts", 160, 1, func() component {
			c := newHeader(ctx)
			c.SetServer(&p)
			c.SetLink(lnk.conn, lnk.health)
			c.SetAlerts(fixtureAlerts())
			return c
		}},
		{"header_sentinel", 160, 1, func() component {
			c := newHeader(ctx)
			c.SetServer(&sentinel)
			c.SetLink(lnk.conn, lnk.health)
			return c
		}},
		{"header_cluster", 160, 1, func() component {
			c := newHeader(ctx)
			c.SetServer(&cluster)
			c.SetLink(lnk.conn, lnk.health)
			return c
		}},
		{"watchlist", 64, 10, func() component {
			c := newWatchlist(ctx)
			c.SetViews(views)
			c.SetPoll(&p)
			c.SetFocused(true)
			return c
		}},
		{"watchlist_compact", 80, 7, func() component {
			c := newWatchlist(ctx)
			c.SetCompact(true)
			c.SetViews(views)
			c.SetPoll(&p)
			return c
		}},
		{"chart", 64, 16, func() component {
			c := newChart(ctx, model.TF1m)
			c.SetAsset(asset)
			c.SetCandles(mk.Candles(asset, model.TF1m, nil), views[0].Last, views[0].Decimals)
			c.SetSource(describeHistory(res))
			return c
		}},
		{"redis", 26, 8, func() component {
			c := newRedisPanel(ctx)
			c.SetPoll(&p)
			c.SetPoll(&p) // two readings: a sparkline
			return c
		}},
		{"redis_cluster", 30, 8, func() component {
			c := newRedisPanel(ctx)
			c.SetPoll(&cluster)
			return c
		}},
		{"redis_cluster_crowded", 30, 6, func() component {
			c := newRedisPanel(ctx)
			c.SetPoll(&cluster)
			return c
		}},
		{"cache", 32, 8, func() component {
			c := newCachePanel(ctx)
			c.SetPoll(&p)
			return c
		}},
		{"flusher", 30, 8, func() component {
			c := newFlusherPanel(ctx)
			c.SetPoll(&p)
			return c
		}},
		{"flushers_several", 44, 6, func() component {
			c := newFlusherPanel(ctx)
			several := p
			several.Flushers = severalFlushers(fixedNow)
			c.SetPoll(&several)
			return c
		}},
		{"watchlist_drained", 64, 6, func() component {
			c := newWatchlist(ctx)
			c.SetViews(views[:2])
			c.SetPoll(drainedPoll(p, views[0].Asset))
			return c
		}},
		{"latency", 30, 8, func() component {
			c := newLatencyPanel(ctx)
			c.SetPoll(&p)
			c.SetScreenLatency(screen)
			return c
		}},
		{"events", 100, 5, func() component {
			c := newEventsPanel(ctx)
			c.SetPollEvents(p.Events)
			for _, e := range own {
				c.Add(e)
			}
			return c
		}},
		{"events_alerts", 100, 5, func() component {
			c := newEventsPanel(ctx)
			c.SetPollEvents(p.Events)
			for _, e := range fixtureAlertEvents() {
				c.Add(e)
			}
			return c
		}},
		{"services", 32, 6, func() component {
			c := newServicesPanel(ctx)
			c.SetPoll(&v2)
			return c
		}},
		{"signals", 56, 6, func() component {
			c := newSignalsPanel(ctx)
			c.SetPoll(&v2)
			return c
		}},
		{"watchlist_v2", 64, 10, func() component {
			c := newWatchlist(v2ctx)
			c.SetViews(views)
			c.SetPoll(&v2)
			return c
		}},
		{"footer_compact_v2", 80, 2, func() component {
			c := newFooter(v2ctx)
			c.SetCompact(true)
			c.SetPoll(&v2)
			return c
		}},
		{"footer", 120, 1, func() component {
			c := newFooter(ctx)
			c.SetPoll(&p)
			return c
		}},
		{"footer_compact", 80, 2, func() component {
			c := newFooter(ctx)
			c.SetCompact(true)
			c.SetPoll(&p)
			c.SetScreenLatency(screen)
			return c
		}},
		{"help", 100, 17, func() component {
			c := newHelpView(ctx)
			c.SetFocusKeys("chart", newChart(ctx, model.TF1m).KeyHelp())
			return c
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			comp := c.make()
			comp.SetSize(c.w, c.h)
			if !refresh(comp) {
				t.Fatal("a new component did not render")
			}
			view := comp.View()
			if lines := strings.Split(view, "\n"); len(lines) != c.h {
				t.Fatalf("%d lines, want %d", len(lines), c.h)
			}
			if refresh(comp) {
				t.Fatal("rendered again with nothing changed")
			}
			golden.RequireEqual(t, []byte(view))
		})
	}
}

// severalFlushers are three flusher instances: one busy, one with a store problem, one
// whose heartbeat stopped.
func severalFlushers(now time.Time) []redisdata.FlusherReport {
	st := func(inst, state string, flushed, backlog, errs int64, beat time.Duration, problem string) redisdata.FlusherReport {
		return redisdata.FlusherReport{FlusherStatus: redisdata.FlusherStatus{Instance: inst, State: state,
			Flushed: flushed, Backlog: backlog, Errors: errs, Heartbeat: now.Add(-beat), Problem: problem}}
	}
	return []redisdata.FlusherReport{
		st("4db02fe7e1df", "flushing", 1_234_567, 120, 0, time.Second, ""),
		st("9a1c33b0aa41", "retrying", 52_000, 2_400, 3, 2*time.Second, "store down since 11:59:40"),
		st("c0ffee000001", "idle", 900, 0, 0, time.Minute, ""),
	}
}

// drainedPoll is p with asset's buffer emptied by flushers that hold and stored its
// ticks, and one asset known only to the flushers.
func drainedPoll(p Poll, asset string) *Poll {
	snap := *p.Snapshot
	snap.Buffers = slices.Clone(snap.Buffers)
	for i := range snap.Buffers {
		if snap.Buffers[i].Asset == asset {
			snap.Buffers[i].Len = 0
		}
	}
	p.Snapshot = &snap
	last := fixedNow.Add(-3 * time.Second)
	price := 2651.35
	zero := int64(0)
	p.Assets = []redisdata.AssetReport{
		{Asset: asset, Buffer: &zero, InFlight: 40, Stored: 5_000, Drained: true},
		{Asset: "XAUUSD_otc", InFlight: 0, Stored: 800, Drained: true, LastPrice: &price, LastTimestamp: &last},
	}
	return &p
}

// fixtureAlerts are two alerts firing, the price level the newer.
func fixtureAlerts() []model.FiringAlert {
	v, th := 1.0912, 1.09
	return []model.FiringAlert{
		{Alert: model.Alert{Rule: model.RulePriceAbove, Subject: "EURUSD_otc>1.09", Asset: "EURUSD_otc", Value: &v,
			Threshold: &th, Reason: "EURUSD_otc 1.0912 above 1.09"}, Since: fixedNow.Add(-3 * time.Second)},
		{Alert: model.Alert{Rule: model.FindingFeedStale, Subject: "GBPUSD_otc", Asset: "GBPUSD_otc",
			Reason: "feed GBPUSD_otc stale: last tick 1m5s ago"}, Since: fixedNow.Add(-time.Minute)},
	}
}

// fixtureAlertEvents are a firing, a resolution and a failed notifier.
func fixtureAlertEvents() []redisdata.Event {
	return []redisdata.Event{
		{At: fixedNow.Add(-3 * time.Second), Kind: "firing", Text: "feed_stale GBPUSD_otc: feed GBPUSD_otc stale: last tick 1m5s ago"},
		{At: fixedNow.Add(-5 * time.Second), Kind: "alert-exec", Text: "exit 3: webhook refused: 403 (firing feed_stale)"},
		{At: fixedNow.Add(-40 * time.Second), Kind: "resolved", Text: "feed_stale GBPUSD_otc: cleared: feed GBPUSD_otc stale: last tick 1m5s ago"},
	}
}
