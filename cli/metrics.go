package cli

import (
	"fmt"
	"io"

	"github.com/quflx/quflx-tui/metrics"
)

// startMetrics serves /metrics on --metrics ADDR until the mode ends (the caller closes
// it); without the flag it returns a nil exporter, whose every method does nothing.
// Modes register what they run: ex.Watch(watch), ex.Flusher(f), ex.Feeder(feeder), and
// the func gauges ex.AlertsFiring and ex.SSHSessions.
func startMetrics(cfg Config, errOut io.Writer) (*metrics.Exporter, error) {
	if cfg.Metrics == "" {
		return nil, nil
	}
	ex, err := metrics.Listen(cfg.Metrics)
	if err != nil {
		return nil, usageErr("--metrics %s: %v", cfg.Metrics, err)
	}
	// The dashboard owns the terminal: only the modes that print lines (every command
	// but the root's dashboard) say where.
	if cfg.NoUI || cfg.Command != "" {
		fmt.Fprintf(errOut, "quflx-tui: metrics at http://%s/metrics\n", ex.Addr())
	}
	return ex, nil
}
