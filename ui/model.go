package ui

import (
	"context"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata"
)

// Options configures the dashboard.
type Options struct {
	Backend   Backend
	Market    *model.Market // fed by a reader goroutine; the UI only takes snapshots
	Info      Info
	FPS       int           // repaints per second at most (default 15)
	PollEvery time.Duration // default 1 s
	Stale     time.Duration // a feed silent this long is stale (default 10 s)
	BufferCap int           // the producers' LTRIM cap (default 1000)
	ASCII     bool
	// Now is the clock (tests fix it); default time.Now.
	Now func() time.Time
	// Timeframe to open the chart at (default 1m).
	Timeframe model.Timeframe
}

type focusID int

const (
	focusWatch focusID = iota
	focusChart
	focusCache
	focusEvents
)

// Messages.
type (
	frameMsg    time.Time
	pollTickMsg struct{}
	pollMsg     Poll
	historyMsg  struct {
		gen   int
		asset string
		tf    model.Timeframe
		res   redisdata.HistoryResult
		err   error
	}
)

// pane is a component's rendered lines, rebuilt only when its data changed.
type pane struct {
	lines []string
	dirty bool
}

// Model is the root of the dashboard: it routes messages to the components, takes a
// snapshot of the market once a frame, and keeps every component's rendering cached so
// that View only joins strings.
type Model struct {
	opts  Options
	theme *Theme
	keys  KeyMap
	help  help.Model
	now   time.Time

	width, height int
	lay           layout
	focus         focusID
	showHelp      bool
	frozen        bool
	quitting      bool

	// Data, as last taken.
	views         []model.AssetView
	marketVersion uint64
	poll          *Poll // shown
	pending       *Poll // newest, while frozen
	polling       bool
	conn          connection
	firstErr      time.Time
	events        *model.Ring[redisdata.Event]
	lastFlushErr  string
	ops           *model.Ring[float64]
	e2eCur        model.LatencyHistogram
	e2ePrev       model.LatencyHistogram
	e2eStart      time.Time
	e2eAll        model.LatencyHistogram // the whole session, for the exit summary
	arrivals      []int64
	buffers, bad  map[string]int64

	// Components.
	watch       watchlist
	chart       chart
	cacheOffset int
	eventOffset int
	histGen     int
	loaded      map[string]bool
	sp          *sparker

	header, watchPane, chartPane, redisPane, cachePane, flushPane, latPane, eventPane, footer pane
	frameText                                                                                 string
	lastSecond                                                                                int64
	repaints                                                                                  int
}

// New returns the dashboard model.
func New(opts Options) *Model {
	if opts.FPS <= 0 {
		opts.FPS = 15
	}
	if opts.PollEvery <= 0 {
		opts.PollEvery = time.Second
	}
	if opts.Stale <= 0 {
		opts.Stale = 10 * time.Second
	}
	if opts.BufferCap <= 0 {
		opts.BufferCap = redisdata.DefaultBufferCap
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Timeframe == 0 {
		opts.Timeframe = model.TF1m
	}
	t := NewTheme(opts.ASCII)
	h := help.New()
	h.Styles.ShortKey, h.Styles.FullKey = t.HelpKey, t.HelpKey
	h.Styles.ShortDesc, h.Styles.FullDesc = t.HelpDesc, t.HelpDesc
	h.Styles.ShortSeparator, h.Styles.FullSeparator = t.Muted, t.Muted
	h.Ellipsis = t.G.Ellipsis
	if opts.ASCII {
		h.ShortSeparator = " | "
	}
	m := &Model{
		opts: opts, theme: t, keys: DefaultKeyMap(), help: h,
		now:    opts.Now(),
		events: model.NewRing[redisdata.Event](100),
		ops:    model.NewRing[float64](60),
		watch:  newWatchlist(t),
		chart:  chart{tf: opts.Timeframe},
		loaded: map[string]bool{},
		sp:     newSparker(),
		conn:   connection{state: redisdata.StateConnecting, since: opts.Now()},
	}
	m.e2eStart = m.now
	return m
}

// Init starts the frame clock and the first poll.
func (m *Model) Init() tea.Cmd {
	return tea.Batch(m.frameTick(), m.pollCmd())
}

func (m *Model) frameTick() tea.Cmd {
	return tea.Tick(time.Second/time.Duration(m.opts.FPS), func(t time.Time) tea.Msg { return frameMsg(t) })
}

func (m *Model) pollCmd() tea.Cmd {
	if m.polling || m.opts.Backend == nil {
		return nil
	}
	m.polling = true
	backend, timeout := m.opts.Backend, max(m.opts.PollEvery, 2*time.Second)
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		return pollMsg(backend.Poll(ctx))
	}
}

// historyCmd loads the chart's history when its asset or timeframe has none yet.
func (m *Model) historyCmd() tea.Cmd {
	asset, tf := m.chart.asset, m.chart.tf
	key := asset + "|" + tf.String()
	if asset == "" || m.loaded[key] || m.opts.Backend == nil {
		m.chart.loading = false
		return nil
	}
	m.histGen++
	gen, backend := m.histGen, m.opts.Backend
	m.chart.loading = true
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res, err := backend.History(ctx, asset, tf)
		return historyMsg{gen: gen, asset: asset, tf: tf, res: res, err: err}
	}
}

// Repaints counts the frames in which anything was rebuilt.
func (m *Model) Repaints() int { return m.repaints }

// ScreenLatency summarises publish-to-screen latency over the whole session.
func (m *Model) ScreenLatency() model.LatencySummary { return m.e2eAll.Summary() }

// Update routes a message. It never waits on anything: data arrives as messages from
// commands, or is taken from the market in memory.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case frameMsg:
		m.now = m.opts.Now()
		return m, tea.Batch(m.frame(), m.frameTick())
	case pollTickMsg:
		return m, m.pollCmd()
	case pollMsg:
		m.polling = false
		p := Poll(msg)
		m.notePoll(&p)
		if m.frozen {
			m.pending = &p
		} else {
			m.applyPoll(&p)
		}
		return m, tea.Tick(m.opts.PollEvery, func(time.Time) tea.Msg { return pollTickMsg{} })
	case historyMsg:
		return m, m.applyHistory(msg)
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.lay = computeLayout(m.width, m.height)
		m.markAll()
		m.rebuild()
		return m, nil
	case tea.MouseMsg:
		cmd := m.mouse(msg)
		m.rebuild()
		return m, cmd
	case tea.KeyMsg:
		cmd := m.key(msg)
		m.rebuild()
		return m, cmd
	}
	return m, nil
}

// frame takes what changed since the last frame and repaints once. It returns the
// history load of a chart that just got its first asset.
func (m *Model) frame() tea.Cmd {
	if sec := m.now.Unix(); sec != m.lastSecond {
		m.lastSecond = sec
		// Clocks, ages and countdowns move every second.
		m.header.dirty, m.watchPane.dirty, m.cachePane.dirty, m.flushPane.dirty, m.footer.dirty = true, true, true, true, true
	}
	var cmd tea.Cmd
	if !m.frozen && m.opts.Market != nil {
		if v := m.opts.Market.Version(); v != m.marketVersion {
			m.marketVersion = v
			if m.takeMarket() {
				cmd = m.historyCmd()
			}
		}
	}
	m.rebuild()
	return cmd
}

// takeMarket copies the market's views and the chart's candles, and measures how long
// the ticks now reaching the screen took since they were published. It reports whether
// the chart just got its first asset.
func (m *Model) takeMarket() (opened bool) {
	mk := m.opts.Market
	m.views = mk.Views(m.now.UnixNano(), m.views)
	m.watch.setData(m.views, m.buffers, m.bad)
	if m.chart.asset == "" && m.watch.selected != "" {
		m.chart.asset, opened = m.watch.selected, true
	}
	m.refreshChart()
	m.arrivals, _ = mk.TakeArrivals(m.arrivals[:0])
	nowUs := m.now.UnixMicro()
	if m.now.Sub(m.e2eStart) > 10*time.Second {
		m.e2ePrev, m.e2eStart = m.e2eCur, m.now
		m.e2eCur.Reset()
	}
	for _, ts := range m.arrivals {
		if d := nowUs - ts; d >= 0 && d < 60e6 {
			lat := time.Duration(d) * time.Microsecond
			m.e2eCur.Record(lat)
			m.e2eAll.Record(lat)
		}
	}
	m.watchPane.dirty, m.chartPane.dirty, m.latPane.dirty, m.footer.dirty = true, true, true, true
	return opened
}

func (m *Model) refreshChart() {
	if m.chart.asset == "" || m.opts.Market == nil {
		return
	}
	m.chart.candles = m.opts.Market.Candles(m.chart.asset, m.chart.tf, m.chart.candles[:0])
	for _, v := range m.views {
		if v.Asset == m.chart.asset {
			m.chart.last, m.chart.decimals = v.Last, v.Decimals
		}
	}
	m.chartPane.dirty = true
}

// e2e is publish-to-screen latency over the last 10 to 20 seconds.
func (m *Model) e2e() model.LatencySummary {
	var h model.LatencyHistogram
	h.Merge(&m.e2ePrev)
	h.Merge(&m.e2eCur)
	return h.Summary()
}

// notePoll updates the connection state and the events from a poll, frozen or not.
func (m *Model) notePoll(p *Poll) {
	now := m.opts.Now()
	switch {
	case p.Err != nil:
		if m.firstErr.IsZero() {
			m.firstErr = now
			m.events.Push(redisdata.Event{At: now, Kind: "error", Text: "poll failed: " + p.Err.Error()})
		}
		st := redisdata.StateReconnecting
		if now.Sub(m.firstErr) > 10*time.Second {
			st = redisdata.StateDown
		}
		m.conn = connection{state: st, since: m.firstErr, err: p.Err.Error()}
	default:
		if !m.firstErr.IsZero() {
			m.events.Push(redisdata.Event{At: now, Kind: "state", Text: "server answering again after " + fmtAge(now.Sub(m.firstErr))})
			m.firstErr = time.Time{}
		}
		m.conn = connection{state: p.Sub.State, since: p.Sub.Since, err: p.Sub.LastErr}
		if p.Sub.State == redisdata.StateConnecting && p.Snapshot != nil {
			m.conn.state = redisdata.StateLive // polling works; the subscription is on its way
		}
	}
	if f := p.Flusher; f != nil && f.LastError != "" && f.LastError != m.lastFlushErr {
		m.events.Push(redisdata.Event{At: f.LastErrorAt, Kind: "error", Text: "flusher: " + f.LastError})
	}
	if p.Flusher != nil {
		m.lastFlushErr = p.Flusher.LastError
	}
	m.header.dirty = true
}

// applyPoll makes a poll the one shown.
func (m *Model) applyPoll(p *Poll) {
	m.poll = p
	if p.Snapshot != nil {
		if p.Snapshot.Window.Valid {
			m.ops.Push(p.Snapshot.Window.OpsPerSec)
		}
		m.buffers = make(map[string]int64, len(p.Snapshot.Buffers))
		for _, b := range p.Snapshot.Buffers {
			if b.Err == nil {
				m.buffers[b.Asset] = b.Len
			}
		}
	}
	m.bad = make(map[string]int64, len(p.Sub.Assets))
	for a, c := range p.Sub.Assets {
		m.bad[a] = c.Bad
	}
	m.watch.setData(m.views, m.buffers, m.bad)
	m.header.dirty, m.watchPane.dirty, m.redisPane.dirty, m.cachePane.dirty = true, true, true, true
	m.flushPane.dirty, m.latPane.dirty, m.eventPane.dirty, m.footer.dirty = true, true, true, true
}

func (m *Model) applyHistory(msg historyMsg) tea.Cmd {
	if msg.gen != m.histGen {
		return nil // the user moved on; a newer load is under way
	}
	m.chart.loading = false
	key := msg.asset + "|" + msg.tf.String()
	if msg.err != nil {
		m.chart.source = "history failed: " + msg.err.Error()
		m.events.Push(redisdata.Event{At: m.opts.Now(), Kind: "error", Text: "history " + msg.asset + " " + msg.tf.String() + ": " + msg.err.Error()})
		m.eventPane.dirty = true
	} else {
		m.loaded[key] = true
		if m.opts.Market != nil && len(msg.res.Candles) > 0 {
			m.opts.Market.Seed(msg.asset, msg.tf, msg.res.Candles)
		}
		m.chart.source = describeHistory(msg.res)
	}
	m.refreshChart()
	m.rebuild()
	return nil
}

// describeHistory says where history came from and what it cost ("cache hit 0.4ms").
func describeHistory(r redisdata.HistoryResult) string {
	switch r.Source {
	case redisdata.FromCache:
		return "cache hit " + fmtLatency(r.Latency)
	case redisdata.FromStore:
		s := "store " + fmtLatency(r.Latency)
		if r.Filled {
			s += ", cached"
		}
		return s
	default:
		return "no history (cache miss " + fmtLatency(r.Latency) + ")"
	}
}

func (m *Model) markAll() {
	for _, p := range m.panes() {
		p.dirty = true
	}
}

func (m *Model) panes() []*pane {
	return []*pane{&m.header, &m.watchPane, &m.chartPane, &m.redisPane, &m.cachePane, &m.flushPane, &m.latPane, &m.eventPane, &m.footer}
}

// key handles a key press.
func (m *Model) key(msg tea.KeyMsg) tea.Cmd {
	if msg.String() == "ctrl+c" {
		m.quitting = true
		return tea.Quit
	}
	if m.watch.editing {
		return m.filterKey(msg)
	}
	if m.showHelp {
		if key.Matches(msg, m.keys.Help, m.keys.Back) {
			m.showHelp = false
			m.markAll()
			return nil
		}
		if key.Matches(msg, m.keys.Quit) {
			m.quitting = true
			return tea.Quit
		}
		return nil
	}
	k := m.keys
	switch {
	case key.Matches(msg, k.Quit):
		m.quitting = true
		return tea.Quit
	case key.Matches(msg, k.Help):
		m.showHelp = true
		m.markAll()
	case key.Matches(msg, k.Freeze):
		m.frozen = !m.frozen
		if !m.frozen {
			if m.pending != nil {
				m.applyPoll(m.pending)
				m.pending = nil
			}
			m.marketVersion = 0 // take the market at the next frame
		}
		m.header.dirty = true
	case key.Matches(msg, k.NextFocus):
		m.cycleFocus(1)
	case key.Matches(msg, k.PrevFocus):
		m.cycleFocus(-1)
	case key.Matches(msg, k.Up):
		return m.moveFocused(-1)
	case key.Matches(msg, k.Down):
		return m.moveFocused(1)
	case key.Matches(msg, k.PageUp):
		return m.moveFocused(-m.pageSize())
	case key.Matches(msg, k.PageDown):
		return m.moveFocused(m.pageSize())
	case key.Matches(msg, k.Top):
		return m.moveFocused(-1 << 20)
	case key.Matches(msg, k.Bottom):
		return m.moveFocused(1 << 20)
	case key.Matches(msg, k.Open):
		return m.openChart(m.watch.selected)
	case key.Matches(msg, k.TF1, k.TF5, k.TF15, k.TF1h, k.TF4h):
		m.chart.tf = model.Timeframes[msg.String()[0]-'1']
		m.chart.source = ""
		m.refreshChart()
		return m.historyCmd()
	case key.Matches(msg, k.Filter):
		m.focus = focusWatch
		m.watch.editing = true
		m.watch.filter.Focus()
		m.watchPane.dirty = true
	case key.Matches(msg, k.Sort):
		m.watch.sort = (m.watch.sort + 1) % sortKeys
		m.watch.refresh()
		m.watchPane.dirty = true
	case key.Matches(msg, k.Back):
		if m.watch.filter.Value() != "" {
			m.watch.filter.SetValue("")
			m.watch.refresh()
			m.watchPane.dirty = true
		}
	}
	return nil
}

// filterKey edits the watchlist filter: enter keeps it, esc clears it.
func (m *Model) filterKey(msg tea.KeyMsg) tea.Cmd {
	m.watchPane.dirty = true
	switch msg.Type {
	case tea.KeyEnter:
		m.watch.editing = false
		m.watch.filter.Blur()
		return nil
	case tea.KeyEsc:
		m.watch.editing = false
		m.watch.filter.Blur()
		m.watch.filter.SetValue("")
		m.watch.refresh()
		return nil
	}
	var cmd tea.Cmd
	m.watch.filter, cmd = m.watch.filter.Update(msg)
	m.watch.refresh()
	return cmd
}

func (m *Model) openChart(asset string) tea.Cmd {
	if asset == "" {
		return nil
	}
	if asset != m.chart.asset {
		m.chart.asset, m.chart.source = asset, ""
		m.chart.candles = m.chart.candles[:0]
	}
	m.refreshChart()
	return m.historyCmd()
}

func (m *Model) focusOrder() []focusID {
	if m.lay.compact {
		return []focusID{focusWatch, focusChart}
	}
	return []focusID{focusWatch, focusChart, focusCache, focusEvents}
}

func (m *Model) cycleFocus(dir int) {
	order := m.focusOrder()
	i := 0
	for j, f := range order {
		if f == m.focus {
			i = j
		}
	}
	m.focus = order[(i+dir+len(order))%len(order)]
	m.markAll()
}

func (m *Model) pageSize() int { return max(1, m.watch.visible-1) }

// moveFocused moves the selection or the scroll of the focused component.
func (m *Model) moveFocused(delta int) tea.Cmd {
	switch m.focus {
	case focusWatch:
		m.watch.move(delta)
		m.watchPane.dirty = true
	case focusChart:
		// In the chart, up and down step through the assets and chart them at once.
		m.watch.move(delta)
		m.watchPane.dirty = true
		if m.watch.selected != m.chart.asset {
			return m.openChart(m.watch.selected)
		}
	case focusCache:
		m.cacheOffset = max(0, m.cacheOffset+delta)
		if p := m.poll; p != nil && p.Snapshot != nil {
			m.cacheOffset = min(m.cacheOffset, max(0, len(p.Snapshot.Caches)-1))
		}
		m.cachePane.dirty = true
	case focusEvents:
		m.eventOffset = max(0, min(m.eventOffset+delta, max(0, m.eventCount()-1)))
		m.eventPane.dirty = true
	}
	return nil
}

func (m *Model) eventCount() int {
	n := m.events.Len()
	if m.poll != nil {
		n += len(m.poll.Events)
	}
	return n
}

// mouse scrolls the component under the pointer with the wheel.
func (m *Model) mouse(msg tea.MouseMsg) tea.Cmd {
	if msg.Action != tea.MouseActionPress {
		return nil
	}
	delta := 0
	switch msg.Button {
	case tea.MouseButtonWheelUp:
		delta = -1
	case tea.MouseButtonWheelDown:
		delta = 1
	default:
		return nil
	}
	switch where, ok := m.lay.at(msg.X, msg.Y); {
	case !ok:
	case where == focusWatch:
		m.watch.scroll(delta)
		m.watchPane.dirty = true
	case where == focusCache, where == focusEvents:
		if m.focus != where {
			m.focus = where
			m.markAll()
		}
		return m.moveFocused(delta)
	}
	return nil
}

// View joins the cached renderings; it renders nothing itself.
func (m *Model) View() string {
	if m.quitting {
		return ""
	}
	return m.frameText
}

// allEvents merges the subscriber's events with the dashboard's own.
func (m *Model) allEvents() []redisdata.Event {
	events := m.events.AppendTo(nil)
	if m.poll != nil {
		events = append(events, m.poll.Events...)
	}
	return events
}

// Screen returns the last frame drawn, even after quitting (for tests and tooling).
func (m *Model) Screen() string { return m.frameText }
