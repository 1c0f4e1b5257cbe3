package redisdata

import (
	"cmp"
	"context"
	"time"
)

// Drain returns once every tick the socket held when it was called is in the sink, or
// ctx ends. Unless the reader is holding ticks (SubscriberOptions.Hold) it returns at
// once: ticks are then taken as they come.
func (s *Subscriber) Drain(ctx context.Context) error {
	s.drainMu.Lock()
	if !s.holding {
		s.drainMu.Unlock()
		return nil
	}
	done := make(chan struct{})
	s.drainWaiters = append(s.drainWaiters, done)
	s.drainMu.Unlock()
	select {
	case s.drainWake <- struct{}{}:
	default:
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// hold waits, with ticks left in the socket, for a Drain, for Hold to pass, or for ctx.
// asked says a Drain ended it.
func (s *Subscriber) hold(ctx context.Context, timer *time.Timer) (asked bool) {
	s.drainMu.Lock()
	s.holding = true
	s.drainMu.Unlock()
	if s.opts.Pending != nil {
		s.opts.Pending()
	}
	timer.Reset(s.opts.Hold)
	select {
	case <-s.drainWake:
		asked = true
	case <-timer.C:
	case <-ctx.Done():
	}
	timer.Stop()
	return asked
}

// answerDrains tells the Drain calls waiting that their ticks are in.
func (s *Subscriber) answerDrains() {
	s.drainMu.Lock()
	defer s.drainMu.Unlock()
	s.holding = false
	for _, w := range s.drainWaiters {
		close(w)
	}
	s.drainWaiters = s.drainWaiters[:0]
	select { // a wake-up for the calls just answered is spent
	case <-s.drainWake:
	default:
	}
}

// burstMeter tells a high message rate: at least burstHigh messages in the current or the
// last 100 ms.
type burstMeter struct {
	start      time.Time
	n, last    int
	checkEvery int
	window     time.Duration // 0: 100 ms
}

const burstHigh = 100

func (b *burstMeter) add() {
	b.n++
	if b.checkEvery++; b.checkEvery < 16 {
		return // the clock is read every 16 messages, not each
	}
	b.checkEvery = 0
	if now := time.Now(); now.Sub(b.start) >= cmp.Or(b.window, 100*time.Millisecond) {
		b.last, b.n, b.start = b.n, 0, now
	}
}

func (b *burstMeter) high() bool { return b.n >= burstHigh || b.last >= burstHigh }

// holdLowWater is SO_RCVLOWAT while holding: more than a frame of ticks at any rate.
const holdLowWater = 1 << 20
