package redisdata

import (
	"fmt"
	"slices"
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
	// Flushers are every flusher instance with a live status, and their sum.
	Flushers    []FlusherReport `json:"flushers"`
	FlushersSum FlushersSum     `json:"flushers_sum"`
	// Assets are the whole pipeline's assets: buffers, the flushers' claims and stores,
	// cache keys and pub/sub, each with the newest tick seen anywhere.
	Assets []AssetReport `json:"assets"`
	Health Health        `json:"health"`

	// Topology is quflx-v1 (buffers, cache, a channel per asset) or quflx-v2 (pub/sub
	// only). The sections below are what pub/sub showed over ListenedSeconds: under v2
	// health is judged from them.
	Topology        string            `json:"topology"`
	ListenedSeconds *float64          `json:"listened_seconds,omitempty"`
	Feeds           []FeedReport      `json:"feeds,omitempty"`
	Services        []ServiceReport   `json:"services,omitempty"`
	Signals         []SignalReport    `json:"signals,omitempty"` // newest first, at most 20
	Regimes         []RegimeReport    `json:"regimes,omitempty"`
	SideMessages    *SideCountsReport `json:"side_messages,omitempty"`

	live *model.LiveFacts // what health was judged from, beside the snapshot
}

// ServerReport is the server's INFO, typed: of a Redis Cluster, its masters' sum, each
// node being listed in Nodes.
type ServerReport struct {
	Address string `json:"address"`
	// Mode is "standalone", "cluster" or "sentinel" (a master reached through Sentinel).
	Mode string `json:"mode"`
	// Master is the server the Sentinels named at this poll (sentinel mode only).
	Master           *string            `json:"master,omitempty"`
	Nodes            []NodeReport       `json:"nodes,omitempty"` // cluster mode only
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

// NodeReport is one node of a Redis Cluster.
type NodeReport struct {
	Address          string   `json:"address"`
	Role             *string  `json:"role"`  // master, slave
	Slots            int      `json:"slots"` // hash slots served (0 on a replica)
	UsedMemory       *int64   `json:"used_memory_bytes"`
	OpsPerSec        *int64   `json:"instantaneous_ops_per_sec"`
	WindowOpsPerSec  *float64 `json:"window_ops_per_sec"` // since the previous poll (--watch)
	ConnectedClients *int64   `json:"connected_clients"`
	Keys             *int64   `json:"keys"`
	Error            string   `json:"error,omitempty"`
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

// Health is the pipeline's health and why (model.JudgeHealth decides it, for the
// dashboard as for status).
type Health = model.Health

// Health words.
const (
	Healthy  = model.Healthy
	Degraded = model.Degraded
	Down     = model.Down
)

// FreshTTL is QuFLX's own threshold: a cache key with more to live is fresh.
const FreshTTL = model.FreshTTL

// Thresholds decide when a pipeline is degraded (see model.HealthThresholds).
type Thresholds = model.HealthThresholds

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
	th = th.WithDefaults()
	in := snap.Info
	r := Report{Schema: ReportSchema, At: now.UTC(), Buffers: []BufferReport{}, Caches: []CacheReport{},
		Topology: TopologyV1}
	r.Server = ServerReport{
		Address: endpoint, UptimeSeconds: known(in.UptimeSeconds), ConnectedClients: known(in.ConnectedClients),
		UsedMemory: known(in.UsedMemory), UsedMemoryPeak: known(in.UsedMemoryPeak), UsedMemoryRSS: known(in.UsedMemoryRSS),
		OpsPerSec: known(in.OpsPerSec), TotalCommands: known(in.TotalCommands), KeyspaceHits: known(in.KeyspaceHits),
		KeyspaceMisses: known(in.KeyspaceMisses), ExpiredKeys: known(in.ExpiredKeys), EvictedKeys: known(in.EvictedKeys),
		PubSubChannels: known(in.PubSubChannels), PubSubPatterns: known(in.PubSubPatterns),
		PingMillis: ms(ping), PollMillis: ms(snap.RoundTrip),
	}
	r.Server.Mode = "standalone"
	switch {
	case len(snap.Nodes) > 0:
		r.Server.Mode = "cluster"
		for _, n := range snap.Nodes {
			r.Server.Nodes = append(r.Server.Nodes, newNodeReport(n))
		}
	case snap.Master != "" || snap.MasterErr != nil:
		r.Server.Mode = "sentinel"
		if snap.Master != "" {
			r.Server.Master = ptr(snap.Master)
		}
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
		r.Flusher = flusherReport(f, now, th)
	}
	r.Flushers = []FlusherReport{}
	for i := range snap.Flushers {
		fr := flusherReport(&snap.Flushers[i], now, th)
		r.Flushers = append(r.Flushers, *fr)
		if fr.Alive {
			r.FlushersSum.Alive++
		}
		r.FlushersSum.Flushed += fr.Flushed
		r.FlushersSum.InFlight += fr.InFlight
		r.FlushersSum.Backlog += fr.Backlog
		r.FlushersSum.Errors += fr.Errors
		r.FlushersSum.Bad += fr.Bad
		r.FlushersSum.LostToTrim += fr.LostToTrim
	}
	if r.Flusher == nil && len(r.Flushers) > 0 {
		r.Flusher = &r.Flushers[0]
	}
	r.Assets = pipelineAssets(r, snap, now)
	r.Health = judge(r, snap, th)
	degrade := func(kind, subject, reason string) {
		if r.Health.Status == Healthy {
			r.Health.Status = Degraded
		}
		r.Health.Reasons = append(r.Health.Reasons, reason)
		r.Health.Findings = append(r.Health.Findings, model.Finding{Kind: kind, Subject: subject, Text: reason})
	}
	// A cluster node that does not answer, or Sentinels that cannot be asked: the keys
	// read may be all there are, but part of the deployment is out of sight.
	for _, n := range r.Server.Nodes {
		if n.Error != "" {
			degrade(model.FindingClusterNode, n.Address, "cluster node "+n.Error)
		}
	}
	if snap.MasterErr != nil {
		degrade(model.FindingSentinel, endpoint, snap.MasterErr.Error())
	}
	return r
}

func newNodeReport(n NodeInfo) NodeReport {
	in := n.Info
	nr := NodeReport{Address: n.Addr, Slots: n.Slots, UsedMemory: known(in.UsedMemory), OpsPerSec: known(in.OpsPerSec),
		ConnectedClients: known(in.ConnectedClients)}
	if n.Role != "" {
		nr.Role = ptr(n.Role)
	}
	if n.Window.Valid && in.TotalCommands.Known {
		nr.WindowOpsPerSec = ptr(n.Window.OpsPerSec)
	}
	if in.Keyspace != nil {
		var keys int64
		for _, db := range in.Keyspace {
			keys += db.Keys
		}
		nr.Keys = &keys
	}
	if n.Err != nil {
		nr.Error = n.Err.Error()
	}
	return nr
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
	cr.State = model.CacheState(c.Err != nil, c.Exists, c.NoExpiry, c.TTL)
	switch cr.State {
	case "error":
		cr.Error = c.Err.Error()
	case "persistent":
		cr.TTLSeconds = -1
	case "fresh", "expiring":
		cr.TTLSeconds = int64(c.TTL.Seconds())
	}
	return cr
}

// judge gathers a report's facts for model.JudgeHealth.
func judge(r Report, snap *Snapshot, th Thresholds) Health {
	var f model.HealthFacts
	for i, b := range r.Buffers {
		bf := model.BufferFact{Key: b.Key, Asset: b.Asset, Size: b.Size, Err: b.Error}
		if b.LastTimestamp != nil && snap.Buffers[i].Last != nil {
			bf.LastTick = *b.LastTimestamp
		}
		f.Buffers = append(f.Buffers, bf)
	}
	for _, c := range r.Caches {
		f.Caches = append(f.Caches, model.CacheFact{Key: c.Key, State: c.State})
	}
	f.MissingCaches = missingCaches(snap)
	if r.Flusher != nil {
		ff := flusherFact(&r.Flusher.FlusherStatus)
		f.Flusher = &ff
	}
	if len(r.Flushers) > 0 {
		for i := range r.Flushers {
			f.Flushers = append(f.Flushers, flusherFact(&r.Flushers[i].FlusherStatus))
		}
	}
	f.Assets = []model.AssetFact{}
	for _, a := range r.Assets {
		af := model.AssetFact{Asset: a.Asset, From: a.LastFrom}
		if a.LastTimestamp != nil {
			af.LastTick = *a.LastTimestamp
		}
		f.Assets = append(f.Assets, af)
	}
	f.Live = r.live
	return model.JudgeHealth(f, th, r.At)
}

func flusherFact(f *FlusherStatus) model.FlusherFact {
	return model.FlusherFact{Instance: f.Instance, State: f.State, Heartbeat: f.Heartbeat, Problem: f.Problem,
		LostToTrim: f.LostToTrim, Vanished: f.Vanished, BacklogFull: f.BacklogFull, Backlog: f.InFlight, MaxBacklog: f.MaxBacklog}
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
		Buffers: []BufferReport{}, Caches: []CacheReport{}, Flushers: []FlusherReport{}, Assets: []AssetReport{},
		Topology: TopologyV1,
		Health:   model.DownHealth(endpoint, err),
	}
}
