package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
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
// running the feed, the flusher or the demo. It never retries a command by itself: a
// write whose reply was lost may have been applied, and only the caller knows whether
// sending it again is safe.
func writerOptions(o redisdata.Options) redisdata.Options {
	o.ReadOnly = false
	o.ClientName = "quflx-tui-writer"
	o.PoolSize = 8
	o.MaxRetries = -1
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
func runFeed(ctx context.Context, cfg Config, ex *metrics.Exporter, out, errOut io.Writer) error {
	client, err := connectPatiently(ctx, writerOptions(cfg.Redis), patience(cfg), logTo(errOut, "feed"))
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
	ex.Feeder(feeder)
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
		return nil, &ConnectError{What: "the store", Endpoint: store.Redact(dsn), Err: err}
	}
	return st, nil
}

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

func newFlusher(client *redisdata.Client, st store.Store, cfg Config, log func(string), namespace string,
	observe flusher.Observer) *flusher.Flusher {
	statusKey := ""
	if namespace != "" {
		statusKey = namespace + ":flusher:status"
	}
	return flusher.New(client, st, flusher.Options{
		Namespace: namespace, StatusKey: statusKey,
		TickKey: cfg.TickKey, Channel: cfg.Channel, Assets: cfg.Assets,
		Interval: cfg.Flush.Interval, HighWater: cfg.Flush.HighWater, MaxBacklog: cfg.Flush.MaxBacklog, Lease: cfg.Flush.Lease,
		MaxAssets: cfg.MaxAssets, PauseAt: cfg.Flush.PauseAt, Log: log, Observe: observe,
	})
}

// patience is how long a daemon waits for Redis at start: daemonPatience, but never
// longer than the --duration it was given to run.
func patience(cfg Config) time.Duration {
	if cfg.Duration > 0 {
		return min(daemonPatience, cfg.Duration)
	}
	return daemonPatience
}

// logTo returns a logger of timestamped lines on w for a daemon.
// Lines carry key and asset names, server errors: anyone's text, so each goes through the
// sanitiser before it reaches a terminal.
func logTo(w io.Writer, who string) func(string) {
	return func(line string) {
		fmt.Fprintf(w, "%s %s: %s\n", time.Now().Format("15:04:05"), who, model.Printable(line))
	}
}

// runFlush is `quflx-tui flush`: the batch flusher daemon.
func runFlush(ctx context.Context, cfg Config, ex *metrics.Exporter, out, errOut io.Writer) error {
	log := logTo(errOut, "flush")
	client, err := connectPatiently(ctx, writerOptions(cfg.Redis), patience(cfg), log)
	if err != nil {
		return err
	}
	defer client.Close()
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	f := newFlusher(client, st, cfg, log, "", ex.ObserveFlusher())
	ex.Flusher(f)
	if !cfg.JSON {
		kind := "server"
		if client.IsCluster() {
			kind = "cluster"
		}
		log(fmt.Sprintf("flusher %s moving buffers of the %s at %s into %s every %s (early at %d ticks)",
			f.Instance(), kind, client.Endpoint(), st.Describe(), cfg.Flush.Interval, cfg.Flush.HighWater))
	}
	start := time.Now()
	runCtx, cancel := withDuration(ctx, cfg.Duration)
	defer cancel()
	if err := f.Run(runCtx); err != nil {
		return err
	}
	s := f.Stats()
	printSummary(out, cfg, "flush", Summary{Produced: s.Produced, Flushed: s.Flushed, Bad: s.Bad,
		LostToTrim: s.LostToTrim, DuplicatesSkipped: s.DuplicatesSkipped, Seconds: time.Since(start).Seconds()})
	switch {
	case s.InFlight > 0:
		return fmt.Errorf("flush: %d ticks still claimed (%s); they are kept in Redis for the next flusher", s.InFlight, s.LastErr)
	case s.LastErr != "":
		// A flusher that could not claim or write (a cluster it could not reach, a store
		// that refused) must not look like one that had nothing to do.
		return fmt.Errorf("flush: the last attempt failed: %s", s.LastErr)
	}
	return nil
}

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
