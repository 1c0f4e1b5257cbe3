package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/ssh"
	"github.com/muesli/termenv"
	gossh "golang.org/x/crypto/ssh"

	"github.com/quflx/quflx-tui/ui"
)

// One viewer's dashboard over an SSH session: its own size, theme, colour profile and
// keys over the server's shared watch session.

// show runs the session's dashboard until the viewer quits, goes idle or away, or the
// server stops, and says which.
func (s *sshServer) show(sess ssh.Session, sizes <-chan ssh.Window) string {
	ctx, cancel := context.WithCancel(sess.Context())
	defer cancel()
	defer context.AfterFunc(s.stopping, cancel)()

	cfg := s.cfg
	// --theme auto asks the session's terminal, before the dashboard reads its keys; the
	// keys typed meanwhile are kept for it.
	env := sessionEnv(sess.Environ())
	keys := io.Reader(sess)
	dark := themeIsDark(cfg.Theme, func() (bool, bool) {
		if env.Getenv("TERM") == "dumb" {
			return false, false
		}
		dark, known, rest := probeBackground(sess, sess, backgroundPatience)
		keys = rest
		return dark, known
	}, env.lookup)
	renderer := sessionRenderer(sess, env)
	renderer.SetHasDarkBackground(dark)

	screen := newTerminalWriter(sess)
	if err := screen.Start(); err != nil {
		return "connection lost"
	}
	market := s.watch.Market()
	changes, stopChanges := market.Changes()
	defer stopChanges()
	m := ui.New(ui.Options{
		Backend: serveBackend{backend{s.watch}, s.history},
		Market:  market, Info: s.info, FPS: cfg.FPS, PollEvery: cfg.PollInterval, Stale: cfg.Stale,
		ASCII: cfg.ASCII, Thresholds: cfg.Status.Thresholds, Averages: cfg.Averages,
		PubSubOnly: cfg.Topology.PubSubOnly, Pipeline: s.watch.Pipeline(),
		Light: !dark, Keys: cfg.Keys, Groups: cfg.Groups, Renderer: renderer,
		Changes: changes, Drain: s.watch.Drain, Output: screen,
	})

	var idle atomic.Bool
	touch := func() {}
	if d := cfg.Serve.IdleTimeout; d > 0 {
		timer := time.AfterFunc(d, func() { idle.Store(true); cancel() })
		defer timer.Stop()
		touch = func() { timer.Reset(d) }
	}
	prog := tea.NewProgram(m, tea.WithoutRenderer(), tea.WithContext(ctx), tea.WithInput(keys),
		tea.WithOutput(io.Discard), tea.WithoutSignalHandler(),
		tea.WithFilter(func(_ tea.Model, msg tea.Msg) tea.Msg {
			switch msg := msg.(type) {
			case tea.WindowSizeMsg:
				// Any client chooses its size: bounded here, before the writer and the
				// dashboard size anything by it.
				msg.Width, msg.Height = ui.ClampSize(msg.Width, msg.Height)
				screen.Resize(msg.Width, msg.Height)
				touch()
				return msg
			case tea.KeyMsg, tea.MouseMsg:
				touch()
			}
			return msg
		}))
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case w, ok := <-sizes:
				if !ok {
					return
				}
				prog.Send(tea.WindowSizeMsg{Width: w.Width, Height: w.Height})
			}
		}
	}()
	_, err := prog.Run()
	cancel()
	closeScreen(sess, screen)

	switch {
	case idle.Load():
		fmt.Fprintf(sess.Stderr(), "quflx-tui: closed after %s without input (--idle-timeout)\r\n",
			cfg.Serve.IdleTimeout)
		return "idle"
	case s.stopping.Err() != nil:
		fmt.Fprint(sess.Stderr(), "quflx-tui: the server is shutting down\r\n")
		return "server stopping"
	case sess.Context().Err() != nil:
		return "connection lost"
	case err != nil:
		return "failed: " + err.Error()
	}
	return "quit"
}

// closeScreen gives the session's terminal back as it was. A client that stopped reading
// leaves the writer waiting on the channel's window: its connection is closed after a
// while, which ends the wait.
func closeScreen(sess ssh.Session, screen *terminalWriter) {
	closed := make(chan struct{})
	go func() {
		_ = screen.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(2 * time.Second):
		if conn, ok := sess.Context().Value(ssh.ContextKeyConn).(gossh.Conn); ok {
			_ = conn.Close()
		}
		<-closed
	}
}

// newestWindow takes every size the session reports, as long as it lasts, and keeps the
// newest for the dashboard.
func newestWindow(windows <-chan ssh.Window) <-chan ssh.Window {
	newest := make(chan ssh.Window, 1)
	go func() {
		defer close(newest)
		for w := range windows {
			select {
			case <-newest: // an older size not taken yet
			default:
			}
			newest <- w
		}
	}()
	return newest
}

// sessionRenderer is the session's terminal as lipgloss sees it: the colour profile from
// the TERM, COLORTERM and NO_COLOR the client sent, not the server process's. Its
// background is for the caller to say (SetHasDarkBackground): lipgloss would ask the
// terminal by reading the session, racing the dashboard's keys.
func sessionRenderer(sess ssh.Session, env sessionEnv) *lipgloss.Renderer {
	return lipgloss.NewRenderer(sess, termenv.WithEnvironment(env), termenv.WithUnsafe(), termenv.WithColorCache(true))
}

// sessionEnv is the environment an SSH client sent (TERM from its pty request).
type sessionEnv []string

func (e sessionEnv) Environ() []string { return e }

// lookup is Getenv as an Env: a variable sent empty counts as not sent.
func (e sessionEnv) lookup(key string) (string, bool) {
	v := e.Getenv(key)
	return v, v != ""
}

func (e sessionEnv) Getenv(key string) string {
	for i := len(e) - 1; i >= 0; i-- { // the last one sent wins
		if v, ok := strings.CutPrefix(e[i], key+"="); ok {
			return v
		}
	}
	return ""
}
