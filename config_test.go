package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The config file in a real terminal: --theme auto (from the file) follows a white
// background, the keys are remapped, the watchlist has its group tabs.
func TestConfigFileInARealTerminal(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "quflx-tui"), 0o700)
	os.WriteFile(filepath.Join(dir, "quflx-tui", "config.toml"), []byte(`
theme = "auto"
rate = 20

[keys]
quit = "Q"

[[watchlist.groups]]
name = "majors"
assets = ["EURUSD_otc", "GBPUSD_otc"]
`), 0o600)
	rc, start := filepath.Join(dir, "rc"), filepath.Join(dir, "start")
	// The program starts once the pane is white, so that it asks a white terminal. It runs
	// with an environment of its own, not the runner's: termenv reads a set CI variable as
	// "not a terminal" and NO_COLOR as "no colour" (CI runners export either: the frame came
	// out colourless there), and a tmux whose default-terminal is plain "screen" reads as
	// colourless too.
	cmd := fmt.Sprintf("while [ ! -e %s ]; do sleep 0.05; done; "+
		"env -i PATH=%q HOME=%q TERM=tmux-256color XDG_CONFIG_HOME=%s XDG_CACHE_HOME=%s %s --demo; "+
		"echo EXIT:$? > %s; sleep 30", start, os.Getenv("PATH"), dir, dir, dir, binary, rc)
	s := newTmux(t, 120, 40, cmd)
	s.run("set", "-t", s.name, "window-style", "bg=#ffffff,fg=#000000")
	os.WriteFile(start, nil, 0o600)

	s.waitFor("the dashboard with its tabs", 15*time.Second, func(screen string) bool {
		return strings.Contains(screen, " all   majors ") && strings.Contains(screen, "Flusher") &&
			strings.Contains(screen, "AUDCAD_otc")
	})
	// The light palette: the focused watchlist's border in the light theme's blue (ANSI 4
	// in 16 colours, 25 in 256), not the dark theme's cyan (6).
	colours := s.run("capture-pane", "-p", "-e", "-t", s.name)
	border := lineWith(colours, "Watchlist")
	light := strings.Contains(border, "\x1b[34m") || strings.Contains(border, "\x1b[38;5;25m")
	if !light || strings.Contains(border, "\x1b[36m") || strings.Contains(border, "\x1b[38;5;6m") {
		t.Fatalf("not the light theme on a white terminal: %q", border[:min(len(border), 80)])
	}

	s.run("send-keys", "-t", s.name, "]")
	s.waitFor("the majors tab", 3*time.Second, func(screen string) bool {
		return watchlistRow(screen, "EURUSD_otc") != "" && watchlistRow(screen, "AUDCAD_otc") == ""
	})
	s.run("send-keys", "-t", s.name, "q") // remapped away: does nothing
	time.Sleep(500 * time.Millisecond)
	if _, err := os.Stat(rc); err == nil {
		t.Fatal("q still quits")
	}
	s.run("send-keys", "-t", s.name, "Q")
	s.waitExit(rc, 3*time.Second)
}

// config path and config print as a user runs them, and a world-readable file with a
// password refused with the fix named.
func TestConfigCommands(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "quflx-tui", "config.toml")
	os.MkdirAll(filepath.Dir(path), 0o700)
	os.WriteFile(path, []byte("fps = 20\n[connections.prod]\nredis = \"redis://u:pw-s3cret@h:6380/0\"\n"), 0o644)
	os.Chmod(path, 0o644)
	env := []string{"XDG_CONFIG_HOME=" + dir}
	if out, _, code := run(t, env, "config", "path"); code != 0 || strings.TrimSpace(out) != path {
		t.Fatalf("config path: %d %q", code, out)
	}
	_, errOut, code := run(t, env, "config", "print")
	if code != 2 || !strings.Contains(errOut, "chmod 600 "+path) || strings.Contains(errOut, "pw-s3cret") {
		t.Fatalf("a readable file with a password: exit %d: %s", code, errOut)
	}
	os.Chmod(path, 0o600)
	out, errOut, code := run(t, env, "config", "print")
	if code != 0 || !strings.Contains(out, "fps = 20") || !strings.Contains(out, "redis://u:***@h:6380/0") ||
		strings.Contains(out, "pw-s3cret") {
		t.Fatalf("config print: exit %d\n%s%s", code, out, errOut)
	}
}
