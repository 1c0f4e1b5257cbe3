package redistest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// V2Options configures a QuFLX v2 stand-in.
type V2Options struct {
	Assets    []string      // default EURUSD, GBPUSD
	TickEvery time.Duration // ticks of every asset on market_data (default 100 ms)
	BeatEvery time.Duration // heartbeats (default 500 ms; QuFLX itself: 5 s)
	// SignalEvery and RegimeEvery pace the strategy (default 300 ms and 1 s).
	SignalEvery, RegimeEvery time.Duration
}

// V2 stands in for a QuFLX v2 deployment as its services publish (PHCStanton/QuFLX-v2):
// the collector's ticks of every asset on market_data as {"timestamp": float seconds,
// "asset", "price", "source"} and its heartbeats on system_status, the scanner's heartbeat
// on scan:heartbeat, the strategy's trading:signals and strategy:regime. Tests change what
// a service says (SetStatus) or silence it.
type V2 struct {
	opts   V2Options
	client *redis.Client
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	status  map[string]string // service -> status it beats with; absent: silent
	ticking bool
	n       int64
}

// StartV2 starts publishing to the server at addr until the test ends (or Stop).
func StartV2(t testing.TB, addr string, o V2Options) *V2 {
	t.Helper()
	if len(o.Assets) == 0 {
		o.Assets = []string{"EURUSD", "GBPUSD"}
	}
	o.TickEvery = cmpOr(o.TickEvery, 100*time.Millisecond)
	o.BeatEvery = cmpOr(o.BeatEvery, 500*time.Millisecond)
	o.SignalEvery = cmpOr(o.SignalEvery, 300*time.Millisecond)
	o.RegimeEvery = cmpOr(o.RegimeEvery, time.Second)
	v := &V2{opts: o, client: redis.NewClient(&redis.Options{Addr: addr}), ticking: true,
		status: map[string]string{"collector": "connected", "scanner": "running"}}
	ctx, cancel := context.WithCancel(context.Background())
	v.cancel = cancel
	v.wg.Go(func() { v.loop(ctx) })
	t.Cleanup(v.Stop)
	return v
}

func cmpOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// SetStatus makes service beat with status from now on; "" silences it.
func (v *V2) SetStatus(service, status string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if status == "" {
		delete(v.status, service)
		return
	}
	v.status[service] = status
}

// StopTicks stops the collector's ticks (its heartbeats go on unless silenced).
func (v *V2) StopTicks() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.ticking = false
}

// Publish sends one payload, for hostile or odd messages.
func (v *V2) Publish(channel, payload string) error {
	return v.client.Publish(context.Background(), channel, payload).Err()
}

// Stop ends every publisher.
func (v *V2) Stop() {
	v.cancel()
	v.wg.Wait()
	_ = v.client.Close()
}

func (v *V2) loop(ctx context.Context) {
	ticks := time.NewTicker(v.opts.TickEvery)
	beats := time.NewTicker(v.opts.BeatEvery)
	signals := time.NewTicker(v.opts.SignalEvery)
	regimes := time.NewTicker(v.opts.RegimeEvery)
	defer ticks.Stop()
	defer beats.Stop()
	defer signals.Stop()
	defer regimes.Stop()
	v.beat(ctx) // at once, as a service announces itself when it starts
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticks.C:
			v.tick(ctx)
		case <-beats.C:
			v.beat(ctx)
		case <-signals.C:
			v.signal(ctx)
		case <-regimes.C:
			v.regime(ctx)
		}
	}
}

func now() float64 { return float64(time.Now().UnixMicro()) / 1e6 }

func (v *V2) publish(ctx context.Context, channel string, payload map[string]any) {
	b, _ := json.Marshal(payload)
	_ = v.client.Publish(ctx, channel, b).Err()
}

func (v *V2) tick(ctx context.Context) {
	v.mu.Lock()
	ticking := v.ticking
	v.n++
	n := v.n
	v.mu.Unlock()
	if !ticking {
		return
	}
	for i, a := range v.opts.Assets {
		price := 1.05 + float64(i)*0.2 + float64(n%20)*0.0001
		v.publish(ctx, "market_data", map[string]any{"timestamp": now(), "asset": a, "price": price, "source": "pocketoption"})
	}
	if n%10 == 0 { // a closed one-minute candle now and then, as the collector sends
		a := v.opts.Assets[0]
		v.publish(ctx, "market_data", map[string]any{"timestamp": now(), "asset": a, "open": 1.0500, "high": 1.0519,
			"low": 1.0500, "close": 1.0510, "volume": 12, "timeframe": "1m", "is_closed": true})
	}
}

func (v *V2) beat(ctx context.Context) {
	v.mu.Lock()
	status := map[string]string{}
	for k, s := range v.status {
		status[k] = s
	}
	v.mu.Unlock()
	for service, s := range status {
		channel := "system_status"
		if service == "scanner" {
			channel = "scan:heartbeat"
		}
		v.publish(ctx, channel, map[string]any{"service": service, "status": s, "timestamp": now()})
	}
}

func (v *V2) signal(ctx context.Context) {
	v.mu.Lock()
	n := v.n
	v.mu.Unlock()
	action := []string{"BUY", "SELL"}[n%2]
	a := v.opts.Assets[int(n)%len(v.opts.Assets)]
	v.publish(ctx, "trading:signals", map[string]any{"timestamp": now(), "asset": a, "action": action,
		"confidence": 0.8, "strategy_id": "confluence_v2", "metadata": map[string]any{"rsi": 28.5, "note": fmt.Sprint(n)}})
}

func (v *V2) regime(ctx context.Context) {
	for _, a := range v.opts.Assets {
		v.publish(ctx, "strategy:regime", map[string]any{"timestamp": now(), "asset": a, "condition": "trending",
			"confluence_score": 0.72, "direction": "bullish", "suggested_expiry": "5m",
			"technicals": map[string]any{"adx": 31}, "is_tradeable": true})
	}
}
