package model

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Health words.
const (
	Healthy  = "healthy"
	Degraded = "degraded"
	Down     = "down"
)

// Health is a pipeline's health and why.
type Health struct {
	Status  string   `json:"status"` // healthy, degraded, down
	Reasons []string `json:"reasons"`
	// Findings are the reasons as data, one each, in the same order: what alert rules are
	// made of (see Alerts). Not in the JSON: Reasons say it for people.
	Findings []Finding `json:"-"`
}

// Finding is one thing JudgeHealth found wrong. Kind and Subject name it across
// judgements (its Text changes as ages grow; they do not), so that a finding that persists
// is the same alert from poll to poll.
type Finding struct {
	Kind    string // feed_stale, buffer_fill, buffer_error, cache_expired, ...: see the Finding* constants
	Subject string // what it is about: a key, an asset, a flusher, a server
	Asset   string // the asset, when it is about one
	// Value and Threshold are the figure judged and the limit it crossed, when there is
	// one (seconds, fractions, entries); HasValue says whether they are set.
	Value, Threshold float64
	HasValue         bool
	Text             string // the reason, as Reasons has it
}

// The kinds of findings.
const (
	FindingFeedStale      = "feed_stale"
	FindingBufferFill     = "buffer_fill"
	FindingBufferError    = "buffer_error"
	FindingCacheExpired   = "cache_expired"
	FindingCacheMissing   = "cache_missing"
	FindingNoFlusher      = "flusher_missing"
	FindingFlusherDead    = "flusher_heartbeat"
	FindingBacklogFull    = "backlog_full"
	FindingFlusherProblem = "flusher_problem"
	FindingTrimLoss       = "trim_loss"
	FindingClaimVanished  = "claim_vanished"
	FindingServerDown     = "redis_down"
	FindingClusterNode    = "cluster_node" // a node of a Redis Cluster does not answer
	FindingSentinel       = "sentinel"     // no Sentinel named the master
	// QuFLX v2's services and feeds, judged from pub/sub.
	FindingServiceDown    = "service_disconnected" // a service said so on its heartbeat channel
	FindingServiceStale   = "service_heartbeat"    // its heartbeat is older than ServiceStale
	FindingServiceMissing = "service_missing"      // no heartbeat heard at all in the window
	FindingNoTicks        = "feed_silent"          // no tick on the tick channel in the window
	FindingUnknown        = "health"               // a reason given without a finding (see FindingsOf)
)

// judgement gathers a health's findings as JudgeHealth makes them.
type judgement struct{ findings []Finding }

// add records a finding without a figure.
func (j *judgement) add(kind, subject, asset, text string) {
	j.findings = append(j.findings, Finding{Kind: kind, Subject: subject, Asset: asset, Text: text})
}

// measured records a finding with the figure judged and its limit.
func (j *judgement) measured(kind, subject, asset string, value, threshold float64, text string) {
	j.findings = append(j.findings, Finding{Kind: kind, Subject: subject, Asset: asset, Value: value,
		Threshold: threshold, HasValue: true, Text: text})
}

// health is the verdict: degraded when anything was found.
func (j *judgement) health() Health {
	if len(j.findings) == 0 {
		return Health{Status: Healthy, Reasons: []string{}}
	}
	reasons := make([]string, len(j.findings))
	for i, f := range j.findings {
		reasons[i] = f.Text
	}
	return Health{Status: Degraded, Reasons: reasons, Findings: j.findings}
}

// DownHealth is the health of a server that could not be read: down, for err.
func DownHealth(endpoint string, err error) Health {
	text := strings.TrimSpace(err.Error())
	return Health{Status: Down, Reasons: []string{text},
		Findings: []Finding{{Kind: FindingServerDown, Subject: endpoint, Text: text}}}
}

// FindingsOf returns h's findings, and one for each reason that has none (a judgement
// that gave only a text): its kind is FindingUnknown and its subject the text with the
// digits masked, so that "last tick 61s ago" and "62s ago" are the same finding.
func FindingsOf(h Health) []Finding {
	if len(h.Findings) == len(h.Reasons) {
		return h.Findings
	}
	out := slices.Clone(h.Findings)
	has := map[string]bool{}
	for _, f := range h.Findings {
		has[f.Text] = true
	}
	for _, r := range h.Reasons {
		if !has[r] {
			out = append(out, Finding{Kind: FindingUnknown, Subject: maskDigits(r), Text: r})
		}
	}
	return out
}

func maskDigits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return '#'
		}
		return r
	}, s)
}

// FreshTTL is QuFLX's own threshold: a cache key with more to live is fresh.
const FreshTTL = 300 * time.Second

// HealthThresholds decide when a pipeline is degraded. status and the dashboard judge with
// the same ones, so they never disagree about the same pipeline.
type HealthThresholds struct {
	Capacity     int           // the producers' buffer cap (default 1000)
	MaxFill      float64       // a buffer fuller than this is a problem (default 0.9)
	Stale        time.Duration // a feed silent longer than this is stale (default 60 s)
	MaxHeartbeat time.Duration // a flusher heartbeat older than this is dead (default 10 s)
	NoFlusher    bool          // do not require a flusher
	// ServiceStale: a service heartbeat (QuFLX v2's system_status) older than this is
	// stale (default 15 s: three of its 5 s periods).
	ServiceStale time.Duration
}

// WithDefaults fills the thresholds left at zero.
func (t HealthThresholds) WithDefaults() HealthThresholds {
	if t.Capacity <= 0 {
		t.Capacity = 1000
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
	if t.ServiceStale <= 0 {
		t.ServiceStale = 15 * time.Second
	}
	return t
}

// HealthFacts are what health is judged from.
type HealthFacts struct {
	Buffers       []BufferFact
	Caches        []CacheFact
	MissingCaches []string // "cache of EURUSD_otc 1m expired or missing"
	// Flusher is the one flusher of a pipeline that publishes a single status; Flushers,
	// when set, are every flusher instance (Flusher is then ignored).
	Flusher  *FlusherFact
	Flushers []FlusherFact
	// Assets, when set, judge each feed from the newest tick seen anywhere in the
	// pipeline (buffer, the flushers' claims and stores, pub/sub) in place of the
	// buffers' ends: a buffer the flushers drain has no tick to show most of the time.
	Assets []AssetFact
	// Live is what pub/sub showed, for topologies judged from it (QuFLX v2); nil: none.
	Live *LiveFacts
}

// AssetFact is one asset of the pipeline and its newest tick.
type AssetFact struct {
	Asset    string
	LastTick time.Time // zero: unknown
	From     string    // where it was seen: buffer, flusher, pubsub
}

// LiveFacts are what a subscriber heard over a window: the feeds and the services'
// heartbeats.
type LiveFacts struct {
	Heard       time.Duration // how long it has listened
	TickChannel string        // for the reasons: "market_data"
	Feeds       []FeedFact    // assets that ticked, with their newest tick's arrival
	// HeartbeatChannels are listened to for heartbeats; none: services are not judged.
	HeartbeatChannels []string
	Services          []ServiceBeat
	Expect            []string // services that must beat (--expect-services)
}

// FeedFact is one asset seen on pub/sub.
type FeedFact struct {
	Asset    string
	LastTick time.Time // arrival, by our clock
}

// BufferFact is one tick buffer.
type BufferFact struct {
	Key, Asset string
	Size       int64
	Err        string
	LastTick   time.Time // zero: unknown
}

// CacheFact is one candle-cache key.
type CacheFact struct {
	Key   string
	State string // CacheState's words
}

// FlusherFact is a flusher's published status.
type FlusherFact struct {
	Instance   string // who publishes it ("" for the one default flusher)
	State      string
	Heartbeat  time.Time
	Problem    string
	LostToTrim int64
	Vanished   int64 // ticks of claims that left Redis before they were stored
	// BacklogFull: claiming stopped at MaxBacklog entries in flight (Backlog).
	BacklogFull         bool
	Backlog, MaxBacklog int64
}

// FlusherAlive reports whether a flusher still beats.
func FlusherAlive(f FlusherFact, now time.Time, th HealthThresholds) bool {
	th = th.WithDefaults()
	return now.Sub(f.Heartbeat) <= th.MaxHeartbeat && f.State != "stopped"
}

// CacheState names a cache key's state: error, expired, persistent, fresh (over
// FreshTTL to live) or expiring.
func CacheState(failed, exists, noExpiry bool, ttl time.Duration) string {
	switch {
	case failed:
		return "error"
	case !exists:
		return "expired"
	case noExpiry:
		return "persistent"
	case ttl > FreshTTL:
		return "fresh"
	}
	return "expiring"
}

// JudgeHealth lists what is wrong: a stale feed, a buffer near its cap, a flusher without
// a heartbeat or with a problem, ticks lost to the trim, an expired cache key. Each reason
// comes with its Finding: a new judgement added here with j.add or j.measured is an alert
// rule at once.
func JudgeHealth(f HealthFacts, th HealthThresholds, now time.Time) Health {
	th = th.WithDefaults()
	var j judgement
	stale := func(asset string, last time.Time, from string) {
		if age := now.Sub(last); age > th.Stale {
			text := fmt.Sprintf("feed %s stale: last tick %s ago", asset, age.Round(time.Second))
			if from != "" {
				text += " (" + from + ")"
			}
			j.measured(FindingFeedStale, asset, asset, age.Seconds(), th.Stale.Seconds(), text)
		}
	}
	for _, b := range f.Buffers {
		switch fill := float64(b.Size) / float64(th.Capacity); {
		case b.Err != "":
			j.add(FindingBufferError, b.Key, b.Asset, fmt.Sprintf("buffer %s: %s", b.Key, b.Err))
		case fill > th.MaxFill:
			j.measured(FindingBufferFill, b.Key, b.Asset, fill, th.MaxFill,
				fmt.Sprintf("buffer %s at %.0f%% of its %d cap", b.Key, 100*fill, th.Capacity))
		}
		if !b.LastTick.IsZero() && f.Assets == nil {
			stale(b.Asset, b.LastTick, "")
		}
	}
	for _, a := range f.Assets {
		if !a.LastTick.IsZero() {
			stale(a.Asset, a.LastTick, a.From)
		}
	}
	for _, c := range f.Caches {
		if c.State == "expired" || c.State == "error" {
			j.add(FindingCacheExpired, c.Key, "", fmt.Sprintf("cache %s %s", c.Key, c.State))
		}
	}
	missing := slices.Clone(f.MissingCaches)
	slices.Sort(missing)
	for _, m := range missing {
		j.add(FindingCacheMissing, m, "", m)
	}
	flushers := f.Flushers
	if flushers == nil && f.Flusher != nil {
		flushers = []FlusherFact{*f.Flusher}
	}
	alive := 0
	for _, fl := range flushers {
		if FlusherAlive(fl, now, th) {
			alive++
		}
	}
	switch {
	case th.NoFlusher:
	case len(flushers) == 0:
		j.add(FindingNoFlusher, "flusher", "", "no flusher heartbeat (no status published)")
	case alive == 0 && len(flushers) == 1:
		fl := flushers[0]
		age := now.Sub(fl.Heartbeat).Seconds()
		j.measured(FindingFlusherDead, flusherName(fl), "", age, th.MaxHeartbeat.Seconds(),
			fmt.Sprintf("flusher %s, last heartbeat %.0fs ago", fl.State, age))
	case alive == 0:
		j.add(FindingFlusherDead, "flushers", "", fmt.Sprintf("no flusher alive of %d that published a status", len(flushers)))
	}
	for _, fl := range flushers {
		name := "flusher"
		if len(flushers) > 1 {
			name = "flusher " + fl.Instance
		}
		if FlusherAlive(fl, now, th) && fl.Problem != "" {
			// "backlog full: store down since ...", "store down since ...": its own words.
			text := name + ": " + fl.Problem
			if fl.BacklogFull {
				j.measured(FindingBacklogFull, flusherName(fl), "", float64(fl.Backlog), float64(fl.MaxBacklog), text)
			} else {
				j.add(FindingFlusherProblem, flusherName(fl), "", text)
			}
		}
		if fl.LostToTrim > 0 {
			j.measured(FindingTrimLoss, flusherName(fl), "", float64(fl.LostToTrim), 0,
				fmt.Sprintf("%s reports %d ticks lost to the producers' trim", name, fl.LostToTrim))
		}
		if fl.Vanished > 0 {
			j.measured(FindingClaimVanished, flusherName(fl), "", float64(fl.Vanished), 0,
				fmt.Sprintf("%s reports %d ticks lost: their claims left Redis before they were stored (eviction, FLUSHDB, DEL)", name, fl.Vanished))
		}
	}
	if f.Live != nil {
		// The whole pipeline's assets (f.Assets) already judge each feed from its newest
		// tick, pub/sub's included: the live facts then judge only the rest.
		judgeLive(&j, *f.Live, f.Assets == nil, th, now)
	}
	return j.health()
}

// flusherName names a flusher in findings: by its instance, so that each of several is
// an alert of its own.
func flusherName(f FlusherFact) string {
	if f.Instance != "" {
		return "flusher " + f.Instance
	}
	return "flusher"
}

// judgeLive finds what pub/sub shows wrong: no ticks at all, a stale feed, a service that
// said it is disconnected or fell silent, an expected service never heard. A window
// shorter than one heartbeat period (a third of ServiceStale) proves no absence yet.
func judgeLive(j *judgement, l LiveFacts, feeds bool, th HealthThresholds, now time.Time) {
	window := l.Heard >= th.ServiceStale/3
	heard := l.Heard.Round(time.Second)
	if len(l.Feeds) == 0 && window && l.TickChannel != "" {
		j.measured(FindingNoTicks, l.TickChannel, "", l.Heard.Seconds(), 0,
			fmt.Sprintf("no ticks on %s in %s", l.TickChannel, heard))
	}
	for _, feed := range l.Feeds {
		if !feeds {
			break
		}
		if age := now.Sub(feed.LastTick); age > th.Stale {
			j.measured(FindingFeedStale, feed.Asset, feed.Asset, age.Seconds(), th.Stale.Seconds(),
				fmt.Sprintf("feed %s stale: last tick %s ago", feed.Asset, age.Round(time.Second)))
		}
	}
	if len(l.HeartbeatChannels) == 0 {
		return
	}
	seen := map[string]bool{}
	for _, s := range l.Services {
		seen[s.Service] = true
		subject := "service " + s.Service
		age := now.Sub(s.Received)
		switch s.State(now, th.ServiceStale) {
		case ServiceDown:
			j.add(FindingServiceDown, subject, "", fmt.Sprintf("service %s %s (on %s, %s ago)", s.Service, s.Status,
				s.Channel, age.Round(time.Second)))
		case ServiceStale:
			j.measured(FindingServiceStale, subject, "", age.Seconds(), th.ServiceStale.Seconds(),
				fmt.Sprintf("service %s stale: last heartbeat %s ago (on %s)", s.Service, age.Round(time.Second), s.Channel))
		}
	}
	for _, name := range l.Expect {
		if !seen[name] && window {
			j.add(FindingServiceMissing, "service "+name, "", fmt.Sprintf("service %s: no heartbeat in %s", name, heard))
		}
	}
	if len(l.Services) == 0 && len(l.Expect) == 0 && window {
		channels := strings.Join(l.HeartbeatChannels, ", ")
		j.add(FindingServiceMissing, "services", "", fmt.Sprintf("no service heartbeat on %s in %s", channels, heard))
	}
}
