package store

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/quflx/quflx-tui/model"
)

// minuteRow is one stored 1-minute candle. openUs and closeUs default to the minute's start
// for rows without them (QuFLX's own rows, backfilled history): such a row keeps its open
// against later ticks, and any later tick may move its close.
type minuteRow struct {
	start                  int64
	open, high, low, close float64
	volume                 int64
	openUs, closeUs        int64
}

// minuteSource is what a backend provides for Candles: both backends then share one
// aggregation, tested once.
type minuteSource interface {
	// latestMinuteBefore returns the start of asset's newest 1-minute row older than before.
	latestMinuteBefore(ctx context.Context, asset string, before int64) (start int64, ok bool, err error)
	// minuteRows returns asset's 1-minute rows with from <= start < to, in any order.
	minuteRows(ctx context.Context, asset string, from, to int64) ([]minuteRow, error)
}

// readCandles returns the newest limit candles of asset at tf that start before before
// (Unix seconds; math.MaxInt64 for the newest of all), oldest first. It reads only the
// 1-minute rows of the buckets it returns: it finds the newest row, reads the window of
// the limit buckets ending there, and, if gaps left that window short, repeats from the
// newest row before it.
func readCandles(ctx context.Context, src minuteSource, asset string, tf model.Timeframe, before int64, limit int) ([]model.Candle, error) {
	if tf <= 0 || tf%model.TF1m != 0 {
		return nil, fmt.Errorf("store: candles: timeframe %v is not a whole number of minutes", tf)
	}
	if limit <= 0 {
		return nil, nil
	}
	width := int64(tf)
	var windows [][]model.Candle // newest window first
	got := 0
	if before != math.MaxInt64 {
		// A bucket that starts before before may hold minutes after it: none of it is
		// wanted (the caller has that bucket), so the search starts at its start.
		before = floorDiv(before, width) * width
	}
	for got < limit {
		latest, ok, err := src.latestMinuteBefore(ctx, asset, before)
		if err != nil {
			return nil, fmt.Errorf("store: candles of %s: %w", asset, err)
		}
		if !ok {
			break
		}
		end := floorDiv(latest, width)*width + width
		need := int64(limit - got)
		from := int64(math.MinInt64 / 2)
		if need < (end-from)/width {
			from = end - need*width
		}
		rows, err := src.minuteRows(ctx, asset, from, end)
		if err != nil {
			return nil, fmt.Errorf("store: candles of %s: %w", asset, err)
		}
		before = from
		window := aggregateMinutes(rows, tf)
		if len(window) == 0 {
			continue // the newest row had no prices, or vanished between the two queries
		}
		windows = append(windows, window)
		got += len(window)
	}
	out := make([]model.Candle, 0, got)
	for i := len(windows) - 1; i >= 0; i-- {
		out = append(out, windows[i]...)
	}
	return out, nil
}

// aggregateMinutes folds 1-minute rows into candles of tf, oldest first: open of the
// earliest row, close of the latest (ties between rows of one minute, as with a '1m' and a
// '1M' row, go by openUs and closeUs), high the max, low the min, volume the sum.
func aggregateMinutes(rows []minuteRow, tf model.Timeframe) []model.Candle {
	slices.SortFunc(rows, func(a, b minuteRow) int {
		return cmp.Or(cmp.Compare(a.start, b.start), cmp.Compare(a.openUs, b.openUs))
	})
	width := int64(tf)
	var out []model.Candle
	var closeStart, closeUs int64
	for _, r := range rows {
		bucket := floorDiv(r.start, width) * width
		n := len(out)
		if n == 0 || out[n-1].Start != bucket {
			out = append(out, model.Candle{Start: bucket, Open: r.open, High: r.high, Low: r.low, Close: r.close, Volume: r.volume})
			closeStart, closeUs = r.start, r.closeUs
			continue
		}
		c := &out[n-1]
		c.High = max(c.High, r.high)
		c.Low = min(c.Low, r.low)
		c.Volume += r.volume
		// Rows are sorted by start then openUs, so the first row of a bucket holds its open.
		if r.start > closeStart || (r.start == closeStart && r.closeUs >= closeUs) {
			c.Close, closeStart, closeUs = r.close, r.start, r.closeUs
		}
	}
	return out
}
