package ui

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

// KeyMap is the dashboard's one keymap; the help view is built from it. Every field is an
// action the config file's [keys] table can remap by its name (ActionNames): a binding
// added here is remappable with no other code.
type KeyMap struct {
	NextFocus, PrevFocus key.Binding
	Up, Down             key.Binding
	PageUp, PageDown     key.Binding
	Top, Bottom          key.Binding
	Open                 key.Binding
	TF1, TF5, TF15       key.Binding
	TF1h, TF4h           key.Binding
	ZoomIn, ZoomOut      key.Binding
	PanLeft, PanRight    key.Binding
	Crosshair, Live      key.Binding
	Filter, Sort         key.Binding
	NextGroup, PrevGroup key.Binding
	Freeze, Help         key.Binding
	Back, Quit           key.Binding
}

// DefaultKeyMap returns the bindings.
func DefaultKeyMap() KeyMap {
	b := func(help, desc string, keys ...string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(help, desc))
	}
	return KeyMap{
		NextFocus: b("tab", "next panel", "tab"),
		PrevFocus: b("shift+tab", "previous panel", "shift+tab"),
		Up:        b("↑/k", "up", "up", "k"),
		Down:      b("↓/j", "down", "down", "j"),
		PageUp:    b("pgup", "page up", "pgup"),
		PageDown:  b("pgdn", "page down", "pgdown"),
		Top:       b("g/home", "first", "g", "home"),
		Bottom:    b("G/end", "last", "G", "end"),
		Open:      b("enter", "chart the asset", "enter"),
		TF1:       b("1", "1m", "1"),
		TF5:       b("2", "5m", "2"),
		TF15:      b("3", "15m", "3"),
		TF1h:      b("4", "1h", "4"),
		TF4h:      b("5", "4h", "5"),
		ZoomIn:    b("+", "zoom in", "+", "="),
		ZoomOut:   b("-", "zoom out", "-"),
		PanLeft:   b("←/h", "pan back", "left", "h"),
		PanRight:  b("→/l", "pan forward", "right", "l"),
		Crosshair: b("x", "crosshair", "x"),
		Live:      b("end", "live edge", "end"),
		Filter:    b("/", "filter", "/"),
		Sort:      b("s", "sort", "s"),
		NextGroup: b("]", "next group", "]"),
		PrevGroup: b("[", "previous group", "["),
		Freeze:    b("p", "freeze display", "p"),
		Help:      b("?", "help", "?"),
		Back:      b("esc", "close / clear", "esc"),
		Quit:      b("q", "quit", "q", "ctrl+c"),
	}
}

// ShortHelp is the footer line.
func (k KeyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.NextFocus, k.Open, k.timeframes(), k.Filter, k.Sort, k.Freeze, k.Help, k.Quit}
}

// timeframes stands for the five timeframe keys in the short help ("1-5" unless remapped).
func (k KeyMap) timeframes() key.Binding {
	var keys []string
	for _, b := range k.timeframeBindings() {
		keys = append(keys, b.Keys()...)
	}
	help := strings.Join(keys, "/")
	if slices.Equal(keys, []string{"1", "2", "3", "4", "5"}) {
		help = "1-5"
	}
	return key.NewBinding(key.WithKeys(keys...), key.WithHelp(help, "timeframe"))
}

// timeframeBindings are the timeframe keys in the order of model.Timeframes.
func (k KeyMap) timeframeBindings() []key.Binding {
	return []key.Binding{k.TF1, k.TF5, k.TF15, k.TF1h, k.TF4h}
}

// FullHelp is the ? view.
func (k KeyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.NextFocus, k.PrevFocus, k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom},
		{k.Open, k.timeframes(), k.ZoomIn, k.ZoomOut, k.PanLeft, k.PanRight, k.Crosshair, k.Live},
		{k.Filter, k.Sort, k.NextGroup, k.PrevGroup, k.Freeze, k.Help, k.Back, k.Quit},
	}
}

// actionName is a KeyMap field's name in the config file: NextFocus is next-focus, TF1h
// is tf1h.
func actionName(field string) string {
	var sb strings.Builder
	prev := rune(0)
	for _, r := range field {
		if unicode.IsUpper(r) && unicode.IsLower(prev) {
			sb.WriteByte('-')
		}
		sb.WriteRune(unicode.ToLower(r))
		prev = r
	}
	return sb.String()
}

// bindings returns the keymap's bindings by action name, as pointers into k.
func (k *KeyMap) bindings() map[string]*key.Binding {
	v := reflect.ValueOf(k).Elem()
	out := make(map[string]*key.Binding, v.NumField())
	for i := range v.NumField() {
		if b, ok := v.Field(i).Addr().Interface().(*key.Binding); ok {
			out[actionName(v.Type().Field(i).Name)] = b
		}
	}
	return out
}

// ActionNames lists the actions the keys can be remapped for, sorted.
func ActionNames() []string {
	var km KeyMap
	names := make([]string, 0, 32)
	for name := range km.bindings() {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Remap returns the keymap with the actions of remap (action name: its new keys) bound to
// those keys instead. It refuses an unknown action, a key name Bubble Tea never reports,
// and a key that would then do two things: a remapped key must be taken from any other
// action by remapping that one too. ctrl+c always quits, whatever the keymap.
func (k KeyMap) Remap(remap map[string][]string) (KeyMap, error) {
	out := k
	bs := out.bindings()
	names := make([]string, 0, len(remap))
	for name := range remap {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		b, ok := bs[name]
		if !ok {
			return k, &KeyError{Action: name, Msg: "unknown action; the actions are " + strings.Join(ActionNames(), ", ")}
		}
		keys := remap[name]
		if len(keys) == 0 {
			return k, &KeyError{Action: name, Msg: "no key given"}
		}
		keys = slices.Clone(keys)
		for i, kn := range keys {
			canon, ok := canonicalKey(kn)
			switch {
			case !ok:
				return k, &KeyError{Action: name, Msg: fmt.Sprintf("%q is not a key name (examples: q, ctrl+q, alt+x, "+
					"f2, enter, space, pgdown)", kn)}
			case canon == "ctrl+c" && name != "quit":
				return k, &KeyError{Action: name, Msg: "ctrl+c always quits"}
			}
			keys[i] = canon
		}
		help := strings.Join(keys, "/")
		*b = key.NewBinding(key.WithKeys(keys...), key.WithHelp(help, b.Help().Desc))
	}
	for _, name := range names {
		for _, kn := range bs[name].Keys() {
			for other, ob := range bs {
				if other != name && slices.Contains(ob.Keys(), kn) {
					return k, &KeyError{Action: name, Msg: fmt.Sprintf("key %q is also bound to %s; remap %s too",
						kn, other, other)}
				}
			}
		}
	}
	return out, nil
}

// KeyError is a [keys] entry the keymap refuses.
type KeyError struct{ Action, Msg string }

func (e *KeyError) Error() string { return e.Action + ": " + e.Msg }

// keyNames are the names Bubble Tea gives the keys it reports (tea.KeyMsg.String).
var keyNames = func() map[string]bool {
	names := map[string]bool{}
	for kt := tea.KeyType(-200); kt < 128; kt++ {
		if kt == tea.KeyRunes {
			continue
		}
		if s := (tea.Key{Type: kt}).String(); s != "" {
			names[s] = true
		}
	}
	return names
}()

// canonicalKey returns the name Bubble Tea reports a key by ("space" is " "), if it is one.
func canonicalKey(name string) (string, bool) {
	if name == "space" {
		return " ", true
	}
	base, alt := strings.CutPrefix(name, "alt+")
	switch {
	case keyNames[base] && base != "":
	case utf8.RuneCountInString(base) == 1 && unicode.IsPrint([]rune(base)[0]):
	default:
		return "", false
	}
	if alt {
		return "alt+" + base, true
	}
	return base, true
}

// Bindings returns the keys of every action, by action name.
func (k KeyMap) Bindings() map[string][]string {
	out := map[string][]string{}
	for name, b := range k.bindings() {
		out[name] = b.Keys()
	}
	return out
}
