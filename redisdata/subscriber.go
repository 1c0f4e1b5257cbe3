package redisdata

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/quflx/quflx-tui/model"
)

// ConnState is the state of a long-lived connection as the user sees it.
type ConnState int

const (
	StateConnecting   ConnState = iota // not yet subscribed
	StateLive                          // subscribed and receiving
	StateReconnecting                  // lost; retrying by itself
	StateDown                          // reconnecting for longer than DownAfter
	StateStopped                       // Run has returned
)

func (s ConnState) String() string {
	return [...]string{"connecting", "live", "reconnecting", "down", "stopped"}[s]
}

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
	// DownAfter: reconnecting for longer than this is reported as down (default 10 s).
	DownAfter time.Duration
	// MaxBadPayload bounds the bad payload kept for display (default 200 bytes).
	MaxBadPayload int
	// MaxFuture is passed to the decoder (default model.DefaultMaxFuture).
	MaxFuture time.Duration
	// CountOnly counts messages per asset without decoding or delivering them (the
	// flusher's trigger and trim-loss estimate need no more).
	CountOnly bool
}

// BadMessage is the last payload that failed to decode, kept for display.
type BadMessage struct {
	At      time.Time
	Asset   string
	Channel string
	Payload string // truncated to MaxBadPayload bytes, on a rune boundary
	Err     string
}

// AssetCounts are one asset's pub/sub counters.
type AssetCounts struct {
	Received int64 // decoded and delivered or dropped
	Bad      int64
	Dropped  int64 // decoded, but the consumer was full
	LastBad  *BadMessage
}

// Event is a line for the dashboard's events panel.
type Event struct {
	At   time.Time
	Kind string // "state", "bad"
	Text string
}

// SubscriberStats is a snapshot of a Subscriber.
type SubscriberStats struct {
	State      ConnState
	Since      time.Time // when the current state began
	LastErr    string    // the error that ended the last live period
	Reconnects int64     // times the subscription came back after a failure

	Received int64 // messages read from the server
	Bad      int64 // messages that failed to decode
	Dropped  int64 // decoded ticks the consumer had no room for

	Assets  map[string]AssetCounts
	LastBad *BadMessage
	// Latency from the tick's own timestamp to its receipt, over the last 10-20 s; only
	// meaningful when the producer's clock agrees with ours.
	Latency model.LatencySummary
}

// AssetNames returns the assets seen, sorted.
func (s SubscriberStats) AssetNames() []string {
	names := make([]string, 0, len(s.Assets))
	for a := range s.Assets {
		names = append(names, a)
	}
	sort.Strings(names)
	return names
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

	received, bad, dropped atomic.Int64

	mu         sync.Mutex
	state      ConnState
	since      time.Time
	lastErr    string
	reconnects int64
	failed     bool // a failure happened since the last live period
	assets     map[string]*AssetCounts
	lastBad    *BadMessage
	events     *model.Ring[Event]
	latCur     model.LatencyHistogram
	latPrev    model.LatencyHistogram
	latStart   time.Time
}

// NewSubscriber returns a subscriber; call Run to start it.
func NewSubscriber(c *Client, opts SubscriberOptions) *Subscriber {
	if opts.Buffer <= 0 {
		opts.Buffer = 16384
	}
	if opts.HealthInterval <= 0 {
		opts.HealthInterval = 3 * time.Second
	}
	if opts.DownAfter <= 0 {
		opts.DownAfter = 10 * time.Second
	}
	if opts.MaxBadPayload <= 0 {
		opts.MaxBadPayload = 200
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
	}
	return s
}

// Ticks is where decoded ticks arrive. It is closed when Run returns.
func (s *Subscriber) Ticks() <-chan model.Tick { return s.ticks }

// Channels returns what the subscriber subscribes to: channel names, or one pattern.
func (s *Subscriber) Channels() (names []string, pattern string) {
	if len(s.opts.Assets) == 0 {
		return nil, s.opts.Channel.Glob()
	}
	for _, a := range s.opts.Assets {
		names = append(names, s.opts.Channel.Key(a, ""))
	}
	return names, ""
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
	var ps *redis.PubSub
	if pattern != "" {
		ps = s.client.PSubscribe(ctx, pattern)
	} else {
		ps = s.client.Subscribe(ctx, names...)
	}
	defer ps.Close()
	// A blocked read ignores cancellation (go-redis honours only deadlines): closing the
	// PubSub is what wakes it.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer stop()

	backoff := minBackoff
	for {
		msg, err := ps.ReceiveTimeout(ctx, s.opts.HealthInterval)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if isTimeout(err) {
				// A quiet feed: prove the connection is alive. A failed ping makes
				// go-redis drop the connection, and the next receive redials.
				if perr := ps.Ping(ctx); perr == nil || ctx.Err() != nil {
					continue
				} else {
					err = perr
				}
			}
			s.fail(err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, maxBackoff)
			continue
		}
		backoff = minBackoff
		switch m := msg.(type) {
		case *redis.Message:
			s.handle(m)
		case *redis.Subscription:
			s.live(m)
		case *redis.Pong:
			s.live(nil)
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (s *Subscriber) handle(m *redis.Message) {
	s.received.Add(1)
	asset, ok := s.assetByChan[m.Channel]
	if !ok {
		asset, _, _ = s.opts.Channel.Match(m.Channel)
		if len(s.assetByChan) < 100_000 { // bounded against a flood of junk channels
			s.assetByChan[m.Channel] = asset
		}
	}
	if s.opts.CountOnly {
		s.mu.Lock()
		s.countsLocked(asset).Received++
		s.mu.Unlock()
		return
	}
	now := time.Now()
	tick, err := s.decoder.DecodeString(m.Payload, asset, now.UnixMicro())
	if err != nil {
		s.bad.Add(1)
		s.recordBad(now, asset, m.Channel, m.Payload, err)
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
	select {
	case s.ticks <- tick:
	default:
		c.Dropped++
		s.dropped.Add(1)
	}
	s.mu.Unlock()
}

func (s *Subscriber) countsLocked(asset string) *AssetCounts {
	c := s.assets[asset]
	if c == nil {
		c = &AssetCounts{}
		s.assets[asset] = c
	}
	return c
}

// recordLatencyLocked keeps two rotating 10-second windows, so the figures describe now.
func (s *Subscriber) recordLatencyLocked(now time.Time, d time.Duration) {
	if now.Sub(s.latStart) > 10*time.Second {
		s.latPrev = s.latCur
		s.latCur.Reset()
		s.latStart = now
	}
	s.latCur.Record(d)
}

func (s *Subscriber) recordBad(now time.Time, asset, channel, payload string, err error) {
	bm := &BadMessage{At: now, Asset: asset, Channel: channel, Payload: truncateUTF8(payload, s.opts.MaxBadPayload), Err: err.Error()}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := asset
	if key == "" {
		key = channel
	}
	c := s.countsLocked(key)
	c.Bad++
	c.LastBad = bm
	s.lastBad = bm
	s.events.Push(Event{At: now, Kind: "bad", Text: fmt.Sprintf("%s: %s: %q", channel, err, bm.Payload)})
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune, marking the cut.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf("… (%d bytes)", len(s))
}

func (s *Subscriber) live(sub *redis.Subscription) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == StateLive {
		return
	}
	if s.failed {
		s.reconnects++
		s.failed = false
	}
	s.setStateLocked(StateLive, "")
	what := "subscribed"
	if sub != nil {
		what = fmt.Sprintf("subscribed to %s", sub.Channel)
	}
	s.events.Push(Event{At: s.since, Kind: "state", Text: what})
}

func (s *Subscriber) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failed = true
	s.lastErr = err.Error()
	if s.state == StateReconnecting || s.state == StateDown {
		return // keep the time the outage began
	}
	s.setStateLocked(StateReconnecting, err.Error())
	s.events.Push(Event{At: s.since, Kind: "state", Text: "connection lost: " + err.Error()})
}

func (s *Subscriber) setState(st ConnState, errText string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setStateLocked(st, errText)
}

func (s *Subscriber) setStateLocked(st ConnState, errText string) {
	s.state, s.since = st, time.Now()
	if errText != "" {
		s.lastErr = errText
	}
}

// Stats returns a snapshot of the counters and the connection state.
func (s *Subscriber) Stats() SubscriberStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := SubscriberStats{
		State:      s.state,
		Since:      s.since,
		LastErr:    s.lastErr,
		Reconnects: s.reconnects,
		Received:   s.received.Load(),
		Bad:        s.bad.Load(),
		Dropped:    s.dropped.Load(),
		Assets:     make(map[string]AssetCounts, len(s.assets)),
		LastBad:    s.lastBad,
	}
	if st.State == StateReconnecting && time.Since(s.since) > s.opts.DownAfter {
		st.State = StateDown
	}
	for a, c := range s.assets {
		st.Assets[a] = *c
	}
	var lat model.LatencyHistogram
	lat.Merge(&s.latPrev)
	lat.Merge(&s.latCur)
	st.Latency = lat.Summary()
	return st
}

// Events appends the recent events, oldest first, to dst.
func (s *Subscriber) Events(dst []Event) []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.events.AppendTo(dst)
}
