package ui

import (
	"strings"
	"testing"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
)

// The chart's inks write what Style.Render writes, in every colour profile.
func TestInkMatchesRender(t *testing.T) {
	for _, p := range []termenv.Profile{termenv.ANSI, termenv.ANSI256, termenv.TrueColor, termenv.Ascii} {
		lipgloss.SetColorProfile(p)
		th := NewTheme(false)
		if p != termenv.Ascii && th.BullInk.pre == "" {
			t.Fatalf("profile %v: no colour in the ink", p)
		}
		for _, c := range []struct {
			st  lipgloss.Style
			ink Ink
		}{{th.Bull, th.BullInk}, {th.Bear, th.BearInk}, {th.Muted, th.MutedInk}, {th.Accent, th.AccentInk},
			{th.Warn, th.WarnInk}, {th.Bad, th.BadInk}, {th.Good, th.GoodInk}} {
			var sb strings.Builder
			c.ink.Write(&sb, "┃┃ │")
			if got, want := sb.String(), c.st.Render("┃┃ │"); got != want || c.ink.Render("┃┃ │") != want {
				t.Errorf("profile %v: %q, Render gives %q", p, got, want)
			}
		}
	}
	lipgloss.SetColorProfile(termenv.Ascii)
}
