package ui

import (
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/NimbleMarkets/ntcharts/canvas"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/lipgloss"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/model/format"
)

// chart is the candlestick chart of the selected asset, with a tick-count strip under the
// candles, moving averages and signal markers over them. It can be zoomed, panned back in
// time (older history is loaded in pages as the view nears its oldest candle) and read
// candle by candle with a crosshair. The view is anchored to a candle's time, so new
// candles arriving while panned leave it where it is.
type chart struct {
	common
	asset    string
	tf       model.Timeframe
	candles  []model.Candle // pages of older history, then the market's candles; oldest first
	last     model.Tick
	decimals int
	source   string // where the history came from and what it cost
	loading  bool   // the asset's history
	paging   bool   // a page of older history
	noOlder  bool   // nothing older than candles[0] to load (or the chart holds its most)
	pageNote string // what the last page of older history said, when it said something

	zoom    int   // index in zoomLevels
	anchor  int64 // Start of the newest candle in view when panned back; 0: the live edge
	cross   bool
	crossAt int64 // Start of a candle in the crosshair's bar

	averages []model.MovingAverage
	avg      [model.MaxAverages][]float64 // per candle, recomputed as the candles change
	avgDirty bool
	markers  []ChartMarker // sorted by time

	// Drawing buffers, reused between frames.
	canvas canvas.Model
	colour []int8 // per column: candleNone, candleBull, candleBear
	bars   []bar
	cells  []rune
	inks   []int8
	runes  []rune
}

// ChartMarker is a trading signal drawn on the candle its time falls in: an up arrow
// under a buy, a down arrow over a sell, with its short label beside it when there is room
// and in the crosshair's readout.
type ChartMarker struct {
	At    time.Time
	Side  MarkerSide
	Label string // a few characters ("CALL", "S1"); cut to maxMarkerLabel, made printable
}

// MarkerSide says which way a signal points.
type MarkerSide uint8

const (
	MarkerBuy MarkerSide = iota + 1
	MarkerSell
)

const (
	maxMarkerLabel = 8
	// maxChartCandles bounds what panning back loads: at 1m, two weeks.
	maxChartCandles = 20000
)

// zoomLevels are the chart's zooms, in from out: columns per bar (a gap between candles
// when above one) and candles per bar (a bar merges that many timeframe-aligned candles
// when above one, as a longer timeframe would).
var zoomLevels = []struct{ step, per int }{{3, 1}, {2, 1}, {1, 1}, {1, 2}, {1, 4}, {1, 8}, {1, 16}}

// zoomDefault is one candle a column (two when few candles leave room to spare).
const zoomDefault = 2

const (
	candleNone int8 = iota
	candleBull
	candleBear
)

var timeframeNames = []string{"1m", "5m", "15m", "1h", "4h"}

func newChart(ctx *frameContext, tf model.Timeframe) *chart {
	return &chart{common: newCommon(ctx, false), tf: tf, zoom: zoomDefault}
}

// Asset is the asset charted ("" before the first).
func (c *chart) Asset() string { return c.asset }

// Timeframe is the candles' timeframe.
func (c *chart) Timeframe() model.Timeframe { return c.tf }

// Loading says whether its history is being loaded.
func (c *chart) Loading() bool { return c.loading }

// SetAsset charts another asset: its candles, history, view and markers are not known yet.
func (c *chart) SetAsset(asset string) {
	if asset != c.asset {
		c.asset = asset
		c.markers = c.markers[:0]
		c.reset()
	}
}

// SetTimeframe switches the timeframe: the candles of the other one go.
func (c *chart) SetTimeframe(tf model.Timeframe) {
	if tf != c.tf {
		c.tf = tf
		c.reset()
	}
}

// reset forgets the candles, where they came from and where the view was.
func (c *chart) reset() {
	c.source, c.pageNote = "", ""
	c.candles = c.candles[:0]
	c.paging, c.noOlder = false, false
	c.anchor, c.cross = 0, false
	c.avgDirty = true
	c.invalidate()
}

// SetCandles takes the market's candles (copied) and the last tick, marked on the price
// axis. Pages of older history loaded before them stay in front of them.
func (c *chart) SetCandles(live []model.Candle, last model.Tick, decimals int) {
	if len(live) > 0 {
		cut := sort.Search(len(c.candles), func(i int) bool { return c.candles[i].Start >= live[0].Start })
		c.candles = append(c.candles[:cut], live...)
	}
	c.last, c.decimals = last, decimals
	c.avgDirty = true
	c.invalidate()
}

// AddOlder puts a page of older history (oldest first) in front of the candles; an empty
// page says there is none.
func (c *chart) AddOlder(page []model.Candle) {
	c.paging = false
	if len(c.candles) > 0 {
		n := sort.Search(len(page), func(i int) bool { return page[i].Start >= c.candles[0].Start })
		page = page[:n]
	}
	room := maxChartCandles - len(c.candles)
	if len(page) >= room {
		page = page[len(page)-max(0, room):]
		c.noOlder = true
	}
	if len(page) == 0 {
		c.noOlder = true
	} else {
		c.candles = slices.Insert(c.candles, 0, page...)
	}
	c.avgDirty = true
	c.invalidate()
}

// SetLoading says whether its history is being loaded.
func (c *chart) SetLoading(loading bool) {
	if loading != c.loading {
		c.loading = loading
		c.invalidate()
	}
}

// SetPaging says whether a page of older history is being loaded.
func (c *chart) SetPaging(paging bool) {
	if paging != c.paging {
		c.paging = paging
		c.invalidate()
	}
}

// SetSource says where its history came from and what it cost.
func (c *chart) SetSource(source string) {
	if source != c.source {
		c.source = source
		c.invalidate()
	}
}

// SetPageNote says what the last page of older history said ("" for nothing).
func (c *chart) SetPageNote(note string) {
	if note != c.pageNote {
		c.pageNote = note
		c.invalidate()
	}
}

// SetAverages sets the moving averages drawn over the candles (at most model.MaxAverages).
func (c *chart) SetAverages(averages []model.MovingAverage) {
	c.averages = slices.Clone(averages[:min(len(averages), model.MaxAverages)])
	c.avgDirty = true
	c.invalidate()
}

// SetMarkers sets the signal markers of the charted asset (copied; any order).
func (c *chart) SetMarkers(markers []ChartMarker) {
	c.markers = c.markers[:0]
	for _, m := range markers {
		if m.Side != MarkerBuy && m.Side != MarkerSell {
			continue
		}
		label := []rune(model.Printable(m.Label))
		m.Label = string(label[:min(len(label), maxMarkerLabel)])
		c.markers = append(c.markers, m)
	}
	slices.SortStableFunc(c.markers, func(a, b ChartMarker) int { return a.At.Compare(b.At) })
	c.invalidate()
}

// Oldest is the start (Unix seconds) of the oldest candle held; 0 without candles.
func (c *chart) Oldest() int64 {
	if len(c.candles) == 0 {
		return 0
	}
	return c.candles[0].Start
}

// Panned says whether the view left the live edge.
func (c *chart) Panned() bool { return c.anchor != 0 }

// Crosshair says whether the crosshair is on.
func (c *chart) Crosshair() bool { return c.cross }

// Zoom zooms in (dir > 0) or out (dir < 0) a level, keeping the newest candle in view
// where it is. It reports whether the zoom changed.
func (c *chart) Zoom(dir int) bool {
	z := min(max(c.zoom-dir, 0), len(zoomLevels)-1)
	if z == c.zoom {
		return false
	}
	c.zoom = z
	if g, ok := c.geometry(); ok && c.anchor != 0 {
		c.setRight(c.rightIndex(), g) // zoomed out, the window may now run past the oldest candle
	}
	c.invalidate()
	return true
}

// Pan moves the view back (dir < 0) or forward (dir > 0) by a quarter of it; with the
// crosshair on, it moves the crosshair one bar instead, the view following. It reports
// whether anything moved.
func (c *chart) Pan(dir int) bool {
	g, ok := c.geometry()
	if !ok {
		return false
	}
	if c.cross {
		return c.moveCross(dir, g)
	}
	r := c.rightIndex()
	return c.setRight(c.stepBars(r, dir*max(1, g.bars/4), g.width), g)
}

// Live snaps the view back to the live edge.
func (c *chart) Live() bool {
	if c.anchor == 0 {
		return false
	}
	c.anchor = 0
	c.invalidate()
	return true
}

// ToggleCrosshair turns the crosshair on, on the newest bar in view, or off.
func (c *chart) ToggleCrosshair() {
	c.cross = !c.cross
	if c.cross && len(c.candles) > 0 {
		c.crossAt = c.candles[c.rightIndex()].Start
	}
	c.invalidate()
}

// WantsOlder says whether the view is within a screen of the oldest candle held while
// older history may exist: the dashboard then loads a page. Only a chart the user zoomed
// out or panned asks; one at its default view shows what it has.
func (c *chart) WantsOlder() bool {
	if c.asset == "" || c.loading || c.paging || c.noOlder || len(c.candles) == 0 ||
		(c.anchor == 0 && c.zoom <= zoomDefault) {
		return false
	}
	g, ok := c.geometry()
	if !ok {
		return false
	}
	first := c.windowStart(c.rightIndex(), g)
	return first < g.bars*zoomLevels[c.zoom].per
}

// PageSize is how many candles a page of older history should hold: a screen's worth.
func (c *chart) PageSize() int {
	g, ok := c.geometry()
	if !ok {
		return 200
	}
	return max(200, g.bars*zoomLevels[c.zoom].per)
}

// KeyHelp: up and down chart the previous or next asset of the watchlist; left and right
// pan (or move the crosshair).
func (c *chart) KeyHelp() []key.Binding {
	k := c.ctx.keys
	side := "pan"
	if c.cross {
		side = "move crosshair"
	}
	return []key.Binding{pair(k.Up, k.Down, "asset"), pair(k.PanLeft, k.PanRight, side), pair(k.ZoomIn, k.ZoomOut, "zoom"),
		k.Crosshair, k.Live, k.timeframes()}
}

// pair shows two bindings as one in a help line: "←/→ pan".
func pair(a, b key.Binding, desc string) key.Binding {
	first := func(b key.Binding) string { s, _, _ := strings.Cut(b.Help().Key, "/"); return s }
	return key.NewBinding(key.WithKeys(append(a.Keys(), b.Keys()...)...), key.WithHelp(first(a)+"/"+first(b), desc))
}

// rightIndex is the index of the newest candle in view.
func (c *chart) rightIndex() int {
	n := len(c.candles)
	if c.anchor == 0 || n == 0 {
		return n - 1
	}
	return max(0, sort.Search(n, func(i int) bool { return c.candles[i].Start > c.anchor })-1)
}

// setRight puts candle r at the right edge, no further back than keeps the view full;
// at (or past) the newest candle the view is live again. It reports whether it moved.
func (c *chart) setRight(r int, g chartGeometry) bool {
	n := len(c.candles)
	if n == 0 {
		return false
	}
	r = max(r, c.stepBars(0, g.bars-1, g.width)) // the oldest full view
	anchor := int64(0)
	if r < n-1 {
		anchor = c.candles[r].Start
	}
	if anchor == c.anchor {
		return false
	}
	c.anchor = anchor
	c.invalidate()
	return true
}

// moveCross moves the crosshair one bar, panning the view when it leaves it.
func (c *chart) moveCross(dir int, g chartGeometry) bool {
	if len(c.candles) == 0 {
		return false
	}
	ci := c.indexAt(c.crossAt)
	next := c.stepBars(ci, dir, g.width)
	if c.bucket(c.candles[next].Start, g.width) == c.bucket(c.candles[ci].Start, g.width) {
		return false
	}
	c.crossAt = c.candles[next].Start
	r := c.rightIndex()
	switch {
	case next > r:
		c.setRight(next, g)
	case next < c.windowStart(r, g):
		c.setRight(c.stepBars(next, g.bars-1, g.width), g)
	}
	c.invalidate()
	return true
}

// indexAt is the index of the newest candle starting at or before start.
func (c *chart) indexAt(start int64) int {
	return max(0, sort.Search(len(c.candles), func(i int) bool { return c.candles[i].Start > start })-1)
}

// bucket is the start of the bar of width seconds holding a candle that starts at start.
func (c *chart) bucket(start, width int64) int64 {
	b := start - start%width
	if start < 0 && start%width != 0 {
		b -= width
	}
	return b
}

// stepBars moves n bars of width seconds from the bar holding candle i (back when n < 0),
// stopping at either end, and returns the index of the newest candle of the bar reached.
func (c *chart) stepBars(i, n int, width int64) int {
	last := len(c.candles) - 1
	if last < 0 {
		return -1
	}
	i = min(max(i, 0), last)
	b := c.bucket(c.candles[i].Start, width)
	for i < last && c.bucket(c.candles[i+1].Start, width) == b {
		i++
	}
	for ; n < 0; n++ {
		j := i
		for j >= 0 && c.bucket(c.candles[j].Start, width) == b {
			j--
		}
		if j < 0 {
			break
		}
		i, b = j, c.bucket(c.candles[j].Start, width)
	}
	for ; n > 0 && i < last; n-- {
		b = c.bucket(c.candles[i+1].Start, width)
		i++
		for i < last && c.bucket(c.candles[i+1].Start, width) == b {
			i++
		}
	}
	return i
}

// windowStart is the index of the oldest candle in a view whose newest candle is r.
func (c *chart) windowStart(r int, g chartGeometry) int {
	if r < 0 {
		return 0
	}
	b := c.bucket(c.candles[r].Start, g.width)
	bars := 1
	i := r
	for i > 0 {
		nb := c.bucket(c.candles[i-1].Start, g.width)
		if nb != b {
			if bars == g.bars {
				break
			}
			bars++
			b = nb
		}
		i--
	}
	return i
}

// bar is what one column shows: a candle, or at the zoomed-out levels the candles of a
// longer bucket merged (open of the first, close of the last, the range of all, their
// tick counts added up). first and last index the candles it holds.
type bar struct {
	model.Candle
	first, last int
}

// barAt is the bar of width seconds holding candle i.
func (c *chart) barAt(i int, width int64) bar {
	b := c.bucket(c.candles[i].Start, width)
	first, last := i, i
	for first > 0 && c.bucket(c.candles[first-1].Start, width) == b {
		first--
	}
	for last < len(c.candles)-1 && c.bucket(c.candles[last+1].Start, width) == b {
		last++
	}
	return mergeBar(c.candles, first, last, b)
}

func mergeBar(cs []model.Candle, first, last int, start int64) bar {
	out := bar{Candle: cs[first], first: first, last: last}
	out.Start = start
	for _, k := range cs[first+1 : last+1] {
		out.High, out.Low = max(out.High, k.High), min(out.Low, k.Low)
		out.Volume += k.Volume
	}
	out.Close = cs[last].Close
	return out
}

// fillBars fills c.bars with the view's bars, oldest first.
func (c *chart) fillBars(g chartGeometry) {
	c.bars = c.bars[:0]
	r := c.rightIndex()
	if r < 0 {
		return
	}
	first := c.windowStart(r, g)
	if g.width == int64(c.tf) {
		for i := first; i <= r; i++ {
			c.bars = append(c.bars, bar{Candle: c.candles[i], first: i, last: i})
		}
		return
	}
	for i := first; i <= r; {
		b := c.bucket(c.candles[i].Start, g.width)
		j := i
		for j < r && c.bucket(c.candles[j+1].Start, g.width) == b {
			j++
		}
		c.bars = append(c.bars, mergeBar(c.candles, i, j, b))
		i = j + 1
	}
}

// markersIn returns the markers in [from, to).
func (c *chart) markersIn(from, to int64) []ChartMarker {
	lo := sort.Search(len(c.markers), func(i int) bool { return c.markers[i].At.Unix() >= from })
	hi := lo
	for hi < len(c.markers) && c.markers[hi].At.Unix() < to {
		hi++
	}
	return c.markers[lo:hi]
}

// computeAverages brings the moving averages up to date with the candles.
func (c *chart) computeAverages() {
	if !c.avgDirty {
		return
	}
	for i, m := range c.averages {
		c.avg[i] = m.Compute(c.candles, c.avg[i])
	}
	c.avgDirty = false
}

// title is the chart box's title: asset, the timeframe tabs, the load under way, the
// live price when panned back, the zoom when not the default, and the history's source.
// When that is too long, the tabs give way to the timeframe alone.
func (c *chart) title() string {
	t := c.ctx.theme
	var notes strings.Builder
	note := func(s string) { notes.WriteString(t.Muted.Render("  " + s)) }
	switch {
	case c.loading:
		note("loading history" + t.G.Ellipsis)
	case c.paging:
		note("loading older" + t.G.Ellipsis)
	}
	if c.anchor != 0 && c.last.Price > 0 {
		note("live " + format.Price(c.last.Price, c.decimals) + " (end)")
	}
	if z := zoomLevels[c.zoom]; c.zoom != zoomDefault {
		if z.per > 1 {
			note("zoom 1/" + strconv.Itoa(z.per))
		} else {
			note("zoom " + strconv.Itoa(z.step) + "x")
		}
	}
	switch {
	case c.loading, c.paging:
	case c.pageNote != "":
		note(c.pageNote)
	case c.source != "":
		note(c.source)
	}
	name := c.asset
	if name == "" {
		name = "Chart"
	}
	var sb strings.Builder
	sb.WriteString(t.Title.Render(name))
	tabs := len(name)+3*len(model.Timeframes)+lipgloss.Width(notes.String())+8 <= c.w-5
	for i, tf := range model.Timeframes {
		switch {
		case tf == c.tf:
			sb.WriteString(" " + t.Selected.Render(timeframeNames[i]))
		case tabs:
			sb.WriteString(" " + t.Muted.Render(timeframeNames[i]))
		}
	}
	sb.WriteString(notes.String())
	return sb.String()
}

// render draws the chart in its box.
func (c *chart) render() string {
	return c.box(c.title(), c.plot(c.ctx.theme, c.w-2, c.h-2))
}
