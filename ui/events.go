package ui

import (
	"sort"
	"strings"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata"
)

// eventsPanel lists the events, newest first: the subscriber's (from the poll shown) and
// the dashboard's own (the link, health, history loads). Its rows scroll.
type eventsPanel struct {
	scrollPane
	own      *model.Ring[redisdata.Event]
	fromPoll []redisdata.Event
	sorted   []redisdata.Event // both, newest first
}

func newEventsPanel(ctx *frameContext) *eventsPanel {
	return &eventsPanel{scrollPane: newScrollPane(ctx, false, 2), own: model.NewRing[redisdata.Event](100)}
}

// Add records one of the dashboard's own events.
func (e *eventsPanel) Add(ev redisdata.Event) {
	e.own.Push(ev)
	e.merge()
}

// SetPollEvents shows the subscriber's events of the poll shown.
func (e *eventsPanel) SetPollEvents(events []redisdata.Event) {
	e.fromPoll = events
	e.merge()
}

// Len is how many events there are.
func (e *eventsPanel) Len() int { return len(e.sorted) }

func (e *eventsPanel) merge() {
	e.sorted = e.own.AppendTo(e.sorted[:0])
	e.sorted = append(e.sorted, e.fromPoll...)
	sort.SliceStable(e.sorted, func(i, j int) bool { return e.sorted[i].At.After(e.sorted[j].At) })
	e.scroll.SetTotal(len(e.sorted))
	e.invalidate()
}

func (e *eventsPanel) render() string {
	t := e.ctx.theme
	var lines []string
	if len(e.sorted) == 0 {
		lines = []string{t.Muted.Render("no events")}
	}
	start, end := e.scroll.Window()
	for _, ev := range e.sorted[start:end] {
		style := t.Muted
		switch ev.Kind {
		case "bad", "error", "firing", "alert-exec":
			style = t.Bad
		case "resolved":
			style = t.Good
		case "state", "health", "dispatched":
			style = t.Warn
		}
		lines = append(lines, t.Muted.Render(ev.At.Format("15:04:05"))+" "+style.Render(ev.Kind)+" "+oneLine(ev.Text))
	}
	return e.box(t.Title.Render("Events"), lines)
}

// oneLine keeps a payload shown in the events panel on one line.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		if r < 0x20 {
			return '?'
		}
		return r
	}, s)
}
