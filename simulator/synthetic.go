package simulator

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/quflx/quflx-tui/model"
)

// Source is a stream of ticks paced in wall-clock time.
type Source interface {
	// Due appends to dst the ticks due at or before now and returns it.
	Due(now time.Time, dst []model.Tick) []model.Tick
	// NextDue returns when the next tick is due; false when the source is exhausted.
	NextDue() (time.Time, bool)
}

// SyntheticOptions configures a Synthetic source.
type SyntheticOptions struct {
	Assets []Asset
	Rate   float64 // mean ticks per second per asset (default 4)
	Seed   uint64  // same seed, same prices and spacing
	Bursts bool    // now and then an asset ticks five times faster for 1 to 3 s
}

// reversionPerSecond pulls prices back to their level with a time constant of ten
// minutes: OTC quotes wander but do not trend away.
const reversionPerSecond = 1.0 / 600

// Synthetic generates ticks from a mean-reverting random walk (an Ornstein-Uhlenbeck
// process on the price) with Poisson arrivals.
type Synthetic struct {
	rng    *rand.Rand
	rate   float64
	bursts bool
	walks  []walk
	start  time.Time
}

type walk struct {
	Asset
	price      float64 // unrounded, so that rounding never sticks the walk to a level
	nextUs     int64   // when the next tick is due
	lastUs     int64   // the last timestamp given: timestamps strictly increase
	burstUntil int64
}

// NewSynthetic returns a generator whose first ticks fall due at start.
func NewSynthetic(opts SyntheticOptions, start time.Time) *Synthetic {
	if opts.Rate <= 0 {
		opts.Rate = 4
	}
	s := &Synthetic{
		rng:    rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		rate:   opts.Rate,
		bursts: opts.Bursts,
		start:  start,
	}
	for _, a := range opts.Assets {
		w := walk{Asset: a, price: a.Price}
		w.nextUs = start.UnixMicro() + s.interval(&w)
		s.walks = append(s.walks, w)
	}
	return s
}

// SetPrice moves an asset's walk to price (to continue from recorded history).
func (s *Synthetic) SetPrice(asset string, price float64) {
	for i := range s.walks {
		if s.walks[i].Name == asset && price > 0 {
			s.walks[i].price = price
		}
	}
}

// interval draws the time to the next tick, in microseconds.
func (s *Synthetic) interval(w *walk) int64 {
	rate := s.rate
	if w.nextUs < w.burstUntil {
		rate *= 5
	}
	return max(int64(s.rng.ExpFloat64()/rate*1e6), 1)
}

// maxCatchUp bounds how far behind a source catches up after a stall (a suspended
// laptop, a stopped debugger): older ticks are skipped, not fired in one burst.
const maxCatchUp = 2 * time.Second

// Due implements Source.
func (s *Synthetic) Due(now time.Time, dst []model.Tick) []model.Tick {
	nowUs := now.UnixMicro()
	for i := range s.walks {
		w := &s.walks[i]
		if floor := nowUs - maxCatchUp.Microseconds(); w.nextUs < floor {
			w.nextUs = floor
		}
		for w.nextUs <= nowUs {
			ts := max(w.nextUs, w.lastUs+1)
			dt := float64(ts-max(w.lastUs, ts-1e6)) / 1e6 // seconds since the last tick, at most 1
			w.step(s.rng, dt)
			if s.bursts && s.rng.Float64() < dt*0.01 { // about one burst per asset per 100 s
				w.burstUntil = ts + int64(1e6+s.rng.Float64()*2e6)
			}
			dst = append(dst, model.Tick{Asset: w.Name, Price: w.Round(w.price), UnixMicro: ts})
			w.lastUs = ts
			w.nextUs += s.interval(w)
		}
	}
	return dst
}

// step advances the walk by dt seconds.
func (w *walk) step(rng *rand.Rand, dt float64) {
	drift := reversionPerSecond * (w.Price - w.price) * dt
	shock := w.Vol * w.price * math.Sqrt(dt) * rng.NormFloat64()
	w.price = max(w.price+drift+shock, w.TickSize())
}

// NextDue implements Source.
func (s *Synthetic) NextDue() (time.Time, bool) {
	if len(s.walks) == 0 {
		return time.Time{}, false
	}
	next := s.walks[0].nextUs
	for _, w := range s.walks[1:] {
		next = min(next, w.nextUs)
	}
	return time.UnixMicro(next), true
}

// Backfill returns synthetic 1-minute candles for the span before end, so that a demo
// store has history to chart. The path is walked backwards from the asset's level, so
// the last close is where the live walk starts.
func Backfill(a Asset, end time.Time, span time.Duration, ticksPerMinute int, seed uint64) []model.Candle {
	return backfill(a, math.NaN(), end, span, ticksPerMinute, seed)
}

// BackfillFrom is Backfill for a hole in a history: its first candle opens at open (the
// close before the hole) and its last closes at the asset's level, as a Brownian bridge
// between the two, so that the chart has neither a hole nor a jump.
func BackfillFrom(a Asset, open float64, end time.Time, span time.Duration, ticksPerMinute int, seed uint64) []model.Candle {
	return backfill(a, open, end, span, ticksPerMinute, seed)
}

// backfill walks the path; a NaN open leaves its start where the walk ends.
func backfill(a Asset, open float64, end time.Time, span time.Duration, ticksPerMinute int, seed uint64) []model.Candle {
	const stepsPerMinute = 12
	minutes := int(span / time.Minute)
	if minutes <= 0 {
		return nil
	}
	rng := rand.New(rand.NewPCG(seed, uint64(len(a.Name))))
	path := make([]float64, minutes*stepsPerMinute+1)
	path[len(path)-1] = a.Price
	w := walk{Asset: a, price: a.Price}
	dt := 60.0 / stepsPerMinute
	for i := len(path) - 2; i >= 0; i-- {
		w.step(rng, dt) // the process is reversible: stepping back looks like stepping on
		path[i] = w.price
	}
	if !math.IsNaN(open) {
		// A walk minus the straight line from its start's error to zero is a bridge
		// pinned at both ends.
		miss, last := open-path[0], float64(len(path)-1)
		for i := range path {
			path[i] = max(path[i]+miss*(1-float64(i)/last), a.TickSize())
		}
	}
	lastMinute := end.Truncate(time.Minute).Unix() - 60
	candles := make([]model.Candle, minutes)
	for m := range minutes {
		seg := path[m*stepsPerMinute : (m+1)*stepsPerMinute+1]
		c := model.Candle{
			Start:  lastMinute - int64(minutes-1-m)*60,
			Open:   a.Round(seg[0]),
			Close:  a.Round(seg[len(seg)-1]),
			Volume: int64(max(1, ticksPerMinute/2+rng.IntN(ticksPerMinute+1))),
		}
		c.High, c.Low = c.Open, c.Open
		for _, p := range seg {
			c.High, c.Low = max(c.High, a.Round(p)), min(c.Low, a.Round(p))
		}
		candles[m] = c
	}
	return candles
}
