package ui

import (
	"time"

	"github.com/quflx/quflx-tui/model"
)

// screenLatency measures how long ticks took from their publication to the screen, as
// frames are made: over a recent window and the whole session.
type screenLatency struct {
	recentWindow model.LatencyWindow
	all          model.LatencyHistogram
}

// record notes the arrivals (publication times, Unix µs) of the ticks reaching the
// screen at now.
func (s *screenLatency) record(arrivals []int64, now time.Time) {
	s.recentWindow.RecordPublished(now, arrivals, &s.all)
}

// recent summarises the last 10 to 20 seconds.
func (s *screenLatency) recent() model.LatencySummary { return s.recentWindow.Summary() }

// session summarises the whole session, for the exit summary.
func (s *screenLatency) session() model.LatencySummary { return s.all.Summary() }
