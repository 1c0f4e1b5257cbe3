package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/quflx/quflx-tui/model/format"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/quflx/quflx-tui/metrics"
	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata"
	"github.com/quflx/quflx-tui/store"
	"github.com/quflx/quflx-tui/ui"
)

// backend gives the dashboard the watch session's readings; the ui package calls it from
// commands only. Several dashboards may share one session: none does I/O of its own.
type backend struct{ watch *redisdata.Watch }

func (b backend) Poll(ctx context.Context) ui.Poll {
	r := b.watch.Latest()
	if r.Seq == 0 {
		r = b.watch.Next(ctx, 0) // the first reading is under way
	}
	return pollOf(r)
}

func pollOf(r *redisdata.Reading) ui.Poll {
	return ui.Poll{At: r.At, Snapshot: r.Snapshot, Err: r.Err, PingRTT: r.PingRTT, Sub: r.Sub, Events: r.Events,
		Flusher: r.Flusher(), Flushers: r.Report.Flushers, Assets: r.Report.Assets,
		Cache: r.Cache, Store: r.Store, Health: r.Report.Health, Pipeline: r.Pipeline}
}

func (b backend) History(ctx context.Context, asset string, tf model.Timeframe) (redisdata.HistoryResult, error) {
	return b.watch.History(ctx, asset, tf)
}

func (b backend) HistoryBefore(ctx context.Context, asset string, tf model.Timeframe, before int64, limit int) (redisdata.HistoryResult, error) {
	return b.watch.HistoryBefore(ctx, asset, tf, before, limit)
}

// dashboardSource is what the dashboard watches: the pipeline's Redis in the demo, or
// the configured server.
type dashboardSource struct {
	metrics *metrics.Exporter // nil: no --metrics
	redis   redisdata.Options
	info    ui.Info
	assets  []string
	history *redisdata.History     // the demo's (it may fill the cache); nil: build one
	cache   *redisdata.CandleCache // whose stats the cache panel shows
	store   store.Reader           // live: history on cache misses (optional), read-only
	// flusherStatusKey is where the watched flusher publishes (default: the usual key).
	flusherStatusKey string
	// fillInfo completes INFO from an embedded server's own counters (the demo's).
	fillInfo func(*redisdata.Info)
	// poolSize, when set, is the connections the watch's client holds besides its
	// subscriber's, opened at start and never more (serve: a fixed number, whatever the
	// viewers do).
	poolSize int
}

// newWatch connects to the source's Redis, read-only, and returns the watch session the
// dashboards share (not started).
func newWatch(ctx context.Context, cfg Config, src dashboardSource) (*redisdata.Watch, error) {
	opts := src.redis
	opts.ReadOnly = true
	if src.poolSize > 0 {
		opts.PoolSize, opts.FixedPool = src.poolSize, true
	}
	client, err := connect(ctx, opts)
	if err != nil {
		return nil, err
	}
	cache, history := src.cache, src.history
	if history == nil {
		cache = redisdata.NewCandleCache(client, redisdata.CacheOptions{Key: cfg.CacheKey})
		var source redisdata.CandleSource
		if src.store != nil {
			source = src.store
		}
		history = redisdata.NewHistory(cache, source, cfg.FillCache)
	}
	watch := redisdata.NewWatch(client, withTopology(cfg, redisdata.WatchOptions{
		TickKey: cfg.TickKey, CacheKey: cfg.CacheKey, Channel: cfg.Channel, Assets: src.assets, MaxAssets: cfg.MaxAssets,
		Subscribe: true, PollEvery: cfg.PollInterval, DiscoverEvery: cfg.DiscoverEvery,
		FlusherStatusKey: src.flusherStatusKey, Thresholds: cfg.Status.Thresholds, History: history, Cache: cache,
		FillInfo: src.fillInfo,
	}))
	src.metrics.Watch(watch)
	return watch, nil
}

// runDashboard runs the Bubble Tea dashboard until the user quits or ctx ends.
func runDashboard(ctx context.Context, cfg Config, src dashboardSource, errOut io.Writer) error {
	watch, err := newWatch(ctx, cfg, src)
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	watch.Start(runCtx)
	defer watch.Close()
	market := watch.Market()

	// The alerts are in the events panel; with --log, in the log as well.
	var alertLog func(string)
	if cfg.LogFile != "" {
		log, closeLog, err := logSink(cfg, errOut)
		if err != nil {
			return err
		}
		defer closeLog()
		alertLog = func(line string) { log("alert: " + line) }
	}
	alerts := newAlertRunner(cfg, alertLog)
	src.metrics.AlertsFiring(alerts.FiringCount)
	alerts.Start(runCtx, watch)
	defer alerts.Close(alertGrace)

	if os.Getenv("NO_COLOR") != "" {
		lipgloss.SetColorProfile(termenv.Ascii)
	}
	// The dashboard paints the terminal itself, a frame as soon as it is made; Bubble Tea
	// runs without a renderer and reads the keys, the mouse and the size.
	screen := newTerminalWriter(os.Stdout)
	restore, err := rawTerminal(os.Stdin)
	if err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	defer restore()
	// --theme auto asks the terminal now, in raw mode and before Bubble Tea reads the keys.
	dark := themeIsDark(cfg.Theme, func() (bool, bool) {
		if !term.IsTerminal(int(os.Stdin.Fd())) || !term.IsTerminal(int(os.Stdout.Fd())) || os.Getenv("TERM") == "dumb" {
			return false, false
		}
		return queryBackground(os.Stdin, os.Stdout, backgroundPatience)
	}, os.LookupEnv)
	// Said once for the process's terminal: nothing drawn later asks it again (lipgloss
	// would, for an adaptive colour, with a 5 s timeout, while Bubble Tea reads the keys).
	lipgloss.SetHasDarkBackground(dark)
	if err := screen.Start(); err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	defer screen.Close()
	changes, stopChanges := market.Changes()
	defer stopChanges()
	m := ui.New(ui.Options{
		Backend: backend{watch},
		Market:  market, Info: src.info, FPS: cfg.FPS, PollEvery: cfg.PollInterval, Stale: cfg.Stale,
		ASCII: cfg.ASCII, Thresholds: cfg.Status.Thresholds, Averages: cfg.Averages,
		PubSubOnly: cfg.Topology.PubSubOnly, Pipeline: watch.Pipeline(),
		Light: !dark, Keys: cfg.Keys, Groups: cfg.Groups,
		Changes: changes, Drain: watch.Drain, Output: screen,
	})
	prog := tea.NewProgram(m, tea.WithoutRenderer(), tea.WithContext(runCtx),
		tea.WithFilter(func(_ tea.Model, msg tea.Msg) tea.Msg {
			if size, ok := msg.(tea.WindowSizeMsg); ok {
				screen.Resize(ui.ClampSize(size.Width, size.Height))
			}
			return msg
		}))
	go followSize(runCtx, os.Stdout, prog)
	var bell func()
	if cfg.Alerts.Bell {
		bell = screen.Bell
	}
	go followAlerts(runCtx, alerts, func(msg ui.AlertsMsg) { prog.Send(msg) }, bell)
	_, err = prog.Run()
	cancel()
	screen.Close()
	restore()
	if err != nil && !(errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil) {
		return fmt.Errorf("dashboard: %w", err)
	}
	lat := screen.Session()
	fmt.Fprintf(errOut, "quflx-tui: %s ticks shown in %d repaints; publish to terminal p50 %s, p99 %s\n",
		format.Thousands(market.Total()), m.Repaints(), lat.P50.Round(time.Millisecond/10), lat.P99.Round(time.Millisecond/10))
	return nil
}

// followSize tells the program the terminal's size, now and whenever it changes (Bubble
// Tea does only with its own renderer).
func followSize(ctx context.Context, out *os.File, prog *tea.Program) {
	fd := int(out.Fd())
	if !term.IsTerminal(fd) {
		return
	}
	resized := make(chan os.Signal, 1)
	signal.Notify(resized, syscall.SIGWINCH)
	defer signal.Stop(resized)
	for {
		if w, h, err := term.GetSize(fd); err == nil {
			prog.Send(tea.WindowSizeMsg{Width: w, Height: h})
		}
		select {
		case <-ctx.Done():
			return
		case <-resized:
		}
	}
}

// rawTerminal puts in to raw mode, as Bubble Tea's renderer would (keys arrive one by
// one, unechoed), and returns what puts it back; nothing when in is no terminal.
func rawTerminal(in *os.File) (restore func(), err error) {
	fd := int(in.Fd())
	if !term.IsTerminal(fd) {
		return func() {}, nil
	}
	state, err := term.MakeRaw(fd)
	if err != nil {
		return nil, fmt.Errorf("raw terminal: %w", err)
	}
	var once sync.Once
	return func() { once.Do(func() { _ = term.Restore(fd, state) }) }, nil
}

// logSink sends log lines to --log, or discards them while the dashboard owns the
// terminal (the panels show what matters; stderr would tear the screen).
func logSink(cfg Config, errOut io.Writer) (func(string), func(), error) {
	if cfg.LogFile == "" {
		if cfg.NoUI {
			return func(line string) { fmt.Fprintln(errOut, model.Printable(line)) }, func() {}, nil
		}
		return func(string) {}, func() {}, nil
	}
	f, err := os.OpenFile(cfg.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, usageErr("--log: %v", err)
	}
	var mu sync.Mutex
	return func(line string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintln(f, model.Printable(line)) // a log file is read in a terminal too
	}, func() { f.Close() }, nil
}
