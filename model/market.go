package model

import (
	"bytes"
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
	MaxArrivals  int           // tick timestamps kept between two TakeArrivals (default 8192)
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
	arrivals []int64 // event times of ticks since the last TakeArrivals
	sampled  int64   // arrivals not kept because the buffer was full
	total    int64
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
	if len(m.arrivals) < m.opts.MaxArrivals {
		m.arrivals = append(m.arrivals, t.UnixMicro)
	} else {
		// Keep a spread sample of a burst rather than only its start.
		m.arrivals[m.total%int64(m.opts.MaxArrivals)] = t.UnixMicro
		m.sampled++
	}
	m.total++
	m.version++
}

// decimalsOf counts the decimals of p's shortest representation, up to 8.
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

// TakeArrivals appends the event times (Unix µs) of the ticks added since the last call
// to dst, and forgets them: a display measures publish-to-screen latency with them. A burst
// beyond MaxArrivals is sampled; sampled says how many were left out.
func (m *Market) TakeArrivals(dst []int64) (out []int64, sampled int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	dst = append(dst, m.arrivals...)
	sampled = m.sampled
	m.arrivals, m.sampled = m.arrivals[:0], 0
	return dst, sampled
}
