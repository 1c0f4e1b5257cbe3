package model

import (
	"math"
	"testing"
)

func closes(vs ...float64) []Candle {
	out := make([]Candle, len(vs))
	for i, v := range vs {
		out[i] = Candle{Start: int64(i) * 60, Open: v, High: v, Low: v, Close: v, Volume: 1}
	}
	return out
}

// Values worked out by hand: SMA3 of 1 2 3 4 5 6 is -, -, 2, 3, 4, 5; EMA3 (alpha 0.5)
// starts from the SMA of the first three (2) and then halves the distance to each close:
// 2, (4+2)/2 = 3, (5+3)/2 = 4, (6+4)/2 = 5; with a jump to 10: (10+5)/2 = 7.5.
func TestMovingAverageByHand(t *testing.T) {
	cs := closes(1, 2, 3, 4, 5, 6, 10)
	nan := math.NaN()
	for _, c := range []struct {
		m    MovingAverage
		want []float64
	}{
		{MovingAverage{SMA, 3}, []float64{nan, nan, 2, 3, 4, 5, 7}},
		{MovingAverage{EMA, 3}, []float64{nan, nan, 2, 3, 4, 5, 7.5}},
		{MovingAverage{SMA, 7}, []float64{nan, nan, nan, nan, nan, nan, 31.0 / 7}},
		{MovingAverage{SMA, 8}, []float64{nan, nan, nan, nan, nan, nan, nan}},
	} {
		got := c.m.Compute(cs, nil)
		if len(got) != len(c.want) {
			t.Fatalf("%s: %d values", c.m, len(got))
		}
		for i := range got {
			if math.IsNaN(c.want[i]) != math.IsNaN(got[i]) || (!math.IsNaN(got[i]) && math.Abs(got[i]-c.want[i]) > 1e-12) {
				t.Fatalf("%s: value %d is %v, want %v (all: %v)", c.m, i, got[i], c.want[i], got)
			}
		}
	}
	// dst is reused.
	buf := make([]float64, 0, 16)
	if got := (MovingAverage{SMA, 2}).Compute(cs, buf); &got[0] != &buf[:1][0] {
		t.Fatal("a buffer with room was not reused")
	}
}

func TestParseMovingAverages(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string
	}{
		{"", ""},
		{"20", "sma20"},
		{"20,50", "sma20 sma50"},
		{"ema20, SMA50", "ema20 sma50"},
		{"EMA9", "ema9"},
	} {
		got, err := ParseMovingAverages(c.in)
		if err != nil {
			t.Fatalf("%q: %v", c.in, err)
		}
		s := ""
		for i, m := range got {
			if i > 0 {
				s += " "
			}
			s += m.String()
		}
		if s != c.want {
			t.Fatalf("%q: %q, want %q", c.in, s, c.want)
		}
	}
	for _, bad := range []string{"wma20", "20,50,100", "1", "ema", "ema0", "20,", "5000"} {
		if _, err := ParseMovingAverages(bad); err == nil {
			t.Fatalf("%q was accepted", bad)
		}
	}
}
