package model

import (
	"strings"
	"testing"
)

func TestPrintable(t *testing.T) {
	cases := map[string]string{
		"EURUSD_otc":                        "EURUSD_otc",
		"évolution €":                       "évolution €",
		"\x1b]0;pwned\x07EURUSD":            `\x1b]0;pwned\x07EURUSD`,
		"\x1b[2J\x1b[H":                     `\x1b[2J\x1b[H`,
		"a\x9b31mb":                         `a\x9b31mb`, // a lone 0x9b byte: not UTF-8, shown as the byte
		"a\u009b31mb":                       `a\x9b31mb`, // the C1 CSI as a character
		"del\x7f":                           `del\x7f`,
		"nul\x00":                           `nul\x00`,
		"tab\tnl\n":                         `tab\x09nl\x0a`,
		"bad\xff\xfeutf8":                   `bad\xff\xfeutf8`,
		"gnp.exe\u202efdp":                  `gnp.exe\u202efdp`,
		"\u2066isolate\u2069 \u200fmark":    `\u2066isolate\u2069 \u200fmark`,
		"zero\u200bwidth\u2028line":         `zero\u200bwidth\u2028line`,
		"tag\U000E0041":                     `tag\U000e0041`,
		strings.Repeat("x", 10) + "\x1b[1m": strings.Repeat("x", 10) + `\x1b[1m`,
	}
	for in, want := range cases {
		if got := Printable(in); got != want {
			t.Errorf("Printable(%q) = %q, want %q", in, got, want)
		}
	}
	if got := PrintableText("line\tone\nline\x1b[2Jtwo\n"); got != "line\tone\nline\\x1b[2Jtwo\n" {
		t.Errorf("PrintableText kept or lost the wrong characters: %q", got)
	}
	clean := "EURUSD_otc 1.08500 ▁▂▃"
	if n := testing.AllocsPerRun(100, func() { _ = Printable(clean) }); n != 0 {
		t.Errorf("a clean string costs %v allocations", n)
	}
}

func TestPlausibleAsset(t *testing.T) {
	for name, bad := range map[string]bool{
		"EURUSD_otc": false, "ÉUR/USD": false, "": true, strings.Repeat("A", 65): true,
		"\x1b[2J": true, "a\u009bb": true, "x\xffy": true, "tab\tname": true, "rl\u202eo": true,
		// Invisible or look-alike: a second "EURUSD_otc" row that is not it.
		"EUR\u200bUSD_otc": true, "EUR\u2060USD": true, "\ufeffEURUSD": true, "A\u2028B": true,
		"EURUSD\U000E0041": true, "e\u0301\u0301\u0301": true, "ar\u061cab": true,
		"BTC/USD": false, "#AAPL": false, "EUR-USD.x": false, "US 500": false,
	} {
		if got := PlausibleAsset(name) != ""; got != bad {
			t.Errorf("PlausibleAsset(%q) = %q", name, PlausibleAsset(name))
		}
	}
}
