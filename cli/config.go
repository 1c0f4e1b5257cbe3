// Package cli turns quflx-tui's command line, environment and env file into one Config
// and runs the chosen mode. main.go only calls Main.
package cli

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/joho/godotenv"
	flag "github.com/spf13/pflag"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata"
)

// Config is everything a mode needs, resolved from flags, environment, env file and
// defaults (in that order of precedence).
type Config struct {
	Command string // "" (the monitor), or a subcommand name

	Redis       redisdata.Options
	RedisSource string // where the address came from, for messages: "flag", "env", "file", "default"

	TickKey  model.KeyPattern
	Channel  model.KeyPattern
	CacheKey model.KeyPattern
	Assets   []string // empty: discover

	PollInterval  time.Duration
	DiscoverEvery time.Duration
	NoUI          bool
	FPS           int           // dashboard repaints per second at most
	ASCII         bool          // no Unicode box and braille glyphs
	Stale         time.Duration // a feed silent this long is shown stale
	FillCache     bool          // live: fill the candle cache from --store on a miss (a write)
	LogFile       string        // where log lines go while the dashboard owns the terminal

	Demo  bool        // run the whole pipeline in-process (embedded Redis without --redis)
	Feed  FeedConfig  // feed and demo
	Flush FlushConfig // flush and demo

	Status StatusConfig // status

	AllowWrites bool // mcp: offer the write tools

	Duration time.Duration // feed and flush: stop after this long (0: until signalled)
	JSON     bool          // feed and flush: closing summary as one JSON object

	ShowHelp    bool
	ShowVersion bool
}

// FeedConfig configures the simulator or replay feed.
type FeedConfig struct {
	Rate     float64 // ticks per second per asset
	Seed     uint64
	Bursts   bool
	Producer redisdata.ProducerVersion
	Replay   []string // CSV files; empty: synthetic ticks
	Speed    float64
	Date     time.Time // for time-of-day recordings
	Loop     bool
	KeepTime bool
	Count    int64         // stop after this many ticks
	Backfill time.Duration // synthetic candle history written at start
}

// StatusConfig configures `quflx-tui status`.
type StatusConfig struct {
	Watch      time.Duration // repeat every Watch (0: once)
	Thresholds redisdata.Thresholds
}

// FlushConfig configures the batch flusher.
type FlushConfig struct {
	Store     string // DSN: sqlite:PATH or postgres://...
	Interval  time.Duration
	HighWater int
	PauseAt   string // crash-test hook, from QUFLX_FLUSH_PAUSE_AT
}

// UsageError is a bad command line or configuration: exit status 2, one line.
type UsageError struct{ msg string }

func (e *UsageError) Error() string { return e.msg }

func usageErr(format string, args ...any) error {
	return &UsageError{msg: fmt.Sprintf(format, args...)}
}

// Env looks up an environment variable (os.LookupEnv in production, a map in tests).
type Env func(key string) (string, bool)

// flagValues holds the raw flag values before resolution.
type flagValues struct {
	url, host, socket, user, password string
	port, db                          int
	useTLS, insecure                  bool
	cacert, envFile                   string
	tickKey, channel, cacheKey        string
	assets                            []string
	poll, discover                    time.Duration
	noUI, help, version               bool

	demo, bursts, loop, keepTime, json bool
	rate, speed                        float64
	seed                               uint64
	producer, date, store              string
	replay                             []string
	count                              int64
	backfill, duration, flushEvery     time.Duration
	highWater                          int
	fps                                int
	ascii, fillCache                   bool
	stale                              time.Duration
	logFile                            string
	watch, maxHeartbeat                time.Duration
	maxFill                            float64
	noFlusher                          bool
	capacity                           int
	allowWrites                        bool
}

// Flags by command. Connection, key and general flags are everyone's.
var (
	commonFlags = []string{"redis", "host", "port", "socket", "db", "password", "user", "tls", "cacert",
		"insecure", "env-file", "tick-key", "channel", "cache-key", "assets", "help", "version"}
	feedFlags  = []string{"rate", "seed", "bursts", "producer", "replay", "speed", "date", "loop", "keep-time", "count", "backfill"}
	flushFlags = []string{"store", "flush-interval", "high-water"}
	runFlags   = []string{"duration", "json"}
	// The dashboard takes the pipeline's flags with --demo.
	commandFlags = map[string][]string{
		"": concat(commonFlags, []string{"poll", "discover", "no-ui", "demo", "duration", "fps", "ascii", "stale",
			"fill-cache", "log"}, feedFlags, flushFlags),
		"feed":  concat(commonFlags, feedFlags, runFlags),
		"flush": concat(commonFlags, flushFlags, runFlags),
		"status": concat(commonFlags, []string{"json", "watch", "stale", "max-fill", "max-heartbeat", "no-flusher",
			"capacity", "discover"}),
		"mcp": concat(commonFlags, []string{"allow-writes"}),
	}
)

func concat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

func newFlagSet(v *flagValues) *flag.FlagSet {
	fs := flag.NewFlagSet("quflx-tui", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by Main, in one line
	fs.SortFlags = false
	fs.StringVar(&v.url, "redis", "", "")
	fs.StringVarP(&v.host, "host", "h", "", "")
	fs.IntVarP(&v.port, "port", "p", 0, "")
	fs.StringVarP(&v.socket, "socket", "s", "", "")
	fs.IntVarP(&v.db, "db", "n", 0, "")
	fs.StringVarP(&v.password, "password", "a", "", "")
	fs.StringVar(&v.user, "user", "", "")
	fs.BoolVar(&v.useTLS, "tls", false, "")
	fs.StringVar(&v.cacert, "cacert", "", "")
	fs.BoolVar(&v.insecure, "insecure", false, "")
	fs.StringVar(&v.envFile, "env-file", "", "")
	fs.StringVar(&v.tickKey, "tick-key", "ticks:{asset}", "")
	fs.StringVar(&v.channel, "channel", "updates:{asset}", "")
	fs.StringVar(&v.cacheKey, "cache-key", "historical:{asset}:{timeframe}", "")
	fs.StringSliceVar(&v.assets, "assets", nil, "")
	fs.DurationVar(&v.poll, "poll", time.Second, "")
	fs.DurationVar(&v.discover, "discover", 15*time.Second, "")
	fs.BoolVar(&v.noUI, "no-ui", false, "")
	fs.BoolVar(&v.help, "help", false, "")
	fs.BoolVar(&v.version, "version", false, "")
	fs.BoolVar(&v.demo, "demo", false, "")
	fs.Float64Var(&v.rate, "rate", 4, "")
	fs.Uint64Var(&v.seed, "seed", 1, "")
	fs.BoolVar(&v.bursts, "bursts", true, "")
	fs.StringVar(&v.producer, "producer", "v1", "")
	fs.StringArrayVar(&v.replay, "replay", nil, "")
	fs.Float64Var(&v.speed, "speed", 1, "")
	fs.StringVar(&v.date, "date", "", "")
	fs.BoolVar(&v.loop, "loop", false, "")
	fs.BoolVar(&v.keepTime, "keep-time", false, "")
	fs.Int64Var(&v.count, "count", 0, "")
	fs.DurationVar(&v.backfill, "backfill", 0, "")
	fs.StringVar(&v.store, "store", "", "")
	fs.DurationVar(&v.flushEvery, "flush-interval", 30*time.Second, "")
	fs.IntVar(&v.highWater, "high-water", 500, "")
	fs.DurationVar(&v.duration, "duration", 0, "")
	fs.BoolVar(&v.json, "json", false, "")
	fs.IntVar(&v.fps, "fps", 15, "")
	fs.BoolVar(&v.ascii, "ascii", false, "")
	fs.DurationVar(&v.stale, "stale", 10*time.Second, "")
	fs.BoolVar(&v.fillCache, "fill-cache", false, "")
	fs.StringVar(&v.logFile, "log", "", "")
	fs.DurationVar(&v.watch, "watch", 0, "")
	fs.Float64Var(&v.maxFill, "max-fill", 0.9, "")
	fs.DurationVar(&v.maxHeartbeat, "max-heartbeat", 10*time.Second, "")
	fs.BoolVar(&v.noFlusher, "no-flusher", false, "")
	fs.IntVar(&v.capacity, "capacity", 1000, "")
	fs.BoolVar(&v.allowWrites, "allow-writes", false, "")
	return fs
}

// commands lists the subcommands.
var commands = map[string]bool{"feed": true, "flush": true, "status": true, "mcp": true}

// Parse resolves a Config from the arguments (without the program name) and env.
func Parse(args []string, env Env) (Config, error) {
	var cfg Config
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		if !commands[args[0]] {
			return cfg, usageErr("unknown command %q", args[0])
		}
		cfg.Command, args = args[0], args[1:]
	}
	var v flagValues
	fs := newFlagSet(&v)
	if err := fs.Parse(args); err != nil {
		return cfg, usageErr("%s", strings.TrimPrefix(err.Error(), "flag: "))
	}
	if fs.NArg() > 0 {
		return cfg, usageErr("unexpected argument %q", fs.Arg(0))
	}
	cfg.ShowHelp, cfg.ShowVersion = v.help, v.version
	if cfg.ShowHelp || cfg.ShowVersion {
		return cfg, nil
	}
	if err := checkFlagsOfCommand(fs, cfg.Command, v.demo); err != nil {
		return cfg, err
	}

	layers := []connLayer{}
	if v.envFile != "" {
		file, err := readEnvFile(v.envFile)
		if err != nil {
			return cfg, err
		}
		layers = append(layers, file)
	}
	envLayer, err := layerFromEnv("environment", env)
	if err != nil {
		return cfg, err
	}
	layers = append(layers, envLayer)
	layers = append(layers, layerFromFlags(fs, &v))
	if cfg.Redis, cfg.RedisSource, err = resolveConn(layers); err != nil {
		return cfg, err
	}
	if err := applyTLS(&cfg.Redis, &v); err != nil {
		return cfg, err
	}

	for _, p := range []struct {
		flag, text string
		dst        *model.KeyPattern
		needTF     bool
	}{
		{"--tick-key", v.tickKey, &cfg.TickKey, false},
		{"--channel", v.channel, &cfg.Channel, false},
		{"--cache-key", v.cacheKey, &cfg.CacheKey, true},
	} {
		kp, err := model.ParseKeyPattern(p.text)
		if err != nil {
			return cfg, usageErr("%s: %v", p.flag, err)
		}
		if p.needTF && !kp.HasTimeframe() {
			return cfg, usageErr("%s %q has no {timeframe}", p.flag, p.text)
		}
		*p.dst = kp
	}
	for _, a := range v.assets {
		if a = strings.TrimSpace(a); a != "" {
			cfg.Assets = append(cfg.Assets, a)
		}
	}
	if v.poll < 100*time.Millisecond {
		return cfg, usageErr("--poll %v: must be at least 100ms", v.poll)
	}
	if v.discover < v.poll {
		return cfg, usageErr("--discover %v: must not be shorter than --poll %v", v.discover, v.poll)
	}
	cfg.PollInterval, cfg.DiscoverEvery, cfg.NoUI = v.poll, v.discover, v.noUI
	cfg.Demo, cfg.Duration, cfg.JSON = v.demo, v.duration, v.json
	if v.fps < 1 || v.fps > 60 {
		return cfg, usageErr("--fps %d: want 1 to 60", v.fps)
	}
	if v.stale <= 0 {
		return cfg, usageErr("--stale %v: must be above 0", v.stale)
	}
	if v.fillCache && (v.demo || v.store == "") {
		return cfg, usageErr("--fill-cache fills a live server's cache from --store; it needs --store and no --demo")
	}
	cfg.FPS, cfg.ASCII, cfg.Stale, cfg.FillCache, cfg.LogFile = v.fps, v.ascii, v.stale, v.fillCache, v.logFile
	if err := parseStatus(&cfg.Status, &v, fs); err != nil {
		return cfg, err
	}
	cfg.AllowWrites = v.allowWrites
	if v.duration < 0 {
		return cfg, usageErr("--duration %v: must not be negative", v.duration)
	}
	if err := parseFeed(&cfg.Feed, &v); err != nil {
		return cfg, err
	}
	if err := parseFlush(&cfg.Flush, &v, env); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// checkFlagsOfCommand refuses flags that mean nothing to the chosen command, so that a
// typo'd command line never silently does something else.
func checkFlagsOfCommand(fs *flag.FlagSet, command string, demo bool) error {
	var err error
	fs.Visit(func(f *flag.Flag) {
		if err != nil {
			return
		}
		if !slices.Contains(commandFlags[command], f.Name) {
			err = usageErr("--%s is not a flag of %q", f.Name, strings.TrimSpace("quflx-tui "+command))
			return
		}
		// Without --demo the dashboard may read history from a store, nothing else.
		if command == "" && !demo && f.Name != "store" && (slices.Contains(feedFlags, f.Name) || slices.Contains(flushFlags, f.Name)) {
			err = usageErr("--%s needs --demo (or the feed/flush command)", f.Name)
		}
	})
	return err
}

func parseFeed(fc *FeedConfig, v *flagValues) error {
	if v.rate <= 0 || v.rate > 1e6 {
		return usageErr("--rate %g: want ticks per second per asset, above 0", v.rate)
	}
	if v.speed <= 0 {
		return usageErr("--speed %g: must be above 0", v.speed)
	}
	if v.count < 0 {
		return usageErr("--count %d: must not be negative", v.count)
	}
	producer, err := redisdata.ParseProducerVersion(v.producer)
	if err != nil {
		return usageErr("--producer: %v", err)
	}
	*fc = FeedConfig{Rate: v.rate, Seed: v.seed, Bursts: v.bursts, Producer: producer, Replay: v.replay,
		Speed: v.speed, Loop: v.loop, KeepTime: v.keepTime, Count: v.count, Backfill: v.backfill}
	if v.date != "" {
		if fc.Date, err = time.Parse(time.DateOnly, v.date); err != nil {
			return usageErr("--date %q: want YYYY-MM-DD", v.date)
		}
	}
	for _, path := range v.replay {
		if _, err := os.Stat(path); err != nil {
			return usageErr("--replay %s: %v", path, errors.Unwrap(err))
		}
	}
	return nil
}

func parseFlush(fc *FlushConfig, v *flagValues, env Env) error {
	if v.flushEvery < 100*time.Millisecond {
		return usageErr("--flush-interval %v: must be at least 100ms", v.flushEvery)
	}
	if v.highWater < 1 || v.highWater > 1_000_000 {
		return usageErr("--high-water %d: want 1 to 1000000", v.highWater)
	}
	if v.store != "" && !strings.HasPrefix(v.store, "sqlite:") && !strings.HasPrefix(v.store, "postgres://") &&
		!strings.HasPrefix(v.store, "postgresql://") {
		return usageErr("--store %q: want sqlite:PATH or postgres://...", v.store)
	}
	*fc = FlushConfig{Store: v.store, Interval: v.flushEvery, HighWater: v.highWater}
	fc.PauseAt, _ = env("QUFLX_FLUSH_PAUSE_AT")
	return nil
}

// connLayer is one source of connection settings; nil fields are not set by it.
type connLayer struct {
	name                              string
	url, host, socket, user, password *string
	port, db                          *int
}

func layerFromFlags(fs *flag.FlagSet, v *flagValues) connLayer {
	return connLayer{
		name: "flag", url: ifSet(fs, "redis", &v.url), host: ifSet(fs, "host", &v.host),
		socket: ifSet(fs, "socket", &v.socket), user: ifSet(fs, "user", &v.user),
		password: ifSet(fs, "password", &v.password), port: ifSet(fs, "port", &v.port), db: ifSet(fs, "db", &v.db),
	}
}

// ifSet returns v when the flag was given, nil otherwise: a default is not a setting.
func ifSet[T any](fs *flag.FlagSet, name string, v *T) *T {
	if fs.Changed(name) {
		return v
	}
	return nil
}

// layerFromEnv reads REDIS_URL and QuFLX's REDIS_HOST, REDIS_PORT, REDIS_DB,
// REDIS_PASSWORD (plus REDIS_USERNAME for ACL users).
func layerFromEnv(name string, env Env) (connLayer, error) {
	l := connLayer{name: name}
	str := func(key string) *string {
		if s, ok := env(key); ok && s != "" {
			return &s
		}
		return nil
	}
	num := func(key string) (*int, error) {
		s := str(key)
		if s == nil {
			return nil, nil
		}
		n, err := strconv.Atoi(strings.TrimSpace(*s))
		if err != nil {
			return nil, usageErr("%s=%q in the %s is not a number", key, *s, name)
		}
		return &n, nil
	}
	var err error
	l.url, l.host, l.password = str("REDIS_URL"), str("REDIS_HOST"), str("REDIS_PASSWORD")
	l.user = str("REDIS_USERNAME")
	if l.port, err = num("REDIS_PORT"); err != nil {
		return l, err
	}
	if l.db, err = num("REDIS_DB"); err != nil {
		return l, err
	}
	return l, nil
}

func readEnvFile(path string) (connLayer, error) {
	vals, err := godotenv.Read(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return connLayer{}, usageErr("--env-file %s: no such file", path)
		}
		return connLayer{}, usageErr("--env-file %s: %v", path, err)
	}
	return layerFromEnv("env file "+path, func(k string) (string, bool) {
		v, ok := vals[k]
		return v, ok
	})
}

// resolveConn folds the layers, lowest precedence first. Within a layer a URL comes
// first and its single settings override the URL's parts; a URL in a higher layer
// replaces everything below it.
func resolveConn(layers []connLayer) (redisdata.Options, string, error) {
	o := redisdata.Options{Addr: redisdata.DefaultAddr, Network: "tcp"}
	source := "default"
	for _, l := range layers {
		if l.url != nil {
			parsed, err := redisdata.ParseURL(*l.url)
			if err != nil {
				return o, "", usageErr("%s: %v", l.name, err)
			}
			o, source = parsed, l.name
		}
		if l.socket != nil {
			o.Network, o.Addr, source = "unix", *l.socket, l.name
		}
		if l.host != nil || l.port != nil {
			host, port := "localhost", "6379"
			if o.Network == "tcp" {
				if h, p, err := net.SplitHostPort(o.Addr); err == nil {
					host, port = h, p
				}
			}
			if l.host != nil {
				host = *l.host
			}
			if l.port != nil {
				if *l.port < 1 || *l.port > 65535 {
					return o, "", usageErr("%s: port %d is out of range", l.name, *l.port)
				}
				port = strconv.Itoa(*l.port)
			}
			o.Network, o.Addr, source = "tcp", net.JoinHostPort(host, port), l.name
		}
		if l.db != nil {
			if *l.db < 0 {
				return o, "", usageErr("%s: db %d must not be negative", l.name, *l.db)
			}
			o.DB = *l.db
		}
		if l.user != nil {
			o.Username = *l.user
		}
		if l.password != nil {
			o.Password = *l.password
		}
	}
	return o, source, nil
}

// applyTLS sets up TLS from --tls, --cacert and --insecure (rediss:// already did the
// first).
func applyTLS(o *redisdata.Options, v *flagValues) error {
	if v.useTLS && o.TLS == nil {
		host, _, err := net.SplitHostPort(o.Addr)
		if err != nil {
			host = o.Addr
		}
		o.TLS = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	if (v.cacert != "" || v.insecure) && o.TLS == nil {
		return usageErr("--cacert and --insecure need --tls or a rediss:// URL")
	}
	if v.cacert != "" {
		pem, err := os.ReadFile(v.cacert)
		if err != nil {
			return usageErr("--cacert: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return usageErr("--cacert %s: no PEM certificate in it", v.cacert)
		}
		o.TLS.RootCAs = pool
	}
	if v.insecure {
		o.TLS.InsecureSkipVerify = true
	}
	return nil
}

func parseStatus(sc *StatusConfig, v *flagValues, fs *flag.FlagSet) error {
	if v.watch < 0 || (v.watch > 0 && v.watch < 100*time.Millisecond) {
		return usageErr("--watch %v: want at least 100ms", v.watch)
	}
	if v.maxFill <= 0 || v.maxFill > 1 {
		return usageErr("--max-fill %g: want a fraction above 0, at most 1", v.maxFill)
	}
	if v.capacity < 1 {
		return usageErr("--capacity %d: must be above 0", v.capacity)
	}
	if v.maxHeartbeat <= 0 {
		return usageErr("--max-heartbeat %v: must be above 0", v.maxHeartbeat)
	}
	stale := time.Minute // a health check waits longer than a screen before crying stale
	if fs.Changed("stale") {
		stale = v.stale
	}
	*sc = StatusConfig{Watch: v.watch, Thresholds: redisdata.Thresholds{
		Capacity: v.capacity, MaxFill: v.maxFill, Stale: stale, MaxHeartbeat: v.maxHeartbeat, NoFlusher: v.noFlusher,
	}}
	return nil
}
