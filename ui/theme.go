package ui

import (
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
)

// Glyphs are the characters the dashboard draws with: Unicode box and block glyphs, or
// plain ASCII for terminals without them (--ascii).
type Glyphs struct {
	Border     lipgloss.Border
	Spark      []rune // from lowest to highest
	GaugeFull  string
	GaugeEmpty string
	Live       string // connection state dot
	Up, Down   string
	Ellipsis   string
	Rule       string
	RuleRune   rune
	Sep        string // between header parts
	ASCII      bool
}

var unicodeGlyphs = Glyphs{
	Border:     lipgloss.RoundedBorder(),
	Spark:      []rune(" ▁▂▃▄▅▆▇█"),
	GaugeFull:  "■",
	GaugeEmpty: "·",
	Live:       "●",
	Up:         "▲",
	Down:       "▼",
	Ellipsis:   "…",
	Rule:       "─",
	RuleRune:   '─',
	Sep:        " · ",
}

var asciiGlyphs = Glyphs{
	Border: lipgloss.Border{
		Top: "-", Bottom: "-", Left: "|", Right: "|",
		TopLeft: "+", TopRight: "+", BottomLeft: "+", BottomRight: "+",
	},
	Spark:      []rune(" .,:-=+*#"),
	GaugeFull:  "#",
	GaugeEmpty: ".",
	Live:       "*",
	Up:         "+",
	Down:       "-",
	Ellipsis:   "~",
	Rule:       "-",
	RuleRune:   '-',
	Sep:        " | ",
	ASCII:      true,
}

// Theme holds every style, built once: styles built inside View cost allocations on
// every frame.
type Theme struct {
	G       Glyphs
	Dark    bool // the palette for a dark background (else for a light one)
	NoColor bool // NO_COLOR or a colourless terminal: shapes alone must tell things apart

	Title, Muted, Bold, Accent, Warn, Bad, Good, Bull, Bear lipgloss.Style
	BullTag, BearTag                                        lipgloss.Style // the chart's last-price label
	Selected, Badge, BadgeDemo, BadgeLive, BadgeRO, Frozen  lipgloss.Style
	BadgeAlert                                              lipgloss.Style // alerts firing
	Box, BoxFocused                                         lipgloss.Style
	HelpKey, HelpDesc                                       lipgloss.Style
	// The same colours as plain escape codes, for what is drawn every frame (the chart,
	// the watchlist's rows, box borders): Style.Render costs far more than the colour.
	BullInk, BearInk, MutedInk, AccentInk, WarnInk, BadInk, GoodInk Ink
}

// Ink is a foreground-only style taken apart once: what goes before a text, and after.
type Ink struct{ pre, post string }

func inkOf(st lipgloss.Style) Ink {
	pre, post, ok := strings.Cut(st.Render("\x00"), "\x00")
	if !ok {
		return Ink{}
	}
	return Ink{pre, post}
}

// Write writes s in the ink.
func (k Ink) Write(sb *strings.Builder, s string) {
	sb.WriteString(k.pre)
	sb.WriteString(s)
	sb.WriteString(k.post)
}

// Render returns s in the ink (Style.Render for a one-line text, at a fraction of the cost).
func (k Ink) Render(s string) string {
	if k.pre == "" && k.post == "" {
		return s
	}
	return k.pre + s + k.post
}

// palette is a theme's colours. The dark one uses the 16 ANSI colours only, so it works
// on any colour terminal. The light one is for a white background: the ANSI yellow and
// green most palettes ship read poorly on white, so it names darker shades where the
// terminal takes 256 colours or true colour (lipgloss picks by the output's profile), and
// ANSI colours that hold up on white elsewhere. TestLightPaletteContrast holds each to
// the WCAG AA contrast ratio against white.
type palette struct {
	bull, bear, muted, accent, warn lipgloss.TerminalColor
	badgeText                       lipgloss.TerminalColor // on a badge's coloured background
}

var darkPalette = palette{
	bull:      lipgloss.Color("2"),
	bear:      lipgloss.Color("1"),
	muted:     lipgloss.Color("8"),
	accent:    lipgloss.Color("6"),
	warn:      lipgloss.Color("3"),
	badgeText: lipgloss.Color("0"),
}

var lightPalette = palette{
	bull:      lipgloss.CompleteColor{TrueColor: "#116329", ANSI256: "22", ANSI: "2"},
	bear:      lipgloss.CompleteColor{TrueColor: "#b3261e", ANSI256: "124", ANSI: "1"},
	muted:     lipgloss.CompleteColor{TrueColor: "#57606a", ANSI256: "241", ANSI: "8"},
	accent:    lipgloss.CompleteColor{TrueColor: "#0550ae", ANSI256: "25", ANSI: "4"},
	warn:      lipgloss.CompleteColor{TrueColor: "#8a4600", ANSI256: "94", ANSI: "5"},
	badgeText: lipgloss.CompleteColor{TrueColor: "#ffffff", ANSI256: "231", ANSI: "15"},
}

// NewTheme builds the dark theme for the process's terminal (ThemeFor(nil, ascii, true)).
func NewTheme(ascii bool) *Theme { return ThemeFor(nil, ascii, true) }

// ThemeFor builds the styles for an output: its renderer r (nil: lipgloss's default, the
// process's terminal) gives the colour profile the colours are written in, dark chooses
// the palette for a dark or a light background. Nothing here asks the terminal anything:
// whoever owns the output decides dark (cli's --theme, serve per SSH session). Colours
// disappear by themselves under NO_COLOR (the colour profile is then ASCII); ascii
// switches the glyphs.
func ThemeFor(r *lipgloss.Renderer, ascii, dark bool) *Theme {
	if r == nil {
		r = lipgloss.DefaultRenderer()
	}
	g := unicodeGlyphs
	if ascii {
		g = asciiGlyphs
	}
	p := darkPalette
	if !dark {
		p = lightPalette
	}
	s := r.NewStyle
	t := &Theme{
		G:          g,
		Dark:       dark,
		NoColor:    r.ColorProfile() == termenv.Ascii,
		Title:      s().Bold(true),
		Muted:      s().Foreground(p.muted),
		Bold:       s().Bold(true),
		Accent:     s().Foreground(p.accent),
		Warn:       s().Foreground(p.warn).Bold(true),
		Bad:        s().Foreground(p.bear).Bold(true),
		Good:       s().Foreground(p.bull),
		Bull:       s().Foreground(p.bull),
		Bear:       s().Foreground(p.bear),
		Selected:   s().Reverse(true),
		Badge:      s().Bold(true).Padding(0, 1),
		BadgeDemo:  s().Bold(true).Padding(0, 1).Background(p.accent).Foreground(p.badgeText),
		BadgeLive:  s().Bold(true).Padding(0, 1).Background(p.warn).Foreground(p.badgeText),
		BadgeRO:    s().Bold(true).Padding(0, 1).Background(p.bull).Foreground(p.badgeText),
		Frozen:     s().Bold(true).Padding(0, 1).Reverse(true),
		BadgeAlert: s().Bold(true).Padding(0, 1).Background(p.bear).Foreground(p.badgeText),
		Box:        s().Border(g.Border).BorderForeground(p.muted),
		BoxFocused: s().Border(g.Border).BorderForeground(p.accent),
		HelpKey:    s().Foreground(p.accent).Bold(true),
		HelpDesc:   s().Foreground(p.muted),
	}
	t.BullInk, t.BearInk, t.MutedInk = inkOf(t.Bull), inkOf(t.Bear), inkOf(t.Muted)
	t.AccentInk, t.WarnInk, t.BadInk, t.GoodInk = inkOf(t.Accent), inkOf(t.Warn), inkOf(t.Bad), inkOf(t.Good)
	return t
}
