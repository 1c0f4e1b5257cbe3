package ui

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/NimbleMarkets/ntcharts/canvas"
	"github.com/NimbleMarkets/ntcharts/canvas/graph"
	"github.com/charmbracelet/lipgloss"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/model/format"
)

// The chart's drawing: where its parts go (geometry), the candles drawn by ntcharts on a
// canvas, and a grid of cells over them where the moving averages, markers, crosshair,
// last-price rule and tick-count strip go, each into cells left empty (markers excepted),
// before the grid is written row by row in runs of one ink.

// chartGeometry is where the chart's parts go inside its box.
type chartGeometry struct {
	w       int   // inner width
	plotW   int   // columns of candles (the price axis takes the rest)
	readout int   // rows the crosshair's readout takes at the top
	plotH   int   // rows of candles
	volH    int   // rows of the tick-count strip
	step    int   // columns per bar
	bars    int   // bars that fit
	width   int64 // seconds per bar
}

// geometry lays the chart out in its box; false when the box is too small to chart in.
func (c *chart) geometry() (chartGeometry, bool) {
	w, h := c.w-2, c.h-2
	g := chartGeometry{w: w, volH: volumeRows(h)}
	z := zoomLevels[c.zoom]
	g.width = int64(c.tf) * int64(z.per)
	if c.cross && len(c.candles) > 0 {
		g.readout = len(readoutLines(c.ctx.theme, c.readoutFields(c.ctx.theme, g.width), w))
	}
	g.plotH = h - 1 - g.readout - g.volH
	if g.plotH < 3 || w < 20 {
		return g, false
	}
	g.plotW = w - (len(format.Price(maxHigh(c.candles), c.decimals)) + 2)
	g.step = z.step
	if c.zoom == zoomDefault && len(c.candles)*2 <= g.plotW {
		g.step = 2 // room to spare: a gap between candles reads better
	}
	g.bars = max(1, g.plotW/g.step)
	return g, true
}

// volumeRows is the height of the tick-count strip in a chart of h rows.
func volumeRows(h int) int {
	switch {
	case h < 10:
		return 0
	case h < 18:
		return 1
	case h < 30:
		return 2
	}
	return 3
}

// Inks of the grid's cells.
const (
	inkPlain int8 = iota
	inkBull
	inkBear
	inkMuted
	inkAverage // + the average's index
)

// chartGlyphs are the overlays' characters.
type chartGlyphs struct {
	average        [model.MaxAverages]rune
	buy, sell      rune
	crossV, crossH rune
	crossX         rune
}

var (
	unicodeChart = chartGlyphs{average: [2]rune{'•', '◦'}, buy: '▲', sell: '▼', crossV: '┊', crossH: '┈', crossX: '┼'}
	asciiChart   = chartGlyphs{average: [2]rune{'*', 'o'}, buy: '^', sell: 'v', crossV: ':', crossH: '.', crossX: '+'}
)

// plot returns the chart's lines: the crosshair's readout, candles with a price axis on
// the right and the last price marked, the tick-count strip, and a time axis at the bottom.
func (c *chart) plot(t *Theme, w, h int) []string {
	g, ok := c.geometry()
	if !ok {
		return nil
	}
	if len(c.candles) == 0 {
		msg := "waiting for ticks" + t.G.Ellipsis
		if c.asset == "" {
			msg = "select an asset and press enter"
		} else if c.loading {
			msg = "loading history" + t.G.Ellipsis
		}
		lines := make([]string, h)
		lines[h/2] = fit(strings.Repeat(" ", max(0, (w-len(msg))/2))+t.Muted.Render(msg), w)
		return lines
	}
	glyphs := unicodeChart
	if t.G.ASCII {
		glyphs = asciiChart
	}
	c.computeAverages()
	c.fillBars(g)
	visible := c.bars
	plotH, plotW := g.plotH, g.plotW

	last := c.last.Price
	if c.anchor != 0 {
		last = 0 // the live price is not part of a view of the past
	}
	lo, hi := barRange(visible, last)
	if len(c.markersIn(visible[0].Start, visible[len(visible)-1].Start+g.width)) > 0 {
		pad := (hi - lo) / float64(plotH-1) // a row above and below for the arrows
		lo, hi = lo-pad, hi+pad
	}
	scale := func(v float64) float64 { return (v - lo) / (hi - lo) * float64(plotH-1) }
	row := func(v float64) int { return plotH - 1 - int(math.Round(scale(v))) }

	c.drawCandles(t, visible, g, scale)
	rows := plotH + g.volH
	c.cells = growCells(c.cells, plotW*rows)
	c.inks = slicesGrow(c.inks, plotW*rows)
	for y := range plotH {
		for x := range plotW {
			r := c.canvas.Cell(canvas.Point{X: x, Y: y}).Rune
			if r == 0 {
				continue
			}
			col := c.colour[x]
			if col == candleBull && t.NoColor {
				r = hollow(r)
			}
			c.cells[y*plotW+x], c.inks[y*plotW+x] = r, col
		}
	}
	empty := func(x, y int) bool { return c.cells[y*plotW+x] == 0 }
	set := func(x, y int, r rune, ink int8) { c.cells[y*plotW+x], c.inks[y*plotW+x] = r, ink }

	c.drawVolume(t, visible, g)
	c.drawMarkers(visible, g, glyphs, row, empty, set)
	c.drawAverages(visible, g, glyphs, row, empty, set)
	crossRow, crossBar := -1, -1
	if c.cross {
		crossBar, crossRow = c.drawCrosshair(visible, g, glyphs, row, empty, set)
	}
	lastRow := -1
	if last > 0 {
		if lastRow = row(last); lastRow >= 0 && lastRow < plotH {
			for x := range plotW {
				if empty(x, lastRow) {
					set(x, lastRow, t.G.RuleRune, inkMuted)
				}
			}
		}
	}

	lines := make([]string, 0, h)
	if c.cross {
		lines = append(lines, readoutLines(t, c.readoutFields(t, g.width), w)...)
	}
	labelEvery := max(2, plotH/6)
	maxVol := int64(0)
	for _, b := range visible {
		maxVol = max(maxVol, b.Volume)
	}
	for y := range rows {
		var sb strings.Builder
		c.renderRow(t, &sb, y, plotW)
		price := hi - float64(y)/float64(plotH-1)*(hi-lo)
		switch {
		case y >= plotH:
			if y == plotH && maxVol > 0 {
				sb.WriteString(" " + t.Muted.Render(format.SI(float64(maxVol))))
			}
		case y == crossRow:
			sb.WriteString(" " + t.Selected.Render(format.Price(visible[crossBar].Close, c.decimals)))
		case y == lastRow:
			style := t.BullTag
			if last < visible[len(visible)-1].Open {
				style = t.BearTag
			}
			sb.WriteString(" " + style.Render(format.Price(last, c.decimals)))
		case y%labelEvery == 0 && !near(y, lastRow) && !near(y, crossRow):
			sb.WriteString(" " + t.Muted.Render(format.Price(price, c.decimals)))
		}
		lines = append(lines, sb.String())
	}
	return append(lines, c.timeAxis(t, visible, g))
}

// drawCandles draws the bars on the canvas, one column each (step apart), and notes each
// column's colour.
func (c *chart) drawCandles(t *Theme, visible []bar, g chartGeometry, scale func(float64) float64) {
	if c.canvas.Width() != g.plotW || c.canvas.Height() != g.plotH {
		c.canvas = canvas.New(g.plotW, g.plotH)
	} else {
		c.clearCandles()
	}
	c.colour = slicesGrow(c.colour, g.plotW)
	for i, k := range visible {
		x := i * g.step
		col := candleBull
		if k.Close < k.Open {
			col = candleBear
		}
		c.colour[x] = col
		bodyLo, bodyHi := min(k.Open, k.Close), max(k.Open, k.Close)
		if t.G.ASCII {
			c.asciiCandle(x, g.plotH, scale(k.Low), scale(bodyLo), scale(bodyHi), scale(k.High), col)
			continue
		}
		// Fractions map to ntcharts' half-cell candle runes; +0.25 keeps the lowest
		// wick off the floor's rounding edge.
		graph.DrawCandlestickBottomToTop(&c.canvas, canvas.Point{X: x, Y: g.plotH - 1},
			scale(k.Low)+0.25, scale(bodyLo)+0.25, scale(bodyHi)+0.25, scale(k.High)+0.25, lipgloss.Style{})
	}
}

// drawVolume fills the strip under the candles: each bar's tick count as a column of
// blocks, scaled to the largest in view, in the candle's colour.
func (c *chart) drawVolume(t *Theme, visible []bar, g chartGeometry) {
	if g.volH == 0 {
		return
	}
	maxVol := int64(0)
	for _, b := range visible {
		maxVol = max(maxVol, b.Volume)
	}
	if maxVol == 0 {
		return
	}
	ramp := t.G.Spark // ramp[0] is empty, ramp[8] a full cell
	levels := len(ramp) - 1
	for i, b := range visible {
		if b.Volume <= 0 {
			continue
		}
		x := i * g.step
		fill := int(math.Ceil(float64(b.Volume) / float64(maxVol) * float64(g.volH*levels)))
		for r := range g.volH { // from the bottom
			n := min(max(fill-r*levels, 0), levels)
			if n == 0 {
				break
			}
			y := g.plotH + g.volH - 1 - r
			c.cells[y*g.plotW+x], c.inks[y*g.plotW+x] = ramp[n], c.colour[x]
		}
	}
}

// drawMarkers puts an arrow under each bar with a buy signal and over each with a sell,
// and its label beside it when the cells there are free.
func (c *chart) drawMarkers(visible []bar, g chartGeometry, gl chartGlyphs, row func(float64) int,
	empty func(x, y int) bool, set func(x, y int, r rune, ink int8)) {
	if len(c.markers) == 0 {
		return
	}
	for i, b := range visible {
		ms := c.markersIn(b.Start, b.Start+g.width)
		var buy, sell bool
		for _, m := range ms {
			x := i * g.step
			var y int
			var arrow rune
			var ink int8
			switch {
			case m.Side == MarkerBuy && !buy:
				buy, y, arrow, ink = true, min(row(b.Low)+1, g.plotH-1), gl.buy, inkBull
			case m.Side == MarkerSell && !sell:
				sell, y, arrow, ink = true, max(row(b.High)-1, 0), gl.sell, inkBear
			default:
				continue // one arrow a side a bar; the readout lists them all
			}
			set(x, y, arrow, ink)
			label := []rune(m.Label)
			if x+len(label) >= g.plotW {
				continue
			}
			free := true
			for j := range label {
				free = free && empty(x+1+j, y)
			}
			if free {
				for j, r := range label {
					set(x+1+j, y, r, ink)
				}
			}
		}
	}
}

// drawAverages draws each moving average as a dotted line through the bars' closes'
// averages (the average at a bar's newest candle), interpolated across the gaps between
// bars, in cells the candles left empty.
func (c *chart) drawAverages(visible []bar, g chartGeometry, gl chartGlyphs, row func(float64) int,
	empty func(x, y int) bool, set func(x, y int, r rune, ink int8)) {
	for k := range c.averages {
		vals := c.avg[k]
		prev := math.NaN()
		for i, b := range visible {
			v := vals[b.last]
			if math.IsNaN(v) {
				prev = v
				continue
			}
			x := i * g.step
			for j := g.step - 1; j >= 1 && !math.IsNaN(prev) && i > 0; j-- {
				c.plotPoint(x-j, row(prev+(v-prev)*float64(g.step-j)/float64(g.step)), g, gl.average[k], inkAverage+int8(k), empty, set)
			}
			c.plotPoint(x, row(v), g, gl.average[k], inkAverage+int8(k), empty, set)
			prev = v
		}
	}
}

func (c *chart) plotPoint(x, y int, g chartGeometry, r rune, ink int8, empty func(x, y int) bool, set func(x, y int, r rune, ink int8)) {
	if x >= 0 && x < g.plotW && y >= 0 && y < g.plotH && empty(x, y) {
		set(x, y, r, ink)
	}
}

// drawCrosshair draws the crosshair's lines through its bar and that bar's close; it
// returns the bar's index in view and the close's row (-1, -1 when out of view).
func (c *chart) drawCrosshair(visible []bar, g chartGeometry, gl chartGlyphs, row func(float64) int,
	empty func(x, y int) bool, set func(x, y int, r rune, ink int8)) (int, int) {
	ci := c.indexAt(c.crossAt)
	k := -1
	for i, b := range visible {
		if ci >= b.first && ci <= b.last {
			k = i
		}
	}
	if k < 0 {
		return -1, -1
	}
	x, y := k*g.step, row(visible[k].Close)
	for yy := range g.plotH + g.volH {
		if empty(x, yy) {
			set(x, yy, gl.crossV, inkMuted)
		}
	}
	if y < 0 || y >= g.plotH {
		return k, -1
	}
	for xx := range g.plotW {
		switch {
		case xx == x && c.cells[y*g.plotW+x] == gl.crossV:
			set(x, y, gl.crossX, inkMuted)
		case empty(xx, y):
			set(xx, y, gl.crossH, inkMuted)
		}
	}
	return k, y
}

// readoutField is one item of the crosshair's readout: a name (muted) and its value.
type readoutField struct {
	name, value string
	ink         int8 // of the value: inkPlain, inkBull or inkBear (signals)
}

// readoutFields are the crosshair's readout: its bar's time (with the day when not the
// newest candle's), open, high, low, close and tick count, the moving averages there,
// and the signals in it.
func (c *chart) readoutFields(t *Theme, width int64) []readoutField {
	c.computeAverages()
	b := c.barAt(c.indexAt(c.crossAt), width)
	price := func(v float64) string { return format.Price(v, c.decimals) }
	at, newest := time.Unix(b.Start, 0).UTC(), time.Unix(c.candles[len(c.candles)-1].Start, 0).UTC()
	layout := "15:04"
	if at.YearDay() != newest.YearDay() || at.Year() != newest.Year() {
		layout = "Jan 02 15:04"
	}
	fields := []readoutField{{value: at.Format(layout)}, {"O", price(b.Open), inkPlain}, {"H", price(b.High), inkPlain},
		{"L", price(b.Low), inkPlain}, {"C", price(b.Close), inkPlain}, {"ticks", strconv.FormatInt(b.Volume, 10), inkPlain}}
	for k, m := range c.averages {
		if v := c.avg[k][b.last]; !math.IsNaN(v) {
			fields = append(fields, readoutField{m.Label(), price(v), inkPlain})
		}
	}
	gl := unicodeChart
	if t.G.ASCII {
		gl = asciiChart
	}
	for _, m := range c.markersIn(b.Start, b.Start+width) {
		if m.Side == MarkerBuy {
			fields = append(fields, readoutField{"", string(gl.buy) + " " + m.Label, inkBull})
		} else {
			fields = append(fields, readoutField{"", string(gl.sell) + " " + m.Label, inkBear})
		}
	}
	return fields
}

// readoutLines packs the readout's fields into lines of w cells: one when they fit, else
// two (what does not fit in two is cut).
func readoutLines(t *Theme, fields []readoutField, w int) []string {
	lines := []string{""}
	used := 0
	for _, f := range fields {
		fw := len([]rune(f.value))
		if f.name != "" {
			fw += len(f.name) + 1
		}
		if used > 0 && used+1+fw > w && len(lines) < 2 {
			lines, used = append(lines, ""), 0
		}
		var sb strings.Builder
		if used > 0 {
			sb.WriteByte(' ')
			used++
		}
		if f.name != "" {
			sb.WriteString(t.Muted.Render(f.name))
			sb.WriteByte(' ')
		}
		switch f.ink {
		case inkBull:
			sb.WriteString(t.Bull.Render(f.value))
		case inkBear:
			sb.WriteString(t.Bear.Render(f.value))
		default:
			sb.WriteString(f.value)
		}
		lines[len(lines)-1] += sb.String()
		used += fw
	}
	for i := range lines {
		lines[i] = fit(lines[i], w)
	}
	return lines
}

// clearCandles empties the columns the last plot drew candles in (canvas.Clear allocates
// a new grid of styled cells: megabytes a frame at 200x60).
func (c *chart) clearCandles() {
	for x, col := range c.colour {
		if col == candleNone {
			continue
		}
		for y := range c.canvas.Height() {
			c.canvas.SetCell(canvas.Point{X: x, Y: y}, canvas.Cell{})
		}
	}
}

// near says whether row y is next to a marked row r (-1: none), where a label would
// crowd the mark's.
func near(y, r int) bool { return r >= 0 && y >= r-1 && y <= r+1 }

// renderRow styles a row of the grid one run of equal ink at a time.
func (c *chart) renderRow(t *Theme, sb *strings.Builder, y, w int) {
	runInk := int8(-1)
	c.runes = c.runes[:0]
	flush := func() {
		if len(c.runes) == 0 {
			return
		}
		s := string(c.runes)
		switch runInk {
		case inkBull:
			t.BullInk.Write(sb, s)
		case inkBear:
			t.BearInk.Write(sb, s)
		case inkMuted:
			t.MutedInk.Write(sb, s)
		case inkAverage:
			t.AccentInk.Write(sb, s)
		case inkAverage + 1:
			t.WarnInk.Write(sb, s)
		default:
			sb.WriteString(s)
		}
		c.runes = c.runes[:0]
	}
	row := c.cells[y*w : (y+1)*w]
	inks := c.inks[y*w : (y+1)*w]
	for x, r := range row {
		ink := inks[x]
		if r == 0 {
			r, ink = ' ', inkPlain
		}
		if ink != runInk {
			flush()
			runInk = ink
		}
		c.runes = append(c.runes, r)
	}
	flush()
}

// asciiCandle draws a candle with ASCII: | for wicks, O (hollow: up) or # (down) for
// the body.
func (c *chart) asciiCandle(x, plotH int, low, bodyLo, bodyHi, high float64, col int8) {
	body := '#'
	if col == candleBull {
		body = 'O'
	}
	for row := int(math.Round(low)); row <= int(math.Round(high)); row++ {
		r := '|'
		if row >= int(math.Round(bodyLo)) && row <= int(math.Round(bodyHi)) {
			r = body
		}
		c.canvas.SetRune(canvas.Point{X: x, Y: plotH - 1 - row}, r)
	}
}

// hollow gives bull candles a double-line body when there is no colour to tell them apart.
func hollow(r rune) rune {
	switch r {
	case '┃':
		return '║'
	case '╹', '╿':
		return '╨'
	case '╻', '╽':
		return '╥'
	}
	return r
}

// timeAxis labels the bottom with bar times, spaced to fit.
func (c *chart) timeAxis(t *Theme, visible []bar, g chartGeometry) string {
	layout := "15:04"
	switch {
	case g.width >= 24*3600:
		layout = "Jan 02"
	case g.width >= 3600:
		layout = "02 15:04"
	}
	labelW := len(layout) + 2
	row := []rune(strings.Repeat(" ", g.plotW))
	every := max(1, (labelW+g.step-1)/g.step)
	for i := 0; i < len(visible); i += every {
		x := i * g.step
		label := time.Unix(visible[i].Start, 0).UTC().Format(layout)
		if x+len(label) > g.plotW {
			break
		}
		copy(row[x:], []rune(label))
	}
	return t.Muted.Render(string(row))
}

// barRange is the bars' price range (with last, when above 0), widened a little so
// extremes do not touch the edges.
func barRange(bs []bar, last float64) (lo, hi float64) {
	lo, hi = bs[0].Low, bs[0].High
	for _, k := range bs[1:] {
		lo, hi = min(lo, k.Low), max(hi, k.High)
	}
	if last > 0 {
		lo, hi = min(lo, last), max(hi, last)
	}
	pad := (hi - lo) * 0.03
	if pad == 0 {
		pad = math.Max(math.Abs(hi)*1e-4, 1e-9)
	}
	return lo - pad, hi + pad
}

func maxHigh(cs []model.Candle) float64 {
	m := 0.0
	for _, k := range cs {
		m = max(m, k.High)
	}
	return m
}

func slicesGrow(s []int8, n int) []int8 {
	if cap(s) < n {
		return make([]int8, n)
	}
	s = s[:n]
	clear(s)
	return s
}

func growCells(s []rune, n int) []rune {
	if cap(s) < n {
		return make([]rune, n)
	}
	s = s[:n]
	clear(s)
	return s
}
