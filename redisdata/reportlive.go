package redisdata

import (
	"math"
	"time"

	"github.com/quflx/quflx-tui/model"
)

// FeedReport is one asset heard on pub/sub.
type FeedReport struct {
	Asset          string    `json:"asset"`
	LastTick       time.Time `json:"last_tick"` // arrival, by this host's clock
	LastAgeSeconds float64   `json:"last_age_seconds"`
}

// ServiceReport is one service's latest heartbeat.
type ServiceReport struct {
	Service          string     `json:"service"`
	Channel          string     `json:"channel"`
	Status           string     `json:"status"` // its own word
	State            string     `json:"state"`  // connected, disconnected, stale
	SentAt           *time.Time `json:"sent_at"`
	HeartbeatSeconds float64    `json:"heartbeat_age_seconds"`
	Beats            int64      `json:"beats"`
}

// SignalReport is one trading signal.
type SignalReport struct {
	At         time.Time `json:"at"`
	Asset      string    `json:"asset"`
	Action     string    `json:"action"`
	Confidence *float64  `json:"confidence"`
	Strategy   string    `json:"strategy"`
}

// RegimeReport is an asset's latest regime.
type RegimeReport struct {
	Asset      string    `json:"asset"`
	At         time.Time `json:"at"`
	Condition  string    `json:"condition"`
	Direction  string    `json:"direction"`
	Confluence *float64  `json:"confluence_score"`
	Tradeable  *bool     `json:"is_tradeable"`
	Expiry     string    `json:"suggested_expiry,omitempty"`
}

// SideCountsReport counts the side channels' messages.
type SideCountsReport struct {
	Heartbeats int64  `json:"heartbeats"`
	Signals    int64  `json:"signals"`
	Regimes    int64  `json:"regimes"`
	Alerts     int64  `json:"alerts"`
	Bad        int64  `json:"bad"`
	Refused    int64  `json:"refused"`
	LastBad    string `json:"last_bad,omitempty"`
}

// SetLive adds what pub/sub showed (feeds, services, signals, regimes) and judges the
// health again with it.
func (r *Report) SetLive(live model.LiveFacts, view model.PipelineView, snap *Snapshot, th Thresholds) {
	th = th.WithDefaults()
	now := r.At
	r.live = &live
	r.ListenedSeconds = ptr(live.Heard.Seconds())
	for _, f := range live.Feeds {
		r.Feeds = append(r.Feeds, FeedReport{Asset: f.Asset, LastTick: f.LastTick.UTC(), LastAgeSeconds: now.Sub(f.LastTick).Seconds()})
	}
	for _, s := range view.Services {
		sr := ServiceReport{Service: s.Service, Channel: s.Channel, Status: s.Status, State: s.State(now, th.ServiceStale),
			HeartbeatSeconds: now.Sub(s.Received).Seconds(), Beats: s.Beats}
		if !s.Sent.IsZero() {
			sr.SentAt = ptr(s.Sent)
		}
		r.Services = append(r.Services, sr)
	}
	for i, s := range view.Signals {
		if i == 20 {
			break
		}
		sr := SignalReport{At: s.At, Asset: s.Asset, Action: s.Action, Strategy: s.Strategy}
		if !math.IsNaN(s.Confidence) {
			sr.Confidence = ptr(s.Confidence)
		}
		r.Signals = append(r.Signals, sr)
	}
	for _, g := range view.Regimes {
		rr := RegimeReport{Asset: g.Asset, At: g.At, Condition: g.Condition, Direction: g.Direction, Expiry: g.Expiry}
		if !math.IsNaN(g.Confluence) {
			rr.Confluence = ptr(g.Confluence)
		}
		if g.TradeableKnown {
			rr.Tradeable = ptr(g.Tradeable)
		}
		r.Regimes = append(r.Regimes, rr)
	}
	c := view.Counts
	r.SideMessages = &SideCountsReport{Heartbeats: c.Heartbeats, Signals: c.Signals, Regimes: c.Regimes, Alerts: c.Alerts,
		Bad: c.Bad, Refused: c.Refused, LastBad: c.LastBad}
	if snap != nil {
		r.Health = judge(*r, snap, th)
	}
}
