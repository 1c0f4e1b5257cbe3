package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/quflx/quflx-tui/alert"
	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata"
	"github.com/quflx/quflx-tui/ui"
)

const groupAlerts = "ALERTS"

// alertFlags are the alert rules and notifiers of the dashboard and --no-ui.
type alertFlags struct {
	cfg    *Config
	prices []string
}

func addAlertFlags(cmd *cobra.Command, cfg *Config) *alertFlags {
	a := &alertFlags{cfg: cfg}
	ac := &cfg.Alerts
	inGroup(cmd, groupAlerts, func(fs *pflag.FlagSet) {
		fs.StringArrayVar(&a.prices, "alert-price", nil, "alert while an asset's last price is above or below a "+
			"level: `ASSET>LEVEL` or ASSET<LEVEL, e.g. 'EURUSD_otc>1.0900' (repeatable). Everything the health "+
			"check judges (a stale feed, a full buffer, a silent flusher, a full backlog, an expired cache key, "+
			"an unreachable server) is an alert too")
		fs.DurationVar(&ac.Hold, "alert-hold", ac.Hold, "an alert fires once its condition has held for "+
			"`DURATION` and resolves once it has been gone as long: no flapping (0: at once)")
		fs.BoolVar(&ac.Bell, "alert-bell", false, "ring the terminal bell when an alert fires")
		fs.StringVar(&ac.Exec, "alert-exec", "", "run `CMD` (with sh -c) for each alert firing or resolving, "+
			"one JSON object on its stdin: state, rule, asset, subject, value, threshold, reason, at. Run one at "+
			"a time from a queue, never waited for; its failures are shown. Its environment is this one's "+
			"without the Redis credentials")
		fs.DurationVar(&ac.ExecTimeout, "alert-exec-timeout", ac.ExecTimeout, "kill an --alert-exec run after "+
			"`DURATION`")
	})
	return a
}

func (a *alertFlags) resolve() error {
	ac := &a.cfg.Alerts
	ac.Prices = nil
	for _, p := range a.prices {
		rule, err := model.ParsePriceRule(p)
		if err != nil {
			return usageErr("--alert-price %v", err)
		}
		ac.Prices = append(ac.Prices, rule)
	}
	if ac.Hold < 0 {
		return usageErr("--alert-hold %v: must not be negative", ac.Hold)
	}
	if ac.ExecTimeout < 100*time.Millisecond {
		return usageErr("--alert-exec-timeout %v: want at least 100ms", ac.ExecTimeout)
	}
	return nil
}

// newAlertRunner is the alert runner of a watch session configured by cfg; log (nil:
// none) receives each transition and each failure of the command, as a line.
func newAlertRunner(cfg Config, log func(string)) *alert.Runner {
	return alert.NewRunner(alert.Options{Hold: cfg.Alerts.Hold, Prices: cfg.Alerts.Prices, Log: log,
		Exec: alert.ExecOptions{Command: cfg.Alerts.Exec, Timeout: cfg.Alerts.ExecTimeout}})
}

// alertGrace is how long quitting waits for --alert-exec to take the last transitions.
const alertGrace = 2 * time.Second

// alertsMsg is the runner's state as the dashboard takes it.
func alertsMsg(st alert.State) ui.AlertsMsg {
	msg := ui.AlertsMsg{Firing: st.Firing, Events: make([]ui.AlertEvent, len(st.Events))}
	for i, e := range st.Events {
		msg.Events[i] = ui.AlertEvent{Seq: e.Seq, Event: redisdata.Event{At: e.At, Kind: e.Kind, Text: e.Text}}
	}
	return msg
}

// followAlerts sends a dashboard the runner's state on each change until ctx ends, and
// rings the bell (when not nil) for each alert that fires. One per dashboard: a session
// serving several sends each its own.
func followAlerts(ctx context.Context, r *alert.Runner, send func(ui.AlertsMsg), bell func()) {
	wake, stop := r.Wake()
	defer stop()
	var seq uint64
	for first := true; ; first = false {
		if !first { // the first state is sent at once: alerts may have fired before the dashboard
			select {
			case <-ctx.Done():
				return
			case <-wake:
			}
		}
		st := r.State()
		ring := false
		for _, e := range st.Events {
			if e.Seq > seq {
				seq = e.Seq
				ring = ring || e.Kind == alert.KindFiring
			}
		}
		if ring && bell != nil {
			bell()
		}
		send(alertsMsg(st))
	}
}

// printAlerts writes the events after seq as lines (the plain monitor's) and returns the
// last one written.
func printAlerts(out io.Writer, st alert.State, seq uint64, bell bool) uint64 {
	for _, e := range st.Events {
		if e.Seq <= seq {
			continue
		}
		seq = e.Seq
		line := e.At.Format("15:04:05") + " "
		if e.Kind == alert.KindExec {
			line += e.Kind + ": "
		} else {
			line += "ALERT " + e.Kind + " " // firing, resolved
		}
		line += model.Printable(e.Text)
		if bell && e.Kind == alert.KindFiring {
			line += "\a" // the one control character written on purpose: the user asked for it
		}
		fmt.Fprintln(out, line)
	}
	return seq
}
