package model

import (
	"bytes"
	"errors"
	"strconv"
	"time"
)

// ErrNotCandleArray is returned by DecodeCandles for a value that is not a JSON array.
var ErrNotCandleArray = errors.New("candle cache value is not a JSON array")

// DecodeCandles reads a candle-cache value: a JSON array of candles, each an object with
// timestamp (epoch or ISO; "time", "t" or "date" also do), open, high, low, close and an
// optional volume (single-letter keys o, h, l, c, v are accepted too), or an array
// [timestamp, open, high, low, close, volume]. Candles that are unusable (missing fields,
// non-positive or non-finite prices, a range that does not contain open and close) are
// skipped and counted in bad, so one corrupt entry never poisons a chart.
func DecodeCandles(b []byte) (candles []Candle, bad int, err error) {
	s := scanner{b: b}
	s.skipSpace()
	if s.pos >= len(b) || b[s.pos] != '[' {
		return nil, 0, ErrNotCandleArray
	}
	s.pos++
	s.skipSpace()
	if s.pos < len(b) && b[s.pos] == ']' {
		s.pos++
		if !s.atEnd() {
			return nil, 0, ErrNotCandleArray
		}
		return nil, 0, nil
	}
	for {
		s.skipSpace()
		if s.pos >= len(b) {
			return nil, 0, ErrNotCandleArray
		}
		var c Candle
		var ok bool
		switch b[s.pos] {
		case '{':
			c, ok = s.candleObject()
		case '[':
			c, ok = s.candleTuple()
		default:
			_, ok = s.value(1)
			if !ok {
				return nil, 0, ErrNotCandleArray
			}
			ok = false
		}
		if s.pos < 0 { // the element was malformed JSON: give up on the value
			return nil, 0, ErrNotCandleArray
		}
		if ok {
			candles = append(candles, c)
		} else {
			bad++
		}
		s.skipSpace()
		if s.pos >= len(b) {
			return nil, 0, ErrNotCandleArray
		}
		switch b[s.pos] {
		case ',':
			s.pos++
		case ']':
			s.pos++
			if !s.atEnd() {
				return nil, 0, ErrNotCandleArray
			}
			return candles, bad, nil
		default:
			return nil, 0, ErrNotCandleArray
		}
	}
}

// candleObject reads one candle object; on malformed JSON it sets s.pos to -1.
func (s *scanner) candleObject() (Candle, bool) {
	var ts, date, o, h, l, c, v token
	ok := s.object(1, func(key []byte, t token) {
		switch string(key) {
		case "timestamp", "time", "t", "start":
			ts = t
		case "date":
			date = t
		case "open", "o":
			o = t
		case "high", "h":
			h = t
		case "low", "l":
			l = t
		case "close", "c":
			c = t
		case "volume", "v":
			v = t
		}
	})
	if !ok {
		s.pos = -1
		return Candle{}, false
	}
	if ts.kind == tokNone {
		ts = date
	}
	return candleFromTokens(s.b, ts, o, h, l, c, v)
}

// candleTuple reads [timestamp, open, high, low, close, volume?].
func (s *scanner) candleTuple() (Candle, bool) {
	var toks [6]token
	n := 0
	s.pos++ // '['
	for {
		s.skipSpace()
		if s.pos < len(s.b) && s.b[s.pos] == ']' && n == 0 {
			s.pos++
			return Candle{}, false
		}
		t, ok := s.value(2)
		if !ok {
			s.pos = -1
			return Candle{}, false
		}
		if n < len(toks) {
			toks[n] = t
		}
		n++
		s.skipSpace()
		if s.pos >= len(s.b) {
			s.pos = -1
			return Candle{}, false
		}
		switch s.b[s.pos] {
		case ',':
			s.pos++
		case ']':
			s.pos++
			if n < 5 {
				return Candle{}, false
			}
			return candleFromTokens(s.b, toks[0], toks[1], toks[2], toks[3], toks[4], toks[5])
		default:
			s.pos = -1
			return Candle{}, false
		}
	}
}

func candleFromTokens(b []byte, ts, o, h, l, c, v token) (Candle, bool) {
	var out Candle
	var d Decoder
	us, err := d.timestamp(b, ts, 0)
	if err != nil {
		return out, false
	}
	out.Start = floorDiv(us, 1e6)
	prices := [4]*float64{&out.Open, &out.High, &out.Low, &out.Close}
	for i, t := range [4]token{o, h, l, c} {
		p, err := numericValue(b, t)
		if err != nil || checkPrice(p) != nil {
			return out, false
		}
		*prices[i] = p
	}
	tol := out.High * 1e-9
	if out.Low > min(out.Open, out.Close)+tol || out.High < max(out.Open, out.Close)-tol {
		return out, false
	}
	if v.kind != tokNone && v.kind != tokNull {
		vol, err := numericValue(b, v)
		if err != nil || vol < 0 || vol > 1e15 {
			return out, false
		}
		out.Volume = int64(vol)
	}
	return out, true
}

// AppendCandlesJSON appends candles as the JSON array QuFLX keeps in its candle cache:
// objects with timestamp (bucket start, seconds), open, high, low, close, volume and an
// ISO date, oldest first.
func AppendCandlesJSON(dst []byte, candles []Candle) []byte {
	dst = append(dst, '[')
	for i, c := range candles {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"timestamp":`...)
		dst = strconv.AppendInt(dst, c.Start, 10)
		dst = append(dst, `,"open":`...)
		dst = strconv.AppendFloat(dst, c.Open, 'f', -1, 64)
		dst = append(dst, `,"high":`...)
		dst = strconv.AppendFloat(dst, c.High, 'f', -1, 64)
		dst = append(dst, `,"low":`...)
		dst = strconv.AppendFloat(dst, c.Low, 'f', -1, 64)
		dst = append(dst, `,"close":`...)
		dst = strconv.AppendFloat(dst, c.Close, 'f', -1, 64)
		dst = append(dst, `,"volume":`...)
		dst = strconv.AppendInt(dst, c.Volume, 10)
		dst = append(dst, `,"date":"`...)
		dst = time.Unix(c.Start, 0).UTC().AppendFormat(dst, "2006-01-02T15:04:05+00:00")
		dst = append(dst, `"}`...)
	}
	return append(dst, ']')
}

// CountCandles counts the entries of a candle-cache value (a JSON array) without decoding
// them: a monitor wants the count of hundreds of cached arrays a poll, not their candles.
// It does not validate the entries; DecodeCandles does.
func CountCandles(b []byte) (int, error) {
	i := 0
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	if i >= len(b) || b[i] != '[' {
		return 0, ErrNotCandleArray
	}
	depth, count := 0, 0
	inString, expect := false, false // expect: the next token at depth 1 starts an entry
	for ; i < len(b); i++ {
		c := b[i]
		if inString {
			// Jump to the next quote (IndexByte is vectorised), then check its escaping.
			j := bytes.IndexByte(b[i:], '"')
			if j < 0 {
				return 0, ErrNotCandleArray
			}
			i += j
			if escaped(b, i) {
				continue
			}
			inString = false
			continue
		}
		if isSpace(c) {
			continue
		}
		if depth == 1 && expect && c != ']' {
			count++
		}
		expect = false
		switch c {
		case '"':
			inString = true
		case '[', '{':
			depth++
			expect = depth == 1
		case ']', '}':
			depth--
			if depth == 0 {
				return count, nil
			}
		case ',':
			expect = depth == 1
		}
	}
	return 0, ErrNotCandleArray
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }

// escaped reports whether the quote at b[i] is escaped: preceded by an odd number of
// backslashes.
func escaped(b []byte, i int) bool {
	n := 0
	for j := i - 1; j >= 0 && b[j] == '\\'; j-- {
		n++
	}
	return n%2 == 1
}
