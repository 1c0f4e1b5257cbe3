package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The pipeline's own channels, beside the ticks: QuFLX v2's services publish heartbeats
// (system_status, scan:heartbeat), the strategy its signals (trading:signals) and regimes
// (strategy:regime), the scanner the alerts it sent (alerts:dispatched). Their payloads
// are JSON objects whose exact fields vary between services and versions, so the reader
// is liberal: it takes a field under any of its usual names and counts what it cannot
// use. Everything a publisher chooses is cut and made printable before it is kept.

// SideKind is what a side channel carries.
type SideKind uint8

const (
	SideHeartbeat SideKind = iota + 1
	SideSignal
	SideRegime
	SideAlert
)

func (k SideKind) String() string {
	switch k {
	case SideHeartbeat:
		return "heartbeat"
	case SideSignal:
		return "signal"
	case SideRegime:
		return "regime"
	case SideAlert:
		return "alert"
	}
	return "unknown"
}

// ErrBadSide is a side-channel payload that could not be used.
var ErrBadSide = errors.New("unusable payload")

// ServiceBeat is the latest heartbeat of one service.
type ServiceBeat struct {
	Service  string
	Channel  string    // where it beat: system_status, scan:heartbeat
	Status   string    // its own word (connected, disconnected, ...); "" when it sent none
	Sent     time.Time // the payload's timestamp; zero when it had none
	Received time.Time // our clock: staleness is judged by it, whatever the producer's clock says
	Beats    int64
}

// Service states as shown and judged.
const (
	ServiceUp    = "connected"
	ServiceDown  = "disconnected"
	ServiceStale = "stale"
)

// badServiceWords are statuses that say the service is not working.
var badServiceWords = []string{"disconnected", "error", "down", "stopped", "failed", "failure", "offline",
	"unhealthy", "dead", "crashed", "stopping", "degraded"}

// Down reports whether the service said it is not working.
func (b ServiceBeat) Down() bool {
	return slices.Contains(badServiceWords, strings.ToLower(b.Status))
}

// State is the service's state at now: disconnected (its word), stale (silent longer than
// stale), or connected.
func (b ServiceBeat) State(now time.Time, stale time.Duration) string {
	switch {
	case b.Down():
		return ServiceDown
	case stale > 0 && now.Sub(b.Received) > stale:
		return ServiceStale
	}
	return ServiceUp
}

// Signal is one trading signal.
type Signal struct {
	At         time.Time // the payload's timestamp, or when it was received
	Received   time.Time
	Asset      string
	Action     string  // BUY, SELL, or the publisher's own word (upper-cased)
	Confidence float64 // NaN when not given; 0..1 (a percentage is scaled down)
	Strategy   string
	Metadata   string // compact JSON, cut to MaxMetadata
}

// Regime is an asset's market regime as the strategy judged it last.
type Regime struct {
	At, Received   time.Time
	Asset          string
	Condition      string  // "trending", "ranging", ...
	Direction      string  // "up", "bullish", ...
	Confluence     float64 // NaN when not given
	Expiry         string  // suggested expiry, as sent
	Tradeable      bool
	TradeableKnown bool
}

// DispatchedAlert is one alert the scanner sent.
type DispatchedAlert struct {
	At, Received time.Time
	Asset        string
	Text         string
}

// PipelineCounts count the side-channel messages.
type PipelineCounts struct {
	Heartbeats, Signals, Regimes, Alerts int64
	Bad                                  int64     // payloads that could not be used
	Refused                              int64     // services or assets past their bounds, or not admitted
	LastBad                              string    // printable
	LastBadAt                            time.Time // when it was received
}

// PipelineOptions bounds a Pipeline.
type PipelineOptions struct {
	MaxServices        int // services tracked (default 32)
	MaxSignals         int // recent signals of every asset (default 200)
	MaxSignalsPerAsset int // recent signals per asset, for chart markers (default 50)
	MaxAssets          int // assets with signals or a regime (default DefaultMaxAssets)
	MaxAlerts          int // recent dispatched alerts (default 50)
	MaxText            int // bytes of any name or word kept (default 48)
	MaxMetadata        int // bytes of a signal's metadata kept (default 160)
	// Admit, when set, decides whether an asset may have signals and a regime (the
	// watch's admission: a publisher cannot create assets past its bounds this way either).
	Admit func(asset string) bool
}

func (o PipelineOptions) withDefaults() PipelineOptions {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.MaxServices, 32)
	def(&o.MaxSignals, 200)
	def(&o.MaxSignalsPerAsset, 50)
	def(&o.MaxAssets, DefaultMaxAssets)
	def(&o.MaxAlerts, 50)
	def(&o.MaxText, 48)
	def(&o.MaxMetadata, 160)
	return o
}

// Pipeline aggregates the side channels: each service's latest heartbeat, recent signals
// (all, and per asset), each asset's regime, recent dispatched alerts. A reader goroutine
// feeds it (Observe); displays take a view. Safe for concurrent use.
type Pipeline struct {
	opts     PipelineOptions
	mu       sync.Mutex
	services map[string]*ServiceBeat
	signals  *Ring[Signal]
	byAsset  map[string]*Ring[Signal]
	regimes  map[string]Regime
	alerts   *Ring[DispatchedAlert]
	counts   PipelineCounts
}

// NewPipeline returns an empty aggregator.
func NewPipeline(opts PipelineOptions) *Pipeline {
	opts = opts.withDefaults()
	return &Pipeline{opts: opts, services: map[string]*ServiceBeat{}, signals: NewRing[Signal](opts.MaxSignals),
		byAsset: map[string]*Ring[Signal]{}, regimes: map[string]Regime{}, alerts: NewRing[DispatchedAlert](opts.MaxAlerts)}
}

// sidePayload is a side-channel payload's fields, by name.
type sidePayload map[string]json.RawMessage

// Observe folds one payload read from channel in. A payload it cannot use is counted and
// its reason returned.
func (p *Pipeline) Observe(kind SideKind, channel string, payload []byte, now time.Time) error {
	var f sidePayload
	err := json.Unmarshal(payload, &f)
	if err == nil && f == nil {
		err = errors.New("null")
	}
	if err == nil {
		switch kind {
		case SideHeartbeat:
			err = p.heartbeat(channel, f, now)
		case SideSignal:
			err = p.signal(f, now)
		case SideRegime:
			err = p.regime(f, now)
		case SideAlert:
			err = p.alert(f, now)
		default:
			err = fmt.Errorf("no reader for kind %d", kind)
		}
	} else {
		err = fmt.Errorf("not a JSON object: %w", err)
	}
	if err != nil {
		err = fmt.Errorf("%w: %s on %s: %v", ErrBadSide, kind, Printable(cut(channel, 64)), err)
		p.mu.Lock()
		p.counts.Bad++
		p.counts.LastBad = Printable(cut(err.Error(), 200))
		p.counts.LastBadAt = now
		p.mu.Unlock()
	}
	return err
}

var errRefused = errors.New("refused")

func (p *Pipeline) heartbeat(channel string, f sidePayload, now time.Time) error {
	name := f.text(p.opts.MaxText, "service", "name", "service_name", "component", "source")
	if name == "" {
		// The scanner's heartbeat need not name itself: its channel does.
		name = strings.TrimSuffix(strings.TrimSuffix(channel, ":heartbeat"), "_heartbeat")
		name = Printable(cut(name, p.opts.MaxText))
	}
	status := f.text(p.opts.MaxText, "status", "state")
	if status == "" {
		if ok, known := f.boolean("connected", "healthy", "alive", "ok"); known {
			status = map[bool]string{true: ServiceUp, false: ServiceDown}[ok]
		}
	}
	sent, _ := f.time("timestamp", "ts", "time")
	p.mu.Lock()
	defer p.mu.Unlock()
	key := channel + "\x00" + name
	b := p.services[key]
	if b == nil {
		if len(p.services) >= p.opts.MaxServices {
			// Bounded: the service heard from longest ago gives its place, so that names
			// a publisher made up cannot keep a real service out for good.
			oldest := ""
			for k, s := range p.services {
				if oldest == "" || s.Received.Before(p.services[oldest].Received) {
					oldest = k
				}
			}
			delete(p.services, oldest)
			p.counts.Refused++
		}
		b = &ServiceBeat{Service: name, Channel: Printable(cut(channel, p.opts.MaxText))}
		p.services[key] = b
	}
	b.Status, b.Sent, b.Received = status, sent, now
	b.Beats++
	p.counts.Heartbeats++
	return nil
}

// admitAssetLocked decides whether asset may be kept; refused ones are counted.
func (p *Pipeline) admitAssetLocked(asset string, known bool) bool {
	if !known && len(p.regimes)+len(p.byAsset) >= 2*p.opts.MaxAssets {
		p.counts.Refused++
		return false
	}
	if p.opts.Admit != nil && !p.opts.Admit(asset) {
		p.counts.Refused++
		return false
	}
	return true
}

func (p *Pipeline) asset(f sidePayload) (string, error) {
	raw := f.rawText("asset", "symbol", "pair", "instrument")
	if raw == "" {
		return "", errors.New("no asset")
	}
	if why := PlausibleAsset(raw); why != "" {
		return "", fmt.Errorf("asset %q %s", Printable(cut(raw, 40)), why)
	}
	return raw, nil
}

func (p *Pipeline) signal(f sidePayload, now time.Time) error {
	asset, err := p.asset(f)
	if err != nil {
		return err
	}
	action := strings.ToUpper(f.text(p.opts.MaxText, "action", "signal", "side", "direction", "type"))
	if action == "" {
		return errors.New("no action")
	}
	s := Signal{Received: now, Asset: asset, Action: action, Confidence: math.NaN(),
		Strategy: f.text(p.opts.MaxText, "strategy_id", "strategy", "strategy_name", "source")}
	if c, ok := f.number("confidence", "score", "probability"); ok && c >= 0 {
		if c > 1 && c <= 100 {
			c /= 100 // sent as a percentage
		}
		if c <= 1 {
			s.Confidence = c
		}
	}
	s.At = now
	if at, ok := f.time("timestamp", "ts", "time"); ok {
		s.At = at
	}
	if md, ok := f["metadata"]; ok {
		s.Metadata = compactJSON(md, p.opts.MaxMetadata)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.byAsset[asset]
	if !p.admitAssetLocked(asset, r != nil) {
		return nil
	}
	if r == nil {
		r = NewRing[Signal](p.opts.MaxSignalsPerAsset)
		p.byAsset[asset] = r
	}
	r.Push(s)
	p.signals.Push(s)
	p.counts.Signals++
	return nil
}

func (p *Pipeline) regime(f sidePayload, now time.Time) error {
	asset, err := p.asset(f)
	if err != nil {
		return err
	}
	r := Regime{Received: now, At: now, Asset: asset, Confluence: math.NaN(),
		Condition: f.text(p.opts.MaxText, "condition", "regime", "market_condition", "state"),
		Direction: f.text(p.opts.MaxText, "direction", "bias", "trend"),
		Expiry:    f.text(p.opts.MaxText, "suggested_expiry", "expiry")}
	if c, ok := f.number("confluence_score", "confluence", "score"); ok {
		r.Confluence = c
	}
	r.Tradeable, r.TradeableKnown = f.boolean("is_tradeable", "tradeable")
	if at, ok := f.time("timestamp", "ts", "time"); ok {
		r.At = at
	}
	if r.Condition == "" && r.Direction == "" && !r.TradeableKnown && math.IsNaN(r.Confluence) {
		return errors.New("no condition, direction, confluence or tradeability")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	_, known := p.regimes[asset]
	if !p.admitAssetLocked(asset, known) {
		return nil
	}
	p.regimes[asset] = r
	p.counts.Regimes++
	return nil
}

func (p *Pipeline) alert(f sidePayload, now time.Time) error {
	a := DispatchedAlert{At: now, Received: now}
	if asset, err := p.asset(f); err == nil {
		a.Asset = asset
	}
	var parts []string
	for _, names := range [][]string{{"type", "alert_type", "kind", "rule"}, {"action", "signal", "direction"},
		{"message", "text", "reason", "title", "description"}} {
		if t := f.text(2*p.opts.MaxText, names...); t != "" {
			parts = append(parts, t)
		}
	}
	if len(parts) == 0 {
		// Nothing we know: the object itself, cut, says what it was.
		b, _ := json.Marshal(f)
		parts = append(parts, compactJSON(b, 2*p.opts.MaxText))
	}
	a.Text = strings.Join(parts, " ")
	if at, ok := f.time("timestamp", "ts", "time", "dispatched_at"); ok {
		a.At = at
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.alerts.Push(a)
	p.counts.Alerts++
	return nil
}

// PipelineView is a copy of a Pipeline's state for a display or a report.
type PipelineView struct {
	Services []ServiceBeat // by name, then channel
	Signals  []Signal      // newest first
	Regimes  []Regime      // by asset
	Alerts   []DispatchedAlert
	Counts   PipelineCounts
}

// View copies the state: up to maxSignals recent signals (0: all kept), every service and
// regime, the recent alerts.
func (p *Pipeline) View(maxSignals int) PipelineView {
	p.mu.Lock()
	defer p.mu.Unlock()
	v := PipelineView{Counts: p.counts}
	for _, b := range p.services {
		v.Services = append(v.Services, *b)
	}
	slices.SortFunc(v.Services, func(a, b ServiceBeat) int {
		return strings.Compare(a.Service+"\x00"+a.Channel, b.Service+"\x00"+b.Channel)
	})
	v.Signals = newestFirst(p.signals, maxSignals, v.Signals)
	for _, r := range p.regimes {
		v.Regimes = append(v.Regimes, r)
	}
	slices.SortFunc(v.Regimes, func(a, b Regime) int { return strings.Compare(a.Asset, b.Asset) })
	v.Alerts = newestFirst(p.alerts, 0, v.Alerts)
	return v
}

// SignalsFor appends asset's recent signals, oldest first (as a chart draws them), to dst.
func (p *Pipeline) SignalsFor(asset string, dst []Signal) []Signal {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r := p.byAsset[asset]; r != nil {
		dst = r.AppendTo(dst)
	}
	return dst
}

// Regime is asset's latest regime.
func (v PipelineView) Regime(asset string) (Regime, bool) {
	i, ok := slices.BinarySearchFunc(v.Regimes, asset, func(r Regime, a string) int { return strings.Compare(r.Asset, a) })
	if !ok {
		return Regime{}, false
	}
	return v.Regimes[i], true
}

// SignalsFor returns asset's signals among the view's recent ones, oldest first.
func (v PipelineView) SignalsFor(asset string) []Signal {
	var out []Signal
	for i := len(v.Signals) - 1; i >= 0; i-- {
		if v.Signals[i].Asset == asset {
			out = append(out, v.Signals[i])
		}
	}
	return out
}

func newestFirst[T any](r *Ring[T], n int, dst []T) []T {
	all := r.AppendTo(nil)
	if n <= 0 || n > len(all) {
		n = len(all)
	}
	for i := len(all) - 1; i >= len(all)-n; i-- {
		dst = append(dst, all[i])
	}
	return dst
}

// rawText is the first field of names holding a string (or a number, as text), unmodified.
func (f sidePayload) rawText(names ...string) string {
	for _, n := range names {
		raw, ok := f[n]
		if !ok {
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) == nil && s != "" {
			return s
		}
		var num json.Number
		if json.Unmarshal(raw, &num) == nil {
			return num.String()
		}
	}
	return ""
}

// text is rawText cut to max bytes and made printable: for display.
func (f sidePayload) text(max int, names ...string) string {
	return Printable(cut(strings.TrimSpace(f.rawText(names...)), max))
}

func (f sidePayload) number(names ...string) (float64, bool) {
	for _, n := range names {
		raw, ok := f[n]
		if !ok {
			continue
		}
		var v float64
		if json.Unmarshal(raw, &v) == nil && !math.IsNaN(v) && !math.IsInf(v, 0) {
			return v, true
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			if v, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil && !math.IsNaN(v) && !math.IsInf(v, 0) {
				return v, true
			}
		}
	}
	return 0, false
}

func (f sidePayload) boolean(names ...string) (value, known bool) {
	for _, n := range names {
		raw, ok := f[n]
		if !ok {
			continue
		}
		var b bool
		if json.Unmarshal(raw, &b) == nil {
			return b, true
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			if b, err := strconv.ParseBool(strings.ToLower(strings.TrimSpace(s))); err == nil {
				return b, true
			}
		}
	}
	return false, false
}

// time reads a timestamp as the tick decoder does: epoch seconds (float), milliseconds,
// or an ISO-8601 string.
func (f sidePayload) time(names ...string) (time.Time, bool) {
	for _, n := range names {
		raw, ok := f[n]
		if !ok {
			continue
		}
		if v, ok := f.number(n); ok {
			if us := epochToMicros(v); us >= minUnixMicro {
				return time.UnixMicro(us).UTC(), true
			}
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			if t, ok := parseISOTime([]byte(strings.TrimSpace(s))); ok && t.UnixMicro() >= minUnixMicro {
				return t.UTC(), true
			}
		}
	}
	return time.Time{}, false
}

// compactJSON is raw JSON on one line, cut to max bytes, printable.
func compactJSON(raw []byte, max int) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return ""
	}
	return Printable(cut(b.String(), max))
}

// cut shortens s to at most n bytes on a rune boundary, marking the cut with "…".
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && s[i]&0xC0 == 0x80 {
		i--
	}
	return s[:i] + "…"
}
