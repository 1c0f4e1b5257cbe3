package model

import (
	"bytes"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"
)

// MarketOptions configures a Market.
type MarketOptions struct {
	SparkSeconds int           // seconds of price history per asset for sparklines (default 120)
	KeepCandles  int           // candles kept per asset and timeframe (default 500)
	RateWindow   time.Duration // window of the ticks/s figure (default 5 s)
	MaxArrivals  int           // newest tick timestamps kept for latency readers (default 8192)
}

// Market aggregates the ticks of every asset: last and first price, rate, a per-second
// price history for sparklines, and candles at every timeframe. Thousands of ticks a second
// go in from a reader goroutine; a display takes a snapshot once a frame. Its methods are
// safe for concurrent use and cheap: Add is a few hundred nanoseconds.
type Market struct {
	mu       sync.Mutex
	opts     MarketOptions
	series   map[string]*series
	version  uint64
	arrivals []int64 // event times of the newest ticks, a ring indexed by total
	taken    int64   // TakeArrivals' cursor
	total    int64
	changes  []chan struct{} // one-slot wake-ups of the displays (Changes)
}

type series struct {
	first, last Tick
	arrival     int64 // when the last tick was added, Unix µs
	ticks       int64
	rate        *RateMeter
	spark       *Ring[float64] // closes of past seconds
	sparkSecond int64          // the second being built
	sparkPrice  float64        // its latest price
	candles     [5]*CandleBuilder
	decimals    int
}

// NewMarket returns an empty market.
func NewMarket(opts MarketOptions) *Market {
	if opts.SparkSeconds <= 0 {
		opts.SparkSeconds = 120
	}
	if opts.KeepCandles <= 0 {
		opts.KeepCandles = DefaultKeepCandles
	}
	if opts.RateWindow <= 0 {
		opts.RateWindow = 5 * time.Second
	}
	if opts.MaxArrivals <= 0 {
		opts.MaxArrivals = 8192
	}
	return &Market{opts: opts, series: map[string]*series{}}
}

func (m *Market) seriesOf(asset string) *series {
	s := m.series[asset]
	if s == nil {
		s = &series{
			rate:  NewRateMeter(m.opts.RateWindow, 250*time.Millisecond),
			spark: NewRing[float64](m.opts.SparkSeconds),
		}
		for i, tf := range Timeframes {
			s.candles[i] = NewCandleBuilder(tf, m.opts.KeepCandles)
		}
		m.series[asset] = s
	}
	return s
}

// Add folds one tick in; arrival is when it was received, in Unix µs.
func (m *Market) Add(t Tick, arrival int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.seriesOf(t.Asset)
	if s.ticks == 0 {
		s.first = t
	}
	// A late tick does not move the last price back in time.
	if t.UnixMicro >= s.last.UnixMicro {
		s.last = t
		second := t.UnixMicro / 1e6
		if second > s.sparkSecond && s.sparkSecond != 0 {
			s.spark.Push(s.sparkPrice)
		}
		s.sparkSecond, s.sparkPrice = max(second, s.sparkSecond), t.Price
	}
	s.arrival = arrival
	s.ticks++
	s.rate.Add(arrival*1000, 1)
	for _, b := range s.candles {
		b.Add(t)
	}
	if s.ticks <= 64 || s.ticks%1024 == 0 {
		s.decimals = max(s.decimals, decimalsOf(t.Price))
	}
	if m.arrivals == nil {
		m.arrivals = make([]int64, m.opts.MaxArrivals)
	}
	m.arrivals[m.total%int64(len(m.arrivals))] = t.UnixMicro
	m.total++
	m.version++
	m.wakeLocked()
}

// wakeLocked wakes the displays. A full slot means the display has not looked yet: no
// send, no wake-up. So a display wakes at most once a frame however fast ticks come.
func (m *Market) wakeLocked() {
	for _, ch := range m.changes {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Nudge wakes the displays as Add does, for ticks that are on their way: a reader that
// holds ticks until a display asks for them says so.
func (m *Market) Nudge() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.wakeLocked()
}

// Changes returns a channel that receives when ticks were added since it was last read
// (one slot: a wake-up, not a count), and a function that stops it. A display repaints
// when it fires instead of on a fixed clock.
func (m *Market) Changes() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	m.mu.Lock()
	m.changes = append(m.changes, ch)
	m.mu.Unlock()
	return ch, func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.changes = slices.DeleteFunc(m.changes, func(c chan struct{}) bool { return c == ch })
	}
}

// Displays counts the wake-ups handed out by Changes and not stopped yet: one per
// display watching the market.
func (m *Market) Displays() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.changes)
}

// decimalsOf counts the decimals of p's shortest representation, up to 8.
// PriceDecimals is how many decimals a price is written with (its shortest exact form).
func PriceDecimals(p float64) int { return decimalsOf(p) }

func decimalsOf(p float64) int {
	var buf [32]byte
	s := strconv.AppendFloat(buf[:0], p, 'f', -1, 64)
	if dot := bytes.IndexByte(s, '.'); dot >= 0 {
		return min(len(s)-dot-1, 8)
	}
	return 0
}

// Version changes whenever anything was added: a display redraws only when it moved.
func (m *Market) Version() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.version
}

// Total returns every tick ever added.
func (m *Market) Total() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.total
}

// Last returns asset's last tick, ok false when it has none: a cheap look-up for whoever
// watches a few assets' prices (alert rules) at any rate.
func (m *Market) Last(asset string) (t Tick, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.series[asset]
	if s == nil || s.ticks == 0 {
		return Tick{}, false
	}
	return s.last, true
}

// AssetView is what a display shows of one asset.
type AssetView struct {
	Asset       string
	First, Last Tick
	Change      float64 // last - first (the session's first tick)
	ChangePct   float64
	Rate        float64 // ticks/s
	Ticks       int64
	Arrival     time.Time // of the last tick
	Decimals    int
	Spark       []float64 // closes of the last seconds, oldest first, then the current price
}

// LastTicks puts each asset's newest tick into dst (cleared first) and returns it.
func (m *Market) LastTicks(dst map[string]Tick) map[string]Tick {
	if dst == nil {
		dst = map[string]Tick{}
	}
	clear(dst)
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, s := range m.series {
		if s.ticks > 0 {
			dst[name] = s.last
		}
	}
	return dst
}

// Views appends a view of every asset, sorted by name, to dst, reusing its spark slices.
// now (Unix ns) is for the rate.
func (m *Market) Views(now int64, dst []AssetView) []AssetView {
	m.mu.Lock()
	defer m.mu.Unlock()
	names := make([]string, 0, len(m.series))
	for name := range m.series {
		names = append(names, name)
	}
	sort.Strings(names)
	dst = dst[:0:cap(dst)]
	for _, name := range names {
		s := m.series[name]
		var v AssetView
		if len(dst) < cap(dst) { // reuse the spark slice a previous call left there
			v.Spark = dst[len(dst) : len(dst)+1][0].Spark[:0]
		}
		v.Asset, v.First, v.Last, v.Ticks, v.Decimals = name, s.first, s.last, s.ticks, s.decimals
		if s.ticks > 0 {
			v.Change = s.last.Price - s.first.Price
			v.ChangePct = 100 * v.Change / s.first.Price
			v.Arrival = time.UnixMicro(s.arrival)
		}
		v.Rate = s.rate.Rate(now)
		v.Spark = s.spark.AppendTo(v.Spark)
		if s.ticks > 0 {
			v.Spark = append(v.Spark, s.sparkPrice)
		}
		dst = append(dst, v)
	}
	return dst
}

// Prune drops the assets whose last tick arrived before idleSince (Unix µs), except those
// keep says to keep, and returns them: an asset that stopped trading (or a junk name) must
// not hold memory all day.
func (m *Market) Prune(idleSince int64, keep func(asset string) bool) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var dropped []string
	for name, s := range m.series {
		if s.arrival < idleSince && (keep == nil || !keep(name)) {
			delete(m.series, name)
			dropped = append(dropped, name)
		}
	}
	if len(dropped) > 0 {
		m.version++
	}
	sort.Strings(dropped)
	return dropped
}

// Candles appends asset's candles at tf, oldest first, to dst.
func (m *Market) Candles(asset string, tf Timeframe, dst []Candle) []Candle {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.series[asset]
	if s == nil {
		return dst
	}
	for i, t := range Timeframes {
		if t == tf {
			return s.candles[i].Candles(dst)
		}
	}
	return dst
}

// Seed loads candle history of asset at tf under the live candles.
func (m *Market) Seed(asset string, tf Timeframe, history []Candle) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.seriesOf(asset)
	for i, t := range Timeframes {
		if t == tf {
			s.candles[i].Seed(history)
		}
	}
	m.version++
}

// ArrivalsSince appends to dst the event times (Unix µs) of the ticks added after the
// first from ticks, and returns the count to pass next time: each display keeps its own
// cursor, so several can share one market. Beyond the newest MaxArrivals only the newest
// are kept; missed says how many older ones were left out.
func (m *Market) ArrivalsSince(from int64, dst []int64) (out []int64, next, missed int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.arrivalsSinceLocked(from, dst)
}

func (m *Market) arrivalsSinceLocked(from int64, dst []int64) (out []int64, next, missed int64) {
	from = min(max(from, 0), m.total)
	if kept := int64(len(m.arrivals)); m.total-from > kept {
		missed = m.total - from - kept
		from = m.total - kept
	}
	for i := from; i < m.total; i++ {
		dst = append(dst, m.arrivals[i%int64(len(m.arrivals))])
	}
	return dst, m.total, missed
}

// TakeArrivals is ArrivalsSince for a market with a single display, which keeps the
// cursor here.
func (m *Market) TakeArrivals(dst []int64) (out []int64, sampled int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	dst, m.taken, sampled = m.arrivalsSinceLocked(m.taken, dst)
	return dst, sampled
}
