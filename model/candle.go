package model

import (
	"cmp"
	"math"
	"slices"
)

// Candle is one OHLC bar. Its fields follow QuFLX's candles table: Start is the bucket start
// in Unix seconds and Volume is the number of ticks in the bucket.
type Candle struct {
	Start  int64
	Open   float64
	High   float64
	Low    float64
	Close  float64
	Volume int64
}

// AddResult says what a CandleBuilder did with a tick.
type AddResult uint8

const (
	// Added: the tick was the newest so far and went into the newest candle (or opened one).
	Added AddResult = iota
	// Amended: the tick arrived out of order and corrected the candle of its own time.
	Amended
	// Duplicate: an exact repeat of a recent tick; dropped.
	Duplicate
	// TooLate: older than every retained candle; dropped.
	TooLate
)

// BuildStats counts what a CandleBuilder has seen.
type BuildStats struct {
	Accepted   int64 // Added + Amended
	OutOfOrder int64 // Amended
	Duplicates int64
	TooLate    int64
}

// DefaultKeepCandles is how many candles a builder retains per timeframe: enough to fill a
// wide chart and the 200-candle cache.
const DefaultKeepCandles = 500

// dedupSize covers the real feed's resends: in the recorded EURUSD file a tick repeats up to
// four times, at most 12 rows (1.8 s) after its first appearance.
const dedupSize = 32

// CandleBuilder aggregates one asset's ticks into candles of one timeframe.
//
// Policy, chosen for feeds like the recorded EURUSD one (a third of its rows are exact
// resends, and every backwards timestamp in it is such a resend):
//   - Event time decides the bucket, never arrival time.
//   - A tick with the same timestamp and the same price as one of the last 32 accepted
//     ticks is a duplicate: dropped and counted, so resends never inflate volume. (Two
//     ticks in the same second with different prices or timestamps are both kept.)
//   - An out-of-order tick amends its own candle: it widens high and low and counts in the
//     volume; it becomes the open only if earlier than the candle's opening tick, and the
//     close only if not earlier than the candle's closing tick. So a candle's open and close
//     are those of its earliest and latest ticks, whatever order they arrived in.
//   - A late tick for a missing bucket between retained candles creates that candle; a tick
//     older than every retained candle (once the window is full) is dropped as too late.
//   - Candle-as-tick updates contribute their open, high, low and close (price).
//   - Empty buckets stay empty: no candle is invented for a minute without ticks.
type CandleBuilder struct {
	tf    Timeframe
	keep  int
	slots []slot // sorted by Start; slots[head:] are live
	head  int
	maxUs int64
	dedup dedupWindow
	stats BuildStats
}

// slot is a candle plus the event times of the ticks that set its open and close.
type slot struct {
	c               Candle
	openUs, closeUs int64
}

type dedupWindow struct {
	us    [dedupSize]int64
	price [dedupSize]uint64
	n     int
	next  int
}

func (w *dedupWindow) contains(us int64, price uint64) bool {
	for i := 0; i < w.n; i++ {
		if w.us[i] == us && w.price[i] == price {
			return true
		}
	}
	return false
}

func (w *dedupWindow) add(us int64, price uint64) {
	w.us[w.next], w.price[w.next] = us, price
	w.next = (w.next + 1) % dedupSize
	if w.n < dedupSize {
		w.n++
	}
}

// NewCandleBuilder returns a builder for tf that retains the newest keep candles
// (DefaultKeepCandles when keep <= 0).
func NewCandleBuilder(tf Timeframe, keep int) *CandleBuilder {
	if keep <= 0 {
		keep = DefaultKeepCandles
	}
	// Room grows with use: an asset that sends three ticks (or a junk name that got in)
	// must not cost a thousand slots per timeframe up front.
	return &CandleBuilder{tf: tf, keep: keep, slots: make([]slot, 0, min(2*keep, 8))}
}

// Timeframe returns the builder's timeframe.
func (b *CandleBuilder) Timeframe() Timeframe { return b.tf }

// Add folds one tick into the candles.
func (b *CandleBuilder) Add(t Tick) AddResult {
	priceBits := math.Float64bits(t.Price)
	if b.dedup.contains(t.UnixMicro, priceBits) {
		b.stats.Duplicates++
		return Duplicate
	}
	bucket := b.tf.BucketStart(t.UnixMicro)
	live := b.slots[b.head:]
	n := len(live)

	result := Added
	switch {
	case n == 0 || bucket > live[n-1].c.Start:
		b.appendSlot(newSlot(bucket, t))
	default:
		i := n - 1
		for i >= 0 && live[i].c.Start > bucket {
			i--
		}
		switch {
		case i >= 0 && live[i].c.Start == bucket:
			live[i].apply(t)
		case i < 0 && n >= b.keep:
			b.stats.TooLate++
			return TooLate
		default:
			b.slots = slices.Insert(b.slots, b.head+i+1, newSlot(bucket, t))
			b.trim()
		}
	}
	if t.UnixMicro < b.maxUs {
		result = Amended
		b.stats.OutOfOrder++
	} else {
		b.maxUs = t.UnixMicro
	}
	b.dedup.add(t.UnixMicro, priceBits)
	b.stats.Accepted++
	return result
}

func newSlot(bucket int64, t Tick) slot {
	s := slot{
		c:      Candle{Start: bucket, Open: t.Price, High: t.Price, Low: t.Price, Close: t.Price, Volume: 1},
		openUs: t.UnixMicro, closeUs: t.UnixMicro,
	}
	if t.Kind == KindCandle {
		s.c.Open, s.c.High, s.c.Low = t.Open, max(t.High, t.Price), min(t.Low, t.Price)
	}
	return s
}

func (s *slot) apply(t Tick) {
	c := &s.c
	c.High = max(c.High, t.Price)
	c.Low = min(c.Low, t.Price)
	open := t.Price
	if t.Kind == KindCandle {
		c.High = max(c.High, t.High)
		c.Low = min(c.Low, t.Low)
		open = t.Open
	}
	if t.UnixMicro < s.openUs {
		c.Open, s.openUs = open, t.UnixMicro
	}
	if t.UnixMicro >= s.closeUs {
		c.Close, s.closeUs = t.Price, t.UnixMicro
	}
	c.Volume++
}

func (b *CandleBuilder) appendSlot(s slot) {
	if len(b.slots) == cap(b.slots) && cap(b.slots) < 2*b.keep {
		// Grow by doubling, but never past the 2 x keep that trim works within.
		grown := make([]slot, len(b.slots), min(2*cap(b.slots), 2*b.keep))
		copy(grown, b.slots)
		b.slots = grown
	}
	b.slots = append(b.slots, s)
	b.trim()
}

// trim drops candles beyond keep, compacting the backing array only once half of it is
// dead so that appends stay amortised O(1).
func (b *CandleBuilder) trim() {
	if len(b.slots)-b.head > b.keep {
		b.head = len(b.slots) - b.keep
	}
	if b.head >= b.keep {
		n := copy(b.slots, b.slots[b.head:])
		b.slots = b.slots[:n]
		b.head = 0
	}
}

// Seed loads history (from the cache or the store) under the live candles. Candles older
// than the oldest live one are taken as they are; a candle for the same bucket as a live one
// is merged (history's open, the wider range, the live close, the larger volume), because
// the history may or may not already include the ticks seen live.
func (b *CandleBuilder) Seed(history []Candle) {
	if len(history) == 0 {
		return
	}
	hist := slices.Clone(history)
	slices.SortFunc(hist, func(x, y Candle) int { return cmp.Compare(x.Start, y.Start) })
	live := b.slots[b.head:]
	merged := make([]slot, 0, max(2*b.keep, len(hist)+len(live)))
	j := 0
	for _, h := range hist {
		if h.Start%int64(b.tf) != 0 {
			continue // not a candle of this timeframe
		}
		for j < len(live) && live[j].c.Start < h.Start {
			merged = append(merged, live[j])
			j++
		}
		if j < len(live) && live[j].c.Start == h.Start {
			s := live[j]
			s.c.Open = h.Open
			s.c.High = max(s.c.High, h.High)
			s.c.Low = min(s.c.Low, h.Low)
			s.c.Volume = max(s.c.Volume, h.Volume)
			s.openUs = h.Start * 1e6
			merged = append(merged, s)
			j++
			continue
		}
		if n := len(merged); n > 0 && merged[n-1].c.Start == h.Start {
			continue // duplicate history row
		}
		// A seeded candle keeps its open; any later tick may still move its close.
		merged = append(merged, slot{c: h, openUs: h.Start * 1e6, closeUs: h.Start * 1e6})
	}
	merged = append(merged, live[j:]...)
	b.slots, b.head = merged, 0
	if len(b.slots) > b.keep {
		b.head = len(b.slots) - b.keep
	}
	b.trim()
}

// Len returns the number of retained candles.
func (b *CandleBuilder) Len() int { return len(b.slots) - b.head }

// Candles appends the retained candles, oldest first, to dst.
func (b *CandleBuilder) Candles(dst []Candle) []Candle {
	for _, s := range b.slots[b.head:] {
		dst = append(dst, s.c)
	}
	return dst
}

// Last returns the newest candle.
func (b *CandleBuilder) Last() (Candle, bool) {
	if b.Len() == 0 {
		return Candle{}, false
	}
	return b.slots[len(b.slots)-1].c, true
}

// Stats returns the builder's counters.
func (b *CandleBuilder) Stats() BuildStats { return b.stats }

// Aggregate rolls candles of a shorter timeframe (oldest first) up into tf candles.
func Aggregate(oneMinute []Candle, tf Timeframe) []Candle {
	var out []Candle
	for _, c := range oneMinute {
		start := c.Start - c.Start%int64(tf)
		if n := len(out); n > 0 && out[n-1].Start == start {
			o := &out[n-1]
			o.High, o.Low, o.Close = max(o.High, c.High), min(o.Low, c.Low), c.Close
			o.Volume += c.Volume
			continue
		}
		c.Start = start
		out = append(out, c)
	}
	return out
}
