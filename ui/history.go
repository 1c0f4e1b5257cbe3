package ui

import (
	"context"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/model/format"
	"github.com/quflx/quflx-tui/redisdata"
)

// historyLoader remembers which charts have their history, and numbers the loads so that
// an answer the user has moved on from is dropped.
type historyLoader struct {
	gen    int
	loaded map[string]bool // asset|timeframe
}

// historyCmd loads the chart's history when its asset and timeframe have none yet.
func (d *Dashboard) historyCmd() tea.Cmd {
	asset, tf := d.chart.Asset(), d.chart.Timeframe()
	if asset == "" || d.hist.loaded[asset+"|"+tf.String()] || d.opts.Backend == nil {
		d.chart.SetLoading(false)
		return nil
	}
	d.hist.gen++
	gen, backend := d.hist.gen, d.opts.Backend
	d.chart.SetLoading(true)
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res, err := backend.History(ctx, asset, tf)
		return historyMsg{gen: gen, asset: asset, tf: tf, res: res, err: err}
	}
}

// applyHistory seeds the market with a load's candles and charts them.
func (d *Dashboard) applyHistory(msg historyMsg) {
	if msg.gen != d.hist.gen {
		return // the user moved on; a newer load is under way
	}
	d.chart.SetLoading(false)
	if msg.err != nil {
		d.chart.SetSource("history failed: " + model.Printable(msg.err.Error()))
		d.events.Add(redisdata.Event{At: d.opts.Now(), Kind: "error", Text: "history " + msg.asset + " " + msg.tf.String() + ": " + model.Printable(msg.err.Error())})
	} else {
		d.hist.loaded[msg.asset+"|"+msg.tf.String()] = true
		if d.opts.Market != nil && len(msg.res.Candles) > 0 {
			d.opts.Market.Seed(msg.asset, msg.tf, msg.res.Candles)
		}
		d.chart.SetSource(describeHistory(msg.res))
	}
	d.refreshChart()
}

// olderHistoryCmd loads a page of history older than the chart's oldest candle when its
// view nears it (chart.WantsOlder): from the cache if it holds such, else the store.
func (d *Dashboard) olderHistoryCmd() tea.Cmd {
	if d.opts.Backend == nil || !d.chart.WantsOlder() {
		return nil
	}
	asset, tf, before, limit, backend := d.chart.Asset(), d.chart.Timeframe(), d.chart.Oldest(), d.chart.PageSize(), d.opts.Backend
	d.chart.SetPaging(true)
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res, err := backend.HistoryBefore(ctx, asset, tf, before, limit)
		return olderHistoryMsg{asset: asset, tf: tf, before: before, res: res, err: err}
	}
}

// applyOlderHistory puts a page of older history in front of the chart's candles, and
// asks for the next if the view still nears the oldest (a chart zoomed far out).
func (d *Dashboard) applyOlderHistory(msg olderHistoryMsg) tea.Cmd {
	if msg.asset != d.chart.Asset() || msg.tf != d.chart.Timeframe() || msg.before != d.chart.Oldest() {
		return nil // the chart moved on: another asset, timeframe, or page
	}
	if msg.err != nil {
		d.chart.SetPaging(false)
		d.chart.SetPageNote("older history failed")
		d.events.Add(redisdata.Event{At: d.opts.Now(), Kind: "error", Text: "older history " + msg.asset + " " + msg.tf.String() + ": " + model.Printable(msg.err.Error())})
		return nil // the next pan tries again
	}
	d.chart.AddOlder(msg.res.Candles)
	if len(msg.res.Candles) == 0 {
		d.chart.SetPageNote("no older history")
	} else {
		d.chart.SetPageNote("older: " + describeSource(msg.res))
	}
	return d.olderHistoryCmd()
}

// describeSource says where a page of older history came from and what it cost.
func describeSource(r redisdata.HistoryResult) string {
	switch r.Source {
	case redisdata.FromCache:
		return "cache " + format.Latency(r.Latency)
	case redisdata.FromStore:
		return "store " + format.Latency(r.Latency)
	default:
		return "searched " + format.Latency(r.Latency)
	}
}

// describeHistory says where history came from and what it cost ("cache hit 0.4ms").
func describeHistory(r redisdata.HistoryResult) string {
	switch r.Source {
	case redisdata.FromCache:
		return "cache hit " + format.Latency(r.Latency)
	case redisdata.FromStore:
		s := "store " + format.Latency(r.Latency)
		if r.Filled {
			s += ", cached"
		}
		return s
	default:
		return "no history (cache miss " + format.Latency(r.Latency) + ")"
	}
}

// openChart charts asset, loading its history if it has none.
func (d *Dashboard) openChart(asset string) tea.Cmd {
	if asset == "" {
		return nil
	}
	d.chart.SetAsset(asset)
	d.chart.SetMarkers(d.markers[asset])
	d.refreshChart()
	return d.historyCmd()
}

// setTimeframe charts the asset at another timeframe.
func (d *Dashboard) setTimeframe(tf model.Timeframe) tea.Cmd {
	d.chart.SetTimeframe(tf)
	d.refreshChart()
	return d.historyCmd()
}

// refreshChart gives the chart its asset's candles, as the market has them now.
func (d *Dashboard) refreshChart() {
	asset := d.chart.Asset()
	if asset == "" || d.opts.Market == nil {
		return
	}
	d.candles = d.opts.Market.Candles(asset, d.chart.Timeframe(), d.candles[:0])
	var last model.Tick
	decimals := 0
	for _, v := range d.views {
		if v.Asset == asset {
			last, decimals = v.Last, v.Decimals
		}
	}
	d.chart.SetCandles(d.candles, last, decimals)
}
