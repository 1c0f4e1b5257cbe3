// Package metricstest scrapes and checks quflx-tui's /metrics in tests: promtool's
// linter on the exposition, and the value of one series.
package metricstest

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Scrape GETs http://addr/metrics and returns the exposition text.
func Scrape(t testing.TB, addr string) string {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape %s: %v", addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %s %v\n%s", addr, resp.Status, err, body)
	}
	return string(body)
}

// Value returns the value of the series named exactly so ("name" or `name{a="b"}`, the
// labels in the order the exposition writes them: sorted by name) and whether it is there.
func Value(exposition, series string) (float64, bool) {
	for line := range strings.Lines(exposition) {
		rest, ok := strings.CutPrefix(line, series+" ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
		return v, err == nil
	}
	return 0, false
}

// Sum adds the values of every series of the metric name (any labels).
func Sum(exposition, name string) float64 {
	var sum float64
	for line := range strings.Lines(exposition) {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (!strings.HasPrefix(rest, "{") && !strings.HasPrefix(rest, " ")) {
			continue
		}
		if strings.HasPrefix(rest, "{") {
			rest = rest[strings.LastIndex(rest, "}")+1:]
		}
		if f := strings.Fields(rest); len(f) > 0 {
			if v, err := strconv.ParseFloat(f[0], 64); err == nil {
				sum += v
			}
		}
	}
	return sum
}

// Promtool runs `promtool check metrics` on the exposition and fails the test on any
// finding. Without promtool the test is skipped, or fails under QUFLX_REQUIRE_REAL=1.
func Promtool(t testing.TB, exposition string) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("QUFLX_REQUIRE_REAL") == "1" {
			t.Fatalf("QUFLX_REQUIRE_REAL=1 but promtool is not installed (Debian: apt-get install prometheus): %v", err)
		}
		t.Skip("promtool not installed (Debian package prometheus); set QUFLX_REQUIRE_REAL=1 to make this a failure")
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = strings.NewReader(exposition)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out.String())
	}
}
