package ui

import (
	"context"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata"
)

// settled returns a model at w x h with a poll, a frame and the chart's history applied,
// driving Update directly (no program, no timers).
func settled(t *testing.T, n, w, h int) (*Dashboard, *fixtureBackend) {
	t.Helper()
	opts, b := fixtureOptions(n)
	m := New(opts)
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	m.Update(pollMsg(b.Poll(context.Background())))
	m.Update(frameMsg(fixedNow))
	loadHistory(t, m, b)
	return m, b
}

// loadHistory answers the chart's pending history load, as its command would.
func loadHistory(t *testing.T, m *Dashboard, b *fixtureBackend) {
	t.Helper()
	if !m.chart.loading {
		return
	}
	res, err := b.History(context.Background(), m.chart.asset, m.chart.tf)
	m.Update(historyMsg{gen: m.hist.gen, asset: m.chart.asset, tf: m.chart.tf, res: res, err: err})
}

func press(m *Dashboard, keys ...string) tea.Cmd {
	var cmd tea.Cmd
	for _, k := range keys {
		var msg tea.KeyMsg
		switch k {
		case "tab":
			msg = tea.KeyMsg{Type: tea.KeyTab}
		case "shift+tab":
			msg = tea.KeyMsg{Type: tea.KeyShiftTab}
		case "enter":
			msg = tea.KeyMsg{Type: tea.KeyEnter}
		case "esc":
			msg = tea.KeyMsg{Type: tea.KeyEsc}
		case "up":
			msg = tea.KeyMsg{Type: tea.KeyUp}
		case "down":
			msg = tea.KeyMsg{Type: tea.KeyDown}
		case "pgup":
			msg = tea.KeyMsg{Type: tea.KeyPgUp}
		case "pgdown":
			msg = tea.KeyMsg{Type: tea.KeyPgDown}
		case "home":
			msg = tea.KeyMsg{Type: tea.KeyHome}
		case "end":
			msg = tea.KeyMsg{Type: tea.KeyEnd}
		case "ctrl+c":
			msg = tea.KeyMsg{Type: tea.KeyCtrlC}
		default:
			msg = tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)}
		}
		_, cmd = m.Update(msg)
	}
	return cmd
}

func isQuit(cmd tea.Cmd) bool {
	if cmd == nil {
		return false
	}
	_, ok := cmd().(tea.QuitMsg)
	return ok
}

func TestQuitKeys(t *testing.T) {
	for _, k := range []string{"q", "ctrl+c"} {
		m, _ := settled(t, 4, 120, 40)
		if !isQuit(press(m, k)) || m.View() != "" {
			t.Fatalf("%s did not quit cleanly", k)
		}
	}
	// ctrl+c quits even while typing a filter.
	m, _ := settled(t, 4, 120, 40)
	press(m, "/", "e")
	if !isQuit(press(m, "ctrl+c")) {
		t.Fatal("ctrl+c while filtering")
	}
}

func TestFocusCycles(t *testing.T) {
	m, _ := settled(t, 4, 120, 40)
	want := []focusID{focusChart, focusCache, focusEvents, focusWatch}
	for _, f := range want {
		press(m, "tab")
		if m.focus != f {
			t.Fatalf("tab: focus %v, want %v", m.focus, f)
		}
	}
	press(m, "shift+tab")
	if m.focus != focusEvents {
		t.Fatalf("shift+tab: focus %v", m.focus)
	}
	compact, _ := settled(t, 4, 80, 24)
	press(compact, "tab", "tab")
	if compact.focus != focusWatch {
		t.Fatalf("compact layout cycles over two components, focus %v", compact.focus)
	}
}

func TestSelectionKeys(t *testing.T) {
	m, _ := settled(t, 20, 120, 35) // 17 rows fit: the list scrolls
	first := m.watch.rows[0].view.Asset
	if m.watch.selected != first {
		t.Fatalf("selected %q, want the first row %q", m.watch.selected, first)
	}
	press(m, "j", "down")
	if m.watch.selected != m.watch.rows[2].view.Asset {
		t.Fatalf("j, down: %q", m.watch.selected)
	}
	press(m, "k")
	if m.watch.selected != m.watch.rows[1].view.Asset {
		t.Fatalf("k: %q", m.watch.selected)
	}
	press(m, "up")
	press(m, "end")
	if m.watch.selected != m.watch.rows[19].view.Asset || m.watch.scroll.offset == 0 {
		t.Fatalf("end: %q offset %d", m.watch.selected, m.watch.scroll.offset)
	}
	press(m, "home")
	if m.watch.selected != first || m.watch.scroll.offset != 0 {
		t.Fatalf("home: %q offset %d", m.watch.selected, m.watch.scroll.offset)
	}
	press(m, "pgdown")
	if i := m.watch.index(); i != m.watch.pageSize() {
		t.Fatalf("pgdown: row %d, want %d", i, m.watch.pageSize())
	}
	press(m, "pgup")
	if m.watch.index() != 0 {
		t.Fatal("pgup")
	}
	press(m, "G")
	press(m, "g")
	if m.watch.index() != 0 {
		t.Fatal("G then g")
	}
	// The selected row is on screen, marked by reverse video (here: its text is there).
	if !strings.Contains(m.View(), first) {
		t.Fatal("selected asset not drawn")
	}
}

func TestEnterOpensTheChartAndLoadsHistory(t *testing.T) {
	m, b := settled(t, 4, 120, 40)
	press(m, "j")
	want := m.watch.selected
	cmd := press(m, "enter")
	if m.chart.asset != want || !m.chart.loading || cmd == nil {
		t.Fatalf("enter: chart %q loading %v", m.chart.asset, m.chart.loading)
	}
	m.Update(cmd()) // the history command, run as the program would
	if m.chart.loading || m.chart.source != "cache hit 0.40ms" || len(m.chart.candles) < 200 {
		t.Fatalf("after history: source %q, %d candles", m.chart.source, len(m.chart.candles))
	}
	if !strings.Contains(m.View(), want) || !strings.Contains(m.View(), "cache hit 0.40ms") {
		t.Fatal("chart title does not show the asset and the history's source")
	}
	// Loaded once: enter again does not reload.
	if press(m, "enter"); m.chart.loading || len(b.loads) != 2 {
		t.Fatalf("reloaded: %v", b.loads)
	}
}

func TestTimeframeKeys(t *testing.T) {
	m, b := settled(t, 4, 120, 40)
	for i, k := range []string{"2", "3", "4", "5", "1"} {
		cmd := press(m, k)
		if m.chart.tf != model.Timeframes[(i+1)%5] {
			t.Fatalf("key %s: timeframe %v", k, m.chart.tf)
		}
		if cmd != nil {
			m.Update(cmd())
		}
	}
	if len(b.loads) != 5 { // 1m at start, then 5m 15m 1h 4h; 1m again is loaded already
		t.Fatalf("history loads %v", b.loads)
	}
	press(m, "4")
	if !strings.Contains(m.View(), "1h") {
		t.Fatal("timeframe tabs missing")
	}
}

func TestFilterAndSortKeys(t *testing.T) {
	m, _ := settled(t, 12, 120, 40)
	press(m, "/")
	if !m.watch.editing {
		t.Fatal("/ did not start the filter")
	}
	press(m, "j", "p", "y") // typed into the filter, not taken as keys
	if m.frozen || len(m.watch.rows) != 3 {
		t.Fatalf("filter jpy: %d rows, frozen %v", len(m.watch.rows), m.frozen)
	}
	for _, r := range m.watch.rows {
		if !strings.Contains(r.view.Asset, "JPY") {
			t.Fatalf("row %s does not match", r.view.Asset)
		}
	}
	press(m, "enter")
	if m.watch.editing || len(m.watch.rows) != 3 {
		t.Fatal("enter must keep the filter")
	}
	press(m, "esc")
	if len(m.watch.rows) != 12 {
		t.Fatal("esc must clear the filter")
	}
	press(m, "/", "z", "z", "esc")
	if m.watch.editing || len(m.watch.rows) != 12 {
		t.Fatal("esc while editing must cancel")
	}

	press(m, "s")
	if m.watch.sort != sortChange {
		t.Fatal("s: sort by change")
	}
	for i := 1; i < len(m.watch.rows); i++ {
		if m.watch.rows[i].view.ChangePct > m.watch.rows[i-1].view.ChangePct {
			t.Fatal("rows not sorted by change")
		}
	}
	press(m, "s", "s")
	if m.watch.sort != sortBuffer || m.watch.rows[0].buffer < m.watch.rows[len(m.watch.rows)-1].buffer {
		t.Fatal("sort by buffer")
	}
	press(m, "s", "s")
	if m.watch.sort != sortAsset {
		t.Fatal("sort wraps around")
	}
}

func TestFreezeKeepsTheDisplayWhileDataFlows(t *testing.T) {
	m, b := settled(t, 4, 120, 40)
	press(m, "p")
	before := m.View()
	if !m.frozen || !strings.Contains(before, "FROZEN") {
		t.Fatal("p did not freeze")
	}
	asset := m.views[0].Asset
	m.opts.Market.Add(model.Tick{Asset: asset, Price: 9.99, UnixMicro: fixedNow.UnixMicro()}, fixedNow.UnixMicro())
	b.failing = true
	m.Update(pollMsg(b.Poll(context.Background())))
	m.Update(frameMsg(fixedNow))
	if m.views[0].Last.Price == 9.99 || m.pending == nil || m.poll.Err != nil {
		t.Fatal("frozen display took new data")
	}
	if m.View() != before && !strings.Contains(m.View(), "reconnecting") {
		t.Fatal("frozen display changed")
	}
	press(m, "p")
	m.Update(frameMsg(fixedNow))
	if m.views[0].Last.Price != 9.99 || m.poll.Err == nil {
		t.Fatal("unfreezing did not catch up")
	}
}

func TestHelpKey(t *testing.T) {
	m, _ := settled(t, 4, 120, 40)
	press(m, "?")
	v := m.View()
	if !m.showHelp || !strings.Contains(v, "freeze display") || !strings.Contains(v, "previous panel") {
		t.Fatalf("? did not show the full help:\n%s", v)
	}
	press(m, "j") // ignored under help
	press(m, "esc")
	if m.showHelp || strings.Contains(m.View(), "previous panel") {
		t.Fatal("esc did not close the help")
	}
	press(m, "?", "?")
	if m.showHelp {
		t.Fatal("? did not toggle")
	}
}

func TestMouseWheelScrolls(t *testing.T) {
	m, _ := settled(t, 30, 120, 35)
	wheel := func(x, y int, b tea.MouseButton) {
		m.Update(tea.MouseMsg{X: x, Y: y, Button: b, Action: tea.MouseActionPress})
	}
	wheel(5, 5, tea.MouseButtonWheelDown)
	wheel(5, 5, tea.MouseButtonWheelDown)
	if m.watch.scroll.offset != 2 {
		t.Fatalf("watchlist offset %d", m.watch.scroll.offset)
	}
	wheel(5, 5, tea.MouseButtonWheelUp)
	if m.watch.scroll.offset != 1 {
		t.Fatalf("watchlist offset %d", m.watch.scroll.offset)
	}
	for i := range 5 { // more events than the panel's three rows
		m.events.Add(redisdata.Event{At: fixedNow.Add(time.Duration(i) * time.Second), Kind: "state", Text: "event " + strconv.Itoa(i)})
	}
	m.Update(frameMsg(fixedNow))
	wheel(5, m.lay.eventsY+1, tea.MouseButtonWheelDown)
	if m.focus != focusEvents || m.events.scroll.offset != 1 {
		t.Fatalf("events: focus %v offset %d", m.focus, m.events.scroll.offset)
	}
}

// The test: 100,000 ticks between two frames cost one repaint, and View itself
// never repaints.
func TestBurstBetweenFramesCostsOneRepaint(t *testing.T) {
	m, _ := settled(t, 4, 120, 40)
	m.Update(frameMsg(fixedNow))
	before := m.Repaints()
	asset := m.views[0].Asset
	base := fixedNow.UnixMicro() - 100_000
	for i := range int64(100_000) {
		m.opts.Market.Add(model.Tick{Asset: asset, Price: 1.08 + float64(i%50)/1e5, UnixMicro: base + i}, base+i)
	}
	for range 3 {
		m.View()
	}
	if m.Repaints() != before {
		t.Fatal("View repainted")
	}
	m.Update(frameMsg(fixedNow))
	if got := m.Repaints() - before; got != 1 {
		t.Fatalf("the burst cost %d repaints, want 1", got)
	}
	m.Update(frameMsg(fixedNow)) // nothing new
	if m.Repaints()-before != 1 {
		t.Fatal("a frame without news repainted")
	}
	if m.views[0].Ticks < 100_000 {
		t.Fatal("the burst is not on screen")
	}
}

// Every size from the minimum up gives exactly the terminal's lines, none too wide; below
// the minimum the dashboard says what it needs.
func TestEverySizeLaysOutExactly(t *testing.T) {
	m, _ := settled(t, 20, 120, 40)
	for _, size := range [][2]int{{60, 16}, {80, 24}, {99, 29}, {100, 30}, {120, 35}, {120, 40}, {160, 50}, {200, 60}, {300, 90}, {80, 60}, {200, 20}} {
		w, h := size[0], size[1]
		m.Update(tea.WindowSizeMsg{Width: w, Height: h})
		lines := strings.Split(m.View(), "\n")
		if len(lines) != h {
			t.Fatalf("%dx%d: %d lines", w, h, len(lines))
		}
		for i, l := range lines {
			if lipgloss.Width(l) > w {
				t.Fatalf("%dx%d: line %d is %d wide:\n%s", w, h, i, lipgloss.Width(l), l)
			}
		}
	}
	m.Update(tea.WindowSizeMsg{Width: 50, Height: 12})
	if v := m.View(); !strings.Contains(v, "at least 60x16") || !strings.Contains(v, "50x12") {
		t.Fatalf("too small:\n%s", v)
	}
}

func TestHeaderShowsConnectionState(t *testing.T) {
	m, b := settled(t, 4, 120, 40)
	if !strings.Contains(m.View(), "live") || !strings.Contains(m.View(), "Redis 7.0.15 master") {
		t.Fatal("live header")
	}
	b.failing = true
	m.Update(pollMsg(b.Poll(context.Background())))
	m.opts.Now = func() time.Time { return fixedNow.Add(3 * time.Second) }
	m.Update(frameMsg(fixedNow.Add(3 * time.Second)))
	if v := m.View(); !strings.Contains(v, "reconnecting for") || !strings.Contains(v, "poll failed") {
		t.Fatalf("failing poll:\n%s", v)
	}
	b.failing = false
	m.Update(pollMsg(b.Poll(context.Background())))
	m.Update(frameMsg(fixedNow.Add(3 * time.Second)))
	if v := m.View(); !strings.Contains(v, "live") || !strings.Contains(v, "answering again") {
		t.Fatal("recovery not shown")
	}
}

func TestASCIIMode(t *testing.T) {
	opts, b := fixtureOptions(4)
	opts.ASCII = true
	m := New(opts)
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	m.Update(pollMsg(b.Poll(context.Background())))
	m.Update(frameMsg(fixedNow))
	loadHistory(t, m, b)
	for _, r := range m.View() {
		if r > 127 {
			t.Fatalf("non-ASCII %q in --ascii mode", r)
		}
	}
}

func BenchmarkView200x60(b *testing.B) {
	m, _ := benchModel(b)
	b.ReportAllocs()
	for b.Loop() {
		_ = m.View()
	}
}

// BenchmarkFrame200x60 is the cost of a frame in which everything changed: new ticks for
// every asset, the watchlist, the chart and the panels rebuilt.
func BenchmarkFrame200x60(b *testing.B) {
	m, _ := benchModel(b)
	mk := m.opts.Market
	assets := make([]string, len(m.views))
	for i, v := range m.views {
		assets[i] = v.Asset
	}
	us := fixedNow.UnixMicro() - 1e6
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		for _, a := range assets {
			mk.Add(model.Tick{Asset: a, Price: 1 + float64(i%30)/1e4, UnixMicro: us}, us)
		}
		us++
		i++
		m.lastSecond = 0 // the clock moved too
		m.Update(frameMsg(fixedNow))
		_ = m.View()
	}
}

func benchModel(b *testing.B) (*Dashboard, *fixtureBackend) {
	opts, be := fixtureOptions(20)
	m := New(opts)
	m.Update(tea.WindowSizeMsg{Width: 200, Height: 60})
	m.Update(pollMsg(be.Poll(context.Background())))
	m.Update(frameMsg(fixedNow))
	res, _ := be.History(context.Background(), m.chart.asset, m.chart.tf)
	m.Update(historyMsg{gen: m.hist.gen, asset: m.chart.asset, tf: m.chart.tf, res: res})
	if len(m.chart.candles) < 200 {
		b.Fatalf("%d candles", len(m.chart.candles))
	}
	return m, be
}

// A frame's allocations stay the same however long the dashboard runs: nothing it keeps
// grows with the ticks it has shown.
func TestFrameAllocationsDoNotGrow(t *testing.T) {
	m, _ := settled(t, 20, 200, 60)
	mk := m.opts.Market
	us := fixedNow.UnixMicro() - 1e6
	frame := func() {
		for _, v := range m.views {
			mk.Add(model.Tick{Asset: v.Asset, Price: v.Last.Price, UnixMicro: us}, us)
		}
		us++
		m.lastSecond = 0
		m.Update(frameMsg(fixedNow))
		_ = m.View()
	}
	early := testing.AllocsPerRun(50, frame)
	for range 2000 {
		frame()
	}
	late := testing.AllocsPerRun(50, frame)
	if late > early*1.05+5 {
		t.Fatalf("allocations per frame grew from %.0f to %.0f", early, late)
	}
	t.Logf("%.0f allocations per frame early, %.0f after 2000 frames", early, late)
}

// The header shows the health status would print: the word, and space allowing the first
// reason and how many more; the events panel notes each change of word.
func TestHeaderShowsHealth(t *testing.T) {
	m, b := settled(t, 8, 160, 50)
	health := m.link.health
	if health.Status != model.Degraded || len(health.Reasons) < 2 {
		t.Fatalf("the fixture's health: %+v", health)
	}
	head := strings.Split(m.View(), "\n")[0]
	more := "(+" + strconv.Itoa(len(health.Reasons)-1) + " more)"
	if !strings.Contains(head, "degraded: "+health.Reasons[0][:10]) || !strings.Contains(head, more) {
		t.Fatalf("header without the health and its first reason:\n%s", head)
	}
	if v := m.View(); !strings.Contains(v, "health degraded: "+health.Reasons[0]) {
		t.Fatalf("no health event:\n%s", v)
	}

	// Less room: the word stays, after the server (120) or the state alone (80).
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	if head := strings.Split(m.View(), "\n")[0]; !strings.Contains(head, "Redis 7.0.15 master · up 3d5h · ● live · degraded ") {
		t.Fatalf("120 columns:\n%s", head)
	}
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	if head := strings.Split(m.View(), "\n")[0]; !strings.Contains(head, "quflx-tui · ● live · degraded ") || !strings.Contains(head, "12:00:00") {
		t.Fatalf("80 columns:\n%s", head)
	}
	m.Update(tea.WindowSizeMsg{Width: 160, Height: 50})

	b.health = &model.Health{Status: model.Healthy, Reasons: []string{}}
	m.Update(pollMsg(b.Poll(context.Background())))
	m.Update(frameMsg(fixedNow))
	if v := m.View(); !strings.Contains(strings.Split(v, "\n")[0], "healthy") || !strings.Contains(v, "health healthy again") {
		t.Fatalf("healthy again:\n%s", v)
	}
	n := m.events.Len()
	m.Update(pollMsg(b.Poll(context.Background())))
	if m.events.Len() != n {
		t.Fatal("the same health word twice made an event")
	}

	b.failing = true
	m.Update(pollMsg(b.Poll(context.Background())))
	m.Update(frameMsg(fixedNow))
	if head := strings.Split(m.View(), "\n")[0]; !strings.Contains(head, "down: dial tcp") {
		t.Fatalf("an unreachable server is down, as status says:\n%s", head)
	}
}

// The flusher panel and status agree whether a flusher is alive: model.FlusherAlive with
// the dashboard's thresholds, not a rule of its own.
func TestFlusherPanelJudgesAsStatus(t *testing.T) {
	for _, c := range []struct {
		age  time.Duration
		max  time.Duration
		dead bool
	}{
		{7 * time.Second, 0, false}, // status's default: 10 s
		{12 * time.Second, 0, true},
		{7 * time.Second, 5 * time.Second, true},
	} {
		opts, b := fixtureOptions(4)
		opts.Thresholds = model.HealthThresholds{MaxHeartbeat: c.max}
		m := New(opts)
		m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
		p := b.Poll(context.Background())
		p.Flusher.Heartbeat = fixedNow.Add(-c.age)
		m.Update(pollMsg(p))
		m.Update(frameMsg(fixedNow))
		alive := model.FlusherAlive(flusherFact(p.Flusher), fixedNow, opts.Thresholds)
		if got := strings.Contains(m.flusher.View(), "no heartbeat for"); got != c.dead || alive == c.dead {
			t.Fatalf("heartbeat %v ago, max %v: panel says dead %v, status alive %v", c.age, c.max, got, alive)
		}
	}
}

// A component's cache goes stale only through its own setters: a key, a wheel or an event
// redraws the components it changed and no others.
func TestChangesRedrawOnlyTheirComponents(t *testing.T) {
	m, _ := settled(t, 30, 120, 35)
	stale := func() (names []string) {
		for _, c := range []struct {
			name string
			c    component
		}{{"header", m.header}, {"watch", m.watch}, {"chart", m.chart}, {"redis", m.redis}, {"cache", m.cache},
			{"flusher", m.flusher}, {"latency", m.latency}, {"events", m.events}, {"footer", m.footer}} {
			if c.c.base().dirty {
				names = append(names, c.name)
			}
		}
		return names
	}
	for _, c := range []struct {
		what string
		do   func()
		want string
	}{
		{"nothing", func() {}, ""},
		{"tab", func() { m.key(tea.KeyMsg{Type: tea.KeyTab}) }, "watch chart"},
		{"shift+tab", func() { m.key(tea.KeyMsg{Type: tea.KeyShiftTab}) }, "watch chart"},
		{"down", func() { m.key(tea.KeyMsg{Type: tea.KeyDown}) }, "watch"},
		{"sort", func() { m.key(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("s")}) }, "watch"},
		{"freeze", func() { m.key(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("p")}) }, "header"},
		{"wheel on the watchlist", func() {
			m.mouse(tea.MouseMsg{X: 5, Y: 5, Button: tea.MouseButtonWheelDown, Action: tea.MouseActionPress})
		}, "watch"},
		{"an event", func() { m.events.Add(redisdata.Event{At: fixedNow, Kind: "state", Text: "x"}) }, "events"},
	} {
		c.do()
		if got := strings.Join(stale(), " "); got != c.want {
			t.Fatalf("%s: stale %q, want %q", c.what, got, c.want)
		}
		m.redraw(0)
	}
	// The clock makes stale exactly those showing ages, countdowns or the clock.
	for _, c := range m.all {
		c.ClockMoved()
	}
	if got := strings.Join(stale(), " "); got != "header watch cache flusher" {
		t.Fatalf("clock: stale %q", got)
	}
}

// Alerts reach the header and the events panel as messages; the same events sent again
// (each message holds the recent ones) are listed once, and a resolution clears the badge.
func TestAlertsMsgShowsInHeaderAndEventsOnce(t *testing.T) {
	m, _ := settled(t, 4, 120, 40)
	before := m.events.Len()
	evs := fixtureAlertEvents()
	msg := AlertsMsg{Firing: fixtureAlerts()}
	for i, e := range evs[:2] {
		msg.Events = append(msg.Events, AlertEvent{Seq: uint64(i + 1), Event: e})
	}
	m.Update(msg)
	m.Update(msg)
	screen := m.View()
	if top := strings.Split(screen, "\n")[0]; !strings.Contains(top, "2 ALERTS") || !strings.Contains(top, "alert: EURUSD_otc 1.0912 above 1.09") {
		t.Fatalf("header: %q", top)
	}
	if got := m.events.Len() - before; got != 2 {
		t.Fatalf("%d events added, want 2", got)
	}
	msg = AlertsMsg{Events: append(msg.Events, AlertEvent{Seq: 3, Event: evs[2]})}
	m.Update(msg)
	if top := strings.Split(m.View(), "\n")[0]; strings.Contains(top, "ALERT") {
		t.Fatalf("header still shows an alert: %q", top)
	}
	if got := m.events.Len() - before; got != 3 {
		t.Fatalf("%d events added, want 3", got)
	}
}

// Under QuFLX v2 the panels follow the topology: tab never lands on a cache panel that is
// not there, a service that said "disconnected" shows so, and one goes stale on screen as
// the clock passes the threshold.
func TestPubSubOnlyDashboard(t *testing.T) {
	opts, b := fixtureOptions(4)
	b.pubsub = true
	opts.PubSubOnly = true
	now := fixedNow
	opts.Now = func() time.Time { return now }
	opts.Thresholds = model.HealthThresholds{ServiceStale: 15 * time.Second}
	m := New(opts)
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	m.Update(pollMsg(b.Poll(context.Background())))
	m.Update(frameMsg(now))
	loadHistory(t, m, b)

	seen := map[focusID]bool{}
	for range 6 {
		press(m, "tab")
		seen[m.focus] = true
	}
	if seen[focusCache] || !seen[focusEvents] || !seen[focusChart] {
		t.Fatalf("tab went through %v", seen)
	}
	if lineWith(m.View(), "collector") == "" || !strings.Contains(lineWith(m.View(), "collector"), "connected") {
		t.Fatalf("collector not connected on screen:\n%s", m.View())
	}
	if l := lineWith(m.View(), "executor"); !strings.Contains(l, "disconnected") {
		t.Fatalf("executor: %q", l)
	}
	// 14 s later the collector's 2 s old beat is 16 s old: stale (the threshold is 15 s).
	now = fixedNow.Add(14 * time.Second)
	m.Update(frameMsg(now))
	if l := lineWith(m.View(), "collector"); !strings.Contains(l, "stale") {
		t.Fatalf("collector after 16 s: %q", l)
	}
	if strings.Contains(m.View(), "Buffer") || strings.Contains(m.View(), "Flusher") {
		t.Fatal("buffer or flusher shown under v2")
	}
	// The chart's markers: the selected asset's signals, oldest first.
	asset := b.assets[0]
	sig := m.Signals(asset)
	if len(sig) != 1 || sig[0].Asset != asset || sig[0].Action != "BUY" || sig[0].Confidence != 0.6 {
		t.Fatalf("signals of %s: %+v", asset, sig)
	}
	// The charted asset's signal is a marker on its chart, labelled with its confidence.
	charted := m.chart.Asset()
	want := SignalMarkers(m.Signals(charted))
	if len(want) != 1 || len(m.chart.markers) != 1 || m.chart.markers[0] != want[0] || want[0].Label != "90%" ||
		want[0].Side != MarkerSell {
		t.Fatalf("markers of %s: %+v, want %+v", charted, m.chart.markers, want)
	}
}

// lineWith is the screen line holding s ("" if none).
func lineWith(screen, s string) string {
	for _, l := range strings.Split(screen, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

// A size comes from the terminal, or over SSH from any client: 4000x2000 cost 4 GB of
// chart canvas in one frame. The screen drawn is bounded by MaxWidth x MaxHeight.
func TestAHugeWindowIsBounded(t *testing.T) {
	m, _ := settled(t, 8, 120, 40)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	m.Update(tea.WindowSizeMsg{Width: 4000, Height: 2000})
	m.Update(frameMsg(fixedNow.Add(time.Second)))
	view := m.View()
	runtime.ReadMemStats(&after)
	lines := strings.Split(view, "\n")
	if len(lines) > MaxHeight || lipgloss.Width(view) > MaxWidth {
		t.Fatalf("a 4000x2000 window drew %d lines of up to %d cells", len(lines), lipgloss.Width(view))
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 256<<20 {
		t.Fatalf("a 4000x2000 window allocated %d MiB", alloc>>20)
	}
}
