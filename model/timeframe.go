package model

import (
	"fmt"
	"strings"
	"time"
)

// Timeframe is a candle period, in seconds.
type Timeframe int64

// The timeframes QuFLX caches and charts.
const (
	TF1m  Timeframe = 60
	TF5m  Timeframe = 5 * 60
	TF15m Timeframe = 15 * 60
	TF1h  Timeframe = 60 * 60
	TF4h  Timeframe = 4 * 60 * 60
)

// Timeframes lists every supported timeframe, shortest first.
var Timeframes = []Timeframe{TF1m, TF5m, TF15m, TF1h, TF4h}

// ParseTimeframe reads "1m", "5m", "15m", "1h" or "4h" case-insensitively: QuFLX keys
// use both "1M" and "1m" for one minute (never for a month).
func ParseTimeframe(s string) (Timeframe, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1m":
		return TF1m, nil
	case "5m":
		return TF5m, nil
	case "15m":
		return TF15m, nil
	case "1h":
		return TF1h, nil
	case "4h":
		return TF4h, nil
	}
	return 0, fmt.Errorf("unknown timeframe %q (want 1m, 5m, 15m, 1h or 4h)", s)
}

// String returns the canonical lower-case spelling.
func (tf Timeframe) String() string {
	switch {
	case tf <= 0:
		return fmt.Sprintf("Timeframe(%d)", int64(tf))
	case tf%3600 == 0:
		return fmt.Sprintf("%dh", tf/3600)
	case tf%60 == 0:
		return fmt.Sprintf("%dm", tf/60)
	default:
		return fmt.Sprintf("%ds", int64(tf))
	}
}

// Duration returns the timeframe as a time.Duration.
func (tf Timeframe) Duration() time.Duration { return time.Duration(tf) * time.Second }

// BucketStart returns the start, in Unix seconds, of the candle holding unixMicro.
func (tf Timeframe) BucketStart(unixMicro int64) int64 {
	sec := floorDiv(unixMicro, 1e6)
	return sec - mod(sec, int64(tf))
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}
