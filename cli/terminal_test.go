package cli

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a terminal that records what is written to it.
type syncBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	return s.b.Write(p)
}

// take returns what was written since the last take.
func (s *syncBuffer) take() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.b.String()
	s.b.Reset()
	return out
}

func waitWritten(t *testing.T, s *syncBuffer, writes int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		n := s.writes
		s.mu.Unlock()
		if n >= writes {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d writes, want %d", n, writes)
		}
		time.Sleep(time.Millisecond)
	}
}

// The writer sets the terminal's modes, writes only the lines that changed, clears
// what a shorter frame leaves, repaints whole after a resize, and gives the terminal
// back; the ticks a frame shows are measured when it is written.
func TestTerminalWriterPaintsChangedLines(t *testing.T) {
	out := &syncBuffer{}
	w := newTerminalWriter(out)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	if got := out.take(); got != enterModes {
		t.Fatalf("modes %q", got)
	}
	w.Resize(5, 3)
	w.Frame("aaaaa\nbbb\nccc", nil)
	waitWritten(t, out, 2)
	if got := out.take(); got != "\x1b[2J\x1b[1;1Haaaaa\x1b[2;1Hbbb\x1b[K\x1b[3;1Hccc\x1b[K" {
		t.Fatalf("first frame %q", got)
	}
	published := time.Now().Add(-5 * time.Millisecond).UnixMicro()
	w.Frame("aaaaa\nBBB\nccc", []int64{published, published})
	waitWritten(t, out, 3)
	if got := out.take(); got != "\x1b[2;1HBBB\x1b[K" {
		t.Fatalf("one changed line: %q", got)
	}
	if s := w.Session(); s.Count != 2 || s.P50 < 5*time.Millisecond {
		t.Fatalf("latency %+v, want two samples of 5 ms or more", s)
	}
	w.Frame("aaaaa", nil)
	waitWritten(t, out, 4)
	if got := out.take(); got != "\x1b[2;1H\x1b[J" {
		t.Fatalf("a shorter frame: %q", got)
	}
	w.Resize(6, 3)
	w.Frame("aaaaa", nil)
	waitWritten(t, out, 5)
	if got := out.take(); got != "\x1b[2J\x1b[1;1Haaaaa\x1b[K" {
		t.Fatalf("after a resize: %q", got)
	}
	// The same frame again writes nothing, but its ticks are on screen.
	w.Frame("aaaaa", []int64{time.Now().UnixMicro()})
	deadline := time.Now().Add(5 * time.Second)
	for w.Session().Count != 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if w.Session().Count != 3 {
		t.Fatal("the ticks of an unchanged frame were not counted")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := out.take(); !strings.HasSuffix(got, leaveModes) || strings.Contains(got, "aaaaa") {
		t.Fatalf("on close %q", got)
	}
}
