package cli

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/quflx/quflx-tui/flusher"
	"github.com/quflx/quflx-tui/metrics"
	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata"
	"github.com/quflx/quflx-tui/simulator"
	"github.com/quflx/quflx-tui/store"
	"github.com/quflx/quflx-tui/ui"
)

// demoNamespace keeps the demo's flusher apart from any other on the same server: its
// claims, leases and status live under it, so it never adopts a real flusher's claims nor
// overwrites its status.
const demoNamespace = "quflx-demo"

// demoOnANamedServer moves the demo's keys and channels under demoNamespace on a server
// the command line names: with QuFLX's own names its flusher would claim the live
// buffers of any asset it simulates (and store their real ticks in the demo's file),
// its feed would push synthetic ticks where the real flusher stores them, and its
// caches would overwrite the real ones.
func demoOnANamedServer(cfg Config) Config {
	prefix := func(p model.KeyPattern) model.KeyPattern {
		if strings.HasPrefix(p.String(), demoNamespace+":") {
			return p
		}
		return model.MustKeyPattern(demoNamespace + ":" + p.String())
	}
	cfg.TickKey, cfg.Channel, cfg.CacheKey = prefix(cfg.TickKey), prefix(cfg.Channel), prefix(cfg.CacheKey)
	return cfg
}

// demoStatusKey is the demo flusher's single status key, which its dashboard reads.
const demoStatusKey = demoNamespace + ":flusher:status"

// demoPipeline is the whole QuFLX pipeline in one process: embedded Redis (unless a
// server was given), the feed, the flusher and the store.
type demoPipeline struct {
	Embedded  *redisdata.Embedded  // the demo's own miniredis, or nil
	Throwaway *redisdata.Throwaway // the demo's own redis-server, or nil
	Redis     redisdata.Options    // where the pipeline runs, for the monitor
	Assets    []string             // the simulated assets (nil for replays: discovered)
	Store     store.Store
	Feeder    *simulator.Feeder
	Flusher   *flusher.Flusher
	History   *redisdata.History
	Cache     *redisdata.CandleCache // the history's cache

	writer      *redisdata.Client
	stopFeed    context.CancelFunc
	stopFlusher context.CancelFunc
	feedDone    sync.WaitGroup
	flushDone   sync.WaitGroup
}

// startDemo starts the pipeline; Stop ends it with a last flush.
func startDemo(ctx context.Context, cfg Config, ex *metrics.Exporter, log func(string), warn io.Writer) (*demoPipeline, error) {
	// Only a server named on the command line (--redis, -h or -s) is written to, with the
	// command line's settings alone: on a trading box QuFLX's own REDIS_HOST or REDIS_URL
	// are exported, and the demo must not feed synthetic ticks into production because of
	// them, nor because a port was given.
	p := &demoPipeline{}
	if cfg.RedisNamed != nil {
		p.Redis = *cfg.RedisNamed
	}
	if cfg.RedisNamed == nil {
		if err := p.startServer(ctx, log); err != nil {
			return nil, err
		}
	} else {
		fmt.Fprintf(warn, "quflx-tui: --demo writes a simulated feed, its candle caches and a flusher's claims into the Redis at %s, as the command line asked, under %s:* (%s, %s, %s)\n",
			p.Redis.Endpoint(), demoNamespace, cfg.TickKey, cfg.Channel, cfg.CacheKey)
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
	cfg.Feed.resolveSeed()
	sources, replays, assets, err := buildSources(cfg, start)
	if err != nil {
		return nil, err
	}
	if len(replays) == 0 {
		log(fmt.Sprintf("prices from --seed %d", cfg.Feed.Seed))
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
	// The cache whole at once, as a producer's is: filled only as candles closed, it would
	// read as missing (and alert) for every asset not charted until the next close.
	if err := producer.WriteCaches(ctx); err != nil {
		return nil, fmt.Errorf("demo: fill the candle caches: %w", err)
	}
	p.History, p.Cache = redisdata.NewHistory(cache, p.Store, true), cache

	// Separate contexts: at stop the feed ends first, then the flusher's last flush
	// takes everything the feed wrote.
	feedCtx, stopFeed := context.WithCancel(context.Background())
	flushCtx, stopFlusher := context.WithCancel(context.Background())
	p.stopFeed, p.stopFlusher = stopFeed, stopFlusher
	p.Feeder = simulator.NewFeeder(producer, sources, simulator.FeedOptions{Limit: cfg.Feed.Count})
	p.Flusher = newFlusher(writer, p.Store, cfg, func(line string) { log("flush: " + line) }, demoNamespace,
		ex.ObserveFlusher())
	ex.Feeder(p.Feeder)
	ex.Flusher(p.Flusher)
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

// startServer starts the demo's own Redis: a throwaway redis-server when one is installed
// (every panel then shows a real server's figures), else the embedded miniredis.
func (p *demoPipeline) startServer(ctx context.Context, log func(string)) error {
	if path, err := exec.LookPath("redis-server"); err == nil {
		t, err := redisdata.StartThrowaway(ctx, path)
		if err == nil {
			p.Throwaway = t
			p.Redis = redisdata.Options{Addr: t.Addr()}
			log(fmt.Sprintf("throwaway redis-server %s on %s, no persistence, removed on exit (look inside with: "+
				"redis-cli -p %s)", t.Version(), t.Addr(), t.Port()))
			return nil
		}
		log(fmt.Sprintf("%v; using the embedded Redis instead", err))
	}
	emb, err := redisdata.StartEmbedded()
	if err != nil {
		return err
	}
	p.Embedded = emb
	p.Redis = redisdata.Options{Addr: emb.Addr()}
	log(fmt.Sprintf("embedded Redis on %s (look inside with: redis-cli -p %s)", emb.Addr(), emb.Port()))
	return nil
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
		// A store from an earlier run: fill the time since, from where that run stopped to
		// where this one starts, so the chart has neither a hole nor a jump. A hole longer
		// than the history asked for stays one.
		last := have[len(have)-1]
		gap := now.Truncate(time.Minute).Sub(time.Unix(last.Start, 0)) - time.Minute
		if gap < time.Minute {
			return have, nil
		}
		var fill []model.Candle
		if gap <= span {
			fill = simulator.BackfillFrom(a, last.Close, now, gap, int(fc.Rate*60), fc.Seed)
		} else {
			fill = simulator.Backfill(a, now, span, int(fc.Rate*60), fc.Seed)
		}
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
	if p.Throwaway != nil {
		p.Throwaway.Close()
	}
}

// runDemo is `quflx-tui --demo`: the pipeline in-process, watched by the dashboard (or,
// with --no-ui, by the plain monitor).
func runDemo(ctx context.Context, cfg Config, ex *metrics.Exporter, out, errOut io.Writer) error {
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
	p, err := startDemo(ctx, cfg, ex, log, errOut)
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
		mon.Redis, mon.Assets, mon.flusherStatusKey = p.Redis, p.Assets, demoStatusKey
		if mon.PollInterval < 2*time.Second {
			mon.PollInterval = 2 * time.Second // a line every two seconds is plenty to read
		}
		return runMonitor(ctx, mon, ex, out, p.statusLine)
	}
	ctx, cancel := withDuration(ctx, cfg.Duration)
	defer cancel()
	src := dashboardSource{
		metrics: ex,
		redis:   p.Redis,
		info: ui.Info{Endpoint: p.Redis.Endpoint(), Embedded: p.Embedded != nil, Throwaway: p.Throwaway != nil,
			Mode: ui.ModeDemo, Store: p.Store.Describe(), Version: Version()},
		flusherStatusKey: demoStatusKey,
		assets:           p.Assets,
		history:          p.History,
		cache:            p.Cache,
	}
	if p.Embedded != nil {
		src.fillInfo = p.Embedded.FillInfo
	}
	return runDashboard(ctx, cfg, src, errOut)
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
