// Package redistest starts Redis servers for tests: miniredis in-process for speed, and a
// real redis-server on a free loopback port, without persistence, for truth.
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
	cmd    *exec.Cmd
	output *bytes.Buffer
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

// Real starts a redis-server for the test and stops it at cleanup.
func Real(t testing.TB, extraArgs ...string) *Server {
	t.Helper()
	path := RedisServerPath(t)
	s := &Server{Dir: t.TempDir()}
	var lastErr error
	for range 5 { // a free port can be taken between probe and bind: try again
		s.Port = FreePort(t)
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port))
		if lastErr = s.start(path, extraArgs); lastErr == nil {
			t.Cleanup(s.Kill)
			return s
		}
	}
	t.Fatalf("start redis-server: %v", lastErr)
	return nil
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

func (s *Server) start(path string, extraArgs []string) error {
	args := append([]string{
		"--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.Dir,
		"--daemonize", "no", "--protected-mode", "no", "--loglevel", "warning",
	}, extraArgs...)
	cmd := exec.Command(path, args...)
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("redis-server exited: %v: %s", err, out.String())
		default:
		}
		if c, err := net.DialTimeout("tcp", s.Addr, 100*time.Millisecond); err == nil {
			ok := ping(c)
			c.Close()
			if ok {
				s.mu.Lock()
				s.cmd, s.output = cmd, out
				s.mu.Unlock()
				go func() { <-exited }() // reap
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	return fmt.Errorf("redis-server on %s did not answer PING within 5s: %s", s.Addr, out.String())
}

func ping(c net.Conn) bool {
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	buf := make([]byte, 16)
	n, _ := c.Read(buf)
	return bytes.HasPrefix(buf[:n], []byte("+PONG"))
}

// Kill stops the server abruptly (SIGKILL), as a crash would, and waits until the port
// no longer answers.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	for range 100 {
		c, err := net.DialTimeout("tcp", s.Addr, 50*time.Millisecond)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(10 * time.Millisecond)
	}
}

// Restart kills the server and starts a new one on the same port (empty: persistence is
// off, as after a real crash of a cache-only Redis).
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Kill()
	path := RedisServerPath(t)
	var err error
	for range 50 { // the kernel may hold the port for a moment
		if err = s.start(path, nil); err == nil {
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
