package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

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
	client, err := redisdata.NewClient(opts)
	if err != nil {
		return &UsageError{msg: err.Error()}
	}
	defer client.Close()
	discover := time.Duration(0) // every poll of a one-shot discovers
	if cfg.Status.Watch > 0 {
		discover = max(cfg.Status.Watch, cfg.DiscoverEvery)
	}
	poller := redisdata.NewPoller(client, redisdata.PollerOptions{
		TickKey: cfg.TickKey, CacheKey: cfg.CacheKey, Assets: cfg.Assets, LastTicks: true,
		FlusherStatusKey: redisdata.DefaultFlusherStatusKey, DiscoverEvery: discover,
	})
	snapshot := func() redisdata.Report {
		pollCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		ping, err := client.PingRTT(pollCtx)
		if err == nil {
			var snap *redisdata.Snapshot
			if snap, err = poller.Poll(pollCtx); err == nil {
				return redisdata.NewReport(snap, client.Endpoint(), ping, cfg.Status.Thresholds, time.Now())
			}
		}
		return redisdata.DownReport(client.Endpoint(), fmt.Errorf("cannot reach Redis: %w", err), time.Now())
	}

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
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
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
	fmt.Fprintf(w, "flusher\t%s\n", flusherLine(r))
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
	if s.Role != nil {
		version += " " + *s.Role
	}
	parts = append(parts, version)
	if s.UptimeSeconds != nil {
		parts = append(parts, "up "+(time.Duration(*s.UptimeSeconds)*time.Second).String())
	}
	add("clients %d", s.ConnectedClients)
	if s.UsedMemory != nil {
		mem := "mem " + humanBytes(*s.UsedMemory)
		if s.UsedMemoryPeak != nil {
			mem += " (peak " + humanBytes(*s.UsedMemoryPeak) + ")"
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

func flusherLine(r redisdata.Report) string {
	f := r.Flusher
	if f == nil {
		return "no status published"
	}
	alive := "alive"
	if !f.Alive {
		alive = "NOT ALIVE"
	}
	last := "never"
	if !f.LastFlush.IsZero() {
		last = r.At.Sub(f.LastFlush).Round(time.Second).String() + " ago"
	}
	return fmt.Sprintf("%s (%s, heartbeat %.1fs ago) · store %s · last flush %s · flushed %d · backlog %d · errors %d · lost %d",
		f.State, alive, f.HeartbeatAgeSeconds, f.Store, last, f.Flushed, f.Backlog, f.Errors, f.LostToTrim)
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
