// Package mcp is quflx-tui's Model Context Protocol server: QuFLX's thirteen Redis tools,
// under the same names and arguments so that existing MCP client configurations keep
// working, with structured results and safe defaults (SCAN not KEYS, bounded ranges, and
// the write tools offered only when asked for).
package mcp

import (
	"errors"
	"fmt"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata"
)

// Options configures the server.
type Options struct {
	TickKey  model.KeyPattern // "ticks:{asset}"
	CacheKey model.KeyPattern // "historical:{asset}:{timeframe}"
	// AllowWrites offers redis_set, redis_del, redis_lpush and redis_ltrim; without it
	// they are not offered at all (and the client is read-only besides).
	AllowWrites bool
	// MaxKeys caps what redis_keys and the monitors return (default 1000).
	MaxKeys int
	// MaxRange caps the elements of one redis_lrange (default 1000).
	MaxRange int
	// MaxValue caps the bytes of a value redis_get returns (default 64 KiB), and of one
	// list element redis_lrange returns whole.
	MaxValue int
	// MaxResultBytes caps the bytes of one redis_lrange result (default 256 KiB).
	MaxResultBytes int
	// ScanDeadline bounds a redis_keys walk (default 2 s): a pattern that matches
	// nothing walks the whole keyspace.
	ScanDeadline time.Duration
	Version      string
}

func (o *Options) defaults() {
	if o.MaxKeys <= 0 {
		o.MaxKeys = 1000
	}
	if o.MaxRange <= 0 {
		o.MaxRange = 1000
	}
	if o.MaxValue <= 0 {
		o.MaxValue = 64 << 10
	}
	if o.MaxResultBytes <= 0 {
		o.MaxResultBytes = 256 << 10
	}
	if o.ScanDeadline <= 0 {
		o.ScanDeadline = 2 * time.Second
	}
	if o.Version == "" {
		o.Version = "devel"
	}
}

// tools holds what the handlers share.
type tools struct {
	w    *redisdata.Watch
	c    *redisdata.Client // w's
	opts Options
}

// WriteTools are offered only with Options.AllowWrites.
var WriteTools = []string{"redis_set", "redis_del", "redis_lpush", "redis_ltrim"}

// NewServer returns an MCP server whose tools read through w's client, which should be
// read-only unless opts.AllowWrites: the allowlist then refuses writes whatever a tool
// tries. w need not be started: the tools read on demand.
func NewServer(w *redisdata.Watch, opts Options) *sdk.Server {
	opts.defaults()
	s := sdk.NewServer(&sdk.Implementation{Name: "quflx-tui", Title: "QuFLX Redis", Version: opts.Version}, &sdk.ServerOptions{
		Instructions: "Tools to inspect the Redis of a QuFLX market-data pipeline: tick buffers " +
			"(" + opts.TickKey.String() + "), candle caches (" + opts.CacheKey.String() + ") and server metrics." +
			writeNote(opts.AllowWrites),
	})
	t := &tools{w: w, c: w.Client(), opts: opts}
	ro := &sdk.ToolAnnotations{ReadOnlyHint: true}
	sdk.AddTool(s, &sdk.Tool{Name: "redis_ping", Description: "Ping Redis and report the round trip.", Annotations: ro}, t.ping)
	sdk.AddTool(s, &sdk.Tool{Name: "redis_get", Description: "Get a string value (at most 64 KiB of it).", Annotations: ro}, t.get)
	sdk.AddTool(s, &sdk.Tool{Name: "redis_keys", Description: "List keys matching a glob pattern, walking with SCAN (never KEYS); capped.", Annotations: ro}, t.keys)
	sdk.AddTool(s, &sdk.Tool{Name: "redis_info", Description: "Server INFO, optionally one section (server, clients, memory, stats, replication, keyspace...).", Annotations: ro}, t.info)
	sdk.AddTool(s, &sdk.Tool{Name: "redis_llen", Description: "Length of a list.", Annotations: ro}, t.llen)
	sdk.AddTool(s, &sdk.Tool{Name: "redis_lrange", Description: "Elements start..stop of a list (inclusive, negative from the end); at most 1000.", Annotations: ro}, t.lrange)
	sdk.AddTool(s, &sdk.Tool{Name: "quflx_monitor_buffers", Description: "QuFLX tick buffers: size, fill against the 1000 cap, newest tick. All assets, or the ones given.", Annotations: ro}, t.monitorBuffers)
	sdk.AddTool(s, &sdk.Tool{Name: "quflx_monitor_cache", Description: "QuFLX candle caches: TTL, freshness (fresh above 300 s), candle count. All, or one asset and/or timeframe.", Annotations: ro}, t.monitorCache)
	sdk.AddTool(s, &sdk.Tool{Name: "quflx_get_performance_metrics", Description: "Server performance: round trip, ops/s, hit rate, memory, clients, and the batch flusher's status.", Annotations: ro}, t.performance)
	if opts.AllowWrites {
		sdk.AddTool(s, &sdk.Tool{Name: "redis_set", Description: "Set a string value, with an optional TTL in seconds."}, t.set)
		sdk.AddTool(s, &sdk.Tool{Name: "redis_del", Description: "Delete a key."}, t.del)
		sdk.AddTool(s, &sdk.Tool{Name: "redis_lpush", Description: "Push a value at the head of a list."}, t.lpush)
		sdk.AddTool(s, &sdk.Tool{Name: "redis_ltrim", Description: "Trim a list to start..stop (inclusive)."}, t.ltrim)
	}
	return s
}

func writeNote(allowed bool) string {
	if allowed {
		return " Write tools are enabled."
	}
	return " The server is read-only: write tools are not offered (start it with --allow-writes for them)."
}

// text is a short rendering of a result for clients that show text; the structured
// content holds everything.
// Key names and values are anyone's: the text, which clients show people, is sanitised
// (the structured content is escaped JSON, for programs).
func text(format string, args ...any) *sdk.CallToolResult {
	return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: model.PrintableText(fmt.Sprintf(format, args...))}}}
}

func needKey(key string) error {
	if key == "" {
		return errors.New("key is required")
	}
	return nil
}
