package ui

import (
	"fmt"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
)

// The frame pipeline: where the components go for a terminal size (layout, place), what
// a frame does (frame), and how the screen is made from the components' cached renderings
// (redraw, compose). View only returns the string composed here.

// The smallest terminal the dashboard draws in, and the size of its full layout.
const (
	MinWidth, MinHeight   = 60, 16
	fullWidth, fullHeight = 100, 30
	// MaxWidth and MaxHeight bound the screen drawn: a size comes from the terminal, or
	// over SSH from any client, and a 4000x2000 one cost 4 GB of canvas in one frame.
	// A larger terminal gets the largest screen in its top left corner.
	MaxWidth, MaxHeight = 800, 300
)

// ClampSize bounds a terminal size to what the dashboard draws.
func ClampSize(w, h int) (int, int) { return min(max(w, 0), MaxWidth), min(max(h, 0), MaxHeight) }

// layout is where every component goes for a terminal size.
type layout struct {
	w, h     int
	tooSmall bool
	compact  bool // watchlist above chart, panels folded into a status line

	topY, topH     int
	watchW, chartW int // full: side by side
	watchH, chartH int // compact: stacked
	panelsY        int
	panelsH        int
	panelW         [4]int
	eventsY        int
	eventsH        int
	footerH        int
}

// computeLayout places the components; pubsubOnly gives the signals list, in the
// flusher's place, the room the cache's key list has otherwise.
func computeLayout(w, h int, pubsubOnly bool) layout {
	w, h = ClampSize(w, h)
	l := layout{w: w, h: h}
	switch {
	case w < MinWidth || h < MinHeight:
		l.tooSmall = true
	case w < fullWidth || h < fullHeight:
		l.compact = true
		l.footerH = 2
		l.topY, l.topH = 1, h-1-l.footerH
		l.watchH = max(5, l.topH*2/5)
		l.chartH = l.topH - l.watchH
	default:
		l.footerH = 1
		l.eventsH = 5
		l.panelsH = 8
		l.topY = 1
		l.topH = h - 1 - l.panelsH - l.eventsH - l.footerH
		l.watchW = max(56, min(90, w/2+4))
		l.chartW = w - l.watchW
		l.panelsY = l.topY + l.topH
		l.eventsY = l.panelsY + l.panelsH
		// Redis, cache, flusher, latency: the cache's key list needs the most room.
		weights := [4]int{23, 28, 25, 24}
		if pubsubOnly {
			weights = [4]int{21, 26, 29, 24} // Redis, services, signals, latency
		}
		used := 0
		for i, wt := range weights {
			l.panelW[i] = w * wt / 100
			used += l.panelW[i]
		}
		l.panelW[3] += w - used
	}
	return l
}

// at says which component the wheel acts on is at screen cell (x, y).
func (l layout) at(x, y int) (focusID, bool) {
	switch {
	case l.tooSmall:
		return 0, false
	case l.compact:
		switch {
		case y >= l.topY && y < l.topY+l.watchH:
			return focusWatch, true
		case y >= l.topY+l.watchH && y < l.topY+l.watchH+l.chartH:
			return focusChart, true
		}
		return 0, false
	case y >= l.topY && y < l.topY+l.topH && x < l.watchW:
		return focusWatch, true
	case y >= l.topY && y < l.topY+l.topH:
		return focusChart, true
	case y >= l.panelsY && y < l.panelsY+l.panelsH && x >= l.panelW[0] && x < l.panelW[0]+l.panelW[1]:
		return focusCache, true
	case y >= l.eventsY && y < l.eventsY+l.eventsH:
		return focusEvents, true
	}
	return 0, false
}

// changes is what moved since the last redraw beyond the components' own data (which
// their setters record by invalidating their caches).
type changes uint8

const (
	clockMoved changes = 1 << iota // a new second: ages, countdowns and the clock move
	resized                        // a new terminal size: every component gets its place
	overlay                        // the help opened or closed: the frame is recomposed
)

// frame is one tick of the frame clock at now: the clock moves, the market is taken if
// it changed (unless frozen), and the screen is redrawn. It returns the history load of
// a chart that just got its first asset.
func (d *Dashboard) frame(now time.Time) tea.Cmd {
	d.ctx.now = now
	var ch changes
	if sec := now.Unix(); sec != d.lastSecond {
		d.lastSecond = sec
		ch |= clockMoved
	}
	var cmd tea.Cmd
	if !d.frozen && d.opts.Market != nil {
		if v := d.opts.Market.Version(); v != d.marketVersion {
			d.marketVersion = v
			cmd = d.takeMarket()
		}
	}
	d.redraw(ch)
	return cmd
}

// redraw is the frame pipeline: given what changed, it redraws the components on screen
// whose renderings are stale and, if any was (or the layout or overlay changed), composes
// the frame. It is the only place that renders.
func (d *Dashboard) redraw(ch changes) {
	if ch&clockMoved != 0 {
		for _, c := range d.all {
			c.ClockMoved()
		}
	}
	if ch&resized != 0 {
		d.place()
	}
	l := d.lay
	switch {
	case l.w == 0:
		return // no size yet
	case l.tooSmall:
		if ch&resized != 0 || d.frameText == "" {
			d.frameText, d.presented = tooSmall(l.w, l.h), false
			d.repaints++
		}
		return
	}
	changed := ch&(resized|overlay) != 0 || d.frameText == ""
	shown := d.body
	if d.showHelp {
		shown = d.helpBody
	}
	for _, c := range shown {
		if refresh(c) {
			changed = true
		}
	}
	if !changed {
		return
	}
	d.repaints++
	d.compose()
}

// place lays the components out for the terminal's size.
func (d *Dashboard) place() {
	l := d.lay
	if l.tooSmall {
		return
	}
	d.header.SetSize(l.w, 1)
	d.help.SetSize(l.w, l.h-2)
	d.footer.SetSize(l.w, l.footerH)
	d.footer.SetCompact(l.compact)
	d.watch.SetCompact(l.compact)
	if l.compact {
		d.watch.SetSize(l.w, l.watchH)
		d.chart.SetSize(l.w, l.chartH)
		d.body = []component{d.header, d.watch, d.chart, d.footer}
	} else {
		d.watch.SetSize(l.watchW, l.topH)
		d.chart.SetSize(l.chartW, l.topH)
		mid := d.middlePanels()
		d.redis.SetSize(l.panelW[0], l.panelsH)
		mid[0].SetSize(l.panelW[1], l.panelsH)
		mid[1].SetSize(l.panelW[2], l.panelsH)
		d.latency.SetSize(l.panelW[3], l.panelsH)
		d.events.SetSize(l.w, l.eventsH)
		d.body = []component{d.header, d.watch, d.chart, d.redis, mid[0], mid[1], d.latency, d.events, d.footer}
	}
	if !d.focusable(d.focus) {
		d.setFocus(focusWatch)
	}
}

// middlePanels are the two panels between Redis and latency: the cache and the flusher,
// or, for a pub/sub-only pipeline (which has neither), the services and the signals.
func (d *Dashboard) middlePanels() [2]component {
	if d.opts.PubSubOnly {
		return [2]component{d.services, d.signals}
	}
	return [2]component{d.cache, d.flusher}
}

// compose joins the components' lines into the frame.
func (d *Dashboard) compose() {
	l := d.lay
	var sb strings.Builder
	sb.Grow(l.w * l.h * 2)
	line := func(parts ...string) {
		if sb.Len() > 0 {
			sb.WriteByte('\n')
		}
		for _, s := range parts {
			sb.WriteString(s)
		}
	}
	line(d.header.line(0))
	switch {
	case d.showHelp:
		for i := range l.h - 2 {
			line(d.help.line(i))
		}
		line(d.footer.helpLine())
		d.frameText, d.presented = sb.String(), false
		return
	case l.compact:
		for i := range l.watchH {
			line(d.watch.line(i))
		}
		for i := range l.chartH {
			line(d.chart.line(i))
		}
	default:
		for i := range l.topH {
			line(d.watch.line(i), d.chart.line(i))
		}
		mid := d.middlePanels()
		for i := range l.panelsH {
			line(d.redis.line(i), mid[0].base().line(i), mid[1].base().line(i), d.latency.line(i))
		}
		for i := range l.eventsH {
			line(d.events.line(i))
		}
	}
	for i := range l.footerH {
		line(d.footer.line(i))
	}
	d.frameText, d.presented = sb.String(), false
}

// tooSmall says what size is needed instead of drawing garbage.
func tooSmall(w, h int) string {
	msg := fmt.Sprintf("quflx-tui needs a terminal of at least %dx%d", MinWidth, MinHeight)
	now := fmt.Sprintf("(this one is %dx%d)", w, h)
	var sb strings.Builder
	for y := range h {
		switch y {
		case h/2 - 1:
			sb.WriteString(centre(msg, w))
		case h / 2:
			sb.WriteString(centre(now, w))
		}
		if y < h-1 {
			sb.WriteByte('\n')
		}
	}
	return sb.String()
}

func centre(s string, w int) string {
	if len(s) >= w {
		return s[:max(0, w)]
	}
	return strings.Repeat(" ", (w-len(s))/2) + s
}
