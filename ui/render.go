package ui

import (
	"strings"

	"github.com/NimbleMarkets/ntcharts/canvas"
	"github.com/NimbleMarkets/ntcharts/canvas/graph"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
)

// sparker draws one-row sparklines with ntcharts' column drawing, on one canvas per width
// that it reuses. ntcharts' sparkline model clears its canvas by allocating a new one
// (twice a draw: 4 KB for a 12-cell line, most of a frame's garbage) and styles every cell;
// resetting only the cells and reading the runes back is what keeps a frame cheap.
type sparker struct {
	canvases map[int]*canvas.Model
	levels   []float64
	runes    []rune
}

func newSparker() *sparker { return &sparker{canvases: map[int]*canvas.Model{}} }

// draw returns values (oldest first; the newest w are shown, right-aligned) as a w-cell
// sparkline scaled between their own minimum and maximum, so price movement shows rather
// than the distance from zero.
func (sp *sparker) draw(values []float64, w int, g Glyphs, ink Ink) string {
	if w <= 0 {
		return ""
	}
	return ink.Render(sp.plain(values, w, g))
}

// plain is draw without styling.
func (sp *sparker) plain(values []float64, w int, g Glyphs) string {
	if w <= 0 {
		return ""
	}
	if len(values) > w {
		values = values[len(values)-w:]
	}
	cv := sp.canvases[w]
	if cv == nil {
		c := canvas.New(w, 1)
		cv = &c
		sp.canvases[w] = cv
	}
	for x := range w {
		cv.SetCell(canvas.Point{X: x, Y: 0}, canvas.Cell{})
	}
	lo, hi := minMax(values)
	sp.levels = sp.levels[:0]
	for _, v := range values {
		level := 0.5
		if hi > lo {
			level = (v - lo) / (hi - lo)
		}
		// The lowest value still shows (as the lowest block), not as a gap. One row of
		// height 1 for a maximum of 1: the level is the column's height.
		sp.levels = append(sp.levels, 0.125+0.875*level)
	}
	graph.DrawColumns(cv, canvas.Point{X: w - len(sp.levels), Y: 0}, sp.levels, lipgloss.Style{})
	sp.runes = sp.runes[:0]
	for x := range w {
		sp.runes = append(sp.runes, sparkRune(cv.Cell(canvas.Point{X: x, Y: 0}).Rune, g))
	}
	return string(sp.runes)
}

// sparkRune maps ntcharts' block runes onto the theme's glyph ramp (ASCII or not).
func sparkRune(r rune, g Glyphs) rune {
	if r == 0 {
		return ' '
	}
	for i, b := range unicodeGlyphs.Spark {
		if b == r {
			return g.Spark[i]
		}
	}
	return g.Spark[len(g.Spark)-1]
}

func minMax(vs []float64) (lo, hi float64) {
	for i, v := range vs {
		if i == 0 || v < lo {
			lo = v
		}
		if i == 0 || v > hi {
			hi = v
		}
	}
	return lo, hi
}

// gauge draws a fill level in w cells, coloured by how close it is to full.
func gauge(t *Theme, fraction float64, w int) string {
	full := gaugeCells(fraction, w)
	ink := t.GoodInk
	switch {
	case fraction >= 0.9:
		ink = t.BadInk
	case fraction >= 0.7:
		ink = t.WarnInk
	}
	return ink.Render(strings.Repeat(t.G.GaugeFull, full)) + t.MutedInk.Render(strings.Repeat(t.G.GaugeEmpty, w-full))
}

// box draws content in a bordered box of exactly w x h cells with a (styled) title in the
// top border. Content lines are cut or padded to fit.
func box(t *Theme, focused bool, title string, lines []string, w, h int) string {
	if w < 4 || h < 2 {
		return ""
	}
	inner := w - 2
	bc := t.MutedInk
	if focused {
		bc = t.AccentInk
	}
	b := t.G.Border
	if lipgloss.Width(title) > inner-3 {
		title = ansi.Truncate(title, inner-3, t.G.Ellipsis)
	}
	title = " " + title + " "
	var sb strings.Builder
	sb.WriteString(bc.Render(b.TopLeft + b.Top))
	sb.WriteString(title)
	sb.WriteString(bc.Render(strings.Repeat(b.Top, max(0, inner-1-lipgloss.Width(title))) + b.TopRight))
	left, right := bc.Render(b.Left), bc.Render(b.Right)
	for i := range h - 2 {
		line := ""
		if i < len(lines) {
			line = lines[i]
		}
		sb.WriteByte('\n')
		sb.WriteString(left)
		sb.WriteString(fit(line, inner))
		sb.WriteString(right)
	}
	sb.WriteByte('\n')
	sb.WriteString(bc.Render(b.BottomLeft + strings.Repeat(b.Bottom, inner) + b.BottomRight))
	return sb.String()
}
