package ui

import (
	"math"
	"strings"
	"time"

	"github.com/NimbleMarkets/ntcharts/canvas"
	"github.com/NimbleMarkets/ntcharts/canvas/graph"
	"github.com/charmbracelet/lipgloss"

	"github.com/quflx/quflx-tui/model"
)

// chart is the candlestick chart of the selected asset.
type chart struct {
	asset    string
	tf       model.Timeframe
	candles  []model.Candle
	last     model.Tick
	decimals int
	source   string // where the history came from and what it cost
	loading  bool

	canvas canvas.Model // reused between frames
	colour []int8       // per column: 0 none, 1 bull, 2 bear
	runes  []rune
}

const (
	candleNone int8 = iota
	candleBull
	candleBear
)

var timeframeNames = []string{"1m", "5m", "15m", "1h", "4h"}

// title is the chart box's title: asset, the timeframe tabs, the history's source.
func (c *chart) title(t *Theme) string {
	var sb strings.Builder
	if c.asset == "" {
		sb.WriteString(t.Title.Render("Chart"))
	} else {
		sb.WriteString(t.Title.Render(c.asset))
	}
	for i, tf := range model.Timeframes {
		sb.WriteByte(' ')
		if tf == c.tf {
			sb.WriteString(t.Selected.Render(timeframeNames[i]))
		} else {
			sb.WriteString(t.Muted.Render(timeframeNames[i]))
		}
	}
	switch {
	case c.loading:
		sb.WriteString(t.Muted.Render("  loading history" + t.G.Ellipsis))
	case c.source != "":
		sb.WriteString(t.Muted.Render("  " + c.source))
	}
	return sb.String()
}

// render draws the chart in a w x h box.
func (c *chart) render(t *Theme, focused bool, w, h int) string {
	innerW, innerH := w-2, h-2
	lines := c.plot(t, innerW, innerH)
	return box(t, focused, c.title(t), lines, w, h)
}

// plot returns the chart's lines: candles with a price axis on the right, the last price
// marked, and a time axis at the bottom.
func (c *chart) plot(t *Theme, w, h int) []string {
	plotH := h - 1
	if plotH < 3 || w < 20 {
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
	axisW := len(fmtPrice(maxHigh(c.candles), c.decimals)) + 2
	plotW := w - axisW
	step := 1
	if len(c.candles)*2 <= plotW {
		step = 2 // room to spare: a gap between candles reads better
	}
	visible := c.candles[max(0, len(c.candles)-plotW/step):]
	lo, hi := priceRange(visible, c.last.Price)
	scale := func(v float64) float64 { return (v - lo) / (hi - lo) * float64(plotH-1) }

	if c.canvas.Width() != plotW || c.canvas.Height() != plotH {
		c.canvas = canvas.New(plotW, plotH)
	} else {
		c.canvas.Clear()
	}
	c.colour = slicesGrow(c.colour, plotW)
	for i, k := range visible {
		x := i * step
		col := candleBull
		if k.Close < k.Open {
			col = candleBear
		}
		c.colour[x] = col
		bodyLo, bodyHi := min(k.Open, k.Close), max(k.Open, k.Close)
		if t.G.ASCII {
			c.asciiCandle(x, plotH, scale(k.Low), scale(bodyLo), scale(bodyHi), scale(k.High), col)
			continue
		}
		// Fractions map to ntcharts' half-cell candle runes; +0.25 keeps the lowest
		// wick off the floor's rounding edge.
		graph.DrawCandlestickBottomToTop(&c.canvas, canvas.Point{X: x, Y: plotH - 1},
			scale(k.Low)+0.25, scale(bodyLo)+0.25, scale(bodyHi)+0.25, scale(k.High)+0.25, lipgloss.Style{})
	}

	lastRow := -1
	if c.last.Price > 0 {
		lastRow = plotH - 1 - int(math.Round(scale(c.last.Price)))
	}
	labelEvery := max(2, plotH/6)
	lines := make([]string, 0, h)
	for y := range plotH {
		var sb strings.Builder
		c.renderRow(t, &sb, y, plotW, y == lastRow)
		price := hi - float64(y)/float64(plotH-1)*(hi-lo)
		switch {
		case y == lastRow:
			style := t.BullTag
			if c.last.Price < visible[len(visible)-1].Open {
				style = t.BearTag
			}
			sb.WriteString(" " + style.Render(fmtPrice(c.last.Price, c.decimals)))
		case y%labelEvery == 0 && abs(y-lastRow) > 1:
			sb.WriteString(" " + t.Muted.Render(fmtPrice(price, c.decimals)))
		}
		lines = append(lines, sb.String())
	}
	lines = append(lines, c.timeAxis(t, visible, step, plotW))
	return lines
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// renderRow styles a row of the canvas one run of equal colour at a time.
func (c *chart) renderRow(t *Theme, sb *strings.Builder, y, w int, marker bool) {
	runCol := int8(-1)
	c.runes = c.runes[:0]
	flush := func() {
		if len(c.runes) == 0 {
			return
		}
		s := string(c.runes)
		switch runCol {
		case candleBull:
			sb.WriteString(t.Bull.Render(s))
		case candleBear:
			sb.WriteString(t.Bear.Render(s))
		default:
			if marker {
				sb.WriteString(t.Muted.Render(s))
			} else {
				sb.WriteString(s)
			}
		}
		c.runes = c.runes[:0]
	}
	for x := range w {
		r := c.canvas.Cell(canvas.Point{X: x, Y: y}).Rune
		col := c.colour[x]
		if r == 0 {
			col = candleNone
			r = ' '
			if marker {
				r = t.G.RuleRune
			}
		} else if col == candleBull && t.NoColor {
			r = hollow(r)
		}
		if col != runCol {
			flush()
			runCol = col
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

// timeAxis labels the bottom with candle times, spaced to fit.
func (c *chart) timeAxis(t *Theme, visible []model.Candle, step, w int) string {
	layout := "15:04"
	if c.tf >= model.TF1h {
		layout = "02 15:04"
	}
	labelW := len(layout) + 2
	row := []rune(strings.Repeat(" ", w))
	every := max(1, (labelW+step-1)/step)
	for i := 0; i < len(visible); i += every {
		x := i * step
		label := time.Unix(visible[i].Start, 0).UTC().Format(layout)
		if x+len(label) > w {
			break
		}
		copy(row[x:], []rune(label))
	}
	return t.Muted.Render(string(row))
}

// priceRange is the visible range, widened a little so extremes do not touch the edges.
func priceRange(cs []model.Candle, last float64) (lo, hi float64) {
	lo, hi = cs[0].Low, cs[0].High
	for _, k := range cs[1:] {
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
