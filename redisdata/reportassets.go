package redisdata

import (
	"slices"
	"strings"
	"time"

	"github.com/quflx/quflx-tui/model"
)

// AssetReport is one asset of the pipeline.
type AssetReport struct {
	Asset          string     `json:"asset"`
	Buffer         *int64     `json:"buffer"`    // entries in its buffer; null: none polled
	InFlight       int64      `json:"in_flight"` // entries in the flushers' claims
	Stored         int64      `json:"stored"`    // ticks the flushers committed since they started
	Caches         int        `json:"caches"`    // candle-cache keys
	LastPrice      *float64   `json:"last_price"`
	LastTimestamp  *time.Time `json:"last_timestamp"`
	LastAgeSeconds *float64   `json:"last_age_seconds"`
	LastFrom       string     `json:"last_from,omitempty"` // buffer, flusher, pubsub
	// Drained: the buffer is empty or absent while the flushers hold or stored its ticks,
	// which a dead feed's empty buffer is not.
	Drained bool     `json:"drained"`
	Sources []string `json:"sources"` // where the asset was seen: buffer, claims, store, cache, pubsub
}

// FlushersSum adds up the flushers' figures.
type FlushersSum struct {
	Alive      int   `json:"alive"`
	Flushed    int64 `json:"flushed"`
	InFlight   int64 `json:"in_flight"`
	Backlog    int64 `json:"backlog"`
	Errors     int64 `json:"errors"`
	Bad        int64 `json:"bad"`
	LostToTrim int64 `json:"lost_to_trim"`
}

// SeenTick is an asset's newest tick as pub/sub brought it.
type SeenTick struct {
	At    time.Time
	Price float64
}

func flusherReport(f *FlusherStatus, now time.Time, th Thresholds) *FlusherReport {
	return &FlusherReport{FlusherStatus: *f, HeartbeatAgeSeconds: now.Sub(f.Heartbeat).Seconds(),
		Alive: model.FlusherAlive(flusherFact(f), now, th)}
}

// pipelineAssets joins what every part of the pipeline knows of each asset.
func pipelineAssets(r Report, snap *Snapshot, now time.Time) []AssetReport {
	byName := map[string]*AssetReport{}
	get := func(asset, source string) *AssetReport {
		a := byName[asset]
		if a == nil {
			a = &AssetReport{Asset: asset, Sources: []string{}}
			byName[asset] = a
		}
		if !slices.Contains(a.Sources, source) {
			a.Sources = append(a.Sources, source)
		}
		return a
	}
	newest := func(a *AssetReport, at time.Time, price float64, from string) {
		if at.IsZero() || (a.LastTimestamp != nil && !at.After(*a.LastTimestamp)) {
			return
		}
		at = at.UTC()
		a.LastTimestamp, a.LastPrice, a.LastFrom = &at, ptr(price), from
	}
	for _, b := range r.Buffers {
		a := get(b.Asset, "buffer")
		a.Buffer = ptr(b.Size)
		if b.LastTimestamp != nil && b.LastPrice != nil {
			newest(a, *b.LastTimestamp, *b.LastPrice, "buffer")
		}
	}
	for _, f := range snap.Flushers {
		for _, fa := range f.Assets {
			var a *AssetReport
			if fa.InFlight > 0 {
				a = get(fa.Asset, "claims")
			}
			if fa.Stored > 0 || !fa.LastTick.IsZero() {
				a = get(fa.Asset, "store")
			}
			if a == nil {
				continue
			}
			a.InFlight += fa.InFlight
			a.Stored += fa.Stored
			newest(a, fa.LastTick, fa.LastPrice, "flusher")
		}
	}
	for _, c := range r.Caches {
		get(c.Asset, "cache").Caches++
	}
	for asset, t := range snap.Seen {
		newest(get(asset, "pubsub"), t.At, t.Price, "pubsub")
	}
	out := make([]AssetReport, 0, len(byName))
	for _, a := range byName {
		if a.LastTimestamp != nil {
			a.LastAgeSeconds = ptr(now.Sub(*a.LastTimestamp).Seconds())
		}
		empty := a.Buffer == nil || *a.Buffer == 0
		a.Drained = empty && (a.InFlight > 0 || a.Stored > 0)
		out = append(out, *a)
	}
	slices.SortFunc(out, func(a, b AssetReport) int { return strings.Compare(a.Asset, b.Asset) })
	return out
}
