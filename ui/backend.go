package ui

import (
	"context"
	"time"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata"
)

// Backend is where the dashboard's slow data comes from. The UI calls it only from
// tea.Cmds (their own goroutines), never from Update or View.
type Backend interface {
	// Poll reads the server once: buffers, caches, INFO, the subscriber's state, the
	// flusher's status. It must return within ctx.
	Poll(ctx context.Context) Poll
	// History loads chart history of asset at tf (cache first, then the store).
	History(ctx context.Context, asset string, tf model.Timeframe) (redisdata.HistoryResult, error)
	// HistoryBefore loads up to limit candles of asset at tf that start before before
	// (Unix seconds), oldest first: the page a chart panned back to its oldest candle
	// needs. None and no error: there is no older history.
	HistoryBefore(ctx context.Context, asset string, tf model.Timeframe, before int64, limit int) (redisdata.HistoryResult, error)
}

// Poll is one reading of everything but the ticks.
type Poll struct {
	At       time.Time
	Snapshot *redisdata.Snapshot // nil when the server could not be read
	Err      error
	PingRTT  time.Duration
	Sub      redisdata.SubscriberStats
	Events   []redisdata.Event
	Flusher  *redisdata.FlusherStatus  // nil: no flusher has published (or its key expired)
	Flushers []redisdata.FlusherReport // every flusher instance with a live status
	// Assets are the whole pipeline's assets (buffers, claims, stores, caches, pub/sub)
	// with the newest tick seen anywhere.
	Assets []redisdata.AssetReport
	Cache  redisdata.CacheStats // this process's candle-cache lookups
	Store  model.LatencySummary // store lookups on cache misses
	// Pipeline is what the side channels said: services' heartbeats, recent signals,
	// regimes per asset (QuFLX v2).
	Pipeline model.PipelineView
	// Health is judged from this poll by the rules and thresholds status uses, so that
	// the header says what status would print (model.JudgeHealth).
	Health model.Health
}

// Mode is the badge in the header.
type Mode string

const (
	ModeDemo     Mode = "DEMO"      // the in-process pipeline
	ModeLive     Mode = "LIVE"      // a real server, with writes allowed (cache fill)
	ModeReadOnly Mode = "READ-ONLY" // a real server, never written to
)

// Info is what does not change while the dashboard runs.
type Info struct {
	Endpoint  string // host:port
	Embedded  bool   // miniredis in this process
	Throwaway bool   // a redis-server the demo started for itself
	Mode      Mode
	Store     string // the demo's store, for the flusher panel when no status is published
	Version   string
}
