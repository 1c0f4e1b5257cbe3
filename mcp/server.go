// Package mcp is quflx-tui's Model Context Protocol server: QuFLX's thirteen Redis tools,
// under the same names and arguments so that existing MCP client configurations keep
// working, with structured results and safe defaults (SCAN not KEYS, bounded ranges, and
// the write tools offered only when asked for).
package mcp

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/quflx/quflx-tui/model/format"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/redis/go-redis/v9"

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

// --- redis_ping

type PingOut struct {
	Pong      string  `json:"pong"`
	RTTMillis float64 `json:"rtt_ms"`
}

func (t *tools) ping(ctx context.Context, _ *sdk.CallToolRequest, _ struct{}) (*sdk.CallToolResult, PingOut, error) {
	rtt, err := t.c.PingRTT(ctx)
	if err != nil {
		return nil, PingOut{}, fmt.Errorf("ping %s: %w", t.c.Endpoint(), err)
	}
	out := PingOut{Pong: "PONG", RTTMillis: format.Millis(rtt)}
	return text("%s in %.2f ms", out.Pong, out.RTTMillis), out, nil
}

// --- redis_get

type KeyIn struct {
	Key string `json:"key" jsonschema:"the key"`
}

type GetOut struct {
	Key       string `json:"key"`
	Exists    bool   `json:"exists"`
	Value     string `json:"value"`
	Bytes     int64  `json:"bytes"`
	Truncated bool   `json:"truncated"`
}

func (t *tools) get(ctx context.Context, _ *sdk.CallToolRequest, in KeyIn) (*sdk.CallToolResult, GetOut, error) {
	if err := needKey(in.Key); err != nil {
		return nil, GetOut{}, err
	}
	// STRLEN first, so that a huge value is never pulled whole.
	pipe := t.c.Pipeline()
	n := pipe.StrLen(ctx, in.Key)
	head := pipe.GetRange(ctx, in.Key, 0, int64(t.opts.MaxValue-1))
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, GetOut{}, fmt.Errorf("get %s: %w", in.Key, err)
	}
	out := GetOut{Key: in.Key, Bytes: n.Val(), Value: head.Val()}
	if out.Bytes == 0 {
		exists, err := t.c.Exists(ctx, in.Key).Result()
		if err != nil {
			return nil, GetOut{}, fmt.Errorf("get %s: %w", in.Key, err)
		}
		out.Exists = exists == 1
		if !out.Exists {
			return text("%s does not exist", in.Key), out, nil
		}
	}
	out.Exists = true
	out.Truncated = out.Bytes > int64(len(out.Value))
	return text("%s = %s", in.Key, shorten(out.Value, 200)), out, nil
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "… (" + strconv.Itoa(len(s)) + " bytes)"
}

// --- redis_keys

type KeysIn struct {
	Pattern string `json:"pattern" jsonschema:"a glob pattern such as ticks:*"`
	Limit   int    `json:"limit,omitempty" jsonschema:"at most this many keys (default and maximum 1000)"`
}

type KeysOut struct {
	Pattern   string   `json:"pattern"`
	Keys      []string `json:"keys"`
	Count     int      `json:"count"`
	Truncated bool     `json:"truncated"`
	// Partial says the walk stopped at its deadline before seeing the whole keyspace.
	Partial bool `json:"partial,omitempty"`
}

// Bounds on a redis_keys pattern: SCAN matches every key of the keyspace against it, and
// glob matching with many stars is exponential in servers before 6.2.11 and 7.0.9.
const (
	maxPatternLen   = 256
	maxPatternStars = 8
)

func checkPattern(p string) error {
	switch {
	case len(p) > maxPatternLen:
		return fmt.Errorf("pattern of %d bytes: at most %d", len(p), maxPatternLen)
	case strings.Count(p, "*") > maxPatternStars:
		return fmt.Errorf("pattern with %d '*': at most %d", strings.Count(p, "*"), maxPatternStars)
	}
	return nil
}

func (t *tools) keys(ctx context.Context, _ *sdk.CallToolRequest, in KeysIn) (*sdk.CallToolResult, KeysOut, error) {
	if in.Pattern == "" {
		in.Pattern = "*"
	}
	if err := checkPattern(in.Pattern); err != nil {
		return nil, KeysOut{}, err
	}
	limit := t.opts.MaxKeys
	if in.Limit > 0 {
		limit = min(in.Limit, limit)
	}
	walk, cancel := context.WithTimeout(ctx, t.opts.ScanDeadline)
	defer cancel()
	keys, err := redisdata.ScanKeys(walk, t.c, in.Pattern, 1000, limit+1)
	partial := false
	if err != nil {
		if walk.Err() == nil || ctx.Err() != nil {
			return nil, KeysOut{}, err
		}
		partial = true // the deadline: what was found so far is the answer
	}
	out := KeysOut{Pattern: in.Pattern, Keys: keys, Truncated: len(keys) > limit, Partial: partial}
	if out.Truncated {
		out.Keys = keys[:limit]
	}
	if out.Keys == nil {
		out.Keys = []string{}
	}
	out.Count = len(out.Keys)
	more := ""
	switch {
	case out.Truncated:
		more = " (more exist: narrow the pattern)"
	case partial:
		more = fmt.Sprintf(" (the walk stopped after %s before seeing every key: narrow the pattern)", t.opts.ScanDeadline)
	}
	return text("%d keys match %s%s: %s", out.Count, in.Pattern, more, shorten(strings.Join(out.Keys, " "), 300)), out, nil
}

// --- redis_info

type InfoIn struct {
	Section string `json:"section,omitempty" jsonschema:"one INFO section, e.g. memory; all sections when empty"`
}

type InfoOut struct {
	Section string                       `json:"section"`
	Info    map[string]map[string]string `json:"info"` // of the one server; empty for a cluster
	// Nodes are a Redis Cluster's masters, each with its own INFO.
	Nodes []NodeInfoOut `json:"nodes,omitempty"`
}

// NodeInfoOut is one cluster node's INFO.
type NodeInfoOut struct {
	Address string                       `json:"address"`
	Info    map[string]map[string]string `json:"info,omitempty"`
	Error   string                       `json:"error,omitempty"`
}

func (t *tools) info(ctx context.Context, _ *sdk.CallToolRequest, in InfoIn) (*sdk.CallToolResult, InfoOut, error) {
	var sections []string
	if in.Section != "" {
		if strings.ContainsAny(in.Section, " \r\n") {
			return nil, InfoOut{}, fmt.Errorf("section %q: one word, e.g. memory", in.Section)
		}
		sections = []string{in.Section}
	}
	out := InfoOut{Section: in.Section, Info: map[string]map[string]string{}}
	if t.c.IsCluster() {
		// Every master answers for itself: one node's INFO is a third of a cluster.
		var mu sync.Mutex
		err := t.c.ForEachNodeAddr(ctx, func(ctx context.Context, addr string, node redis.Cmdable) error {
			n := NodeInfoOut{Address: addr}
			if m, err := node.InfoMap(ctx, sections...).Result(); err != nil {
				n.Error = err.Error()
			} else {
				n.Info = map[string]map[string]string(m)
			}
			mu.Lock()
			out.Nodes = append(out.Nodes, n)
			mu.Unlock()
			return nil
		})
		if len(out.Nodes) == 0 {
			return nil, InfoOut{}, fmt.Errorf("info %s: no cluster node answered: %v", in.Section, err)
		}
		slices.SortFunc(out.Nodes, func(a, b NodeInfoOut) int { return strings.Compare(a.Address, b.Address) })
		var parts []string
		for _, n := range out.Nodes {
			if n.Error != "" {
				parts = append(parts, n.Address+" error: "+n.Error)
			} else {
				parts = append(parts, fmt.Sprintf("%s (%d sections)", n.Address, len(n.Info)))
			}
		}
		return text("INFO of %d cluster masters: %s", len(out.Nodes), strings.Join(parts, ", ")), out, nil
	}
	m, err := t.c.InfoMap(ctx, sections...).Result()
	if err != nil {
		return nil, InfoOut{}, fmt.Errorf("info %s: %w", in.Section, err)
	}
	out.Info = map[string]map[string]string(m)
	var parts []string
	for section, fields := range out.Info {
		parts = append(parts, fmt.Sprintf("%s (%d fields)", section, len(fields)))
	}
	return text("INFO: %s", strings.Join(parts, ", ")), out, nil
}

// --- redis_llen

type LenOut struct {
	Key    string `json:"key"`
	Length int64  `json:"length"`
}

func (t *tools) llen(ctx context.Context, _ *sdk.CallToolRequest, in KeyIn) (*sdk.CallToolResult, LenOut, error) {
	if err := needKey(in.Key); err != nil {
		return nil, LenOut{}, err
	}
	n, err := t.c.LLen(ctx, in.Key).Result()
	if err != nil {
		return nil, LenOut{}, fmt.Errorf("llen %s: %w", in.Key, err)
	}
	return text("%s has %d elements", in.Key, n), LenOut{Key: in.Key, Length: n}, nil
}

// --- redis_lrange

type RangeIn struct {
	Key   string `json:"key" jsonschema:"the list"`
	Start int64  `json:"start" jsonschema:"first index (negative counts from the end)"`
	Stop  int64  `json:"stop" jsonschema:"last index, inclusive (-1 is the last element)"`
}

type RangeOut struct {
	Key       string   `json:"key"`
	Start     int64    `json:"start"` // as served, after bounding
	Stop      int64    `json:"stop"`
	Values    []string `json:"values"`
	Length    int64    `json:"length"` // of the whole list
	Truncated bool     `json:"truncated"`
	// Cut lists the indexes in Values of elements longer than the value bound: each holds
	// its first bytes and its length.
	Cut []int `json:"cut,omitempty"`
}

func (t *tools) lrange(ctx context.Context, _ *sdk.CallToolRequest, in RangeIn) (*sdk.CallToolResult, RangeOut, error) {
	if err := needKey(in.Key); err != nil {
		return nil, RangeOut{}, err
	}
	n, err := t.c.LLen(ctx, in.Key).Result()
	if err != nil {
		return nil, RangeOut{}, fmt.Errorf("lrange %s: %w", in.Key, err)
	}
	start, stop := normIndex(in.Start, n), normIndex(in.Stop, n)
	start, stop = max(start, 0), min(stop, n-1)
	out := RangeOut{Key: in.Key, Start: start, Stop: stop, Length: n, Values: []string{}}
	if start > stop {
		return text("%s[%d..%d] is empty (length %d)", in.Key, in.Start, in.Stop, n), out, nil
	}
	if stop-start+1 > int64(t.opts.MaxRange) {
		out.Stop, out.Truncated = start+int64(t.opts.MaxRange)-1, true
	}
	// Bounded in bytes per element and in all, in Redis: a list of huge junk elements
	// must not become gigabytes in this process or in the answer.
	elems, err := redisdata.ReadListBounded(ctx, t.c, in.Key, out.Start, out.Stop, t.opts.MaxValue, t.opts.MaxResultBytes)
	if err != nil {
		return nil, RangeOut{}, fmt.Errorf("lrange %s: %w", in.Key, err)
	}
	for _, e := range elems {
		v := e.Value
		if e.Cut() {
			out.Cut = append(out.Cut, len(out.Values))
			v = cutValue(v, e.Len)
		}
		out.Values = append(out.Values, v)
	}
	if served := out.Start + int64(len(out.Values)) - 1; served < out.Stop {
		out.Stop, out.Truncated = served, true
	}
	more := ""
	if out.Truncated {
		more = fmt.Sprintf(" (bounded to %d elements and %d bytes)", t.opts.MaxRange, t.opts.MaxResultBytes)
	}
	return text("%s[%d..%d]: %d of %d elements%s", in.Key, out.Start, out.Stop, len(out.Values), n, more), out, nil
}

// cutValue shows the head of a value too long to return, on a rune boundary, and says how
// long the whole was.
func cutValue(head string, whole int) string {
	cut := min(len(head), 1024)
	for cut > 0 && cut < len(head) && !utf8.RuneStart(head[cut]) {
		cut--
	}
	return head[:cut] + fmt.Sprintf("… (%d bytes)", whole)
}

func normIndex(i, n int64) int64 {
	if i < 0 {
		return n + i
	}
	return i
}

// --- writes

type SetIn struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	TTL   int64  `json:"ttl,omitempty" jsonschema:"expiry in seconds (none when 0)"`
}

type SetOut struct {
	Key        string `json:"key"`
	OK         bool   `json:"ok"`
	TTLSeconds int64  `json:"ttl_seconds"`
}

func (t *tools) set(ctx context.Context, _ *sdk.CallToolRequest, in SetIn) (*sdk.CallToolResult, SetOut, error) {
	if err := needKey(in.Key); err != nil {
		return nil, SetOut{}, err
	}
	if in.TTL < 0 {
		return nil, SetOut{}, fmt.Errorf("ttl %d: must not be negative", in.TTL)
	}
	if err := t.c.Set(ctx, in.Key, in.Value, time.Duration(in.TTL)*time.Second).Err(); err != nil {
		return nil, SetOut{}, fmt.Errorf("set %s: %w", in.Key, err)
	}
	return text("set %s", in.Key), SetOut{Key: in.Key, OK: true, TTLSeconds: in.TTL}, nil
}

type DelOut struct {
	Key     string `json:"key"`
	Deleted int64  `json:"deleted"`
}

func (t *tools) del(ctx context.Context, _ *sdk.CallToolRequest, in KeyIn) (*sdk.CallToolResult, DelOut, error) {
	if err := needKey(in.Key); err != nil {
		return nil, DelOut{}, err
	}
	n, err := t.c.Del(ctx, in.Key).Result()
	if err != nil {
		return nil, DelOut{}, fmt.Errorf("del %s: %w", in.Key, err)
	}
	return text("deleted %d key", n), DelOut{Key: in.Key, Deleted: n}, nil
}

type PushIn struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func (t *tools) lpush(ctx context.Context, _ *sdk.CallToolRequest, in PushIn) (*sdk.CallToolResult, LenOut, error) {
	if err := needKey(in.Key); err != nil {
		return nil, LenOut{}, err
	}
	n, err := t.c.LPush(ctx, in.Key, in.Value).Result()
	if err != nil {
		return nil, LenOut{}, fmt.Errorf("lpush %s: %w", in.Key, err)
	}
	return text("%s now has %d elements", in.Key, n), LenOut{Key: in.Key, Length: n}, nil
}

type TrimOut struct {
	Key    string `json:"key"`
	OK     bool   `json:"ok"`
	Length int64  `json:"length"`
}

func (t *tools) ltrim(ctx context.Context, _ *sdk.CallToolRequest, in RangeIn) (*sdk.CallToolResult, TrimOut, error) {
	if err := needKey(in.Key); err != nil {
		return nil, TrimOut{}, err
	}
	pipe := t.c.TxPipeline()
	pipe.LTrim(ctx, in.Key, in.Start, in.Stop)
	n := pipe.LLen(ctx, in.Key)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, TrimOut{}, fmt.Errorf("ltrim %s: %w", in.Key, err)
	}
	return text("%s trimmed to %d elements", in.Key, n.Val()), TrimOut{Key: in.Key, OK: true, Length: n.Val()}, nil
}

// --- QuFLX monitors

type BuffersIn struct {
	Assets []string `json:"assets,omitempty" jsonschema:"assets to report (all found with SCAN when empty)"`
}

type BuffersOut struct {
	Buffers []redisdata.BufferReport `json:"buffers"`
	Count   int                      `json:"count"`
}

func (t *tools) monitorBuffers(ctx context.Context, _ *sdk.CallToolRequest, in BuffersIn) (*sdk.CallToolResult, BuffersOut, error) {
	assets := in.Assets
	if len(assets) == 0 {
		keys, err := redisdata.ScanKeys(ctx, t.c, t.opts.TickKey.Glob(), 1000, t.opts.MaxKeys)
		if err != nil {
			return nil, BuffersOut{}, err
		}
		for _, k := range keys {
			if a, _, ok := t.opts.TickKey.Match(k); ok {
				assets = append(assets, a)
			}
		}
	}
	if len(assets) > t.opts.MaxKeys {
		return nil, BuffersOut{}, fmt.Errorf("%d assets: at most %d a call", len(assets), t.opts.MaxKeys)
	}
	stats, err := redisdata.ReadBuffers(ctx, t.c, t.opts.TickKey, assets)
	if err != nil {
		return nil, BuffersOut{}, err
	}
	now := time.Now()
	out := BuffersOut{Buffers: []redisdata.BufferReport{}}
	var lines []string
	for _, b := range stats {
		r := redisdata.NewBufferReport(b, redisdata.DefaultBufferCap, now)
		out.Buffers = append(out.Buffers, r)
		line := fmt.Sprintf("%s %d/%d", r.Asset, r.Size, r.Capacity)
		if r.LastPrice != nil {
			line += fmt.Sprintf(" last %g %.1fs ago", *r.LastPrice, *r.LastAgeSeconds)
		}
		lines = append(lines, line)
	}
	out.Count = len(out.Buffers)
	return text("%d buffers: %s", out.Count, shorten(strings.Join(lines, "; "), 600)), out, nil
}

type CacheIn struct {
	Asset     string `json:"asset,omitempty" jsonschema:"one asset (all when empty)"`
	Timeframe string `json:"timeframe,omitempty" jsonschema:"one timeframe: 1m 5m 15m 1h 4h (all when empty)"`
}

type CacheOut struct {
	Caches []redisdata.CacheReport `json:"caches"`
	Count  int                     `json:"count"`
}

func (t *tools) monitorCache(ctx context.Context, _ *sdk.CallToolRequest, in CacheIn) (*sdk.CallToolResult, CacheOut, error) {
	var want model.Timeframe
	if in.Timeframe != "" {
		tf, err := model.ParseTimeframe(in.Timeframe)
		if err != nil {
			return nil, CacheOut{}, err
		}
		want = tf
	}
	// QuFLX spells timeframes both ways ("1M", "1m"): match any and filter after parsing.
	keys, err := redisdata.ScanKeys(ctx, t.c, t.opts.CacheKey.GlobWith(in.Asset, ""), 1000, t.opts.MaxKeys)
	if err != nil {
		return nil, CacheOut{}, err
	}
	stats, err := redisdata.InspectCaches(ctx, t.c, t.opts.CacheKey, keys)
	if err != nil {
		return nil, CacheOut{}, err
	}
	out := CacheOut{Caches: []redisdata.CacheReport{}}
	var lines []string
	for _, s := range stats {
		if want != 0 && s.Timeframe != want {
			continue
		}
		r := redisdata.NewCacheReport(s)
		out.Caches = append(out.Caches, r)
		lines = append(lines, fmt.Sprintf("%s %s ttl %ds %d candles", r.Key, r.State, r.TTLSeconds, r.Candles))
	}
	out.Count = len(out.Caches)
	return text("%d cache keys: %s", out.Count, shorten(strings.Join(lines, "; "), 600)), out, nil
}

type PerformanceOut struct {
	Server   redisdata.ServerReport   `json:"server"`
	HitRate  *float64                 `json:"hit_rate"`
	Flusher  *redisdata.FlusherStatus `json:"flusher"` // null: no flusher has published a status
	At       time.Time                `json:"at"`
	Warnings []string                 `json:"warnings,omitempty"`
}

func (t *tools) performance(ctx context.Context, _ *sdk.CallToolRequest, _ struct{}) (*sdk.CallToolResult, PerformanceOut, error) {
	// Ping, then INFO and the flusher status in one round trip; no buffers or caches.
	reading := t.w.PollServer(ctx)
	if reading.Err != nil {
		return nil, PerformanceOut{}, reading.Err
	}
	r, snap := reading.Report, reading.Snapshot
	out := PerformanceOut{Server: r.Server, HitRate: r.HitRates.ServerLifetime, Flusher: snap.Flusher, At: r.At}
	if snap.FlusherErr != nil {
		out.Warnings = append(out.Warnings, snap.FlusherErr.Error())
	}
	ops := "not reported"
	if r.Server.OpsPerSec != nil {
		ops = strconv.FormatInt(*r.Server.OpsPerSec, 10) + "/s"
	}
	flusher := "no flusher status"
	if f := snap.Flusher; f != nil {
		flusher = fmt.Sprintf("flusher %s, %d flushed, backlog %d", f.State, f.Flushed, f.Backlog)
	}
	return text("rtt %.2f ms, ops %s, %s", r.Server.PingMillis, ops, flusher), out, nil
}
