package model

import (
	"math"
	"math/bits"
	"time"
)

// RateMeter counts events in a sliding window of time buckets and reports events per
// second. Time is passed in (Unix nanoseconds) so the meter is pure and testable.
type RateMeter struct {
	res     int64   // bucket width, ns
	counts  []int64 // ring of buckets; bucket k lives at k % len(counts)
	newest  int64   // absolute index of the newest bucket written
	first   int64   // time of the first event, ns
	total   int64
	started bool // a bucket has been positioned
	any     bool // an event has been added
}

// NewRateMeter returns a meter over window, resolved into buckets of resolution.
func NewRateMeter(window, resolution time.Duration) *RateMeter {
	if resolution <= 0 {
		resolution = 250 * time.Millisecond
	}
	n := max(int(window/resolution), 1)
	return &RateMeter{res: int64(resolution), counts: make([]int64, n)}
}

// advance moves the window so that its newest bucket is the one holding now.
func (m *RateMeter) advance(now int64) int64 {
	k := now / m.res
	if !m.started {
		m.newest, m.started = k, true
		return k
	}
	if k <= m.newest {
		return m.newest // a clock step backwards counts in the newest bucket
	}
	steps := min(k-m.newest, int64(len(m.counts)))
	for i := int64(1); i <= steps; i++ {
		m.counts[(m.newest+i)%int64(len(m.counts))] = 0
	}
	m.newest = k
	return k
}

// Add records n events at time now.
func (m *RateMeter) Add(now int64, n int64) {
	k := m.advance(now)
	m.counts[k%int64(len(m.counts))] += n
	m.total += n
	if !m.any {
		m.first, m.any = now, true
	}
}

// Rate returns events per second over the window ending at now. Before a whole window
// has passed since the first event it divides by the time actually covered, so a new
// stream does not read low.
func (m *RateMeter) Rate(now int64) float64 {
	if !m.any {
		return 0
	}
	m.advance(now)
	var sum int64
	for _, c := range m.counts {
		sum += c
	}
	window := int64(len(m.counts)-1)*m.res + (now%m.res + 1)
	if covered := now - m.first + 1; covered < window {
		window = max(covered, m.res)
	}
	return float64(sum) / (float64(window) / 1e9)
}

// Total returns every event ever added.
func (m *RateMeter) Total() int64 { return m.total }

// LatencyHistogram records durations in bounded memory and answers quantiles within about
// 1.6% (log-linear buckets: 32 per power of two, as in HdrHistogram). Values from 0 to
// about 18 minutes are resolved; longer ones land in the top bucket but Max stays exact.
type LatencyHistogram struct {
	counts   [histBuckets]uint64
	count    uint64
	sum      float64
	min, max int64
}

const (
	histSubBits  = 5
	histSub      = 1 << histSubBits // sub-buckets per power of two
	histMaxExp   = 40               // 2^40 ns ≈ 18 min
	histBuckets  = 2*histSub + (histMaxExp-histSubBits-1)*histSub
	histLinearTo = 2 * histSub // values below this are exact
)

func histIndex(v int64) int {
	if v < histLinearTo {
		return int(max(v, 0))
	}
	e := bits.Len64(uint64(v)) - histSubBits - 1 // >= 1
	top := int(v >> e)                           // in [histSub, 2*histSub)
	idx := histLinearTo + (e-1)*histSub + (top - histSub)
	return min(idx, histBuckets-1)
}

// histBounds returns the smallest and largest value of bucket idx.
func histBounds(idx int) (lo, hi int64) {
	if idx < histLinearTo {
		return int64(idx), int64(idx)
	}
	e := (idx-histLinearTo)/histSub + 1
	top := int64((idx-histLinearTo)%histSub + histSub)
	return top << e, (top+1)<<e - 1
}

// Record adds one duration (negative ones count as zero).
func (h *LatencyHistogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	h.counts[histIndex(v)]++
	if h.count == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.count++
	h.sum += float64(v)
}

// Count returns the number of recorded values.
func (h *LatencyHistogram) Count() uint64 { return h.count }

// Max returns the largest recorded value, exactly.
func (h *LatencyHistogram) Max() time.Duration { return time.Duration(h.max) }

// Min returns the smallest recorded value, exactly.
func (h *LatencyHistogram) Min() time.Duration { return time.Duration(h.min) }

// Mean returns the arithmetic mean.
func (h *LatencyHistogram) Mean() time.Duration {
	if h.count == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.count))
}

// Quantile returns the value at quantile q in [0, 1]: the midpoint of the bucket holding
// the q-th ranked value, clamped to the exact min and max.
func (h *LatencyHistogram) Quantile(q float64) time.Duration {
	if h.count == 0 {
		return 0
	}
	if q >= 1 {
		return time.Duration(h.max)
	}
	rank := uint64(math.Ceil(max(q, 0) * float64(h.count)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := histBounds(i)
			mid := lo + (hi-lo)/2
			return time.Duration(min(max(mid, h.min), h.max))
		}
	}
	return time.Duration(h.max)
}

// Merge adds every value recorded in o.
func (h *LatencyHistogram) Merge(o *LatencyHistogram) {
	if o.count == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.count == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.count += o.count
	h.sum += o.sum
}

// Reset forgets every value.
func (h *LatencyHistogram) Reset() { *h = LatencyHistogram{} }

// LatencySummary is the handful of figures a panel shows.
type LatencySummary struct {
	Count              uint64
	P50, P90, P99, Max time.Duration
}

// Summary returns count, p50, p90, p99 and max.
func (h *LatencyHistogram) Summary() LatencySummary {
	return LatencySummary{
		Count: h.count,
		P50:   h.Quantile(0.50),
		P90:   h.Quantile(0.90),
		P99:   h.Quantile(0.99),
		Max:   h.Max(),
	}
}

// LatencyWindow describes latency now: the values of the last 10 to 20 seconds, kept as
// two halves of which the older is dropped as a new one starts.
type LatencyWindow struct {
	cur, prev LatencyHistogram
	start     time.Time // of cur
}

// latencyHalf is the length of each half of a LatencyWindow.
const latencyHalf = 10 * time.Second

// Record notes a latency seen at now.
func (w *LatencyWindow) Record(now time.Time, d time.Duration) {
	if now.Sub(w.start) > latencyHalf {
		w.prev, w.start = w.cur, now
		w.cur.Reset()
	}
	w.cur.Record(d)
}

// RecordPublished notes the latency at now of ticks published at the given times (Unix
// µs), in the window and, when set, in all. A latency below zero or over a minute is a
// clock problem (the producer's and ours disagree), not a sample.
func (w *LatencyWindow) RecordPublished(now time.Time, published []int64, all *LatencyHistogram) {
	nowUs := now.UnixMicro()
	for _, ts := range published {
		if d := nowUs - ts; d >= 0 && d < 60e6 {
			lat := time.Duration(d) * time.Microsecond
			w.Record(now, lat)
			if all != nil {
				all.Record(lat)
			}
		}
	}
}

// Summary describes the window.
func (w *LatencyWindow) Summary() LatencySummary {
	var h LatencyHistogram
	h.Merge(&w.prev)
	h.Merge(&w.cur)
	return h.Summary()
}
