package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/quflx/quflx-tui/flusher"
	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata"
	"github.com/quflx/quflx-tui/simulator"
	"github.com/quflx/quflx-tui/store"
	"github.com/quflx/quflx-tui/ui"
)

// defaultDemoAssets is how many instruments the demo and the feed trade unless told.
const defaultDemoAssets = 8

// Summary is the closing summary of feed and flush; --json prints it as one object.
type Summary struct {
	Produced          int64   `json:"produced"`
	Flushed           int64   `json:"flushed"`
	Bad               int64   `json:"bad"`
	LostToTrim        int64   `json:"lost_to_trim"`
	DuplicatesSkipped int64   `json:"duplicates_skipped"`
	Seconds           float64 `json:"seconds"`
}

func printSummary(out io.Writer, cfg Config, what string, s Summary) {
	if cfg.JSON {
		b, _ := json.Marshal(s)
		fmt.Fprintln(out, string(b))
		return
	}
	rate := 0.0
	if s.Seconds > 0 {
		rate = float64(max(s.Produced, s.Flushed)) / s.Seconds
	}
	fmt.Fprintf(out, "%s: produced %d, flushed %d, bad %d, lost to trim %d, duplicates skipped %d in %.1fs (%.0f/s)\n",
		what, s.Produced, s.Flushed, s.Bad, s.LostToTrim, s.DuplicatesSkipped, s.Seconds, rate)
}

// withDuration bounds ctx by --duration.
func withDuration(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d > 0 {
		return context.WithTimeout(ctx, d)
	}
	return context.WithCancel(ctx)
}

// writerOptions are the options of a client that may write: the user asked for it by
// running the feed, the flusher or the demo.
func writerOptions(o redisdata.Options) redisdata.Options {
	o.ReadOnly = false
	o.ClientName = "quflx-tui-writer"
	o.PoolSize = 8
	return o
}

// buildSources makes the feed: replays of recorded files, or synthetic ticks.
func buildSources(cfg Config, start time.Time) ([]simulator.Source, []*simulator.Replay, []simulator.Asset, error) {
	if len(cfg.Feed.Replay) > 0 {
		var sources []simulator.Source
		var replays []*simulator.Replay
		for _, path := range cfg.Feed.Replay {
			r, err := simulator.LoadReplay(path, simulator.ReplayOptions{
				Date: cfg.Feed.Date, Speed: cfg.Feed.Speed, Loop: cfg.Feed.Loop, KeepTime: cfg.Feed.KeepTime,
			}, start)
			if err != nil {
				return nil, nil, nil, &UsageError{msg: err.Error()}
			}
			sources, replays = append(sources, r), append(replays, r)
		}
		return sources, replays, nil, nil
	}
	spec := cfg.Assets
	if len(spec) == 0 {
		spec = []string{fmt.Sprint(defaultDemoAssets)}
	}
	assets, err := simulator.ParseAssets(spec)
	if err != nil {
		return nil, nil, nil, usageErr("--assets: %v", err)
	}
	syn := simulator.NewSynthetic(simulator.SyntheticOptions{
		Assets: assets, Rate: cfg.Feed.Rate, Seed: cfg.Feed.Seed, Bursts: cfg.Feed.Bursts,
	}, start)
	return []simulator.Source{syn}, nil, assets, nil
}

// runFeed is `quflx-tui feed`: the simulator or a replay, writing as a QuFLX producer.
func runFeed(ctx context.Context, cfg Config, out, errOut io.Writer) error {
	client, err := connect(ctx, writerOptions(cfg.Redis))
	if err != nil {
		return err
	}
	defer client.Close()
	start := time.Now()
	sources, replays, assets, err := buildSources(cfg, start)
	if err != nil {
		return err
	}
	producer := redisdata.NewProducer(client, redisdata.ProducerOptions{
		TickKey: cfg.TickKey, Channel: cfg.Channel, Version: cfg.Feed.Producer,
		Cache: redisdata.NewCandleCache(client, redisdata.CacheOptions{Key: cfg.CacheKey}),
	})
	if cfg.Feed.Backfill > 0 {
		for _, a := range assets {
			producer.Seed(a.Name, simulator.Backfill(a, start, cfg.Feed.Backfill, int(cfg.Feed.Rate*60), cfg.Feed.Seed))
		}
		if err := producer.WriteCaches(ctx); err != nil {
			return fmt.Errorf("backfill caches: %w", err)
		}
	}
	if !cfg.JSON {
		fmt.Fprintf(errOut, "feed: writing to %s as producer v%d; Ctrl-C to stop\n", client.Endpoint(), cfg.Feed.Producer)
	}
	runCtx, cancel := withDuration(ctx, cfg.Duration)
	defer cancel()
	feeder := simulator.NewFeeder(producer, sources, simulator.FeedOptions{Limit: cfg.Feed.Count})
	if err := feeder.Run(runCtx); err != nil {
		return err
	}
	st := feeder.Stats()
	s := Summary{Produced: st.Produced, Seconds: time.Since(start).Seconds()}
	for _, r := range replays {
		s.Bad += int64(r.Stats.Bad)
	}
	printSummary(out, cfg, "feed", s)
	if st.Failing {
		return fmt.Errorf("feed: the last writes failed: %s", st.LastErr)
	}
	return nil
}

// defaultStore is where the flusher writes unless --store says otherwise.
func defaultStore(demo bool) string {
	if !demo {
		return "sqlite:quflx.db"
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	dir = filepath.Join(dir, "quflx-tui")
	_ = os.MkdirAll(dir, 0o755)
	return "sqlite:" + filepath.Join(dir, "demo.db")
}

func openStore(ctx context.Context, cfg Config) (store.Store, error) {
	dsn := cfg.Flush.Store
	if dsn == "" {
		dsn = defaultStore(cfg.Demo)
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return nil, &ConnectError{Endpoint: "store " + dsn, Err: err}
	}
	return st, nil
}

func newFlusher(client *redisdata.Client, st store.Store, cfg Config, log func(string)) *flusher.Flusher {
	return flusher.New(client, st, flusher.Options{
		TickKey: cfg.TickKey, Channel: cfg.Channel, Assets: cfg.Assets,
		Interval: cfg.Flush.Interval, HighWater: cfg.Flush.HighWater, PauseAt: cfg.Flush.PauseAt, Log: log,
	})
}

// runFlush is `quflx-tui flush`: the batch flusher daemon.
func runFlush(ctx context.Context, cfg Config, out, errOut io.Writer) error {
	client, err := connect(ctx, writerOptions(cfg.Redis))
	if err != nil {
		return err
	}
	defer client.Close()
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	log := func(line string) { fmt.Fprintf(errOut, "%s flush: %s\n", time.Now().Format("15:04:05"), line) }
	if !cfg.JSON {
		log(fmt.Sprintf("moving buffers of %s into %s every %s (early at %d ticks)",
			client.Endpoint(), st.Describe(), cfg.Flush.Interval, cfg.Flush.HighWater))
	}
	start := time.Now()
	runCtx, cancel := withDuration(ctx, cfg.Duration)
	defer cancel()
	f := newFlusher(client, st, cfg, log)
	if err := f.Run(runCtx); err != nil {
		return err
	}
	s := f.Stats()
	printSummary(out, cfg, "flush", Summary{Produced: s.Produced, Flushed: s.Flushed, Bad: s.Bad,
		LostToTrim: s.LostToTrim, DuplicatesSkipped: s.DuplicatesSkipped, Seconds: time.Since(start).Seconds()})
	if s.InFlight > 0 {
		return fmt.Errorf("flush: %d ticks still in flight (%s); they are kept for the next run", s.InFlight, s.LastErr)
	}
	return nil
}

// demoPipeline is the whole QuFLX pipeline in one process: embedded Redis (unless a
// server was given), the feed, the flusher and the store.
type demoPipeline struct {
	Embedded *redisdata.Embedded // nil against a given server
	Redis    redisdata.Options   // where the pipeline runs, for the monitor
	Assets   []string            // the simulated assets (nil for replays: discovered)
	Store    store.Store
	Feeder   *simulator.Feeder
	Flusher  *flusher.Flusher
	History  *redisdata.History
	Cache    *redisdata.CandleCache // the history's cache

	writer      *redisdata.Client
	stopFeed    context.CancelFunc
	stopFlusher context.CancelFunc
	feedDone    sync.WaitGroup
	flushDone   sync.WaitGroup
}

// startDemo starts the pipeline; Stop ends it with a last flush.
func startDemo(ctx context.Context, cfg Config, log func(string)) (*demoPipeline, error) {
	p := &demoPipeline{Redis: cfg.Redis}
	if cfg.RedisSource == "default" {
		emb, err := redisdata.StartEmbedded()
		if err != nil {
			return nil, err
		}
		p.Embedded = emb
		p.Redis = redisdata.Options{Addr: emb.Addr()}
		log(fmt.Sprintf("embedded Redis on %s (look inside with: redis-cli -p %s)", emb.Addr(), emb.Port()))
	}
	ok := false
	defer func() {
		if !ok {
			p.close()
		}
	}()
	writer, err := connect(ctx, writerOptions(p.Redis))
	if err != nil {
		return nil, err
	}
	p.writer = writer
	if p.Store, err = openStore(ctx, cfg); err != nil {
		return nil, err
	}
	log("store " + p.Store.Describe())

	start := time.Now()
	sources, _, assets, err := buildSources(cfg, start)
	if err != nil {
		return nil, err
	}
	// --assets may be a count here: from now on the names are what matter.
	cfg.Assets = nil
	for _, a := range assets {
		cfg.Assets = append(cfg.Assets, a.Name)
	}
	p.Assets = cfg.Assets
	cache := redisdata.NewCandleCache(writer, redisdata.CacheOptions{Key: cfg.CacheKey})
	producer := redisdata.NewProducer(writer, redisdata.ProducerOptions{
		TickKey: cfg.TickKey, Channel: cfg.Channel, Version: cfg.Feed.Producer, Cache: cache,
	})
	backfill := cfg.Feed.Backfill
	if backfill <= 0 {
		backfill = 72 * time.Hour
	}
	for _, a := range assets {
		history, err := seedHistory(ctx, p.Store, a, start, backfill, cfg.Feed)
		if err != nil {
			return nil, err
		}
		producer.Seed(a.Name, history)
	}
	p.History, p.Cache = redisdata.NewHistory(cache, p.Store, true), cache

	// Separate contexts: at stop the feed ends first, then the flusher's last flush
	// takes everything the feed wrote.
	feedCtx, stopFeed := context.WithCancel(context.Background())
	flushCtx, stopFlusher := context.WithCancel(context.Background())
	p.stopFeed, p.stopFlusher = stopFeed, stopFlusher
	p.Feeder = simulator.NewFeeder(producer, sources, simulator.FeedOptions{Limit: cfg.Feed.Count})
	p.Flusher = newFlusher(writer, p.Store, cfg, func(line string) { log("flush: " + line) })
	p.feedDone.Add(1)
	go func() {
		defer p.feedDone.Done()
		_ = p.Feeder.Run(feedCtx)
	}()
	p.flushDone.Add(1)
	go func() {
		defer p.flushDone.Done()
		_ = p.Flusher.Run(flushCtx)
	}()
	ok = true
	return p, nil
}

// seedHistory backfills the store with synthetic 1-minute candles when it has none for
// the asset, and returns the asset's 1-minute history for the producer's cache.
func seedHistory(ctx context.Context, st store.Store, a simulator.Asset, now time.Time, span time.Duration, fc FeedConfig) ([]model.Candle, error) {
	limit := int(span / time.Minute)
	have, err := st.Candles(ctx, a.Name, model.TF1m, limit)
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", a.Name, err)
	}
	if len(have) > 0 {
		// A store from an earlier run: fill the time since, so the chart has no hole.
		gap := now.Truncate(time.Minute).Sub(time.Unix(have[len(have)-1].Start, 0)) - time.Minute
		if gap < time.Minute {
			return have, nil
		}
		fill := simulator.Backfill(a, now, min(gap, span), int(fc.Rate*60), fc.Seed)
		if err := st.WriteCandles(ctx, a.Name, fill); err != nil {
			return nil, fmt.Errorf("backfill %s: %w", a.Name, err)
		}
		return append(have, fill...), nil
	}
	candles := simulator.Backfill(a, now, span, int(fc.Rate*60), fc.Seed)
	if err := st.WriteCandles(ctx, a.Name, candles); err != nil {
		return nil, fmt.Errorf("backfill %s: %w", a.Name, err)
	}
	return candles, nil
}

// Stop stops the feed, lets the flusher make its last flush, and closes everything.
func (p *demoPipeline) Stop() {
	if p.stopFeed != nil {
		p.stopFeed()
		p.feedDone.Wait()
		p.stopFlusher()
		p.flushDone.Wait()
	}
	p.close()
}

func (p *demoPipeline) close() {
	if p.Store != nil {
		p.Store.Close()
	}
	if p.writer != nil {
		p.writer.Close()
	}
	if p.Embedded != nil {
		p.Embedded.Close()
	}
}

// runDemo is `quflx-tui --demo`: the pipeline in-process, watched by the dashboard (or,
// with --no-ui, by the plain monitor).
func runDemo(ctx context.Context, cfg Config, out, errOut io.Writer) error {
	sink, closeLog, err := logSink(cfg, errOut)
	if err != nil {
		return err
	}
	defer closeLog()
	var startup []string
	log := func(line string) {
		line = time.Now().Format("15:04:05") + " demo: " + line
		sink(line)
		if !cfg.NoUI && len(startup) < 10 {
			startup = append(startup, line) // shown again once the screen is restored
		}
	}
	p, err := startDemo(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer func() {
		p.Stop()
		for _, line := range startup {
			fmt.Fprintln(errOut, line)
		}
		fmt.Fprintln(errOut, time.Now().Format("15:04:05")+" demo: stopped: "+p.statusLine())
	}()
	if cfg.NoUI {
		mon := cfg
		mon.Redis, mon.Assets = p.Redis, p.Assets
		if mon.PollInterval < 2*time.Second {
			mon.PollInterval = 2 * time.Second // a line every two seconds is plenty to read
		}
		return runMonitor(ctx, mon, out, p.statusLine)
	}
	ctx, cancel := withDuration(ctx, cfg.Duration)
	defer cancel()
	return runDashboard(ctx, cfg, dashboardSource{
		redis:   p.Redis,
		info:    ui.Info{Endpoint: p.Redis.Endpoint(), Embedded: p.Embedded != nil, Mode: ui.ModeDemo, Store: p.Store.Describe(), Version: Version()},
		assets:  p.Assets,
		history: p.History,
		cache:   p.Cache,
	}, errOut)
}

// statusLine summarises the feed and the flusher.
func (p *demoPipeline) statusLine() string {
	fs, ff := p.Feeder.Stats(), p.Flusher.Stats()
	line := fmt.Sprintf("fed %d | flusher %s: flushed %d, in flight %d, bad %d, lost %d, dup %d",
		fs.Produced, ff.State, ff.Flushed, ff.InFlight, ff.Bad, ff.LostToTrim, ff.DuplicatesSkipped)
	if ff.LastErr != "" {
		line += " | error: " + ff.LastErr
	}
	return line
}
