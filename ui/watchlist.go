package ui

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/quflx/quflx-tui/redisdata"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/quflx/quflx-tui/model"
)

type sortKey int

const (
	sortAsset sortKey = iota
	sortChange
	sortRate
	sortBuffer
	sortAge
	sortKeys
)

var sortNames = [...]string{"asset", "change", "ticks/s", "buffer", "age"}

// watchRow is one asset as the watchlist shows it.
type watchRow struct {
	view   model.AssetView
	buffer int64 // LLEN; -1 unknown
	bad    int64
	// drained: the buffer is empty while the flushers hold or stored its ticks (a dead
	// feed's empty buffer is not).
	drained bool
	// newest is the newest tick the pipeline holds of the asset (buffer, flushers), for
	// the age of an asset pub/sub brought nothing of.
	newest time.Time
	regime string // pub/sub only: the strategy's regime ("-" none)
	// idle: the strategy says the asset is not tradeable now (its regime is muted)
	idle bool
}

// WatchGroup is a named set of assets, shown as a tab of the watchlist (the config
// file's [[watchlist.groups]]).
type WatchGroup struct {
	Name   string
	Assets []string
}

// watchlist is the table of assets: sortable, filterable, scrollable, with a selection,
// and tabs for the groups of assets when there are any.
type watchlist struct {
	common
	groups       []WatchGroup
	group        int             // the tab shown: 0 all assets, i the groups[i-1]
	members      map[string]bool // of the group shown
	views        []model.AssetView
	buffers, bad map[string]int64 // per asset: LLEN, bad messages
	pipeline     []redisdata.AssetReport
	rowOf        map[string]int          // rebuild's: asset -> row
	regimes      map[string]model.Regime // per asset (pub/sub only)
	all          []watchRow
	rows         []watchRow // after filter and sort
	selected     string
	scroll       scroller
	sort         sortKey
	filter       textinput.Model
	editing      bool // the filter has the keyboard
	compact      bool // the small layout's columns
	sp           *sparker
	// notAdmitted counts ticks of names no key vouches for: shown, never listed.
	notAdmitted int64
}

func newWatchlist(ctx *frameContext) *watchlist {
	ti := textinput.New()
	ti.Prompt = "/"
	ti.Placeholder = "filter"
	ti.CharLimit = 32
	ti.PromptStyle = ctx.theme.Accent
	ti.PlaceholderStyle = ctx.theme.Muted
	return &watchlist{common: newCommon(ctx, true), filter: ti, sp: newSparker(), scroll: newScroller()}
}

// SetSize also decides how many rows fit: the box's borders, the tabs and the header
// row do not.
func (wl *watchlist) SetSize(w, h int) {
	wl.common.SetSize(w, h)
	wl.changed(wl.scroll.SetVisible(h - 3 - wl.tabRows()))
}

// tabRows is the row the group tabs take: none without groups.
func (wl *watchlist) tabRows() int {
	if len(wl.groups) == 0 {
		return 0
	}
	return 1
}

// SetGroups gives the groups of assets shown as tabs after "all".
func (wl *watchlist) SetGroups(groups []WatchGroup) {
	wl.groups = groups
	wl.group = 0
	wl.members = nil
	if wl.h > 0 {
		wl.scroll.SetVisible(wl.h - 3 - wl.tabRows())
	}
	wl.reorder()
}

// CycleGroup shows the next (dir 1) or previous (-1) tab; the selection moves to the
// tab's first row unless the tab holds it.
func (wl *watchlist) CycleGroup(dir int) {
	if len(wl.groups) == 0 {
		return
	}
	wl.group = (wl.group + dir + len(wl.groups) + 1) % (len(wl.groups) + 1)
	wl.members = nil
	if wl.group > 0 {
		wl.members = make(map[string]bool, len(wl.groups[wl.group-1].Assets))
		for _, a := range wl.groups[wl.group-1].Assets {
			wl.members[a] = true
		}
	}
	wl.order()
	if wl.index() < 0 && len(wl.rows) > 0 {
		wl.selected = wl.rows[0].view.Asset
	}
	wl.reorder()
}

// Group is the name of the tab shown ("" for all assets).
func (wl *watchlist) Group() string {
	if wl.group == 0 {
		return ""
	}
	return wl.groups[wl.group-1].Name
}

// SetCompact chooses the small layout's columns.
func (wl *watchlist) SetCompact(compact bool) {
	if compact != wl.compact {
		wl.compact = compact
		wl.invalidate()
	}
}

// SetViews replaces the assets (the caller's slice, read until the next SetViews),
// keeping the selection and the scroll (a wheel-scrolled view must not jump back to the
// selection at the next frame).
func (wl *watchlist) SetViews(views []model.AssetView) {
	wl.views = views
	wl.rebuild()
}

// SetPoll takes the buffers' lengths, the bad messages per asset and the count of ticks
// not admitted from the poll shown.
func (wl *watchlist) SetPoll(p *Poll) {
	if p.Snapshot != nil {
		wl.buffers = make(map[string]int64, len(p.Snapshot.Buffers))
		for _, b := range p.Snapshot.Buffers {
			if b.Err == nil {
				wl.buffers[b.Asset] = b.Len
			}
		}
	}
	if wl.ctx.pubsubOnly {
		wl.regimes = make(map[string]model.Regime, len(p.Pipeline.Regimes))
		for _, r := range p.Pipeline.Regimes {
			wl.regimes[r.Asset] = r
		}
	}
	wl.bad = make(map[string]int64, len(p.Sub.Assets))
	for a, c := range p.Sub.Assets {
		wl.bad[a] = c.Bad
	}
	wl.notAdmitted = p.Sub.NotAdmitted
	wl.pipeline = p.Assets
	wl.rebuild()
}

func (wl *watchlist) rebuild() {
	wl.all = wl.all[:0]
	for _, v := range wl.views {
		n, ok := wl.buffers[v.Asset]
		if !ok {
			n = -1
		}
		regime, ok := wl.regimes[v.Asset]
		wl.all = append(wl.all, watchRow{view: v, buffer: n, bad: wl.bad[v.Asset],
			regime: regimeText(wl.ctx.theme, regime, ok), idle: ok && regime.TradeableKnown && !regime.Tradeable})
	}
	// The pipeline's other assets: drained buffers, the flushers' claims and stores, cache
	// keys. An asset pub/sub brought nothing of is listed all the same.
	if len(wl.pipeline) > 0 {
		if wl.rowOf == nil {
			wl.rowOf = map[string]int{}
		}
		clear(wl.rowOf)
		for i, r := range wl.all {
			wl.rowOf[r.view.Asset] = i
		}
	}
	for _, a := range wl.pipeline {
		i, ok := wl.rowOf[a.Asset]
		if !ok {
			n, ok := wl.buffers[a.Asset]
			if !ok {
				n = -1
			}
			v := model.AssetView{Asset: a.Asset}
			if a.LastPrice != nil {
				v.Last.Price, v.Decimals = *a.LastPrice, model.PriceDecimals(*a.LastPrice)
			}
			wl.all = append(wl.all, watchRow{view: v, buffer: n, bad: wl.bad[a.Asset], regime: "-"})
			i = len(wl.all) - 1
		}
		wl.all[i].drained = a.Drained
		if a.LastTimestamp != nil {
			wl.all[i].newest = *a.LastTimestamp
		}
	}
	wl.order()
	wl.scroll.SetTotal(len(wl.rows))
	wl.invalidate()
}

// Selected is the selected asset ("" with no rows).
func (wl *watchlist) Selected() string { return wl.selected }

// Editing says whether the filter has the keyboard.
func (wl *watchlist) Editing() bool { return wl.editing }

// CycleSort sorts by the next column.
func (wl *watchlist) CycleSort() {
	wl.sort = (wl.sort + 1) % sortKeys
	wl.reorder()
}

// StartFilter gives the filter the keyboard.
func (wl *watchlist) StartFilter() {
	wl.editing = true
	wl.filter.Focus()
	wl.invalidate()
}

// ClearFilter drops the filter, if there is one.
func (wl *watchlist) ClearFilter() {
	if wl.filter.Value() != "" {
		wl.filter.SetValue("")
		wl.reorder()
	}
}

// FilterKey edits the filter: enter keeps it, esc clears it.
func (wl *watchlist) FilterKey(msg tea.KeyMsg) tea.Cmd {
	wl.invalidate()
	switch msg.Type {
	case tea.KeyEnter:
		wl.editing = false
		wl.filter.Blur()
		return nil
	case tea.KeyEsc:
		wl.editing = false
		wl.filter.Blur()
		wl.filter.SetValue("")
		wl.reorder()
		return nil
	}
	var cmd tea.Cmd
	wl.filter, cmd = wl.filter.Update(msg)
	wl.reorder()
	return cmd
}

// reorder applies a new filter or sort and brings the selection into view.
func (wl *watchlist) reorder() {
	wl.order()
	wl.scroll.SetTotal(len(wl.rows))
	wl.scroll.EnsureVisible(wl.index())
	wl.invalidate()
}

// order applies the filter and the sort.
func (wl *watchlist) order() {
	needle := strings.ToLower(strings.TrimSpace(wl.filter.Value()))
	wl.rows = wl.rows[:0]
	for _, r := range wl.all {
		if wl.members != nil && !wl.members[r.view.Asset] {
			continue
		}
		if needle == "" || strings.Contains(strings.ToLower(r.view.Asset), needle) {
			wl.rows = append(wl.rows, r)
		}
	}
	key := wl.sort
	slices.SortStableFunc(wl.rows, func(a, b watchRow) int {
		var c int
		switch key {
		case sortChange:
			c = cmp.Compare(b.view.ChangePct, a.view.ChangePct)
		case sortRate:
			c = cmp.Compare(b.view.Rate, a.view.Rate)
		case sortBuffer:
			c = cmp.Compare(b.buffer, a.buffer)
			if wl.ctx.pubsubOnly {
				c = cmp.Compare(a.regime, b.regime)
			}
		case sortAge:
			c = a.view.Arrival.Compare(b.view.Arrival) // the stalest first
		}
		return cmp.Or(c, cmp.Compare(a.view.Asset, b.view.Asset))
	})
	if wl.selected == "" && len(wl.rows) > 0 {
		wl.selected = wl.rows[0].view.Asset
	}
}

func (wl *watchlist) index() int {
	return slices.IndexFunc(wl.rows, func(r watchRow) bool { return r.view.Asset == wl.selected })
}

// Move changes the selection by delta rows (clamped) and brings it into view.
func (wl *watchlist) Move(delta int) {
	if len(wl.rows) == 0 {
		return
	}
	i := max(0, min(len(wl.rows)-1, max(wl.index(), 0)+delta))
	if asset := wl.rows[i].view.Asset; asset != wl.selected {
		wl.selected = asset
		wl.invalidate()
	}
	wl.changed(wl.scroll.EnsureVisible(i))
}

// Page moves the selection by a page.
func (wl *watchlist) Page(dir int) { wl.Move(dir * wl.pageSize()) }

func (wl *watchlist) pageSize() int { return wl.scroll.PageSize() }

// Top selects the first row, Bottom the last.
func (wl *watchlist) Top()    { wl.Move(-len(wl.rows)) }
func (wl *watchlist) Bottom() { wl.Move(len(wl.rows)) }

// Scroll moves the view by delta rows without moving the selection (the mouse wheel).
func (wl *watchlist) Scroll(delta int) { wl.changed(wl.scroll.Move(delta)) }

func (wl *watchlist) KeyHelp() []key.Binding {
	k := wl.ctx.keys
	help := []key.Binding{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom, k.Open, k.Filter, k.Sort, k.Back}
	if len(wl.groups) > 0 {
		help = append(help, k.NextGroup, k.PrevGroup)
	}
	return help
}
