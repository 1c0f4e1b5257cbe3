// Package format renders figures for people, the same way everywhere: the dashboard's
// panels, status text, MCP results and closing summaries.
package format

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Price shows a price with the asset's decimals.
func Price(p float64, decimals int) string {
	if p == 0 {
		return "-"
	}
	return strconv.FormatFloat(p, 'f', decimals, 64)
}

// Signed shows a change with its sign.
func Signed(v float64, decimals int) string {
	s := strconv.FormatFloat(v, 'f', decimals, 64)
	if v >= 0 && !strings.HasPrefix(s, "-") {
		s = "+" + s
	}
	if strings.Trim(s, "+-0.") == "" {
		s = strings.Replace(strings.Replace(s, "-", "", 1), "+", "", 1) // no sign on zero
	}
	return s
}

// SI shows a count compactly: 999, 1.2k, 12k, 1.2M.
func SI(v float64) string {
	a := math.Abs(v)
	switch {
	case a < 1000:
		if a < 10 && a != math.Trunc(a) {
			return strconv.FormatFloat(v, 'f', 1, 64)
		}
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a < 10e3:
		return strconv.FormatFloat(v/1e3, 'f', 1, 64) + "k"
	case a < 1e6:
		return strconv.FormatFloat(v/1e3, 'f', 0, 64) + "k"
	case a < 10e6:
		return strconv.FormatFloat(v/1e6, 'f', 1, 64) + "M"
	default:
		return strconv.FormatFloat(v/1e6, 'f', 0, 64) + "M"
	}
}

// Bytes shows a size in binary units.
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + "B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return strconv.FormatFloat(float64(n)/float64(div), 'f', 1, 64) + string("KMGTP"[exp])
}

// Latency shows a duration at a precision that suits latencies.
func Latency(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Millisecond:
		return strconv.FormatFloat(float64(d)/1e6, 'f', 2, 64) + "ms"
	case d < 10*time.Millisecond:
		return strconv.FormatFloat(float64(d)/1e6, 'f', 1, 64) + "ms"
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	default:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	}
}

// Age shows how long ago: 0.3s, 12s, 4m, 2h, 3d.
func Age(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < 10*time.Second:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + "m"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d.Hours())) + "h"
	default:
		return strconv.Itoa(int(d.Hours()/24)) + "d"
	}
}

// Countdown shows a TTL as h:mm:ss or m:ss.
func Countdown(d time.Duration) string {
	s := int(d.Seconds())
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// Uptime shows a server uptime: 3d4h, 5h12m, 7m.
func Uptime(seconds int64) string {
	d := time.Duration(seconds) * time.Second
	switch {
	case d >= 24*time.Hour:
		return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
	case d >= time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
}

// Thousands shows an integer with thousands separators.
func Thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// Millis is a duration in milliseconds, with microsecond precision, for JSON.
func Millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
