package model

import (
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// A small JSON scanner for flat producer payloads. encoding/json costs about a microsecond
// and several allocations per tick; this one reads a payload in place, remembers where the
// interesting values are, and converts only those, without allocating.

type tokenKind uint8

const (
	tokNone tokenKind = iota
	tokString
	tokNumber
	tokTrue
	tokFalse
	tokNull
	tokNaN // Python's json.dumps writes NaN, Infinity and -Infinity, which are bad prices, not bad JSON
	tokInf
	tokObject
	tokArray
)

// token is a located JSON value: b[start:end] is its raw text (for a string, the text
// between the quotes).
type token struct {
	kind       tokenKind
	start, end int
	escaped    bool // a string containing backslash escapes
}

const maxNesting = 64

type scanner struct {
	b   []byte
	pos int
}

func (s *scanner) skipSpace() {
	for s.pos < len(s.b) {
		switch s.b[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// value reads one JSON value at s.pos. Objects and arrays are validated and skipped.
func (s *scanner) value(depth int) (token, bool) {
	s.skipSpace()
	if s.pos >= len(s.b) {
		return token{}, false
	}
	switch c := s.b[s.pos]; {
	case c == '"':
		return s.str()
	case c == '-' || (c >= '0' && c <= '9'):
		if c == '-' && hasPrefixAt(s.b, s.pos, "-Infinity") {
			t := token{kind: tokInf, start: s.pos, end: s.pos + 9}
			s.pos += 9
			return t, true
		}
		start := s.pos
		_, end, ok := scanNumber(s.b, s.pos)
		if !ok {
			return token{}, false
		}
		s.pos = end
		return token{kind: tokNumber, start: start, end: end}, true
	case c == '{':
		return s.skipComposite(depth, '{', '}', tokObject)
	case c == '[':
		return s.skipComposite(depth, '[', ']', tokArray)
	default:
		for _, lit := range literals {
			if hasPrefixAt(s.b, s.pos, lit.text) {
				t := token{kind: lit.kind, start: s.pos, end: s.pos + len(lit.text)}
				s.pos += len(lit.text)
				return t, true
			}
		}
		return token{}, false
	}
}

var literals = [...]struct {
	text string
	kind tokenKind
}{{"true", tokTrue}, {"false", tokFalse}, {"null", tokNull}, {"NaN", tokNaN}, {"Infinity", tokInf}}

func hasPrefixAt(b []byte, i int, p string) bool {
	return len(b)-i >= len(p) && string(b[i:i+len(p)]) == p
}

// str reads a string at s.pos (on the opening quote).
func (s *scanner) str() (token, bool) {
	s.pos++ // opening quote
	t := token{kind: tokString, start: s.pos}
	for s.pos < len(s.b) {
		c := s.b[s.pos]
		switch {
		case c == '"':
			t.end = s.pos
			s.pos++
			return t, true
		case c == '\\':
			t.escaped = true
			if s.pos+1 >= len(s.b) {
				return token{}, false
			}
			switch s.b[s.pos+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.pos += 2
			case 'u':
				if s.pos+6 > len(s.b) || !isHex4(s.b[s.pos+2:s.pos+6]) {
					return token{}, false
				}
				s.pos += 6
			default:
				return token{}, false
			}
		case c < 0x20:
			return token{}, false
		default:
			s.pos++
		}
	}
	return token{}, false
}

func isHex4(b []byte) bool {
	for _, c := range b[:4] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func (s *scanner) skipComposite(depth int, open, closing byte, kind tokenKind) (token, bool) {
	if depth >= maxNesting {
		return token{}, false
	}
	start := s.pos
	s.pos++ // open
	s.skipSpace()
	if s.pos < len(s.b) && s.b[s.pos] == closing {
		s.pos++
		return token{kind: kind, start: start, end: s.pos}, true
	}
	for {
		if open == '{' {
			s.skipSpace()
			if s.pos >= len(s.b) || s.b[s.pos] != '"' {
				return token{}, false
			}
			if _, ok := s.str(); !ok {
				return token{}, false
			}
			s.skipSpace()
			if s.pos >= len(s.b) || s.b[s.pos] != ':' {
				return token{}, false
			}
			s.pos++
		}
		if _, ok := s.value(depth + 1); !ok {
			return token{}, false
		}
		s.skipSpace()
		if s.pos >= len(s.b) {
			return token{}, false
		}
		switch s.b[s.pos] {
		case ',':
			s.pos++
		case closing:
			s.pos++
			return token{kind: kind, start: start, end: s.pos}, true
		default:
			return token{}, false
		}
	}
}

// objectFields walks the members of the object at s.pos and calls field for each with the
// key's raw bytes (unescaped if it had escapes) and the value token. It reports whether
// the whole input was exactly one well-formed object.
func (s *scanner) objectFields(field func(key []byte, v token)) bool {
	return s.object(0, field) && s.atEnd()
}

// object walks one object at s.pos, leaving s.pos after its closing brace.
func (s *scanner) object(depth int, field func(key []byte, v token)) bool {
	s.skipSpace()
	if s.pos >= len(s.b) || s.b[s.pos] != '{' || depth >= maxNesting {
		return false
	}
	s.pos++
	s.skipSpace()
	if s.pos < len(s.b) && s.b[s.pos] == '}' {
		s.pos++
		return true
	}
	for {
		s.skipSpace()
		if s.pos >= len(s.b) || s.b[s.pos] != '"' {
			return false
		}
		kt, ok := s.str()
		if !ok {
			return false
		}
		key := s.b[kt.start:kt.end]
		if kt.escaped {
			key = unescape(nil, key) // rare; a stack buffer here would escape anyway
		}
		s.skipSpace()
		if s.pos >= len(s.b) || s.b[s.pos] != ':' {
			return false
		}
		s.pos++
		v, ok := s.value(depth + 1)
		if !ok {
			return false
		}
		field(key, v)
		s.skipSpace()
		if s.pos >= len(s.b) {
			return false
		}
		switch s.b[s.pos] {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return true
		default:
			return false
		}
	}
}

func (s *scanner) atEnd() bool {
	s.skipSpace()
	return s.pos == len(s.b)
}

// unescape appends the decoded form of a validated JSON string body to dst.
func unescape(dst, b []byte) []byte {
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		switch b[i] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := rune(hex4(b[i+1 : i+5]))
			i += 4
			if utf16.IsSurrogate(r) && i+6 < len(b) && b[i+1] == '\\' && b[i+2] == 'u' {
				if r2 := utf16.DecodeRune(r, rune(hex4(b[i+3:i+7]))); r2 != utf8.RuneError {
					r = r2
					i += 6
				}
			}
			dst = utf8.AppendRune(dst, r)
		default: // '"', '\\', '/'
			dst = append(dst, b[i])
		}
	}
	return dst
}

func hex4(b []byte) int {
	n := 0
	for _, c := range b[:4] {
		n <<= 4
		switch {
		case c >= '0' && c <= '9':
			n |= int(c - '0')
		case c >= 'a' && c <= 'f':
			n |= int(c-'a') + 10
		default:
			n |= int(c-'A') + 10
		}
	}
	return n
}

// number is a JSON number split into a decimal mantissa and exponent, so the common cases
// (prices with a few decimals, epoch seconds with milliseconds) convert exactly without
// strconv.
type number struct {
	mant  uint64
	exp   int // value = ±mant × 10^exp
	neg   bool
	exact bool // mant holds every significant digit
	raw   []byte
}

// scanNumber reads a JSON number starting at b[i].
func scanNumber(b []byte, i int) (number, int, bool) {
	n := number{exact: true}
	start := i
	if i < len(b) && b[i] == '-' {
		n.neg = true
		i++
	}
	if i >= len(b) {
		return n, i, false
	}
	const cutoff = (math.MaxUint64 - 9) / 10
	addDigit := func(d byte, fraction bool) {
		switch {
		case n.mant <= cutoff:
			n.mant = n.mant*10 + uint64(d-'0')
			if fraction {
				n.exp--
			}
		case !fraction:
			n.exp++ // an integer digit we cannot hold still scales the value
			n.exact = false
		default:
			n.exact = false
		}
	}
	switch c := b[i]; {
	case c == '0':
		i++
	case c >= '1' && c <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			addDigit(b[i], false)
			i++
		}
	default:
		return n, i, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return n, i, false
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			addDigit(b[i], true)
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		eneg := false
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			eneg = b[i] == '-'
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return n, i, false
		}
		e := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			if e < 100000 {
				e = e*10 + int(b[i]-'0')
			}
			i++
		}
		if eneg {
			e = -e
		}
		n.exp += e
	}
	n.raw = b[start:i]
	return n, i, true
}

var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// float converts the number to the nearest float64. Clinger's fast path: when the mantissa
// and the power of ten are both exact doubles, one multiplication or division rounds
// correctly; everything else goes to strconv.
func (n number) float() float64 {
	if n.exact && n.mant < 1<<53 && n.exp >= -22 && n.exp <= 22 {
		f := float64(n.mant)
		if n.exp >= 0 {
			f *= pow10[n.exp]
		} else {
			f /= pow10[-n.exp]
		}
		if n.neg {
			f = -f
		}
		return f
	}
	// ParseFloat does not keep its argument (its errors copy it), so the view is safe.
	f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(n.raw), len(n.raw)), 64)
	if err != nil { // only a range error is possible here: ±Inf or 0, which callers reject
		return f
	}
	return f
}

// parseNumberString parses a JSON-number-shaped string value (producers sometimes send
// "1.0824" instead of 1.0824).
func parseNumberString(b []byte) (number, bool) {
	n, end, ok := scanNumber(b, 0)
	return n, ok && end == len(b)
}
