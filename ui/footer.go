package ui

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/model/format"
)

// newHelp is a help view styled by the theme.
func newHelp(t *Theme) help.Model {
	h := help.New()
	h.Styles.ShortKey, h.Styles.FullKey = t.HelpKey, t.HelpKey
	h.Styles.ShortDesc, h.Styles.FullDesc = t.HelpDesc, t.HelpDesc
	h.Styles.ShortSeparator, h.Styles.FullSeparator = t.Muted, t.Muted
	h.Styles.Ellipsis = t.Muted // the default's adaptive colour would ask the terminal for its background
	h.Ellipsis = t.G.Ellipsis
	if t.G.ASCII {
		h.ShortSeparator = " | "
	}
	return h
}

// footer is the key help line, with the small layout's status line (the panels it has no
// room for, in one line) above it.
type footer struct {
	common
	help    help.Model
	compact bool
	poll    *Poll
	screen  model.LatencySummary
}

func newFooter(ctx *frameContext) *footer {
	return &footer{common: newCommon(ctx, false), help: newHelp(ctx.theme)}
}

// SetCompact adds the status line (which shows ages: it then follows the clock).
func (f *footer) SetCompact(compact bool) {
	if compact != f.compact {
		f.compact, f.clocked = compact, compact
		f.invalidate()
	}
}

// SetPoll shows a poll in the status line.
func (f *footer) SetPoll(p *Poll) {
	f.poll = p
	if f.compact {
		f.invalidate()
	}
}

// SetScreenLatency shows the recent publish-to-screen latency in the status line.
func (f *footer) SetScreenLatency(s model.LatencySummary) {
	if s != f.screen {
		f.screen = s
		if f.compact {
			f.invalidate()
		}
	}
}

func (f *footer) KeyHelp() []key.Binding { return f.ctx.keys.ShortHelp() }

func (f *footer) render() string {
	f.help.Width = f.w
	line := fit(f.help.ShortHelpView(f.ctx.keys.ShortHelp()), f.w)
	if f.compact {
		return f.status() + "\n" + line
	}
	return line
}

// helpLine is the key help line alone (under the full help).
func (f *footer) helpLine() string { return f.line(len(f.lines) - 1) }

// status is the small layout's one-line summary of the panels.
func (f *footer) status() string {
	t, p, e2e, now, w := f.ctx.theme, f.poll, f.screen, f.ctx.now, f.w
	if p == nil {
		return ""
	}
	var parts []string
	if p.Snapshot != nil && p.Snapshot.Window.Valid {
		parts = append(parts, "ops "+format.SI(p.Snapshot.Window.OpsPerSec)+"/s")
	}
	if f.ctx.pubsubOnly {
		parts = append(parts, servicesSummary(t, p.Pipeline.Services, now, f.ctx.thresholds.ServiceStale))
		if len(p.Pipeline.Signals) > 0 {
			s := p.Pipeline.Signals[0]
			parts = append(parts, "signal "+s.Asset+" "+s.Action)
		}
	} else if fl := p.Flusher; fl != nil {
		s := "flusher " + fl.State
		if !fl.LastFlush.IsZero() {
			s += " " + format.Age(now.Sub(fl.LastFlush)) + " ago"
		}
		if fl.LostToTrim > 0 || fl.Errors > 0 {
			s = t.Bad.Render(s + fmt.Sprintf(" (lost %d, errors %d)", fl.LostToTrim, fl.Errors))
		}
		parts = append(parts, s)
	} else {
		parts = append(parts, t.Warn.Render("no flusher"))
	}
	if e2e.Count > 0 {
		parts = append(parts, "screen p99 "+format.Latency(e2e.P99))
	}
	if p.Sub.Bad > 0 {
		parts = append(parts, t.Bad.Render("bad "+strconv.FormatInt(p.Sub.Bad, 10)))
	}
	if p.Sub.NotAdmitted > 0 {
		// Ticks of names no key vouches for (or past --max-assets): counted, not charted.
		parts = append(parts, t.Warn.Render("not admitted "+format.SI(float64(p.Sub.NotAdmitted))))
	}
	return fit(strings.Join(parts, t.Muted.Render(t.G.Sep)), w)
}

// helpView is the full help, drawn over the body: every key, then the keys of the
// focused component.
type helpView struct {
	common
	help  help.Model
	where string
	here  []key.Binding
}

func newHelpView(ctx *frameContext) *helpView {
	hv := &helpView{common: newCommon(ctx, false), help: newHelp(ctx.theme)}
	hv.focused = true // it has the keys
	return hv
}

// SetFocusKeys names the focused component and the keys it answers to.
func (hv *helpView) SetFocusKeys(where string, keys []key.Binding) {
	hv.where, hv.here = where, keys
	hv.invalidate()
}

func (hv *helpView) KeyHelp() []key.Binding {
	k := hv.ctx.keys
	return []key.Binding{k.Help, k.Back, k.Quit}
}

func (hv *helpView) render() string {
	t := hv.ctx.theme
	hv.help.Width = hv.w - 4
	lines := strings.Split(hv.help.FullHelpView(hv.ctx.keys.FullHelp()), "\n")
	if len(hv.here) > 0 {
		prefix := "In the " + hv.where + ": "
		hv.help.Width = max(1, hv.w-4-len(prefix))
		lines = append(lines, "", t.Muted.Render(prefix)+hv.help.ShortHelpView(hv.here))
	}
	fill := "buffer fill against the producers' cap, age of the last tick, bad messages."
	if hv.ctx.pubsubOnly {
		fill = "the strategy's regime (muted: not tradeable), age of the last tick, bad messages."
	}
	lines = append(lines, "",
		t.Muted.Render("Watchlist: last price, change since the session began, ticks/s, recent prices,"),
		t.Muted.Render(fill),
		t.Muted.Render("The chart shows history from the cache (or the store) and live candles."),
		t.Muted.Render("Press ? or esc to close."))
	return hv.box(t.Title.Render("Keys"), lines)
}

// servicesSummary is the services' health in a few words: how many are up, or the first
// that is not.
func servicesSummary(t *Theme, services []model.ServiceBeat, now time.Time, stale time.Duration) string {
	if len(services) == 0 {
		return t.Warn.Render("no heartbeat")
	}
	up := 0
	for _, s := range services {
		switch s.State(now, stale) {
		case model.ServiceUp:
			up++
		case model.ServiceDown:
			return t.Bad.Render(s.Service + " " + s.Status)
		default:
			return t.Warn.Render(s.Service + " stale")
		}
	}
	return fmt.Sprintf("services %d/%d up", up, len(services))
}
