package ui

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/lipgloss"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/model/format"
	"github.com/quflx/quflx-tui/redisdata"
)

// header is the top line: where, what server, the link, the pipeline's health (as status
// judges it), the mode and the clock.
type header struct {
	common
	server *redisdata.Snapshot // of the poll shown: version, role, uptime
	conn   connection
	health model.Health
	frozen bool
	alerts []model.FiringAlert // newest first
}

func newHeader(ctx *frameContext) *header { return &header{common: newCommon(ctx, true)} }

// SetServer takes the server's facts from the poll shown.
func (hd *header) SetServer(p *Poll) {
	hd.server = nil
	if p != nil {
		hd.server = p.Snapshot
	}
	hd.invalidate()
}

// SetLink sets the link's state and the health judged from the newest poll, frozen or not.
func (hd *header) SetLink(conn connection, health model.Health) {
	hd.conn, hd.health = conn, health
	hd.invalidate()
}

// SetFrozen shows or hides the FROZEN badge.
func (hd *header) SetFrozen(frozen bool) {
	if frozen != hd.frozen {
		hd.frozen = frozen
		hd.invalidate()
	}
}

// SetAlerts shows the alerts firing, newest first: their count, and the newest's reason
// in place of the health's.
func (hd *header) SetAlerts(firing []model.FiringAlert) {
	hd.alerts = firing
	hd.invalidate()
}

func (hd *header) KeyHelp() []key.Binding {
	k := hd.ctx.keys
	return []key.Binding{k.Freeze}
}

// minReason is the fewest cells the health's first reason is shown in (cut, with an
// ellipsis): fewer would say nothing.
const minReason = 20

func (hd *header) render() string {
	t, info, now, w := hd.ctx.theme, hd.ctx.info, hd.ctx.now, hd.w
	sep := t.Muted.Render(t.G.Sep)
	title := t.Title.Render("quflx-tui")
	where := info.Endpoint
	switch {
	case info.Embedded:
		where += " (embedded)"
	case info.Throwaway:
		where += " (throwaway)" // the demo's own redis-server, gone when it ends
	}
	if s := hd.server; s != nil && s.Master != "" {
		// Through Sentinel: the master serving now, which changes with a failover.
		where += " → " + model.Printable(s.Master) // as a Sentinel names it
	}
	parts := []string{title, where}
	if s := hd.server; s != nil {
		in := s.Info
		server := "Redis"
		switch {
		case in.Version != "":
			server += " " + in.Version
		case info.Embedded:
			server = "miniredis"
		default:
			server += t.Muted.Render(" (version not reported)")
		}
		switch {
		case len(s.Nodes) > 0:
			server += fmt.Sprintf(" cluster of %d", len(s.Nodes))
		case in.Role != "":
			server += " " + in.Role
		}
		parts = append(parts, server)
		if in.UptimeSeconds.Known {
			parts = append(parts, "up "+format.Uptime(in.UptimeSeconds.V))
		}
	}
	state := hd.conn.render(t, now)
	word, reason, more := hd.healthParts()

	badge := t.BadgeRO
	switch info.Mode {
	case ModeDemo:
		badge = t.BadgeDemo
	case ModeLive:
		badge = t.BadgeLive
	}
	right := badge.Render(string(info.Mode))
	if hd.frozen {
		right = t.Frozen.Render("FROZEN") + " " + right
	}
	if n := len(hd.alerts); n > 0 {
		badge := "ALERT"
		if n > 1 {
			badge = strconv.Itoa(n) + " ALERTS"
		}
		right = t.BadgeAlert.Render(badge) + " " + right
	}
	right += " " + t.Bold.Render(now.Format("15:04:05"))
	room := w - lipgloss.Width(right) - 1

	// Narrow, the header keeps the title, the link's state, the health word and the
	// clock. Space allowing, the health's first reason follows the word (cut to fit, in
	// no fewer than minReason cells), with the count of the others.
	left := title + sep + state
	full := strings.Join(append(parts, state), sep)
	if word != "" {
		left += sep + word
		full += sep + word
	}
	intro := t.Muted.Render(": ")
	if len(hd.alerts) > 0 {
		// The newest alert says more than the health's first reason: it is news, and it
		// is kept before the server's facts when both do not fit.
		intro, reason, more = sep+t.Bad.Render("alert: "), oneLine(model.Printable(hd.alerts[0].Reason)), ""
	}
	withReason := func(base string) (string, bool) {
		cells := room - lipgloss.Width(base) - lipgloss.Width(intro) - lipgloss.Width(more)
		if reason == "" || cells < minReason {
			return base, false
		}
		return base + intro + cut(reason, cells, t.G.Ellipsis) + more, true
	}
	if l, ok := withReason(full); ok {
		left = l
	} else if l, ok := withReason(left); ok && len(hd.alerts) > 0 {
		left = l
	} else if lipgloss.Width(full) <= room {
		left = full
	}
	gap := max(1, w-lipgloss.Width(left)-lipgloss.Width(right))
	return fit(left+strings.Repeat(" ", gap)+right, w)
}

// healthParts is the health word, styled, its first reason and how many more there are.
func (hd *header) healthParts() (word, reason, more string) {
	t, h := hd.ctx.theme, hd.health
	switch h.Status {
	case "":
		return "", "", ""
	case model.Healthy:
		word = t.Good.Render(h.Status)
	case model.Degraded:
		word = t.Warn.Render(h.Status)
	default:
		word = t.Bad.Render(h.Status)
	}
	if h.Status != model.Healthy && len(h.Reasons) > 0 {
		reason = oneLine(model.Printable(h.Reasons[0]))
		if n := len(h.Reasons) - 1; n > 0 {
			more = t.Muted.Render(" (+" + strconv.Itoa(n) + " more)")
		}
	}
	return word, reason, more
}

func (c connection) render(t *Theme, now time.Time) string {
	dur := format.Age(now.Sub(c.since))
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
