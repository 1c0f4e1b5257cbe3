package redisdata

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quflx/quflx-tui/model"
)

// SubscriberOptions configures a Subscriber.
type SubscriberOptions struct {
	// Channel is the channel pattern, "updates:{asset}" in QuFLX.
	Channel model.KeyPattern
	// Assets to follow with SUBSCRIBE. Empty: follow every asset with one PSUBSCRIBE on
	// the channel pattern, discovering assets as they publish.
	Assets []string
	// Buffer is the capacity of the tick channel (default 16384). When the consumer
	// falls that far behind, ticks are dropped and counted, never waited for.
	Buffer int
	// HealthInterval: after this long without a message the subscriber pings the server,
	// so that a dead connection is noticed on a quiet feed too (default 3 s).
	HealthInterval time.Duration
	// PongTimeout: a PING unanswered this long means the connection is dead even though
	// writes to it succeed (a frozen peer, a silent partition): it is closed and dialled
	// again (default 2 s). A dead link is thus noticed within HealthInterval + PongTimeout,
	// not after TCP's retransmission timeout (~15 minutes).
	PongTimeout time.Duration
	// DownAfter: reconnecting for longer than this is reported as down (default 10 s).
	DownAfter time.Duration
	// MaxBadPayload bounds the bad payload kept for display (default 200 bytes).
	MaxBadPayload int
	// MaxFuture is passed to the decoder (default model.DefaultMaxFuture).
	MaxFuture time.Duration
	// Coalesce: at high message rates, how long the reader pauses before waiting for the
	// network, so that one wake-up takes many messages (default 1 ms; negative: never).
	// It adds at most that to a tick's delay, and only while ticks pour in.
	Coalesce time.Duration
	// Hold, when set, replaces Coalesce for a display: at high rates the reader leaves
	// ticks in the socket until the display asks for them before a frame (Drain), or Hold
	// passes. The reader then wakes once a frame, not a thousand times a second, and a
	// tick still reaches the frame after its arrival. Not over TLS (the socket cannot
	// tell what it holds).
	Hold time.Duration
	// Pending, when set, is called as the reader starts holding ticks: a display waiting
	// for ticks should drain and draw.
	Pending func()
	// CountOnly counts messages per asset without decoding or delivering them (the
	// flusher's trigger and trim-loss estimate need no more).
	CountOnly bool
	// Sink, when set, receives every decoded tick in the subscriber's own goroutine, in
	// place of the Ticks channel: handing each message to another goroutine cost a
	// scheduler wake-up per tick, most of the dashboard's CPU at 10,000 ticks/s. It must
	// be quick and never block (model.Market.Add is).
	Sink func(model.Tick)
	// Side are channels subscribed on the same connection whose messages are not ticks
	// (QuFLX v2's heartbeats, signals, regimes, alerts). Each message is handed raw to
	// OnSide in the reader's goroutine: it must be quick and never block, and it must not
	// keep payload (valid only during the call).
	Side   []string
	OnSide func(channel string, payload []byte, now time.Time)
	// Admission decides which assets are tracked (counted per asset and delivered);
	// others are counted as not admitted and dropped. Nil admits every plausible name, up
	// to model.DefaultMaxAssets.
	Admission *model.Admission

	// burstWindow is the rate meter's window (default 100 ms); tests widen it so that a
	// loaded machine cannot make a burst look like a quiet feed.
	burstWindow time.Duration
}

// Subscriber follows the asset channels, decodes every message and hands ticks to a
// consumer through a bounded channel without ever blocking its reader. It survives server
// restarts by itself: go-redis redials and resubscribes, and the subscriber reports the
// state in between.
type Subscriber struct {
	client *Client
	opts   SubscriberOptions
	ticks  chan model.Tick

	// Only the Run goroutine uses these.
	decoder     model.Decoder
	assetByChan map[string]string
	attempt     int // sessions begun: which node of a cluster the next one tries

	received, bad, dropped, notAdmitted atomic.Int64
	sideReceived                        atomic.Int64
	side                                map[string]bool

	mu         sync.Mutex
	state      ConnState
	since      time.Time
	lastErr    string
	reconnects int64
	failed     bool // a failure happened since the last live period
	assets     map[string]*AssetCounts
	lastBad    *BadMessage
	events     *model.Ring[Event]
	latency    model.LatencyWindow

	// Drain's hand-over with a holding reader.
	drainMu      sync.Mutex
	holding      bool            // ticks wait in the socket, or are being taken, for Drain
	drainWaiters []chan struct{} // Drain calls to answer once taken
	drainWake    chan struct{}

	sync syncState
}

// NewSubscriber returns a subscriber; call Run to start it.
func NewSubscriber(c *Client, opts SubscriberOptions) *Subscriber {
	if opts.Buffer <= 0 {
		opts.Buffer = 16384
	}
	if opts.HealthInterval <= 0 {
		opts.HealthInterval = 3 * time.Second
	}
	if opts.PongTimeout <= 0 {
		opts.PongTimeout = 2 * time.Second
	}
	if opts.Coalesce == 0 {
		opts.Coalesce = time.Millisecond
	}
	if opts.DownAfter <= 0 {
		opts.DownAfter = 10 * time.Second
	}
	if opts.MaxBadPayload <= 0 {
		opts.MaxBadPayload = 200
	}
	if opts.Admission == nil {
		opts.Admission = model.NewAdmission(model.AdmissionOptions{Named: opts.Assets, Open: true})
	}
	s := &Subscriber{
		client:      c,
		opts:        opts,
		ticks:       make(chan model.Tick, opts.Buffer),
		decoder:     model.Decoder{MaxFuture: opts.MaxFuture},
		assetByChan: map[string]string{},
		state:       StateConnecting,
		since:       time.Now(),
		assets:      map[string]*AssetCounts{},
		events:      model.NewRing[Event](100),
		drainWake:   make(chan struct{}, 1),
		side:        map[string]bool{},
	}
	for _, c := range opts.Side {
		s.side[c] = true
	}
	return s
}

// Ticks is where decoded ticks arrive. It is closed when Run returns.
func (s *Subscriber) Ticks() <-chan model.Tick { return s.ticks }

// Channels returns what the subscriber subscribes to: channel names, and one pattern
// when it follows every asset of a channel pattern with {asset}. A channel without {asset}
// (QuFLX v2's market_data) carries every asset and is subscribed by name. The side
// channels are among the names.
func (s *Subscriber) Channels() (names []string, pattern string) {
	switch {
	case !s.opts.Channel.HasAsset():
		names = append(names, s.opts.Channel.Key("", ""))
	case len(s.opts.Assets) == 0:
		pattern = s.opts.Channel.Glob()
	default:
		for _, a := range s.opts.Assets {
			names = append(names, s.opts.Channel.Key(a, ""))
		}
	}
	for _, c := range s.opts.Side {
		if !slices.Contains(names, c) {
			names = append(names, c)
		}
	}
	return names, pattern
}

const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = time.Second
)

// Run subscribes and reads until ctx is done. It returns nil on cancellation; failures
// of the server are not errors of Run: they are states, retried forever.
func (s *Subscriber) Run(ctx context.Context) error {
	defer close(s.ticks)
	defer s.setState(StateStopped, "")
	names, pattern := s.Channels()
	for _, n := range names {
		if asset, _, ok := s.opts.Channel.Match(n); ok {
			s.assetByChan[n] = asset
		}
	}
	backoff := minBackoff
	for {
		live, err := s.session(ctx, names, pattern)
		if ctx.Err() != nil {
			return nil
		}
		if live {
			backoff = minBackoff
		}
		s.fail(err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

// session subscribes on a connection of its own and reads until the connection fails or
// falls silent (a PING unanswered within PongTimeout), then closes it. live says whether
// anything arrived on it.
func (s *Subscriber) session(ctx context.Context, names []string, pattern string) (live bool, err error) {
	network, addr, err := s.client.pubsubTarget(ctx, s.attempt)
	s.attempt++
	if err != nil {
		return false, err
	}
	conn, err := dialPubSub(ctx, s.client.opts, network, addr)
	if err != nil {
		return false, hintTLS(err, s.client.opts.TLS != nil)
	}
	defer conn.close()
	defer s.syncOn(nil, errors.New("the subscription ended before the PING was answered"))
	// Through Sentinel, a demoted master keeps its subscribers (Sentinel does not always
	// drop them) while the ticks are published on the new one: leave it as soon as the
	// Sentinels name another.
	var movedTo atomic.Pointer[string]
	if sent := s.client.sentinel; sent != nil {
		watchCtx, stopWatch := context.WithCancel(ctx)
		defer stopWatch()
		go sent.watchSwitch(watchCtx, addr, func(master string) {
			movedTo.Store(&master)
			_ = conn.close()
		})
	}
	// A blocked read ignores cancellation: closing the connection is what wakes it.
	stop := context.AfterFunc(ctx, func() { _ = conn.close() })
	defer stop()
	if err := conn.subscribe(names, pattern); err != nil {
		return false, err
	}

	var pingSent time.Time // zero: no PING awaits its PONG
	burst := burstMeter{window: s.opts.burstWindow}
	var deadlineSet time.Time
	defer s.answerDrains()
	holdTimer := time.NewTimer(time.Hour)
	holdTimer.Stop()
	drainTo := int64(-1) // bytes to take before the Drain calls are answered
	for {
		if drainTo >= 0 && !conn.buffered() && conn.consumed() >= drainTo {
			drainTo = -1
			s.answerDrains()
		}
		// The deadline is set before waiting for the network, and renewed during a flood
		// that never lets the buffer run dry: set once, it would expire mid-message.
		if buffered := conn.buffered(); !buffered || time.Since(deadlineSet) > s.opts.HealthInterval/2 {
			if !buffered && drainTo < 0 && burst.high() {
				// About to wait for the network at a high rate. Pause first, so that one
				// wake-up takes many messages instead of one each: until a display asks
				// for them, or a moment.
				if _, ok := conn.waiting(); ok && s.opts.Hold > 0 {
					setLowWater(conn.nc, holdLowWater)
					asked := s.hold(ctx, holdTimer)
					setLowWater(conn.nc, 1)
					if n, _ := conn.waiting(); n > 0 {
						drainTo = conn.consumed() + int64(n)
					} else {
						s.answerDrains()
						if asked && ctx.Err() == nil {
							continue // a frame took everything: hold again for the next
						}
						// Hold passed and nothing came: read on as it comes.
					}
				} else if d := s.opts.Coalesce; d > 0 {
					time.Sleep(d)
				}
			}
			wait := s.opts.HealthInterval
			if !pingSent.IsZero() {
				wait = s.opts.PongTimeout - time.Since(pingSent)
			}
			if wait <= 0 {
				return live, fmt.Errorf("no reply to PING within %s: the connection is silent", s.opts.PongTimeout)
			}
			deadlineSet = time.Now()
			_ = conn.setReadDeadline(deadlineSet.Add(wait))
		}
		ev, err := conn.next(s.maxPayload())
		if err != nil {
			if ctx.Err() != nil {
				return live, nil
			}
			if m := movedTo.Load(); m != nil {
				return live, fmt.Errorf("the Sentinels name a new master, %s: following it", *m)
			}
			if !isTimeout(err) {
				return live, err
			}
			if pingSent.IsZero() {
				// A quiet feed: prove the connection is alive. A PING that can be written
				// proves nothing on its own; its PONG does.
				if err := conn.ping(); err != nil {
					return live, err
				}
				pingSent = time.Now()
			}
			continue
		}
		pingSent, live = time.Time{}, true // anything that arrives proves the link
		switch ev.kind {
		case "message", "pmessage":
			if ev.kind == "message" && ev.channelCut == 0 && s.side[string(ev.channel)] {
				s.sideReceived.Add(1)
				if s.opts.OnSide != nil {
					s.opts.OnSide(string(ev.channel), ev.payload, time.Now())
				}
				continue
			}
			burst.add()
			s.handle(ev.channel, ev.payload, ev.oversize, ev.channelCut)
		case "subscribe", "psubscribe":
			s.live(string(ev.channel))
			s.syncOn(conn, nil)
		case "pong":
			s.live("")
			if len(ev.payload) > 0 {
				s.answerSync(string(ev.payload), nil)
			}
		}
	}
}

// maxPayload is what the decoder accepts; longer payloads are skipped unread.
func (s *Subscriber) maxPayload() int { return model.DefaultMaxPayload }

// a message every millisecond

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// maxChannelNames bounds the channel-to-asset cache against a flood of junk channels (the
// reader bounds each name's length).
const maxChannelNames = 10_000

func (s *Subscriber) handle(channel, payload []byte, oversize, channelCut int) {
	s.received.Add(1)
	if channelCut > 0 {
		// A name that long names no asset: bad, and never cached.
		s.bad.Add(1)
		s.recordBad(time.Now(), "", string(channel)+"…", string(payload),
			fmt.Errorf("%w: channel name of %d bytes", model.ErrBadAsset, channelCut))
		return
	}
	asset, ok := s.assetByChan[string(channel)] // no allocation for the lookup
	if !ok {
		name := string(channel)
		asset, _, _ = s.opts.Channel.Match(name)
		if len(s.assetByChan) < maxChannelNames {
			s.assetByChan[name] = asset
		}
	}
	if s.opts.CountOnly {
		if !s.opts.Admission.Admit(asset) {
			s.notAdmitted.Add(1)
			return
		}
		s.mu.Lock()
		s.countsLocked(asset).Received++
		s.mu.Unlock()
		return
	}
	now := time.Now()
	if oversize > 0 {
		s.bad.Add(1)
		s.recordBad(now, asset, string(channel), string(payload)+"…",
			fmt.Errorf("%w: %d bytes, limit %d", model.ErrTooLarge, oversize, s.maxPayload()))
		return
	}
	tick, err := s.decoder.Decode(payload, asset, now.UnixMicro())
	if err != nil {
		s.bad.Add(1)
		s.recordBad(now, asset, string(channel), string(payload), err)
		return
	}
	if !s.opts.Admission.Admit(tick.Asset) {
		s.notAdmitted.Add(1)
		return
	}
	// Counted before it is handed over, so that a consumer never sees a tick the
	// counters do not yet include. The send never blocks.
	s.mu.Lock()
	c := s.countsLocked(tick.Asset)
	c.Received++
	if lat := now.UnixMicro() - tick.UnixMicro; lat >= 0 && lat < 60e6 {
		s.recordLatencyLocked(now, time.Duration(lat)*time.Microsecond)
	}
	if s.opts.Sink != nil {
		s.mu.Unlock()
		s.opts.Sink(tick)
		return
	}
	select {
	case s.ticks <- tick:
	default:
		c.Dropped++
		s.dropped.Add(1)
	}
	s.mu.Unlock()
}
