// Package redistest starts Redis servers for tests: miniredis in-process for speed, and a
// real redis-server on a free loopback port, without persistence, for truth; RealCluster
// makes a real Redis Cluster of them, and Proxy puts network faults between a client and
// a server.
//
// With QUFLX_REQUIRE_REAL=1 (CI sets it) a missing redis-server fails the test instead of
// skipping it, so the real path can never silently stop running.
package redistest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// RequireReal reports whether tests must run against real servers.
func RequireReal() bool { return os.Getenv("QUFLX_REQUIRE_REAL") == "1" }

// Server is a real redis-server child process.
type Server struct {
	Port int
	Addr string // 127.0.0.1:port
	Dir  string

	mu     sync.Mutex
	path   string   // the redis-server binary, so Restart runs the same one
	args   []string // the full command line of the running (or last) process
	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd has been reaped
	output *syncBuffer
}

// syncBuffer collects a child's output: exec copies into it from its own goroutine while
// an error message may read it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// RedisServerPath finds redis-server, failing or skipping the test when it is missing.
func RedisServerPath(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		if RequireReal() {
			t.Fatalf("QUFLX_REQUIRE_REAL=1 but redis-server is not installed: %v", err)
		}
		t.Skip("redis-server not installed (set QUFLX_REQUIRE_REAL=1 to make this a failure)")
	}
	return path
}

// Real starts a redis-server for the test and stops it at cleanup. extraArgs come after
// the defaults, so they override them (redis-server keeps the last value), and Restart
// reuses them.
func Real(t testing.TB, extraArgs ...string) *Server {
	t.Helper()
	return startReal(t, func(int, string) []string { return extraArgs })
}

// startReal starts a redis-server whose extra arguments may depend on its port and
// directory (a cluster node keeps its nodes.conf there, named after the port).
func startReal(t testing.TB, extraFor func(port int, dir string) []string) *Server {
	t.Helper()
	path := RedisServerPath(t)
	s := &Server{Dir: t.TempDir()}
	var lastErr error
	for range 5 { // a free port can be taken between probe and bind: try again
		s.Port = FreePort(t)
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port))
		args := append([]string{
			"--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", s.Dir,
			"--daemonize", "no", "--protected-mode", "no", "--loglevel", "warning",
		}, extraFor(s.Port, s.Dir)...)
		if lastErr = s.start(path, args); lastErr == nil {
			t.Cleanup(s.Kill)
			return s
		}
	}
	t.Fatalf("start redis-server: %v", lastErr)
	return nil
}

// Args returns the full command line (without the binary) the server runs with, and will
// run with again after Restart.
func (s *Server) Args() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.args...)
}

// logs returns what the current (or last) process wrote, for error messages.
func (s *Server) logs() string {
	s.mu.Lock()
	out := s.output
	s.mu.Unlock()
	if out == nil {
		return ""
	}
	return out.String()
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (s *Server) start(path string, args []string) error {
	cmd := exec.Command(path, args...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }() // reap, and tell Kill when it is gone
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("redis-server exited: %v: %s", waitErr, out.String())
		default:
		}
		if c, err := net.DialTimeout("tcp", s.Addr, 100*time.Millisecond); err == nil {
			ok := ping(c)
			c.Close()
			if ok {
				s.mu.Lock()
				s.path, s.args = path, args
				s.cmd, s.exited, s.output = cmd, exited, out
				s.mu.Unlock()
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	<-exited
	return fmt.Errorf("redis-server on %s did not answer PING within 5s: %s", s.Addr, out.String())
}

func ping(c net.Conn) bool {
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	buf := make([]byte, 16)
	n, _ := c.Read(buf)
	// A server with a password answers NOAUTH: it is up all the same.
	return bytes.HasPrefix(buf[:n], []byte("+PONG")) || bytes.HasPrefix(buf[:n], []byte("-NOAUTH"))
}

// Kill stops the server abruptly (SIGKILL), as a crash would, and waits until the process
// is gone and the port no longer answers.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-exited: // its files (the AOF) and sockets are closed now
	case <-time.After(5 * time.Second):
	}
	for range 100 {
		c, err := net.DialTimeout("tcp", s.Addr, 50*time.Millisecond)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(10 * time.Millisecond)
	}
}

// Restart kills the server and starts it again on the same port, in the same directory and
// with the same arguments. With the default arguments it comes back empty (persistence is
// off, as after a real crash of a cache-only Redis); with --appendonly yes it replays its
// AOF, and a cluster node reads back its nodes.conf.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Kill()
	s.mu.Lock()
	path, args := s.path, s.args
	s.mu.Unlock()
	var err error
	for range 50 { // the kernel may hold the port for a moment
		if err = s.start(path, args); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("restart redis-server on %s: %v", s.Addr, err)
}

// Mini starts a miniredis for the test and closes it at cleanup.
func Mini(t testing.TB) *miniredis.Miniredis {
	t.Helper()
	return miniredis.RunT(t)
}

// Target is a server a test runs against.
type Target struct {
	Name string // "miniredis" or "redis-server"
	Addr string
	Mini *miniredis.Miniredis // nil for a real server
	Real *Server              // nil for miniredis
}

// Each runs f against miniredis and against a real redis-server, as subtests.
func Each(t *testing.T, f func(t *testing.T, target Target)) {
	t.Helper()
	t.Run("miniredis", func(t *testing.T) {
		m := Mini(t)
		f(t, Target{Name: "miniredis", Addr: m.Addr(), Mini: m})
	})
	t.Run("redis-server", func(t *testing.T) {
		s := Real(t)
		f(t, Target{Name: "redis-server", Addr: s.Addr, Real: s})
	})
}
