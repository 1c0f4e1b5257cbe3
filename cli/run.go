package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/quflx/quflx-tui/redisdata"
	"github.com/quflx/quflx-tui/ui"
)

// ConnectError is a server that cannot be reached when a mode starts: exit status 2.
type ConnectError struct {
	Endpoint string
	Err      error
}

func (e *ConnectError) Error() string {
	return fmt.Sprintf("cannot reach Redis at %s: %v", e.Endpoint, e.Err)
}

func (e *ConnectError) Unwrap() error { return e.Err }

// Main runs quflx-tui with args (without the program name) and returns the exit status.
func Main(args []string, stdout, stderr io.Writer) int {
	cfg, err := Parse(args, os.LookupEnv)
	if err != nil {
		fmt.Fprintf(stderr, "quflx-tui: %v (see quflx-tui --help)\n", err)
		return 2
	}
	switch {
	case cfg.ShowHelp:
		fmt.Fprint(stdout, helpText)
		return 0
	case cfg.ShowVersion:
		fmt.Fprintln(stdout, Version())
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// go-redis logs every failed dial to stderr; our own state reporting says it better,
	// and stderr belongs to the dashboard.
	redisdata.RouteLogs(nil)

	switch {
	case cfg.Command == "feed":
		err = runFeed(ctx, cfg, stdout, stderr)
	case cfg.Command == "flush":
		err = runFlush(ctx, cfg, stdout, stderr)
	case cfg.Command == "status":
		err = runStatus(ctx, cfg, stdout)
	case cfg.Command == "mcp":
		err = runMCP(ctx, cfg, stderr)
	case cfg.Demo:
		err = runDemo(ctx, cfg, stdout, stderr)
	case cfg.NoUI:
		err = runMonitor(ctx, cfg, stdout, nil)
	default:
		err = runLive(ctx, cfg, stderr)
	}
	return exitStatus(err, stderr)
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
// fails at once with one clear line instead of a screen that says "reconnecting".
func connect(ctx context.Context, opts redisdata.Options) (*redisdata.Client, error) {
	c, err := redisdata.NewClient(opts)
	if err != nil {
		return nil, &UsageError{msg: err.Error()}
	}
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.Ping(pingCtx).Err(); err != nil {
		c.Close()
		return nil, &ConnectError{Endpoint: opts.Endpoint(), Err: err}
	}
	return c, nil
}

// runLive is the dashboard against the configured server: read-only unless --fill-cache.
func runLive(ctx context.Context, cfg Config, errOut io.Writer) error {
	src := dashboardSource{
		redis:  cfg.Redis,
		info:   ui.Info{Endpoint: cfg.Redis.Endpoint(), Mode: ui.ModeReadOnly, Version: Version()},
		assets: cfg.Assets,
	}
	if cfg.Flush.Store != "" {
		st, err := openStore(ctx, cfg)
		if err != nil {
			return err
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
