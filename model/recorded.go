package model

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// CSVOptions says how to read a recorded file.
type CSVOptions struct {
	// Asset names the ticks of a file without an asset column.
	Asset string
	// Date is the day (in UTC) of files that record only the time of day ("11:12:57Z").
	Date time.Time
}

// CSVStats counts what a CSVReader met, quirks included.
type CSVStats struct {
	Lines          int // every line read
	Ticks          int // rows returned as ticks
	Empty          int // blank lines skipped
	RepeatedHeader int // header lines met again after the first
	Bad            int // rows returned as *RowError
}

// RowError is a row that could not be read. It does not stop the reader: call Next again.
type RowError struct {
	Line int
	Err  error
}

func (e *RowError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *RowError) Unwrap() error { return e.Err }

// CSVReader reads recorded ticks and candles: the files in shared/data and their like.
// Columns are found by header name (time/timestamp/date, price/value/quote, close, open,
// high, low, volume, asset/pair/symbol; in any order); a file without a header is read as
// time,price. Timestamps may be epoch numbers in any unit, ISO-8601, or a time of day that
// takes its date from CSVOptions.Date (moving to the next day when the clock wraps). A
// candle row becomes a candle-as-tick, exactly what the version-1 streaming server
// publishes. Duplicate rows and timestamps going backwards are returned as recorded:
// faithful replay is the point.
type CSVReader struct {
	sc      *bufio.Scanner
	opts    CSVOptions
	cols    csvColumns
	header  string
	fields  []string
	stats   CSVStats
	lastTOD int64 // last time-of-day in µs, to notice midnight
	dayUs   int64 // days added for midnight wraps, in µs
}

type csvColumns struct {
	time, price, close, open, high, low, volume, asset int
}

// NewCSVReader reads from r.
func NewCSVReader(r io.Reader, opts CSVOptions) *CSVReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	return &CSVReader{sc: sc, opts: opts, cols: csvColumns{-1, -1, -1, -1, -1, -1, -1, -1}, lastTOD: -1}
}

// Stats returns the counts so far.
func (c *CSVReader) Stats() CSVStats { return c.stats }

// Next returns the next tick, a *RowError for an unreadable row (reading may go on), or
// io.EOF.
func (c *CSVReader) Next() (Tick, error) {
	for c.sc.Scan() {
		c.stats.Lines++
		line := strings.TrimSpace(strings.TrimPrefix(c.sc.Text(), "\ufeff"))
		if line == "" {
			c.stats.Empty++
			continue
		}
		if c.header == "" && c.cols.time < 0 {
			if c.readHeader(line) {
				continue
			}
			c.cols.time, c.cols.price = 0, 1 // no header: time,price
			c.header = "\x00"
		}
		if line == c.header {
			c.stats.RepeatedHeader++
			continue
		}
		t, err := c.row(line)
		if err != nil {
			c.stats.Bad++
			return Tick{}, &RowError{Line: c.stats.Lines, Err: err}
		}
		c.stats.Ticks++
		return t, nil
	}
	if err := c.sc.Err(); err != nil {
		return Tick{}, fmt.Errorf("read csv: %w", err)
	}
	return Tick{}, io.EOF
}

// readHeader recognises a header line and maps its columns.
func (c *CSVReader) readHeader(line string) bool {
	names := splitCSV(line, nil)
	found := false
	for i, name := range names {
		col := &c.cols
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "time", "timestamp", "date", "datetime", "ts":
			col.time = i
		case "price", "value", "quote", "bid":
			col.price = i
		case "close":
			col.close = i
		case "open":
			col.open = i
		case "high":
			col.high = i
		case "low":
			col.low = i
		case "volume":
			col.volume = i
		case "asset", "pair", "symbol":
			col.asset = i
		default:
			continue
		}
		found = true
	}
	if !found {
		return false
	}
	c.header = line
	return true
}

func (c *CSVReader) row(line string) (Tick, error) {
	c.fields = splitCSV(line, c.fields[:0])
	get := func(i int) string {
		if i < 0 || i >= len(c.fields) {
			return ""
		}
		return strings.TrimSpace(c.fields[i])
	}
	var t Tick
	var err error
	if t.UnixMicro, err = c.timestamp(get(c.cols.time)); err != nil {
		return t, err
	}
	priceCol := c.cols.price
	if priceCol < 0 {
		priceCol = c.cols.close
	}
	if t.Price, err = csvPrice(get(priceCol)); err != nil {
		return t, fmt.Errorf("price: %w", err)
	}
	t.Asset = get(c.cols.asset)
	if t.Asset == "" {
		t.Asset = c.opts.Asset
	}
	if c.cols.open >= 0 && c.cols.high >= 0 && c.cols.low >= 0 {
		if t.Open, err = csvPrice(get(c.cols.open)); err != nil {
			return t, fmt.Errorf("open: %w", err)
		}
		if t.High, err = csvPrice(get(c.cols.high)); err != nil {
			return t, fmt.Errorf("high: %w", err)
		}
		if t.Low, err = csvPrice(get(c.cols.low)); err != nil {
			return t, fmt.Errorf("low: %w", err)
		}
		if v := get(c.cols.volume); v != "" {
			if t.Volume, err = csvPrice(v); err != nil {
				return t, fmt.Errorf("volume: %w", err)
			}
		}
		t.Kind = KindCandle
	}
	return t, nil
}

func csvPrice(s string) (float64, error) {
	n, ok := parseNumberString([]byte(s))
	if !ok {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	p := n.float()
	if err := checkPrice(p); err != nil {
		return 0, err
	}
	return p, nil
}

var errNeedDate = errors.New("time of day without a date: give the recording's date")

func (c *CSVReader) timestamp(s string) (int64, error) {
	if s == "" {
		return 0, errors.New("empty timestamp")
	}
	if n, ok := parseNumberString([]byte(s)); ok {
		if us := epochToMicros(n.float()); us >= minUnixMicro {
			return us, nil
		}
		return 0, fmt.Errorf("timestamp %q is not a plausible epoch", s)
	}
	if t, ok := parseISOTime([]byte(s)); ok {
		return t.UnixMicro(), nil
	}
	if tod, ok := parseTimeOfDay(s); ok {
		if c.opts.Date.IsZero() {
			return 0, errNeedDate
		}
		const day = int64(24 * time.Hour / time.Microsecond)
		// A clock that jumps back by more than 12 hours has passed midnight.
		if c.lastTOD >= 0 && tod < c.lastTOD-day/2 {
			c.dayUs += day
		}
		c.lastTOD = tod
		y, m, d := c.opts.Date.UTC().Date()
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).UnixMicro() + c.dayUs + tod, nil
	}
	return 0, fmt.Errorf("timestamp %q is neither epoch, ISO-8601 nor a time of day", s)
}

// parseTimeOfDay reads "HH:MM:SS", optionally with fractional seconds and a trailing Z,
// into microseconds since midnight.
func parseTimeOfDay(s string) (int64, bool) {
	s = strings.TrimSuffix(s, "Z")
	for _, layout := range [...]string{"15:04:05", "15:04"} {
		if t, err := time.Parse(layout, s); err == nil {
			return (int64(t.Hour())*3600+int64(t.Minute())*60+int64(t.Second()))*1e6 +
				int64(t.Nanosecond()/1e3), true
		}
	}
	return 0, false
}

// splitCSV splits a line on commas, honouring double-quoted fields.
func splitCSV(line string, dst []string) []string {
	for {
		if strings.HasPrefix(line, `"`) {
			end := strings.Index(line[1:], `"`)
			if end >= 0 {
				field := line[1 : 1+end]
				rest := line[2+end:]
				dst = append(dst, field)
				if i := strings.IndexByte(rest, ','); i >= 0 {
					line = rest[i+1:]
					continue
				}
				return dst
			}
		}
		i := strings.IndexByte(line, ',')
		if i < 0 {
			return append(dst, line)
		}
		dst = append(dst, line[:i])
		line = line[i+1:]
	}
}

// ReadCSV reads a whole recording, returning its ticks and the count of unreadable rows.
func ReadCSV(r io.Reader, opts CSVOptions) ([]Tick, CSVStats, error) {
	cr := NewCSVReader(r, opts)
	var ticks []Tick
	for {
		t, err := cr.Next()
		var rowErr *RowError
		switch {
		case err == nil:
			ticks = append(ticks, t)
		case errors.As(err, &rowErr):
		case errors.Is(err, io.EOF):
			return ticks, cr.Stats(), nil
		default:
			return ticks, cr.Stats(), err
		}
	}
}
