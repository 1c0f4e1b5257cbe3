package redistest_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/quflx/quflx-tui/redisdata/redistest"
)

// client returns a go-redis client that never retries, so every fault the proxy injects
// reaches the test as an error instead of being papered over.
func client(t *testing.T, addr string, readTimeout time.Duration) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{
		Addr:         addr,
		MaxRetries:   -1,
		DialTimeout:  time.Second,
		ReadTimeout:  readTimeout,
		WriteTimeout: time.Second,
		PoolSize:     4,
	})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// rawConn dials addr and checks that a PING gets its PONG, so the connection is known to be
// forwarded before a fault is injected.
func rawConn(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if got := rawPing(c, time.Second); got != nil {
		t.Fatalf("PING through %s: %v", addr, got)
	}
	return c
}

// rawPing sends PING and waits up to timeout for +PONG.
func rawPing(c net.Conn, timeout time.Duration) error {
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	return readPong(c, timeout)
}

func readPong(c net.Conn, timeout time.Duration) error {
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 7)
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != "+PONG\r\n" {
		return fmt.Errorf("reply %q, want +PONG", buf)
	}
	return nil
}

func TestProxyForwards(t *testing.T) {
	srv := redistest.Real(t)
	p := redistest.NewProxy(t, srv.Addr)
	rdb := client(t, p.Addr, time.Second)
	ctx := t.Context()

	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET through proxy: %v", err)
	}
	if got, err := rdb.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("GET through proxy = %q, %v; want v", got, err)
	}

	// A value far larger than one read, with every byte value: forwarded exactly or not at all.
	big := make([]byte, 4<<20)
	_, _ = rand.Read(big)
	if err := rdb.Set(ctx, "big", big, 0).Err(); err != nil {
		t.Fatalf("SET 4 MiB through proxy: %v", err)
	}
	if got, err := rdb.Get(ctx, "big").Bytes(); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("GET 4 MiB through proxy: %d bytes, equal %v, err %v", len(got), bytes.Equal(got, big), err)
	}

	cmds, err := rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i := range 1000 {
			pipe.Set(ctx, "p:"+strconv.Itoa(i), i, 0)
			pipe.Incr(ctx, "pipeline")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("pipeline of 2000 commands through proxy: %v", err)
	}
	for i := range 1000 {
		if n := cmds[2*i+1].(*redis.IntCmd).Val(); n != int64(i+1) {
			t.Fatalf("pipelined INCR #%d = %d: replies out of order", i+1, n)
		}
	}
	if got, _ := rdb.Get(ctx, "p:999").Result(); got != "999" {
		t.Fatalf("p:999 = %q after pipeline", got)
	}
	if f := p.Faults(); f != (redistest.FaultCounts{}) {
		t.Fatalf("faults without any injected: %+v", f)
	}
}

// TestProxyHalfClose checks that a client's EOF reaches the target as a half-close and the
// answer still comes back, byte for byte: the proxy is plain TCP, not only Redis.
func TestProxyHalfClose(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() { // echo everything, but only after the client has finished sending
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		all, _ := io.ReadAll(c)
		_, _ = c.Write(all)
	}()

	p := redistest.NewProxy(t, ln.Addr().String())
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sent := make([]byte, 3<<20)
	_, _ = rand.Read(sent)
	if _, err := c.Write(sent); err != nil {
		t.Fatalf("write: %v", err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatalf("close write: %v", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(got, sent) {
		t.Fatalf("echo after half-close: %d of %d bytes, equal %v, err %v", len(got), len(sent), bytes.Equal(got, sent), err)
	}
}

func TestProxyDropReplies(t *testing.T) {
	srv := redistest.Real(t)
	p := redistest.NewProxy(t, srv.Addr)
	rdb := client(t, p.Addr, time.Second)
	direct := client(t, srv.Addr, time.Second)
	ctx := t.Context()

	// Connect first: go-redis's handshake (HELLO) is a reply too, and must not be the one lost.
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING through proxy: %v", err)
	}
	p.DropReplies(1)
	if n, err := rdb.Incr(ctx, "k").Result(); err == nil {
		t.Fatalf("INCR with its reply dropped returned %d and no error", n)
	} else {
		t.Logf("INCR with its reply dropped: %v", err)
	}
	if got, err := direct.Get(ctx, "k").Result(); err != nil || got != "1" {
		t.Fatalf("k read directly = %q, %v; want 1 (applied, reply lost)", got, err)
	}
	if f := p.Faults(); f.DroppedReplies != 1 {
		t.Fatalf("faults = %+v, want 1 dropped reply", f)
	}
	// Armed once, fires once: the client's next connection works.
	if n, err := rdb.Incr(ctx, "k").Result(); err != nil || n != 2 {
		t.Fatalf("INCR after the drop = %d, %v; want 2", n, err)
	}
}

func TestProxyResetAll(t *testing.T) {
	srv := redistest.Real(t)
	p := redistest.NewProxy(t, srv.Addr)
	rdb := client(t, p.Addr, time.Second)
	ctx := t.Context()

	raw := rawConn(t, p.Addr)
	conn := rdb.Conn() // one pinned connection: the pool would swap a dead one silently
	t.Cleanup(func() { _ = conn.Close() })
	if err := conn.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING on pinned connection: %v", err)
	}
	if n := p.Conns(); n != 2 {
		t.Fatalf("Conns() = %d, want 2", n)
	}

	p.ResetAll()

	if err := rawPing(raw, time.Second); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("PING on a raw connection after ResetAll: %v, want a connection reset", err)
	}
	if err := conn.Ping(ctx).Err(); err == nil {
		t.Fatal("PING on the pinned go-redis connection after ResetAll succeeded")
	} else {
		t.Logf("pinned go-redis connection after ResetAll: %v", err)
	}
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING on a new connection after ResetAll: %v", err)
	}
	rawConn(t, p.Addr)
	if f := p.Faults(); f.Resets != 2 {
		t.Fatalf("faults = %+v, want 2 resets", f)
	}
}

func TestProxyFreeze(t *testing.T) {
	srv := redistest.Real(t)
	p := redistest.NewProxy(t, srv.Addr)
	rdb := client(t, p.Addr, 300*time.Millisecond)
	ctx := t.Context()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING through proxy: %v", err)
	}
	raw := rawConn(t, p.Addr)

	p.Freeze()
	cpu0, wall0 := cpuTime(t), time.Now()

	err := rdb.Ping(ctx).Err()
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("PING with a 300ms read timeout while frozen: %v, want a timeout", err)
	}
	// The raw connection stays open: it times out rather than being reset or closed.
	if err := rawPing(raw, 300*time.Millisecond); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("raw PING while frozen: %v, want a timeout", err)
	}
	if n := p.Conns(); n < 2 {
		t.Fatalf("Conns() = %d while frozen, want the connections kept open", n)
	}
	// A new connection is accepted, but carries nothing.
	fresh, err := net.DialTimeout("tcp", p.Addr, time.Second)
	if err != nil {
		t.Fatalf("dial while frozen: %v", err)
	}
	defer fresh.Close()
	if err := rawPing(fresh, 200*time.Millisecond); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("PING on a connection made while frozen: %v, want a timeout", err)
	}

	// Nothing may spin while frozen: the process used well under one core meanwhile.
	cpu, wall := cpuTime(t)-cpu0, time.Since(wall0)
	t.Logf("frozen for %v, process CPU %v", wall.Round(time.Millisecond), cpu)
	if cpu > wall/2 {
		t.Errorf("process used %v CPU in %v while frozen: something spins", cpu, wall)
	}

	p.Thaw()
	// What was held is delivered, in order: the raw PING's reply, then the fresh one's.
	if err := readPong(raw, time.Second); err != nil {
		t.Fatalf("held PONG after Thaw: %v", err)
	}
	if err := readPong(fresh, time.Second); err != nil {
		t.Fatalf("held PONG on the connection made while frozen: %v", err)
	}
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING after Thaw: %v", err)
	}
	if f := p.Faults(); f.Freezes != 1 || f.Resets != 0 || f.DroppedReplies != 0 {
		t.Fatalf("faults = %+v, want just 1 freeze", f)
	}
}

// cpuTime is the user+system CPU this test process has used.
func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestProxyDownUp(t *testing.T) {
	srv := redistest.Real(t)
	p := redistest.NewProxy(t, srv.Addr)
	rdb := client(t, p.Addr, time.Second)
	ctx := t.Context()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING through proxy: %v", err)
	}
	raw := rawConn(t, p.Addr)

	p.Down()
	if err := rawPing(raw, time.Second); err == nil {
		t.Fatal("PING on an open connection after Down succeeded")
	}
	if err := rdb.Ping(ctx).Err(); err == nil {
		t.Fatal("PING through a down proxy succeeded")
	}
	fresh := client(t, p.Addr, time.Second)
	if err := fresh.Ping(ctx).Err(); err == nil {
		t.Fatal("PING from a new client through a down proxy succeeded")
	} else {
		t.Logf("new client while down: %v", err)
	}
	if n := p.Conns(); n != 0 {
		t.Fatalf("Conns() = %d while down, want 0", n)
	}

	p.Up()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING after Up: %v", err)
	}
	if err := fresh.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING from the new client after Up: %v", err)
	}
}

// TestProxyChaos runs a stream of INCRs through every kind of fault: whatever the client
// was told succeeded must be in the counter, and nothing may be applied twice.
func TestProxyChaos(t *testing.T) {
	srv := redistest.Real(t)
	p := redistest.NewProxy(t, srv.Addr)
	rdb := client(t, p.Addr, 150*time.Millisecond)
	direct := client(t, srv.Addr, time.Second)

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	p.Chaos(ctx, redistest.ChaosOptions{Seed: 42})

	const workers = 4
	var (
		wg               sync.WaitGroup
		mu               sync.Mutex
		attempts, acked  int64
		firstErr, errMsg string
	)
	for w := range workers {
		wg.Go(func() {
			var last int64
			for ctx.Err() == nil {
				// Not ctx: a command cut off by the test's deadline is not a fault.
				n, err := rdb.Incr(context.Background(), "counter").Result()
				mu.Lock()
				attempts++
				switch {
				case err != nil:
					if firstErr == "" {
						firstErr = err.Error()
					}
				case n <= last: // one worker's commands are sequential: its replies must grow
					errMsg = fmt.Sprintf("worker %d: INCR returned %d after %d", w, n, last)
				default:
					acked++
					last = n
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if errMsg != "" {
		t.Fatal(errMsg)
	}

	final, err := direct.Get(t.Context(), "counter").Int64()
	if err != nil {
		t.Fatalf("read counter directly: %v", err)
	}
	f := p.Faults()
	t.Logf("faults %+v; %d INCRs, %d acknowledged, counter %d; first error: %s", f, attempts, acked, final, firstErr)
	if f.DroppedReplies == 0 || f.Resets == 0 || f.Freezes == 0 {
		t.Errorf("faults %+v: want some of every kind in 2s", f)
	}
	if acked == attempts {
		t.Errorf("all %d INCRs succeeded: the faults reached no client", attempts)
	}
	if final < acked {
		t.Errorf("counter %d < %d acknowledged INCRs: an acknowledged write was lost", final, acked)
	}
	if final > attempts {
		t.Errorf("counter %d > %d INCRs sent: a command was applied twice", final, attempts)
	}
}

// TestProxyNoLeak checks that a proxy's goroutines are all gone after its test, even with
// connections frozen mid-stream and chaos still running.
func TestProxyNoLeak(t *testing.T) {
	srv := redistest.Real(t)
	t.Run("busy", func(t *testing.T) {
		p := redistest.NewProxy(t, srv.Addr)
		for range 3 {
			rawConn(t, p.Addr)
		}
		c := rawConn(t, p.Addr)
		p.Chaos(t.Context(), redistest.ChaosOptions{Every: time.Millisecond, Kinds: []string{"drop"}, Seed: 1})
		p.Freeze()
		_, _ = c.Write([]byte("PING\r\n")) // held by the freeze
		if p.Conns() != 4 {
			t.Fatalf("Conns() = %d, want 4", p.Conns())
		}
	})
	deadline := time.Now().Add(2 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		if !strings.Contains(stacks, "redistest.(*Proxy)") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("proxy goroutines left after cleanup:\n%s", stacks)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
