package cli

import (
	"errors"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata"
	"github.com/quflx/quflx-tui/store"
)

// The headings flags are shown under in the help. The dashboard takes the pipeline's
// flags for --demo, under headings of their own.
const (
	groupConnection = "CONNECTION"
	groupKeys       = "KEYS"
	groupOptions    = "OPTIONS"
	groupFeed       = "FEED"
	groupFlush      = "FLUSH"
	groupStatus     = "STATUS"
	groupSSH        = "SSH"
	groupDemoFeed   = "FEED (with --demo)"
	groupDemoFlush  = "FLUSH (with --demo)"

	groupAnnotation = "quflx_group"
)

// inGroup defines flags on cmd and files them under a heading of the help.
func inGroup(cmd *cobra.Command, title string, define func(fs *pflag.FlagSet)) {
	fs := pflag.NewFlagSet(title, pflag.ContinueOnError)
	fs.SortFlags = false
	define(fs)
	fs.VisitAll(func(f *pflag.Flag) { _ = fs.SetAnnotation(f.Name, groupAnnotation, []string{title}) })
	cmd.Flags().AddFlagSet(fs)
}

// groupOf returns the heading a flag is shown under.
func groupOf(f *pflag.Flag) string {
	if g := f.Annotations[groupAnnotation]; len(g) > 0 {
		return g[0]
	}
	return groupOptions
}

// completeWith makes a flag's value complete to fixed choices ("value\tdescription").
func completeWith(cmd *cobra.Command, flag string, directive cobra.ShellCompDirective, choices ...string) {
	_ = cmd.RegisterFlagCompletionFunc(flag, cobra.FixedCompletions(choices, directive))
}

// completeFiles makes the flags' values complete to file names.
func completeFiles(cmd *cobra.Command, flags ...string) {
	for _, f := range flags {
		_ = cmd.MarkFlagFilename(f)
	}
}

// completeNothingElse makes the values of the command's other flags complete to nothing
// rather than to file names.
func completeNothingElse(cmd *cobra.Command) {
	cmd.LocalFlags().VisitAll(func(f *pflag.Flag) {
		_, hasFunc := cmd.GetFlagCompletionFunc(f.Name)
		_, isFile := f.Annotations[cobra.BashCompFilenameExt]
		if f.NoOptDefVal == "" && !hasFunc && !isFile {
			_ = cmd.RegisterFlagCompletionFunc(f.Name, cobra.NoFileCompletions)
		}
	})
}

// keyFlags are the key patterns and the assets, shared by every command that connects.
type keyFlags struct {
	cfg                        *Config
	tickKey, channel, cacheKey string
	assets                     []string
	// channelNeedsAsset: the command tells assets apart by channel name (the flusher
	// counts per channel), so --channel must have {asset}.
	channelNeedsAsset bool
}

func addKeyFlags(cmd *cobra.Command, cfg *Config, assetsUsage string) *keyFlags {
	k := &keyFlags{cfg: cfg}
	inGroup(cmd, groupKeys, func(fs *pflag.FlagSet) {
		fs.StringVar(&k.tickKey, "tick-key", cfg.TickKey.String(), "key `PATTERN` of the tick buffer lists")
		fs.StringVar(&k.channel, "channel", cfg.Channel.String(), "`PATTERN` of the live update channels")
		fs.StringVar(&k.cacheKey, "cache-key", cfg.CacheKey.String(), "key `PATTERN` of the candle cache strings")
		fs.StringSliceVar(&k.assets, "assets", nil, assetsUsage)
		fs.IntVar(&cfg.MaxAssets, "max-assets", cfg.MaxAssets, "track at most `N` assets besides those named; "+
			"an asset is tracked only when named, or when a tick buffer, a cache key or a flusher's claims exist "+
			"for it: a published name alone is not enough. The ticks of others are counted as \"not admitted\"")
	})
	return k
}

// The meanings of --assets.
const (
	assetsToFollow = "follow the assets `A,B,...` only (default: discover them)"
	assetsToFeed   = "simulate `N` assets, or these: A,B,... (default 8)"
	assetsOfDemo   = "follow the assets `A,B,...` only (default: discover them); with --demo: simulate N " +
		"assets, or these (default 8)"
)

func (k *keyFlags) resolve() error {
	cfg := k.cfg
	for _, p := range []struct {
		flag, text string
		dst        *model.KeyPattern
		needTF     bool
	}{
		{"--tick-key", k.tickKey, &cfg.TickKey, false},
		{"--channel", k.channel, &cfg.Channel, false},
		{"--cache-key", k.cacheKey, &cfg.CacheKey, true},
	} {
		parse := model.ParseKeyPattern
		if p.flag == "--channel" && !k.channelNeedsAsset {
			parse = model.ParseChannelPattern // QuFLX v2's market_data: the asset is in the payload
		}
		kp, err := parse(p.text)
		if err != nil {
			return usageErr("%s: %v", p.flag, err)
		}
		if p.needTF && !kp.HasTimeframe() {
			return usageErr("%s %q has no {timeframe}", p.flag, p.text)
		}
		*p.dst = kp
	}
	cfg.Assets = nil
	for _, a := range k.assets {
		if a = strings.TrimSpace(a); a != "" {
			cfg.Assets = append(cfg.Assets, a)
		}
	}
	if cfg.MaxAssets < 1 {
		return usageErr("--max-assets %d: must be at least 1", cfg.MaxAssets)
	}
	if cfg.Demo && !cfg.Channel.HasAsset() {
		return usageErr("--channel %q has no {asset}: --demo runs the flusher, which tells assets apart by channel",
			cfg.Channel.String())
	}
	for _, side := range cfg.Topology.sideChannels() {
		if !cfg.Channel.HasAsset() && side == cfg.Channel.String() {
			return usageErr("--channel %q is also a heartbeat, signal, regime or alerts channel", side)
		}
	}
	return nil
}

// sideChannels lists the side channels followed.
func (t TopologyConfig) sideChannels() []string {
	var out []string
	for _, c := range append(slices.Clone(t.HeartbeatChannels), t.SignalChannel, t.RegimeChannel, t.AlertChannel) {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}

// topologyFlags are --profile and the flags that override its parts: the dashboard's
// and status's.
type topologyFlags struct {
	cfg                                        *Config
	fs                                         *pflag.FlagSet
	keys                                       *keyFlags
	profile                                    string
	heartbeats, expect                         []string
	signalChannel, regimeChannel, alertChannel string
	noBuffers                                  bool
}

func addTopologyFlags(cmd *cobra.Command, cfg *Config, keys *keyFlags) *topologyFlags {
	t := &topologyFlags{cfg: cfg, fs: cmd.Flags(), keys: keys, profile: ProfileV1}
	inGroup(cmd, groupKeys, func(fs *pflag.FlagSet) {
		fs.StringVar(&t.profile, "profile", t.profile, "the deployment's topology `P`: quflx-v1 (tick buffers, "+
			"candle cache, a channel per asset) or quflx-v2 (pub/sub only: --channel market_data, heartbeats on "+
			"system_status and scan:heartbeat, signals, regimes, dispatched alerts; no buffers or cache expected)")
		fs.StringSliceVar(&t.heartbeats, "heartbeat-channels", nil, "follow service heartbeats on `C,...` "+
			"(quflx-v2: system_status,scan:heartbeat; \"\": none)")
		fs.StringVar(&t.signalChannel, "signal-channel", "", "follow trading signals on `CHANNEL` (quflx-v2: trading:signals)")
		fs.StringVar(&t.regimeChannel, "regime-channel", "", "follow market regimes on `CHANNEL` (quflx-v2: strategy:regime)")
		fs.StringVar(&t.alertChannel, "alerts-channel", "", "follow dispatched alerts on `CHANNEL` (quflx-v2: alerts:dispatched)")
		fs.BoolVar(&t.noBuffers, "pubsub-only", false, "expect no tick buffers, candle cache or flusher (quflx-v2 does)")
		fs.StringSliceVar(&t.expect, "expect-services", nil, "health requires a heartbeat of each service `S,...`")
	})
	completeWith(cmd, "profile", cobra.ShellCompDirectiveNoFileComp,
		ProfileV1+"\tbuffers, cache, updates:{asset}", ProfileV2+"\tpub/sub only: market_data, system_status, ...")
	return t
}

// resolve applies the profile, then the flags given; it runs before the keys resolve,
// as the profile sets --channel's default.
func (t *topologyFlags) resolve() error {
	cfg := t.cfg
	switch t.profile {
	case ProfileV1, "v1":
		cfg.Topology = TopologyConfig{Profile: ProfileV1}
	case ProfileV2, "v2":
		cfg.Topology = v2Topology
		cfg.Topology.HeartbeatChannels = slices.Clone(v2Topology.HeartbeatChannels)
		if !t.fs.Changed("channel") {
			t.keys.channel = v2Channel
		}
	default:
		return usageErr("--profile %q: want quflx-v1 or quflx-v2", t.profile)
	}
	tc := &cfg.Topology
	if t.fs.Changed("heartbeat-channels") {
		tc.HeartbeatChannels = nil
		for _, c := range t.heartbeats {
			if c = strings.TrimSpace(c); c != "" {
				tc.HeartbeatChannels = append(tc.HeartbeatChannels, c)
			}
		}
	}
	for _, o := range []struct {
		flag string
		v    string
		dst  *string
	}{{"signal-channel", t.signalChannel, &tc.SignalChannel}, {"regime-channel", t.regimeChannel, &tc.RegimeChannel},
		{"alerts-channel", t.alertChannel, &tc.AlertChannel}} {
		if t.fs.Changed(o.flag) {
			*o.dst = strings.TrimSpace(o.v)
		}
	}
	if t.fs.Changed("pubsub-only") {
		tc.PubSubOnly = t.noBuffers
	}
	for _, s := range t.expect {
		if s = strings.TrimSpace(s); s != "" {
			tc.ExpectServices = append(tc.ExpectServices, s)
		}
	}
	if len(tc.ExpectServices) > 0 && len(tc.HeartbeatChannels) == 0 {
		return usageErr("--expect-services needs heartbeat channels (--heartbeat-channels or --profile quflx-v2)")
	}
	for _, c := range tc.sideChannels() {
		if strings.ContainsAny(c, "*?[") {
			return usageErr("side channel %q: a channel name, not a pattern", c)
		}
	}
	if tc.PubSubOnly {
		cfg.Status.Thresholds.NoFlusher = true // nothing to flush without buffers
	}
	if (tc.PubSubOnly || len(tc.HeartbeatChannels) > 0) && !t.fs.Changed("listen") {
		cfg.Status.Listen = v2Listen // heartbeats come every 5 s: hear one of each
	}
	return nil
}

// feedFlags configure the simulator or replay feed (feed, and the dashboard's --demo).
type feedFlags struct {
	fc             *FeedConfig
	producer, date string
}

func addFeedFlags(cmd *cobra.Command, title string, fc *FeedConfig) *feedFlags {
	f := &feedFlags{fc: fc, producer: "v1"}
	inGroup(cmd, title, func(fs *pflag.FlagSet) {
		fs.Float64Var(&fc.Rate, "rate", fc.Rate, "write `N` ticks per second per asset")
		fs.BoolVar(&fc.Bursts, "bursts", fc.Bursts, "now and then tick five times faster")
		fs.Uint64Var(&fc.Seed, "seed", fc.Seed, "random seed `N`: the same seed, the same prices (default: a new one each run, printed at start)")
		fs.StringVar(&f.producer, "producer", f.producer, "write as the QuFLX producer `v1|v2` does: v1 LPUSH + "+
			"LTRIM 0 999; v2 RPUSH, LLEN, LTRIM -1000 -1")
		fs.StringArrayVar(&fc.Replay, "replay", nil, "replay the recorded CSV `FILE` instead (repeatable)")
		fs.Float64Var(&fc.Speed, "speed", fc.Speed, "replay `X` times faster")
		fs.StringVar(&f.date, "date", "", "the day `YYYY-MM-DD` of recordings that hold only times of day")
		fs.BoolVar(&fc.Loop, "loop", false, "replay again and again")
		fs.BoolVar(&fc.KeepTime, "keep-time", false, "send recorded timestamps, not ones moved to now")
		fs.Int64Var(&fc.Count, "count", 0, "stop after `N` ticks")
		fs.DurationVar(&fc.Backfill, "backfill", 0, "write `DURATION` of synthetic candle history at start "+
			"(--demo: 72h into an empty store)")
	})
	completeWith(cmd, "producer", cobra.ShellCompDirectiveNoFileComp,
		"v1\tLPUSH + LTRIM 0 999", "v2\tRPUSH, LLEN, LTRIM -1000 -1")
	completeFiles(cmd, "replay")
	return f
}

func (f *feedFlags) check() error {
	fc := f.fc
	if fc.Rate <= 0 || fc.Rate > 1e6 {
		return usageErr("--rate %g: want ticks per second per asset, above 0", fc.Rate)
	}
	if fc.Speed <= 0 {
		return usageErr("--speed %g: must be above 0", fc.Speed)
	}
	if fc.Count < 0 {
		return usageErr("--count %d: must not be negative", fc.Count)
	}
	var err error
	if fc.Producer, err = redisdata.ParseProducerVersion(f.producer); err != nil {
		return usageErr("--producer: %v", err)
	}
	if f.date != "" {
		if fc.Date, err = time.Parse(time.DateOnly, f.date); err != nil {
			return usageErr("--date %q: want YYYY-MM-DD", f.date)
		}
	}
	for _, path := range fc.Replay {
		if _, err := os.Stat(path); err != nil {
			return usageErr("--replay %s: %v", path, errors.Unwrap(err))
		}
	}
	return nil
}

// flushFlags configure the batch flusher (flush, and the dashboard's --demo).
type flushFlags struct{ fc *FlushConfig }

func addFlushFlags(cmd *cobra.Command, title string, fc *FlushConfig) *flushFlags {
	inGroup(cmd, title, func(fs *pflag.FlagSet) {
		fs.DurationVar(&fc.Interval, "flush-interval", fc.Interval, "flush every buffer once every `D`")
		fs.IntVar(&fc.HighWater, "high-water", fc.HighWater, "flush a buffer early once `N` ticks arrived since "+
			"its last flush; the producers trim at 1000")
		fs.Int64Var(&fc.MaxBacklog, "max-backlog", fc.MaxBacklog, "stop claiming once `N` claimed entries are "+
			"waiting for the store (1000000 is about 150 MB of Redis memory); the status then says \"backlog full\"")
		fs.DurationVar(&fc.Lease, "lease", fc.Lease, "let a flusher that stopped answering keep its claims "+
			"for `D` before the others take them over; any number of flushers may share one Redis")
	})
	return &flushFlags{fc: fc}
}

// The meanings of --store.
const (
	storeToFlush = "the store at `DSN`: sqlite:PATH or postgres://user:pw@host/db (default sqlite:quflx.db)"
	storeOfDemo  = "read chart history from the store at `DSN` on a cache miss, opened read-only (never migrated " +
		"nor written); with --demo: the flusher's store (default: a file in the user cache directory)"
	storeMigrate = "the store at `DSN` to migrate: sqlite:PATH or postgres://user:pw@host/db"
)

// addStoreFlag is --store, of the flusher, the dashboard and migrate.
func addStoreFlag(cmd *cobra.Command, title string, fc *FlushConfig, usage string) {
	inGroup(cmd, title, func(fs *pflag.FlagSet) { fs.StringVar(&fc.Store, "store", fc.Store, usage) })
	completeWith(cmd, "store", cobra.ShellCompDirectiveNoSpace, "sqlite:\ta SQLite file", "postgres://\tPostgreSQL")
}

func (f *flushFlags) check() error {
	fc := f.fc
	if fc.Interval < 100*time.Millisecond {
		return usageErr("--flush-interval %v: must be at least 100ms", fc.Interval)
	}
	if fc.HighWater < 1 || fc.HighWater > 1_000_000 {
		return usageErr("--high-water %d: want 1 to 1000000", fc.HighWater)
	}
	if err := checkStore(fc.Store); err != nil {
		return err
	}
	if fc.MaxBacklog < int64(redisdata.DefaultBufferCap) {
		return usageErr("--max-backlog %d: want at least a buffer's cap (%d)", fc.MaxBacklog, redisdata.DefaultBufferCap)
	}
	if fc.Lease < 300*time.Millisecond {
		return usageErr("--lease %v: want at least 300ms (leases are renewed every third of it)", fc.Lease)
	}
	return nil
}

func checkStore(dsn string) error {
	if dsn != "" && !strings.HasPrefix(dsn, "sqlite:") && !strings.HasPrefix(dsn, "postgres://") &&
		!strings.HasPrefix(dsn, "postgresql://") {
		return usageErr("--store %s: want sqlite:PATH or postgres://...", store.Redact(dsn))
	}
	return nil
}

// addDurationFlag is --duration, of the commands that run until stopped.
func addDurationFlag(fs *pflag.FlagSet, cfg *Config) {
	fs.DurationVar(&cfg.Duration, "duration", 0, "stop after `DURATION` (default: when interrupted)")
}

// addMetricsFlag is --metrics, of every mode that runs until stopped.
func addMetricsFlag(fs *pflag.FlagSet, cfg *Config) {
	fs.StringVar(&cfg.Metrics, "metrics", "", "serve Prometheus metrics at http://`ADDR`/metrics while running "+
		"(host:port, e.g. 127.0.0.1:9464; :9464 listens on every interface)")
}

// addRunFlags are the flags of the daemons, feed and flush.
func addRunFlags(cmd *cobra.Command, cfg *Config) {
	inGroup(cmd, groupOptions, func(fs *pflag.FlagSet) {
		addDurationFlag(fs, cfg)
		addMetricsFlag(fs, cfg)
		fs.BoolVar(&cfg.JSON, "json", false, "print the closing summary as one JSON object (produced, flushed, "+
			"bad, lost_to_trim, duplicates_skipped)")
	})
}

func checkDuration(cfg *Config) error {
	if cfg.Duration < 0 {
		return usageErr("--duration %v: must not be negative", cfg.Duration)
	}
	return nil
}

// addDashboardFlags are the dashboard's own flags (the root command's).
func addDashboardFlags(cmd *cobra.Command, cfg *Config) {
	inGroup(cmd, groupOptions, func(fs *pflag.FlagSet) {
		addViewFlags(fs, cfg)
		fs.BoolVar(&cfg.FillCache, "fill-cache", false, "fill the candle cache from --store on a miss (a write: "+
			"mode LIVE; not with --demo)")
		fs.StringVar(&cfg.LogFile, "log", "", "write log lines to `FILE` while the dashboard runs")
		fs.BoolVar(&cfg.NoUI, "no-ui", false, "print a summary line every poll instead of the dashboard")
		addDurationFlag(fs, cfg)
		addMetricsFlag(fs, cfg)
		addDemoFlag(fs, cfg)
	})
	completeFiles(cmd, "log")
	completeAverages(cmd)
}

// addViewFlags are how a dashboard polls and paints, wherever it is shown (the terminal,
// an SSH session); checkDashboard checks them. The command completes --ma with
// completeAverages.
func addViewFlags(fs *pflag.FlagSet, cfg *Config) {
	fs.DurationVar(&cfg.PollInterval, "poll", cfg.PollInterval, "read buffers, caches and INFO every `DURATION`")
	fs.DurationVar(&cfg.DiscoverEvery, "discover", cfg.DiscoverEvery, "look for new keys with SCAN every `DURATION`")
	fs.IntVar(&cfg.FPS, "fps", cfg.FPS, "repaint the dashboard at most `N` times a second, 1 to 60")
	fs.DurationVar(&cfg.Stale, "stale", cfg.Stale, "show a feed silent for `DURATION` as stale")
	fs.DurationVar(&cfg.Status.Thresholds.ServiceStale, "heartbeat-stale", cfg.Status.Thresholds.ServiceStale,
		"show a service whose heartbeat is older than `DURATION` as stale (QuFLX v2 beats every 5s)")
	fs.BoolVar(&cfg.ASCII, "ascii", false, "no Unicode box, block or braille glyphs")
	fs.String("ma", "", "draw moving averages `LIST` of at most two periods over the "+
		"chart: 20,50 (simple), ema20, or ema20,sma50")
}

func completeAverages(cmd *cobra.Command) {
	completeWith(cmd, "ma", cobra.ShellCompDirectiveNoFileComp,
		"20,50\tsimple moving averages of 20 and 50 candles", "ema20,ema50\texponential moving averages",
		"ema9,sma21\tan exponential and a simple one", "sma200\ta simple moving average of 200 candles")
}

func addDemoFlag(fs *pflag.FlagSet, cfg *Config) {
	fs.BoolVar(&cfg.Demo, "demo", false, "run the whole pipeline in this process: a simulated feed, the "+
		"flusher and a SQLite store, against an embedded Redis unless --redis, -h or -s names a server "+
		"(then it writes to it)")
}

// checkDashboard checks the dashboard's own flags.
func checkDashboard(cfg *Config, fs *pflag.FlagSet) error {
	// Without --demo the dashboard may read history from a store, nothing else.
	var err error
	fs.Visit(func(f *pflag.Flag) {
		// A config file may hold the demo's settings for when it runs: no --demo, no use.
		if g := groupOf(f); err == nil && !cfg.Demo && valueSource(f) == "" && (g == groupDemoFeed || g == groupDemoFlush) {
			err = usageErr("--%s needs --demo (or the feed/flush command)", f.Name)
		}
	})
	if err != nil {
		return err
	}
	if cfg.PollInterval < 100*time.Millisecond {
		return usageErr("--poll %v: must be at least 100ms", cfg.PollInterval)
	}
	if cfg.DiscoverEvery < cfg.PollInterval {
		return usageErr("--discover %v: must not be shorter than --poll %v", cfg.DiscoverEvery, cfg.PollInterval)
	}
	if cfg.FPS < 1 || cfg.FPS > 60 {
		return usageErr("--fps %d: want 1 to 60", cfg.FPS)
	}
	if cfg.Stale <= 0 {
		return usageErr("--stale %v: must be above 0", cfg.Stale)
	}
	if cfg.Status.Thresholds.ServiceStale <= 0 {
		return usageErr("--heartbeat-stale %v: must be above 0", cfg.Status.Thresholds.ServiceStale)
	}
	if fs.Changed("stale") {
		cfg.Status.Thresholds.Stale = cfg.Stale // the dashboard judges health by its own --stale
	}
	if ma := fs.Lookup("ma").Value.String(); ma != "" {
		if cfg.Averages, err = model.ParseMovingAverages(ma); err != nil {
			return usageErr("--ma %s: %v", ma, err)
		}
	}
	if cfg.FillCache && (cfg.Demo || cfg.Flush.Store == "") {
		return usageErr("--fill-cache fills a live server's cache from --store; it needs --store and no --demo")
	}
	return nil
}

// addStatusFlags are the flags of `quflx-tui status`.
func addStatusFlags(cmd *cobra.Command, cfg *Config) {
	st := &cfg.Status
	inGroup(cmd, groupStatus, func(fs *pflag.FlagSet) {
		fs.BoolVar(&cfg.JSON, "json", false, "print the report as one JSON object (schema 1)")
		fs.DurationVar(&st.Watch, "watch", 0, "repeat every `DURATION` until interrupted")
		fs.DurationVar(&st.Thresholds.Stale, "stale", st.Thresholds.Stale, "a feed silent longer than `DURATION` "+
			"is degraded")
		fs.Float64Var(&st.Thresholds.MaxFill, "max-fill", st.Thresholds.MaxFill, "a buffer fuller than `F` of its "+
			"cap is degraded")
		fs.IntVar(&st.Thresholds.Capacity, "capacity", st.Thresholds.Capacity, "the producers' buffer cap `N`")
		fs.DurationVar(&st.Thresholds.MaxHeartbeat, "max-heartbeat", st.Thresholds.MaxHeartbeat, "a flusher "+
			"heartbeat older than `D` is degraded")
		fs.DurationVar(&st.Thresholds.ServiceStale, "heartbeat-stale", st.Thresholds.ServiceStale, "a service "+
			"heartbeat (system_status) older than `D` is degraded")
		fs.BoolVar(&st.Thresholds.NoFlusher, "no-flusher", false, "do not require a flusher")
		fs.DurationVar(&st.Listen, "listen", st.Listen, "follow pub/sub for `D` before the report, to judge "+
			"services by their heartbeats and feeds by their ticks (quflx-v2 default: 6s, one heartbeat period and "+
			"a margin; 0: do not listen)")
		fs.DurationVar(&cfg.DiscoverEvery, "discover", cfg.DiscoverEvery, "with --watch, look for new keys with "+
			"SCAN every `DURATION`")
	})
}

func checkStatus(cfg *Config, fs *pflag.FlagSet) error {
	st := &cfg.Status
	if st.Watch < 0 || (st.Watch > 0 && st.Watch < 100*time.Millisecond) {
		return usageErr("--watch %v: want at least 100ms", st.Watch)
	}
	if st.Thresholds.Stale <= 0 {
		return usageErr("--stale %v: must be above 0", st.Thresholds.Stale)
	}
	if fs.Changed("stale") {
		cfg.Stale = st.Thresholds.Stale
	}
	if st.Thresholds.MaxFill <= 0 || st.Thresholds.MaxFill > 1 {
		return usageErr("--max-fill %g: want a fraction above 0, at most 1", st.Thresholds.MaxFill)
	}
	if st.Thresholds.Capacity < 1 {
		return usageErr("--capacity %d: must be above 0", st.Thresholds.Capacity)
	}
	if st.Thresholds.MaxHeartbeat <= 0 {
		return usageErr("--max-heartbeat %v: must be above 0", st.Thresholds.MaxHeartbeat)
	}
	if st.Thresholds.ServiceStale <= 0 {
		return usageErr("--heartbeat-stale %v: must be above 0", st.Thresholds.ServiceStale)
	}
	if st.Listen < 0 || st.Listen > time.Minute {
		return usageErr("--listen %v: want 0 to 1m", st.Listen)
	}
	if cfg.DiscoverEvery < cfg.PollInterval {
		return usageErr("--discover %v: must be at least %v", cfg.DiscoverEvery, cfg.PollInterval)
	}
	return nil
}

// The themes --theme takes.
var themeNames = []string{"auto", "dark", "light"}

// addThemeFlag is --theme, of the commands that draw the dashboard.
func addThemeFlag(cmd *cobra.Command, cfg *Config) {
	inGroup(cmd, groupOptions, func(fs *pflag.FlagSet) {
		fs.StringVar(&cfg.Theme, "theme", cfg.Theme, "colour theme `auto|dark|light`: dark or light for the terminal's "+
			"background; auto asks the terminal, and takes dark when it does not answer at once")
	})
	completeWith(cmd, "theme", cobra.ShellCompDirectiveNoFileComp,
		"auto\tfollow the terminal's background", "dark\ta dark background", "light\ta light background")
}

// checkTheme checks --theme.
func checkTheme(cfg *Config) error {
	if !slices.Contains(themeNames, cfg.Theme) {
		return usageErr("--theme %s: want auto, dark or light", model.Printable(cfg.Theme))
	}
	return nil
}
