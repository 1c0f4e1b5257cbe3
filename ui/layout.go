package ui

import (
	"fmt"
	"strconv"
	"strings"
)

// The smallest terminal the dashboard draws in, and the size of its full layout.
const (
	MinWidth, MinHeight   = 60, 16
	fullWidth, fullHeight = 100, 30
)

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

func computeLayout(w, h int) layout {
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
		used := 0
		for i, wt := range weights {
			l.panelW[i] = w * wt / 100
			used += l.panelW[i]
		}
		l.panelW[3] += w - used
	}
	return l
}

// at says which scrollable component is at screen cell (x, y).
func (l layout) at(x, y int) (focusID, bool) {
	switch {
	case l.tooSmall:
		return 0, false
	case l.compact:
		if y >= l.topY && y < l.topY+l.watchH {
			return focusWatch, true
		}
		return 0, false
	case y >= l.topY && y < l.topY+l.topH && x < l.watchW:
		return focusWatch, true
	case y >= l.panelsY && y < l.panelsY+l.panelsH && x >= l.panelW[0] && x < l.panelW[0]+l.panelW[1]:
		return focusCache, true
	case y >= l.eventsY && y < l.eventsY+l.eventsH:
		return focusEvents, true
	}
	return 0, false
}

// rebuild re-renders the components whose data changed and, if any did, the frame.
func (m *Model) rebuild() {
	if m.width == 0 {
		return
	}
	l, t := m.lay, m.theme
	changed := m.frameText == ""
	render := func(p *pane, f func() string) {
		if p.dirty {
			p.lines = strings.Split(f(), "\n")
			p.dirty = false
			changed = true
		}
	}
	if l.tooSmall {
		if changed || m.header.dirty {
			m.header.dirty = false
			m.frameText = tooSmall(m.width, m.height)
			m.repaints++
		}
		return
	}
	render(&m.header, func() string {
		return header(t, m.opts.Info, m.poll, m.conn, m.frozen, m.now, m.width)
	})
	if m.showHelp {
		m.renderHelp(changed)
		return
	}
	now, stale, bcap := m.now, m.opts.Stale, m.opts.BufferCap
	if l.compact {
		render(&m.watchPane, func() string {
			return m.watch.render(t, m.focus == focusWatch, l.w, l.watchH, now, stale, bcap, true)
		})
		render(&m.chartPane, func() string { return m.chart.render(t, m.focus == focusChart, l.w, l.chartH) })
	} else {
		render(&m.watchPane, func() string {
			return m.watch.render(t, m.focus == focusWatch, l.watchW, l.topH, now, stale, bcap, false)
		})
		render(&m.chartPane, func() string { return m.chart.render(t, m.focus == focusChart, l.chartW, l.topH) })
		inner := l.panelsH - 2
		render(&m.redisPane, func() string {
			return box(t, false, t.Title.Render("Redis"), redisPanel(t, m.poll, m.ops.AppendTo(nil), m.sp, l.panelW[0]-2), l.panelW[0], l.panelsH)
		})
		render(&m.cachePane, func() string {
			lines, total := cacheLines(t, m.poll, now, m.cacheOffset, inner, l.panelW[1]-2)
			title := t.Title.Render("Cache")
			switch {
			case total == 1:
				title += t.Muted.Render(" 1 key")
			case total > 1:
				title += t.Muted.Render(" " + strconv.Itoa(total) + " keys")
			}
			return box(t, m.focus == focusCache, title, lines, l.panelW[1], l.panelsH)
		})
		render(&m.flushPane, func() string {
			return box(t, false, t.Title.Render("Flusher"), flusherLines(t, m.poll, m.opts.Info, now), l.panelW[2], l.panelsH)
		})
		render(&m.latPane, func() string {
			return box(t, false, t.Title.Render("Latency"), latencyLines(t, m.poll, m.e2e()), l.panelW[3], l.panelsH)
		})
		render(&m.eventPane, func() string {
			return box(t, m.focus == focusEvents, t.Title.Render("Events"), eventLines(t, m.allEvents(), m.eventOffset, l.eventsH-2), l.w, l.eventsH)
		})
	}
	render(&m.footer, func() string { return m.footerText() })
	if !changed {
		return
	}
	m.repaints++
	m.compose()
}

// compose joins the components' lines into the frame.
func (m *Model) compose() {
	l := m.lay
	var sb strings.Builder
	sb.Grow(m.width * m.height * 2)
	line := func(s string) {
		if sb.Len() > 0 {
			sb.WriteByte('\n')
		}
		sb.WriteString(s)
	}
	line(lineAt(m.header.lines, 0))
	if l.compact {
		for i := range l.watchH {
			line(lineAt(m.watchPane.lines, i))
		}
		for i := range l.chartH {
			line(lineAt(m.chartPane.lines, i))
		}
	} else {
		for i := range l.topH {
			line(lineAt(m.watchPane.lines, i) + lineAt(m.chartPane.lines, i))
		}
		for i := range l.panelsH {
			line(lineAt(m.redisPane.lines, i) + lineAt(m.cachePane.lines, i) +
				lineAt(m.flushPane.lines, i) + lineAt(m.latPane.lines, i))
		}
		for i := range l.eventsH {
			line(lineAt(m.eventPane.lines, i))
		}
	}
	for i := range l.footerH {
		line(lineAt(m.footer.lines, i))
	}
	m.frameText = sb.String()
}

func lineAt(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return ""
}

// footerText is the key help, with the status line above it in the compact layout.
func (m *Model) footerText() string {
	m.help.Width = m.width
	helpLine := fit(m.help.ShortHelpView(m.keys.ShortHelp()), m.width)
	if m.lay.compact {
		return compactStatus(m.theme, m.poll, m.e2e(), m.now, m.width) + "\n" + helpLine
	}
	return helpLine
}

// renderHelp draws the full help over the body.
func (m *Model) renderHelp(changed bool) {
	t := m.theme
	m.help.Width = m.width - 4
	body := m.help.FullHelpView(m.keys.FullHelp())
	lines := strings.Split(body, "\n")
	lines = append(lines, "",
		t.Muted.Render("Watchlist: last price, change since the session began, ticks/s, recent prices,"),
		t.Muted.Render("buffer fill against the producers' cap, age of the last tick, bad messages."),
		t.Muted.Render("The chart shows history from the cache (or the store) and live candles."),
		t.Muted.Render("Press ? or esc to close."))
	h := m.height - 2
	frame := box(t, true, t.Title.Render("Keys"), lines, m.width, h)
	if !changed && m.frameText != "" && strings.HasSuffix(m.frameText, frame) {
		return
	}
	m.frameText = lineAt(m.header.lines, 0) + "\n" + frame + "\n" + fit(m.help.ShortHelpView(m.keys.ShortHelp()), m.width)
	m.repaints++
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
