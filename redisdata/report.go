package redisdata

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/quflx/quflx-tui/model"
)

// ReportSchema is the version of the Report JSON; it changes only when a field's meaning
// does (fields may be added).
const ReportSchema = 1

// Report is one snapshot of a QuFLX Redis for scripts: `quflx-tui status --json` prints
// it, and the MCP monitors return its parts. Figures a server does not report are null.
type Report struct {
	Schema   int            `json:"schema"`
	At       time.Time      `json:"at"`
	Server   ServerReport   `json:"server"`
	Buffers  []BufferReport `json:"buffers"`
	Caches   []CacheReport  `json:"caches"`
	HitRates HitRates       `json:"hit_rates"`
	Flusher  *FlusherReport `json:"flusher"` // null: no flusher has published a status
	Health   Health         `json:"health"`
}

// ServerReport is the server's INFO, typed.
type ServerReport struct {
	Address          string             `json:"address"`
	Version          *string            `json:"version"`
	Role             *string            `json:"role"`
	UptimeSeconds    *int64             `json:"uptime_seconds"`
	ConnectedClients *int64             `json:"connected_clients"`
	UsedMemory       *int64             `json:"used_memory_bytes"`
	UsedMemoryPeak   *int64             `json:"used_memory_peak_bytes"`
	UsedMemoryRSS    *int64             `json:"used_memory_rss_bytes"`
	OpsPerSec        *int64             `json:"instantaneous_ops_per_sec"`
	TotalCommands    *int64             `json:"total_commands_processed"`
	KeyspaceHits     *int64             `json:"keyspace_hits"`
	KeyspaceMisses   *int64             `json:"keyspace_misses"`
	ExpiredKeys      *int64             `json:"expired_keys"`
	EvictedKeys      *int64             `json:"evicted_keys"`
	PubSubChannels   *int64             `json:"pubsub_channels"`
	PubSubPatterns   *int64             `json:"pubsub_patterns"`
	Keyspace         *map[string]DBKeys `json:"keyspace"` // "db0": {...}; null when not reported
	PingMillis       float64            `json:"ping_ms"`
	PollMillis       float64            `json:"poll_ms"` // the pipelined poll's round trip
}

// BufferReport is one tick buffer.
type BufferReport struct {
	Asset          string     `json:"asset"`
	Key            string     `json:"key"`
	Size           int64      `json:"size"`
	Capacity       int        `json:"capacity"`
	Fill           float64    `json:"fill"` // size / capacity
	LastPrice      *float64   `json:"last_price"`
	LastTimestamp  *time.Time `json:"last_timestamp"`
	LastAgeSeconds *float64   `json:"last_age_seconds"`
	Order          string     `json:"order"` // newest-first (producer v1), newest-last (v2), unknown
	Error          string     `json:"error,omitempty"`
}

// CacheReport is one candle-cache key.
type CacheReport struct {
	Key        string `json:"key"`
	Asset      string `json:"asset"`
	Timeframe  string `json:"timeframe"`   // canonical: 1m 5m 15m 1h 4h
	TTLSeconds int64  `json:"ttl_seconds"` // -1: no expiry; 0: gone
	Candles    int    `json:"candles"`     // -1: not counted
	Bytes      int64  `json:"bytes"`
	State      string `json:"state"` // fresh (ttl > 300 s), expiring, expired, persistent, error
	Error      string `json:"error,omitempty"`
}

// HitRates are the server's keyspace hit rates.
type HitRates struct {
	ServerLifetime *float64 `json:"server_lifetime"`
	ServerWindow   *float64 `json:"server_window"` // since the previous poll (--watch)
}

// FlusherReport is the flusher's published status and how recent it is.
type FlusherReport struct {
	FlusherStatus
	HeartbeatAgeSeconds float64 `json:"heartbeat_age_seconds"`
	Alive               bool    `json:"alive"`
}

// Health says whether the pipeline is well, with the reasons when not.
type Health struct {
	Status  string   `json:"status"` // healthy, degraded, down
	Reasons []string `json:"reasons"`
}

// Health statuses.
const (
	Healthy  = "healthy"
	Degraded = "degraded"
	Down     = "down"
)

// FreshTTL is QuFLX's own threshold: a cache key with more to live is fresh.
const FreshTTL = 300 * time.Second

// Thresholds decide when a pipeline is degraded.
type Thresholds struct {
	Capacity     int           // the producers' buffer cap (default 1000)
	MaxFill      float64       // a buffer fuller than this is a problem (default 0.9)
	Stale        time.Duration // a feed silent longer than this is stale (default 60 s)
	MaxHeartbeat time.Duration // a flusher heartbeat older than this is dead (default 10 s)
	NoFlusher    bool          // do not require a flusher
}

func (t *Thresholds) defaults() {
	if t.Capacity <= 0 {
		t.Capacity = DefaultBufferCap
	}
	if t.MaxFill <= 0 {
		t.MaxFill = 0.9
	}
	if t.Stale <= 0 {
		t.Stale = time.Minute
	}
	if t.MaxHeartbeat <= 0 {
		t.MaxHeartbeat = 10 * time.Second
	}
}

func ptr[T any](v T) *T { return &v }

func known(i Int) *int64 {
	if !i.Known {
		return nil
	}
	return ptr(i.V)
}

// NewReport turns a poll (made with LastTicks and FlusherStatusKey) into a Report and
// judges its health.
func NewReport(snap *Snapshot, endpoint string, ping time.Duration, th Thresholds, now time.Time) Report {
	th.defaults()
	in := snap.Info
	r := Report{Schema: ReportSchema, At: now.UTC(), Buffers: []BufferReport{}, Caches: []CacheReport{}}
	r.Server = ServerReport{
		Address: endpoint, UptimeSeconds: known(in.UptimeSeconds), ConnectedClients: known(in.ConnectedClients),
		UsedMemory: known(in.UsedMemory), UsedMemoryPeak: known(in.UsedMemoryPeak), UsedMemoryRSS: known(in.UsedMemoryRSS),
		OpsPerSec: known(in.OpsPerSec), TotalCommands: known(in.TotalCommands), KeyspaceHits: known(in.KeyspaceHits),
		KeyspaceMisses: known(in.KeyspaceMisses), ExpiredKeys: known(in.ExpiredKeys), EvictedKeys: known(in.EvictedKeys),
		PubSubChannels: known(in.PubSubChannels), PubSubPatterns: known(in.PubSubPatterns),
		PingMillis: ms(ping), PollMillis: ms(snap.RoundTrip),
	}
	if in.Version != "" {
		r.Server.Version = ptr(in.Version)
	}
	if in.Role != "" {
		r.Server.Role = ptr(in.Role)
	}
	if in.Keyspace != nil {
		ks := map[string]DBKeys{}
		for db, k := range in.Keyspace {
			ks[fmt.Sprintf("db%d", db)] = k
		}
		r.Server.Keyspace = &ks
	}
	if rate, ok := in.HitRate(); ok {
		r.HitRates.ServerLifetime = ptr(rate)
	}
	if snap.Window.HitRateKnown {
		r.HitRates.ServerWindow = ptr(snap.Window.HitRate)
	}
	for _, b := range snap.Buffers {
		r.Buffers = append(r.Buffers, NewBufferReport(b, th.Capacity, now))
	}
	for _, c := range snap.Caches {
		r.Caches = append(r.Caches, NewCacheReport(c))
	}
	if f := snap.Flusher; f != nil {
		age := now.Sub(f.Heartbeat)
		r.Flusher = &FlusherReport{FlusherStatus: *f, HeartbeatAgeSeconds: age.Seconds(),
			Alive: age <= th.MaxHeartbeat && f.State != "stopped"}
	}
	r.Health = judge(r, snap, th)
	return r
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// NewBufferReport describes one buffer.
func NewBufferReport(b BufferStat, capacity int, now time.Time) BufferReport {
	if capacity <= 0 {
		capacity = DefaultBufferCap
	}
	br := BufferReport{Asset: b.Asset, Key: b.Key, Size: b.Len, Capacity: capacity,
		Fill: float64(b.Len) / float64(capacity), Order: orderName(b.Order)}
	if b.Err != nil {
		br.Error = b.Err.Error()
	}
	if t := b.Last; t != nil {
		ts := t.Time()
		br.LastPrice, br.LastTimestamp = ptr(t.Price), &ts
		br.LastAgeSeconds = ptr(now.Sub(ts).Seconds())
	}
	return br
}

func orderName(o ListOrder) string {
	switch o {
	case OrderNewestFirst:
		return "newest-first"
	case OrderNewestLast:
		return "newest-last"
	}
	return "unknown"
}

// NewCacheReport describes one cache key.
func NewCacheReport(c CacheKeyStat) CacheReport {
	cr := CacheReport{Key: c.Key, Asset: c.Asset, Timeframe: c.Timeframe.String(), Candles: c.Candles, Bytes: c.Bytes}
	switch {
	case c.Err != nil:
		cr.State, cr.Error = "error", c.Err.Error()
	case !c.Exists:
		cr.State = "expired"
	case c.NoExpiry:
		cr.State, cr.TTLSeconds = "persistent", -1
	default:
		cr.TTLSeconds = int64(c.TTL.Seconds())
		cr.State = "expiring"
		if c.TTL > FreshTTL {
			cr.State = "fresh"
		}
	}
	return cr
}

// judge lists what is wrong: a stale feed, a buffer near its cap, a flusher without a
// heartbeat, an expired cache key.
func judge(r Report, snap *Snapshot, th Thresholds) Health {
	var reasons []string
	for _, b := range r.Buffers {
		switch {
		case b.Error != "":
			reasons = append(reasons, fmt.Sprintf("buffer %s: %s", b.Key, b.Error))
		case b.Fill > th.MaxFill:
			reasons = append(reasons, fmt.Sprintf("buffer %s at %.0f%% of its %d cap", b.Key, 100*b.Fill, b.Capacity))
		}
		if b.LastAgeSeconds != nil && *b.LastAgeSeconds > th.Stale.Seconds() {
			reasons = append(reasons, fmt.Sprintf("feed %s stale: last tick %s ago", b.Asset,
				time.Duration(*b.LastAgeSeconds*float64(time.Second)).Round(time.Second)))
		}
	}
	for _, c := range r.Caches {
		if c.State == "expired" || c.State == "error" {
			reasons = append(reasons, fmt.Sprintf("cache %s %s", c.Key, c.State))
		}
	}
	reasons = append(reasons, missingCaches(snap)...)
	switch {
	case th.NoFlusher:
	case r.Flusher == nil:
		reasons = append(reasons, "no flusher heartbeat (no status published)")
	case !r.Flusher.Alive:
		reasons = append(reasons, fmt.Sprintf("flusher %s, last heartbeat %.0fs ago", r.Flusher.State, r.Flusher.HeartbeatAgeSeconds))
	}
	if r.Flusher != nil && r.Flusher.LostToTrim > 0 {
		reasons = append(reasons, fmt.Sprintf("flusher reports %d ticks lost to the producers' trim", r.Flusher.LostToTrim))
	}
	if len(reasons) == 0 {
		return Health{Status: Healthy, Reasons: []string{}}
	}
	return Health{Status: Degraded, Reasons: reasons}
}

// missingCaches reports cache keys that expired away: an asset with a buffer that lacks a
// timeframe other assets have cached.
func missingCaches(snap *Snapshot) []string {
	timeframes := map[model.Timeframe]string{}
	has := map[string]bool{}
	for _, c := range snap.Caches {
		if c.Exists {
			timeframes[c.Timeframe] = c.TimeframeText
			has[c.Asset+"|"+c.Timeframe.String()] = true
		}
	}
	var out []string
	for _, b := range snap.Buffers {
		for _, tf := range model.Timeframes {
			if _, cached := timeframes[tf]; cached && !has[b.Asset+"|"+tf.String()] {
				out = append(out, fmt.Sprintf("cache of %s %s expired or missing", b.Asset, tf))
			}
		}
	}
	slices.Sort(out)
	return out
}

// DownReport is the report of a server that cannot be reached.
func DownReport(endpoint string, err error, now time.Time) Report {
	return Report{
		Schema: ReportSchema, At: now.UTC(), Server: ServerReport{Address: endpoint},
		Buffers: []BufferReport{}, Caches: []CacheReport{},
		Health: Health{Status: Down, Reasons: []string{strings.TrimSpace(err.Error())}},
	}
}
