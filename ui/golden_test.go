package ui

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest"
)

// The dashboard as a program (teatest), at the two sizes the issue names, against golden
// files (regenerate with: go test ./ui -run Golden -update).
func TestGoldenScreens(t *testing.T) {
	for _, size := range [][2]int{{120, 40}, {80, 24}} {
		w, h := size[0], size[1]
		t.Run(fmt.Sprintf("%dx%d", w, h), func(t *testing.T) {
			opts, _ := fixtureOptions(8)
			m := New(opts)
			tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(w, h))
			// The chart's title names the history's source once it has loaded (the latency
			// panel's "cache hit" comes earlier, from the poll).
			teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte("4h  cache hit")) },
				teatest.WithDuration(10*time.Second), teatest.WithCheckInterval(20*time.Millisecond))
			tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("q")})
			tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
			golden.RequireEqual(t, []byte(m.Screen()))
		})
	}
}
