package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/quflx/quflx-tui/model/format"

	"golang.org/x/term"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata"
)

// exitCode ends the program with a status and no message: status has said everything.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// healthCode maps a health status to the exit status scripts check.
func healthCode(status string) int {
	switch status {
	case redisdata.Healthy:
		return 0
	case redisdata.Degraded:
		return 1
	}
	return 2
}

// runStatus is `quflx-tui status`: one snapshot (or one every --watch) as aligned text or
// JSON, with an exit status that makes it a health check.
func runStatus(ctx context.Context, cfg Config, out io.Writer) error {
	opts := cfg.Redis
	opts.ReadOnly = true
	opts.MaxRetries = -1 // one snapshot: report a failure, do not hide it behind retries
	client, err := openReader(ctx, opts)
	if err != nil {
		return err
	}
	discover := time.Duration(0) // every poll of a one-shot discovers
	if cfg.Status.Watch > 0 {
		discover = max(cfg.Status.Watch, cfg.DiscoverEvery)
	}
	// Under v2 (or with heartbeat channels) status listens to pub/sub for a window before
	// the first report, on one subscriber connection for the ticks and the heartbeats.
	listen := cfg.Status.Listen
	watch := redisdata.NewWatch(client, withTopology(cfg, redisdata.WatchOptions{
		TickKey: cfg.TickKey, CacheKey: cfg.CacheKey, Channel: cfg.Channel, Assets: cfg.Assets, MaxAssets: cfg.MaxAssets,
		DiscoverEvery: discover, PollTimeout: 10 * time.Second, Thresholds: cfg.Status.Thresholds,
		Subscribe: listen > 0, Hold: -1,
	}))
	defer watch.Close()
	if listen > 0 {
		watch.Listen(ctx)
		select {
		case <-ctx.Done():
		case <-time.After(listen):
		}
	}
	snapshot := func() redisdata.Report { return watch.Poll(ctx).Report }

	if cfg.Status.Watch <= 0 {
		r := snapshot()
		if err := printReport(out, r, cfg.JSON); err != nil {
			return err
		}
		return codeOf(r)
	}
	tty := false
	if f, ok := out.(*os.File); ok && term.IsTerminal(int(f.Fd())) && !cfg.JSON {
		tty = true
	}
	ticker := time.NewTicker(cfg.Status.Watch)
	defer ticker.Stop()
	var last redisdata.Report
	for first := true; ; first = false {
		last = snapshot()
		switch {
		case tty:
			fmt.Fprint(out, "\x1b[H\x1b[2J") // a fresh screen each time, like watch(1)
		case !first && !cfg.JSON:
			fmt.Fprintln(out)
		}
		if err := printReport(out, last, cfg.JSON); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return codeOf(last)
		case <-ticker.C:
		}
	}
}

func codeOf(r redisdata.Report) error {
	if code := healthCode(r.Health.Status); code != 0 {
		return exitCode(code)
	}
	return nil
}

func printReport(out io.Writer, r redisdata.Report, asJSON bool) error {
	if asJSON {
		b, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("status: %w", err)
		}
		_, err = fmt.Fprintln(out, string(b))
		return err
	}
	// Key and asset names, server and flusher texts are anyone's choice: the text goes to
	// a terminal only through the sanitiser (JSON escapes control characters itself).
	var text bytes.Buffer
	defer func() { io.WriteString(out, model.PrintableText(text.String())) }()
	w := tabwriter.NewWriter(&text, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "quflx-tui status\t%s\t%s\n", r.Server.Address, r.At.Format("2006-01-02 15:04:05 MST"))
	health := strings.ToUpper(r.Health.Status)
	fmt.Fprintf(w, "health\t%s\n", health)
	for _, reason := range r.Health.Reasons {
		fmt.Fprintf(w, "\t- %s\n", reason)
	}
	if r.Health.Status == redisdata.Down {
		return w.Flush()
	}
	fmt.Fprintf(w, "server\t%s\n", serverLine(r))
	if m := r.Server.Master; m != nil {
		fmt.Fprintf(w, "master\t%s (named by the Sentinels)\n", *m)
	}
	for _, n := range r.Server.Nodes {
		fmt.Fprintf(w, "node\t%s\n", nodeLine(n))
	}
	v2 := r.Topology == redisdata.TopologyV2
	if r.ListenedSeconds != nil {
		printLive(w, r)
	}
	if v2 && len(r.Buffers) == 0 && len(r.Caches) == 0 && len(r.Flushers) == 0 && r.Flusher == nil {
		return w.Flush() // v2 keeps none: nothing to list, nothing missing (FEED lists the assets)
	}
	if len(r.Flushers) > 1 {
		sum := r.FlushersSum
		fmt.Fprintf(w, "flushers\t%d, %d alive · flushed %d · backlog %d · in flight %d · errors %d · lost %d\n",
			len(r.Flushers), sum.Alive, sum.Flushed, sum.Backlog, sum.InFlight, sum.Errors, sum.LostToTrim)
		for i := range r.Flushers {
			f := r.Flushers[i]
			fmt.Fprintf(w, "\t%s %s\n", f.Instance, flusherText(&f, r.At))
		}
	} else {
		fmt.Fprintf(w, "flusher\t%s\n", flusherLine(r))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "ASSET\tBUFFER\tIN FLIGHT\tSTORED\tLAST PRICE\tAGE\tSEEN IN")
	for _, a := range r.Assets {
		buffer, price, age := "-", "-", "-"
		if a.Buffer != nil {
			buffer = fmt.Sprint(*a.Buffer)
		}
		if a.Drained {
			buffer += " (drained)"
		}
		if a.LastPrice != nil {
			price = fmt.Sprint(*a.LastPrice)
			age = time.Duration(*a.LastAgeSeconds*float64(time.Second)).Round(100*time.Millisecond).String() + " (" + a.LastFrom + ")"
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%s\t%s\t%s\n", a.Asset, buffer, a.InFlight, a.Stored, price, age, strings.Join(a.Sources, ","))
	}
	if len(r.Assets) == 0 {
		fmt.Fprintln(w, "(no assets found)")
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "BUFFER\tSIZE\tFILL\tLAST PRICE\tLAST TICK\tAGE\tORDER")
	for _, b := range r.Buffers {
		price, at, age := "-", "-", "-"
		if b.LastPrice != nil {
			price = fmt.Sprint(*b.LastPrice)
			at = b.LastTimestamp.UTC().Format("2006-01-02 15:04:05.000")
			age = time.Duration(*b.LastAgeSeconds * float64(time.Second)).Round(100 * time.Millisecond).String()
		}
		if b.Error != "" {
			price = "error: " + b.Error
		}
		fmt.Fprintf(w, "%s\t%d\t%.0f%%\t%s\t%s\t%s\t%s\n", b.Key, b.Size, 100*b.Fill, price, at, age, b.Order)
	}
	if len(r.Buffers) == 0 {
		fmt.Fprintln(w, "(no buffers found)")
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "CACHE\tTF\tTTL\tCANDLES\tBYTES\tSTATE")
	for _, c := range r.Caches {
		ttl := "-"
		switch {
		case c.TTLSeconds > 0:
			ttl = (time.Duration(c.TTLSeconds) * time.Second).String()
		case c.TTLSeconds < 0:
			ttl = "none"
		}
		candles := "?"
		if c.Candles >= 0 {
			candles = fmt.Sprint(c.Candles)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\n", c.Key, c.Timeframe, ttl, candles, c.Bytes, c.State)
	}
	if len(r.Caches) == 0 {
		fmt.Fprintln(w, "(no cache keys found)")
	}
	return w.Flush()
}

func serverLine(r redisdata.Report) string {
	s := r.Server
	var parts []string
	add := func(format string, v *int64) {
		if v != nil {
			parts = append(parts, fmt.Sprintf(format, *v))
		}
	}
	version := "Redis"
	if s.Version != nil {
		version += " " + *s.Version
	}
	switch {
	case len(s.Nodes) > 0:
		masters := 0
		for _, n := range s.Nodes {
			if n.Role == nil || *n.Role != "slave" {
				masters++
			}
		}
		version += fmt.Sprintf(" cluster of %d nodes (%d masters; figures summed over the masters)", len(s.Nodes), masters)
	case s.Role != nil:
		version += " " + *s.Role
	}
	parts = append(parts, version)
	if s.UptimeSeconds != nil {
		parts = append(parts, "up "+(time.Duration(*s.UptimeSeconds)*time.Second).String())
	}
	add("clients %d", s.ConnectedClients)
	if s.UsedMemory != nil {
		mem := "mem " + format.Bytes(*s.UsedMemory)
		if s.UsedMemoryPeak != nil {
			mem += " (peak " + format.Bytes(*s.UsedMemoryPeak) + ")"
		}
		parts = append(parts, mem)
	}
	add("ops %d/s", s.OpsPerSec)
	if r.HitRates.ServerLifetime != nil {
		parts = append(parts, fmt.Sprintf("hit %.1f%%", 100**r.HitRates.ServerLifetime))
	}
	add("expired %d", s.ExpiredKeys)
	add("evicted %d", s.EvictedKeys)
	add("pubsub %d ch", s.PubSubChannels)
	parts = append(parts, fmt.Sprintf("ping %.2f ms", s.PingMillis), fmt.Sprintf("poll %.2f ms", s.PollMillis))
	return strings.Join(parts, " · ")
}

// nodeLine is one node of a cluster: role, slots, memory, ops/s, keys.
func nodeLine(n redisdata.NodeReport) string {
	role := "?"
	if n.Role != nil {
		role = *n.Role
	}
	parts := []string{n.Address, role}
	if n.Slots > 0 {
		parts = append(parts, fmt.Sprintf("%d slots", n.Slots))
	}
	if n.Error != "" {
		return strings.Join(append(parts, "error: "+n.Error), " · ")
	}
	if n.UsedMemory != nil {
		parts = append(parts, "mem "+format.Bytes(*n.UsedMemory))
	}
	switch {
	case n.WindowOpsPerSec != nil:
		parts = append(parts, fmt.Sprintf("ops %.0f/s", *n.WindowOpsPerSec))
	case n.OpsPerSec != nil:
		parts = append(parts, fmt.Sprintf("ops %d/s", *n.OpsPerSec))
	}
	if n.Keys != nil {
		parts = append(parts, fmt.Sprintf("keys %d", *n.Keys))
	}
	return strings.Join(parts, " · ")
}

func flusherLine(r redisdata.Report) string {
	if r.Flusher == nil {
		return "no status published"
	}
	return flusherText(r.Flusher, r.At)
}

func flusherText(f *redisdata.FlusherReport, at time.Time) string {
	alive := "alive"
	if !f.Alive {
		alive = "NOT ALIVE"
	}
	last := "never"
	if !f.LastFlush.IsZero() {
		last = at.Sub(f.LastFlush).Round(time.Second).String() + " ago"
	}
	line := fmt.Sprintf("%s (%s, heartbeat %.1fs ago) · store %s · last flush %s · flushed %d · backlog %d · errors %d · lost %d",
		f.State, alive, f.HeartbeatAgeSeconds, f.Store, last, f.Flushed, f.Backlog, f.Errors, f.LostToTrim)
	if f.Problem != "" {
		line += " · " + f.Problem
	}
	return line
}

// printLive prints what pub/sub showed: services, feeds, recent signals, regimes.
func printLive(w io.Writer, r redisdata.Report) {
	fmt.Fprintf(w, "listened\t%.1fs", *r.ListenedSeconds)
	if m := r.SideMessages; m != nil {
		fmt.Fprintf(w, " · heartbeats %d · signals %d · regimes %d · alerts %d · bad %d", m.Heartbeats, m.Signals,
			m.Regimes, m.Alerts, m.Bad)
		if m.Refused > 0 {
			fmt.Fprintf(w, " · refused %d", m.Refused)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "SERVICE\tCHANNEL\tSTATE\tSTATUS\tHEARTBEAT AGE\tBEATS")
	for _, s := range r.Services {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%.1fs\t%d\n", s.Service, s.Channel, strings.ToUpper(s.State), s.Status,
			s.HeartbeatSeconds, s.Beats)
	}
	if len(r.Services) == 0 {
		fmt.Fprintln(w, "(no heartbeat heard)")
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "FEED\tLAST TICK\tAGE")
	for _, f := range r.Feeds {
		fmt.Fprintf(w, "%s\t%s\t%.1fs\n", f.Asset, f.LastTick.Format("15:04:05.000"), f.LastAgeSeconds)
	}
	if len(r.Feeds) == 0 {
		fmt.Fprintln(w, "(no ticks heard)")
	}
	if len(r.Signals) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "SIGNAL\tASSET\tACTION\tCONFIDENCE\tSTRATEGY")
		for _, s := range r.Signals {
			conf := "-"
			if s.Confidence != nil {
				conf = fmt.Sprintf("%.0f%%", 100**s.Confidence)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", s.At.UTC().Format("15:04:05"), s.Asset, s.Action, conf, s.Strategy)
		}
	}
	if len(r.Regimes) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "REGIME\tCONDITION\tDIRECTION\tCONFLUENCE\tTRADEABLE")
		for _, g := range r.Regimes {
			conf, trade := "-", "-"
			if g.Confluence != nil {
				conf = fmt.Sprintf("%.2g", *g.Confluence)
			}
			if g.Tradeable != nil {
				trade = fmt.Sprint(*g.Tradeable)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", g.Asset, g.Condition, g.Direction, conf, trade)
		}
	}
}
