package redisdata

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Throwaway is a redis-server this process runs for itself (the demo's, when one is
// installed): on a random loopback port, with no persistence, in a temporary directory of
// its own. Close kills it and removes the directory; on Linux the kernel kills it too if
// this process dies first, so no server outlives the demo.
type Throwaway struct {
	addr    string
	dir     string
	version string

	cmd    *exec.Cmd
	exited chan struct{} // closed once the server has exited and been reaped
	output *limitedBuffer
	once   sync.Once
}

// StartThrowaway starts the redis-server at path and waits until it answers.
func StartThrowaway(ctx context.Context, path string) (*Throwaway, error) {
	dir, err := os.MkdirTemp("", "quflx-demo-redis-")
	if err != nil {
		return nil, fmt.Errorf("throwaway redis-server: %w", err)
	}
	var lastErr error
	for range 5 { // a free port can be taken between probe and bind: try another
		t, err := startThrowaway(ctx, path, dir)
		if err == nil {
			return t, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	os.RemoveAll(dir)
	return nil, fmt.Errorf("throwaway redis-server: %w", lastErr)
}

func startThrowaway(ctx context.Context, path, dir string) (*Throwaway, error) {
	port, err := freeLoopbackPort()
	if err != nil {
		return nil, err
	}
	t := &Throwaway{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: dir,
		exited: make(chan struct{}), output: &limitedBuffer{max: 4096}}
	t.cmd = exec.Command(path,
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--protected-mode", "yes",
		"--save", "", "--appendonly", "no", "--dir", dir,
		"--daemonize", "no", "--loglevel", "warning", "--logfile", "")
	t.cmd.Dir = dir
	t.cmd.Stdout, t.cmd.Stderr = t.output, t.output
	dieWithParent(t.cmd)
	started := make(chan error, 1)
	go func() {
		// The kernel's parent-death signal follows the thread that started the child, not
		// the process: the thread stays locked to this goroutine, which lives as long as the
		// server does.
		runtime.LockOSThread()
		if err := t.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = t.cmd.Wait()
		close(t.exited)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	if err := t.waitReady(ctx); err != nil {
		t.kill()
		return nil, err
	}
	return t, nil
}

// waitReady waits until the server answers PING, and reads its version.
func (t *Throwaway) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := NewClient(Options{Addr: t.addr, ClientName: "quflx-tui-demo", MaxRetries: -1})
	if err != nil {
		return err
	}
	defer c.Close()
	for {
		info, err := c.Info(ctx, "server").Result()
		if err == nil {
			// The port was free when probed, not necessarily when the server bound it:
			// whatever answers must be our own child, or the demo would write elsewhere.
			if pid := infoField(info, "process_id"); pid != strconv.Itoa(t.cmd.Process.Pid) {
				return fmt.Errorf("%s is answered by another server (process %s), not ours", t.addr, pid)
			}
			var in Info
			ParseInfo(info, &in)
			t.version = in.Version
			return nil
		}
		select {
		case <-t.exited:
			return fmt.Errorf("exited at start: %s", strings.TrimSpace(t.output.String()))
		case <-ctx.Done():
			return fmt.Errorf("no answer on %s: %w", t.addr, errors.Join(ctx.Err(), err))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// infoField returns one field of an INFO text ("" when absent).
func infoField(info, name string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return ""
}

// Addr returns host:port.
func (t *Throwaway) Addr() string { return t.addr }

// Port returns the port.
func (t *Throwaway) Port() string { _, p, _ := net.SplitHostPort(t.addr); return p }

// Version is the server's redis_version.
func (t *Throwaway) Version() string { return t.version }

// Dir is the server's own directory, removed by Close.
func (t *Throwaway) Dir() string { return t.dir }

// Close kills the server (there is nothing to save) and removes its directory.
func (t *Throwaway) Close() {
	t.once.Do(func() {
		t.kill()
		os.RemoveAll(t.dir)
	})
}

func (t *Throwaway) kill() {
	_ = t.cmd.Process.Kill()
	<-t.exited
}

// freeLoopbackPort returns a port free at the time of asking (a var: tests hand out a taken one).
var freeLoopbackPort = func() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// limitedBuffer keeps the first max bytes a child writes (its reason to fail at start).
type limitedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
