package ui

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata"
)

// The QuFLX producers call a cache key fresh while it has more than five minutes to live.
const freshTTL = 300 * time.Second

// connection summarises the link to the server as the header shows it.
type connection struct {
	state redisdata.ConnState
	since time.Time
	err   string
}

func (c connection) render(t *Theme, now time.Time) string {
	dur := fmtAge(now.Sub(c.since))
	switch c.state {
	case redisdata.StateLive:
		return t.Good.Render(t.G.Live + " live")
	case redisdata.StateReconnecting:
		return t.Warn.Render(t.G.Live + " reconnecting for " + dur)
	case redisdata.StateDown:
		return t.Bad.Render(t.G.Live + " down for " + dur)
	case redisdata.StateStopped:
		return t.Muted.Render(t.G.Live + " stopped")
	default:
		return t.Muted.Render(t.G.Live + " connecting")
	}
}

// header is the top line: where, what, how it is, and the clock.
func header(t *Theme, info Info, p *Poll, conn connection, frozen bool, now time.Time, w int) string {
	sep := t.Muted.Render(t.G.Sep)
	parts := []string{t.Title.Render("quflx-tui")}
	where := info.Endpoint
	if info.Embedded {
		where += " (embedded)"
	}
	parts = append(parts, where)
	if p != nil && p.Snapshot != nil {
		in := p.Snapshot.Info
		server := "Redis"
		switch {
		case in.Version != "":
			server += " " + in.Version
		case info.Embedded:
			server = "miniredis"
		default:
			server += t.Muted.Render(" (version not reported)")
		}
		if in.Role != "" {
			server += " " + in.Role
		}
		parts = append(parts, server)
		if in.UptimeSeconds.Known {
			parts = append(parts, "up "+fmtUptime(in.UptimeSeconds.V))
		}
	}
	parts = append(parts, conn.render(t, now))
	badge := t.BadgeRO
	switch info.Mode {
	case ModeDemo:
		badge = t.BadgeDemo
	case ModeLive:
		badge = t.BadgeLive
	}
	right := badge.Render(string(info.Mode))
	if frozen {
		right = t.Frozen.Render("FROZEN") + " " + right
	}
	right += " " + t.Bold.Render(now.Format("15:04:05"))
	left := strings.Join(parts, sep)
	gap := w - lipgloss.Width(left) - lipgloss.Width(right)
	if gap < 1 {
		// Narrow: drop the middle parts first, keep the state and the clock.
		left = strings.Join([]string{parts[0], conn.render(t, now)}, sep)
		gap = max(1, w-lipgloss.Width(left)-lipgloss.Width(right))
	}
	return fit(left+strings.Repeat(" ", gap)+right, w)
}

// redisPanel shows the server's health. Fields the server does not report (miniredis
// has no memory or keyspace figures) are listed once as such, never shown as zeros.
func redisPanel(t *Theme, p *Poll, ops []float64, sp *sparker, w int) []string {
	if p == nil || p.Snapshot == nil {
		msg := "no reading yet"
		if p != nil && p.Err != nil {
			msg = p.Err.Error()
		}
		return []string{t.Warn.Render(msg)}
	}
	in, win := p.Snapshot.Info, p.Snapshot.Window
	var lines, missing []string
	add := func(line string) { lines = append(lines, line) }
	opsLine := "ops "
	switch {
	case win.Valid:
		opsLine += t.Bold.Render(fmtSI(win.OpsPerSec) + "/s")
	case in.OpsPerSec.Known:
		opsLine += fmtSI(float64(in.OpsPerSec.V)) + "/s"
	default:
		opsLine += t.Muted.Render("measuring")
	}
	if free := w - lipgloss.Width(opsLine) - 1; free >= 5 && len(ops) > 1 {
		opsLine += " " + sp.draw(ops, min(free, 20), t.G, t.Accent)
	}
	add(opsLine)
	if in.UsedMemory.Known {
		mem := "mem " + fmtBytes(in.UsedMemory.V)
		if in.UsedMemoryPeak.Known {
			mem += " peak " + fmtBytes(in.UsedMemoryPeak.V)
		}
		if rss := " rss " + fmtBytes(in.UsedMemoryRSS.V); in.UsedMemoryRSS.Known && lipgloss.Width(mem+rss) <= w {
			mem += t.Muted.Render(rss)
		}
		add(mem)
	} else {
		missing = append(missing, "memory")
	}
	line := ""
	if in.ConnectedClients.Known {
		line = "clients " + strconv.FormatInt(in.ConnectedClients.V, 10) + "  "
	} else {
		missing = append(missing, "clients")
	}
	switch life, ok := in.HitRate(); {
	case win.HitRateKnown:
		line += fmt.Sprintf("hit %.1f%%", 100*win.HitRate)
	case ok:
		line += fmt.Sprintf("hit %.1f%% life", 100*life)
	case !in.KeyspaceHits.Known:
		missing = append(missing, "hit rate")
	}
	if line != "" {
		add(line)
	}
	if in.ExpiredKeys.Known {
		add("expired " + fmtSI(float64(in.ExpiredKeys.V)) + "  evicted " + fmtSI(float64(in.EvictedKeys.V)))
	} else {
		missing = append(missing, "expiry")
	}
	line = ""
	if in.PubSubChannels.Known {
		line = "pubsub " + strconv.FormatInt(in.PubSubChannels.V, 10) + "ch " + strconv.FormatInt(in.PubSubPatterns.V, 10) + "pat "
	} else {
		missing = append(missing, "pub/sub")
	}
	if in.Keyspace != nil {
		var total int64
		for _, db := range in.Keyspace {
			total += db.Keys
		}
		line += "keys " + fmtSI(float64(total))
	} else {
		missing = append(missing, "keys")
	}
	if line != "" {
		add(line)
	}
	if len(missing) > 0 {
		text := ansi.Wordwrap("not reported by this server: "+strings.Join(missing, ", "), w, "")
		for _, l := range strings.Split(text, "\n") {
			add(t.Muted.Render(l))
		}
	}
	return lines
}

// cacheLines shows the candle cache: the application hit rate, then every key with its
// candle count and a TTL that counts down between polls.
func cacheLines(t *Theme, p *Poll, now time.Time, offset, rows, w int) (lines []string, total int) {
	if p == nil || p.Snapshot == nil {
		return []string{t.Muted.Render("no reading yet")}, 0
	}
	st := p.Cache
	summary := "app hit "
	if rate, ok := st.HitRate(); ok {
		summary += fmt.Sprintf("%.0f%% (%d/%d)", 100*rate, st.Hits, st.Hits+st.Misses)
	} else {
		summary += t.Muted.Render("no lookups yet")
	}
	if st.HitLatency.Count > 0 {
		summary += t.Muted.Render("  hit " + fmtLatency(st.HitLatency.P50))
	}
	lines = append(lines, summary)
	keys := p.Snapshot.Caches
	if len(keys) == 0 {
		return append(lines, t.Muted.Render("no cache keys found")), 0
	}
	elapsed := now.Sub(p.At)
	end := min(len(keys), offset+rows-1)
	for _, k := range keys[max(0, min(offset, len(keys)-1)):end] {
		count := "?"
		if k.Candles >= 0 {
			count = strconv.Itoa(k.Candles)
		}
		// The TTL is coloured by state: fresh above five minutes (QuFLX's own threshold),
		// then expiring; a key that is gone says so.
		var ttl string
		switch {
		case k.Err != nil:
			ttl = t.Bad.Render("error")
		case !k.Exists:
			ttl = t.Bad.Render("expired")
		case k.NoExpiry:
			ttl = t.Muted.Render("no ttl")
		default:
			left := max(0, k.TTL-elapsed)
			switch {
			case left <= 0:
				ttl = t.Bad.Render("expired")
			case left > freshTTL:
				ttl = t.Good.Render(fmtCountdown(left))
			default:
				ttl = t.Warn.Render(fmtCountdown(left))
			}
		}
		figures := fmt.Sprintf(" %-3s %3s ", k.TimeframeText, count)
		assetW := max(6, w-len(figures)-7)
		lines = append(lines, fit(cut(k.Asset, assetW, t.G.Ellipsis), assetW)+figures+fitRight(ttl, 7))
	}
	return lines, len(keys)
}

// flusherLines shows the batch flusher, read from the status it publishes.
func flusherLines(t *Theme, p *Poll, info Info, now time.Time) []string {
	if p == nil {
		return []string{t.Muted.Render("no reading yet")}
	}
	f := p.Flusher
	if f == nil {
		lines := []string{t.Warn.Render("no flusher heartbeat")}
		if info.Store != "" {
			lines = append(lines, t.Muted.Render("store "+info.Store))
		}
		return append(lines, t.Muted.Render("(run: quflx-tui flush)"))
	}
	state := f.State
	switch {
	case now.Sub(f.Heartbeat) > 5*time.Second && f.State != "stopped":
		state = t.Bad.Render("no heartbeat for " + fmtAge(now.Sub(f.Heartbeat)))
	case f.State == "retrying":
		state = t.Warn.Render(state)
	case f.State == "stopped":
		state = t.Muted.Render(state)
	default:
		state = t.Good.Render(state)
	}
	last := t.Muted.Render("none yet")
	if !f.LastFlush.IsZero() {
		last = fmtAge(now.Sub(f.LastFlush)) + " ago, " + fmtThousands(f.LastRows) + " rows"
	}
	next := ""
	if !f.NextFlush.IsZero() {
		next = "next in " + fmtAge(max(0, f.NextFlush.Sub(now)))
	}
	errs := "err " + strconv.FormatInt(f.Errors, 10)
	if f.Errors > 0 {
		errs = t.Bad.Render(errs)
	}
	lost := "lost " + strconv.FormatInt(f.LostToTrim, 10)
	if f.LostToTrim > 0 {
		lost = t.Bad.Render(lost)
	}
	lines := []string{
		state + t.Muted.Render(t.G.Sep+shortStore(f.Store)),
		"last " + last,
		"flushed " + fmtThousands(f.Flushed) + "  backlog " + fmtThousands(f.Backlog),
		errs + " " + lost + " bad " + strconv.FormatInt(f.Bad, 10) + " dup " + fmtSI(float64(f.DuplicatesSkipped)),
	}
	if next != "" {
		lines = append(lines[:2], append([]string{t.Muted.Render(strings.TrimSpace(next))}, lines[2:]...)...)
	}
	if f.LastError != "" {
		lines = append(lines, t.Bad.Render(f.LastError))
	}
	return lines
}

// latencyLines shows the round trips and the end-to-end latency.
func latencyLines(t *Theme, p *Poll, e2e model.LatencySummary) []string {
	if p == nil {
		return []string{t.Muted.Render("no reading yet")}
	}
	pair := func(s model.LatencySummary) string {
		if s.Count == 0 {
			return t.Muted.Render("no samples")
		}
		return fmtLatency(s.P50) + " / " + fmtLatency(s.P99)
	}
	redis := "ping " + fmtLatency(p.PingRTT)
	if p.Snapshot != nil {
		redis += "  poll " + fmtLatency(p.Snapshot.RoundTrip)
	}
	misses := "miss " + fmtLatency(p.Cache.MissLatency.P50)
	if p.Store.Count > 0 {
		misses += " store " + fmtLatency(p.Store.P50)
	}
	return []string{
		redis,
		t.Muted.Render("from publish, p50 / p99:"),
		" screen " + pair(e2e),
		" recv   " + pair(p.Sub.Latency),
		"cache hit " + fmtLatency(p.Cache.HitLatency.P50),
		"      " + misses,
	}
}

// eventLines shows the newest events first.
func eventLines(t *Theme, events []redisdata.Event, offset, rows int) []string {
	if len(events) == 0 {
		return []string{t.Muted.Render("no events")}
	}
	sorted := make([]redisdata.Event, len(events))
	copy(sorted, events)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].At.After(sorted[j].At) })
	var lines []string
	for _, e := range sorted[min(offset, len(sorted)-1):min(len(sorted), offset+rows)] {
		style := t.Muted
		switch e.Kind {
		case "bad", "error":
			style = t.Bad
		case "state":
			style = t.Warn
		}
		lines = append(lines, t.Muted.Render(e.At.Format("15:04:05"))+" "+style.Render(e.Kind)+" "+oneLine(e.Text))
	}
	return lines
}

// oneLine keeps a payload shown in the events panel on one line.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		if r < 0x20 {
			return '?'
		}
		return r
	}, s)
}

// compactStatus is the small layout's one-line summary of the panels.
func compactStatus(t *Theme, p *Poll, e2e model.LatencySummary, now time.Time, w int) string {
	if p == nil {
		return ""
	}
	var parts []string
	if p.Snapshot != nil && p.Snapshot.Window.Valid {
		parts = append(parts, "ops "+fmtSI(p.Snapshot.Window.OpsPerSec)+"/s")
	}
	if f := p.Flusher; f != nil {
		s := "flusher " + f.State
		if !f.LastFlush.IsZero() {
			s += " " + fmtAge(now.Sub(f.LastFlush)) + " ago"
		}
		if f.LostToTrim > 0 || f.Errors > 0 {
			s = t.Bad.Render(s + fmt.Sprintf(" (lost %d, errors %d)", f.LostToTrim, f.Errors))
		}
		parts = append(parts, s)
	} else {
		parts = append(parts, t.Warn.Render("no flusher"))
	}
	if e2e.Count > 0 {
		parts = append(parts, "screen p99 "+fmtLatency(e2e.P99))
	}
	if p.Sub.Bad > 0 {
		parts = append(parts, t.Bad.Render("bad "+strconv.FormatInt(p.Sub.Bad, 10)))
	}
	return fit(strings.Join(parts, t.Muted.Render(t.G.Sep)), w)
}

// shortStore keeps a store's description short for a panel: the file name of a SQLite
// store, the host and database of a PostgreSQL one.
func shortStore(s string) string {
	if rest, ok := strings.CutPrefix(s, "sqlite:"); ok {
		if i := strings.LastIndexByte(rest, '/'); i >= 0 {
			return "sqlite " + rest[i+1:]
		}
		return "sqlite " + rest
	}
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		return "pg " + s[i+1:]
	}
	return s
}
