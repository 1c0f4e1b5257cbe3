package ui

import (
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/quflx/quflx-tui/model"
)

// key handles a key press: the filter while it is edited, the help while it is open,
// else the dashboard's keys, the movement keys going to the focused component.
func (d *Dashboard) key(msg tea.KeyMsg) tea.Cmd {
	if msg.String() == "ctrl+c" {
		d.quitting = true
		return tea.Quit
	}
	if d.watch.Editing() {
		return d.watch.FilterKey(msg)
	}
	k := d.ctx.keys
	if d.showHelp {
		switch {
		case key.Matches(msg, k.Help, k.Back):
			d.showHelp = false
		case key.Matches(msg, k.Quit):
			d.quitting = true
			return tea.Quit
		}
		return nil
	}
	switch {
	case key.Matches(msg, k.Quit):
		d.quitting = true
		return tea.Quit
	case key.Matches(msg, k.Help):
		d.showHelp = true
		d.help.SetFocusKeys(focusNames[d.focus], d.focused().KeyHelp())
	case key.Matches(msg, k.Freeze):
		d.setFrozen(!d.frozen)
	case key.Matches(msg, k.ZoomIn):
		d.chart.Zoom(1)
		return d.olderHistoryCmd()
	case key.Matches(msg, k.ZoomOut):
		d.chart.Zoom(-1)
		return d.olderHistoryCmd()
	case key.Matches(msg, k.Crosshair):
		// The crosshair moves with the chart's keys: the chart takes them.
		d.setFocus(focusChart)
		d.chart.ToggleCrosshair()
	case d.focus == focusChart && key.Matches(msg, k.PanLeft):
		d.chart.Pan(-1)
		return d.olderHistoryCmd()
	case d.focus == focusChart && key.Matches(msg, k.PanRight):
		d.chart.Pan(1)
	case d.focus == focusChart && key.Matches(msg, k.Live):
		d.chart.Live()
	case d.focus == focusChart && d.chart.Crosshair() && key.Matches(msg, k.Back):
		d.chart.ToggleCrosshair()
	case key.Matches(msg, k.NextFocus):
		d.cycleFocus(1)
	case key.Matches(msg, k.PrevFocus):
		d.cycleFocus(-1)
	case key.Matches(msg, k.Up):
		return d.navigate(func(n navigable) { n.Move(-1) })
	case key.Matches(msg, k.Down):
		return d.navigate(func(n navigable) { n.Move(1) })
	case key.Matches(msg, k.PageUp):
		return d.navigate(func(n navigable) { n.Page(-1) })
	case key.Matches(msg, k.PageDown):
		return d.navigate(func(n navigable) { n.Page(1) })
	case key.Matches(msg, k.Top):
		return d.navigate(navigable.Top)
	case key.Matches(msg, k.Bottom):
		return d.navigate(navigable.Bottom)
	case key.Matches(msg, k.Open):
		return d.openChart(d.watch.Selected())
	case key.Matches(msg, k.TF1, k.TF5, k.TF15, k.TF1h, k.TF4h):
		for i, b := range k.timeframeBindings() {
			if key.Matches(msg, b) {
				return d.setTimeframe(model.Timeframes[i])
			}
		}
	case key.Matches(msg, k.Filter):
		d.setFocus(focusWatch)
		d.watch.StartFilter()
	case key.Matches(msg, k.Sort):
		d.watch.CycleSort()
	case key.Matches(msg, k.NextGroup):
		d.watch.CycleGroup(1)
	case key.Matches(msg, k.PrevGroup):
		d.watch.CycleGroup(-1)
	case key.Matches(msg, k.Back):
		d.watch.ClearFilter()
	}
	return nil
}

// setFrozen freezes the display, or catches up with what came meanwhile.
func (d *Dashboard) setFrozen(frozen bool) {
	d.frozen = frozen
	d.header.SetFrozen(frozen)
	if !frozen {
		if d.pending != nil {
			d.applyPoll(d.pending)
			d.pending = nil
		}
		d.marketVersion = 0 // take the market at the next frame
	}
}

var focusNames = map[focusID]string{focusWatch: "watchlist", focusChart: "chart", focusCache: "cache panel", focusEvents: "events panel"}

// focusOrder is the components tab goes through: those on screen that take the keys.
func (d *Dashboard) focusOrder() []focusID {
	switch {
	case d.lay.compact:
		return []focusID{focusWatch, focusChart}
	case d.opts.PubSubOnly:
		return []focusID{focusWatch, focusChart, focusEvents} // no cache panel
	}
	return []focusID{focusWatch, focusChart, focusCache, focusEvents}
}

func (d *Dashboard) focusable(f focusID) bool {
	for _, o := range d.focusOrder() {
		if o == f {
			return true
		}
	}
	return false
}

func (d *Dashboard) focused() component {
	switch d.focus {
	case focusChart:
		return d.chart
	case focusCache:
		return d.cache
	case focusEvents:
		return d.events
	}
	return d.watch
}

func (d *Dashboard) setFocus(f focusID) {
	d.focus = f
	d.watch.SetFocused(f == focusWatch)
	d.chart.SetFocused(f == focusChart)
	d.cache.SetFocused(f == focusCache)
	d.events.SetFocused(f == focusEvents)
}

func (d *Dashboard) cycleFocus(dir int) {
	order := d.focusOrder()
	i := 0
	for j, f := range order {
		if f == d.focus {
			i = j
		}
	}
	d.setFocus(order[(i+dir+len(order))%len(order)])
}

// navigate applies a movement key to the focused component. In the chart, the movement
// keys step through the watchlist and chart each asset at once.
func (d *Dashboard) navigate(move func(navigable)) tea.Cmd {
	switch d.focus {
	case focusWatch:
		move(d.watch)
	case focusChart:
		move(d.watch)
		if sel := d.watch.Selected(); sel != d.chart.Asset() {
			return d.openChart(sel)
		}
	case focusCache:
		move(d.cache)
	case focusEvents:
		move(d.events)
	}
	return nil
}

// mouse scrolls the component under the pointer with the wheel: the watchlist's view
// (not its selection), or the cache or events panel, which takes the focus; over the
// chart, the wheel zooms.
func (d *Dashboard) mouse(msg tea.MouseMsg) tea.Cmd {
	if msg.Action != tea.MouseActionPress {
		return nil
	}
	delta := 0
	switch msg.Button {
	case tea.MouseButtonWheelUp:
		delta = -1
	case tea.MouseButtonWheelDown:
		delta = 1
	default:
		return nil
	}
	switch where, ok := d.lay.at(msg.X, msg.Y); {
	case !ok, !d.focusable(where):
	case where == focusWatch:
		d.watch.Scroll(delta)
	case where == focusChart:
		d.chart.Zoom(-delta) // the wheel up zooms in
		return d.olderHistoryCmd()
	case where == focusCache, where == focusEvents:
		d.setFocus(where)
		return d.navigate(func(n navigable) { n.Move(delta) })
	}
	return nil
}
