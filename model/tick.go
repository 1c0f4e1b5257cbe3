// Package model holds quflx-tui's pure types and logic: ticks and candles, the decoder of
// the QuFLX wire format, candle building, ring buffers and statistics. Nothing here does
// I/O, so every piece is cheap to test and safe to call from the UI loop.
package model

import "time"

// TickKind says which payload shape a tick came from.
type TickKind uint8

const (
	// KindPlain is a plain price tick.
	KindPlain TickKind = iota
	// KindCandle is a candle-as-tick update of the version-1 streaming server: the
	// price is the candle's close and Open/High/Low carry the rest of the candle.
	KindCandle
)

// Tick is one price observation for one asset.
//
// Time is kept as Unix microseconds: recorded feeds carry milliseconds, but Python
// producers stamp time.time() floats with microseconds, and a fast feed needs them to keep
// distinct ticks distinct. An int64 keeps a Tick small, comparable and cheap to copy.
type Tick struct {
	Asset     string
	Price     float64
	UnixMicro int64
	Kind      TickKind
	// Closed and Timeframe: a QuFLX v2 candle says its period ("timeframe": "1m") and
	// whether it is final ("is_closed"); zero when the payload did not.
	Closed bool
	// Set only for KindCandle.
	Open, High, Low float64
	Volume          float64
	Timeframe       Timeframe
}

// Time returns the tick's timestamp as a time.Time in UTC.
func (t Tick) Time() time.Time { return time.UnixMicro(t.UnixMicro).UTC() }

// Point is a timestamped price, the unit of the recent-price ring buffers.
type Point struct {
	UnixMicro int64
	Price     float64
}
