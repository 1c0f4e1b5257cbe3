package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quflx/quflx-tui/redisdata/redistest"
)

// needTools fails (QUFLX_REQUIRE_REAL=1) or skips when a program the test drives is
// missing.
func needTools(t *testing.T, names ...string) {
	t.Helper()
	for _, name := range names {
		if _, err := exec.LookPath(name); err != nil {
			if redistest.RequireReal() {
				t.Fatalf("QUFLX_REQUIRE_REAL=1 but %s is not installed", name)
			}
			t.Skipf("%s not installed", name)
		}
	}
}

// sshKey makes a key pair with ssh-keygen and returns the private key's path.
func sshKey(t *testing.T, dir, name string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	return path
}

var colourSGR = regexp.MustCompile(`\x1b\[[0-9;]*(3[0-7]|9[0-7]|4[0-7])[;m]`)

// The SSH issue's end-to-end test, with the real OpenSSH client in real terminals: each
// session drawn with its own colours, keys and size; a wrong key refused; several
// sessions at once, the one too many refused; q ends only that session; SIGTERM closes
// the rest cleanly.
func TestServeOverOpenSSH(t *testing.T) {
	needTools(t, "ssh", "ssh-keygen", "tmux")
	dir := t.TempDir()
	viewer, stranger := sshKey(t, dir, "viewer"), sshKey(t, dir, "stranger")
	pub, err := os.ReadFile(viewer + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	keys := filepath.Join(dir, "viewers")
	if err := os.WriteFile(keys, pub, 0o600); err != nil {
		t.Fatal(err)
	}
	port := redistest.FreePort(t)
	server, _, serverLog := startCmd(t, []string{"XDG_CACHE_HOME=" + dir}, "serve", "--demo", "--rate", "20",
		"--authorized-keys", keys, "--host-key", filepath.Join(dir, "host_key"),
		"--listen", fmt.Sprintf("127.0.0.1:%d", port), "--max-sessions", "3")
	waitOutput(t, serverLog, "serving its dashboard over SSH", 15*time.Second)

	ssh := func(key string, options ...string) []string {
		args := []string{"ssh", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
			"-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR", "-i", key, "-p", fmt.Sprint(port)}
		return append(append(args, options...), "127.0.0.1")
	}
	session := func(w, h int, env string, options ...string) *tmuxSession {
		cmd := env + " " + strings.Join(ssh(viewer, options...), " ") + "; echo SSHEXIT:$?; sleep 30"
		return newTmux(t, w, h, cmd)
	}
	colour := session(120, 40, "TERM=xterm-256color")
	plain := session(120, 40, "TERM=xterm-256color", "-o", "SetEnv=NO_COLOR=1")
	third := session(100, 30, "TERM=xterm-256color")

	panels := []string{"Watchlist", "Redis", "Cache", "Flusher", "Latency", "Events", "EURUSD_otc", "DEMO", "live"}
	for _, s := range []*tmuxSession{colour, plain, third} {
		s.waitFor("every panel", 15*time.Second, func(screen string) bool {
			for _, p := range panels {
				if !strings.Contains(screen, p) {
					return false
				}
			}
			return true
		})
	}
	// Colours are the session's: the server's own output is a pipe, with no colour at all.
	if !colourSGR.MatchString(colour.run("capture-pane", "-e", "-p", "-t", colour.name)) {
		t.Fatal("TERM=xterm-256color: no colours")
	}
	if m := colourSGR.FindString(plain.run("capture-pane", "-e", "-p", "-t", plain.name)); m != "" {
		t.Fatalf("NO_COLOR: coloured with %q", m)
	}

	// Keys are the session's: a timeframe and the help in one, not in the others.
	axis := regexp.MustCompile(`(?:(?:\d\d )?\d\d:\d\d +){2,}(?:\d\d )?\d\d:\d\d`) // the chart's time labels
	before := axis.FindString(colour.capture())
	colour.run("send-keys", "-t", colour.name, "5") // 4h candles
	colour.waitFor("the 4h chart", 5*time.Second, func(screen string) bool {
		got := axis.FindString(screen)
		return got != "" && got != before
	})
	colour.run("send-keys", "-t", colour.name, "?")
	colour.waitFor("the help", 3*time.Second, func(screen string) bool {
		return strings.Contains(screen, "previous panel") && strings.Contains(screen, "freeze display")
	})
	time.Sleep(500 * time.Millisecond)
	if strings.Contains(third.capture(), "previous panel") {
		t.Fatal("the help opened in another session")
	}
	colour.run("send-keys", "-t", colour.name, "Escape")

	// A fourth session is refused with a line saying why; so is a key not listed.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	fourth := exec.CommandContext(ctx, "ssh", append(ssh(viewer)[1:], "-tt")...)
	out, err := fourth.CombinedOutput()
	if code := fourth.ProcessState.ExitCode(); code != 1 || !strings.Contains(string(out), "already shows 3 sessions") {
		t.Fatalf("a fourth session: exit %d (%v), %q", code, err, out)
	}
	wrong := exec.CommandContext(ctx, "ssh", append(ssh(stranger, "-o", "BatchMode=yes")[1:], "-tt")...)
	out, _ = wrong.CombinedOutput()
	if code := wrong.ProcessState.ExitCode(); code != 255 || !strings.Contains(string(out), "Permission denied (publickey)") {
		t.Fatalf("an unlisted key: exit %d, %q", code, out)
	}

	// A resize reflows that session.
	third.run("resize-window", "-t", third.name, "-x", "80", "-y", "24")
	compact := third.waitFor("the compact layout", 5*time.Second, func(screen string) bool {
		lines := strings.Split(strings.TrimRight(screen, "\n"), "\n")
		return len(lines) <= 24 && strings.Contains(screen, "Watchlist") && strings.Contains(screen, "1m 5m 15m") &&
			!strings.Contains(screen, "─ Redis ─")
	})
	for i, l := range strings.Split(compact, "\n") {
		if w := len([]rune(l)); w > 80 {
			t.Fatalf("compact line %d is %d wide", i, w)
		}
	}

	// q ends that session only: the others keep moving.
	plain.run("send-keys", "-t", plain.name, "q")
	plain.waitFor("ssh's exit", 5*time.Second, func(screen string) bool { return strings.Contains(screen, "SSHEXIT:0") })
	for _, s := range []*tmuxSession{colour, third} {
		first := lineWith(s.capture(), "quflx-tui")
		s.waitFor("the clock moving", 3*time.Second, func(screen string) bool {
			return lineWith(screen, "quflx-tui") != first
		})
	}
	waitOutput(t, serverLog, ": quit (2 live)", 3*time.Second)

	// SIGTERM closes the sessions cleanly and stops the server.
	if err := server.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*tmuxSession{colour, third} {
		s.waitFor("the server's goodbye", 5*time.Second, func(screen string) bool {
			return strings.Contains(screen, "the server is shutting down") && strings.Contains(screen, "SSHEXIT:0")
		})
	}
	if modes := strings.TrimSpace(colour.run("display", "-p", "-t", colour.name,
		"#{alternate_on} #{mouse_any_flag} #{cursor_flag}")); modes != "0 0 1" {
		t.Fatalf("terminal not restored: alternate, mouse, cursor = %s", modes)
	}
	done := make(chan error, 1)
	go func() { done <- server.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v\n%s", err, serverLog.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("serve still running 10s after SIGTERM\n%s", serverLog.String())
	}
	t.Logf("server log:\n%s", serverLog.String())
}
