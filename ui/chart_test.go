package ui

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/golden"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/model/format"
)

// The chart explored: zoom, pan with history paging, crosshair, moving averages, signal
// markers, the tick-count strip, the live edge.

// viewSpan is the charted candles in view: the oldest and newest indices, and the bars.
func viewSpan(t *testing.T, c *chart) (first, last, bars int) {
	t.Helper()
	refresh(c)
	if len(c.bars) == 0 {
		t.Fatal("no bars in view")
	}
	return c.bars[0].first, c.bars[len(c.bars)-1].last, len(c.bars)
}

// runCmd runs a command as the program would and feeds its message back, following
// batches; it returns the messages.
func runCmd(m *Dashboard, cmd tea.Cmd) []tea.Msg {
	if cmd == nil {
		return nil
	}
	msg := cmd()
	if batch, ok := msg.(tea.BatchMsg); ok {
		var out []tea.Msg
		for _, c := range batch {
			out = append(out, runCmd(m, c)...)
		}
		return out
	}
	_, next := m.Update(msg)
	return append([]tea.Msg{msg}, runCmd(m, next)...)
}

func TestChartZoomKeysChangeTheCandlesInView(t *testing.T) {
	m, b := settled(t, 4, 120, 40)
	c := m.chart
	g, _ := c.geometry()
	first, last, bars := viewSpan(t, c)
	if bars != g.plotW || last != len(c.candles)-1 || last-first+1 != g.plotW {
		t.Fatalf("default zoom: %d bars of candles %d..%d, %d columns", bars, first, last, g.plotW)
	}
	// In: a gap between candles, then two.
	for i, step := range []int{2, 3} {
		press(m, "+")
		_, _, bars = viewSpan(t, c)
		if bars != g.plotW/step || !strings.Contains(m.View(), "zoom "+strconv.Itoa(step)+"x") {
			t.Fatalf("zoom in %d: %d bars, want %d", i+1, bars, g.plotW/step)
		}
	}
	if c.Zoom(1) {
		t.Fatal("zoomed in past the last level")
	}
	press(m, "-", "-")
	if _, _, bars = viewSpan(t, c); bars != g.plotW || strings.Contains(m.View(), "zoom ") {
		t.Fatalf("back to the default: %d bars", bars)
	}
	// Out: each column merges two 1m candles of one 2m bucket.
	cmd := press(m, "-")
	first, last, bars = viewSpan(t, c)
	for _, br := range c.bars {
		if br.Start%120 != 0 || br.last-br.first > 1 {
			t.Fatalf("a 1/2 bar of candles %d..%d starts at %d", br.first, br.last, br.Start)
		}
	}
	if last-first+1 <= g.plotW || !strings.Contains(m.View(), "zoom 1/2") {
		t.Fatalf("zoom out: %d bars over %d candles", bars, last-first+1)
	}
	// Zoomed out to within a screen of its oldest candle (the cache's 200 and the few
	// live ones), the chart asks for the page before it.
	if cmd == nil {
		cmd = press(m, "-")
	}
	if cmd == nil {
		cmd = press(m, "-")
	}
	if g, _ := c.geometry(); c.windowStart(c.rightIndex(), g) >= g.bars*4 {
		t.Fatal("zoom 1/4 did not reach the oldest candle")
	}
	if cmd == nil || !c.paging || !strings.Contains(m.View(), "loading older") {
		t.Fatal("zoomed out to the oldest candle without loading older history")
	}
	before := len(c.candles)
	runCmd(m, cmd)
	if len(b.pages) == 0 || len(c.candles) <= before || c.paging {
		t.Fatalf("after the page: %v, %d candles (had %d)", b.pages, len(c.candles), before)
	}
	// Another asset, zoomed out as this one: once its history is in, it asks for older.
	pages := len(b.pages)
	press(m, "tab")
	runCmd(m, press(m, "down"))
	if c.asset != m.views[1].Asset || len(b.pages) == pages || !strings.Contains(b.pages[len(b.pages)-1], c.asset) {
		t.Fatalf("charting %s zoomed out: pages %v", c.asset, b.pages[pages:])
	}
	// The wheel over the chart zooms too (out, then in); over the watchlist it scrolls.
	zoom := c.zoom
	m.Update(tea.MouseMsg{X: m.lay.watchW + 10, Y: 10, Button: tea.MouseButtonWheelDown, Action: tea.MouseActionPress})
	if c.zoom != zoom+1 {
		t.Fatalf("wheel down over the chart: zoom %d, want %d", c.zoom, zoom+1)
	}
	m.Update(tea.MouseMsg{X: m.lay.watchW + 10, Y: 10, Button: tea.MouseButtonWheelUp, Action: tea.MouseActionPress})
	m.Update(tea.MouseMsg{X: m.lay.watchW + 10, Y: 10, Button: tea.MouseButtonWheelUp, Action: tea.MouseActionPress})
	if c.zoom != zoom-1 {
		t.Fatalf("wheel up twice over the chart: zoom %d, want %d", c.zoom, zoom-1)
	}
}

func TestChartPanShowsOlderCandlesAndLoadsHistoryWhenItRunsOut(t *testing.T) {
	m, b := settled(t, 4, 120, 40)
	c := m.chart
	press(m, "h") // the watchlist has the focus: not the chart's key
	if c.Panned() {
		t.Fatal("h panned the chart without its focus")
	}
	press(m, "tab")
	_, last0, bars := viewSpan(t, c)
	newest := c.candles[len(c.candles)-1]
	press(m, "h")
	first, last, _ := viewSpan(t, c)
	if !c.Panned() || last != last0-bars/4 {
		t.Fatalf("h: view ends at candle %d, want %d", last, last0-bars/4)
	}
	old := time.Unix(c.candles[first].Start, 0).UTC().Format("15:04")
	if !strings.Contains(m.View(), old) || !strings.Contains(m.View(), "(end)") {
		t.Fatalf("the older view does not show %s and the way back:\n%s", old, m.View())
	}
	press(m, "l")
	if _, last, _ = viewSpan(t, c); last != last0 || c.Panned() {
		t.Fatalf("l: view ends at %d, want the live edge %d", last, last0)
	}

	// Back until the history runs out: the chart asks for the page before its oldest.
	var cmd tea.Cmd
	for i := 0; i < 20 && cmd == nil; i++ {
		cmd = press(m, "left")
	}
	if cmd == nil || !c.paging || !strings.Contains(m.View(), "loading older") {
		t.Fatal("panned to the oldest candle without loading older history")
	}
	oldest, held, anchor := c.Oldest(), len(c.candles), c.anchor
	// While the page loads, ticks keep coming: the newest candle grows, the view stays.
	us := time.Unix(newest.Start+60, 0).UnixMicro()
	m.opts.Market.Add(model.Tick{Asset: c.asset, Price: newest.Close + 0.0003, UnixMicro: us}, us)
	m.Update(frameMsg(fixedNow))
	if c.candles[len(c.candles)-1].Start != newest.Start+60 || c.anchor != anchor {
		t.Fatalf("while panned: newest candle %d (want %d), anchor %d (was %d)", c.candles[len(c.candles)-1].Start, newest.Start+60, c.anchor, anchor)
	}
	if live := format.Price(newest.Close+0.0003, c.decimals); !strings.Contains(m.View(), "live "+live) {
		t.Fatalf("the title does not follow the live price %s:\n%s", live, m.View())
	}
	runCmd(m, cmd)
	if len(b.pages) != 1 || !strings.Contains(b.pages[0], "before "+strconv.FormatInt(oldest, 10)) {
		t.Fatalf("pages asked for: %v", b.pages)
	}
	if c.Oldest() >= oldest || len(c.candles) <= held || c.anchor != anchor {
		t.Fatalf("after the page: oldest %d (was %d), %d candles (had %d), anchor moved", c.Oldest(), oldest, len(c.candles), held)
	}
	if !strings.Contains(c.title(), "older: store 12ms") { // the box cuts it at this width
		t.Fatalf("the title does not say where the page came from: %s", c.title())
	}
	first, _, _ = viewSpan(t, c)
	press(m, "h")
	if f, _, _ := viewSpan(t, c); f >= first {
		t.Fatalf("h after the page: view starts at %d, was %d", f, first)
	}

	// end: the live edge, with the new candle.
	press(m, "end")
	if _, last, _ := viewSpan(t, c); c.Panned() || last != len(c.candles)-1 {
		t.Fatal("end did not snap back to the live edge")
	}
	// end in the watchlist is still its last row.
	press(m, "shift+tab", "end")
	if m.watch.index() != len(m.watch.rows)-1 {
		t.Fatal("end in the watchlist")
	}
}

// Paging back ends where the history does: the chart stops asking.
func TestChartStopsAtTheStartOfHistory(t *testing.T) {
	m, b := settled(t, 4, 120, 40)
	c := m.chart
	press(m, "tab")
	for i := 0; i < 500; i++ {
		runCmd(m, press(m, "h"))
	}
	if !c.noOlder || c.paging || !strings.Contains(m.View(), "no older history") {
		t.Fatalf("after %d pages: noOlder %v, paging %v", len(b.pages), c.noOlder, c.paging)
	}
	if first, _, _ := viewSpan(t, c); first != 0 {
		t.Fatalf("at the start of history the view starts at candle %d", first)
	}
	n := len(b.pages)
	press(m, "h", "-", "-")
	if len(b.pages) != n {
		t.Fatal("asked for history before the start of history")
	}
	// Two days of 1m history, all of it held.
	if got := len(c.candles); got < 2*24*60 {
		t.Fatalf("%d candles held", got)
	}
}

func TestChartCrosshairReadsTheCandle(t *testing.T) {
	m, _ := settled(t, 4, 120, 40)
	c := m.chart
	press(m, "x")
	if m.focus != focusChart || !c.Crosshair() {
		t.Fatal("x did not give the chart the crosshair and the keys")
	}
	readout := func() string { return readoutOf(t, c) }
	want := func(k model.Candle) string {
		p := func(v float64) string { return format.Price(v, c.decimals) }
		return fmt.Sprintf("%s O %s H %s L %s C %s ticks %d", time.Unix(k.Start, 0).UTC().Format("15:04"),
			p(k.Open), p(k.High), p(k.Low), p(k.Close), k.Volume)
	}
	n := len(c.candles)
	if got := readout(); !strings.Contains(got, want(c.candles[n-1])) {
		t.Fatalf("readout %q, want %q", got, want(c.candles[n-1]))
	}
	press(m, "left", "h", "l")
	if got := readout(); !strings.Contains(got, want(c.candles[n-2])) {
		t.Fatalf("after left, h, l: readout %q, want %q", got, want(c.candles[n-2]))
	}
	if c.Panned() {
		t.Fatal("the crosshair within the view panned it")
	}
	// The crosshair's close is marked on the axis, its column and row drawn.
	if v := m.View(); !strings.Contains(v, "┊") || !strings.Contains(v, "┈") {
		t.Fatal("the crosshair's lines are not drawn")
	}
	// Past the left edge, the view follows the crosshair candle by candle.
	_, _, bars := viewSpan(t, c)
	for range bars {
		press(m, "left")
	}
	first, _, _ := viewSpan(t, c)
	if !c.Panned() || !strings.Contains(readout(), want(c.candles[n-2-bars])) || first != n-2-bars {
		t.Fatalf("crosshair past the edge: view from %d, readout %q", first, readout())
	}
	// Zoomed out, it reads the merged bar.
	press(m, "-")
	g, _ := c.geometry()
	br := c.barAt(c.indexAt(c.crossAt), g.width)
	if br.last == br.first || !strings.Contains(readout(), fmt.Sprintf("ticks %d", br.Volume)) {
		t.Fatalf("zoomed out: bar %d..%d, readout %q", br.first, br.last, readout())
	}
	press(m, "esc")
	if c.Crosshair() || strings.Contains(m.View(), "ticks ") {
		t.Fatal("esc did not take the crosshair away")
	}
	// The chart's help says what left and right do.
	press(m, "x", "?")
	if !strings.Contains(m.View(), "←/→ move crosshair") {
		t.Fatal("the help does not say left and right move the crosshair")
	}
}

// readoutOf is the crosshair's readout, its lines joined.
func readoutOf(t *testing.T, c *chart) string {
	t.Helper()
	refresh(c)
	g, _ := c.geometry()
	if g.readout == 0 {
		t.Fatal("no readout")
	}
	var parts []string
	for i := range g.readout {
		parts = append(parts, strings.TrimSpace(strings.Trim(c.line(1+i), "│")))
	}
	return strings.Join(parts, " ")
}

// handCandles are n 1m candles from t0 whose closes are 1.0, 1.1, 1.2, ... with a range of
// 0.05 around them and i+1 ticks each.
func handCandles(t0 int64, n int) []model.Candle {
	out := make([]model.Candle, n)
	for i := range out {
		cl := 1 + float64(i)/10
		out[i] = model.Candle{Start: t0 + int64(i)*60, Open: cl - 0.02, High: cl + 0.05, Low: cl - 0.05, Close: cl, Volume: int64(i + 1)}
	}
	return out
}

func handChart(t *testing.T, w, h int, candles []model.Candle) *chart {
	t.Helper()
	opts := Options{Now: func() time.Time { return fixedNow }}.withDefaults()
	c := newChart(newFrameContext(opts), model.TF1m)
	c.SetAsset("HAND_otc")
	c.SetCandles(candles, model.Tick{Asset: "HAND_otc", Price: candles[len(candles)-1].Close}, 2)
	c.SetSize(w, h)
	return c
}

// The averages of the readout are the hand-computed ones; the lines go through them.
func TestChartMovingAveragesByHand(t *testing.T) {
	t0 := fixedNow.Add(-time.Hour).Unix() / 60 * 60
	c := handChart(t, 64, 20, handCandles(t0, 40))
	c.SetAverages([]model.MovingAverage{{Kind: model.SMA, Period: 3}, {Kind: model.EMA, Period: 4}})
	c.ToggleCrosshair()
	// At the newest candle (closes ..., 4.7, 4.8, 4.9): SMA3 = (4.7+4.8+4.9)/3 = 4.8.
	// EMA4 (alpha 0.4) seeds at candle 3 with (1.0+1.1+1.2+1.3)/4 = 1.15, then each
	// step: e += 0.4 (close - e). With closes rising by 0.1 a candle it settles 0.15
	// below the close: e_n - c_n = 0.6 (e_{n-1} - c_{n-1}) - 0.06, from -0.15 at the
	// seed, so it stays at -0.15: 4.9 - 0.15 = 4.75.
	readout := readoutOf(t, c)
	if !strings.Contains(readout, "SMA3 4.80") || !strings.Contains(readout, "EMA4 4.75") {
		t.Fatalf("readout %q, want SMA3 4.80 and EMA4 4.75", readout)
	}
	if v := c.avg[0][39]; math.Abs(v-4.8) > 1e-9 {
		t.Fatalf("SMA3 %v", v)
	}
	if v := c.avg[1][39]; math.Abs(v-4.75) > 1e-9 {
		t.Fatalf("EMA4 %v", v)
	}
	// Zoomed in, the gap column between two candles has an average's dot between theirs.
	c.Zoom(1)
	refresh(c)
	g, _ := c.geometry()
	dots := 0
	for y := range g.plotH {
		for x := range g.plotW {
			if r := c.cells[y*g.plotW+x]; r == '•' || r == '◦' {
				dots++
			}
		}
	}
	if dots < g.bars { // two lines over the bars, most dots not hidden by candles
		t.Fatalf("%d average dots over %d bars", dots, g.bars)
	}
}

// A marker is drawn in the column of the candle its time falls in, under (buy) or over
// (sell) it, with its label beside it.
func TestChartMarkerDrawnOnItsCandle(t *testing.T) {
	t0 := fixedNow.Add(-time.Hour).Unix() / 60 * 60
	candles := handCandles(t0, 30)
	c := handChart(t, 64, 20, candles)
	c.Zoom(1) // a gap between candles: x = 2i
	c.SetMarkers([]ChartMarker{
		{At: time.Unix(candles[20].Start+59, 0), Side: MarkerSell, Label: "PUT\x1b[31m"},
		{At: time.Unix(candles[10].Start+30, 0), Side: MarkerBuy, Label: "CALL"},
		{At: time.Unix(t0-3600, 0), Side: MarkerBuy, Label: "gone"}, // before the chart
	})
	refresh(c)
	g, _ := c.geometry()
	find := func(r rune) (int, int) {
		for y := range g.plotH {
			for x := range g.plotW {
				if c.cells[y*g.plotW+x] == r {
					return x, y
				}
			}
		}
		return -1, -1
	}
	first := c.bars[0].first
	x, y := find('▲')
	if x != (10-first)*g.step {
		t.Fatalf("buy arrow at column %d, want %d (candle 10)", x, (10-first)*g.step)
	}
	lows := func(i int) int {
		for yy := range g.plotH {
			if c.inks[yy*g.plotW+x] == candleBull || c.inks[yy*g.plotW+x] == candleBear {
				if c.cells[yy*g.plotW+x] != '▲' && c.cells[yy*g.plotW+x] != '▼' {
					i = yy
				}
			}
		}
		return i
	}
	if low := lows(-1); y <= low {
		t.Fatalf("buy arrow at row %d, not under its candle (lowest row %d)", y, low)
	}
	if label := string(c.cells[y*g.plotW+x+1 : y*g.plotW+x+5]); label != "CALL" {
		t.Fatalf("label beside the arrow: %q", label)
	}
	if sx, _ := find('▼'); sx != (20-first)*g.step {
		t.Fatalf("sell arrow at column %d, want %d (candle 20)", sx, (20-first)*g.step)
	}
	if strings.Contains(c.View(), "\x1b[31m") || strings.Contains(c.View(), "gone") {
		t.Fatal("a marker label was drawn unsanitised, or a marker outside the chart was drawn")
	}
	// The crosshair on the candle lists its signals.
	c.ToggleCrosshair()
	c.crossAt = candles[10].Start
	c.invalidate()
	if r := readoutOf(t, c); !strings.Contains(r, "▲ CALL") {
		t.Fatalf("readout %q without the signal", r)
	}
}

// The tick-count strip: the busiest candle in view is a full column, the others scaled,
// and the largest count is on the axis.
func TestChartVolumeStrip(t *testing.T) {
	t0 := fixedNow.Add(-time.Hour).Unix() / 60 * 60
	c := handChart(t, 64, 20, handCandles(t0, 30)) // volumes 1..30
	refresh(c)
	g, _ := c.geometry()
	if g.volH != 2 {
		t.Fatalf("%d rows of ticks at height 20", g.volH)
	}
	top, bottom := g.plotH, g.plotH+1
	lastX := (len(c.bars) - 1) * g.step
	if c.cells[top*g.plotW+lastX] != '█' || c.cells[bottom*g.plotW+lastX] != '█' {
		t.Fatal("the busiest candle is not a full column")
	}
	// Candle 14 (15 ticks of 30): half, the bottom row full and nothing above.
	x := (14 - c.bars[0].first) * g.step
	if c.cells[bottom*g.plotW+x] != '█' || c.cells[top*g.plotW+x] != 0 {
		t.Fatalf("15 of 30 ticks: %q over %q", c.cells[top*g.plotW+x], c.cells[bottom*g.plotW+x])
	}
	if !strings.Contains(c.line(1+g.plotH), " 30") {
		t.Fatalf("the axis does not say 30 ticks: %q", c.line(1+g.plotH))
	}
}

func TestMarkersMsgChartsTheAssetsMarkers(t *testing.T) {
	m, _ := settled(t, 4, 120, 40)
	c := m.chart
	other := m.views[1].Asset
	at := time.Unix(c.candles[len(c.candles)-3].Start, 0)
	m.Update(MarkersMsg{Asset: other, Markers: []ChartMarker{{At: at, Side: MarkerSell, Label: "S"}}})
	if len(c.markers) != 0 {
		t.Fatal("another asset's markers went to the chart")
	}
	m.Update(MarkersMsg{Asset: c.asset, Markers: []ChartMarker{{At: at, Side: MarkerBuy, Label: "B1"}}})
	if len(c.markers) != 1 || !strings.Contains(m.View(), "▲B1") {
		t.Fatal("the charted asset's marker is not drawn")
	}
	press(m, "tab", "down") // chart the next asset
	if c.asset != other || len(c.markers) != 1 || c.markers[0].Label != "S" {
		t.Fatalf("charting %s: markers %+v", c.asset, c.markers)
	}
	m.Update(MarkersMsg{Asset: other})
	if len(c.markers) != 0 {
		t.Fatal("an empty MarkersMsg left markers")
	}
}

// Keys that change nothing in the chart do not redraw it; a new tick of another asset
// does not move the view of a panned chart.
func TestChartRedrawsOnlyWhenItChanges(t *testing.T) {
	m, _ := settled(t, 4, 120, 40)
	c := m.chart
	press(m, "tab")
	m.redraw(0)
	for _, k := range []string{"end", "l", "right"} { // at the live edge already
		press(m, k)
		if c.dirty {
			t.Fatalf("%s at the live edge made the chart stale", k)
		}
	}
	for range 3 {
		press(m, "+")
	}
	m.redraw(0)
	press(m, "+")
	if c.dirty {
		t.Fatal("zooming in past the last level made the chart stale")
	}
}

// Every key of the chart's help and the full help is one the dashboard answers to, and
// none of the new keys takes one the dashboard had.
func TestChartKeysDoNotClash(t *testing.T) {
	k := DefaultKeyMap()
	seen := map[string]string{}
	for _, b := range []struct {
		name string
		b    []string
	}{
		{"next", k.NextFocus.Keys()}, {"prev", k.PrevFocus.Keys()}, {"up", k.Up.Keys()}, {"down", k.Down.Keys()},
		{"pgup", k.PageUp.Keys()}, {"pgdn", k.PageDown.Keys()}, {"top", k.Top.Keys()}, {"open", k.Open.Keys()},
		{"tf", k.timeframes().Keys()}, {"zoomin", k.ZoomIn.Keys()}, {"zoomout", k.ZoomOut.Keys()},
		{"left", k.PanLeft.Keys()}, {"right", k.PanRight.Keys()}, {"cross", k.Crosshair.Keys()},
		{"filter", k.Filter.Keys()}, {"sort", k.Sort.Keys()}, {"freeze", k.Freeze.Keys()}, {"help", k.Help.Keys()},
		{"back", k.Back.Keys()}, {"quit", k.Quit.Keys()},
	} {
		for _, key := range b.b {
			if prev, ok := seen[key]; ok {
				t.Errorf("%q is both %s and %s", key, prev, b.name)
			}
			seen[key] = b.name
		}
	}
	// end is the chart's live edge with the chart focused, the last row elsewhere.
	if !strings.Contains(strings.Join(k.Bottom.Keys(), " "), "end") || k.Live.Keys()[0] != "end" {
		t.Fatal("end")
	}
}

// The explored states of the chart panel, each a golden (regenerate with
// go test ./ui -run Golden -update): zoomed out with two averages; panned back with the
// crosshair and signals; in ASCII.
func TestGoldenChartExplored(t *testing.T) {
	opts, b := fixtureOptions(1)
	asset := b.assets[0]
	res, err := b.History(context.Background(), asset, model.TF1m)
	if err != nil {
		t.Fatal(err)
	}
	decimals := 5
	last := res.Candles[len(res.Candles)-1]
	markers := []ChartMarker{
		{At: time.Unix(res.Candles[150].Start+10, 0), Side: MarkerBuy, Label: "CALL"},
		{At: time.Unix(res.Candles[165].Start+50, 0), Side: MarkerSell, Label: "PUT"},
	}
	mk := func(ascii bool) *chart {
		o := opts
		o.ASCII = ascii
		c := newChart(newFrameContext(o.withDefaults()), model.TF1m)
		c.SetAsset(asset)
		c.SetCandles(res.Candles, model.Tick{Asset: asset, Price: last.Close}, decimals)
		c.SetSource(describeHistory(res))
		c.SetAverages([]model.MovingAverage{{Kind: model.SMA, Period: 20}, {Kind: model.EMA, Period: 50}})
		c.SetMarkers(markers)
		c.SetSize(64, 20)
		return c
	}
	for _, s := range []struct {
		name    string
		explore func(c *chart)
	}{
		{"zoomed_out", func(c *chart) {
			older, _ := b.HistoryBefore(context.Background(), asset, model.TF1m, c.Oldest(), 400)
			c.AddOlder(older.Candles)
			c.SetPageNote("older: " + describeSource(older))
			c.Zoom(-1)
			c.Zoom(-1)
		}},
		{"panned_crosshair", func(c *chart) {
			c.Pan(-1)
			c.ToggleCrosshair()
			c.crossAt = res.Candles[150].Start
			c.invalidate()
		}},
		{"ascii", func(c *chart) {
			c.Zoom(1)
			c.ToggleCrosshair()
			for c.crossAt > res.Candles[165].Start { // candle by candle, the view following
				c.Pan(-1)
			}
		}},
	} {
		t.Run(s.name, func(t *testing.T) {
			c := mk(s.name == "ascii")
			s.explore(c)
			if !refresh(c) {
				t.Fatal("did not render")
			}
			if lines := strings.Split(c.View(), "\n"); len(lines) != 20 {
				t.Fatalf("%d lines", len(lines))
			}
			if refresh(c) {
				t.Fatal("rendered again with nothing changed")
			}
			golden.RequireEqual(t, []byte(c.View()))
		})
	}
}

// The chart's frame at the default zoom and zoomed fully out (16 candles a column), at
// 200x60 and 120x40, with two moving averages: "frame" is a dashboard frame in which a tick
// of the charted asset arrives (the chart and the watchlist redrawn), "render" the
// chart's own rendering alone.
func BenchmarkChartFrame(b *testing.B) {
	for _, size := range [][2]int{{200, 60}, {120, 40}} {
		for _, zoom := range []string{"default", "out"} {
			opts, be := fixtureOptions(20)
			opts.Averages = []model.MovingAverage{{Kind: model.SMA, Period: 20}, {Kind: model.EMA, Period: 50}}
			m := New(opts)
			m.Update(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
			m.Update(pollMsg(be.Poll(context.Background())))
			m.Update(frameMsg(fixedNow))
			res, _ := be.History(context.Background(), m.chart.asset, m.chart.tf)
			m.Update(historyMsg{gen: m.hist.gen, asset: m.chart.asset, tf: m.chart.tf, res: res})
			if zoom == "out" {
				for m.chart.Zoom(-1) {
				}
				for cmd := m.olderHistoryCmd(); cmd != nil; {
					_, cmd = m.Update(cmd())
				}
			}
			c := m.chart
			g, _ := c.geometry()
			refresh(c)
			candles := c.bars[len(c.bars)-1].last - c.bars[0].first + 1
			name := fmt.Sprintf("%dx%d/%s", size[0], size[1], zoom)
			b.Run("frame/"+name, func(b *testing.B) {
				asset := c.asset
				us := fixedNow.UnixMicro() - 1e6
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					opts.Market.Add(model.Tick{Asset: asset, Price: 1 + float64(i%30)/1e4, UnixMicro: us}, us)
					us++
					i++
					m.Update(frameMsg(fixedNow))
					_ = m.View()
				}
				b.ReportMetric(float64(candles), "candles")
				b.ReportMetric(float64(g.bars), "bars")
			})
			b.Run("render/"+name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					c.invalidate()
					c.avgDirty = true // as after new candles
					refresh(c)
				}
				b.ReportMetric(float64(candles), "candles")
			})
		}
	}
}

// Explored (zoomed out, panned, crosshair on, signals and averages drawn), every size
// still gives exactly the terminal's lines, none too wide.
func TestChartExploredLaysOutExactlyAtEverySize(t *testing.T) {
	opts, b := fixtureOptions(8)
	opts.Averages = []model.MovingAverage{{Kind: model.EMA, Period: 9}, {Kind: model.SMA, Period: 21}}
	m := New(opts)
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	m.Update(pollMsg(b.Poll(context.Background())))
	m.Update(frameMsg(fixedNow))
	loadHistory(t, m, b)
	c := m.chart
	m.Update(MarkersMsg{Asset: c.asset, Markers: []ChartMarker{
		{At: time.Unix(c.candles[len(c.candles)-5].Start, 0), Side: MarkerBuy, Label: "LONGLABEL"},
		{At: time.Unix(c.candles[len(c.candles)-40].Start, 0), Side: MarkerSell, Label: "S"},
	}})
	runCmd(m, press(m, "-", "-"))
	press(m, "x", "left", "left", "h")
	for _, size := range [][2]int{{60, 16}, {80, 24}, {99, 29}, {100, 30}, {120, 40}, {200, 60}, {300, 90}, {200, 20}} {
		w, h := size[0], size[1]
		m.Update(tea.WindowSizeMsg{Width: w, Height: h})
		lines := strings.Split(m.View(), "\n")
		if len(lines) != h {
			t.Fatalf("%dx%d: %d lines", w, h, len(lines))
		}
		for i, l := range lines {
			if lw := lipgloss.Width(l); lw > w {
				t.Fatalf("%dx%d: line %d is %d wide:\n%s", w, h, i, lw, l)
			}
		}
	}
}
