package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The chart explored in a real terminal, against the demo's store of 72 hours of history:
// zoomed fully out (older history paged in from the store), panned back, read with the
// crosshair, and back to the live edge.
func TestChartExploredInARealTerminal(t *testing.T) {
	dir := t.TempDir()
	rc := filepath.Join(dir, "rc")
	cmd := fmt.Sprintf("XDG_CACHE_HOME=%s %s --demo --rate 20 --ma ema20,sma50; echo EXIT:$? > %s; sleep 30", dir, binary, rc)
	s := newTmux(t, 160, 45, cmd)
	s.waitFor("the chart's history", 15*time.Second, func(screen string) bool {
		return strings.Contains(screen, "cache hit") || strings.Contains(screen, "store ")
	})
	// One key at a time: keys that arrive together are read as one (pasted) text.
	keys := func(k ...string) {
		for _, key := range k {
			s.run("send-keys", "-t", s.name, "-l", "--", key)
			time.Sleep(30 * time.Millisecond)
		}
	}
	named := func(k ...string) {
		for _, key := range k {
			s.run("send-keys", "-t", s.name, key)
			time.Sleep(30 * time.Millisecond)
		}
	}

	keys("-", "-", "-", "-")
	s.waitFor("zoomed fully out, older history loaded", 15*time.Second, func(screen string) bool {
		title := lineWith(screen, "zoom 1/16")
		return strings.Contains(title, "older: store") && !strings.Contains(title, "loading")
	})
	named("Tab")
	keys("h")
	s.waitFor("panned back", 5*time.Second, func(screen string) bool {
		return strings.Contains(lineWith(screen, "zoom 1/16"), "(end)")
	})
	keys("x")
	screen := s.waitFor("the crosshair's readout", 5*time.Second, func(screen string) bool {
		return strings.Contains(screen, " O ") && strings.Contains(screen, " ticks ") && strings.Contains(screen, "EMA20")
	})
	if !strings.Contains(screen, "┊") {
		t.Fatalf("no crosshair line:\n%s", screen)
	}
	named("Left", "Left", "Escape", "End")
	keys("+", "+", "+", "+")
	s.waitFor("the live edge at the default zoom", 5*time.Second, func(screen string) bool {
		return !strings.Contains(screen, "(end)") && !strings.Contains(screen, "zoom ") && !strings.Contains(screen, " ticks ")
	})

	keys("q")
	s.waitExit(rc, 3*time.Second)
}
