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
}

// Poll is one reading of everything but the ticks.
type Poll struct {
	At       time.Time
	Snapshot *redisdata.Snapshot // nil when the server could not be read
	Err      error
	PingRTT  time.Duration
	Sub      redisdata.SubscriberStats
	Events   []redisdata.Event
	Flusher  *redisdata.FlusherStatus // nil: no flusher has published (or its key expired)
	Cache    redisdata.CacheStats     // this process's candle-cache lookups
	Store    model.LatencySummary     // store lookups on cache misses
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
	Endpoint string // host:port
	Embedded bool   // miniredis in this process
	Mode     Mode
	Store    string // the demo's store, for the flusher panel when no status is published
	Version  string
}
