// Package ui is quflx-tui's dashboard: a Bubble Tea program composed of components with
// one job each (header, watchlist, chart, panels, help) under a root model that routes
// messages. It renders what model/ aggregates and what a Backend polls; it never talks to
// Redis itself, and nothing in Update or View waits on the network.
package ui

import (
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
	NoColor bool // NO_COLOR or a colourless terminal: shapes alone must tell things apart

	Title, Muted, Bold, Accent, Warn, Bad, Good, Bull, Bear lipgloss.Style
	BullTag, BearTag                                        lipgloss.Style // the chart's last-price label
	Selected, Badge, BadgeDemo, BadgeLive, BadgeRO, Frozen  lipgloss.Style
	Box, BoxFocused                                         lipgloss.Style
	HelpKey, HelpDesc                                       lipgloss.Style
}

// The palette uses the 16 ANSI colours only, so it works on any colour terminal, and picks
// per background where one shade would be unreadable.
var (
	colBull   = lipgloss.Color("2")
	colBear   = lipgloss.Color("1")
	colMuted  = lipgloss.Color("8")
	colAccent = lipgloss.AdaptiveColor{Light: "4", Dark: "6"}
	colWarn   = lipgloss.AdaptiveColor{Light: "5", Dark: "3"}
	colBadge  = lipgloss.Color("0")
)

// NewTheme builds the styles. Colours disappear by themselves under NO_COLOR (the colour
// profile is then ASCII); ascii switches the glyphs.
func NewTheme(ascii bool) *Theme {
	g := unicodeGlyphs
	if ascii {
		g = asciiGlyphs
	}
	s := lipgloss.NewStyle
	t := &Theme{
		G:          g,
		NoColor:    lipgloss.ColorProfile() == termenv.Ascii,
		Title:      s().Bold(true),
		Muted:      s().Foreground(colMuted),
		Bold:       s().Bold(true),
		Accent:     s().Foreground(colAccent),
		Warn:       s().Foreground(colWarn).Bold(true),
		Bad:        s().Foreground(colBear).Bold(true),
		Good:       s().Foreground(colBull),
		Bull:       s().Foreground(colBull),
		Bear:       s().Foreground(colBear),
		Selected:   s().Reverse(true),
		Badge:      s().Bold(true).Padding(0, 1),
		BadgeDemo:  s().Bold(true).Padding(0, 1).Background(colAccent).Foreground(colBadge),
		BadgeLive:  s().Bold(true).Padding(0, 1).Background(colWarn).Foreground(colBadge),
		BadgeRO:    s().Bold(true).Padding(0, 1).Background(colBull).Foreground(colBadge),
		Frozen:     s().Bold(true).Padding(0, 1).Reverse(true),
		Box:        s().Border(g.Border).BorderForeground(colMuted),
		BoxFocused: s().Border(g.Border).BorderForeground(colAccent),
		HelpKey:    s().Foreground(colAccent).Bold(true),
		HelpDesc:   s().Foreground(colMuted),
	}
	return t
}
