// Package alert tells operators when their pipeline goes wrong. A Runner judges the alert
// rules (model.Alerts: every health finding, and price levels) on a watch session's
// readings and prices in a goroutine of its own, never on a display's event loop, and
// hands each transition to whoever follows it: any number of dashboards and the plain
// monitor (Events, Wake), and an operator's command (--alert-exec, exec.go) run from a
// bounded queue that never makes anything wait.
//
// One Runner serves one watch session, however many displays share it; metrics read
// FiringCount.
package alert

import (
	"cmp"
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata"
)

// Options configures a Runner.
type Options struct {
	// Hold: a rule's condition must hold this long to fire, and be gone as long to
	// resolve (model.AlertOptions.Hold). Zero is at once: pass model.DefaultAlertHold for
	// the default.
	Hold   time.Duration
	Prices []model.PriceRule
	// PriceEvery is how often, at most, the price rules are judged while ticks arrive
	// (default 100 ms): at ten thousand ticks a second, judging each would cost more
	// than the hold makes worth.
	PriceEvery time.Duration
	// Exec is a shell command run (sh -c) for each transition with its JSON on stdin; ""
	// runs nothing.
	Exec ExecOptions
	// Log receives a line for each transition and each failure of the command, as the
	// events say them (nil: none).
	Log func(string)
	// KeepEvents is how many events are kept for the displays (default 100).
	KeepEvents int
}

// Source is what a Runner watches: redisdata.Watch.
type Source interface {
	Latest() *redisdata.Reading
	Updates() (<-chan struct{}, func())
	Market() *model.Market
}

var _ Source = (*redisdata.Watch)(nil)

// The kinds of events.
const (
	KindFiring   = "firing"     // an alert fired
	KindResolved = "resolved"   // an alert resolved
	KindExec     = "alert-exec" // the command failed, timed out or was dropped
)

// Event is a transition or a failure to notify of one, as displays list them.
type Event struct {
	Seq  uint64 // 1, 2, ...: a follower shows those after the last it showed
	At   time.Time
	Kind string // KindFiring, KindResolved, KindExec
	// Text is one line, printable, without the kind: "feed_stale EURUSD_otc: feed
	// EURUSD_otc stale: ..." or "exit 3: webhook refused (firing feed_stale)".
	Text string
	// Transition is the transition of a KindFiring or KindResolved event.
	Transition *model.AlertTransition
}

// State is what displays show: the alerts firing and the recent events.
type State struct {
	Firing []model.FiringAlert // newest first
	Events []Event             // oldest first, at most Options.KeepEvents
	// ExecDropped counts notifications the command's full queue turned away, ExecFailed
	// the runs that failed or timed out.
	ExecDropped, ExecFailed int64
}

// Runner drives the alert engine off the event loops of the displays.
type Runner struct {
	opts   Options
	engine *model.Alerts // under mu
	exec   *execQueue    // nil without a command

	mu     sync.Mutex
	events *model.Ring[Event]
	seq    uint64
	firing []model.FiringAlert
	nFire  atomic.Int64

	wake   wakers
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewRunner returns a runner of opts' rules; Start runs it.
func NewRunner(opts Options) *Runner {
	opts.PriceEvery = cmp.Or(opts.PriceEvery, 100*time.Millisecond)
	opts.KeepEvents = cmp.Or(opts.KeepEvents, 100)
	r := &Runner{
		opts:   opts,
		engine: model.NewAlerts(model.AlertOptions{Hold: opts.Hold, Prices: opts.Prices}),
		events: model.NewRing[Event](opts.KeepEvents),
	}
	if opts.Exec.Command != "" {
		r.exec = newExecQueue(opts.Exec, r.execEvent)
	}
	return r
}

// Start judges the rules on src's readings and prices until ctx ends or Close.
func (r *Runner) Start(ctx context.Context, src Source) {
	ctx, r.cancel = context.WithCancel(ctx)
	if r.exec != nil {
		r.exec.start()
	}
	r.wg.Go(func() { r.loop(ctx, src) })
}

// Close stops judging, lets the command's queue finish for up to grace (the last
// transitions reach the operator's notifier), then kills what still runs.
func (r *Runner) Close(grace time.Duration) {
	if r.cancel != nil {
		r.cancel()
	}
	r.wg.Wait()
	if r.exec != nil {
		r.exec.close(grace)
	}
}

func (r *Runner) loop(ctx context.Context, src Source) {
	updates, stop := src.Updates()
	defer stop()
	market := src.Market()
	price := func(asset string) (float64, bool) {
		t, ok := market.Last(asset)
		return t.Price, ok
	}
	var changes <-chan struct{}
	var stopChanges func()
	if len(r.opts.Prices) > 0 {
		changes, stopChanges = market.Changes()
		defer stopChanges()
	}
	ticksWake := changes
	due := time.NewTimer(time.Hour)
	defer due.Stop()
	var throttle <-chan time.Time
	var seq uint64
	for {
		var in model.AlertInput
		select {
		case <-ctx.Done():
			return
		case <-updates:
			if rd := src.Latest(); rd.Seq != seq && rd.Seq != 0 {
				seq = rd.Seq
				h := rd.Report.Health
				in.Health = &h
			}
			in.Price = price
		case <-ticksWake:
			in.Price = price
			// Judged again no sooner than PriceEvery: the wake-ups wait meanwhile.
			ticksWake, throttle = nil, time.After(r.opts.PriceEvery)
		case <-throttle:
			ticksWake, throttle = changes, nil
			continue
		case <-due.C:
		}
		next := r.observe(time.Now(), in)
		due.Stop()
		if !next.IsZero() {
			due.Reset(max(0, time.Until(next)))
		}
	}
}

// Observe judges the rules at now on in, as the loop does, and returns when a hold under
// way ends (zero: none). For tests and for drivers of their own.
func (r *Runner) Observe(now time.Time, in model.AlertInput) time.Time { return r.observe(now, in) }

func (r *Runner) observe(now time.Time, in model.AlertInput) time.Time {
	r.mu.Lock()
	transitions := r.engine.Observe(now, in)
	next := r.engine.NextDue()
	if len(transitions) > 0 {
		r.firing = r.engine.Firing()
		r.nFire.Store(int64(len(r.firing)))
		for i := range transitions {
			tr := transitions[i]
			kind := KindFiring
			if tr.State == model.AlertResolved {
				kind = KindResolved
			}
			r.addLocked(Event{At: tr.At, Kind: kind, Text: Describe(tr), Transition: &tr})
		}
	}
	r.mu.Unlock()
	if len(transitions) == 0 {
		return next
	}
	for _, tr := range transitions {
		if r.opts.Log != nil {
			r.opts.Log(tr.State + " " + Describe(tr))
		}
		if r.exec != nil {
			r.exec.enqueue(tr)
		}
	}
	r.wake.notify()
	return next
}

// execEvent records a failure of the command.
func (r *Runner) execEvent(at time.Time, text string) {
	r.mu.Lock()
	r.addLocked(Event{At: at, Kind: KindExec, Text: model.Printable(text)})
	r.mu.Unlock()
	if r.opts.Log != nil {
		r.opts.Log(KindExec + ": " + text)
	}
	r.wake.notify()
}

func (r *Runner) addLocked(e Event) {
	r.seq++
	e.Seq = r.seq
	r.events.Push(e)
}

// State is the alerts firing and the recent events, a copy.
func (r *Runner) State() State {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := State{Firing: append([]model.FiringAlert(nil), r.firing...), Events: r.events.AppendTo(nil)}
	if r.exec != nil {
		st.ExecDropped, st.ExecFailed = r.exec.dropped.Load(), r.exec.failed.Load()
	}
	return st
}

// FiringCount is how many alerts are firing now; it never blocks (for metrics).
func (r *Runner) FiringCount() int { return int(r.nFire.Load()) }

// Wake returns a channel that receives after each new event (one slot: a follower that
// is behind reads State once) and a function that stops it.
func (r *Runner) Wake() (<-chan struct{}, func()) { return r.wake.add() }

// Describe is a transition's alert in one line, without its state: "feed_stale
// EURUSD_otc: feed EURUSD_otc stale: last tick 1m2s ago".
func Describe(tr model.AlertTransition) string {
	subject := tr.Asset
	if subject == "" {
		subject = tr.Subject
	}
	text := tr.Rule
	// A subject that is the whole reason (a missing cache's) is said once, also when the
	// resolution prefixes it.
	if subject != "" && subject != strings.TrimPrefix(tr.Reason, model.AlertClearedPrefix) {
		text += " " + subject
	}
	return model.Printable(text + ": " + tr.Reason)
}

// wakers wakes any number of followers, each on its own one-slot channel, never waiting
// for one.
type wakers struct {
	mu   sync.Mutex
	subs map[chan struct{}]struct{}
}

func (w *wakers) add() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	if w.subs == nil {
		w.subs = map[chan struct{}]struct{}{}
	}
	w.subs[ch] = struct{}{}
	w.mu.Unlock()
	return ch, func() {
		w.mu.Lock()
		delete(w.subs, ch)
		w.mu.Unlock()
	}
}

func (w *wakers) notify() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
