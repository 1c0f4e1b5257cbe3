package cli

import (
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/quflx/quflx-tui/model"
)

// terminalWriter paints the dashboard's frames in place of Bubble Tea's renderer, which
// writes on a clock of its own: up to 1/60 s after a frame is made, and 60 wake-ups a
// second when nothing moves. It writes a frame as soon as it is handed one, only the lines
// that changed, from a goroutine of its own so that the event loop never waits on a slow
// terminal (a newer frame replaces one not yet written), and measures publish-to-terminal
// latency when the write returns.
type terminalWriter struct {
	out io.Writer

	mu       sync.Mutex
	text     string
	arrivals []int64
	fresh    bool // text not yet written
	clear    bool // the screen must be cleared and every line written (a new size)
	width    int
	closed   bool
	bells    int // BELs to write with the next write
	recent   model.LatencyWindow
	session  model.LatencyHistogram

	wake chan struct{}
	done chan struct{}

	// Only the writing goroutine uses these.
	shown []string // the lines on screen
	buf   []byte
	taken []int64
}

// Terminal modes the dashboard runs in, and their undoing.
const (
	enterModes = "\x1b[?1049h" + // alternate screen
		"\x1b[?25l" + // hide the cursor
		"\x1b[?1002h\x1b[?1006h" + // mouse: buttons and drags, SGR encoding
		"\x1b[2J\x1b[H"
	leaveModes = "\x1b[?1002l\x1b[?1006l" + "\x1b[?25h" + "\x1b[?1049l"
)

func newTerminalWriter(out io.Writer) *terminalWriter {
	return &terminalWriter{out: out, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// Start sets the terminal's modes and starts writing.
func (w *terminalWriter) Start() error {
	if _, err := io.WriteString(w.out, enterModes); err != nil {
		return err
	}
	go w.run()
	return nil
}

// Close stops writing and gives the terminal back as it was.
func (w *terminalWriter) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	close(w.wake)
	<-w.done
	_, err := io.WriteString(w.out, leaveModes)
	return err
}

// Resize says the terminal is now width columns wide: the next frame clears the screen
// and is written whole (a terminal reflows what it shows when resized).
func (w *terminalWriter) Resize(width, _ int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.width, w.clear = width, true
}

// Frame implements ui.FrameOutput.
func (w *terminalWriter) Frame(text string, arrivals []int64) {
	w.mu.Lock()
	w.text, w.fresh = text, true
	w.arrivals = append(w.arrivals, arrivals...)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Bell rings the terminal's bell with the next write (an alert fired and the user asked
// for it): written here, between frames, never inside one.
func (w *terminalWriter) Bell() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return // the alerts outlive the screen by a moment when quitting
	}
	w.bells = min(w.bells+1, 3) // a burst of alerts is one ring or three, not a minute of them
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Latency implements ui.FrameOutput: the last 10 to 20 seconds.
func (w *terminalWriter) Latency() model.LatencySummary {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.recent.Summary()
}

// Session is publish-to-terminal latency over the whole run.
func (w *terminalWriter) Session() model.LatencySummary {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.session.Summary()
}

func (w *terminalWriter) run() {
	defer close(w.done)
	for range w.wake {
		w.mu.Lock()
		text, fresh, clear, width, bells := w.text, w.fresh, w.clear, w.width, w.bells
		w.fresh, w.clear, w.bells = false, false, 0
		w.taken = append(w.taken[:0], w.arrivals...)
		w.arrivals = w.arrivals[:0]
		w.mu.Unlock()
		if fresh || clear {
			if _, err := w.out.Write(w.paint(text, clear, width)); err != nil {
				return // the terminal is gone; the program ends on its own
			}
		}
		if bells > 0 {
			if _, err := io.WriteString(w.out, strings.Repeat("\a", bells)); err != nil {
				return
			}
		}
		// The ticks are on screen now (or were already shown as well as they will be).
		now := time.Now()
		w.mu.Lock()
		w.recent.RecordPublished(now, w.taken, &w.session)
		w.mu.Unlock()
	}
}

// paint returns what turns the screen into text: the lines that differ from those shown,
// each written where it goes and cleared to its end.
func (w *terminalWriter) paint(text string, clear bool, width int) []byte {
	b := w.buf[:0]
	if clear {
		b = append(b, "\x1b[2J"...)
		w.shown = w.shown[:0]
	}
	n := 0
	for line := range strings.SplitSeq(text, "\n") {
		if n >= len(w.shown) || w.shown[n] != line {
			b = append(b, "\x1b["...)
			b = strconv.AppendInt(b, int64(n+1), 10)
			b = append(b, ";1H"...)
			b = append(b, line...)
			// Clearing after a full-width line would erase its last cell.
			if width == 0 || ansi.StringWidth(line) < width {
				b = append(b, "\x1b[K"...)
			}
			if n < len(w.shown) {
				w.shown[n] = line
			} else {
				w.shown = append(w.shown, line)
			}
		}
		n++
	}
	if n < len(w.shown) { // a shorter frame: clear what the longer one left below
		b = append(b, "\x1b["...)
		b = strconv.AppendInt(b, int64(n+1), 10)
		b = append(b, ";1H\x1b[J"...)
		w.shown = w.shown[:n]
	}
	w.buf = b
	return b
}
