package cli

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/quflx/quflx-tui/metrics"
	"github.com/quflx/quflx-tui/metrics/metricstest"
	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata"
	"github.com/quflx/quflx-tui/redisdata/redistest"
)

// The SSH server in this process, reached by x/crypto/ssh clients (the OpenSSH client's
// test is main's TestServeOverOpenSSH).

// newTestKey returns an Ed25519 key for a client, and its authorized_keys line.
func newTestKey(t *testing.T) (gossh.Signer, []byte) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return signer, gossh.MarshalAuthorizedKey(signer.PublicKey())
}

// served is a serve running in this process against a Redis.
type served struct {
	srv    *sshServer
	addr   string
	key    gossh.Signer // authorized
	log    *lockedLog
	stop   context.CancelFunc
	result chan error
}

type lockedLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *lockedLog) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func startServe(t *testing.T, redisAddr string, extra ...string) *served {
	t.Helper()
	return startServeWith(t, nil, redisAddr, extra...)
}

func startServeWith(t *testing.T, ex *metrics.Exporter, redisAddr string, extra ...string) *served {
	t.Helper()
	dir := t.TempDir()
	key, line := newTestKey(t)
	keys := filepath.Join(dir, "viewers")
	if err := os.WriteFile(keys, line, 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"serve", "--redis", "redis://" + redisAddr, "--authorized-keys", keys,
		"--host-key", filepath.Join(dir, "host_key"), "--listen", "127.0.0.1:0", "--poll", "200ms"}, extra...)
	cfg, err := Parse(args, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	s := &served{key: key, log: &lockedLog{}, result: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	srv, ln, closeAll, err := openServe(ctx, cfg, ex, s.log.add, io.Discard)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	s.srv, s.addr, s.stop = srv, ln.Addr().String(), cancel
	go func() {
		err := srv.Serve(ctx, ln)
		closeAll()
		s.result <- err
	}()
	t.Cleanup(func() {
		cancel()
		<-s.result
	})
	return s
}

// viewer is an SSH client with a pty, as ssh -t gives one.
type viewer struct {
	t      *testing.T
	client *gossh.Client
	sess   *gossh.Session
	keys   io.WriteCloser
	out    *syncBuffer
	errOut *syncBuffer
	done   chan error
}

func (s *served) dial(t *testing.T, key gossh.Signer) (*gossh.Client, error) {
	return gossh.Dial("tcp", s.addr, &gossh.ClientConfig{User: "trader", Auth: []gossh.AuthMethod{gossh.PublicKeys(key)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 5 * time.Second})
}

// view opens a session with a pty of w x h and TERM term; env is sent before the shell.
func (s *served) view(t *testing.T, term string, w, h int, env ...string) *viewer {
	t.Helper()
	client, err := s.dial(t, s.key)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(env); i += 2 {
		if err := sess.Setenv(env[i], env[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := sess.RequestPty(term, h, w, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	v := &viewer{t: t, client: client, sess: sess, out: &syncBuffer{}, errOut: &syncBuffer{}, done: make(chan error, 1)}
	sess.Stdout, sess.Stderr = v.out, v.errOut
	if v.keys, err = sess.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	go func() { v.done <- sess.Wait() }()
	t.Cleanup(func() { client.Close() })
	return v
}

func (v *viewer) press(keys string) {
	v.t.Helper()
	if _, err := io.WriteString(v.keys, keys); err != nil {
		v.t.Fatal(err)
	}
}

// screen is everything the viewer was sent so far.
func (v *viewer) screen() string {
	v.out.mu.Lock()
	defer v.out.mu.Unlock()
	return v.out.b.String()
}

func (v *viewer) waitFor(what string, ok func(out string) bool) string {
	v.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := v.screen()
		if ok(out) {
			return out
		}
		if time.Now().After(deadline) {
			v.t.Fatalf("no %s within 10s; sent %d bytes, last:\n%q", what, len(out), out[max(0, len(out)-600):])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (v *viewer) waitDrawn() {
	v.t.Helper()
	v.waitFor("dashboard", func(out string) bool { return strings.Contains(out, "Watchlist") })
}

// wait returns the session's exit status once it ended.
func (v *viewer) wait() int {
	v.t.Helper()
	select {
	case err := <-v.done:
		var exit *gossh.ExitError
		switch {
		case err == nil:
			return 0
		case errors.As(err, &exit):
			return exit.ExitStatus()
		}
		v.t.Fatalf("session: %v", err)
	case <-time.After(10 * time.Second):
		v.t.Fatalf("session still open 10s later; stderr %q", v.errOut.take())
	}
	return -1
}

// feedTicks publishes ticks of a few assets into the server until the test ends.
func feedTicks(t *testing.T, addr string) {
	t.Helper()
	c, err := redisdata.NewClient(redisdata.Options{Addr: addr, ClientName: "test-feed"})
	if err != nil {
		t.Fatal(err)
	}
	p := redisdata.NewProducer(c, redisdata.ProducerOptions{TickKey: mustPattern("ticks:{asset}"),
		Channel: mustPattern("updates:{asset}")})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ctx.Err() == nil; i++ {
			now := time.Now().UnixMicro()
			_ = p.Write(ctx, []model.Tick{{Asset: "EURUSD_otc", Price: 1.08 + float64(i%50)/1e4, UnixMicro: now},
				{Asset: "USDJPY_otc", Price: 149.9 + float64(i%30)/100, UnixMicro: now}})
			time.Sleep(20 * time.Millisecond)
		}
	}()
	t.Cleanup(func() { cancel(); <-done; c.Close() })
}

// serveConnections counts the connections the server holds, other than the test's own:
// the most of five looks 100 ms apart.
func serveConnections(t *testing.T, addr string) int {
	t.Helper()
	c, err := redisdata.NewClient(redisdata.Options{Addr: addr, ClientName: "test-count"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	most := 0
	for range 5 {
		list, err := c.ClientList(context.Background()).Result()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for line := range strings.Lines(list) {
			if !strings.Contains(line, " name=test-") {
				n++
			}
		}
		most = max(most, n)
		time.Sleep(100 * time.Millisecond)
	}
	return most
}

// waitUntil polls cond for up to 10 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not %s within 10s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A tenth viewer adds rendering and nothing that reads Redis: the server holds the same
// connections (one subscriber, the watch's fixed pool) with one session as with ten, each
// of which moved around the chart (history loads), and a session that ends, however it
// ends, leaves no goroutine and no reader of the market behind.
func TestServeSessionsShareOneWatch(t *testing.T) {
	rs := redistest.Real(t)
	feedTicks(t, rs.Addr)
	s := startServe(t, rs.Addr)
	market := s.srv.watch.Market()
	time.Sleep(500 * time.Millisecond) // the watch's first polls and its pool are up
	before := runtime.NumGoroutine()
	idle := serveConnections(t, rs.Addr)

	first := s.view(t, "xterm-256color", 120, 40)
	first.waitDrawn()
	first.press("2") // 5m: a history load
	first.waitFor("the 5m chart", func(out string) bool { return strings.Contains(out, "cache") || strings.Contains(out, "history") })
	time.Sleep(time.Second) // polls go on
	one := serveConnections(t, rs.Addr)

	viewers := []*viewer{first}
	for i := 1; i < 10; i++ {
		v := s.view(t, "xterm-256color", 100+i, 30+i)
		viewers = append(viewers, v)
	}
	for i, v := range viewers[1:] {
		v.waitDrawn()
		v.press(string("12345"[i%5]) + "\t") // timeframes and focus of their own
	}
	time.Sleep(time.Second)
	if got := s.srv.Sessions(); got != 10 {
		t.Fatalf("Sessions() = %d with 10 viewers", got)
	}
	if got := market.Displays(); got != 10 {
		t.Fatalf("%d displays wait on the market with 10 viewers", got)
	}
	ten := serveConnections(t, rs.Addr)
	t.Logf("Redis connections: %d with no session, %d with 1, %d with 10", idle, one, ten)
	if ten != one || one != idle {
		t.Fatalf("Redis connections: %d with no session, %d with 1, %d with 10: sessions must not add any", idle, one, ten)
	}
	if want := 1 + servePoolSize; one != want {
		t.Fatalf("%d Redis connections, want the subscriber's and a pool of %d", one, servePoolSize)
	}

	// Half quit, half drop their connections.
	for i, v := range viewers {
		if i%2 == 0 {
			v.press("q")
			if code := v.wait(); code != 0 {
				t.Fatalf("q: exit status %d", code)
			}
			v.client.Close() // as ssh does once its session ended
		} else {
			v.client.Close()
		}
	}
	waitUntil(t, "every session closed", func() bool { return s.srv.Sessions() == 0 })
	waitUntil(t, "every market reader gone", func() bool { return market.Displays() == 0 })
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before the sessions:\n%s", runtime.NumGoroutine(), before,
				buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(50 * time.Millisecond)
	}
	if after := serveConnections(t, rs.Addr); after != one {
		t.Fatalf("%d Redis connections after the sessions, %d during", after, one)
	}
	if log := s.log.String(); strings.Count(log, ": quit (") != 5 || strings.Count(log, ": connection lost (") != 5 {
		t.Fatalf("log:\n%s", log)
	}
}

var sgr = regexp.MustCompile(`\x1b\[[0-9;]*m`)

// Each session has its own colour profile (from its TERM and NO_COLOR, not the server
// process's, whose output here is no terminal at all), size and keys; a resize reflows
// that session only.
func TestServeSessionsAreTheirOwn(t *testing.T) {
	s := startServe(t, redistest.Mini(t).Addr())
	colour := s.view(t, "xterm-256color", 120, 40)
	plain := s.view(t, "xterm-256color", 120, 40, "NO_COLOR", "1")
	dumb := s.view(t, "dumb", 100, 30)
	for _, v := range []*viewer{colour, plain, dumb} {
		v.waitDrawn()
	}
	if !sgr.MatchString(colour.screen()) {
		t.Fatal("xterm-256color: no colour")
	}
	if m := sgr.FindString(plain.screen() + dumb.screen()); m != "" {
		t.Fatalf("NO_COLOR or TERM=dumb: styled with %q", m)
	}

	colour.press("?")
	colour.waitFor("the help", func(out string) bool { return strings.Contains(out, "previous panel") })
	plain.out.take()
	time.Sleep(1500 * time.Millisecond) // a clock second or more of frames
	if strings.Contains(plain.out.take(), "previous panel") {
		t.Fatal("the help opened in another session")
	}

	dumb.out.take()
	if err := dumb.sess.WindowChange(24, 80); err != nil {
		t.Fatal(err)
	}
	out := dumb.waitFor("a frame at the new size", func(out string) bool {
		i := strings.LastIndex(out, "\x1b[2J")
		return i >= 0 && strings.Contains(out[i:], "quflx-tui") && strings.Contains(out[i:], "\x1b[24;1H")
	})
	frame := out[strings.LastIndex(out, "\x1b[2J"):]
	for _, line := range regexp.MustCompile(`\x1b\[(\d+);1H([^\x1b]*)`).FindAllStringSubmatch(frame, -1) {
		if row, _ := strconv.Atoi(line[1]); row > 24 || len([]rune(line[2])) > 80 {
			t.Fatalf("row %d of a 24x80 terminal holds %d cells: %q", row, len([]rune(line[2])), line[2])
		}
	}
	if strings.Contains(frame, "─ Redis ─") {
		t.Fatal("the 80x24 frame has the wide layout's Redis panel")
	}
}

// Past --max-sessions a session is refused with a line saying so; once one ends, the
// next gets in. quflx_ssh_sessions counts them.
func TestServeMaxSessions(t *testing.T) {
	ex, err := metrics.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	gauge := func() float64 {
		v, _ := metricstest.Value(metricstest.Scrape(t, ex.Addr()), "quflx_ssh_sessions")
		return v
	}
	s := startServeWith(t, ex, redistest.Mini(t).Addr(), "--max-sessions", "2")
	a, b := s.view(t, "xterm", 80, 24), s.view(t, "xterm", 80, 24)
	a.waitDrawn()
	b.waitDrawn()
	if got := gauge(); got != 2 {
		t.Fatalf("quflx_ssh_sessions = %v with 2 sessions", got)
	}
	extra := s.view(t, "xterm", 80, 24)
	if code := extra.wait(); code != 1 {
		t.Fatalf("the third session: exit status %d", code)
	}
	if msg := extra.errOut.take(); !strings.Contains(msg, "already shows 2 sessions, its --max-sessions") {
		t.Fatalf("the third session was told %q", msg)
	}
	if got := gauge(); got != 2 {
		t.Fatalf("quflx_ssh_sessions = %v after a refusal", got)
	}
	a.press("q")
	a.wait()
	waitUntil(t, "the gauge at 1", func() bool { return gauge() == 1 })
	c := s.view(t, "xterm", 80, 24)
	c.waitDrawn()
	if got := s.srv.Sessions(); got != 2 {
		t.Fatalf("Sessions() = %d", got)
	}
}

// A session without input for --idle-timeout is closed, saying why; one whose viewer
// types stays.
func TestServeIdleTimeout(t *testing.T) {
	s := startServe(t, redistest.Mini(t).Addr(), "--idle-timeout", "2s")
	idle, busy := s.view(t, "xterm", 80, 24), s.view(t, "xterm", 80, 24)
	stopTyping := make(chan struct{})
	typing := make(chan struct{})
	go func() {
		defer close(typing)
		for {
			select {
			case <-stopTyping:
				return
			case <-time.After(200 * time.Millisecond):
				_, _ = io.WriteString(busy.keys, "j")
			}
		}
	}()
	defer func() { close(stopTyping); <-typing }()
	if code := idle.wait(); code != 0 {
		t.Fatalf("idle session: exit status %d", code)
	}
	if msg := idle.errOut.take(); !strings.Contains(msg, "closed after 2s without input") {
		t.Fatalf("idle session was told %q", msg)
	}
	if !strings.HasSuffix(idle.screen(), leaveModes) {
		t.Fatal("the idle session's terminal was not given back")
	}
	select {
	case err := <-busy.done:
		t.Fatalf("the typing session ended: %v; stderr %q", err, busy.errOut.take())
	default:
	}
	if got := s.srv.Sessions(); got != 1 {
		t.Fatalf("Sessions() = %d", got)
	}
}

// Stopping the server closes every session cleanly: each terminal given back, told why,
// exit status 0.
func TestServeStopClosesSessions(t *testing.T) {
	s := startServe(t, redistest.Mini(t).Addr())
	vs := []*viewer{s.view(t, "xterm", 80, 24), s.view(t, "xterm", 100, 30)}
	for _, v := range vs {
		v.waitDrawn()
	}
	s.stop()
	for _, v := range vs {
		if code := v.wait(); code != 0 {
			t.Fatalf("exit status %d", code)
		}
		if msg := v.errOut.take(); !strings.Contains(msg, "the server is shutting down") {
			t.Fatalf("told %q", msg)
		}
		if !strings.HasSuffix(v.screen(), leaveModes) {
			t.Fatal("terminal not given back")
		}
	}
	select {
	case err := <-s.result:
		if err != nil {
			t.Fatal(err)
		}
		s.result <- nil
	case <-time.After(5 * time.Second):
		t.Fatal("Serve still running 5s after its context ended")
	}
}

// Only the listed keys get in: another key, a password, a key the file restricts with
// options, and anyone at all when others may write the file, are refused.
func TestServeAuth(t *testing.T) {
	s := startServe(t, redistest.Mini(t).Addr())
	other, otherLine := newTestKey(t)
	if c, err := s.dial(t, other); err == nil {
		c.Close()
		t.Fatal("an unlisted key got in")
	}
	_, err := gossh.Dial("tcp", s.addr, &gossh.ClientConfig{User: "trader", Auth: []gossh.AuthMethod{gossh.Password("x")},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 5 * time.Second})
	if err == nil {
		t.Fatal("a password got in")
	}
	c, err := s.dial(t, s.key)
	if err != nil {
		t.Fatalf("the listed key: %v", err)
	}
	c.Close()

	// The file is read at each login: a key added counts at once; with options it is
	// ignored, not let in unrestricted.
	keys := s.srv.keys.path
	restricted := append([]byte(`from="10.0.0.1",no-pty `), otherLine...)
	appendFile(t, keys, restricted)
	if c, err := s.dial(t, other); err == nil {
		c.Close()
		t.Fatal("a key restricted by options got in")
	}
	appendFile(t, keys, otherLine)
	if c, err := s.dial(t, other); err != nil {
		t.Fatalf("a key added while serving: %v", err)
	} else {
		c.Close()
	}
	if err := os.Chmod(keys, 0o666); err != nil {
		t.Fatal(err)
	}
	if c, err := s.dial(t, s.key); err == nil {
		c.Close()
		t.Fatal("got in with a file anyone may write")
	}
}

func appendFile(t *testing.T, path string, line []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(line); err != nil {
		t.Fatal(err)
	}
}

// The host key is generated once, private, and kept across starts; one others can read
// is refused.
func TestServeHostKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new", "host_key")
	first, generated, err := ensureHostKey(path)
	if err != nil || !generated {
		t.Fatalf("generated %v, err %v", generated, err)
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("host key mode %v, err %v", info.Mode(), err)
	}
	if _, err := os.Stat(path + ".pub"); err != nil {
		t.Fatal(err)
	}
	again, generated, err := ensureHostKey(path)
	if err != nil || generated || string(again) != string(first) {
		t.Fatalf("second start: generated %v, err %v, same %v", generated, err, string(again) == string(first))
	}
	if _, err := gossh.ParsePrivateKey(first); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ensureHostKey(path); err == nil || !strings.Contains(err.Error(), "readable by others") {
		t.Fatalf("a readable host key: %v", err)
	}
}

func TestServeCommandLine(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "viewers")
	env := envOf(map[string]string{"HOME": "/home/trader"})
	for _, c := range []struct {
		args []string
		want string // error; "" for none
	}{
		{[]string{"serve"}, "serve needs --authorized-keys FILE"},
		{[]string{"serve", "--authorized-keys", keys, "--listen", "23234"}, `--listen "23234": want HOST:PORT`},
		{[]string{"serve", "--authorized-keys", keys, "--max-sessions", "0"}, "--max-sessions 0"},
		{[]string{"serve", "--authorized-keys", keys, "--idle-timeout", "-1s"}, "--idle-timeout -1s"},
		{[]string{"serve", "--authorized-keys", keys, "--fill-cache"}, `--fill-cache is not a flag of "quflx-tui serve"`},
		{[]string{"serve", "--authorized-keys", keys, "--rate", "9"}, "--rate needs --demo"},
		{[]string{"serve", "--authorized-keys", keys, "--demo", "--rate", "9"}, ""},
	} {
		cfg, err := Parse(c.args, env)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q: %v", c.args, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%q: error %v, want %q", c.args, err, c.want)
		case c.want == "":
			if cfg.Serve.HostKey != "/home/trader/.local/share/quflx-tui/ssh_host_ed25519_key" ||
				cfg.Serve.Listen != "localhost:23234" || cfg.Command != "serve" {
				t.Errorf("%q: %+v", c.args, cfg.Serve)
			}
		}
	}

	// A key file with no usable key fails at start, in one line.
	if err := os.WriteFile(keys, []byte("# nobody yet\nnot-a-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse([]string{"serve", "--authorized-keys", keys, "--host-key", filepath.Join(t.TempDir(), "hk")}, env)
	if err != nil {
		t.Fatal(err)
	}
	_, err = newSSHServer(cfg, func(string) {})
	var usage *UsageError
	if !errors.As(err, &usage) || !strings.Contains(err.Error(), "no usable public key") {
		t.Fatalf("%v", err)
	}
}

// --theme auto asks each session's terminal for its background: a session whose terminal
// answers white gets the light theme, one that does not answer the dark.
func TestServeThemePerSession(t *testing.T) {
	s := startServe(t, redistest.Mini(t).Addr())
	light := s.view(t, "xterm-256color", 100, 30)
	light.waitFor("the background query", func(out string) bool { return strings.Contains(out, "\x1b]11;?") })
	light.press("\x1b]11;rgb:ffff/ffff/ffff\x1b\\\x1b[?62;22c") // as xterm answers, OSC 11 then DA1
	dark := s.view(t, "xterm-256color", 100, 30)                // never answers
	light.waitDrawn()
	dark.waitDrawn()
	const lightMuted = "\x1b[38;5;241m" // the light palette's muted grey in 256 colours
	if !strings.Contains(light.screen(), lightMuted) {
		t.Fatal("a white terminal did not get the light theme")
	}
	if strings.Contains(dark.screen(), lightMuted) {
		t.Fatal("a terminal that did not answer got the light theme")
	}
	light.press("?") // the answer was taken out of the keys; keys still work
	light.waitFor("the help", func(out string) bool { return strings.Contains(out, "previous panel") })
}

// Before login a connection is anyone's: at most maxLogins wait at once, each for
// loginTimeout, and the rest are closed at once. 200 silent connections used to be held
// for as long as their clients liked, and a viewer with a key still gets in afterwards.
func TestServeBoundsConnectionsBeforeLogin(t *testing.T) {
	defer func(d time.Duration) { loginTimeout = d }(loginTimeout)
	loginTimeout = 500 * time.Millisecond
	s := startServe(t, redistest.Mini(t).Addr())
	var conns []net.Conn
	for range maxLogins + 8 {
		c, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	start := time.Now()
	closed := 0
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.Copy(io.Discard, c); err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			closed++ // EOF or reset: the server closed it
		}
	}
	if closed != len(conns) || time.Since(start) > 3*time.Second {
		t.Fatalf("%d of %d silent connections closed by the server in %v", closed, len(conns), time.Since(start))
	}
	v := s.view(t, "xterm", 80, 24)
	v.waitDrawn()
	v.press("q")
	if code := v.wait(); code != 0 {
		t.Fatalf("a viewer after the silent connections: exit %d", code)
	}
}
