package store

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quflx/quflx-tui/model"
)

func TestCanonicalPrice(t *testing.T) {
	cases := []struct {
		in   float64
		want string
	}{
		{1.15838, "1.15838"},
		{2, "2"},
		{0.1065, "0.1065"},
		{math.Nextafter(1.15838, 2), "1.15838"}, // float noise beyond 10 places
		{0.12345678905, "0.1234567891"},         // half away from zero, like numeric input
		{0.12345678904999, "0.123456789"},
		{9.99999999995, "10"}, // carry through the decimal point
		{1234567.25, "1234567.25"},
	}
	for _, c := range cases {
		got, v, err := canonicalPrice(c.in)
		if err != nil || got != c.want {
			t.Errorf("canonicalPrice(%v) = %q, %v; want %q", c.in, got, err, c.want)
			continue
		}
		if want := mustParse(t, c.want); v != want {
			t.Errorf("canonicalPrice(%v) value = %v, want %v", c.in, v, want)
		}
	}
	for _, bad := range []float64{0, -1, math.NaN(), math.Inf(1), 1e10, 4e-11} {
		if s, _, err := canonicalPrice(bad); err == nil {
			t.Errorf("canonicalPrice(%v) = %q, want an error", bad, s)
		}
	}
}

func mustParse(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestValidateTick(t *testing.T) {
	ok := model.Tick{Asset: "EURUSD_otc", Price: 1.1, UnixMicro: 1752960407177000}
	if err := ValidateTick(ok); err != nil {
		t.Fatalf("valid tick refused: %v", err)
	}
	for name, tk := range map[string]model.Tick{
		"empty asset":  {Price: 1.1, UnixMicro: 1},
		"long asset":   {Asset: strings.Repeat("x", 65), Price: 1.1},
		"NUL in asset": {Asset: "EUR\x00USD", Price: 1.1},
		"bad UTF-8":    {Asset: "EUR\xffUSD", Price: 1.1},
		"NaN price":    {Asset: "A", Price: math.NaN()},
		"zero price":   {Asset: "A"},
		"huge price":   {Asset: "A", Price: 2e10},
	} {
		if err := ValidateTick(tk); !errors.Is(err, ErrInvalidTick) {
			t.Errorf("%s: got %v, want ErrInvalidTick", name, err)
		}
	}
	if err := ValidateTick(model.Tick{Asset: strings.Repeat("x", 64), Price: 1}); err != nil {
		t.Errorf("64-byte asset refused: %v", err)
	}
}

func TestPrepareTicksDropsRepeatsInArrivalOrder(t *testing.T) {
	ticks := []model.Tick{
		{Asset: "A", Price: 1.2, UnixMicro: 2},
		{Asset: "A", Price: 1.1, UnixMicro: 1},
		{Asset: "A", Price: 1.2, UnixMicro: 2},                         // exact resend
		{Asset: "A", Price: math.Nextafter(1.2, 2), UnixMicro: 2},      // the same at 10 places
		{Asset: "A", Price: 1.3, UnixMicro: 2},                         // same time, other price
		{Asset: "B", Price: 1.2, UnixMicro: 2},                         // other asset
		{Asset: "A", Price: 1.2, UnixMicro: 3, Kind: model.KindCandle}, // other time
	}
	rows, err := prepareTicks(ticks)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows {
		got = append(got, r.asset+"@"+r.priceText)
	}
	want := "A@1.2 A@1.1 A@1.3 B@1.2 A@1.2"
	if strings.Join(got, " ") != want {
		t.Fatalf("rows = %v, want %s", got, want)
	}
}

func TestMinuteDeltas(t *testing.T) {
	const m = 1752958800 // a minute start, in seconds
	us := func(sec float64) int64 { return int64((m + sec) * 1e6) }
	ticks := []model.Tick{
		{Asset: "A", Price: 1.3, UnixMicro: us(30)},
		{Asset: "A", Price: 1.1, UnixMicro: us(10)}, // earlier: the open
		{Asset: "A", Price: 1.5, UnixMicro: us(50)}, // latest: the close
		{Asset: "A", Price: 1.6, UnixMicro: us(50)}, // same time, arrived later: the close
		{Asset: "A", Price: 0.9, UnixMicro: us(20)}, // the low
		{Asset: "A", Price: 1.0, UnixMicro: us(10)}, // same time as the open, arrived later: not the open
		{Asset: "A", Price: 2.0, UnixMicro: us(65)}, // the next minute
		{Asset: "A", Price: 2.0, UnixMicro: us(-5)}, // the previous minute
		{Asset: "B", Price: 7.0, UnixMicro: us(1)},  // another asset
		{Asset: "A", Price: 9.9, UnixMicro: us(40)}, // not new: ignored
	}
	rows, err := prepareTicks(ticks)
	if err != nil {
		t.Fatal(err)
	}
	isNew := make([]bool, len(rows))
	for i := range isNew {
		isNew[i] = rows[i].price != 9.9
	}
	got := minuteDeltas(rows, isNew)
	if len(got) != 4 {
		t.Fatalf("got %d deltas, want 4: %+v", len(got), got)
	}
	if d := got[0]; d.asset != "A" || d.start != m-60 || d.volume != 1 {
		t.Errorf("first delta %+v, want A's previous minute", d)
	}
	d := got[1]
	if d.start != m || d.open != 1.1 || d.close != 1.6 || d.high != 1.6 || d.low != 0.9 || d.volume != 6 ||
		d.openUs != us(10) || d.closeUs != us(50) || d.closeText != "1.6" {
		t.Errorf("minute delta %+v", d)
	}
	if got[2].start != m+60 || got[3].asset != "B" {
		t.Errorf("order: %+v", got)
	}
}

func TestChunkSizes(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 511, 512, 513, 1024, 5000, 12345} {
		sizes := chunkSizes(n, 512)
		sum := 0
		for _, s := range sizes {
			if s <= 0 || s > 512 || s&(s-1) != 0 {
				t.Fatalf("chunkSizes(%d) has size %d", n, s)
			}
			sum += s
		}
		if sum != n {
			t.Fatalf("chunkSizes(%d) = %v sums to %d", n, sizes, sum)
		}
		if len(sizes) > n/512+9 {
			t.Fatalf("chunkSizes(%d) = %v: too many statements", n, sizes)
		}
	}
}

func TestAggregateMinutes(t *testing.T) {
	const h = 1752958800 // an hour start
	rows := []minuteRow{
		{start: h + 120, open: 1.3, high: 1.4, low: 1.2, close: 1.25, volume: 2, openUs: (h + 125) * 1e6, closeUs: (h + 170) * 1e6},
		{start: h, open: 1.0, high: 1.1, low: 0.9, close: 1.05, volume: 3, openUs: h * 1e6, closeUs: h * 1e6},
		// A '1M' legacy row and a '1m' row for one minute: legacy open, newer close.
		{start: h + 60, open: 1.1, high: 1.2, low: 1.0, close: 1.15, volume: 4, openUs: (h + 60) * 1e6, closeUs: (h + 60) * 1e6},
		{start: h + 60, open: 1.12, high: 1.5, low: 1.1, close: 1.18, volume: 1, openUs: (h + 70) * 1e6, closeUs: (h + 80) * 1e6},
		{start: h + 3600, open: 2, high: 2, low: 2, close: 2, volume: 1, openUs: (h + 3600) * 1e6, closeUs: (h + 3600) * 1e6},
	}
	got := aggregateMinutes(rows, model.TF1m)
	want := []model.Candle{
		{Start: h, Open: 1.0, High: 1.1, Low: 0.9, Close: 1.05, Volume: 3},
		{Start: h + 60, Open: 1.1, High: 1.5, Low: 1.0, Close: 1.18, Volume: 5},
		{Start: h + 120, Open: 1.3, High: 1.4, Low: 1.2, Close: 1.25, Volume: 2},
		{Start: h + 3600, Open: 2, High: 2, Low: 2, Close: 2, Volume: 1},
	}
	if !equalCandles(got, want) {
		t.Fatalf("1m:\n got %+v\nwant %+v", got, want)
	}
	got = aggregateMinutes(rows, model.TF1h)
	want = []model.Candle{
		{Start: h, Open: 1.0, High: 1.5, Low: 0.9, Close: 1.25, Volume: 10},
		{Start: h + 3600, Open: 2, High: 2, Low: 2, Close: 2, Volume: 1},
	}
	if !equalCandles(got, want) {
		t.Fatalf("1h:\n got %+v\nwant %+v", got, want)
	}
}

func equalCandles(a, b []model.Candle) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRedactDSN(t *testing.T) {
	cases := map[string]string{
		"postgres://quflx:s3cr3t@db.example.com:5432/quflx?sslmode=require": "postgres://quflx:***@db.example.com:5432/quflx?sslmode=require",
		"postgresql://u@h/db?password=s3cr3t&sslmode=verify-full":           "postgresql://u@h/db?password=***&sslmode=verify-full",
		"postgres://h/db":    "postgres://h/db",
		"mysql://u:s3cr3t@h": "mysql://u:***@h",
	}
	for in, want := range cases {
		if got := redactDSN(in); got != want {
			t.Errorf("redactDSN(%q) = %q, want %q", in, got, want)
		}
	}
	if got := redactDSN("host=h password=s3cr3t"); strings.Contains(got, "s3cr3t") {
		t.Errorf("redactDSN leaked the password: %q", got)
	}
}

func TestPrepareDead(t *testing.T) {
	at := time.Date(2025, 7, 20, 0, 0, 0, 0, time.UTC)
	big := strings.Repeat("é", maxDeadPayload) // two bytes a rune: cut mid-way
	rows, total := prepareDead([]DeadLetter{
		{Asset: "A", Payload: "not json", Reason: "x"},
		{Asset: "A", Payload: "not json", Reason: "resent", At: at.Add(time.Second), Count: 3}, // same key
		{Asset: "B\x00", Payload: "\xff\x00", Reason: "binary", At: at},
		{Asset: "A", Payload: big, Reason: "big"},
		{Asset: "A", Payload: "cut", Reason: "oversize", SHA256: strings.Repeat("ab", 32)},
	}, at)
	if len(rows) != 4 || total != 7 {
		t.Fatalf("got %d rows standing for %d entries, want 4 for 7", len(rows), total)
	}
	if r := rows[0]; r.count != 4 || !r.first.Equal(at) || !r.last.Equal(at.Add(time.Second)) {
		t.Errorf("repeated dead letter folded into %+v, want 4 occurrences over one second", r)
	}
	if r := rows[3]; r.sha != strings.Repeat("ab", 32) {
		t.Errorf("a given hash is kept: got %q", r.sha)
	}
	if r := rows[1]; r.asset != "B\uFFFD" || r.payload != "\uFFFD\uFFFD" || !r.first.Equal(at) {
		t.Errorf("binary dead letter stored as %+v", r)
	}
	if r := rows[2]; len(r.payload) > maxDeadPayload || !strings.HasPrefix(big, r.payload) || len(r.sha) != 64 {
		t.Errorf("big payload: %d bytes, sha %q", len(r.payload), r.sha)
	}
	if rows[0].sha == rows[2].sha {
		t.Error("different payloads share a hash")
	}
}
