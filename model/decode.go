package model

import (
	"errors"
	"fmt"
	"math"
	"time"
	"unsafe"
)

// Sentinel errors of the decoder. A *DecodeError wraps exactly one of them, so callers
// count bad input by kind with errors.Is.
var (
	ErrTooLarge        = errors.New("payload too large")
	ErrNotJSON         = errors.New("not a JSON object")
	ErrNoPrice         = errors.New("no price")
	ErrBadPrice        = errors.New("unusable price")
	ErrNoTimestamp     = errors.New("no timestamp")
	ErrBadTimestamp    = errors.New("unusable timestamp")
	ErrFutureTimestamp = errors.New("timestamp in the future")
	ErrNoAsset         = errors.New("no asset")
	// ErrBadAsset is an asset name no feed would use: control characters (a terminal
	// would act on them), invalid UTF-8, over 64 bytes.
	ErrBadAsset = errors.New("implausible asset name")
)

// DecodeError says why a payload was rejected.
type DecodeError struct {
	Err    error  // one of the Err* sentinels
	Detail string // what exactly was wrong, for the events panel
}

func (e *DecodeError) Error() string {
	if e.Detail == "" {
		return e.Err.Error()
	}
	return e.Err.Error() + ": " + e.Detail
}

func (e *DecodeError) Unwrap() error { return e.Err }

func decodeErr(kind error, format string, args ...any) error {
	return &DecodeError{Err: kind, Detail: fmt.Sprintf(format, args...)}
}

const (
	// DefaultMaxPayload bounds what the decoder reads: a real tick is under 300 bytes.
	DefaultMaxPayload = 64 << 10
	// DefaultMaxFuture is how far ahead of the reader's clock a timestamp may be.
	DefaultMaxFuture = time.Hour
	// MaxPrice rejects absurd prices that would flatten every chart they reach.
	MaxPrice = 1e12

	minUnixMicro  = 946684800_000000 // 2000-01-01: anything earlier is a unit or producer bug
	maxAssetLen   = 64
	maxInternSize = 4096
)

// Decoder turns producer payloads into Ticks. It accepts every shape in the QuFLX wire
// format (plain ticks, candle-as-tick updates; the price under price, close, quote or value;
// timestamps in seconds, float seconds, milliseconds, or ISO-8601 strings) and rejects the
// rest with a *DecodeError. It never panics on any input.
//
// A Decoder interns asset names so that steady-state decoding does not allocate; it is
// therefore not safe for concurrent use: give each goroutine its own.
type Decoder struct {
	MaxPayload int           // 0 means DefaultMaxPayload
	MaxFuture  time.Duration // 0 means DefaultMaxFuture

	interned map[string]string
}

// payloadFields are the located values of the keys the decoder cares about.
type payloadFields struct {
	asset, timestamp           token
	price, close, quote, value token
	open, high, low, volume    token
	timeframe, isClosed        token // QuFLX v2 candles
}

// Decode parses one payload. fallbackAsset names the asset when the payload has none (it
// comes from the key or channel the payload was read from). now is the reader's clock in
// Unix microseconds, used to reject timestamps far in the future; 0 disables that check.
func (d *Decoder) Decode(payload []byte, fallbackAsset string, now int64) (Tick, error) {
	maxLen := d.MaxPayload
	if maxLen <= 0 {
		maxLen = DefaultMaxPayload
	}
	if len(payload) > maxLen {
		return Tick{}, decodeErr(ErrTooLarge, "%d bytes, limit %d", len(payload), maxLen)
	}
	var f payloadFields
	s := scanner{b: payload}
	ok := s.objectFields(func(key []byte, v token) {
		switch string(key) {
		case "asset":
			f.asset = v
		case "timestamp":
			f.timestamp = v
		case "price":
			f.price = v
		case "close":
			f.close = v
		case "quote":
			f.quote = v
		case "value":
			f.value = v
		case "open":
			f.open = v
		case "high":
			f.high = v
		case "low":
			f.low = v
		case "volume":
			f.volume = v
		case "timeframe":
			f.timeframe = v
		case "is_closed":
			f.isClosed = v
		}
	})
	if !ok {
		return Tick{}, decodeErr(ErrNotJSON, "malformed near byte %d", min(s.pos, len(payload)))
	}

	var t Tick
	var err error
	if t.Price, err = d.price(payload, &f); err != nil {
		return Tick{}, err
	}
	if t.UnixMicro, err = d.timestamp(payload, f.timestamp, now); err != nil {
		return Tick{}, err
	}
	if t.Asset, err = d.asset(payload, f.asset, fallbackAsset); err != nil {
		return Tick{}, err
	}
	if f.open.kind != tokNone && f.high.kind != tokNone && f.low.kind != tokNone {
		if err := d.candleFields(payload, &f, &t); err != nil {
			return Tick{}, err
		}
	}
	return t, nil
}

// DecodeString is Decode for a payload held in a string (as go-redis delivers them),
// without copying it.
func (d *Decoder) DecodeString(payload, fallbackAsset string, now int64) (Tick, error) {
	// The decoder never writes to or keeps the bytes, so viewing the string is safe.
	return d.Decode(unsafe.Slice(unsafe.StringData(payload), len(payload)), fallbackAsset, now)
}

// price returns the first present, non-null value of price, close, quote and value.
func (d *Decoder) price(b []byte, f *payloadFields) (float64, error) {
	for _, c := range [...]struct {
		name string
		tok  token
	}{{"price", f.price}, {"close", f.close}, {"quote", f.quote}, {"value", f.value}} {
		if c.tok.kind == tokNone || c.tok.kind == tokNull {
			continue
		}
		p, err := numericValue(b, c.tok)
		if err != nil {
			return 0, decodeErr(ErrBadPrice, "%s: %v", c.name, err)
		}
		if err := checkPrice(p); err != nil {
			return 0, decodeErr(ErrBadPrice, "%s: %v", c.name, err)
		}
		return p, nil
	}
	return 0, decodeErr(ErrNoPrice, "none of price, close, quote, value")
}

func checkPrice(p float64) error {
	switch {
	case math.IsNaN(p) || math.IsInf(p, 0):
		return errors.New("not finite")
	case p <= 0:
		return fmt.Errorf("%g is not positive", p)
	case p > MaxPrice:
		return fmt.Errorf("%g is implausibly large", p)
	}
	return nil
}

var (
	errNotFinite = errors.New("not finite")
	errNotNumber = errors.New("not a number")
)

// numericValue reads a number, or a string holding a number, as a float64.
func numericValue(b []byte, t token) (float64, error) {
	switch t.kind {
	case tokNumber:
		n, _, _ := scanNumber(b, t.start)
		return n.float(), nil
	case tokString:
		if n, ok := parseNumberString(b[t.start:t.end]); ok && !t.escaped {
			return n.float(), nil
		}
		return 0, errNotNumber
	case tokNaN, tokInf:
		return 0, errNotFinite
	default:
		return 0, errNotNumber
	}
}

func (d *Decoder) timestamp(b []byte, t token, now int64) (int64, error) {
	var us int64
	switch t.kind {
	case tokNone, tokNull:
		return 0, decodeErr(ErrNoTimestamp, "missing timestamp")
	case tokNumber:
		n, _, _ := scanNumber(b, t.start)
		us = epochToMicros(n.float())
	case tokString:
		text := b[t.start:t.end]
		if n, ok := parseNumberString(text); ok {
			us = epochToMicros(n.float())
		} else if tm, ok := parseISOTime(text); ok {
			us = tm.UnixMicro()
		} else {
			return 0, decodeErr(ErrBadTimestamp, "%q is neither epoch nor ISO-8601", truncate(text, 40))
		}
	default:
		return 0, decodeErr(ErrBadTimestamp, "not a number or string")
	}
	if us < minUnixMicro {
		return 0, decodeErr(ErrBadTimestamp, "%d µs is before 2000", us)
	}
	maxFuture := d.MaxFuture
	if maxFuture <= 0 {
		maxFuture = DefaultMaxFuture
	}
	if now > 0 && us > now+maxFuture.Microseconds() {
		return 0, decodeErr(ErrFutureTimestamp, "%s is more than %s ahead",
			time.UnixMicro(us).UTC().Format(time.RFC3339), maxFuture)
	}
	return us, nil
}

// epochToMicros reads an epoch number in whatever unit it most plausibly has: producers
// send seconds, float seconds (with milli- or microseconds), and milliseconds; micro- and
// nanoseconds cost nothing to accept. NaN, infinities and negatives come out as -1 and
// are rejected by the caller.
func epochToMicros(v float64) int64 {
	switch {
	case !(v > 0) || math.IsInf(v, 0) || v >= 9.2e18:
		return -1
	case v < 1e11: // seconds (until the year 5138)
		return int64(math.Round(v * 1e6))
	case v < 1e14: // milliseconds
		return int64(math.Round(v * 1e3))
	case v < 1e17: // microseconds
		return int64(math.Round(v))
	default: // nanoseconds
		return int64(math.Round(v / 1e3))
	}
}

var isoLayouts = [...]string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05",
	"2006-01-02T15:04:05Z0700",
	"2006-01-02 15:04:05Z0700",
}

// parseISOTime reads ISO-8601 / RFC 3339 date-times, with a T or a space, with or without
// a zone (no zone means UTC) and with optional fractional seconds.
func parseISOTime(b []byte) (time.Time, bool) {
	if len(b) < 19 || len(b) > 40 {
		return time.Time{}, false
	}
	s := string(b)
	for _, layout := range isoLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func (d *Decoder) asset(b []byte, t token, fallback string) (string, error) {
	switch t.kind {
	case tokNone, tokNull:
	case tokString:
		raw := b[t.start:t.end]
		var buf [maxAssetLen]byte
		if t.escaped {
			raw = unescape(buf[:0], raw)
		}
		if len(raw) > 0 {
			if why := PlausibleAsset(unsafeString(raw)); why != "" {
				return "", decodeErr(ErrBadAsset, "asset %q %s", truncate(raw, 40), why)
			}
			return d.intern(raw), nil
		}
	default:
		return "", decodeErr(ErrNoAsset, "asset is not a string")
	}
	if fallback == "" {
		return "", decodeErr(ErrNoAsset, "no asset in payload, key or channel")
	}
	// The key or channel name is anyone's choice too.
	if why := PlausibleAsset(fallback); why != "" {
		return "", decodeErr(ErrBadAsset, "asset %q (from the key or channel) %s", truncate([]byte(fallback), 40), why)
	}
	return fallback, nil
}

// intern returns a string equal to b, shared between calls, so that decoding a stream of
// a few assets allocates nothing. Its size is bounded against hostile input.
func (d *Decoder) intern(b []byte) string {
	if s, ok := d.interned[string(b)]; ok {
		return s
	}
	s := string(b)
	if d.interned == nil {
		d.interned = make(map[string]string)
	}
	if len(d.interned) < maxInternSize {
		d.interned[s] = s
	}
	return s
}

func (d *Decoder) candleFields(b []byte, f *payloadFields, t *Tick) error {
	var vals [3]float64
	for i, tok := range [...]token{f.open, f.high, f.low} {
		v, err := numericValue(b, tok)
		if err == nil {
			err = checkPrice(v)
		}
		if err != nil {
			return decodeErr(ErrBadPrice, "%s: %v", [...]string{"open", "high", "low"}[i], err)
		}
		vals[i] = v
	}
	t.Open, t.High, t.Low = vals[0], vals[1], vals[2]
	// A candle whose close or open lies outside its own range is corrupt; a relative
	// tolerance absorbs float noise from the producer's arithmetic.
	tol := t.High * 1e-9
	if t.Low > t.High+tol || t.Price > t.High+tol || t.Price < t.Low-tol ||
		t.Open > t.High+tol || t.Open < t.Low-tol {
		return decodeErr(ErrBadPrice, "candle o=%g h=%g l=%g c=%g is inconsistent", t.Open, t.High, t.Low, t.Price)
	}
	if f.volume.kind != tokNone && f.volume.kind != tokNull {
		v, err := numericValue(b, f.volume)
		if err != nil || v < 0 {
			return decodeErr(ErrBadPrice, "volume is not a non-negative number")
		}
		t.Volume = v
	}
	t.Kind = KindCandle
	// v2's period and finality are informative: a wrong one is ignored, not fatal.
	if f.timeframe.kind == tokString && !f.timeframe.escaped {
		if tf, err := ParseTimeframe(unsafeString(b[f.timeframe.start:f.timeframe.end])); err == nil {
			t.Timeframe = tf
		}
	}
	t.Closed = f.isClosed.kind == tokTrue
	return nil
}

// unsafeString views b as a string without copying, for a check that does not keep it.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "…"
}
