package cli

import (
	"context"
	"fmt"
	"io"
	"sort"
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
	board := newTickBoard()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		_ = sub.Run(ctx)
	}()
	go func() {
		defer wg.Done()
		for t := range sub.Ticks() {
			board.add(t)
		}
	}()
	defer wg.Wait()

	fmt.Fprintf(out, "quflx-tui: watching %s (read-only); Ctrl-C to stop\n", client.Endpoint())
	ticker := time.NewTicker(cfg.PollInterval)
	defer ticker.Stop()
	var lastOK time.Time = time.Now()
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
		line := summaryLine(snap, sub.Stats(), board.snapshot())
		if extra != nil {
			line += " | " + extra()
		}
		fmt.Fprintln(out, line)
	}
}

// tickBoard keeps each asset's last price and rate, fed from the subscriber's channel.
type tickBoard struct {
	mu     sync.Mutex
	assets map[string]*boardAsset
}

type boardAsset struct {
	last model.Tick
	rate *model.RateMeter
}

type boardRow struct {
	Asset string
	Last  model.Tick
	Rate  float64
}

func newTickBoard() *tickBoard { return &tickBoard{assets: map[string]*boardAsset{}} }

func (b *tickBoard) add(t model.Tick) {
	now := time.Now().UnixNano()
	b.mu.Lock()
	defer b.mu.Unlock()
	a := b.assets[t.Asset]
	if a == nil {
		a = &boardAsset{rate: model.NewRateMeter(5*time.Second, 250*time.Millisecond)}
		b.assets[t.Asset] = a
	}
	a.last = t
	a.rate.Add(now, 1)
}

func (b *tickBoard) snapshot() []boardRow {
	now := time.Now().UnixNano()
	b.mu.Lock()
	defer b.mu.Unlock()
	rows := make([]boardRow, 0, len(b.assets))
	for name, a := range b.assets {
		rows = append(rows, boardRow{Asset: name, Last: a.last, Rate: a.rate.Rate(now)})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Asset < rows[j].Asset })
	return rows
}

const maxAssetsPerLine = 4

// summaryLine is the one-line status of the plain-text mode.
func summaryLine(snap *redisdata.Snapshot, sub redisdata.SubscriberStats, rows []boardRow) string {
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
		fmt.Fprintf(&b, " | %s %g %.1f/s buf %d", r.Asset, r.Last.Price, r.Rate, lens[r.Asset])
	}
	if len(rows) == 0 {
		fmt.Fprintf(&b, " | %d buffers, %d cache keys, no ticks yet", len(snap.Buffers), len(snap.Caches))
	}
	fmt.Fprintf(&b, " | bad %d dropped %d", sub.Bad, sub.Dropped)
	return b.String()
}
