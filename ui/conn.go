package ui

import (
	"time"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/model/format"
	"github.com/quflx/quflx-tui/redisdata"
)

// connection summarises the link to the server as the header shows it.
type connection struct {
	state redisdata.ConnState
	since time.Time
	err   string
}

// link is the connection's state machine and the pipeline's health, as the polls tell
// them, frozen or not: connecting, live, reconnecting (polls failing), down (failing
// for over ten seconds), live again.
type link struct {
	conn         connection
	firstErr     time.Time // of the current run of failed polls
	lastFlushErr string
	health       model.Health
}

func newLink(now time.Time) link {
	return link{conn: connection{state: redisdata.StateConnecting, since: now}}
}

// observe takes a poll's news at now and appends the events it makes to events.
func (l *link) observe(p *Poll, now time.Time, events []redisdata.Event) []redisdata.Event {
	switch {
	case p.Err != nil:
		if l.firstErr.IsZero() {
			l.firstErr = now
			events = append(events, redisdata.Event{At: now, Kind: "error", Text: "poll failed: " + model.Printable(p.Err.Error())})
		}
		st := redisdata.StateReconnecting
		if now.Sub(l.firstErr) > 10*time.Second {
			st = redisdata.StateDown
		}
		l.conn = connection{state: st, since: l.firstErr, err: model.Printable(p.Err.Error())}
	default:
		if !l.firstErr.IsZero() {
			events = append(events, redisdata.Event{At: now, Kind: "state", Text: "server answering again after " + format.Age(now.Sub(l.firstErr))})
			l.firstErr = time.Time{}
		}
		l.conn = connection{state: p.Sub.State, since: p.Sub.Since, err: p.Sub.LastErr}
		if p.Sub.State == redisdata.StateConnecting && p.Snapshot != nil {
			l.conn.state = redisdata.StateLive // polling works; the subscription is on its way
		}
	}
	if f := p.Flusher; f != nil && f.LastError != "" && f.LastError != l.lastFlushErr {
		events = append(events, redisdata.Event{At: f.LastErrorAt, Kind: "error", Text: "flusher: " + f.LastError})
	}
	if p.Flusher != nil {
		l.lastFlushErr = p.Flusher.LastError
	}
	if h := healthOf(p); h.Status != "" {
		// The first judgement is news only if it is bad; after that, every change of word.
		if h.Status != l.health.Status && (l.health.Status != "" || h.Status != model.Healthy) {
			events = append(events, redisdata.Event{At: now, Kind: "health", Text: healthEvent(h, l.health.Status)})
		}
		l.health = h
	}
	return events
}

// healthOf is a poll's health: the backend's judgement (model.JudgeHealth, as status
// judges), or down when the server could not be read (as status says of it).
func healthOf(p *Poll) model.Health {
	if p.Err != nil {
		return model.Health{Status: model.Down, Reasons: []string{model.Printable(p.Err.Error())}}
	}
	return p.Health
}

// healthEvent says what the health became: "degraded: buffer ... (+2 more)".
func healthEvent(h model.Health, was string) string {
	text := h.Status
	if h.Status == model.Healthy && was != "" {
		text += " again"
	}
	if h.Status != model.Healthy && len(h.Reasons) > 0 {
		text += ": " + model.Printable(h.Reasons[0])
		if n := len(h.Reasons) - 1; n > 0 {
			text += " (+" + format.Thousands(int64(n)) + " more)"
		}
	}
	return text
}
