package simulator

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quflx/quflx-tui/model"
)

// Sink takes ticks as a producer would write them (redisdata.Producer in practice).
type Sink interface {
	Write(ctx context.Context, ticks []model.Tick) error
}

// FeedOptions configures a Feeder.
type FeedOptions struct {
	// Limit stops the feed after this many ticks (0: no limit).
	Limit int64
	// MaxBatch bounds the ticks of one sink write (default 4096): large enough to fill a
	// pipeline, small enough to keep latency low.
	MaxBatch int
	// MaxPending bounds what is kept while the sink fails (default 100,000); beyond it
	// the oldest ticks are dropped and counted.
	MaxPending int
}

// FeedStats are a Feeder's counters.
type FeedStats struct {
	Produced int64 // ticks the sink accepted
	Dropped  int64 // ticks given up while the sink was failing
	Errors   int64 // failed sink writes
	LastErr  string
	Failing  bool // the last write failed
}

// Feeder pulls due ticks from its sources and writes them to a sink, in real time.
type Feeder struct {
	sink    Sink
	sources []Source
	opts    FeedOptions

	produced, dropped, errors atomic.Int64
	mu                        sync.Mutex
	lastErr                   string
	failing                   bool
}

// NewFeeder returns a feeder.
func NewFeeder(sink Sink, sources []Source, opts FeedOptions) *Feeder {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 4096
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = 100_000
	}
	return &Feeder{sink: sink, sources: sources, opts: opts}
}

// Stats returns the counters.
func (f *Feeder) Stats() FeedStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return FeedStats{Produced: f.produced.Load(), Dropped: f.dropped.Load(), Errors: f.errors.Load(),
		LastErr: f.lastErr, Failing: f.failing}
}

// maxSleep keeps the loop responsive to cancellation and to sources added late.
const maxSleep = 50 * time.Millisecond

// Run feeds until ctx is done, every source is exhausted, or the limit is reached. A
// failing sink is retried with backoff; it never ends the feed.
func (f *Feeder) Run(ctx context.Context) error {
	var pending []model.Tick
	backoff := 10 * time.Millisecond
	for {
		now := time.Now()
		for _, src := range f.sources {
			pending = src.Due(now, pending)
		}
		if f.opts.Limit > 0 {
			if left := f.opts.Limit - f.produced.Load(); int64(len(pending)) > left {
				pending = pending[:left]
			}
		}
		if excess := len(pending) - f.opts.MaxPending; excess > 0 {
			f.dropped.Add(int64(excess))
			pending = append(pending[:0], pending[excess:]...)
		}
		failed := false
		for len(pending) > 0 && ctx.Err() == nil {
			n := min(len(pending), f.opts.MaxBatch)
			// The feed stops between batches, never inside one: a write cut off by the end
			// of the run may already be applied and published, and must then be counted.
			if err := f.write(ctx, pending[:n]); err != nil {
				f.fail(err)
				failed = true
				break
			}
			f.produced.Add(int64(n))
			f.ok()
			pending = append(pending[:0], pending[n:]...)
		}
		if ctx.Err() != nil {
			return nil
		}
		if f.opts.Limit > 0 && f.produced.Load() >= f.opts.Limit {
			return nil
		}
		wait := maxSleep
		if failed {
			wait, backoff = backoff, min(backoff*2, 2*time.Second)
		} else {
			backoff = 10 * time.Millisecond
			exhausted := true
			for _, src := range f.sources {
				if next, ok := src.NextDue(); ok {
					exhausted = false
					wait = min(wait, time.Until(next))
				}
			}
			if exhausted && len(pending) == 0 {
				return nil
			}
		}
		if wait > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wait):
			}
		}
	}
}

// writeTimeout bounds one sink write, which no longer ends with the run's context.
const writeTimeout = 10 * time.Second

func (f *Feeder) write(ctx context.Context, ticks []model.Tick) error {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	return f.sink.Write(wctx, ticks)
}

func (f *Feeder) fail(err error) {
	f.errors.Add(1)
	f.mu.Lock()
	f.lastErr, f.failing = err.Error(), true
	f.mu.Unlock()
}

func (f *Feeder) ok() {
	f.mu.Lock()
	f.failing = false
	f.mu.Unlock()
}
