package metrics

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/quflx/quflx-tui/flusher"
	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata"
	"github.com/quflx/quflx-tui/simulator"
)

func desc(subsystem, name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, subsystem, name), help, labels, nil)
}

// emit sends one sample, skipping one Prometheus refuses rather than failing the scrape.
func emit(ch chan<- prometheus.Metric, d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
	if m, err := prometheus.NewConstMetric(d, t, v, labels...); err == nil {
		ch <- m
	}
}

// label makes a publisher's name a valid label value: the exposition escapes anything
// but invalid UTF-8.
func label(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// watchCollector reads a watch session's latest reading at each scrape: the subscriber's
// counters and the poll's buffers and health, as of the last poll (every --poll).
type watchCollector struct {
	w *redisdata.Watch

	up, ping, pollTime, health                *prometheus.Desc
	received, bad, dropped, notAdmitted       *prometheus.Desc
	subConnected, reconnects                  *prometheus.Desc
	bufEntries, bufFill, bufCapacity, lastAge *prometheus.Desc
}

func newWatchCollector(w *redisdata.Watch) *watchCollector {
	return &watchCollector{
		w:        w,
		up:       desc("redis", "up", "1 when the last poll of Redis succeeded."),
		ping:     desc("redis", "ping_seconds", "Round trip of the last poll's PING."),
		pollTime: desc("redis", "last_poll_timestamp_seconds", "When Redis was last polled (Unix time)."),
		health:   desc("", "health", "1 for the pipeline's health as status judges it (healthy, degraded, down).", "status"),
		received: desc("", "ticks_received_total", "Ticks received from the live channel, per asset "+
			"(decoded, including those dropped).", "asset"),
		bad:          desc("", "decode_errors_total", "Messages on the live channel that failed to decode."),
		dropped:      desc("", "ticks_dropped_total", "Decoded ticks the display had no room for."),
		notAdmitted:  desc("", "ticks_not_admitted_total", "Ticks of assets not tracked (not named, no key, over --max-assets)."),
		subConnected: desc("subscriber", "connected", "1 while the live channel subscription is up."),
		reconnects:   desc("subscriber", "reconnects_total", "Times the subscription came back after a failure."),
		bufEntries:   desc("buffer", "entries", "Ticks in an asset's Redis buffer at the last poll.", "asset"),
		bufCapacity:  desc("buffer", "capacity_entries", "The producers' buffer cap (they trim beyond it).", "asset"),
		bufFill:      desc("buffer", "fill_ratio", "An asset's buffer length over its cap (1: full, the trim loses ticks).", "asset"),
		lastAge:      desc("buffer", "last_tick_age_seconds", "Age of the newest tick in an asset's buffer at the last poll.", "asset"),
	}
}

func (c *watchCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.ping, c.pollTime, c.health, c.received, c.bad, c.dropped, c.notAdmitted,
		c.subConnected, c.reconnects, c.bufEntries, c.bufCapacity, c.bufFill, c.lastAge} {
		ch <- d
	}
}

func (c *watchCollector) Collect(ch chan<- prometheus.Metric) {
	r := c.w.Latest()
	emit(ch, c.up, prometheus.GaugeValue, boolValue(r.Seq > 0 && r.Err == nil))
	if r.Seq == 0 {
		return // nothing read yet: no figure to give
	}
	emit(ch, c.pollTime, prometheus.GaugeValue, float64(r.At.UnixNano())/1e9)
	if r.Err == nil {
		emit(ch, c.ping, prometheus.GaugeValue, r.PingRTT.Seconds())
	}
	for _, s := range []string{model.Healthy, model.Degraded, model.Down} {
		emit(ch, c.health, prometheus.GaugeValue, boolValue(r.Report.Health.Status == s), s)
	}
	sub := r.Sub
	// The subscriber's per-asset counts hold only admitted assets: bounded by --max-assets.
	for asset, n := range sub.Assets {
		emit(ch, c.received, prometheus.CounterValue, float64(n.Received), label(asset))
	}
	emit(ch, c.bad, prometheus.CounterValue, float64(sub.Bad))
	emit(ch, c.dropped, prometheus.CounterValue, float64(sub.Dropped))
	emit(ch, c.notAdmitted, prometheus.CounterValue, float64(sub.NotAdmitted))
	emit(ch, c.subConnected, prometheus.GaugeValue, boolValue(sub.State == redisdata.StateLive))
	emit(ch, c.reconnects, prometheus.CounterValue, float64(sub.Reconnects))
	for _, b := range r.Report.Buffers { // the poller's buffers: admitted assets only
		if b.Error != "" {
			continue
		}
		asset := label(b.Asset)
		emit(ch, c.bufEntries, prometheus.GaugeValue, float64(b.Size), asset)
		emit(ch, c.bufCapacity, prometheus.GaugeValue, float64(b.Capacity), asset)
		emit(ch, c.bufFill, prometheus.GaugeValue, b.Fill, asset)
		if b.LastAgeSeconds != nil {
			emit(ch, c.lastAge, prometheus.GaugeValue, *b.LastAgeSeconds, asset)
		}
	}
}

// flusherStates are the values quflx_flusher_state takes, one series each.
var flusherStates = []string{flusher.StateStarting, flusher.StateIdle, flusher.StateFlushing, flusher.StateRetrying,
	flusher.StateBacklogFull, flusher.StateStopped}

// flusherCollector reads a flusher's status (what it publishes to Redis) at each scrape.
type flusherCollector struct {
	f *flusher.Flusher

	rows, claimed, adopted, dead, dups, lost, errs, conflicts *prometheus.Desc
	backlog, inFlight, maxBacklog, backlogFull, claims        *prometheus.Desc
	lastFlush, state                                          *prometheus.Desc
}

func newFlusherCollector(f *flusher.Flusher) *flusherCollector {
	const sub = "flusher"
	return &flusherCollector{
		f:           f,
		rows:        desc(sub, "rows_total", "Ticks committed to the store."),
		claimed:     desc(sub, "claimed_entries_total", "Buffer entries taken by this flusher's claims."),
		adopted:     desc(sub, "adopted_entries_total", "Entries of other flushers' claims taken over."),
		dead:        desc(sub, "dead_letters_total", "Entries set aside as dead letters (undecodable or invalid)."),
		dups:        desc(sub, "duplicates_skipped_total", "Ticks already in the store (resends), skipped."),
		lost:        desc(sub, "lost_to_trim_total", "Ticks estimated lost to the producers' trim before a claim (errs low)."),
		errs:        desc(sub, "errors_total", "Failed claims and store writes (each is retried; no tick is lost)."),
		conflicts:   desc(sub, "conflicts_total", "Writes refused because another flusher had committed the entries."),
		backlog:     desc(sub, "backlog_entries", "Ticks waiting for the store: claimed and uncommitted, plus buffered."),
		inFlight:    desc(sub, "in_flight_entries", "Entries held in claims and not yet committed."),
		maxBacklog:  desc(sub, "max_backlog_entries", "Claimed entries at which the flusher stops claiming (--max-backlog)."),
		backlogFull: desc(sub, "backlog_full", "1 while the backlog is full and claiming has stopped."),
		claims:      desc(sub, "claims", "Claims held."),
		lastFlush:   desc(sub, "last_flush_timestamp_seconds", "When the last store write committed (Unix time)."),
		state:       desc(sub, "state", "1 for the flusher's current state.", "state"),
	}
}

func (c *flusherCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.rows, c.claimed, c.adopted, c.dead, c.dups, c.lost, c.errs, c.conflicts,
		c.backlog, c.inFlight, c.maxBacklog, c.backlogFull, c.claims, c.lastFlush, c.state} {
		ch <- d
	}
}

func (c *flusherCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.f.Status()
	counter := func(d *prometheus.Desc, v int64) { emit(ch, d, prometheus.CounterValue, float64(v)) }
	gauge := func(d *prometheus.Desc, v float64) { emit(ch, d, prometheus.GaugeValue, v) }
	counter(c.rows, s.Flushed)
	counter(c.claimed, s.Produced)
	counter(c.adopted, s.Adopted)
	counter(c.dead, s.Bad)
	counter(c.dups, s.DuplicatesSkipped)
	counter(c.lost, s.LostToTrim)
	counter(c.errs, s.Errors)
	counter(c.conflicts, s.Conflicts)
	gauge(c.backlog, float64(s.Backlog))
	gauge(c.inFlight, float64(s.InFlight))
	gauge(c.maxBacklog, float64(s.MaxBacklog))
	gauge(c.backlogFull, boolValue(s.BacklogFull))
	gauge(c.claims, float64(s.Claims))
	if !s.LastFlush.IsZero() {
		gauge(c.lastFlush, float64(s.LastFlush.UnixNano())/1e9)
	}
	for _, st := range flusherStates {
		emit(ch, c.state, prometheus.GaugeValue, boolValue(s.State == st), st)
	}
}

// feederCollector reads a feed's counters at each scrape.
type feederCollector struct {
	f                          *simulator.Feeder
	ticks, dropped, errs, fail *prometheus.Desc
}

func newFeederCollector(f *simulator.Feeder) *feederCollector {
	return &feederCollector{
		f:       f,
		ticks:   desc("feed", "ticks_total", "Ticks the feed wrote to Redis."),
		dropped: desc("feed", "ticks_dropped_total", "Ticks given up while Redis writes were failing."),
		errs:    desc("feed", "write_errors_total", "Failed writes to Redis."),
		fail:    desc("feed", "failing", "1 while the last write to Redis failed."),
	}
}

func (c *feederCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.ticks
	ch <- c.dropped
	ch <- c.errs
	ch <- c.fail
}

func (c *feederCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.f.Stats()
	emit(ch, c.ticks, prometheus.CounterValue, float64(s.Produced))
	emit(ch, c.dropped, prometheus.CounterValue, float64(s.Dropped))
	emit(ch, c.errs, prometheus.CounterValue, float64(s.Errors))
	emit(ch, c.fail, prometheus.GaugeValue, boolValue(s.Failing))
}
