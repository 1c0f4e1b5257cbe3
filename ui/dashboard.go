// Package ui is quflx-tui's dashboard: a Bubble Tea program of components with one job
// each under a root, Dashboard, that routes messages. It renders what model/ aggregates
// and what a Backend polls; it never talks to Redis itself, and nothing in Update or View
// waits on the network.
//
// The root, by job: dashboard.go (options, routing), data.go (polls, the market),
// conn.go (the link's state machine and health), latency.go (publish to screen),
// history.go (chart history), input.go (keys, focus, mouse), frame.go (layout and the
// frame pipeline). The components share one shape (component.go) and a scroller
// (scroll.go): header.go, watchlist.go, chart.go, panels.go (Redis, flusher, latency),
// cache.go, events.go, footer.go (footer and full help).
package ui

import (
	"context"
	"slices"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

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
	// Light draws with the light theme, for a light terminal background (ThemeFor).
	Light bool
	// Renderer is the output's lipgloss renderer, whose colour profile the theme's
	// colours are written in: each SSH session has its own. Nil: lipgloss's default,
	// for the process's own terminal.
	Renderer *lipgloss.Renderer
	// Keys is the keymap (DefaultKeyMap().Remap(...) for the config file's [keys]);
	// nil: DefaultKeyMap.
	Keys *KeyMap
	// Groups are the watchlist's tabs after "all" (the config file's watchlist groups).
	Groups []WatchGroup
	// Now is the clock (tests fix it); default time.Now.
	Now func() time.Time
	// Timeframe to open the chart at (default 1m).
	Timeframe model.Timeframe
	// Averages are the moving averages drawn over the chart (at most model.MaxAverages).
	Averages []model.MovingAverage
	// Thresholds are status's: the flusher panel judges a flusher alive by them, the
	// services panel a heartbeat stale (the health itself arrives judged, in each Poll).
	Thresholds model.HealthThresholds
	// PubSubOnly is QuFLX v2's topology: no buffer column, cache or flusher panel; a
	// services panel (heartbeats), a signals panel and a regime column instead.
	PubSubOnly bool
	// Pipeline, when set, holds the side channels' signals per asset, fed by a reader
	// goroutine (redisdata.Watch.Pipeline): the chart's markers come from it (Signals).
	Pipeline *model.Pipeline

	// Changes, when set, paces the frames: a frame follows each wake-up (ticks arrived,
	// model.Market.Changes) no sooner than a frame after the last, or the clock's next
	// second when nothing comes. Nil: a frame every 1/FPS, whatever happens.
	Changes <-chan struct{}
	// Drain, when set, runs before each paced frame, off the event loop: the reader
	// hands over the ticks it holds for the frame (redisdata.Watch.Drain).
	Drain func(ctx context.Context) error
	// Output, when set, paints the frames in place of Bubble Tea's renderer (run the
	// program without one) and measures publish-to-terminal latency as it writes.
	Output FrameOutput
}

// FrameOutput paints frames on a terminal and measures publish-to-terminal latency
// where it writes.
type FrameOutput interface {
	// Frame hands over a frame, with the publication times (Unix µs) of the ticks it is
	// the first to show. It must not block: the writing happens elsewhere.
	Frame(text string, arrivals []int64)
	// Latency summarises publish-to-terminal latency over the last 10 to 20 seconds.
	Latency() model.LatencySummary
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
	olderHistoryMsg struct {
		asset  string
		tf     model.Timeframe
		before int64
		res    redisdata.HistoryResult
		err    error
	}
)

// MarkersMsg sets the signal markers of an asset's chart, replacing those it had (nil:
// none). Send it to the program (tea.Program.Send) from anywhere: the dashboard keeps the
// newest maxMarkers of each asset and draws those of the asset charted.
type MarkersMsg struct {
	Asset   string
	Markers []ChartMarker
}

// maxMarkers bounds the markers kept per asset.
const maxMarkers = 1000

// AlertsMsg is the alerts' state (alert.Runner's, sent to the program by whoever runs it
// on each change): the header shows the alerts firing, the events panel the transitions
// and the notifier's failures.
type AlertsMsg struct {
	Firing []model.FiringAlert // newest first
	Events []AlertEvent        // oldest first; those already shown (by Seq) are skipped
}

// AlertEvent is an alert's event and its place in the runner's sequence.
type AlertEvent struct {
	Seq uint64
	redisdata.Event
}

// Dashboard is the root Bubble Tea model: it routes messages to the components, feeds
// them the polls and a snapshot of the market once a frame, and has the frame pipeline
// (frame.go) redraw those whose data changed, so that View only returns a string.
type Dashboard struct {
	opts Options
	ctx  *frameContext

	lay      layout
	focus    focusID
	showHelp bool
	frozen   bool
	quitting bool

	// Data, as last taken.
	views         []model.AssetView
	candles       []model.Candle // the chart's, as taken from the market
	marketVersion uint64
	poll          *Poll // shown
	pending       *Poll // newest, while frozen
	polling       bool
	link          link
	news          []redisdata.Event
	lat           screenLatency
	arrivals      []int64 // of ticks taken, not yet handed to the output
	arrivalsNext  int64   // this dashboard's cursor in the market's arrivals
	hist          historyLoader
	markers       map[string][]ChartMarker // by asset, as the last MarkersMsg of each said
	alertSeq      uint64                   // the last alert event shown

	// Components.
	header  *header
	watch   *watchlist
	chart   *chart
	redis   *redisPanel
	cache   *cachePanel
	flusher *flusherPanel
	latency *latencyPanel
	// v2's, in the cache's and flusher's places.
	services *servicesPanel
	signals  *signalsPanel
	events   *eventsPanel
	footer   *footer
	help     *helpView

	all, body, helpBody []component // every one; those on screen; those under the help

	frameText  string
	presented  bool      // frameText went to Output
	frameDue   time.Time // wall clock: the earliest the next paced frame may come
	lastSecond int64
	repaints   int
}

// New returns the dashboard.
func New(opts Options) *Dashboard {
	opts = opts.withDefaults()
	ctx := newFrameContext(opts)
	now := ctx.now
	d := &Dashboard{
		opts: opts, ctx: ctx,
		link:     newLink(now),
		hist:     historyLoader{loaded: map[string]bool{}},
		markers:  map[string][]ChartMarker{},
		header:   newHeader(ctx),
		watch:    newWatchlist(ctx),
		chart:    newChart(ctx, opts.Timeframe),
		redis:    newRedisPanel(ctx),
		cache:    newCachePanel(ctx),
		flusher:  newFlusherPanel(ctx),
		latency:  newLatencyPanel(ctx),
		services: newServicesPanel(ctx),
		signals:  newSignalsPanel(ctx),
		events:   newEventsPanel(ctx),
		footer:   newFooter(ctx),
		help:     newHelpView(ctx),
	}
	if opts.Market != nil {
		_, d.arrivalsNext, _ = opts.Market.ArrivalsSince(opts.Market.Total(), nil) // only ticks from now on
	}
	d.chart.SetAverages(opts.Averages)
	if len(opts.Groups) > 0 {
		d.watch.SetGroups(opts.Groups)
	}
	d.all = []component{d.header, d.watch, d.chart, d.redis, d.cache, d.flusher, d.services, d.signals, d.latency,
		d.events, d.footer, d.help}
	d.helpBody = []component{d.header, d.help, d.footer}
	d.header.SetLink(d.link.conn, d.link.health)
	d.setFocus(focusWatch)
	return d
}

func (opts Options) withDefaults() Options {
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
	if opts.Keys == nil {
		km := DefaultKeyMap()
		opts.Keys = &km
	}
	if opts.Timeframe == 0 {
		opts.Timeframe = model.TF1m
	}
	opts.Thresholds = opts.Thresholds.WithDefaults()
	return opts
}

// newFrameContext is what the components of a dashboard with opts (defaults applied)
// draw with.
func newFrameContext(opts Options) *frameContext {
	return &frameContext{
		theme: ThemeFor(opts.Renderer, opts.ASCII, !opts.Light), keys: keysFor(*opts.Keys, len(opts.Groups) > 0), info: opts.Info,
		thresholds: opts.Thresholds, stale: opts.Stale, bufferCap: opts.BufferCap, now: opts.Now(),
		pubsubOnly: opts.PubSubOnly,
	}
}

// keysFor is the keymap with the group keys off (out of the help too) when there are no
// groups to switch between.
func keysFor(km KeyMap, groups bool) KeyMap {
	km.NextGroup.SetEnabled(groups)
	km.PrevGroup.SetEnabled(groups)
	return km
}

// Init starts the frame clock and the first poll.
func (d *Dashboard) Init() tea.Cmd {
	return tea.Batch(d.nextFrame(), d.pollCmd())
}

// nextFrame waits for the next frame. Paced (Options.Changes), that is the first wake-up
// at least a frame after the last frame, or the clock's next second: a tick reaches the
// screen within a frame of its arrival at any rate, and an idle dashboard wakes once a
// second. Unpaced, it is the next 1/FPS.
func (d *Dashboard) nextFrame() tea.Cmd {
	interval := time.Second / time.Duration(d.opts.FPS)
	if d.opts.Changes == nil {
		return tea.Tick(interval, func(t time.Time) tea.Msg { return frameMsg(t) })
	}
	changes, drain, due := d.opts.Changes, d.opts.Drain, d.frameDue
	return func() tea.Msg {
		time.Sleep(time.Until(due))
		now := time.Now()
		second := time.NewTimer(now.Truncate(time.Second).Add(time.Second).Sub(now))
		select {
		case <-changes:
		case <-second.C:
		}
		second.Stop()
		if drain != nil {
			ctx, cancel := context.WithTimeout(context.Background(), interval)
			_ = drain(ctx)
			cancel()
		}
		return frameMsg(time.Now())
	}
}

// Update routes a message and hands a new frame to the output. It never waits on
// anything: data arrives as messages from commands, or is taken from the market in memory.
func (d *Dashboard) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	cmd := d.update(msg)
	d.present()
	return d, cmd
}

// present hands the output the frame if it is new, or the arrivals of ticks whose frame
// changed nothing on screen (they are shown as well as they will be).
func (d *Dashboard) present() {
	if d.opts.Output == nil || d.quitting || (d.presented && len(d.arrivals) == 0) {
		return
	}
	d.opts.Output.Frame(d.frameText, d.arrivals)
	d.arrivals, d.presented = d.arrivals[:0], true
}

func (d *Dashboard) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case frameMsg:
		// Frames keep a cadence: the next is due a frame after this one was, not after it
		// was drawn (which would stretch every frame by the drawing), unless the
		// dashboard fell a frame behind or was idle (no burst of frames to catch up).
		interval, now := time.Second/time.Duration(d.opts.FPS), time.Now()
		if d.frameDue = d.frameDue.Add(interval); d.frameDue.Before(now.Add(-interval)) {
			d.frameDue = now.Add(interval)
		}
		return tea.Batch(d.frame(d.opts.Now()), d.nextFrame())
	case pollTickMsg:
		return d.pollCmd()
	case pollMsg:
		d.polling = false
		p := Poll(msg)
		d.notePoll(&p)
		if d.frozen {
			d.pending = &p
		} else {
			d.applyPoll(&p)
		}
		if d.opts.Changes != nil {
			d.redraw(0) // paced frames may be a second apart: show it now
		}
		return tea.Tick(d.opts.PollEvery, func(time.Time) tea.Msg { return pollTickMsg{} })
	case AlertsMsg:
		d.applyAlerts(msg)
		d.redraw(0)
		return nil
	case historyMsg:
		d.applyHistory(msg)
		d.redraw(0)
		return d.olderHistoryCmd() // a chart zoomed out may want more than the cache holds
	case olderHistoryMsg:
		cmd := d.applyOlderHistory(msg)
		d.redraw(0)
		return cmd
	case MarkersMsg:
		d.setMarkers(msg)
		d.redraw(0)
		return nil
	case tea.WindowSizeMsg:
		d.lay = computeLayout(msg.Width, msg.Height, d.opts.PubSubOnly)
		d.redraw(resized)
		return nil
	case tea.MouseMsg:
		cmd := d.mouse(msg)
		d.redraw(0)
		return cmd
	case tea.KeyMsg:
		help := d.showHelp
		cmd := d.key(msg)
		var ch changes
		if d.showHelp != help {
			ch = overlay
		}
		d.redraw(ch)
		return cmd
	}
	return nil
}

// setMarkers keeps an asset's markers (the newest maxMarkers), and charts them if it is
// the asset charted.
func (d *Dashboard) setMarkers(msg MarkersMsg) {
	ms := slices.Clone(msg.Markers)
	slices.SortStableFunc(ms, func(a, b ChartMarker) int { return a.At.Compare(b.At) })
	ms = ms[max(0, len(ms)-maxMarkers):]
	if len(ms) == 0 {
		delete(d.markers, msg.Asset)
	} else {
		d.markers[msg.Asset] = ms
	}
	if msg.Asset == d.chart.Asset() {
		d.chart.SetMarkers(ms)
	}
}

// View returns the frame the pipeline composed; it renders nothing itself.
func (d *Dashboard) View() string {
	if d.quitting {
		return ""
	}
	return d.frameText
}

// Signals returns asset's recent trading signals, oldest first, for the chart's markers:
// from Options.Pipeline (up to 50 per asset), else from the poll shown (the newest 100 of
// every asset). In memory only: safe in Update.
func (d *Dashboard) Signals(asset string) []model.Signal {
	if d.opts.Pipeline != nil {
		return d.opts.Pipeline.SignalsFor(asset, nil)
	}
	if d.poll == nil {
		return nil
	}
	return d.poll.Pipeline.SignalsFor(asset)
}

// Screen returns the last frame drawn, even after quitting (for tests and tooling).
func (d *Dashboard) Screen() string { return d.frameText }

// Repaints counts the frames in which anything was rebuilt.
func (d *Dashboard) Repaints() int { return d.repaints }

// ScreenLatency summarises publish-to-screen latency over the whole session, measured
// as frames are made (an Output measures at the terminal).
func (d *Dashboard) ScreenLatency() model.LatencySummary { return d.lat.session() }
