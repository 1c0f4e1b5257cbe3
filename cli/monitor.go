package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata"
)

// runMonitor watches the configured Redis read-only and prints one summary line per poll;
// extra, when set, adds to each line (the demo's pipeline figures).
func runMonitor(ctx context.Context, cfg Config, out io.Writer, extra func() string) error {
	ctx, cancel := withDuration(ctx, cfg.Duration)
	defer cancel()
	opts := cfg.Redis
	opts.ReadOnly = true
	client, err := connect(ctx, opts)
	if err != nil {
		return err
	}
	defer client.Close()

	sub := redisdata.NewSubscriber(client, redisdata.SubscriberOptions{Channel: cfg.Channel, Assets: cfg.Assets})
	poller := redisdata.NewPoller(client, redisdata.PollerOptions{
		TickKey: cfg.TickKey, CacheKey: cfg.CacheKey, Assets: cfg.Assets, DiscoverEvery: cfg.DiscoverEvery,
	})
	market := model.NewMarket(model.MarketOptions{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		_ = sub.Run(ctx)
	}()
	go func() {
		defer wg.Done()
		for t := range sub.Ticks() {
			market.Add(t, time.Now().UnixMicro())
		}
	}()
	defer wg.Wait()

	fmt.Fprintf(out, "quflx-tui: watching %s (read-only); Ctrl-C to stop\n", client.Endpoint())
	ticker := time.NewTicker(cfg.PollInterval)
	defer ticker.Stop()
	lastOK := time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
		pollCtx, cancel := context.WithTimeout(ctx, max(cfg.PollInterval, 2*time.Second))
		snap, err := poller.Poll(pollCtx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			fmt.Fprintf(out, "%s reconnecting for %s: %v\n", time.Now().Format("15:04:05"),
				time.Since(lastOK).Round(time.Second), err)
			continue
		}
		lastOK = time.Now()
		assets := sub.Stats().AssetNames()
		poller.AddAssets(assets...)
		line := summaryLine(snap, sub.Stats(), market.Views(time.Now().UnixNano(), nil))
		if extra != nil {
			line += " | " + extra()
		}
		fmt.Fprintln(out, line)
	}
}

const maxAssetsPerLine = 4

// summaryLine is the one-line status of the plain-text mode.
func summaryLine(snap *redisdata.Snapshot, sub redisdata.SubscriberStats, rows []model.AssetView) string {
	var b strings.Builder
	b.WriteString(snap.At.Format("15:04:05"))
	fmt.Fprintf(&b, " %s", sub.State)
	if snap.Info.Version != "" {
		fmt.Fprintf(&b, " redis %s", snap.Info.Version)
	}
	if snap.Window.Valid {
		fmt.Fprintf(&b, " ops %.0f/s", snap.Window.OpsPerSec)
	}
	if snap.Window.HitRateKnown {
		fmt.Fprintf(&b, " hit %.1f%%", 100*snap.Window.HitRate)
	}
	fmt.Fprintf(&b, " rtt %s", snap.RoundTrip.Round(10*time.Microsecond))
	lens := map[string]int64{}
	for _, buf := range snap.Buffers {
		lens[buf.Asset] = buf.Len
	}
	for i, r := range rows {
		if i == maxAssetsPerLine {
			fmt.Fprintf(&b, " | +%d more", len(rows)-i)
			break
		}
		fmt.Fprintf(&b, " | %s %s %.1f/s buf %d", r.Asset, strconv.FormatFloat(r.Last.Price, 'f', r.Decimals, 64), r.Rate, lens[r.Asset])
	}
	if len(rows) == 0 {
		fmt.Fprintf(&b, " | %d buffers, %d cache keys, no ticks yet", len(snap.Buffers), len(snap.Caches))
	}
	fmt.Fprintf(&b, " | bad %d dropped %d", sub.Bad, sub.Dropped)
	return b.String()
}
