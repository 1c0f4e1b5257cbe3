package model

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Printable returns s fit to be written to a terminal: every character that a terminal
// would act on instead of showing (C0 controls, DEL, C1 controls such as the 8-bit CSI,
// Unicode's bidirectional overrides) and every invalid UTF-8 byte is replaced by a
// visible escape (\x1b, \u202e). Anyone who can PUBLISH chooses asset names, channel and
// key names and payloads; none of them may move the operator's cursor, clear the screen
// or retitle the window. s is returned as it is, without allocating, when it is clean.
func Printable(s string) string { return printable(s, false) }

// PrintableText is Printable for multi-line plain text: newlines and tabs are kept.
func PrintableText(s string) string { return printable(s, true) }

func printable(s string, text bool) string {
	i := firstUnsafe(s, text)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			writeEscape(&b, rune(s[i])) // an invalid byte, shown as the byte it is
		case unsafeRune(r, text):
			writeEscape(&b, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// firstUnsafe returns the index of the first character Printable would escape, or -1.
func firstUnsafe(s string, text bool) int {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && !(text && (c == '\n' || c == '\t')) || c == 0x7f {
				return i
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || unsafeRune(r, text) {
			return i
		}
		i += size
	}
	return -1
}

func unsafeRune(r rune, text bool) bool {
	switch {
	case r == '\n' || r == '\t':
		return !text
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r < 0x200b:
		return false // the common case, quickly
	case unicode.Is(unicode.Cf, r), r == 0x2028, r == 0x2029:
		// Format characters (bidirectional overrides and marks, zero-width spaces and
		// joiners, the byte-order mark, tags) and line or paragraph separators: text that
		// displays other than it reads, or not at all.
		return true
	}
	return false
}

func writeEscape(b *strings.Builder, r rune) {
	const hex = "0123456789abcdef"
	if r < 0x100 {
		b.WriteString(`\x`)
		b.WriteByte(hex[r>>4])
		b.WriteByte(hex[r&0xf])
		return
	}
	if r > 0xffff {
		b.WriteString(`\U`)
		for shift := 28; shift >= 0; shift -= 4 {
			b.WriteByte(hex[(r>>shift)&0xf])
		}
		return
	}
	b.WriteString(`\u`)
	for shift := 12; shift >= 0; shift -= 4 {
		b.WriteByte(hex[(r>>shift)&0xf])
	}
}

// PlausibleAsset reports why name cannot be an asset name, or "" when it can: not empty,
// at most 64 bytes, valid UTF-8, made of letters, digits, spaces and the punctuation
// instrument names use (_ - . / : # + @ & ( ) [ ]). Anything else (control and format
// characters, zero-width or combining marks, look-alike symbols) could make a second row
// that reads as a real asset, or act on the terminal.
func PlausibleAsset(name string) string {
	switch {
	case name == "":
		return "empty"
	case len(name) > maxAssetLen:
		return "longer than 64 bytes"
	case !utf8.ValidString(name):
		return "not valid UTF-8"
	case firstUnsafe(name, false) >= 0:
		return "holds control characters"
	}
	for _, r := range name {
		if r < utf8.RuneSelf {
			if r == ' ' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' ||
				strings.ContainsRune("_-./:#+@&()[]", r) {
				continue
			}
			return "holds a character no instrument name uses"
		}
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			return "holds a character no instrument name uses"
		}
	}
	return ""
}
