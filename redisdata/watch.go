package redisdata

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quflx/quflx-tui/model"
)

// WatchOptions configures a Watch.
type WatchOptions struct {
	TickKey  model.KeyPattern // "ticks:{asset}"
	CacheKey model.KeyPattern // "historical:{asset}:{timeframe}"
	Channel  model.KeyPattern // "updates:{asset}"
	// Assets are the named assets; empty means every asset discovered.
	Assets []string
	// MaxAssets caps the assets followed (model.AdmissionOptions.Max).
	MaxAssets int
	// Subscribe follows the channel and aggregates every tick into the Market.
	Subscribe bool
	// PollEvery is the period of the background poll started by Start (default 1 s).
	PollEvery time.Duration
	// PollTimeout bounds one poll (default the larger of PollEvery and 2 s).
	PollTimeout time.Duration
	// DiscoverEvery is the period of key discovery (PollerOptions.DiscoverEvery).
	DiscoverEvery time.Duration
	// FlusherStatusKey is the published flusher status to read (default
	// DefaultFlusherStatusKey).
	FlusherStatusKey string
	// Thresholds judge health in every reading, as status prints it.
	Thresholds model.HealthThresholds
	// History loads chart history (cache, then store); nil: cache only, never filled.
	History *History
	// Cache is the candle cache whose lookups are counted (History's, when set).
	Cache *CandleCache
	// Hold is how long, at most, the subscriber holds ticks at high rates for a display's
	// Drain (SubscriberOptions.Hold; default 100 ms, negative: never).
	Hold time.Duration
	// IdleAssetAfter: an asset that sent nothing for this long is forgotten unless named
	// (default 1 h): a name that traded once must not hold memory all day.
	IdleAssetAfter time.Duration
	// FillInfo completes each poll's INFO (PollerOptions.FillInfo).
	FillInfo func(*Info)

	// The topology. PubSubOnly is QuFLX v2: no buffers or cache are expected, assets are
	// admitted from payloads (up to MaxAssets), and feeds are judged from pub/sub.
	PubSubOnly bool
	// Side channels, subscribed on the subscriber's connection ("" or none: not followed):
	// service heartbeats, trading signals, regimes, dispatched alerts.
	HeartbeatChannels                          []string
	SignalChannel, RegimeChannel, AlertChannel string
	// ExpectServices must beat on a heartbeat channel, or health says so.
	ExpectServices []string
}

// Topology names a WatchOptions' topology as the report says it.
func (o WatchOptions) Topology() string {
	if o.PubSubOnly {
		return TopologyV2
	}
	return TopologyV1
}

// The topologies.
const (
	TopologyV1 = "quflx-v1" // tick buffers, candle cache, pub/sub per asset
	TopologyV2 = "quflx-v2" // pub/sub only: market_data, heartbeats, signals, regimes
)

// sideKinds maps the side channels to what they carry.
func (o WatchOptions) sideKinds() map[string]model.SideKind {
	kinds := map[string]model.SideKind{}
	for _, c := range o.HeartbeatChannels {
		if c != "" {
			kinds[c] = model.SideHeartbeat
		}
	}
	for c, k := range map[string]model.SideKind{o.SignalChannel: model.SideSignal, o.RegimeChannel: model.SideRegime,
		o.AlertChannel: model.SideAlert} {
		if c != "" {
			kinds[c] = k
		}
	}
	return kinds
}

// Reading is one poll of everything but the ticks, with the health status would print.
// A Reading is never changed once published: readers on other goroutines share it.
type Reading struct {
	Seq      uint64 // 0: nothing read yet
	At       time.Time
	Snapshot *Snapshot // nil when the server could not be read
	Err      error
	PingRTT  time.Duration
	// Report is status's view of the snapshot (a down report when Err is set); its
	// Health is what the dashboard's header shows.
	Report Report
	Sub    SubscriberStats
	Events []Event
	Cache  CacheStats           // this process's candle-cache lookups
	Store  model.LatencySummary // store lookups on cache misses
	// Pipeline is what the side channels said: services' heartbeats, recent signals,
	// regimes, dispatched alerts (empty unless some are followed).
	Pipeline model.PipelineView
}

// Flusher is the published flusher status of the reading, if any.
func (r *Reading) Flusher() *FlusherStatus {
	if r.Snapshot == nil {
		return nil
	}
	return r.Snapshot.Flusher
}

// Watch is one watch session on a Redis: the client, the subscriber aggregating ticks
// into a Market, the poller and its readings. Start runs them in the background; any
// number of readers (dashboards, SSH sessions, a status loop) share the latest reading
// and the market without doing I/O of their own.
type Watch struct {
	client    *Client
	opts      WatchOptions
	admission *model.Admission
	market    *model.Market
	sub       *Subscriber // nil unless Subscribe
	pipeline  *model.Pipeline
	listening atomic.Int64 // Unix ns the subscriber started; 0: not yet
	poller    *Poller
	cache     *CandleCache
	history   *History

	latest  atomic.Pointer[Reading]
	pollMu  sync.Mutex // one poll at a time
	seq     uint64
	readers notifier

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewWatch returns a session on client, which it owns from now on (Close closes it).
func NewWatch(client *Client, opts WatchOptions) *Watch {
	opts.PollEvery = cmp.Or(opts.PollEvery, time.Second)
	opts.FlusherStatusKey = cmp.Or(opts.FlusherStatusKey, DefaultFlusherStatusKey)
	opts.IdleAssetAfter = cmp.Or(opts.IdleAssetAfter, time.Hour)
	opts.Hold = max(0, cmp.Or(opts.Hold, 100*time.Millisecond))
	opts.PollTimeout = cmp.Or(opts.PollTimeout, max(opts.PollEvery, 2*time.Second))
	w := &Watch{
		client: client,
		opts:   opts,
		// Under v2 no key can vouch for an asset: payloads admit them, up to MaxAssets.
		admission: model.NewAdmission(model.AdmissionOptions{Named: opts.Assets, Max: opts.MaxAssets, Open: opts.PubSubOnly}),
		market:    model.NewMarket(model.MarketOptions{}),
		cache:     opts.Cache,
		history:   opts.History,
	}
	w.poller = NewPoller(client, PollerOptions{
		TickKey: opts.TickKey, CacheKey: opts.CacheKey, Assets: opts.Assets, DiscoverEvery: opts.DiscoverEvery,
		FlusherStatusKey: opts.FlusherStatusKey, Admission: w.admission,
		LastTicks: true, // the newest tick of each buffer: health judges stale feeds
		FillInfo:  opts.FillInfo,
	})
	if w.cache == nil {
		w.cache = NewCandleCache(client, CacheOptions{Key: opts.CacheKey})
	}
	if w.history == nil {
		w.history = NewHistory(w.cache, nil, false)
	}
	// The side channels' assets are bounded by the pipeline itself, not admitted: a
	// signal or regime for a name that never ticks must not take a place in the
	// admission set that only the market's pruning gives back, or real assets' ticks
	// would be refused.
	w.pipeline = model.NewPipeline(model.PipelineOptions{MaxAssets: opts.MaxAssets})
	if opts.Subscribe {
		kinds := opts.sideKinds()
		var side []string
		for c := range kinds {
			side = append(side, c)
		}
		slices.Sort(side)
		w.sub = NewSubscriber(client, SubscriberOptions{Channel: opts.Channel, Assets: opts.Assets, Admission: w.admission,
			Sink: func(t model.Tick) { w.market.Add(t, time.Now().UnixMicro()) },
			Side: side, OnSide: func(channel string, payload []byte, now time.Time) {
				_ = w.pipeline.Observe(kinds[channel], channel, payload, now) // counted in the pipeline
			},
			// At high rates the displays take ticks once a frame (Drain): one wake-up a
			// frame, not one a millisecond.
			Hold: opts.Hold, Pending: w.market.Nudge})
	}
	w.latest.Store(&Reading{})
	return w
}

// Client is the session's client (read-only unless it was made otherwise).
func (w *Watch) Client() *Client { return w.client }

// Endpoint is the server's address, for display.
func (w *Watch) Endpoint() string { return w.client.Endpoint() }

// Market holds the aggregated ticks (empty unless Subscribe).
func (w *Watch) Market() *model.Market { return w.market }

// Drain returns once the ticks that had arrived are in the market (or ctx ends): a
// display calls it before each frame. See SubscriberOptions.Hold.
func (w *Watch) Drain(ctx context.Context) error {
	if w.sub == nil {
		return nil
	}
	return w.sub.Drain(ctx)
}

// Pipeline holds what the side channels said (heartbeats, signals, regimes, alerts).
func (w *Watch) Pipeline() *model.Pipeline { return w.pipeline }

// SignalsFor appends asset's recent trading signals, oldest first, to dst: what a chart
// marks.
func (w *Watch) SignalsFor(asset string, dst []model.Signal) []model.Signal {
	return w.pipeline.SignalsFor(asset, dst)
}

// Admission is who may have a series.
func (w *Watch) Admission() *model.Admission { return w.admission }

// Start runs the subscriber (with Subscribe) and the poll loop until ctx ends or Close.
func (w *Watch) Start(ctx context.Context) {
	ctx = w.Listen(ctx)
	w.wg.Go(func() {
		ticker := time.NewTicker(w.opts.PollEvery)
		defer ticker.Stop()
		for {
			w.Poll(ctx)
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
		}
	})
}

// Listen runs the subscriber alone (with Subscribe), until ctx ends or Close: status
// listens for a window before one poll. It returns the session's context.
func (w *Watch) Listen(ctx context.Context) context.Context {
	ctx, w.cancel = context.WithCancel(ctx)
	if w.sub != nil {
		w.listening.Store(time.Now().UnixNano())
		w.wg.Go(func() { _ = w.sub.Run(ctx) })
	}
	return ctx
}

// Close stops the session and closes its client.
func (w *Watch) Close() error {
	if w.cancel != nil {
		w.cancel()
	}
	w.wg.Wait()
	return w.client.Close()
}

// Latest is the newest reading (Seq 0 before the first poll ends). It never blocks.
func (w *Watch) Latest() *Reading { return w.latest.Load() }

// Next waits for a reading newer than seq, or for ctx to end (then it returns the latest).
func (w *Watch) Next(ctx context.Context, seq uint64) *Reading {
	updates, stop := w.readers.add()
	defer stop()
	for {
		if r := w.Latest(); r.Seq > seq {
			return r
		}
		select {
		case <-ctx.Done():
			return w.Latest()
		case <-updates:
		}
	}
}

// Updates returns a channel that receives after each new reading (at most one pending:
// a slow reader skips to the latest) and a function that stops it.
func (w *Watch) Updates() (<-chan struct{}, func()) { return w.readers.add() }

// Poll reads the server now, publishes the reading to every reader and returns it.
func (w *Watch) Poll(ctx context.Context) *Reading {
	w.pollMu.Lock()
	defer w.pollMu.Unlock()
	r := w.read(ctx, w.poller.Poll)
	w.finish(r)
	return r
}

// read pings, then polls with poll, under PollTimeout.
func (w *Watch) read(ctx context.Context, poll func(context.Context) (*Snapshot, error)) *Reading {
	ctx, cancel := context.WithTimeout(ctx, w.opts.PollTimeout)
	defer cancel()
	r := &Reading{At: time.Now()}
	r.PingRTT, r.Err = w.client.PingRTT(ctx)
	if r.Err == nil {
		r.Snapshot, r.Err = poll(ctx)
	}
	if ctx.Err() != nil && r.Err == nil {
		r.Err = ctx.Err()
	}
	r.At = time.Now()
	return r
}

// PollServer reads only INFO and the flusher status, in one round trip.
func (w *Watch) PollServer(ctx context.Context) *Reading {
	w.pollMu.Lock()
	defer w.pollMu.Unlock()
	r := w.read(ctx, w.poller.PollServer)
	th := w.opts.Thresholds
	th.NoFlusher = true // buffers were not read: nothing to judge the flusher against
	r.Pipeline = w.pipeline.View(maxReadingSignals)
	w.report(r, th)
	return r
}

// maxReadingSignals bounds the recent signals a reading copies.
const maxReadingSignals = 100

func (w *Watch) finish(r *Reading) {
	if r.Snapshot != nil && w.sub != nil {
		// The Snapshot is this reading's own: it may still be completed here.
		r.Snapshot.Seen = map[string]SeenTick{}
		for asset, t := range w.market.LastTicks(nil) {
			r.Snapshot.Seen[asset] = SeenTick{At: t.Time(), Price: t.Price}
		}
	}
	r.Pipeline = w.pipeline.View(maxReadingSignals)
	w.report(r, w.opts.Thresholds)
	if w.sub != nil {
		r.Sub = w.sub.Stats()
		r.Events = w.sub.Events(nil)
		// The alerts QuFLX's scanner dispatched are events too ("dispatched": not ours) (their texts passed
		// model.Printable in the pipeline).
		for _, a := range r.Pipeline.Alerts {
			text := a.Text
			if a.Asset != "" {
				text = a.Asset + ": " + text
			}
			r.Events = append(r.Events, Event{At: a.Received, Kind: "dispatched", Text: text})
		}
		if c := r.Pipeline.Counts; c.Bad > 0 {
			r.Events = append(r.Events, Event{At: c.LastBadAt, Kind: "bad", Text: fmt.Sprintf("%d side-channel messages unusable, the last: %s", c.Bad, c.LastBad)})
		}
	}
	r.Cache = w.cache.Stats()
	r.Store = w.history.StoreLatency()
	dropped := w.market.Prune(r.At.Add(-w.opts.IdleAssetAfter).UnixMicro(), w.admission.Named)
	w.admission.Forget(dropped...)
	w.seq++
	r.Seq = w.seq
	w.latest.Store(r)
	w.readers.notify()
}

func (w *Watch) report(r *Reading, th model.HealthThresholds) {
	if r.Err != nil {
		r.Err = fmt.Errorf("cannot reach Redis: %w", r.Err)
		r.Snapshot = nil
		r.Report = DownReport(w.client.Endpoint(), r.Err, r.At)
		r.Report.Topology = w.opts.Topology()
		return
	}
	if w.opts.PubSubOnly {
		th.NoFlusher = true // v2 keeps no buffers: there is nothing to flush
	}
	r.Report = NewReport(r.Snapshot, w.client.Endpoint(), r.PingRTT, th, r.At)
	r.Report.Topology = w.opts.Topology()
	if live := w.liveFacts(r); live != nil {
		r.Report.SetLive(*live, r.Pipeline, r.Snapshot, th)
	}
}

// liveFacts are what the subscriber heard, for health: under v2 the feeds and the
// services, otherwise the services if heartbeat channels are followed; nil if neither.
func (w *Watch) liveFacts(r *Reading) *model.LiveFacts {
	since := w.listening.Load()
	if w.sub == nil || since == 0 || !w.opts.PubSubOnly && len(w.opts.HeartbeatChannels) == 0 {
		return nil
	}
	l := &model.LiveFacts{Heard: r.At.Sub(time.Unix(0, since)), Services: r.Pipeline.Services, Expect: w.opts.ExpectServices}
	for _, c := range w.opts.HeartbeatChannels {
		if c != "" {
			l.HeartbeatChannels = append(l.HeartbeatChannels, c)
		}
	}
	if w.opts.PubSubOnly {
		l.TickChannel = w.opts.Channel.String()
		for _, v := range w.market.Views(r.At.UnixNano(), nil) {
			if v.Ticks > 0 {
				l.Feeds = append(l.Feeds, model.FeedFact{Asset: v.Asset, LastTick: v.Arrival})
			}
		}
	}
	return l
}

// History loads chart history of asset at tf (cache first, then the store).
func (w *Watch) History(ctx context.Context, asset string, tf model.Timeframe) (HistoryResult, error) {
	return w.history.Load(ctx, asset, tf)
}

// HistoryBefore loads up to limit candles of asset at tf older than before (Unix
// seconds): the next page back of a panned chart (History.LoadBefore).
func (w *Watch) HistoryBefore(ctx context.Context, asset string, tf model.Timeframe, before int64, limit int) (HistoryResult, error) {
	return w.history.LoadBefore(ctx, asset, tf, before, limit)
}

// notifier wakes any number of readers, each on its own one-slot channel, never waiting
// for one.
type notifier struct {
	mu   sync.Mutex
	subs map[chan struct{}]struct{}
}

func (n *notifier) add() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	n.mu.Lock()
	if n.subs == nil {
		n.subs = map[chan struct{}]struct{}{}
	}
	n.subs[ch] = struct{}{}
	n.mu.Unlock()
	return ch, func() {
		n.mu.Lock()
		delete(n.subs, ch)
		n.mu.Unlock()
	}
}

func (n *notifier) notify() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for ch := range n.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
