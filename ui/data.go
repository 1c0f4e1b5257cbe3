package ui

import (
	"context"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/quflx/quflx-tui/model"
)

// pollCmd reads the server once, in its own goroutine.
func (d *Dashboard) pollCmd() tea.Cmd {
	if d.polling || d.opts.Backend == nil {
		return nil
	}
	d.polling = true
	backend, timeout := d.opts.Backend, max(d.opts.PollEvery, 2*time.Second)
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		return pollMsg(backend.Poll(ctx))
	}
}

// notePoll takes the link's state, the health and the events from a poll, frozen or not.
func (d *Dashboard) notePoll(p *Poll) {
	d.news = d.link.observe(p, d.opts.Now(), d.news[:0])
	for _, e := range d.news {
		d.events.Add(e)
	}
	d.header.SetLink(d.link.conn, d.link.health)
}

// applyPoll makes a poll the one shown.
func (d *Dashboard) applyPoll(p *Poll) {
	d.poll = p
	d.watch.SetPoll(p)
	d.header.SetServer(p)
	d.redis.SetPoll(p)
	d.cache.SetPoll(p)
	d.flusher.SetPoll(p)
	d.services.SetPoll(p)
	d.signals.SetPoll(p)
	d.markSignals(p)
	d.latency.SetPoll(p)
	d.events.SetPollEvents(p.Events)
	d.footer.SetPoll(p)
}

// takeMarket copies the market's views and the chart's candles, and measures how long
// the ticks now reaching the screen took since they were published. It returns the
// history load of a chart that just got its first asset.
func (d *Dashboard) takeMarket() tea.Cmd {
	mk, now := d.opts.Market, d.ctx.now
	d.views = mk.Views(now.UnixNano(), d.views)
	d.watch.SetViews(d.views)
	var cmd tea.Cmd
	if d.chart.Asset() == "" && d.watch.Selected() != "" {
		cmd = d.openChart(d.watch.Selected())
	} else {
		d.refreshChart()
	}
	from := len(d.arrivals)
	d.arrivals, d.arrivalsNext, _ = mk.ArrivalsSince(d.arrivalsNext, d.arrivals)
	d.lat.record(d.arrivals[from:], now)
	e2e := d.lat.recent()
	if d.opts.Output != nil {
		e2e = d.opts.Output.Latency() // measured where the frame reaches the terminal
	} else {
		d.arrivals = d.arrivals[:0]
	}
	d.latency.SetScreenLatency(e2e)
	d.footer.SetScreenLatency(e2e)
	return cmd
}

// applyAlerts shows the alerts firing and adds the alert events not shown yet.
func (d *Dashboard) applyAlerts(msg AlertsMsg) {
	d.header.SetAlerts(msg.Firing)
	for _, e := range msg.Events {
		if e.Seq > d.alertSeq {
			d.alertSeq = e.Seq
			e.Text = model.Printable(e.Text)
			d.events.Add(e.Event)
		}
	}
}
