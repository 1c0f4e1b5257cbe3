package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/quflx/quflx-tui/metrics"
	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata"
)

// runMonitor watches the configured Redis read-only and prints one summary line per poll;
// extra, when set, adds to each line (the demo's pipeline figures).
func runMonitor(ctx context.Context, cfg Config, ex *metrics.Exporter, out io.Writer, extra func() string) error {
	ctx, cancel := withDuration(ctx, cfg.Duration)
	defer cancel()
	opts := cfg.Redis
	opts.ReadOnly = true
	client, err := connect(ctx, opts)
	if err != nil {
		return err
	}

	watch := redisdata.NewWatch(client, withTopology(cfg, redisdata.WatchOptions{
		TickKey: cfg.TickKey, CacheKey: cfg.CacheKey, Channel: cfg.Channel, Assets: cfg.Assets, MaxAssets: cfg.MaxAssets,
		Subscribe: true, PollEvery: cfg.PollInterval, DiscoverEvery: cfg.DiscoverEvery, Thresholds: cfg.Status.Thresholds,
		FlusherStatusKey: cfg.flusherStatusKey,
	}))
	ex.Watch(watch)
	updates, stop := watch.Updates()
	defer stop()
	watch.Start(ctx)
	defer watch.Close()
	alerts := newAlertRunner(cfg, nil) // its lines are printed below, in order
	ex.AlertsFiring(alerts.FiringCount)
	alertWake, stopAlerts := alerts.Wake()
	defer stopAlerts()
	alerts.Start(ctx, watch)
	defer alerts.Close(alertGrace)
	var alertSeq uint64

	fmt.Fprintf(out, "quflx-tui: watching %s (read-only); Ctrl-C to stop\n", watch.Endpoint())
	lastOK := time.Now()
	for {
		select {
		case <-ctx.Done():
			alertSeq = printAlerts(out, alerts.State(), alertSeq, cfg.Alerts.Bell)
			return nil
		case <-alertWake:
			// Transitions as they happen, between the summary lines.
			alertSeq = printAlerts(out, alerts.State(), alertSeq, cfg.Alerts.Bell)
			continue
		case <-updates:
		}
		r := watch.Latest()
		if ctx.Err() != nil {
			return nil
		}
		if r.Err != nil {
			fmt.Fprintln(out, model.Printable(fmt.Sprintf("%s reconnecting for %s: %v", time.Now().Format("15:04:05"),
				time.Since(lastOK).Round(time.Second), r.Err)))
			continue
		}
		lastOK = r.At
		line := summaryLine(r.Snapshot, r.Sub, watch.Market().Views(time.Now().UnixNano(), nil))
		if s := servicesSummary(r, cfg.Status.Thresholds); s != "" {
			line += " | " + s
		}
		if extra != nil {
			line += " | " + model.Printable(extra())
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
	switch {
	case len(snap.Nodes) > 0:
		down := 0
		for _, n := range snap.Nodes {
			if n.Err != nil {
				down++
			}
		}
		fmt.Fprintf(&b, " cluster %d nodes", len(snap.Nodes))
		if down > 0 {
			fmt.Fprintf(&b, " (%d unreachable)", down)
		}
	case snap.Master != "":
		fmt.Fprintf(&b, " master %s", snap.Master)
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
		fmt.Fprintf(&b, " | %s %s %.1f/s", r.Asset, strconv.FormatFloat(r.Last.Price, 'f', r.Decimals, 64), r.Rate)
		if n, ok := lens[r.Asset]; ok { // a pub/sub-only asset (QuFLX v2) has none
			fmt.Fprintf(&b, " buf %d", n)
		}
	}
	if len(rows) == 0 {
		fmt.Fprintf(&b, " | %d buffers, %d cache keys, no ticks yet", len(snap.Buffers), len(snap.Caches))
	}
	fmt.Fprintf(&b, " | bad %d dropped %d", sub.Bad, sub.Dropped)
	if sub.NotAdmitted > 0 {
		fmt.Fprintf(&b, " not admitted %d", sub.NotAdmitted)
	}
	// Asset names and server strings are anyone's choice: nothing in the line may act on
	// the terminal.
	return model.Printable(b.String())
}

// servicesSummary is the services' states and the last signal, for the plain-text line
// ("" when no side channel said anything).
func servicesSummary(r *redisdata.Reading, th model.HealthThresholds) string {
	th = th.WithDefaults()
	var parts []string
	for _, s := range r.Pipeline.Services {
		parts = append(parts, s.Service+" "+s.State(r.At, th.ServiceStale))
	}
	if len(r.Pipeline.Signals) > 0 {
		sig := r.Pipeline.Signals[0]
		parts = append(parts, "signal "+sig.Asset+" "+sig.Action)
	}
	if len(parts) == 0 {
		return ""
	}
	return model.Printable(strings.Join(parts, ", ") + " | health " + r.Report.Health.Status)
}

// withTopology sets the watch's topology from the configuration (--profile and its flags).
func withTopology(cfg Config, o redisdata.WatchOptions) redisdata.WatchOptions {
	t := cfg.Topology
	o.PubSubOnly = t.PubSubOnly
	o.HeartbeatChannels = t.HeartbeatChannels
	o.SignalChannel, o.RegimeChannel, o.AlertChannel = t.SignalChannel, t.RegimeChannel, t.AlertChannel
	o.ExpectServices = t.ExpectServices
	return o
}
