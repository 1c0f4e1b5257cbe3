package ui

import (
	"fmt"
	"math"
	"strings"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/model/format"
)

// The panels of a pub/sub-only pipeline (QuFLX v2), in the places of the cache and
// flusher panels, which it has no use for: the services' heartbeats and the trading
// signals. Every text in them passed model.Printable in the model (model.Pipeline).

// servicesPanel shows each service's latest heartbeat: its state (connected,
// disconnected, stale after the heartbeat threshold), its age and its channel.
type servicesPanel struct {
	common
	view *model.PipelineView
}

func newServicesPanel(ctx *frameContext) *servicesPanel {
	return &servicesPanel{common: newCommon(ctx, true)} // ages move every second
}

// SetPoll shows a poll's services.
func (sp *servicesPanel) SetPoll(p *Poll) {
	sp.view = &p.Pipeline
	sp.invalidate()
}

func (sp *servicesPanel) render() string {
	t := sp.ctx.theme
	title := t.Title.Render("Services")
	if sp.view != nil && len(sp.view.Services) > 0 {
		title += t.Muted.Render(fmt.Sprintf(" %d", len(sp.view.Services)))
	}
	return sp.box(title, sp.body())
}

func (sp *servicesPanel) body() []string {
	t, now, w := sp.ctx.theme, sp.ctx.now, sp.w-2
	stale := sp.ctx.thresholds.ServiceStale
	if sp.view == nil {
		return []string{t.Muted.Render("no reading yet")}
	}
	if len(sp.view.Services) == 0 {
		return []string{t.Warn.Render("no heartbeat yet"), t.Muted.Render("(system_status, every 5s)")}
	}
	nameW := 6
	for _, s := range sp.view.Services {
		nameW = max(nameW, len(s.Service))
	}
	nameW = min(nameW, max(6, w-17))
	var lines []string
	for _, s := range sp.view.Services {
		state := s.State(now, stale)
		style := t.Good
		switch state {
		case model.ServiceDown:
			style = t.Bad
		case model.ServiceStale:
			style = t.Warn
		}
		word := state
		if state == model.ServiceDown && s.Status != "" {
			word = strings.ToLower(s.Status)
		}
		line := style.Render(t.G.Live) + " " + fit(cut(s.Service, nameW, t.G.Ellipsis), nameW) + " " +
			style.Render(fit(cut(word, 12, t.G.Ellipsis), 12)) + " " + fitRight(format.Age(now.Sub(s.Received)), 4)
		lines = append(lines, fit(line, w))
	}
	if c := sp.view.Counts; c.Bad > 0 || c.Refused > 0 {
		lines = append(lines, t.Warn.Render(fit(fmt.Sprintf("bad %d refused %d", c.Bad, c.Refused), w)))
	}
	return lines
}

// signalsPanel lists the newest trading signals: time, asset, action, confidence,
// strategy.
type signalsPanel struct {
	common
	view *model.PipelineView
}

func newSignalsPanel(ctx *frameContext) *signalsPanel {
	return &signalsPanel{common: newCommon(ctx, false)}
}

// SetPoll shows a poll's signals.
func (sp *signalsPanel) SetPoll(p *Poll) {
	sp.view = &p.Pipeline
	sp.invalidate()
}

func (sp *signalsPanel) render() string {
	t := sp.ctx.theme
	title := t.Title.Render("Signals")
	if sp.view != nil && sp.view.Counts.Signals > 0 {
		title += t.Muted.Render(" " + format.Thousands(sp.view.Counts.Signals))
	}
	return sp.box(title, sp.body())
}

func (sp *signalsPanel) body() []string {
	t, w := sp.ctx.theme, sp.w-2
	if sp.view == nil || len(sp.view.Signals) == 0 {
		return []string{t.Muted.Render("no signal yet")}
	}
	shown := sp.view.Signals[:min(len(sp.view.Signals), max(1, sp.h-2))]
	assetW := 6
	for _, s := range shown {
		assetW = max(assetW, len(s.Asset))
	}
	var lines []string
	for _, s := range shown {
		lines = append(lines, fit(signalLine(t, s, min(assetW, 10)), w))
	}
	return lines
}

// signalLine is "12:00:01 EURUSD BUY 80% strategy", the action coloured by its side.
func signalLine(t *Theme, s model.Signal, assetW int) string {
	style := t.Muted
	switch s.Action {
	case "BUY", "CALL", "LONG", "UP":
		style = t.Bull
	case "SELL", "PUT", "SHORT", "DOWN":
		style = t.Bear
	}
	conf := "  - "
	if !math.IsNaN(s.Confidence) {
		conf = fmt.Sprintf("%3.0f%%", 100*s.Confidence)
	}
	return s.At.UTC().Format("15:04:05") + " " + fit(cut(s.Asset, assetW, t.G.Ellipsis), assetW) + " " +
		style.Render(fit(cut(s.Action, 4, t.G.Ellipsis), 4)) + " " + conf + " " + t.Muted.Render(s.Strategy)
}

// regimeText is an asset's regime in a few cells: its condition and a direction arrow,
// "-" when the asset has none. (The watchlist mutes the regime of an asset the strategy
// calls not tradeable.)
func regimeText(t *Theme, r model.Regime, ok bool) string {
	if !ok {
		return "-"
	}
	text := r.Condition
	if text == "" {
		text = "?"
	}
	switch strings.ToLower(r.Direction) {
	case "up", "bullish", "buy", "long", "call":
		text += t.G.Up
	case "down", "bearish", "sell", "short", "put":
		text += t.G.Down
	}
	return text
}

// SignalMarkers turns trading signals into chart markers: a buy (BUY, CALL, LONG, UP)
// points up, a sell (SELL, PUT, SHORT, DOWN) down, labelled with the confidence ("80%")
// or else the action; other actions are not marked.
func SignalMarkers(signals []model.Signal) []ChartMarker {
	var out []ChartMarker
	for _, s := range signals {
		var side MarkerSide
		switch s.Action {
		case "BUY", "CALL", "LONG", "UP":
			side = MarkerBuy
		case "SELL", "PUT", "SHORT", "DOWN":
			side = MarkerSell
		default:
			continue
		}
		label := s.Action
		if !math.IsNaN(s.Confidence) {
			label = fmt.Sprintf("%.0f%%", 100*s.Confidence)
		}
		out = append(out, ChartMarker{At: s.At, Side: side, Label: label})
	}
	return out
}

// markSignals gives the chart the markers of the assets that signalled recently (the
// poll's newest signals) and of the asset charted, from the signals kept in memory: no
// I/O, safe in Update. A dashboard without signals leaves the markers to MarkersMsg.
func (d *Dashboard) markSignals(p *Poll) {
	if len(p.Pipeline.Signals) == 0 {
		return
	}
	assets := map[string]bool{}
	for _, s := range p.Pipeline.Signals {
		assets[s.Asset] = true
	}
	if a := d.chart.Asset(); a != "" {
		assets[a] = true
	}
	for a := range assets {
		if ms := SignalMarkers(d.Signals(a)); len(ms) > 0 {
			d.setMarkers(MarkersMsg{Asset: a, Markers: ms})
		}
	}
}
