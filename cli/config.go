// Package cli turns quflx-tui's command line, environment and env file into one Config
// and runs the chosen mode. main.go only calls Main.
//
// The command line is a tree of cobra commands (commands.go), one per mode, each with the
// flag groups it takes (conn.go, flags.go) and the one list of checks of its settings;
// the help (manual.go), the man page and the shell completions (manpage.go) are generated
// from the same definitions, with the texts of help.go.
package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/quflx/quflx-tui/alert"
	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata"
	"github.com/quflx/quflx-tui/ui"
)

// Config is everything a mode needs, resolved from flags, environment, env file and
// defaults (in that order of precedence). Every command's Config starts from defaults, so
// a mode never meets a zero it did not ask for; the command's flags and checks do the
// rest (see commands.go).
type Config struct {
	Command string // "" (the monitor), or a subcommand name

	Redis       redisdata.Options
	RedisSource string // where the address came from, for messages: "flag", "env", "file", "default"
	// RedisNamed is the server the command line alone names (--redis, -h or -s, with the
	// command line's own port, database and credentials), nil when it names none: what
	// --demo may write to. The environment never makes the demo write anywhere.
	RedisNamed *redisdata.Options

	TickKey   model.KeyPattern
	Channel   model.KeyPattern
	CacheKey  model.KeyPattern
	Assets    []string // empty: discover
	MaxAssets int      // assets tracked beyond the named ones
	Topology  TopologyConfig

	PollInterval  time.Duration
	DiscoverEvery time.Duration
	NoUI          bool
	FPS           int                   // dashboard repaints per second at most
	ASCII         bool                  // no Unicode box and braille glyphs
	Stale         time.Duration         // a feed silent this long is shown stale
	FillCache     bool                  // live: fill the candle cache from --store on a miss (a write)
	LogFile       string                // where log lines go while the dashboard owns the terminal
	Averages      []model.MovingAverage // drawn over the chart (--ma)

	Demo  bool        // run the whole pipeline in-process (embedded Redis without --redis)
	Feed  FeedConfig  // feed and demo
	Flush FlushConfig // flush and demo

	Status StatusConfig // status

	Alerts AlertConfig // the dashboard and --no-ui

	AllowWrites bool // mcp: offer the write tools

	Serve ServeConfig // serve

	Duration time.Duration // feed and flush: stop after this long (0: until signalled)
	JSON     bool          // feed and flush: closing summary as one JSON object

	CPUProfile string // write a CPU profile of the run here (--cpuprofile, QUFLX_CPUPROFILE)

	Metrics string // serve Prometheus metrics at http://Metrics/metrics ("": none)

	// flusherStatusKey is where the watched flusher publishes ("": the usual key); the
	// demo's own, for the demo's --no-ui.
	flusherStatusKey string

	ConfigFile string          // the config file read ("" none)
	Theme      string          // auto, dark or light (--theme)
	Keys       *ui.KeyMap      // the config file's [keys] applied; nil: the default keys
	Groups     []ui.WatchGroup // the config file's watchlist groups

	ShowHelp    bool
	ShowVersion bool
}

// FeedConfig configures the simulator or replay feed.
type FeedConfig struct {
	Rate     float64 // ticks per second per asset
	Seed     uint64  // 0: a new one each run (resolveSeed)
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
	// Listen is how long status follows pub/sub before it reports: under QuFLX v2 health
	// is judged from heartbeats (every 5 s) and ticks, so one snapshot must hear some.
	Listen time.Duration
}

// AlertConfig configures the alerts of the dashboard and of --no-ui.
type AlertConfig struct {
	Prices      []model.PriceRule // --alert-price
	Hold        time.Duration     // a condition holds this long to fire, is gone this long to resolve
	Bell        bool              // ring the terminal bell when an alert fires
	Exec        string            // run with sh -c for each transition, its JSON on stdin
	ExecTimeout time.Duration     // a run longer than this is killed
}

// ServeConfig configures `quflx-tui serve`, the dashboard over SSH.
type ServeConfig struct {
	Listen         string        // host:port
	AuthorizedKeys string        // the public keys that may connect, authorized_keys format
	HostKey        string        // the server's private key, generated there when missing
	MaxSessions    int           // live sessions at most; the next is refused
	IdleTimeout    time.Duration // a session without input this long is closed (0: never)
}

// The profiles (--profile): the topology of a QuFLX deployment.
const (
	ProfileV1 = redisdata.TopologyV1
	ProfileV2 = redisdata.TopologyV2
)

// TopologyConfig is what the pipeline keeps in Redis and publishes (--profile and the
// flags that override it).
type TopologyConfig struct {
	Profile    string // ProfileV1 or ProfileV2
	PubSubOnly bool   // no buffers or cache expected (v2)
	// Side channels followed on the subscriber's connection; "" or none: not followed.
	HeartbeatChannels                          []string
	SignalChannel, RegimeChannel, AlertChannel string
	ExpectServices                             []string
}

// v2Topology is QuFLX v2's: every asset on market_data, services beating on
// system_status, the scanner on scan:heartbeat.
var v2Topology = TopologyConfig{Profile: ProfileV2, PubSubOnly: true,
	HeartbeatChannels: []string{"system_status", "scan:heartbeat"}, SignalChannel: "trading:signals",
	RegimeChannel: "strategy:regime", AlertChannel: "alerts:dispatched"}

// v2Channel is the channel QuFLX v2 publishes every asset's ticks on.
const v2Channel = "market_data"

// v2Listen is status's default listening window under v2: longer than one heartbeat
// period (5 s), so each live service is heard once.
const v2Listen = 6 * time.Second

// FlushConfig configures the batch flusher.
type FlushConfig struct {
	Store      string // DSN: sqlite:PATH or postgres://...
	Interval   time.Duration
	HighWater  int
	MaxBacklog int64         // claimed, uncommitted entries at which claiming stops
	Lease      time.Duration // how long a silent flusher keeps its claims
	PauseAt    string        // crash-test hook, from QUFLX_FLUSH_PAUSE_AT
}

// UsageError is a bad command line or configuration: exit status 2, one line.
type UsageError struct{ msg string }

func (e *UsageError) Error() string { return e.msg }

func usageErr(format string, args ...any) error {
	return &UsageError{msg: fmt.Sprintf(format, args...)}
}

// Env looks up an environment variable (os.LookupEnv in production, a map in tests).
type Env func(key string) (string, bool)

// defaults returns the Config of a command given no flags. The flags take their defaults
// from it, so each default is written once.
func defaults(command string, env Env) Config {
	cfg := Config{
		Command:       command,
		Redis:         redisdata.Options{Addr: redisdata.DefaultAddr, Network: "tcp"},
		RedisSource:   "default",
		TickKey:       mustPattern("ticks:{asset}"),
		Channel:       mustPattern("updates:{asset}"),
		CacheKey:      mustPattern("historical:{asset}:{timeframe}"),
		MaxAssets:     model.DefaultMaxAssets,
		Topology:      TopologyConfig{Profile: ProfileV1},
		PollInterval:  time.Second,
		DiscoverEvery: 15 * time.Second,
		FPS:           15,
		Theme:         "auto",
		Stale:         10 * time.Second,
		Alerts:        AlertConfig{Hold: model.DefaultAlertHold, ExecTimeout: alert.DefaultExecTimeout},
		Feed:          FeedConfig{Rate: 4, Bursts: true, Producer: redisdata.ProducerV1, Speed: 1},
		Flush:         FlushConfig{Interval: 30 * time.Second, HighWater: 500, MaxBacklog: 1_000_000, Lease: 15 * time.Second},
		// A health check waits longer than a screen before crying stale.
		Status: StatusConfig{Thresholds: redisdata.Thresholds{Capacity: 1000, MaxFill: 0.9, Stale: time.Minute,
			MaxHeartbeat: 10 * time.Second, ServiceStale: 15 * time.Second}},
	}
	cfg.Serve = ServeConfig{Listen: "localhost:23234", MaxSessions: 32, IdleTimeout: 30 * time.Minute}
	cfg.Flush.PauseAt, _ = env("QUFLX_FLUSH_PAUSE_AT")
	cfg.CPUProfile, _ = env("QUFLX_CPUPROFILE")
	return cfg
}

func mustPattern(s string) model.KeyPattern {
	p, err := model.ParseKeyPattern(s)
	if err != nil {
		panic(err)
	}
	return p
}

// Parse resolves the Config that Main would run with for these arguments (without the
// program name) and environment, without running anything: for tests. --help and
// --version come back as ShowHelp and ShowVersion.
func Parse(args []string, env Env) (Config, error) {
	var got Config
	a := &app{env: env, run: func(_ context.Context, cfg Config, _, _ io.Writer) error {
		got = cfg
		return nil
	}}
	cmd, err := a.execute(context.Background(), args, io.Discard, io.Discard)
	if help, _ := cmd.Flags().GetBool("help"); help && err == nil {
		got.ShowHelp = true
	}
	return got, err
}
