package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata"
	"github.com/quflx/quflx-tui/store"
	"github.com/quflx/quflx-tui/ui"
)

// backend gives the dashboard its slow data; the ui package calls it from commands only.
type backend struct {
	client  *redisdata.Client // read-only
	poller  *redisdata.Poller
	sub     *redisdata.Subscriber
	cache   *redisdata.CandleCache
	history *redisdata.History
}

func (b *backend) Poll(ctx context.Context) ui.Poll {
	p := ui.Poll{At: time.Now()}
	if rtt, err := b.client.PingRTT(ctx); err == nil {
		p.PingRTT = rtt
	}
	p.Snapshot, p.Err = b.poller.Poll(ctx)
	p.At = time.Now()
	p.Sub = b.sub.Stats()
	p.Events = b.sub.Events(nil)
	p.Cache = b.cache.Stats()
	p.Store = b.history.StoreLatency()
	if p.Snapshot != nil {
		p.Flusher = p.Snapshot.Flusher
	}
	// Assets seen publishing get their buffers polled before discovery finds them.
	b.poller.AddAssets(p.Sub.AssetNames()...)
	return p
}

func (b *backend) History(ctx context.Context, asset string, tf model.Timeframe) (redisdata.HistoryResult, error) {
	return b.history.Load(ctx, asset, tf)
}

// dashboardSource is what the dashboard watches: the pipeline's Redis in the demo, or
// the configured server.
type dashboardSource struct {
	redis   redisdata.Options
	info    ui.Info
	assets  []string
	history *redisdata.History     // the demo's (it may fill the cache); nil: build one
	cache   *redisdata.CandleCache // whose stats the cache panel shows
	store   store.Store            // live: history on cache misses (optional)
}

// runDashboard runs the Bubble Tea dashboard until the user quits or ctx ends.
func runDashboard(ctx context.Context, cfg Config, src dashboardSource, errOut io.Writer) error {
	opts := src.redis
	opts.ReadOnly = true
	client, err := connect(ctx, opts)
	if err != nil {
		return err
	}
	defer client.Close()

	sub := redisdata.NewSubscriber(client, redisdata.SubscriberOptions{Channel: cfg.Channel, Assets: src.assets})
	poller := redisdata.NewPoller(client, redisdata.PollerOptions{
		TickKey: cfg.TickKey, CacheKey: cfg.CacheKey, Assets: src.assets, DiscoverEvery: cfg.DiscoverEvery,
		FlusherStatusKey: redisdata.DefaultFlusherStatusKey,
	})
	cache, history := src.cache, src.history
	if history == nil {
		cache = redisdata.NewCandleCache(client, redisdata.CacheOptions{Key: cfg.CacheKey})
		var source redisdata.CandleSource
		if src.store != nil {
			source = src.store
		}
		history = redisdata.NewHistory(cache, source, cfg.FillCache)
	}
	market := model.NewMarket(model.MarketOptions{})

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		_ = sub.Run(runCtx)
	}()
	// The reader goroutine aggregates every tick; the dashboard takes a snapshot a frame.
	go func() {
		defer wg.Done()
		for t := range sub.Ticks() {
			market.Add(t, time.Now().UnixMicro())
		}
	}()
	defer wg.Wait()

	if os.Getenv("NO_COLOR") != "" {
		lipgloss.SetColorProfile(termenv.Ascii)
	}
	m := ui.New(ui.Options{
		Backend: &backend{client: client, poller: poller, sub: sub, cache: cache, history: history},
		Market:  market, Info: src.info, FPS: cfg.FPS, PollEvery: cfg.PollInterval, Stale: cfg.Stale,
		ASCII: cfg.ASCII,
	})
	prog := tea.NewProgram(m, tea.WithAltScreen(), tea.WithMouseCellMotion(), tea.WithContext(runCtx))
	_, err = prog.Run()
	cancel()
	if err != nil && !(errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil) {
		return fmt.Errorf("dashboard: %w", err)
	}
	lat := m.ScreenLatency()
	fmt.Fprintf(errOut, "quflx-tui: %s ticks shown in %d repaints; publish to screen p50 %s, p99 %s\n",
		fmtCount(market.Total()), m.Repaints(), lat.P50.Round(time.Millisecond/10), lat.P99.Round(time.Millisecond/10))
	return nil
}

func fmtCount(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// logSink sends log lines to --log, or discards them while the dashboard owns the
// terminal (the panels show what matters; stderr would tear the screen).
func logSink(cfg Config, errOut io.Writer) (func(string), func(), error) {
	if cfg.LogFile == "" {
		if cfg.NoUI {
			return func(line string) { fmt.Fprintln(errOut, line) }, func() {}, nil
		}
		return func(string) {}, func() {}, nil
	}
	f, err := os.OpenFile(cfg.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, usageErr("--log: %v", err)
	}
	var mu sync.Mutex
	return func(line string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintln(f, line)
	}, func() { f.Close() }, nil
}
