package model

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// AverageKind is how a moving average weighs its closes.
type AverageKind uint8

const (
	SMA AverageKind = iota // simple: the mean of the last N closes
	EMA                    // exponential: alpha 2/(N+1), started from the SMA of the first N
)

// MovingAverage is a moving average of candle closes over Period candles.
type MovingAverage struct {
	Kind   AverageKind
	Period int
}

// MaxAverages is how many moving averages a chart draws at once.
const MaxAverages = 2

// MaxAveragePeriod bounds a period: longer than any chart holds is a typo.
const MaxAveragePeriod = 1000

// String is the spelling ParseMovingAverages reads: "sma20", "ema50".
func (m MovingAverage) String() string {
	kind := "sma"
	if m.Kind == EMA {
		kind = "ema"
	}
	return kind + strconv.Itoa(m.Period)
}

// Label is the name shown on screen: "SMA20", "EMA50".
func (m MovingAverage) Label() string { return strings.ToUpper(m.String()) }

// ParseMovingAverages reads a list such as "20,50" (simple), "ema20", or "ema20,sma50":
// at most MaxAverages, each period from 2 to MaxAveragePeriod. "" is none.
func ParseMovingAverages(s string) ([]MovingAverage, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []MovingAverage
	for _, part := range strings.Split(s, ",") {
		p := strings.ToLower(strings.TrimSpace(part))
		m := MovingAverage{Kind: SMA}
		switch {
		case strings.HasPrefix(p, "ema"):
			m.Kind, p = EMA, p[3:]
		case strings.HasPrefix(p, "sma"):
			p = p[3:]
		}
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil, fmt.Errorf("moving average %q: want a period, optionally after sma or ema (20, ema20)", strings.TrimSpace(part))
		}
		if n < 2 || n > MaxAveragePeriod {
			return nil, fmt.Errorf("moving average %q: period %d out of 2..%d", strings.TrimSpace(part), n, MaxAveragePeriod)
		}
		m.Period = n
		out = append(out, m)
	}
	if len(out) > MaxAverages {
		return nil, fmt.Errorf("%d moving averages: at most %d", len(out), MaxAverages)
	}
	return out, nil
}

// Compute returns dst holding the average at every candle (oldest first), NaN where fewer
// than Period closes precede it. dst is reused when it has room.
func (m MovingAverage) Compute(candles []Candle, dst []float64) []float64 {
	if cap(dst) < len(candles) {
		dst = make([]float64, len(candles))
	}
	dst = dst[:len(candles)]
	n := m.Period
	var sum float64
	for i, c := range candles {
		sum += c.Close
		if i >= n {
			sum -= candles[i-n].Close
		}
		switch {
		case i < n-1:
			dst[i] = math.NaN()
		case m.Kind == EMA && i >= n:
			alpha := 2 / float64(n+1)
			dst[i] = alpha*c.Close + (1-alpha)*dst[i-1]
		default: // the SMA, and the EMA's seed
			dst[i] = sum / float64(n)
		}
	}
	return dst
}
