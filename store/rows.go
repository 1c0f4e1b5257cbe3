package store

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/quflx/quflx-tui/model"
)

// tickRow is a validated tick in the form both backends insert.
type tickRow struct {
	asset     string
	sec       int64 // QuFLX's timestamp column: floor(us / 1e6)
	us        int64
	price     float64 // the value of priceText
	priceText string  // canonical decimal, at most 10 decimal places
}

// tickKey is the idempotency key (pair, timestamp_us, price).
type tickKey struct {
	asset string
	us    int64
	price float64
}

func (r *tickRow) key() tickKey { return tickKey{r.asset, r.us, r.price} }

// ValidateTick reports why the store would refuse t, wrapping ErrInvalidTick, or nil. The
// flusher can use it to dead-letter a tick instead of failing its whole batch.
func ValidateTick(t model.Tick) error {
	_, err := newTickRow(t)
	return err
}

func newTickRow(t model.Tick) (tickRow, error) {
	if err := validateAsset(t.Asset); err != nil {
		return tickRow{}, fmt.Errorf("%w: %v", ErrInvalidTick, err)
	}
	text, price, err := canonicalPrice(t.Price)
	if err != nil {
		return tickRow{}, fmt.Errorf("%w: %v", ErrInvalidTick, err)
	}
	return tickRow{
		asset:     t.Asset,
		sec:       floorDiv(t.UnixMicro, 1e6),
		us:        t.UnixMicro,
		price:     price,
		priceText: text,
	}, nil
}

func validateAsset(asset string) error {
	switch {
	case asset == "":
		return fmt.Errorf("empty asset")
	case len(asset) > maxAssetLen:
		return fmt.Errorf("asset %.20q... longer than %d bytes", asset, maxAssetLen)
	case !utf8.ValidString(asset) || strings.ContainsRune(asset, 0):
		// PostgreSQL text refuses both.
		return fmt.Errorf("asset %q is not valid UTF-8 text", asset)
	}
	return nil
}

// maxPrice is the exclusive bound of decimal(20,10).
const maxPrice = 1e10

// canonicalPrice returns the decimal text a price is stored and keyed as: the shortest
// representation of the float64, rounded half away from zero (as PostgreSQL rounds numeric
// input) to decimal(20,10)'s 10 places when it has more, and the float64 of that text.
func canonicalPrice(p float64) (string, float64, error) {
	if math.IsNaN(p) || math.IsInf(p, 0) || p <= 0 || p >= maxPrice {
		return "", 0, fmt.Errorf("price %v is not in (0, 1e10)", p)
	}
	s := strconv.FormatFloat(p, 'f', -1, 64)
	if dot := strings.IndexByte(s, '.'); dot >= 0 && len(s)-dot-1 > 10 {
		s = roundDecimal(s, dot+10)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v <= 0 || v >= maxPrice {
		return "", 0, fmt.Errorf("price %v rounds to %s, outside (0, 1e10)", p, s)
	}
	return s, v, nil
}

// roundDecimal rounds the plain positive decimal s (digits, one '.') after index last,
// half away from zero, and trims trailing zeros.
func roundDecimal(s string, last int) string {
	roundUp := s[last+1] >= '5'
	b := []byte(s[:last+1])
	for i := len(b) - 1; roundUp && i >= 0; i-- {
		switch b[i] {
		case '.':
			continue
		case '9':
			b[i] = '0'
		default:
			b[i]++
			roundUp = false
		}
	}
	if roundUp {
		b = append([]byte{'1'}, b...)
	}
	out := strings.TrimRight(string(b), "0")
	return strings.TrimSuffix(out, ".")
}

// prepareTicks validates a batch and drops repeats of a key within it, keeping arrival
// order (it decides candle open and close between ticks of the same microsecond).
func prepareTicks(ticks []model.Tick) ([]tickRow, error) {
	rows := make([]tickRow, 0, len(ticks))
	seen := make(map[tickKey]struct{}, len(ticks))
	for i, t := range ticks {
		r, err := newTickRow(t)
		if err != nil {
			return nil, fmt.Errorf("store: tick %d of the batch: %w", i, err)
		}
		if _, dup := seen[r.key()]; dup {
			continue
		}
		seen[r.key()] = struct{}{}
		rows = append(rows, r)
	}
	return rows, nil
}

// candleDelta is what a batch's new ticks add to one 1-minute candle.
type candleDelta struct {
	asset                                  string
	start                                  int64
	open, high, low, close                 float64
	openText, highText, lowText, closeText string
	volume                                 int64
	openUs, closeUs                        int64
}

// minuteDeltas folds the new ticks (rows[i] where isNew[i], in arrival order) into
// 1-minute candle deltas with the same rules as the upsert: open is the earliest tick
// (the first to arrive among equals), close the latest (the last to arrive among equals).
// Sorted by asset and start so that concurrent writers lock rows in the same order.
func minuteDeltas(rows []tickRow, isNew []bool) []candleDelta {
	type bucket struct {
		asset string
		start int64
	}
	index := make(map[bucket]int)
	var out []candleDelta
	for i := range rows {
		if !isNew[i] {
			continue
		}
		r := &rows[i]
		k := bucket{r.asset, floorDiv(r.sec, 60) * 60}
		j, ok := index[k]
		if !ok {
			index[k] = len(out)
			out = append(out, candleDelta{
				asset: r.asset, start: k.start,
				open: r.price, high: r.price, low: r.price, close: r.price,
				openText: r.priceText, highText: r.priceText, lowText: r.priceText, closeText: r.priceText,
				volume: 1, openUs: r.us, closeUs: r.us,
			})
			continue
		}
		d := &out[j]
		if r.price > d.high {
			d.high, d.highText = r.price, r.priceText
		}
		if r.price < d.low {
			d.low, d.lowText = r.price, r.priceText
		}
		if r.us < d.openUs {
			d.open, d.openText, d.openUs = r.price, r.priceText, r.us
		}
		if r.us >= d.closeUs {
			d.close, d.closeText, d.closeUs = r.price, r.priceText, r.us
		}
		d.volume++
	}
	slices.SortFunc(out, func(a, b candleDelta) int {
		return cmp.Or(strings.Compare(a.asset, b.asset), cmp.Compare(a.start, b.start))
	})
	return out
}

// candleRow is a validated history candle for WriteCandles.
type candleRow struct {
	start                                  int64
	open, high, low, close                 float64
	openText, highText, lowText, closeText string
	volume                                 int64
}

func prepareCandles(asset string, candles []model.Candle) ([]candleRow, error) {
	if err := validateAsset(asset); err != nil {
		return nil, fmt.Errorf("store: write candles: %w: %v", ErrInvalidCandle, err)
	}
	out := make([]candleRow, 0, len(candles))
	index := make(map[int64]int, len(candles))
	for i, c := range candles {
		r, err := newCandleRow(c)
		if err != nil {
			return nil, fmt.Errorf("store: write candles: candle %d (start %d): %w", i, c.Start, err)
		}
		// A later candle for the same minute replaces an earlier one, as the upsert would.
		if j, ok := index[c.Start]; ok {
			out[j] = r
			continue
		}
		index[c.Start] = len(out)
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b candleRow) int { return cmp.Compare(a.start, b.start) })
	return out, nil
}

func newCandleRow(c model.Candle) (candleRow, error) {
	if c.Start%60 != 0 {
		return candleRow{}, fmt.Errorf("%w: start %d is not on a minute", ErrInvalidCandle, c.Start)
	}
	if c.Volume < 0 {
		return candleRow{}, fmt.Errorf("%w: negative volume %d", ErrInvalidCandle, c.Volume)
	}
	r := candleRow{start: c.Start, volume: c.Volume}
	var err error
	for _, p := range []struct {
		v    float64
		text *string
		val  *float64
	}{{c.Open, &r.openText, &r.open}, {c.High, &r.highText, &r.high}, {c.Low, &r.lowText, &r.low}, {c.Close, &r.closeText, &r.close}} {
		if *p.text, *p.val, err = canonicalPrice(p.v); err != nil {
			return candleRow{}, fmt.Errorf("%w: %v", ErrInvalidCandle, err)
		}
	}
	if r.low > min(r.open, r.close) || r.high < max(r.open, r.close) {
		return candleRow{}, fmt.Errorf("%w: range [%v, %v] does not hold open %v and close %v",
			ErrInvalidCandle, r.low, r.high, r.open, r.close)
	}
	return r, nil
}

// deadRow is a dead letter as stored: one per (asset, payload hash) of a batch.
type deadRow struct {
	asset, payload, reason, sha string
	first, last                 time.Time
	count                       int64
}

// Limits on what a dead letter keeps: it is bad input by definition (a 1 MB junk string is
// one of the feed's known shapes), so the row keeps a readable prefix while the hash still
// covers the whole payload.
const (
	maxDeadPayload = 64 << 10
	maxDeadReason  = 1 << 10
)

// prepareDead folds dead letters into storable rows, one per (asset, payload hash) with
// the number of entries it stands for, and returns the total of those. Text is made valid
// UTF-8 without NUL bytes, which PostgreSQL would refuse and so block every later flush.
func prepareDead(dead []DeadLetter, now time.Time) ([]deadRow, int64) {
	out := make([]deadRow, 0, len(dead))
	at := make(map[[2]string]int, len(dead))
	var total int64
	for _, d := range dead {
		sha := d.SHA256
		if sha == "" {
			sum := sha256.Sum256([]byte(d.Payload))
			sha = hex.EncodeToString(sum[:])
		}
		seen := d.At.UTC()
		if d.At.IsZero() {
			seen = now.UTC()
		}
		count := max(d.Count, 1)
		total += count
		asset := truncate(cleanText(d.Asset), maxAssetLen)
		k := [2]string{asset, sha}
		if i, dup := at[k]; dup {
			r := &out[i]
			r.count += count
			r.first, r.last = minTime(r.first, seen), maxTime(r.last, seen)
			continue
		}
		at[k] = len(out)
		out = append(out, deadRow{
			asset:   asset,
			payload: truncate(cleanText(d.Payload), maxDeadPayload),
			reason:  truncate(cleanText(d.Reason), maxDeadReason),
			sha:     sha,
			first:   seen, last: seen, count: count,
		})
	}
	return out, total
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func cleanText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// chunkSizes splits n rows into statements of maxRows rows and then powers of two, so that
// only log2(maxRows)+1 statement shapes ever exist and every one can stay prepared.
// maxRows must be a power of two.
func chunkSizes(n, maxRows int) []int {
	var sizes []int
	for ; n >= maxRows; n -= maxRows {
		sizes = append(sizes, maxRows)
	}
	for size := maxRows / 2; size >= 1; size /= 2 {
		if n >= size {
			sizes = append(sizes, size)
			n -= size
		}
	}
	return sizes
}
