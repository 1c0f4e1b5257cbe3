package ui

import (
	"context"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/quflx/quflx-tui/model"
)

// recordingOutput keeps what the dashboard hands its output.
type recordingOutput struct {
	mu       sync.Mutex
	frames   []string
	arrivals []int
}

func (o *recordingOutput) Frame(text string, arrivals []int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.frames = append(o.frames, text)
	o.arrivals = append(o.arrivals, len(arrivals))
}

func (o *recordingOutput) Latency() model.LatencySummary { return model.LatencySummary{} }

func (o *recordingOutput) calls() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.frames)
}

// A paced frame follows the market's wake-up, after the reader's ticks were drained,
// and never sooner than a frame after the last one.
func TestPacedFrameFollowsTicks(t *testing.T) {
	mk := model.NewMarket(model.MarketOptions{})
	changes, stop := mk.Changes()
	defer stop()
	var drained int
	d := New(Options{Market: mk, FPS: 10, Changes: changes, Drain: func(context.Context) error {
		drained++
		return nil
	}})
	start := time.Now()
	d.frameDue = start.Add(100 * time.Millisecond)
	next := d.nextFrame()
	got := make(chan tea.Msg, 1)
	go func() { got <- next() }()
	mk.Add(model.Tick{Asset: "EURUSD_otc", Price: 1.08, UnixMicro: time.Now().UnixMicro()}, time.Now().UnixMicro())
	select {
	case msg := <-got:
		if _, ok := msg.(frameMsg); !ok {
			t.Fatalf("got %T, want a frame", msg)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no frame after a tick")
	}
	if drained != 1 {
		t.Fatalf("drained %d times before the frame, want 1", drained)
	}
	if since := time.Since(start); since < 100*time.Millisecond {
		t.Fatalf("a frame %s after the last at 10 fps", since)
	}
}

// With an output, a new frame and the arrivals of the ticks it shows are handed over
// once; a frame that changes nothing hands over nothing.
func TestOutputGetsEachFrameOnce(t *testing.T) {
	opts, b := fixtureOptions(4)
	out := &recordingOutput{}
	opts.Output = out
	m := New(opts)
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	if out.calls() != 1 {
		t.Fatalf("%d frames handed over after a resize, want 1", out.calls())
	}
	m.Update(pollMsg(b.Poll(context.Background())))
	m.Update(frameMsg(fixedNow))
	before := out.calls()
	for i := range 3 {
		us := fixedNow.UnixMicro() + int64(i)
		opts.Market.Add(model.Tick{Asset: "EURUSD_otc", Price: 1.2 + float64(i)/100, UnixMicro: us}, us)
	}
	m.Update(frameMsg(fixedNow))
	if out.calls() != before+1 || out.arrivals[len(out.arrivals)-1] != 3 {
		t.Fatalf("after three ticks: %d frames (want %d), last with %v arrivals", out.calls(), before+1, out.arrivals)
	}
	if out.frames[len(out.frames)-1] != m.Screen() {
		t.Fatal("the output got another frame than the screen's")
	}
	m.Update(frameMsg(fixedNow))
	if out.calls() != before+1 {
		t.Fatal("a frame that changed nothing was handed over")
	}
}
