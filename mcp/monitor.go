package mcp

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata"
)

// QuFLX's monitor tools: buffers, cache, performance.

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
