package ui

import (
	"context"
	"errors"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/muesli/termenv"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/simulator"
)

// settledWith is settled with options changed by edit before the dashboard is built.
func settledWith(t *testing.T, n, w, h int, edit func(*Options)) (*Dashboard, *fixtureBackend) {
	t.Helper()
	opts, b := fixtureOptions(n)
	edit(&opts)
	m := New(opts)
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	m.Update(pollMsg(b.Poll(context.Background())))
	m.Update(frameMsg(fixedNow))
	loadHistory(t, m, b)
	return m, b
}

func TestRemappedKeysDriveTheDashboard(t *testing.T) {
	km, err := DefaultKeyMap().Remap(map[string][]string{
		"quit": {"ctrl+q"}, "tf1h": {"t"}, "next-focus": {"alt+n"}, "sort": {"o"}, "down": {"n"},
	})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := settledWith(t, 4, 120, 40, func(o *Options) { o.Keys = &km })
	if isQuit(press(m, "q")) {
		t.Fatal("q still quits after quit was remapped to ctrl+q")
	}
	if cmd := press(m, "t"); m.chart.tf != model.TF1h {
		t.Fatalf("t (tf1h): timeframe %v", m.chart.tf)
	} else if cmd != nil {
		m.Update(cmd())
	}
	if press(m, "4"); m.chart.tf != model.TF1h {
		t.Fatal("4 still changes the timeframe after tf1h was remapped")
	}
	first := m.watch.selected
	if press(m, "n"); m.watch.selected == first {
		t.Fatal("n (down) did not move the selection")
	}
	if press(m, "o"); m.watch.sort != sortChange {
		t.Fatalf("o (sort): sort %v", m.watch.sort)
	}
	m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("n"), Alt: true})
	if m.focus != focusChart {
		t.Fatalf("alt+n (next-focus): focus %v", m.focus)
	}
	// The footer and the help show the new keys.
	if v := m.View(); !strings.Contains(v, "1/2/3/t/5 timeframe") || !strings.Contains(v, "o sort") {
		t.Fatalf("the footer does not show the new keys:\n%s", v)
	}
	press(m, "?")
	if v := m.View(); !strings.Contains(v, "ctrl+q") || !strings.Contains(v, "alt+n") {
		t.Fatalf("the help does not show the new keys:\n%s", v)
	}
	press(m, "?")
	if !isQuit(press(m, "ctrl+q")) {
		t.Fatal("ctrl+q did not quit")
	}
	// ctrl+c quits whatever the keymap says.
	m2, _ := settledWith(t, 4, 120, 40, func(o *Options) { o.Keys = &km })
	if !isQuit(press(m2, "ctrl+c")) {
		t.Fatal("ctrl+c")
	}
}

func TestRemapRefusesUnknownActionsClashesAndBadKeys(t *testing.T) {
	for _, c := range []struct {
		remap map[string][]string
		want  string
	}{
		{map[string][]string{"quitt": {"x"}}, "quitt: unknown action"},
		{map[string][]string{"quit": {"j"}}, `quit: key "j" is also bound to down`},
		{map[string][]string{"quit": {"ctrl+nope"}}, `"ctrl+nope" is not a key name`},
		{map[string][]string{"tf1h": {"h"}}, `tf1h: key "h" is also bound to pan-left`}, // the chart's keys too
		{map[string][]string{"quit": {}}, "quit: no key given"},
		{map[string][]string{"quit": {"x"}, "freeze": {"ctrl+c"}}, "freeze: ctrl+c always quits"},
	} {
		_, err := DefaultKeyMap().Remap(c.remap)
		var ke *KeyError
		if !errors.As(err, &ke) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.remap, err, c.want)
		}
	}
	// A swap is no clash: both are remapped.
	km, err := DefaultKeyMap().Remap(map[string][]string{"up": {"j"}, "down": {"k"}})
	if err != nil || km.Up.Keys()[0] != "j" || km.Down.Keys()[0] != "k" {
		t.Fatalf("swap: %v %v", km.Up.Keys(), err)
	}
	if got := ActionNames(); !strings.Contains(strings.Join(got, " "), "next-focus") || !strings.Contains(strings.Join(got, " "), "zoom-in") || len(got) < 20 {
		t.Fatalf("action names %v", got)
	}
	if k, ok := canonicalKey("space"); !ok || k != " " {
		t.Fatal("space")
	}
}

func groupOptions(o *Options) {
	names := []string{}
	for _, a := range simulator.Pick(8) {
		names = append(names, a.Name)
	}
	o.Groups = []WatchGroup{{Name: "majors", Assets: names[:3]}, {Name: "rest", Assets: append(names[3:], "NOTSEEN")}}
}

func TestWatchlistGroupTabs(t *testing.T) {
	m, _ := settledWith(t, 8, 120, 40, groupOptions)
	if len(m.watch.rows) != 8 || m.watch.Group() != "" {
		t.Fatalf("all: %d rows, group %q", len(m.watch.rows), m.watch.Group())
	}
	if v := m.View(); !strings.Contains(v, " all   majors   rest ") {
		t.Fatalf("no tabs:\n%s", v)
	}
	majors := strings.Join(m.watch.groups[0].Assets, " ")
	for strings.Contains(majors, m.watch.selected) {
		press(m, "j") // an asset that is not a major
	}
	press(m, "]")
	if m.watch.Group() != "majors" || len(m.watch.rows) != 3 {
		t.Fatalf("]: group %q, %d rows", m.watch.Group(), len(m.watch.rows))
	}
	if m.watch.index() != 0 {
		t.Fatalf("the selection did not move into the group: %q", m.watch.selected)
	}
	rest := m.watch.groups[1].Assets
	press(m, "]")
	if len(m.watch.rows) != len(rest)-1 { // NOTSEEN has no ticks
		t.Fatalf("rest: %d rows", len(m.watch.rows))
	}
	for _, r := range m.watch.rows {
		if !strings.Contains(strings.Join(rest, " "), r.view.Asset) {
			t.Fatalf("%s is not in rest", r.view.Asset)
		}
	}
	press(m, "]")
	if m.watch.Group() != "" || len(m.watch.rows) != 8 {
		t.Fatal("] from the last tab goes back to all")
	}
	press(m, "[")
	if m.watch.Group() != "rest" {
		t.Fatalf("[: %q", m.watch.Group())
	}
	press(m, "?")
	if v := m.View(); !strings.Contains(v, "next group") {
		t.Fatalf("the help does not offer the group keys:\n%s", v)
	}
	// Without groups the keys do nothing and are not in the help.
	plain, _ := settled(t, 8, 120, 40)
	press(plain, "]")
	if len(plain.watch.rows) != 8 || strings.Contains(plain.View(), " all ") {
		t.Fatal("tabs without groups")
	}
	press(plain, "?")
	if strings.Contains(plain.View(), "next group") {
		t.Fatal("the help offers group keys without groups")
	}
}

// The watchlist with tabs, on the second tab, at a fixed size (regenerate with
// go test ./ui -run Golden -update).
func TestGoldenWatchlistGroups(t *testing.T) {
	opts, b := fixtureOptions(8)
	groupOptions(&opts)
	opts = opts.withDefaults()
	ctx := newFrameContext(opts)
	p := b.Poll(context.Background())
	wl := newWatchlist(ctx)
	wl.SetGroups(opts.Groups)
	wl.SetViews(opts.Market.Views(fixedNow.UnixNano(), nil))
	wl.SetPoll(&p)
	wl.SetFocused(true)
	wl.SetSize(64, 10)
	wl.CycleGroup(1)
	refresh(wl)
	if lines := strings.Split(wl.View(), "\n"); len(lines) != 10 {
		t.Fatalf("%d lines", len(lines))
	}
	golden.RequireEqual(t, []byte(wl.View()))
}

// lightRenderer writes in true colour, as a terminal that says so would get.
func lightRenderer(profile termenv.Profile) *lipgloss.Renderer {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(profile)
	return r
}

// The whole screen in the light theme, with its colours (regenerate with
// go test ./ui -run Golden -update).
func TestGoldenLightScreen(t *testing.T) {
	m, _ := settledWith(t, 8, 120, 40, func(o *Options) {
		o.Light, o.Renderer = true, lightRenderer(termenv.TrueColor)
	})
	screen := m.View()
	if !strings.Contains(screen, "\x1b[") {
		t.Fatal("no colour in the light screen")
	}
	golden.RequireEqual(t, []byte(screen))
}

// Every colour the light theme writes on the whole screen reads on white (or on the
// badge's own background): WCAG AA, a contrast ratio of at least 4.5. In 16-colour
// terminals, whose palette is the terminal's, no foreground most palettes make pale on
// white: yellow, white and the bright colours (bright black, the one grey, excepted).
func TestLightPaletteContrast(t *testing.T) {
	for _, profile := range []termenv.Profile{termenv.TrueColor, termenv.ANSI256} {
		for _, size := range [][2]int{{120, 40}, {80, 24}} {
			m, _ := settledWith(t, 8, size[0], size[1], func(o *Options) {
				o.Light, o.Renderer = true, lightRenderer(profile)
				o.Averages = []model.MovingAverage{{Kind: model.SMA, Period: 5}, {Kind: model.EMA, Period: 12}}
			})
			press(m, "s", "p") // the FROZEN badge too
			screens := m.View()
			press(m, "tab", "x") // the chart's crosshair and readout
			screens += m.View()
			press(m, "?") // and the help
			screens += m.View()
			n := 0
			for _, sgr := range sgrs(screens) {
				fg, bg, ok := sgrColours(sgr)
				if !ok || fg == nil {
					continue
				}
				back := [3]float64{255, 255, 255}
				if bg != nil {
					back = *bg
				}
				if r := contrast(*fg, back); r < 4.5 {
					t.Errorf("profile %v, %v: %v on %v has a contrast of %.2f (%q)", profile, size, *fg, back, r, sgr)
				}
				n++
			}
			if n < 5 {
				t.Fatalf("profile %v: only %d coloured spans", profile, n)
			}
		}
	}
	m, _ := settledWith(t, 8, 120, 40, func(o *Options) { o.Light, o.Renderer = true, lightRenderer(termenv.ANSI) })
	for _, sgr := range sgrs(m.View()) {
		ps := strings.Split(sgr, ";")
		if slices.ContainsFunc(ps, func(p string) bool { return len(p) == 2 && p[0] == '4' }) {
			continue // a badge, on its own background
		}
		for _, p := range ps {
			if p == "33" || p == "37" || (len(p) == 2 && p[0] == '9' && p != "90") {
				t.Errorf("16 colours: %q writes a pale foreground", sgr)
			}
		}
	}
	// The dark theme is another palette.
	dark := ThemeFor(lightRenderer(termenv.TrueColor), false, true)
	light := ThemeFor(lightRenderer(termenv.TrueColor), false, false)
	if dark.Warn.Render("x") == light.Warn.Render("x") || !dark.Dark || light.Dark {
		t.Fatal("the light theme draws as the dark one")
	}
}

// sgrs returns the parameters of every SGR escape in s.
func sgrs(s string) []string {
	var out []string
	for {
		i := strings.Index(s, "\x1b[")
		if i < 0 {
			return out
		}
		s = s[i+2:]
		j := strings.IndexByte(s, 'm')
		if j < 0 {
			return out
		}
		out = append(out, s[:j])
		s = s[j+1:]
	}
}

// sgrColours reads the foreground and background an SGR sets (256 colours or true
// colour), as RGB.
func sgrColours(sgr string) (fg, bg *[3]float64, ok bool) {
	ps := strings.Split(sgr, ";")
	for i := 0; i < len(ps); i++ {
		var dst **[3]float64
		switch ps[i] {
		case "38":
			dst = &fg
		case "48":
			dst = &bg
		default:
			continue
		}
		if i+2 < len(ps) && ps[i+1] == "5" {
			n, _ := strconv.Atoi(ps[i+2])
			c := termenv.ConvertToRGB(termenv.ANSI256Color(n))
			*dst = &[3]float64{c.R * 255, c.G * 255, c.B * 255}
			i += 2
		} else if i+4 < len(ps) && ps[i+1] == "2" {
			var rgb [3]float64
			for k := range 3 {
				v, _ := strconv.Atoi(ps[i+2+k])
				rgb[k] = float64(v)
			}
			*dst = &rgb
			i += 4
		}
	}
	return fg, bg, fg != nil || bg != nil
}

// contrast is the WCAG contrast ratio of two sRGB colours (0-255).
func contrast(a, b [3]float64) float64 {
	lum := func(c [3]float64) float64 {
		var l [3]float64
		for i, v := range c {
			v /= 255
			if v <= 0.03928 {
				l[i] = v / 12.92
			} else {
				l[i] = math.Pow((v+0.055)/1.055, 2.4)
			}
		}
		return 0.2126*l[0] + 0.7152*l[1] + 0.0722*l[2]
	}
	la, lb := lum(a), lum(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}
