package simulator

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/quflx/quflx-tui/model"
)

// ReplayOptions configures a Replay.
type ReplayOptions struct {
	// Asset names the ticks of a file without an asset column; by default it comes from
	// the file name ("EURUSD_otc_ticks.csv" gives EURUSD_otc).
	Asset string
	// Date is the day of files that record only the time of day (default: today, UTC).
	Date time.Time
	// Speed plays the recording this many times faster than it was recorded (default 1).
	Speed float64
	// Loop starts again at the end, later in time, instead of stopping.
	Loop bool
	// KeepTime publishes the recorded timestamps. By default they are moved (and, with
	// Speed, compressed) onto the present, so that a dashboard sees a live feed; either
	// way their quirks (repeats, steps backwards) are kept.
	KeepTime bool
}

// Replay plays a recorded CSV (see model.CSVReader) in real time, with its quirks:
// duplicate rows are sent again, and a timestamp going backwards is sent right after its
// predecessor, as the recording has it.
type Replay struct {
	opts  ReplayOptions
	ticks []model.Tick
	pace  []int64 // per row: the largest timestamp so far, minus the first (µs)
	Stats model.CSVStats

	start time.Time // wall time of the first row
	pass  int       // completed loops
	i     int       // next row
}

var assetFromFile = regexp.MustCompile(`^([A-Za-z0-9]+(?:_otc)?)_`)

// LoadReplay reads path. Unreadable rows are skipped and counted in Stats.Bad.
func LoadReplay(path string, opts ReplayOptions, start time.Time) (*Replay, error) {
	if opts.Speed <= 0 {
		opts.Speed = 1
	}
	if opts.Asset == "" {
		if m := assetFromFile.FindStringSubmatch(filepath.Base(path)); m != nil {
			opts.Asset = m[1]
		}
	}
	if opts.Date.IsZero() {
		opts.Date = start.UTC()
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	defer f.Close()
	ticks, stats, err := model.ReadCSV(f, model.CSVOptions{Asset: opts.Asset, Date: opts.Date})
	if err != nil {
		return nil, fmt.Errorf("replay %s: %w", path, err)
	}
	if len(ticks) == 0 {
		return nil, fmt.Errorf("replay %s: no ticks (%d rows unreadable)", path, stats.Bad)
	}
	for _, t := range ticks {
		if t.Asset == "" {
			return nil, fmt.Errorf("replay %s: no asset column and none in the file name: give one", path)
		}
	}
	r := &Replay{opts: opts, ticks: ticks, Stats: stats, start: start, pace: make([]int64, len(ticks))}
	first, high := ticks[0].UnixMicro, ticks[0].UnixMicro
	for i, t := range ticks {
		high = max(high, t.UnixMicro)
		r.pace[i] = high - first
	}
	return r, nil
}

// span is the length of one pass in recorded time, plus a second between loops.
func (r *Replay) span() int64 { return r.pace[len(r.pace)-1] + 1e6 }

// wallOffset is when row i of the current pass falls due, in µs after start.
func (r *Replay) wallOffset(i int) int64 {
	return int64(float64(int64(r.pass)*r.span()+r.pace[i]) / r.opts.Speed)
}

// Due implements Source.
func (r *Replay) Due(now time.Time, dst []model.Tick) []model.Tick {
	elapsed := now.Sub(r.start).Microseconds()
	for r.i < len(r.ticks) && r.wallOffset(r.i) <= elapsed {
		t := r.ticks[r.i]
		recorded := t.UnixMicro - r.ticks[0].UnixMicro + int64(r.pass)*r.span()
		if r.opts.KeepTime {
			t.UnixMicro = r.ticks[0].UnixMicro + recorded
		} else {
			t.UnixMicro = r.start.UnixMicro() + int64(float64(recorded)/r.opts.Speed)
		}
		dst = append(dst, t)
		r.i++
		if r.i == len(r.ticks) && r.opts.Loop {
			r.i, r.pass = 0, r.pass+1
		}
	}
	return dst
}

// NextDue implements Source.
func (r *Replay) NextDue() (time.Time, bool) {
	if r.i >= len(r.ticks) {
		return time.Time{}, false
	}
	return r.start.Add(time.Duration(r.wallOffset(r.i)) * time.Microsecond), true
}

// Len returns the number of ticks in one pass.
func (r *Replay) Len() int { return len(r.ticks) }
