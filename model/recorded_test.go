package model

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestCSVReaderTimeOnlyFileWithRepeatedHeader(t *testing.T) {
	f, err := os.Open("../testdata/ZARUSD_otc_ticks_timeonly.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	day := time.Date(2025, 10, 4, 0, 0, 0, 0, time.UTC)
	ticks, st, err := ReadCSV(f, CSVOptions{Date: day})
	if err != nil {
		t.Fatal(err)
	}
	if st.RepeatedHeader != 1 || st.Bad != 0 || len(ticks) != 4047 {
		t.Fatalf("stats %+v, %d ticks", st, len(ticks))
	}
	first := ticks[0]
	want := Tick{Asset: "ZARUSD_otc", Price: 0.1065, UnixMicro: day.Add(11*time.Hour + 12*time.Minute + 57*time.Second).UnixMicro()}
	if first != want {
		t.Fatalf("first %+v, want %+v", first, want)
	}
}

func TestCSVReaderNeedsDateForTimeOfDay(t *testing.T) {
	r := NewCSVReader(strings.NewReader("timestamp,asset,price\n11:12:57Z,ZARUSD_otc,0.1065\n"), CSVOptions{})
	_, err := r.Next()
	var rowErr *RowError
	if !errors.As(err, &rowErr) || rowErr.Line != 2 || !errors.Is(err, errNeedDate) {
		t.Fatalf("err = %v", err)
	}
}

func TestCSVReaderWrapsMidnightAndReportsBadRows(t *testing.T) {
	in := "time,price\n23:59:59Z,1.1\n00:00:01Z,1.2\nnot-a-time,1.3\n00:00:02Z,-4\n00:00:03Z,1.4\n"
	r := NewCSVReader(strings.NewReader(in), CSVOptions{Asset: "A", Date: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)})
	var got []Tick
	bad := 0
	for {
		tk, err := r.Next()
		if err != nil {
			var rowErr *RowError
			if errors.As(err, &rowErr) {
				bad++
				continue
			}
			break
		}
		got = append(got, tk)
	}
	if bad != 2 || len(got) != 3 {
		t.Fatalf("bad %d, got %+v", bad, got)
	}
	if got[1].UnixMicro-got[0].UnixMicro != 2e6 {
		t.Fatalf("midnight not wrapped: %d", got[1].UnixMicro-got[0].UnixMicro)
	}
}

func TestCSVReaderHeaderlessAndQuoted(t *testing.T) {
	in := "1752960407.177,1.15838\n\"1752960407.678\",\"1.1584\"\n"
	ticks, st, err := ReadCSV(strings.NewReader(in), CSVOptions{Asset: "EURUSD_otc"})
	if err != nil || len(ticks) != 2 || st.Bad != 0 {
		t.Fatalf("%v %+v %+v", err, ticks, st)
	}
	if ticks[1].UnixMicro != 1752960407678000 || ticks[1].Price != 1.1584 {
		t.Fatalf("quoted row %+v", ticks[1])
	}
}

func TestCSVReaderCandleColumnsInAnyOrder(t *testing.T) {
	in := "timestamp,open,close,high,low\n2025-10-04 19:16:00Z,0.97756,0.97757,0.97782,0.97732\n"
	ticks, _, err := ReadCSV(strings.NewReader(in), CSVOptions{Asset: "AUDCAD_otc"})
	if err != nil || len(ticks) != 1 {
		t.Fatal(err, ticks)
	}
	want := Tick{Asset: "AUDCAD_otc", Kind: KindCandle, UnixMicro: time.Date(2025, 10, 4, 19, 16, 0, 0, time.UTC).UnixMicro(),
		Open: 0.97756, Price: 0.97757, High: 0.97782, Low: 0.97732}
	if ticks[0] != want {
		t.Fatalf("got %+v want %+v", ticks[0], want)
	}
}
