package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync"
	"time"

	"github.com/charmbracelet/ssh"
	"github.com/charmbracelet/wish"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	gossh "golang.org/x/crypto/ssh"

	"github.com/quflx/quflx-tui/metrics"
	"github.com/quflx/quflx-tui/redisdata"
	"github.com/quflx/quflx-tui/store"
	"github.com/quflx/quflx-tui/ui"
)

// servePoolSize is the connections the served watch holds besides its subscriber's,
// opened at start and kept, pipelines included: the poll loop sends one command or
// pipeline at a time, and historyGate one history lookup at a time for every session
// together, so two are in flight at most, however many viewers there are.
const servePoolSize = 2

// addServeFlags are serve's own flags.
func addServeFlags(cmd *cobra.Command, cfg *Config) {
	sc := &cfg.Serve
	inGroup(cmd, groupSSH, func(fs *pflag.FlagSet) {
		fs.StringVar(&sc.Listen, "listen", sc.Listen, "accept SSH connections on `ADDR`, host:port (:PORT: every "+
			"interface)")
		fs.StringVar(&sc.AuthorizedKeys, "authorized-keys", "", "let in only the public keys listed in `FILE` "+
			"(authorized_keys format, read at each login); required")
		fs.StringVar(&sc.HostKey, "host-key", "", "the server's private key `FILE`, an Ed25519 key generated there on "+
			"first start and kept (default $XDG_DATA_HOME/quflx-tui/ssh_host_ed25519_key)")
		fs.IntVar(&sc.MaxSessions, "max-sessions", sc.MaxSessions, "show at most `N` sessions at once; the next is "+
			"refused with a line saying so")
		fs.DurationVar(&sc.IdleTimeout, "idle-timeout", sc.IdleTimeout, "close a session after `DURATION` without "+
			"input: a key, the mouse or a resize (0: never)")
	})
	completeFiles(cmd, "authorized-keys", "host-key")
}

func checkServe(cfg *Config, env Env) error {
	sc := &cfg.Serve
	if sc.AuthorizedKeys == "" {
		return usageErr("serve needs --authorized-keys FILE: only the public keys it lists may connect")
	}
	if _, _, err := net.SplitHostPort(sc.Listen); err != nil {
		return usageErr("--listen %q: want HOST:PORT, or :PORT for every interface", sc.Listen)
	}
	if sc.MaxSessions < 1 {
		return usageErr("--max-sessions %d: must be at least 1", sc.MaxSessions)
	}
	if sc.IdleTimeout < 0 {
		return usageErr("--idle-timeout %v: must not be negative (0: never)", sc.IdleTimeout)
	}
	if sc.HostKey == "" {
		if sc.HostKey = defaultHostKey(env); sc.HostKey == "" {
			return usageErr("no home directory to keep the host key in: name its file with --host-key FILE")
		}
	}
	return nil
}

// defaultHostKey is where the host key is kept unless --host-key says: the user's data
// directory, which outlives caches.
func defaultHostKey(env Env) string {
	dir, _ := env("XDG_DATA_HOME")
	if !filepath.IsAbs(dir) {
		home, _ := env("HOME")
		if !filepath.IsAbs(home) {
			return ""
		}
		dir = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(dir, "quflx-tui", "ssh_host_ed25519_key")
}

// runServe is `quflx-tui serve`: the dashboard over SSH, every session on one watch.
// With --metrics, quflx_ssh_sessions is its live sessions.
func runServe(ctx context.Context, cfg Config, ex *metrics.Exporter, errOut io.Writer) error {
	ctx, cancel := withDuration(ctx, cfg.Duration)
	defer cancel()
	srv, ln, closeAll, err := openServe(ctx, cfg, ex, logTo(errOut, "serve"), errOut)
	if err != nil {
		return err
	}
	defer closeAll()
	return srv.Serve(ctx, ln)
}

// openServe makes everything serve needs, ready to accept on the listener: the SSH
// server, the store and the demo when asked, and the watch, started (until ctx ends or
// closeAll). closeAll closes what was opened, in reverse order.
func openServe(ctx context.Context, cfg Config, ex *metrics.Exporter, log func(string), errOut io.Writer) (srv *sshServer, ln net.Listener, closeAll func(), err error) {
	var closers []func()
	closeAll = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	defer func() {
		if err != nil {
			closeAll()
		}
	}()
	// The SSH side first: a bad key file or a busy port fails before Redis is touched.
	if srv, err = newSSHServer(cfg, log); err != nil {
		return nil, nil, nil, err
	}
	ex.SSHSessions(srv.Sessions)
	if ln, err = net.Listen("tcp", cfg.Serve.Listen); err != nil {
		return nil, nil, nil, usageErr("--listen %s: %v", cfg.Serve.Listen, errors.Unwrap(err))
	}
	closers = append(closers, func() { ln.Close() })

	src := dashboardSource{
		metrics:  ex,
		redis:    cfg.Redis,
		info:     ui.Info{Endpoint: cfg.Redis.Endpoint(), Mode: ui.ModeReadOnly, Version: Version()},
		assets:   cfg.Assets,
		poolSize: servePoolSize,
	}
	if cfg.Demo {
		p, err := startDemo(ctx, cfg, ex, func(line string) { log("demo: " + line) }, errOut)
		if err != nil {
			return nil, nil, nil, err
		}
		closers = append(closers, func() {
			p.Stop()
			log("demo stopped: " + p.statusLine())
		})
		src.redis, src.assets, src.flusherStatusKey = p.Redis, p.Assets, demoStatusKey
		src.history, src.cache = p.History, p.Cache
		src.info = ui.Info{Endpoint: p.Redis.Endpoint(), Embedded: p.Embedded != nil, Throwaway: p.Throwaway != nil,
			Mode: ui.ModeDemo, Store: p.Store.Describe(), Version: Version()}
		if p.Embedded != nil {
			src.fillInfo = p.Embedded.FillInfo
		}
	} else if cfg.Flush.Store != "" {
		// Chart history on cache misses, read-only as the dashboard's: never migrated nor
		// written.
		st, err := store.OpenReadOnly(ctx, cfg.Flush.Store)
		if err != nil {
			return nil, nil, nil, &ConnectError{What: "the store", Endpoint: store.Redact(cfg.Flush.Store), Err: err}
		}
		closers = append(closers, func() { st.Close() })
		src.store = st
	}
	watch, err := newWatch(ctx, cfg, src)
	if err != nil {
		return nil, nil, nil, err
	}
	watch.Start(ctx)
	closers = append(closers, func() { watch.Close() })
	srv.watch, srv.info, srv.history = watch, src.info, newHistoryGate()
	log(fmt.Sprintf("watching %s read-only; serving its dashboard over SSH on %s to the keys in %s", watch.Endpoint(),
		ln.Addr(), cfg.Serve.AuthorizedKeys))
	return srv, ln, closeAll, nil
}

// sshServer shows each SSH session its own dashboard, all of them over one watch: a
// session adds a Bubble Tea program and a terminal writer, and nothing that reads Redis.
type sshServer struct {
	cfg     Config
	ssh     *ssh.Server
	log     func(string)
	keys    *authorizedKeys
	watch   *redisdata.Watch
	info    ui.Info
	history *historyGate

	stopping context.Context // done: every session closes
	stop     context.CancelFunc
	sessions sync.WaitGroup
	logins   chan struct{} // a place per connection not logged in yet

	mu      sync.Mutex
	live    int
	opened  int // sessions since start, numbering them in the log
	closing bool
}

func newSSHServer(cfg Config, log func(string)) (*sshServer, error) {
	s := &sshServer{cfg: cfg, log: log, keys: &authorizedKeys{path: cfg.Serve.AuthorizedKeys},
		logins: make(chan struct{}, maxLogins)}
	n, problems, err := s.keys.load()
	if err != nil {
		return nil, &UsageError{msg: "--authorized-keys " + err.Error()}
	}
	for _, p := range problems {
		log(fmt.Sprintf("%s: %s", cfg.Serve.AuthorizedKeys, p))
	}
	if n == 0 {
		return nil, usageErr("--authorized-keys %s: no usable public key in it", cfg.Serve.AuthorizedKeys)
	}
	hostKey, generated, err := ensureHostKey(cfg.Serve.HostKey)
	if err != nil {
		return nil, &UsageError{msg: "--host-key " + err.Error()}
	}
	signer, err := gossh.ParsePrivateKey(hostKey)
	if err != nil {
		return nil, usageErr("--host-key %s: %v", cfg.Serve.HostKey, err)
	}
	how := "kept"
	if generated {
		how = "generated now"
	}
	log(fmt.Sprintf("host key %s (%s): %s", cfg.Serve.HostKey, how, gossh.FingerprintSHA256(signer.PublicKey())))

	s.stopping, s.stop = context.WithCancel(context.Background())
	s.ssh, err = wish.NewServer(
		wish.WithVersion("quflx-tui"),
		wish.WithHostKeyPEM(hostKey),
		// Public keys only: with a key handler and no other, passwords and keyboard-
		// interactive are refused, and so is "none".
		wish.WithPublicKeyAuth(s.keys.allow),
		ssh.EmulatePty(), // the dashboard writes the session itself; no pty device per viewer
		wish.WithMiddleware(func(ssh.Handler) ssh.Handler { return s.handle }),
	)
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	// Before login a connection is anyone's: a place among maxLogins and loginTimeout to
	// open a session, or it is closed (the handshake itself has no deadline).
	s.ssh.ConnCallback = func(ctx ssh.Context, conn net.Conn) net.Conn {
		select {
		case s.logins <- struct{}{}:
		default:
			return nil // closed: too many connections are logging in
		}
		lc := newLoginConn(conn, time.Now().Add(loginTimeout), func() { <-s.logins })
		ctx.SetValue(loginKey, lc)
		return lc
	}
	s.ssh.ConnectionFailedCallback = func(conn net.Conn, err error) {
		if !errors.Is(err, io.EOF) {
			log(fmt.Sprintf("connection from %s refused: %v", conn.RemoteAddr(), err))
		}
	}
	return s, nil
}

// Sessions is the number of live SSH sessions (the "ssh sessions" gauge).
func (s *sshServer) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live
}

// Serve accepts sessions on ln until ctx ends, then closes every session, each terminal
// restored, and returns.
func (s *sshServer) Serve(ctx context.Context, ln net.Listener) error {
	served := make(chan error, 1)
	go func() { served <- s.ssh.Serve(ln) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-served:
		if errors.Is(err, ssh.ErrServerClosed) {
			err = nil
		} else {
			err = fmt.Errorf("serve: %w", err)
		}
	}
	s.shutdown()
	return err
}

// shutdown stops accepting, ends every session and waits for them.
func (s *sshServer) shutdown() {
	s.mu.Lock()
	s.closing = true
	live := s.live
	s.mu.Unlock()
	if live > 0 {
		s.log(fmt.Sprintf("stopping: closing %d sessions", live))
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	closed := make(chan error, 1)
	go func() { closed <- s.ssh.Shutdown(shutdownCtx) }() // closes the listener, waits for the connections
	s.stop()
	sessionsDone := make(chan struct{})
	go func() { s.sessions.Wait(); close(sessionsDone) }()
	select {
	case <-sessionsDone:
	case <-shutdownCtx.Done():
		// A session stuck writing to a client that reads nothing (a window of 0) ends
		// only with its connection.
		_ = s.ssh.Close()
		<-sessionsDone
	}
	if err := <-closed; err != nil {
		_ = s.ssh.Close() // a client that keeps its connection open after its session ended
	}
}

// admit counts a session in, or says why not.
func (s *sshServer) admit() (id int, refusal string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closing:
		return 0, "the server is shutting down"
	case s.live >= s.cfg.Serve.MaxSessions:
		return 0, fmt.Sprintf("the server already shows %d sessions, its --max-sessions; try again later", s.live)
	}
	s.live++
	s.opened++
	s.sessions.Add(1)
	return s.opened, ""
}

func (s *sshServer) release() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.live--
	s.sessions.Done()
	return s.live
}

// refuse ends a session with one line on its stderr and exit status 1.
func refuse(sess ssh.Session, why string) {
	fmt.Fprintf(sess.Stderr(), "quflx-tui: %s\r\n", why)
	_ = sess.Exit(1)
}

// handle serves one session.
func (s *sshServer) handle(sess ssh.Session) {
	if lc, ok := sess.Context().Value(loginKey).(*loginConn); ok {
		lc.loggedIn()
	}
	pty, windows, isPty := sess.Pty()
	if !isPty {
		refuse(sess, "the dashboard needs a terminal: connect with ssh -t, and no command")
		return
	}
	// The session's request loop waits to hand over a size until it is taken: sizes keep
	// the newest only, taken or not, as long as the session lasts.
	sizes := newestWindow(windows)
	if sess.RawCommand() != "" {
		refuse(sess, "this server runs no command, it shows the dashboard: connect with ssh alone")
		return
	}
	id, refusal := s.admit()
	who := fmt.Sprintf("%s from %s", sess.User(), sess.RemoteAddr())
	if refusal != "" {
		s.log(fmt.Sprintf("session of %s refused: %s", who, refusal))
		refuse(sess, refusal)
		return
	}
	start := time.Now()
	key := "?"
	if pk := sess.PublicKey(); pk != nil {
		key = gossh.FingerprintSHA256(pk)
	}
	s.log(fmt.Sprintf("session %d opened: %s, key %s, %s %dx%d (%d live)", id, who, key, pty.Term,
		pty.Window.Width, pty.Window.Height, s.Sessions()))
	why := s.show(sess, sizes)
	live := s.release()
	s.log(fmt.Sprintf("session %d closed after %s: %s (%d live)", id, time.Since(start).Round(time.Second), why, live))
	_ = sess.Exit(0)
}
