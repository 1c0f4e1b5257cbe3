package ui

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/quflx/quflx-tui/model/format"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata"
)

// The status panels: Redis, flusher, latency. They show the poll on screen and do not
// scroll or take the focus.

// redisPanel shows the server's health, with a sparkline of its recent ops/s.
type redisPanel struct {
	common
	poll *Poll
	ops  *model.Ring[float64] // ops/s of the last polls
	buf  []float64
	sp   *sparker
}

func newRedisPanel(ctx *frameContext) *redisPanel {
	return &redisPanel{common: newCommon(ctx, false), ops: model.NewRing[float64](60), sp: newSparker()}
}

// SetPoll shows a poll, and adds its ops/s to the sparkline.
func (r *redisPanel) SetPoll(p *Poll) {
	r.poll = p
	if p != nil && p.Snapshot != nil && p.Snapshot.Window.Valid {
		r.ops.Push(p.Snapshot.Window.OpsPerSec)
	}
	r.invalidate()
}

func (r *redisPanel) render() string {
	t := r.ctx.theme
	return r.box(t.Title.Render("Redis"), r.body())
}

// body shows the server's health. Fields the server does not report (miniredis keeps no
// memory, hit-rate or expiry figures) are listed once as such, never shown as zeros.
func (r *redisPanel) body() []string {
	t, p, sp, w := r.ctx.theme, r.poll, r.sp, r.w-2
	r.buf = r.ops.AppendTo(r.buf[:0])
	ops := r.buf
	if p == nil || p.Snapshot == nil {
		msg := "no reading yet"
		if p != nil && p.Err != nil {
			msg = model.Printable(p.Err.Error())
		}
		return []string{t.Warn.Render(msg)}
	}
	in, win := p.Snapshot.Info, p.Snapshot.Window
	var lines, missing []string
	add := func(line string) { lines = append(lines, line) }
	opsLine := "ops "
	switch {
	case win.Valid:
		opsLine += t.Bold.Render(format.SI(win.OpsPerSec) + "/s")
	case in.OpsPerSec.Known:
		opsLine += format.SI(float64(in.OpsPerSec.V)) + "/s"
	default:
		opsLine += t.Muted.Render("measuring")
	}
	if free := w - lipgloss.Width(opsLine) - 1; free >= 5 && len(ops) > 1 {
		opsLine += " " + sp.draw(ops, min(free, 20), t.G, t.AccentInk)
	}
	add(opsLine)
	if nodes := p.Snapshot.Nodes; len(nodes) > 0 {
		lines = append(lines, clusterLines(t, nodes, in, w)...)
		if room := r.h - 2; room > 1 && len(lines) > room {
			more := len(lines) - room + 1
			lines = append(lines[:room-1], t.Muted.Render(fmt.Sprintf("+%d more (status lists all)", more)))
		}
		return lines
	}
	if in.UsedMemory.Known {
		mem := "mem " + format.Bytes(in.UsedMemory.V)
		if in.UsedMemoryPeak.Known {
			mem += " peak " + format.Bytes(in.UsedMemoryPeak.V)
		}
		if rss := " rss " + format.Bytes(in.UsedMemoryRSS.V); in.UsedMemoryRSS.Known && lipgloss.Width(mem+rss) <= w {
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
		add("expired " + format.SI(float64(in.ExpiredKeys.V)) + "  evicted " + format.SI(float64(in.EvictedKeys.V)))
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
		line += "keys " + format.SI(float64(total))
	} else {
		missing = append(missing, "keys")
	}
	if line != "" {
		add(line)
	}
	if len(missing) > 0 {
		what := "not reported by this server: " + strings.Join(missing, ", ")
		if r.ctx.info.Embedded {
			// The demo's miniredis: what it lacks, said once and briefly.
			what = "embedded: no " + strings.Join(missing, ", ")
		}
		text := ansi.Wordwrap(what, w, "")
		for _, l := range strings.Split(text, "\n") {
			add(t.Muted.Render(l))
		}
	}
	return lines
}

// clusterLines are a cluster's sum (memory, keys) and one line per node: role, address,
// slots, memory, ops/s. Nodes that do not fit are counted.
func clusterLines(t *Theme, nodes []redisdata.NodeInfo, sum redisdata.Info, w int) []string {
	var keys int64
	for _, db := range sum.Keyspace {
		keys += db.Keys
	}
	lines := []string{fit(fmt.Sprintf("Σ %d nodes mem %s keys %s", len(nodes), format.Bytes(sum.UsedMemory.V),
		format.SI(float64(keys))), w)}
	// Nodes on one host are told apart by their ports alone: the panel is narrow.
	sameHost := true
	host0, _, _ := net.SplitHostPort(nodes[0].Addr)
	for _, n := range nodes[1:] {
		if h, _, _ := net.SplitHostPort(n.Addr); h != host0 {
			sameHost = false
		}
	}
	for _, n := range nodes {
		role := "M"
		if n.Role == "slave" {
			role = "R"
		}
		addr := n.Addr
		if _, port, err := net.SplitHostPort(addr); err == nil && sameHost {
			addr = ":" + port
		}
		line := role + " " + addr
		if n.Err != nil {
			lines = append(lines, t.Bad.Render(fit(line+" unreachable", w)))
			continue
		}
		// Most telling first: what the node serves now, its memory, then its slots.
		switch {
		case n.Window.Valid:
			line += " " + format.SI(n.Window.OpsPerSec) + "/s"
		case n.Info.OpsPerSec.Known:
			line += " " + format.SI(float64(n.Info.OpsPerSec.V)) + "/s"
		}
		if n.Info.UsedMemory.Known {
			line += " " + format.Bytes(n.Info.UsedMemory.V)
		}
		if n.Slots > 0 {
			line += " " + strconv.Itoa(n.Slots) + "sl"
		}
		lines = append(lines, fit(line, w))
	}
	return lines
}

// flusherPanel shows the batch flusher, read from the status it publishes. Whether it is
// alive is decided as status decides it (model.FlusherAlive with the same thresholds).
type flusherPanel struct {
	common
	poll *Poll
}

func newFlusherPanel(ctx *frameContext) *flusherPanel {
	return &flusherPanel{common: newCommon(ctx, true)}
}

// SetPoll shows a poll.
func (fp *flusherPanel) SetPoll(p *Poll) {
	fp.poll = p
	fp.invalidate()
}

func (fp *flusherPanel) render() string {
	t := fp.ctx.theme
	return fp.box(t.Title.Render("Flusher"), fp.body())
}

func (fp *flusherPanel) body() []string {
	t, p, info, th, now := fp.ctx.theme, fp.poll, fp.ctx.info, fp.ctx.thresholds, fp.ctx.now
	if p == nil {
		return []string{t.Muted.Render("no reading yet")}
	}
	if len(p.Flushers) > 1 {
		return fp.several(p.Flushers)
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
	case f.State != "stopped" && !model.FlusherAlive(flusherFact(f), now, th):
		state = t.Bad.Render("no heartbeat for " + format.Age(now.Sub(f.Heartbeat)))
	case f.State == "retrying" || f.Problem != "":
		state = t.Warn.Render(state)
	case f.State == "stopped":
		state = t.Muted.Render(state)
	default:
		state = t.Good.Render(state)
	}
	last := t.Muted.Render("none yet")
	if !f.LastFlush.IsZero() {
		last = format.Age(now.Sub(f.LastFlush)) + " ago, " + format.Thousands(f.LastRows) + " rows"
	}
	next := ""
	if !f.NextFlush.IsZero() {
		next = "next in " + format.Age(max(0, f.NextFlush.Sub(now)))
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
		"flushed " + format.Thousands(f.Flushed) + "  backlog " + format.Thousands(f.Backlog),
		errs + " " + lost + " bad " + strconv.FormatInt(f.Bad, 10) + " dup " + format.SI(float64(f.DuplicatesSkipped)),
	}
	if next != "" {
		lines = append(lines[:2], append([]string{t.Muted.Render(strings.TrimSpace(next))}, lines[2:]...)...)
	}
	if f.Problem != "" {
		// What status gives as the reason it is degraded, in the flusher's own words.
		lines = append(lines, t.Warn.Render(f.Problem))
	}
	if f.LastError != "" {
		lines = append(lines, t.Bad.Render(f.LastError))
	}
	return lines
}

// several is one line per flusher and their sum.
func (fp *flusherPanel) several(flushers []redisdata.FlusherReport) []string {
	t, th, now := fp.ctx.theme, fp.ctx.thresholds, fp.ctx.now
	var sum redisdata.FlushersSum
	lines := make([]string, 0, len(flushers)+1)
	for i := range flushers {
		f := &flushers[i].FlusherStatus
		alive := f.State != "stopped" && model.FlusherAlive(flusherFact(f), now, th)
		state := t.Good.Render(f.State)
		switch {
		case !alive && f.State != "stopped":
			state = t.Bad.Render("silent " + format.Age(now.Sub(f.Heartbeat)))
		case f.State == "stopped":
			state = t.Muted.Render(f.State)
		case f.Problem != "" || f.State == "retrying" || f.State == "backlog-full":
			state = t.Warn.Render(f.State)
		}
		if alive {
			sum.Alive++
		}
		sum.Flushed += f.Flushed
		sum.Backlog += f.Backlog
		sum.Errors += f.Errors
		sum.LostToTrim += f.LostToTrim
		lines = append(lines, fit(f.Instance, 6)+" "+state+" "+format.SI(float64(f.Flushed))+
			t.Muted.Render(" bl ")+format.SI(float64(f.Backlog))+t.Muted.Render(" err ")+strconv.FormatInt(f.Errors, 10))
	}
	// The sum first, in the columns of the lines below it.
	total := fmt.Sprintf("%d, %d alive %s bl %s err %d", len(flushers), sum.Alive,
		format.SI(float64(sum.Flushed)), format.SI(float64(sum.Backlog)), sum.Errors)
	if sum.LostToTrim > 0 {
		total += fmt.Sprintf(" lost %d", sum.LostToTrim)
	}
	return append([]string{t.Accent.Render(fit("all", 6) + " " + total)}, lines...)
}

// flusherFact is what the health rules know of a flusher.
func flusherFact(f *redisdata.FlusherStatus) model.FlusherFact {
	return model.FlusherFact{Instance: f.Instance, State: f.State, Heartbeat: f.Heartbeat, Problem: f.Problem,
		LostToTrim: f.LostToTrim, BacklogFull: f.BacklogFull, Backlog: f.InFlight, MaxBacklog: f.MaxBacklog}
}

// latencyPanel shows the round trips and the end-to-end latency.
type latencyPanel struct {
	common
	poll   *Poll
	screen model.LatencySummary // publish to screen, recent
}

func newLatencyPanel(ctx *frameContext) *latencyPanel {
	return &latencyPanel{common: newCommon(ctx, false)}
}

// SetPoll shows a poll.
func (l *latencyPanel) SetPoll(p *Poll) {
	l.poll = p
	l.invalidate()
}

// SetScreenLatency shows the recent publish-to-screen latency.
func (l *latencyPanel) SetScreenLatency(s model.LatencySummary) {
	if s != l.screen {
		l.screen = s
		l.invalidate()
	}
}

func (l *latencyPanel) render() string {
	t := l.ctx.theme
	return l.box(t.Title.Render("Latency"), l.body())
}

func (l *latencyPanel) body() []string {
	t, p, e2e := l.ctx.theme, l.poll, l.screen
	if p == nil {
		return []string{t.Muted.Render("no reading yet")}
	}
	pair := func(s model.LatencySummary) string {
		if s.Count == 0 {
			return t.Muted.Render("no samples")
		}
		return format.Latency(s.P50) + " / " + format.Latency(s.P99)
	}
	redis := "ping " + format.Latency(p.PingRTT)
	if p.Snapshot != nil {
		redis += "  poll " + format.Latency(p.Snapshot.RoundTrip)
	}
	misses := "miss " + format.Latency(p.Cache.MissLatency.P50)
	if p.Store.Count > 0 {
		misses += " store " + format.Latency(p.Store.P50)
	}
	return []string{
		redis,
		t.Muted.Render("from publish, p50 / p99:"),
		" screen " + pair(e2e),
		" recv   " + pair(p.Sub.Latency),
		"cache hit " + format.Latency(p.Cache.HitLatency.P50),
		"      " + misses,
	}
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
