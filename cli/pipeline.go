package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/quflx/quflx-tui/flusher"
	"github.com/quflx/quflx-tui/metrics"
	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata"
	"github.com/quflx/quflx-tui/simulator"
	"github.com/quflx/quflx-tui/store"
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

// resolveSeed gives a synthetic feed its seed: --seed when given, else a new one each run,
// so that a restarted feed, or a demo whose store is kept between runs, does not play the
// same prices again (the chart would show one shape once per run).
func (fc *FeedConfig) resolveSeed() {
	for fc.Seed == 0 {
		fc.Seed = rand.Uint64()
	}
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
	cfg.Feed.resolveSeed()
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
		seed := ""
		if len(replays) == 0 {
			seed = fmt.Sprintf(", prices from --seed %d", cfg.Feed.Seed)
		}
		fmt.Fprintf(errOut, "feed: writing to %s as producer v%d%s; Ctrl-C to stop\n", client.Endpoint(), cfg.Feed.Producer, seed)
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
