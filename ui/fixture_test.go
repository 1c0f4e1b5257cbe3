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
	// That was history by the first frame: only the last ticks are new on screen.
	mk.TakeArrivals(nil)
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
	return Poll{
		At: fixedNow, Snapshot: snap, PingRTT: 310 * time.Microsecond, Sub: sub,
		Flusher: snap.Flusher,
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
