package cli

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/quflx/quflx-tui/model"
)

func TestAlertFlags(t *testing.T) {
	cfg, err := Parse([]string{"--alert-price", "EURUSD_otc>1.0900", "--alert-price", "GBPUSD_otc < 1.25",
		"--alert-hold", "2s", "--alert-bell", "--alert-exec", "notify-send quflx", "--no-ui"}, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Alerts
	want := []model.PriceRule{{Asset: "EURUSD_otc", Above: true, Level: 1.09, Text: "EURUSD_otc>1.0900"},
		{Asset: "GBPUSD_otc", Level: 1.25, Text: "GBPUSD_otc<1.25"}}
	if len(a.Prices) != 2 || a.Prices[0] != want[0] || a.Prices[1] != want[1] || a.Hold != 2*time.Second || !a.Bell ||
		a.Exec != "notify-send quflx" || a.ExecTimeout != 10*time.Second {
		t.Fatalf("%+v", a)
	}
	if cfg, _ := Parse(nil, envOf(nil)); cfg.Alerts.Hold != model.DefaultAlertHold || len(cfg.Alerts.Prices) != 0 {
		t.Fatalf("defaults %+v", cfg.Alerts)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--alert-price", "EURUSD_otc=1.09"}, `--alert-price "EURUSD_otc=1.09": want ASSET>LEVEL or ASSET<LEVEL`},
		{[]string{"--alert-price", "EURUSD_otc>one"}, `level "one" is not a number`},
		{[]string{"--alert-price", ">1.09"}, "no asset before >"},
		{[]string{"--alert-hold", "-1s"}, "--alert-hold -1s: must not be negative"},
		{[]string{"--alert-exec-timeout", "0s"}, "--alert-exec-timeout 0s: want at least 100ms"},
		{[]string{"status", "--alert-bell"}, `--alert-bell is not a flag of "quflx-tui status"`},
	} {
		_, err := Parse(c.args, envOf(nil))
		var ue *UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%v) = %v, want a usage error containing %q", c.args, err, c.want)
		}
	}
}

// The bell is written by the terminal writer between frames, never inside one, and a
// burst of alerts rings at most three times.
func TestTerminalWriterRingsTheBell(t *testing.T) {
	out := &syncBuffer{}
	w := newTerminalWriter(out)
	for range 5 { // rung before the writer runs: they are waiting together
		w.Bell()
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	waitWritten(t, out, 2)
	if got := out.take(); got != enterModes+"\a\a\a" {
		t.Fatalf("%q", got)
	}
	w.Frame("aaa\nbbb", nil)
	waitWritten(t, out, 3)
	out.take()
	w.Bell()
	waitWritten(t, out, 4)
	if got := out.take(); got != "\a" {
		t.Fatalf("%q", got)
	}
	w.Frame("aaa\nBBB", nil)
	waitWritten(t, out, 5)
	if got := out.take(); strings.Contains(got, "\a") {
		t.Fatalf("a frame rang again: %q", got)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w.Bell() // after the screen is given back: nothing, and no panic
	if got := out.take(); strings.Contains(got, "\a") {
		t.Fatalf("rang after close: %q", got)
	}
}
