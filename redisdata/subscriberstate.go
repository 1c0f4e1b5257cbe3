package redisdata

import (
	"fmt"
	"sort"
	"time"
	"unicode/utf8"

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

	Received    int64 // messages read from the server
	Bad         int64 // messages that failed to decode
	Dropped     int64 // decoded ticks the consumer had no room for
	NotAdmitted int64 // ticks of assets the admission refused (not named, no key, over the maximum)
	// SideReceived counts messages of the side channels (heartbeats, signals, ...), which
	// are not ticks and not in Received.
	SideReceived int64

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

// maxShownName bounds a name kept for display.
const maxShownName = 128

func (s *Subscriber) countsLocked(asset string) *AssetCounts {
	c := s.assets[asset]
	if c == nil {
		c = &AssetCounts{}
		s.assets[asset] = c
	}
	return c
}

// recordLatencyLocked keeps the latency of the last 10 to 20 seconds: the figures
// describe now.
func (s *Subscriber) recordLatencyLocked(now time.Time, d time.Duration) { s.latency.Record(now, d) }

// recordBad keeps a bad message for display: every text printable, whoever chose it.
// Per-asset counts are kept only for admitted assets; the rest count in the totals.
func (s *Subscriber) recordBad(now time.Time, asset, channel, payload string, err error) {
	// Every text cut before it is kept: names and errors are the publisher's to make long.
	bm := &BadMessage{At: now, Asset: model.Printable(truncateUTF8(asset, maxShownName)),
		Channel: model.Printable(truncateUTF8(channel, maxShownName)),
		Payload: model.Printable(truncateUTF8(payload, s.opts.MaxBadPayload)),
		Err:     model.Printable(truncateUTF8(err.Error(), 2*maxShownName))}
	s.mu.Lock()
	defer s.mu.Unlock()
	adm := s.opts.Admission
	if adm.Admitted(asset) || adm.Open() && asset != "" && adm.Admit(asset) {
		c := s.countsLocked(asset)
		c.Bad++
		c.LastBad = bm
	}
	s.lastBad = bm
	s.events.Push(Event{At: now, Kind: "bad", Text: fmt.Sprintf("%s: %s: %q", bm.Channel, bm.Err, bm.Payload)})
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

func (s *Subscriber) live(channel string) {
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
	if channel != "" {
		what = "subscribed to " + model.Printable(channel)
	}
	s.events.Push(Event{At: s.since, Kind: "state", Text: what})
}

func (s *Subscriber) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failed = true
	s.lastErr = model.Printable(err.Error())
	if s.state == StateReconnecting || s.state == StateDown {
		return // keep the time the outage began
	}
	s.setStateLocked(StateReconnecting, s.lastErr)
	s.events.Push(Event{At: s.since, Kind: "state", Text: "connection lost: " + model.Printable(err.Error())})
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
		State:        s.state,
		Since:        s.since,
		LastErr:      s.lastErr,
		Reconnects:   s.reconnects,
		Received:     s.received.Load(),
		Bad:          s.bad.Load(),
		Dropped:      s.dropped.Load(),
		NotAdmitted:  s.notAdmitted.Load(),
		SideReceived: s.sideReceived.Load(),
		Assets:       make(map[string]AssetCounts, len(s.assets)),
		LastBad:      s.lastBad,
	}
	if st.State == StateReconnecting && time.Since(s.since) > s.opts.DownAfter {
		st.State = StateDown
	}
	for a, c := range s.assets {
		if !s.opts.Admission.Admitted(a) {
			delete(s.assets, a) // forgotten (idle, or a junk name): its counts go with it
			continue
		}
		st.Assets[a] = *c
	}
	st.Latency = s.latency.Summary()
	return st
}

// Events appends the recent events, oldest first, to dst.
func (s *Subscriber) Events(dst []Event) []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.events.AppendTo(dst)
}

func (s ConnState) String() string {
	return [...]string{"connecting", "live", "reconnecting", "down", "stopped"}[s]
}
