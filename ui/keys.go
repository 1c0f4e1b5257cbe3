package ui

import "github.com/charmbracelet/bubbles/key"

// KeyMap is the dashboard's one keymap; the help view is built from it.
type KeyMap struct {
	NextFocus, PrevFocus key.Binding
	Up, Down             key.Binding
	PageUp, PageDown     key.Binding
	Top, Bottom          key.Binding
	Open                 key.Binding
	TF1, TF5, TF15       key.Binding
	TF1h, TF4h           key.Binding
	Filter, Sort         key.Binding
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
		Filter:    b("/", "filter", "/"),
		Sort:      b("s", "sort", "s"),
		Freeze:    b("p", "freeze display", "p"),
		Help:      b("?", "help", "?"),
		Back:      b("esc", "close / clear", "esc"),
		Quit:      b("q", "quit", "q", "ctrl+c"),
	}
}

// ShortHelp is the footer line.
func (k KeyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.NextFocus, k.Open, timeframeBinding, k.Filter, k.Sort, k.Freeze, k.Help, k.Quit}
}

// timeframeBinding stands for 1-5 in the short help.
var timeframeBinding = key.NewBinding(key.WithKeys("1", "2", "3", "4", "5"), key.WithHelp("1-5", "timeframe"))

// FullHelp is the ? view.
func (k KeyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.NextFocus, k.PrevFocus, k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom},
		{k.Open, k.TF1, k.TF5, k.TF15, k.TF1h, k.TF4h},
		{k.Filter, k.Sort, k.Freeze, k.Help, k.Back, k.Quit},
	}
}
