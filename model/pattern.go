package model

import (
	"fmt"
	"strings"
)

// KeyPattern is a Redis key or channel name with placeholders, such as "ticks:{asset}" or
// "historical:{asset}:{timeframe}". Braces other than the two placeholders are literal, so
// cluster hash tags work: "ticks:{{asset}}" names "ticks:{EURUSD_otc}".
type KeyPattern struct {
	raw   string
	parts []patternPart
}

type patternPart struct {
	literal string
	isVar   bool
	name    string // "asset" or "timeframe"
}

// Placeholders a pattern may hold.
const (
	VarAsset     = "asset"
	VarTimeframe = "timeframe"
)

// ParseKeyPattern parses a pattern. It must contain {asset} exactly once; {timeframe} at
// most once (required is checked by the caller that needs it), and two placeholders may
// not touch, since nothing could tell where one ends.
func ParseKeyPattern(s string) (KeyPattern, error) {
	p, err := parsePattern(s)
	if err == nil && !p.HasAsset() {
		return KeyPattern{}, fmt.Errorf("key pattern %q has no {asset}", s)
	}
	return p, err
}

// ParseChannelPattern parses a channel pattern, which, unlike a key pattern, may lack
// {asset}: QuFLX v2 publishes every asset on one channel ("market_data") and names the
// asset in the payload only. Such a channel is subscribed by name, not as a glob.
func ParseChannelPattern(s string) (KeyPattern, error) {
	if s == "" {
		return KeyPattern{}, fmt.Errorf("channel pattern is empty")
	}
	return parsePattern(s)
}

func parsePattern(s string) (KeyPattern, error) {
	p := KeyPattern{raw: s}
	rest := s
	seen := map[string]bool{}
	for rest != "" {
		i, name := -1, ""
		for _, v := range [...]string{VarAsset, VarTimeframe} {
			if j := strings.Index(rest, "{"+v+"}"); j >= 0 && (i < 0 || j < i) {
				i, name = j, v
			}
		}
		if name == "" {
			p.parts = append(p.parts, patternPart{literal: rest})
			break
		}
		if i > 0 {
			p.parts = append(p.parts, patternPart{literal: rest[:i]})
		} else if n := len(p.parts); n > 0 && p.parts[n-1].isVar {
			return KeyPattern{}, fmt.Errorf("key pattern %q: placeholders must be separated by text", s)
		}
		if seen[name] {
			return KeyPattern{}, fmt.Errorf("key pattern %q: {%s} appears twice", s, name)
		}
		seen[name] = true
		p.parts = append(p.parts, patternPart{isVar: true, name: name})
		rest = rest[i+len(name)+2:]
	}
	return p, nil
}

// MustKeyPattern is ParseKeyPattern for patterns known to be valid.
func MustKeyPattern(s string) KeyPattern {
	p, err := ParseKeyPattern(s)
	if err != nil {
		panic(err)
	}
	return p
}

// MustChannelPattern is ParseChannelPattern for patterns known to be valid.
func MustChannelPattern(s string) KeyPattern {
	p, err := ParseChannelPattern(s)
	if err != nil {
		panic(err)
	}
	return p
}

// String returns the pattern as written.
func (p KeyPattern) String() string { return p.raw }

// HasAsset reports whether the pattern has an {asset} placeholder (a channel pattern may
// not: then the asset comes from each payload).
func (p KeyPattern) HasAsset() bool {
	for _, part := range p.parts {
		if part.isVar && part.name == VarAsset {
			return true
		}
	}
	return false
}

// HasTimeframe reports whether the pattern has a {timeframe} placeholder.
func (p KeyPattern) HasTimeframe() bool {
	for _, part := range p.parts {
		if part.isVar && part.name == VarTimeframe {
			return true
		}
	}
	return false
}

// Key fills in the placeholders.
func (p KeyPattern) Key(asset, timeframe string) string {
	var b strings.Builder
	for _, part := range p.parts {
		switch {
		case !part.isVar:
			b.WriteString(part.literal)
		case part.name == VarAsset:
			b.WriteString(asset)
		default:
			b.WriteString(timeframe)
		}
	}
	return b.String()
}

// Glob returns the pattern for SCAN MATCH and PSUBSCRIBE: placeholders become * and the
// glob characters of the literal text are escaped.
func (p KeyPattern) Glob() string {
	return p.GlobWith("", "")
}

// GlobWith is Glob with some placeholders fixed (an empty value stays a wildcard).
func (p KeyPattern) GlobWith(asset, timeframe string) string {
	var b strings.Builder
	for _, part := range p.parts {
		value := part.literal
		if part.isVar {
			value = asset
			if part.name == VarTimeframe {
				value = timeframe
			}
			if value == "" {
				b.WriteByte('*')
				continue
			}
		}
		for i := 0; i < len(value); i++ {
			switch c := value[i]; c {
			case '*', '?', '[', ']', '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			default:
				b.WriteByte(c)
			}
		}
	}
	return b.String()
}

// Match extracts the placeholders from a concrete key. When a placeholder could end at
// several places it takes the longest match that still lets the rest match, so an asset
// containing the separator ("historical:EUR:USD:1m") still reads right when {timeframe}
// comes last.
func (p KeyPattern) Match(key string) (asset, timeframe string, ok bool) {
	var vals matchValues
	if !matchParts(p.parts, key, &vals) {
		return "", "", false
	}
	return vals.asset, vals.timeframe, true
}

type matchValues struct{ asset, timeframe string }

func (v *matchValues) set(name, value string) {
	if name == VarAsset {
		v.asset = value
	} else {
		v.timeframe = value
	}
}

func matchParts(parts []patternPart, s string, vals *matchValues) bool {
	if len(parts) == 0 {
		return s == ""
	}
	part := parts[0]
	if !part.isVar {
		return strings.HasPrefix(s, part.literal) && matchParts(parts[1:], s[len(part.literal):], vals)
	}
	if len(parts) == 1 {
		vals.set(part.name, s)
		return s != ""
	}
	next := parts[1].literal // placeholders are never adjacent
	for end := strings.LastIndex(s, next); end > 0; end = strings.LastIndex(s[:end], next) {
		if matchParts(parts[1:], s[end:], vals) {
			vals.set(part.name, s[:end])
			return true
		}
	}
	return false
}
