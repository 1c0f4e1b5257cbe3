package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/quflx/quflx-tui/redisdata/redistest"
)

// The tests here run the real binary, as a user would.

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "quflx-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "quflx-tui")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		panic("build: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func run(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(cleanEnv(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code = cmd.ProcessState.ExitCode()
	if err != nil && code < 0 {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// cleanEnv drops the REDIS_* variables of whoever runs the tests.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "REDIS_") {
			env = append(env, kv)
		}
	}
	return env
}

func TestUnreachableServerIsOneClearLine(t *testing.T) {
	port := strconv.Itoa(redistest.FreePort(t))
	start := time.Now()
	_, stderr, code := run(t, []string{"REDIS_HOST=127.0.0.1", "REDIS_PORT=" + port})
	if code != 2 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "cannot reach Redis at 127.0.0.1:"+port) {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("took %v to give up", took)
	}
}

func TestBadFlagIsOneClearLine(t *testing.T) {
	_, stderr, code := run(t, nil, "--port", "six")
	if code != 2 || strings.Count(stderr, "\n") != 1 || strings.Contains(stderr, "goroutine") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

func TestVersionAndHelp(t *testing.T) {
	out, _, code := run(t, nil, "--version")
	if code != 0 || !strings.HasPrefix(out, "quflx-tui ") {
		t.Fatalf("--version: %d %q", code, out)
	}
	out, _, code = run(t, nil, "--help")
	if code != 0 || !strings.Contains(out, "SYNOPSIS") || !strings.Contains(out, "--env-file") {
		t.Fatalf("--help: %d", code)
	}
}

func TestPlainMonitorAgainstRealServer(t *testing.T) {
	srv := redistest.Real(t)
	port := strconv.Itoa(srv.Port)
	cmd := exec.Command(binary, "-h", "127.0.0.1", "-p", port, "--no-ui", "--poll", "200ms")
	cmd.Env = cleanEnv()
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tick := `{"price":1.08241,"timestamp":` + strconv.FormatInt(time.Now().Unix(), 10) + `}`
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		_ = exec.Command("redis-cli", "-p", port, "PUBLISH", "updates:EURUSD_otc", tick).Run()
		if strings.Contains(out.String(), "EURUSD_otc 1.08241") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	if err != nil || !strings.Contains(out.String(), "live redis ") || !strings.Contains(out.String(), "EURUSD_otc 1.08241") {
		t.Fatalf("exit %v\n%s", err, out.String())
	}
}

// syncBuffer is a bytes.Buffer safe to read while a child process writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
