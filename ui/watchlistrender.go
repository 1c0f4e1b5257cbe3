package ui

import (
	"strconv"
	"strings"

	"github.com/charmbracelet/lipgloss"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/model/format"
)

// columns says which columns fit in w cells.
type columns struct {
	asset, last, chg, pct, rate, spark, buf, regime, age, bad int
}

// layoutColumns: a pub/sub-only pipeline has no buffers; its regime column takes the
// buffer's place.
func layoutColumns(w int, compact bool, assetW int, pubsubOnly bool) columns {
	c := columns{asset: max(6, min(assetW, 13)), last: 10, pct: 7, rate: 6, buf: 10, age: 5}
	if compact {
		c.buf = 5
	}
	if pubsubOnly {
		c.regime, c.buf = c.buf, 0
	}
	used := func() int {
		n := 0
		for _, v := range []int{c.asset, c.last, c.chg, c.pct, c.rate, c.spark, c.buf, c.regime, c.age, c.bad} {
			if v > 0 {
				n += v + 1
			}
		}
		return n
	}
	if !compact {
		for _, add := range []func(){func() { c.bad = 4 }, func() { c.chg = 9 }} {
			add()
			if used()+8 > w {
				c.bad, c.chg = min(c.bad, 0), 0
				break
			}
		}
	}
	if left := w - used() - 1; left >= 6 {
		c.spark = min(left, 40)
		if compact {
			c.spark = min(left, 16)
		}
	}
	for used() > w && c.age > 0 { // very narrow: drop columns from the right
		c.age = 0
	}
	return c
}

// render draws the watchlist in its box.
func (wl *watchlist) render() string {
	t := wl.ctx.theme
	assetW := 6
	for _, r := range wl.all {
		assetW = max(assetW, len(r.view.Asset))
	}
	c := layoutColumns(wl.w-2, wl.compact, assetW, wl.ctx.pubsubOnly)

	var lines []string
	if len(wl.groups) > 0 {
		lines = append(lines, wl.tabs())
	}
	head := cell(c.asset, "Asset", false) + cell(c.last, "Last", true) + cell(c.chg, "Chg", true) +
		cell(c.pct, "Chg%", true) + cell(c.rate, "t/s", true) + cell(c.spark, "Recent", false) +
		cell(c.buf, bufHeader(c.buf), false) + cell(c.regime, "Regime", false) + cell(c.age, "Age", true) + cell(c.bad, "Bad", true)
	lines = append(lines, t.Muted.Render(head))
	if len(wl.rows) == 0 {
		msg := "no assets yet: waiting for ticks" + t.G.Ellipsis
		switch {
		case wl.filter.Value() != "":
			msg = "no asset matches the filter"
		case wl.group > 0:
			msg = "no asset of " + model.Printable(wl.Group()) + " seen yet"
		}
		lines = append(lines, t.Muted.Render(msg))
	}
	start, end := wl.scroll.Window()
	for _, r := range wl.rows[start:end] {
		lines = append(lines, wl.row(r, c, r.view.Asset == wl.selected))
	}
	return wl.box(wl.title(), lines)
}

// tabs is the row of group tabs, the one shown in reverse video.
func (wl *watchlist) tabs() string {
	t := wl.ctx.theme
	var sb strings.Builder
	for i := 0; i <= len(wl.groups); i++ {
		name := "all"
		if i > 0 {
			name = model.Printable(wl.groups[i-1].Name)
		}
		if i > 0 {
			sb.WriteByte(' ')
		}
		if i == wl.group {
			sb.WriteString(t.Selected.Render(" " + name + " "))
		} else {
			sb.WriteString(t.Muted.Render(" " + name + " "))
		}
	}
	k := wl.ctx.keys
	if hint := " " + k.PrevGroup.Help().Key + " " + k.NextGroup.Help().Key; lipgloss.Width(sb.String())+len(hint)+2 < wl.w {
		sb.WriteString(t.Muted.Render(hint))
	}
	return sb.String()
}

func (wl *watchlist) title() string {
	t := wl.ctx.theme
	by := sortNames[wl.sort]
	if wl.sort == sortBuffer && wl.ctx.pubsubOnly {
		by = "regime"
	}
	title := t.Title.Render("Watchlist") + t.Muted.Render(" by "+by)
	if wl.scroll.Overflows() {
		start, end := wl.scroll.Window()
		title += t.Muted.Render(" " + strconv.Itoa(start+1) + "-" + strconv.Itoa(end) + "/" + strconv.Itoa(len(wl.rows)))
	}
	if wl.editing || wl.filter.Value() != "" {
		title += " " + wl.filter.View()
	}
	if wl.notAdmitted > 0 {
		// Ticks of names no key vouches for (or past --max-assets): counted, not listed.
		title += t.Warn.Render(" · " + format.SI(float64(wl.notAdmitted)) + " not admitted")
	}
	return title
}

// cell pads text to a column (w 0: the column is hidden).
func cell(w int, text string, right bool) string {
	if w <= 0 {
		return ""
	}
	if right {
		return fitRight(text, w) + " "
	}
	return fit(text, w) + " "
}

func (wl *watchlist) row(r watchRow, c columns, selected bool) string {
	t, now, stale, bufferCap := wl.ctx.theme, wl.ctx.now, wl.ctx.stale, wl.ctx.bufferCap
	v := r.view
	move := t.BullInk
	if v.Change < 0 {
		move = t.BearInk
	}
	age := now.Sub(v.Arrival)
	ageText, ageStyle := format.Age(age), t.MutedInk
	if v.Ticks > 0 && age > stale {
		ageStyle = t.WarnInk
	}
	if v.Ticks == 0 {
		ageText = "-"
		if !r.newest.IsZero() {
			age = now.Sub(r.newest)
			ageText = format.Age(age)
			if age > stale {
				ageStyle = t.WarnInk
			}
		}
	}
	bufText := "-"
	var fraction float64
	if r.buffer >= 0 {
		bufText = strconv.FormatInt(r.buffer, 10)
		fraction = float64(r.buffer) / float64(bufferCap)
	}
	if r.drained && r.buffer <= 0 {
		bufText = "fl" // drained by the flushers, which hold or stored its ticks
	}
	badText := strconv.FormatInt(r.bad, 10)
	badStyle := t.MutedInk
	if r.bad > 0 {
		badStyle = t.BadInk
	}
	pct := format.Signed(v.ChangePct, 2) + "%"

	// Each cell is its text and style; a selected row drops the styles for one reverse
	// video over the whole line (a style nested inside another would end it early).
	type part struct {
		text string
		ink  *Ink
	}
	var parts []part
	add := func(text string, ink *Ink) { parts = append(parts, part{text, ink}) }
	add(cell(c.asset, v.Asset, false), nil)
	add(cell(c.last, format.Price(v.Last.Price, v.Decimals), true), &move)
	add(cell(c.chg, format.Signed(v.Change, v.Decimals), true), &move)
	add(cell(c.pct, pct, true), &move)
	add(cell(c.rate, format.SI(v.Rate), true), nil)
	if c.spark > 0 {
		if selected {
			add(fit(wl.sp.plain(v.Spark, c.spark, t.G), c.spark)+" ", nil)
		} else {
			add(wl.sp.draw(v.Spark, c.spark, t.G, move)+" ", nil)
		}
	}
	if c.buf > 5 {
		if selected {
			add(gaugeText(t, fraction, c.buf-5)+" ", nil)
		} else {
			add(gauge(t, fraction, c.buf-5)+" ", nil)
		}
	}
	if c.buf > 0 {
		add(fitRight(bufText, 4)+" ", nil)
	}
	var regimeInk *Ink
	if r.idle {
		regimeInk = &t.MutedInk
	}
	add(cell(c.regime, r.regime, false), regimeInk)
	add(cell(c.age, ageText, true), &ageStyle)
	add(cell(c.bad, badText, true), &badStyle)

	var sb strings.Builder
	for _, p := range parts {
		if p.ink != nil && !selected {
			p.ink.Write(&sb, p.text)
		} else {
			sb.WriteString(p.text)
		}
	}
	if selected {
		return t.Selected.Render(sb.String())
	}
	return sb.String()
}

// gaugeText is gauge without colours, for a selected row.
func gaugeText(t *Theme, fraction float64, w int) string {
	if w <= 0 {
		return ""
	}
	full := gaugeCells(fraction, w)
	return strings.Repeat(t.G.GaugeFull, full) + strings.Repeat(t.G.GaugeEmpty, w-full)
}

func bufHeader(w int) string {
	if w < 6 {
		return "Buf"
	}
	return "Buffer"
}

// gaugeCells is how many of w cells a fill level lights: at least one for any fill.
func gaugeCells(fraction float64, w int) int {
	fraction = max(0, min(1, fraction))
	full := int(fraction*float64(w) + 0.5)
	if fraction > 0 && full == 0 {
		full = 1
	}
	return full
}
