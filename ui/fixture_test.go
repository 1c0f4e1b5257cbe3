package ui

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata"
	"github.com/quflx/quflx-tui/simulator"
)

// The fixture: a fixed clock, ticks from the seeded simulator, and a backend whose answers
// are fixed values of the real types, so that every frame is the same on every run.

var fixedNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func TestMain(m *testing.M) {
	lipgloss.SetColorProfile(termenv.Ascii) // goldens hold text, not escape codes
	os.Exit(m.Run())
}

// fixtureMarket holds n assets' ticks over the ten minutes before fixedNow.
func fixtureMarket(n int) *model.Market {
	mk := model.NewMarket(model.MarketOptions{})
	start := fixedNow.Add(-10 * time.Minute)
	src := simulator.NewSynthetic(simulator.SyntheticOptions{Assets: simulator.Pick(n), Rate: 2, Seed: 7}, start)
	for _, t := range src.Due(fixedNow.Add(-time.Second), nil) {
		mk.Add(t, t.UnixMicro+2000) // received 2 ms after it was stamped
	}
	// History by the first frame. A dashboard counts publish-to-screen latency of the
	// ticks that arrive after it starts, so the whole-screen goldens show none.
	for i, a := range simulator.Pick(n) {
		us := fixedNow.Add(-time.Duration(30+5*i) * time.Millisecond).UnixMicro()
		mk.Add(model.Tick{Asset: a.Name, Price: a.Price, UnixMicro: us}, us+2000)
	}
	return mk
}

type fixtureBackend struct {
	mu      sync.Mutex
	assets  []string
	polls   int
	failing bool
	loads   []string
	pages   []string      // HistoryBefore's calls
	health  *model.Health // instead of the judgement of the fixed answers
	pubsub  bool          // a QuFLX v2 deployment: no buffers, cache or flusher; services, signals, regimes
}

// fixtureNodes are three masters of a cluster, one of them unreachable.
func fixtureNodes() []redisdata.NodeInfo {
	known := func(v int64) redisdata.Int { return redisdata.Int{V: v, Known: true} }
	node := func(addr string, slots int, mem int64, ops float64) redisdata.NodeInfo {
		return redisdata.NodeInfo{Addr: addr, Role: "master", Slots: slots,
			Info:   redisdata.Info{Role: "master", UsedMemory: known(mem)},
			Window: redisdata.ServerWindow{Seconds: 1, OpsPerSec: ops, Valid: true}}
	}
	down := node("10.0.0.13:7002", 5461, 0, 0)
	down.Err = errors.New("INFO 10.0.0.13:7002: i/o timeout")
	return []redisdata.NodeInfo{node("10.0.0.11:7000", 5461, 1<<20, 410), node("10.0.0.12:7001", 5462, 2<<20, 824), down}
}

func (b *fixtureBackend) Poll(context.Context) Poll {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.polls++
	if b.failing {
		return Poll{At: fixedNow, Err: errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")}
	}
	known := func(v int64) redisdata.Int { return redisdata.Int{V: v, Known: true} }
	snap := &redisdata.Snapshot{
		At: fixedNow, RoundTrip: 800 * time.Microsecond, RoundTrips: 1,
		Info: redisdata.Info{
			Version: "7.0.15", Role: "master", UptimeSeconds: known(3*86400 + 5*3600),
			ConnectedClients: known(7), UsedMemory: known(3 << 20), UsedMemoryPeak: known(4 << 20),
			UsedMemoryRSS: known(9 << 20), OpsPerSec: known(1180), TotalCommands: known(987654),
			KeyspaceHits: known(9000), KeyspaceMisses: known(1000), ExpiredKeys: known(12),
			EvictedKeys: known(0), PubSubChannels: known(0), PubSubPatterns: known(2),
			Keyspace: map[int]redisdata.DBKeys{0: {Keys: 42, Expires: 10}},
		},
		Window: redisdata.ServerWindow{Seconds: 1, OpsPerSec: 1234, HitRate: 0.97, HitRateKnown: true, Valid: true},
		Flusher: &redisdata.FlusherStatus{
			State: "idle", Store: "sqlite:/var/lib/quflx/quflx.db", Heartbeat: fixedNow.Add(-500 * time.Millisecond),
			LastFlush: fixedNow.Add(-12 * time.Second), NextFlush: fixedNow.Add(18 * time.Second), LastRows: 523,
			Flushed: 123456, Backlog: 230, DuplicatesSkipped: 17,
		},
	}
	for i, a := range b.assets {
		snap.Buffers = append(snap.Buffers, redisdata.BufferStat{Asset: a, Key: "ticks:" + a, Len: int64([]int{120, 640, 950, 40}[i%4])})
	}
	for i, a := range b.assets[:min(3, len(b.assets))] {
		ttl := []time.Duration{59 * time.Minute, 4 * time.Minute, 0}[i]
		snap.Caches = append(snap.Caches, redisdata.CacheKeyStat{
			Asset: a, Timeframe: model.TF1m, TimeframeText: "1M", Key: "historical:" + a + ":1M",
			Exists: ttl > 0, TTL: ttl, Bytes: 24000, Candles: 200,
		})
	}
	sub := redisdata.SubscriberStats{
		State: redisdata.StateLive, Since: fixedNow.Add(-time.Hour), Received: 4800, Bad: 2,
		Assets:  map[string]redisdata.AssetCounts{b.assets[0]: {Received: 600, Bad: 2}},
		Latency: model.LatencySummary{Count: 4800, P50: 700 * time.Microsecond, P99: 3 * time.Millisecond},
	}
	var pipeline model.PipelineView
	if b.pubsub {
		snap.Buffers, snap.Caches, snap.Flusher = nil, nil, nil
		pipeline = fixturePipeline(b.assets)
	}
	// Judged as the real backend judges: by status's report of the snapshot.
	report := redisdata.NewReport(snap, "127.0.0.1:6379", 310*time.Microsecond, model.HealthThresholds{NoFlusher: b.pubsub}, fixedNow)
	if b.pubsub {
		live := model.LiveFacts{Heard: time.Hour, TickChannel: "market_data", Services: pipeline.Services,
			HeartbeatChannels: []string{"system_status", "scan:heartbeat"}}
		for _, a := range b.assets {
			live.Feeds = append(live.Feeds, model.FeedFact{Asset: a, LastTick: fixedNow.Add(-time.Second)})
		}
		report.SetLive(live, pipeline, snap, model.HealthThresholds{NoFlusher: true})
	}
	health := report.Health
	if b.health != nil {
		health = *b.health
	}
	return Poll{
		At: fixedNow, Snapshot: snap, PingRTT: 310 * time.Microsecond, Sub: sub, Health: health,
		Flusher: snap.Flusher, Pipeline: pipeline,
		Events: []redisdata.Event{
			{At: fixedNow.Add(-time.Minute), Kind: "state", Text: "subscribed to updates:*"},
			{At: fixedNow.Add(-30 * time.Second), Kind: "bad", Text: `updates:` + b.assets[0] + `: not a JSON object: "garbage"`},
		},
		Cache: redisdata.CacheStats{Hits: 3, Misses: 1,
			HitLatency: model.LatencySummary{Count: 3, P50: 400 * time.Microsecond}, MissLatency: model.LatencySummary{Count: 1, P50: 300 * time.Microsecond}},
		Store: model.LatencySummary{Count: 1, P50: 12 * time.Millisecond},
	}
}

func (b *fixtureBackend) History(_ context.Context, asset string, tf model.Timeframe) (redisdata.HistoryResult, error) {
	b.mu.Lock()
	b.loads = append(b.loads, asset+" "+tf.String())
	b.mu.Unlock()
	minutes := simulator.Backfill(simulator.Lookup(asset), fixedNow.Add(-10*time.Minute), 48*time.Hour, 120, 7)
	candles := model.Aggregate(minutes, tf)
	if len(candles) > 200 {
		candles = candles[len(candles)-200:]
	}
	return redisdata.HistoryResult{Candles: candles, Source: redisdata.FromCache, Latency: 400 * time.Microsecond,
		Key: fmt.Sprintf("historical:%s:%s", asset, tf)}, nil
}

// HistoryBefore answers from the same two days of history as History, as a store would:
// the newest limit candles before before.
func (b *fixtureBackend) HistoryBefore(_ context.Context, asset string, tf model.Timeframe, before int64, limit int) (redisdata.HistoryResult, error) {
	b.mu.Lock()
	b.pages = append(b.pages, fmt.Sprintf("%s %s before %d limit %d", asset, tf, before, limit))
	b.mu.Unlock()
	minutes := simulator.Backfill(simulator.Lookup(asset), fixedNow.Add(-10*time.Minute), 48*time.Hour, 120, 7)
	var older []model.Candle
	for _, c := range model.Aggregate(minutes, tf) {
		if c.Start < before {
			older = append(older, c)
		}
	}
	older = older[max(0, len(older)-limit):]
	res := redisdata.HistoryResult{Source: redisdata.FromNone, Latency: 300 * time.Microsecond}
	if len(older) > 0 {
		res = redisdata.HistoryResult{Candles: older, Source: redisdata.FromStore, Latency: 12 * time.Millisecond}
	}
	return res, nil
}

func fixtureOptions(n int) (Options, *fixtureBackend) {
	var names []string
	for _, a := range simulator.Pick(n) {
		names = append(names, a.Name)
	}
	b := &fixtureBackend{assets: names}
	return Options{
		Backend: b, Market: fixtureMarket(n),
		Info: Info{Endpoint: "127.0.0.1:6379", Mode: ModeDemo, Embedded: true},
		Now:  func() time.Time { return fixedNow },
	}, b
}

// fixturePipeline is a QuFLX v2 deployment's side channels: a collector beating, a
// scanner that fell silent 20 s ago, an executor that said it is disconnected, signals
// and regimes.
func fixturePipeline(assets []string) model.PipelineView {
	p := model.NewPipeline(model.PipelineOptions{})
	at := func(d time.Duration) time.Time { return fixedNow.Add(-d) }
	observe := func(kind model.SideKind, channel, payload string, received time.Time) {
		if err := p.Observe(kind, channel, []byte(payload), received); err != nil {
			panic(err)
		}
	}
	observe(model.SideHeartbeat, "system_status", `{"service":"collector","status":"connected","timestamp":1764071998}`, at(2*time.Second))
	observe(model.SideHeartbeat, "system_status", `{"service":"executor","status":"disconnected","timestamp":1764071996}`, at(4*time.Second))
	observe(model.SideHeartbeat, "scan:heartbeat", `{"service":"scanner","status":"running","timestamp":1764071980}`, at(20*time.Second))
	for i, a := range assets[:min(4, len(assets))] {
		action := []string{"BUY", "SELL"}[i%2]
		observe(model.SideSignal, "trading:signals", fmt.Sprintf(`{"timestamp":%d,"asset":%q,"action":%q,"confidence":0.%d,"strategy_id":"confluence_v2","metadata":{"rsi":30}}`,
			fixedNow.Add(-time.Duration(40-10*i)*time.Second).Unix(), a, action, 6+i), at(time.Duration(40-10*i)*time.Second))
	}
	for i, a := range assets[:min(3, len(assets))] {
		observe(model.SideRegime, "strategy:regime", fmt.Sprintf(`{"timestamp":1764072000,"asset":%q,"condition":%q,"confluence_score":0.7,"direction":%q,"is_tradeable":%v}`,
			a, []string{"trending", "ranging", "volatile"}[i], []string{"bullish", "neutral", "bearish"}[i], i != 2), fixedNow)
	}
	return p.View(100)
}
