package ui

import (
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"

	"github.com/quflx/quflx-tui/model"
)

// frameContext is what every component draws with: the theme and the keymap (built
// once), what does not change while the dashboard runs, the health thresholds, and the
// clock of the frame being drawn. The components share one by pointer; the frame pipeline
// moves its clock.
type frameContext struct {
	theme      *Theme
	keys       KeyMap
	info       Info
	thresholds model.HealthThresholds
	stale      time.Duration // a feed silent this long is marked in the watchlist
	bufferCap  int           // the producers' LTRIM cap, for the buffer gauges
	pubsubOnly bool          // QuFLX v2: no buffers or cache; services, signals and regimes instead
	now        time.Time
}

// component is the shape of every part of the screen (header, watchlist, chart, the
// panels, footer, help). A component owns its data, size, focus, scroll and rendering.
// Its setters invalidate its own cache and nothing else's; the frame pipeline redraws
// it (refresh) only when they did.
type component interface {
	// SetSize gives it its box, in cells.
	SetSize(w, h int)
	// SetFocused says whether the keys go to it (its border shows so).
	SetFocused(focused bool)
	// ClockMoved says the second changed: a component showing ages, countdowns or the
	// clock redraws.
	ClockMoved()
	// View is its last rendering; it draws nothing.
	View() string
	// KeyHelp is the keys it answers to while focused.
	KeyHelp() []key.Binding

	base() *common
	// render draws it at its size from its own state; only refresh calls it.
	render() string
}

// common is embedded in every component: size, focus, the shared frame context, and the
// render cache with its dirty flag.
type common struct {
	ctx     *frameContext
	w, h    int
	focused bool
	clocked bool // it shows ages or the clock: redrawn every second
	dirty   bool
	text    string
	lines   []string
}

func newCommon(ctx *frameContext, clocked bool) common {
	return common{ctx: ctx, clocked: clocked, dirty: true}
}

func (c *common) SetSize(w, h int) {
	if w != c.w || h != c.h {
		c.w, c.h = w, h
		c.invalidate()
	}
}

func (c *common) SetFocused(focused bool) {
	if focused != c.focused {
		c.focused = focused
		c.invalidate()
	}
}

func (c *common) ClockMoved() {
	if c.clocked {
		c.invalidate()
	}
}

func (c *common) View() string           { return c.text }
func (c *common) KeyHelp() []key.Binding { return nil }
func (c *common) base() *common          { return c }

// invalidate marks the rendering stale; only the component's own methods call it.
func (c *common) invalidate() { c.dirty = true }

// changed invalidates the rendering if something moved (a scroll that hit its end did not).
func (c *common) changed(moved bool) {
	if moved {
		c.invalidate()
	}
}

// box draws lines in a bordered box of its size with title in the top border, the border
// marking the focus.
func (c *common) box(title string, lines []string) string {
	return box(c.ctx.theme, c.focused, title, lines, c.w, c.h)
}

// line is the i-th line of its rendering ("" past the end).
func (c *common) line(i int) string {
	if i < len(c.lines) {
		return c.lines[i]
	}
	return ""
}

// refresh redraws a component whose rendering is stale, and reports whether it did.
func refresh(c component) bool {
	b := c.base()
	if !b.dirty {
		return false
	}
	b.text = c.render()
	b.lines = strings.Split(b.text, "\n")
	b.dirty = false
	return true
}

// navigable is a focusable component the movement keys and the wheel act on.
type navigable interface {
	component
	Move(delta int) // up, down, the wheel
	Page(dir int)   // a page up (-1) or down (1)
	Top()
	Bottom()
}

// scrollPane is a component whose rows scroll under the keys: the cache and events panels.
type scrollPane struct {
	common
	scroll scroller
	chrome int // rows of the box that are not list rows (borders, a summary line)
}

func newScrollPane(ctx *frameContext, clocked bool, chrome int) scrollPane {
	return scrollPane{common: newCommon(ctx, clocked), scroll: newScroller(), chrome: chrome}
}

func (p *scrollPane) SetSize(w, h int) {
	p.common.SetSize(w, h)
	p.changed(p.scroll.SetVisible(h - p.chrome))
}

func (p *scrollPane) Move(delta int) { p.changed(p.scroll.Move(delta)) }
func (p *scrollPane) Page(dir int)   { p.changed(p.scroll.Page(dir)) }
func (p *scrollPane) Top()           { p.changed(p.scroll.Top()) }
func (p *scrollPane) Bottom()        { p.changed(p.scroll.Bottom()) }

func (p *scrollPane) KeyHelp() []key.Binding {
	k := p.ctx.keys
	return []key.Binding{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom}
}
