package ui

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/textinput"
	"github.com/charmbracelet/lipgloss"

	"github.com/quflx/quflx-tui/model"
)

type sortKey int

const (
	sortAsset sortKey = iota
	sortChange
	sortRate
	sortBuffer
	sortAge
	sortKeys
)

var sortNames = [...]string{"asset", "change", "ticks/s", "buffer", "age"}

// watchRow is one asset as the watchlist shows it.
type watchRow struct {
	view   model.AssetView
	buffer int64 // LLEN; -1 unknown
	bad    int64
}

// watchlist is the table of assets: sortable, filterable, scrollable.
type watchlist struct {
	all      []watchRow
	rows     []watchRow // after filter and sort
	selected string
	offset   int
	visible  int // rows that fit, as of the last render
	sort     sortKey
	filter   textinput.Model
	editing  bool // the filter has the keyboard
	sp       *sparker
}

func newWatchlist(t *Theme) watchlist {
	ti := textinput.New()
	ti.Prompt = "/"
	ti.Placeholder = "filter"
	ti.CharLimit = 32
	ti.PromptStyle = t.Accent
	return watchlist{filter: ti, sp: newSparker(), visible: 10}
}

// setData replaces the rows, keeping the selection and the scroll (a wheel-scrolled view
// must not jump back to the selection at the next frame).
func (wl *watchlist) setData(views []model.AssetView, buffers, bad map[string]int64) {
	wl.all = wl.all[:0]
	for _, v := range views {
		n, ok := buffers[v.Asset]
		if !ok {
			n = -1
		}
		wl.all = append(wl.all, watchRow{view: v, buffer: n, bad: bad[v.Asset]})
	}
	wl.order()
	wl.clampOffset()
}

// refresh applies a new filter or sort and brings the selection into view.
func (wl *watchlist) refresh() {
	wl.order()
	wl.keepVisible()
}

// order applies the filter and the sort.
func (wl *watchlist) order() {
	needle := strings.ToLower(strings.TrimSpace(wl.filter.Value()))
	wl.rows = wl.rows[:0]
	for _, r := range wl.all {
		if needle == "" || strings.Contains(strings.ToLower(r.view.Asset), needle) {
			wl.rows = append(wl.rows, r)
		}
	}
	key := wl.sort
	slices.SortStableFunc(wl.rows, func(a, b watchRow) int {
		var c int
		switch key {
		case sortChange:
			c = cmp.Compare(b.view.ChangePct, a.view.ChangePct)
		case sortRate:
			c = cmp.Compare(b.view.Rate, a.view.Rate)
		case sortBuffer:
			c = cmp.Compare(b.buffer, a.buffer)
		case sortAge:
			c = a.view.Arrival.Compare(b.view.Arrival) // the stalest first
		}
		return cmp.Or(c, cmp.Compare(a.view.Asset, b.view.Asset))
	})
	if wl.selected == "" && len(wl.rows) > 0 {
		wl.selected = wl.rows[0].view.Asset
	}
}

func (wl *watchlist) clampOffset() {
	wl.offset = max(0, min(wl.offset, len(wl.rows)-wl.visible))
}

func (wl *watchlist) index() int {
	return slices.IndexFunc(wl.rows, func(r watchRow) bool { return r.view.Asset == wl.selected })
}

// move changes the selection by delta rows (clamped).
func (wl *watchlist) move(delta int) {
	if len(wl.rows) == 0 {
		return
	}
	i := max(wl.index(), 0) + delta
	i = max(0, min(len(wl.rows)-1, i))
	wl.selected = wl.rows[i].view.Asset
	wl.keepVisible()
}

// scroll moves the view by delta rows without moving the selection (the mouse wheel).
func (wl *watchlist) scroll(delta int) {
	wl.offset += delta
	wl.clampOffset()
}

func (wl *watchlist) keepVisible() {
	i := wl.index()
	if i < 0 {
		wl.offset = min(wl.offset, max(0, len(wl.rows)-wl.visible))
		return
	}
	if i < wl.offset {
		wl.offset = i
	}
	if i >= wl.offset+wl.visible {
		wl.offset = i - wl.visible + 1
	}
	wl.offset = max(0, wl.offset)
}

// columns says which columns fit in w cells.
type columns struct {
	asset, last, chg, pct, rate, spark, buf, age, bad int
}

func layoutColumns(w int, compact bool, assetW int) columns {
	c := columns{asset: max(6, min(assetW, 13)), last: 10, pct: 7, rate: 6, buf: 10, age: 5}
	if compact {
		c.buf = 5
	}
	used := func() int {
		n := 0
		for _, v := range []int{c.asset, c.last, c.chg, c.pct, c.rate, c.spark, c.buf, c.age, c.bad} {
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

// render draws the watchlist in a w x h box.
func (wl *watchlist) render(t *Theme, focused bool, w, h int, now time.Time, stale time.Duration, bufferCap int, compact bool) string {
	inner := w - 2
	wl.visible = max(1, h-3) // border and header row
	wl.clampOffset()
	assetW := 6
	for _, r := range wl.all {
		assetW = max(assetW, len(r.view.Asset))
	}
	c := layoutColumns(inner, compact, assetW)

	var lines []string
	head := cell(c.asset, "Asset", false) + cell(c.last, "Last", true) + cell(c.chg, "Chg", true) +
		cell(c.pct, "Chg%", true) + cell(c.rate, "t/s", true) + cell(c.spark, "Recent", false) +
		cell(c.buf, bufHeader(c.buf), false) + cell(c.age, "Age", true) + cell(c.bad, "Bad", true)
	lines = append(lines, t.Muted.Render(head))
	if len(wl.rows) == 0 {
		msg := "no assets yet: waiting for ticks" + t.G.Ellipsis
		if wl.filter.Value() != "" {
			msg = "no asset matches the filter"
		}
		lines = append(lines, t.Muted.Render(msg))
	}
	end := min(len(wl.rows), wl.offset+wl.visible)
	for _, r := range wl.rows[wl.offset:end] {
		lines = append(lines, wl.row(t, r, c, now, stale, bufferCap, r.view.Asset == wl.selected))
	}
	return box(t, focused, wl.title(t), lines, w, h)
}

func (wl *watchlist) title(t *Theme) string {
	title := t.Title.Render("Watchlist") + t.Muted.Render(" by "+sortNames[wl.sort])
	if n := len(wl.rows); n > wl.visible {
		title += t.Muted.Render(" " + strconv.Itoa(wl.offset+1) + "-" + strconv.Itoa(min(n, wl.offset+wl.visible)) + "/" + strconv.Itoa(n))
	}
	if wl.editing || wl.filter.Value() != "" {
		title += " " + wl.filter.View()
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

func (wl *watchlist) row(t *Theme, r watchRow, c columns, now time.Time, stale time.Duration, bufferCap int, selected bool) string {
	v := r.view
	move := t.Bull
	if v.Change < 0 {
		move = t.Bear
	}
	age := now.Sub(v.Arrival)
	ageText, ageStyle := fmtAge(age), t.Muted
	if v.Ticks > 0 && age > stale {
		ageStyle = t.Warn
	}
	if v.Ticks == 0 {
		ageText = "-"
	}
	bufText := "-"
	var fraction float64
	if r.buffer >= 0 {
		bufText = strconv.FormatInt(r.buffer, 10)
		fraction = float64(r.buffer) / float64(bufferCap)
	}
	badText := strconv.FormatInt(r.bad, 10)
	badStyle := t.Muted
	if r.bad > 0 {
		badStyle = t.Bad
	}
	pct := fmtSigned(v.ChangePct, 2) + "%"

	// Each cell is its text and style; a selected row drops the styles for one reverse
	// video over the whole line (a style nested inside another would end it early).
	type part struct {
		text  string
		style *lipgloss.Style
	}
	var parts []part
	add := func(text string, style *lipgloss.Style) { parts = append(parts, part{text, style}) }
	add(cell(c.asset, v.Asset, false), nil)
	add(cell(c.last, fmtPrice(v.Last.Price, v.Decimals), true), &move)
	add(cell(c.chg, fmtSigned(v.Change, v.Decimals), true), &move)
	add(cell(c.pct, pct, true), &move)
	add(cell(c.rate, fmtSI(v.Rate), true), nil)
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
	add(cell(c.age, ageText, true), &ageStyle)
	add(cell(c.bad, badText, true), &badStyle)

	var sb strings.Builder
	for _, p := range parts {
		if p.style != nil && !selected {
			sb.WriteString(p.style.Render(p.text))
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
