package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/quflx/quflx-tui/mcp"
	"github.com/quflx/quflx-tui/redisdata"
)

// runMCP is `quflx-tui mcp`: the MCP server on stdin/stdout. stdout is the protocol, so
// everything else goes to stderr.
func runMCP(ctx context.Context, cfg Config, errOut io.Writer) error {
	log := func(line string) { fmt.Fprintf(errOut, "%s quflx-tui mcp: %s\n", time.Now().Format("15:04:05"), line) }
	redisdata.RouteLogs(log)
	opts := cfg.Redis
	opts.ReadOnly = !cfg.AllowWrites
	if cfg.AllowWrites {
		// redis_lpush repeated after a lost reply pushes twice: a write tool reports the
		// failure and the caller decides.
		opts.MaxRetries = -1
	}
	opts.ClientName = "quflx-tui-mcp"
	client, err := openReader(ctx, opts)
	if err != nil {
		return err
	}
	watch := redisdata.NewWatch(client, redisdata.WatchOptions{TickKey: cfg.TickKey, CacheKey: cfg.CacheKey,
		Assets: cfg.Assets, MaxAssets: cfg.MaxAssets, Thresholds: cfg.Status.Thresholds})
	defer watch.Close()
	// A server that is down now may be up by the first call: start anyway, and let each
	// tool report the error (an MCP client that loses the server loses every tool).
	if _, err := client.PingRTT(ctx); err != nil {
		log(fmt.Sprintf("Redis does not answer yet (%v); tools report errors until it does", err))
	}
	mode := "read-only (write tools not offered)"
	if cfg.AllowWrites {
		mode = "writes allowed"
	}
	log(fmt.Sprintf("serving %s, %s, over stdio", client.Endpoint(), mode))
	server := mcp.NewServer(watch, mcp.Options{
		TickKey: cfg.TickKey, CacheKey: cfg.CacheKey, AllowWrites: cfg.AllowWrites, Version: Version(),
	})
	err = server.Run(ctx, &sdk.StdioTransport{})
	if err != nil && (ctx.Err() != nil || errors.Is(err, io.EOF)) {
		return nil // the client went away or we were told to stop
	}
	return err
}
