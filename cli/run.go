package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/quflx/quflx-tui/metrics"
	"github.com/quflx/quflx-tui/redisdata"
	"github.com/quflx/quflx-tui/store"
	"github.com/quflx/quflx-tui/ui"
)

// ConnectError is a server that cannot be reached when a mode starts: exit status 2.
type ConnectError struct {
	What     string // "Redis" (default) or "the store"
	Endpoint string
	Err      error
}

func (e *ConnectError) Error() string {
	what := e.What
	if what == "" {
		what = "Redis"
	}
	return fmt.Sprintf("cannot reach %s at %s: %v", what, e.Endpoint, e.Err)
}

func (e *ConnectError) Unwrap() error { return e.Err }

// Main runs quflx-tui with args (without the program name) and returns the exit status:
// 0; 1 failed (status: degraded); 2 a bad command line or configuration, or an
// unreachable server, in one line on stderr.
func Main(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a := &app{env: os.LookupEnv, run: runMode}
	cmd, err := a.execute(ctx, args, stdout, stderr)
	if err != nil && !a.started {
		fmt.Fprintf(stderr, "quflx-tui: %v (see %s --help)\n", err, cmd.CommandPath())
		return 2
	}
	return exitStatus(err, stderr)
}

// runMode runs the mode cfg names.
func runMode(ctx context.Context, cfg Config, stdout, stderr io.Writer) error {
	if cfg.ShowVersion {
		fmt.Fprintln(stdout, Version())
		return nil
	}
	if cfg.CPUProfile != "" {
		stopProfile, err := startCPUProfile(cfg.CPUProfile)
		if err != nil {
			return &UsageError{msg: err.Error()}
		}
		defer stopProfile()
	}
	// go-redis logs every failed dial to stderr; our own state reporting says it better,
	// and stderr belongs to the dashboard.
	redisdata.RouteLogs(nil)

	ex, err := startMetrics(cfg, stderr)
	if err != nil {
		return err
	}
	defer ex.Close()
	if cfg.Demo && cfg.RedisNamed != nil {
		cfg = demoOnANamedServer(cfg)
	}

	switch {
	case cfg.Command == "feed":
		return runFeed(ctx, cfg, ex, stdout, stderr)
	case cfg.Command == "flush":
		return runFlush(ctx, cfg, ex, stdout, stderr)
	case cfg.Command == "status":
		return runStatus(ctx, cfg, stdout)
	case cfg.Command == "serve":
		return runServe(ctx, cfg, ex, stderr)
	case cfg.Command == "mcp":
		return runMCP(ctx, cfg, stderr)
	case cfg.Command == "migrate":
		return runMigrate(ctx, cfg, stdout)
	case cfg.Demo:
		return runDemo(ctx, cfg, ex, stdout, stderr)
	case cfg.NoUI:
		return runMonitor(ctx, cfg, ex, stdout, nil)
	}
	return runLive(ctx, cfg, ex, stderr)
}

// startCPUProfile writes a CPU profile of the whole run to path (a debugging aid).
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func exitStatus(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var code exitCode
	if errors.As(err, &code) {
		return int(code)
	}
	fmt.Fprintf(stderr, "quflx-tui: %v\n", err)
	var usage *UsageError
	var connect *ConnectError
	if errors.As(err, &usage) || errors.As(err, &connect) {
		return 2
	}
	return 1
}

// connect builds a client and checks that the server answers, so that a wrong address
// fails at once with one clear line instead of a screen that says "reconnecting". A
// Redis Cluster node is recognised and the whole cluster reached from it (--cluster).
func connect(ctx context.Context, opts redisdata.Options) (*redisdata.Client, error) {
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := redisdata.Dial(pingCtx, opts)
	if err != nil {
		if isConfigError(err) {
			return nil, &UsageError{msg: err.Error()}
		}
		return nil, &ConnectError{Endpoint: opts.Endpoint(), Err: err}
	}
	return c, nil
}

// openReader is the client of status and mcp, which report an unreachable server rather
// than refuse to start: it asks the server whether it is a cluster node (Dial) and, when
// the server does not answer, returns a client that connects on first use (as a single
// server: a cluster that is down has no nodes to find).
func openReader(ctx context.Context, opts redisdata.Options) (*redisdata.Client, error) {
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := redisdata.Dial(pingCtx, opts)
	if err == nil {
		return c, nil
	}
	if isConfigError(err) {
		return nil, &UsageError{msg: err.Error()}
	}
	if c, err = redisdata.NewClient(opts); err != nil {
		return nil, &UsageError{msg: err.Error()}
	}
	return c, nil
}

// daemonPatience is how long feed and flush keep trying to reach Redis at start: a
// daemon started during a failover or a network blip should wait it out, while a wrong
// address still ends with one clear line.
const daemonPatience = 30 * time.Second

// connectPatiently is connect for the daemons that write (feed, flush), retried with
// backoff for up to patience on network failures; a refusal by the server (a wrong
// password, a missing permission) is final at once, and so is a single node of a cluster
// given with --cluster off (see refusePartialNode).
func connectPatiently(ctx context.Context, opts redisdata.Options, patience time.Duration, log func(string)) (*redisdata.Client, error) {
	deadline := time.Now().Add(patience)
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		c, err := connect(ctx, opts)
		if err == nil {
			if attempt > 1 {
				log(fmt.Sprintf("reached Redis at %s after %d attempts", opts.Endpoint(), attempt))
			}
			if err := refusePartialNode(ctx, c, opts); err != nil {
				c.Close()
				return nil, err
			}
			return c, nil
		}
		var ce *ConnectError
		if !errors.As(err, &ce) || redisdata.IsServerRefusal(ce.Err) || time.Now().Add(backoff).After(deadline) {
			return nil, err
		}
		if attempt == 1 {
			log(fmt.Sprintf("%v; retrying for up to %s", err, patience))
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// refusePartialNode refuses a single-node client (--cluster off) whose server is a master
// of a Redis Cluster holding only part of the slots. A daemon that writes would do part
// of its job and look done: the feed's writes to other slots fail with MOVED, and a
// flusher's SCAN sees only that node's buffers, so it stored a third of the ticks and
// exited 0. --cluster off promises a loud failure rather than a third of the keys; for a
// daemon, that is at start, before it writes anything.
func refusePartialNode(ctx context.Context, c *redisdata.Client, opts redisdata.Options) error {
	if opts.Cluster != redisdata.ClusterOff || c.IsCluster() {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	info, err := c.Info(ctx, "cluster").Result()
	if err != nil || !strings.Contains(info, "cluster_enabled:1") {
		return nil // a single server, or one that will not say (miniredis, a restricted user)
	}
	holds := "part of the 16384 slots"
	if nodes, err := c.ClusterNodes(ctx).Result(); err == nil {
		n := ownSlots(nodes)
		if n == 16384 {
			return nil // a cluster of one master: every key is on this node
		}
		holds = fmt.Sprintf("%d of the 16384 slots", n)
	}
	return &UsageError{msg: fmt.Sprintf("%s is a node of a Redis Cluster holding %s: with --cluster off only "+
		"the keys of its own slots can be reached, and the others' would be left alone; leave --cluster at auto "+
		"to reach the whole cluster from this node", opts.Endpoint(), holds)}
}

// ownSlots counts the slots CLUSTER NODES says the answering node ("myself") holds.
func ownSlots(clusterNodes string) int {
	for line := range strings.Lines(clusterNodes) {
		f := strings.Fields(line)
		if len(f) < 8 || !strings.Contains(","+f[2]+",", ",myself,") {
			continue
		}
		n := 0
		for _, r := range f[8:] {
			if strings.HasPrefix(r, "[") {
				continue // a slot being migrated or imported: counted by its owner's range
			}
			lo, hi, isRange := strings.Cut(r, "-")
			if !isRange {
				hi = lo
			}
			a, errA := strconv.Atoi(lo)
			b, errB := strconv.Atoi(hi)
			if errA == nil && errB == nil && b >= a {
				n += b - a + 1
			}
		}
		return n
	}
	return 0
}

// isConfigError tells options the client refused (not the server) from a failure to reach
// the server.
func isConfigError(err error) bool {
	var ce *redisdata.ConfigError
	return errors.As(err, &ce)
}

// runMigrate is `quflx-tui migrate`: the one command, besides the flusher, that changes a
// store's schema, and only because the user asked.
func runMigrate(ctx context.Context, cfg Config, out io.Writer) error {
	dsn := cfg.Flush.Store // checked by the migrate command
	// What the store was before: new (a SQLite file not there yet), a known version, or a
	// schema this version could not read as it is.
	before, readable := 0, false
	existed := true
	if path, ok := strings.CutPrefix(dsn, "sqlite:"); ok {
		_, statErr := os.Stat(strings.TrimPrefix(path, "//"))
		existed = statErr == nil
	}
	if existed {
		if r, err := store.OpenReadOnly(ctx, dsn); err == nil {
			before, readable = r.SchemaVersion(), true
			r.Close()
		}
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return &ConnectError{What: "the store", Endpoint: store.Redact(dsn), Err: err}
	}
	defer st.Close()
	switch {
	case !existed:
		fmt.Fprintf(out, "store %s: created at schema version %d\n", st.Describe(), store.SchemaVersion)
	case !readable:
		fmt.Fprintf(out, "store %s: migrated to schema version %d (from a schema it could not read as it was)\n", st.Describe(), store.SchemaVersion)
	case before >= store.SchemaVersion:
		fmt.Fprintf(out, "store %s: already at schema version %d; nothing to do\n", st.Describe(), before)
	default:
		fmt.Fprintf(out, "store %s: migrated from schema version %d to %d\n", st.Describe(), before, store.SchemaVersion)
	}
	return nil
}

// runLive is the dashboard against the configured server: read-only unless --fill-cache.
func runLive(ctx context.Context, cfg Config, ex *metrics.Exporter, errOut io.Writer) error {
	src := dashboardSource{
		metrics: ex,
		redis:   cfg.Redis,
		info:    ui.Info{Endpoint: cfg.Redis.Endpoint(), Mode: ui.ModeReadOnly, Version: Version()},
		assets:  cfg.Assets,
	}
	if cfg.Flush.Store != "" {
		// The dashboard only reads chart history: the store is opened read-only, never
		// migrated (a QuFLX store is read as it is), and written to by nothing.
		st, err := store.OpenReadOnly(ctx, cfg.Flush.Store)
		if err != nil {
			return &ConnectError{What: "the store", Endpoint: store.Redact(cfg.Flush.Store), Err: err}
		}
		defer st.Close()
		src.store = st
	}
	if cfg.FillCache {
		src.info.Mode = ui.ModeLive
		// Filling the cache is the one write, and the user asked for it: its client may
		// write; the rest of the dashboard stays read-only.
		writer, err := connect(ctx, writerOptions(cfg.Redis))
		if err != nil {
			return err
		}
		defer writer.Close()
		src.cache = redisdata.NewCandleCache(writer, redisdata.CacheOptions{Key: cfg.CacheKey})
		src.history = redisdata.NewHistory(src.cache, src.store, true)
	}
	ctx, cancel := withDuration(ctx, cfg.Duration)
	defer cancel()
	return runDashboard(ctx, cfg, src, errOut)
}
