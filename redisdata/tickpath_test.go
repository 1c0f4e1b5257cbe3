package redisdata

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quflx/quflx-tui/model"
)

// pubsubFeed is a server that speaks just enough RESP to feed a pattern subscriber:
// it confirms PSUBSCRIBE, answers PING, and writes pre-encoded messages, so that a
// benchmark measures the reader's path from the socket and nothing of a server's.
type pubsubFeed struct {
	ln    net.Listener
	conns chan net.Conn
}

func newPubSubFeed(tb testing.TB) *pubsubFeed {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	f := &pubsubFeed{ln: ln, conns: make(chan net.Conn, 1)}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go f.serve(c)
		}
	}()
	return f
}

// serve answers the subscriber's commands; messages are written by the benchmark.
func (f *pubsubFeed) serve(c net.Conn) {
	rd := bufio.NewReader(c)
	for {
		args, err := readCommand(rd)
		if err != nil {
			c.Close()
			return
		}
		switch args[0] {
		case "PSUBSCRIBE":
			fmt.Fprintf(c, "*3\r\n$10\r\npsubscribe\r\n$%d\r\n%s\r\n:1\r\n", len(args[1]), args[1])
			f.conns <- c
		case "PING":
			fmt.Fprint(c, "*2\r\n$4\r\npong\r\n$0\r\n\r\n")
		default:
			fmt.Fprint(c, "+OK\r\n")
		}
	}
}

func readCommand(rd *bufio.Reader) ([]string, error) {
	line, err := rd.ReadString('\n')
	if err != nil {
		return nil, err
	}
	n, _ := strconv.Atoi(line[1 : len(line)-2])
	args := make([]string, n)
	for i := range args {
		if _, err := rd.ReadString('\n'); err != nil { // $len
			return nil, err
		}
		arg, err := rd.ReadString('\n')
		if err != nil {
			return nil, err
		}
		args[i] = arg[:len(arg)-2]
	}
	return args, nil
}

// pmessages encodes n QuFLX ticks over ten assets as pmessage replies.
func pmessages(n int) [][]byte {
	out := make([][]byte, n)
	base := time.Now().Add(-time.Minute)
	for i := range out {
		channel := fmt.Sprintf("updates:ASSET%d_otc", i%10)
		payload := fmt.Sprintf(`{"asset":"ASSET%d_otc","price":%s,"timestamp":%.6f}`, i%10,
			strconv.FormatFloat(1.08+float64(i%97)/1e5, 'f', -1, 64), float64(base.Add(time.Duration(i)*time.Microsecond).UnixMicro())/1e6)
		out[i] = fmt.Appendf(nil, "*4\r\n$8\r\npmessage\r\n$9\r\nupdates:*\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n",
			len(channel), channel, len(payload), payload)
	}
	return out
}

func cpuTime() time.Duration { return rusage(syscall.RUSAGE_SELF) }

func rusage(who int) time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(who, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// writeFeed writes n of msgs to conn: at rate a second in 1 ms batches (paced by the
// clock from start), or in 64 KiB writes as fast as the reader takes them (rate 0).
func writeFeed(conn net.Conn, msgs [][]byte, n, rate int, start time.Time) error {
	var buf []byte
	for sent := 0; sent < n; {
		buf = buf[:0]
		perMs := max(1, rate/1000)
		for k := 0; sent < n && (rate > 0 && k < perMs || rate == 0 && len(buf) < 64<<10); k++ {
			buf = append(buf, msgs[sent%len(msgs)]...)
			sent++
		}
		if _, err := conn.Write(buf); err != nil {
			return err
		}
		if rate > 0 {
			time.Sleep(time.Until(start.Add(time.Duration(sent) * time.Second / time.Duration(rate))))
		}
	}
	return nil
}

// TestMain doubles as the feed of BenchmarkSocketToMarket, run as a process of its own
// so that none of the feed's work counts in the benchmark's CPU figures.
func TestMain(m *testing.M) {
	if spec := os.Getenv("QUFLX_TEST_FEED"); spec != "" {
		os.Exit(runFeedProcess(spec))
	}
	os.Exit(m.Run())
}

// runFeedProcess listens, prints its address, and writes "n,rate" messages to the first
// subscriber, then serves it until it hangs up.
func runFeedProcess(spec string) int {
	var n, rate int
	if _, err := fmt.Sscanf(spec, "%d,%d", &n, &rate); err != nil {
		fmt.Fprintln(os.Stderr, "feed:", err)
		return 2
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "feed:", err)
		return 2
	}
	f := &pubsubFeed{ln: ln, conns: make(chan net.Conn, 1)}
	fmt.Println(ln.Addr())
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		f.serve(c)
		os.Exit(0) // the subscriber hung up
	}()
	conn := <-f.conns
	if err := writeFeed(conn, pmessages(10_000), n, rate, time.Now()); err != nil {
		fmt.Fprintln(os.Stderr, "feed:", err)
		return 1
	}
	select {}
}

// BenchmarkSocketToMarket is the dashboard's path for every tick: bytes on the socket,
// the subscriber's reader and decoder, Market.Add in the same goroutine. "max" feeds as
// fast as the reader takes (ns/op is per message); "10k/s" feeds 10,000 messages a second
// in 1 ms batches, as a real feed arrives, and reports the CPU of the reading process:
// what the path costs at that rate, wake-ups included. The feed is another process.
//
// "10k/s-frames15" and "-frames60" add a display that takes the ticks before each frame
// (Subscriber.Drain) at 15 and 60 frames a second, as the dashboard does: the reader
// then holds ticks in the socket between frames and wakes once a frame.
func BenchmarkSocketToMarket(b *testing.B) {
	for _, feedCase := range []struct {
		rate, fps int
	}{{0, 0}, {10_000, 0}, {10_000, 15}, {10_000, 60}} {
		rate, fps := feedCase.rate, feedCase.fps
		name := "max"
		if rate > 0 {
			name = fmt.Sprintf("%dk/s", rate/1000)
		}
		if fps > 0 {
			name += fmt.Sprintf("-frames%d", fps)
		}
		b.Run(name, func(b *testing.B) {
			self, err := os.Executable()
			if err != nil {
				b.Fatal(err)
			}
			feed := exec.Command(self)
			feed.Env = append(os.Environ(), fmt.Sprintf("QUFLX_TEST_FEED=%d,%d", b.N, rate))
			feed.Stderr = os.Stderr
			out, _ := feed.StdoutPipe()
			if err := feed.Start(); err != nil {
				b.Fatal(err)
			}
			defer func() { _ = feed.Process.Kill(); _ = feed.Wait() }()
			addr, err := bufio.NewReader(out).ReadString('\n')
			if err != nil {
				b.Fatal("feed: ", err)
			}
			c, err := NewClient(Options{Addr: strings.TrimSpace(addr), ReadOnly: true})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			market := model.NewMarket(model.MarketOptions{})
			allIn := make(chan struct{})
			added := 0
			opts := SubscriberOptions{Channel: chanPattern, Coalesce: benchCoalesce(),
				Sink: func(t model.Tick) {
					market.Add(t, time.Now().UnixMicro())
					if added++; added == b.N {
						close(allIn)
					}
				}}
			if fps > 0 {
				opts.Hold = 100 * time.Millisecond
			}
			s := NewSubscriber(c, opts)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			b.ResetTimer()
			cpu0, start := cpuTime(), time.Now()
			go func() {
				defer close(done)
				_ = s.Run(ctx)
			}()
			defer func() { cancel(); <-done }()
			if fps > 0 {
				go func() { // the display
					frames := time.NewTicker(time.Second / time.Duration(fps))
					defer frames.Stop()
					for {
						select {
						case <-ctx.Done():
							return
						case <-frames.C:
							_ = s.Drain(ctx)
						}
					}
				}()
			}
			select { // no polling: the waiting must cost nothing
			case <-allIn:
			case <-time.After(time.Minute):
			}
			wall, cpu := time.Since(start), cpuTime()-cpu0
			b.StopTimer()
			if st := s.Stats(); st.Bad != 0 || st.Dropped != 0 || st.Reconnects != 0 || st.Received != int64(b.N) {
				b.Fatalf("received %d of %d, bad %d dropped %d reconnects %d (%s)", st.Received, b.N, st.Bad, st.Dropped, st.Reconnects, st.LastErr)
			}
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/msg")
			if rate > 0 {
				b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "cpu-%")
			}
		})
	}
}

// A server that stalls in the middle of a message has lost the stream's position for
// this connection: the subscriber reconnects, saying so, rather than reading the rest of
// the message as a new one.
func TestSubscriberStallMidMessageReconnects(t *testing.T) {
	feed := newPubSubFeed(t)
	s := startSubscriber(t, feed.ln.Addr().String(), SubscriberOptions{HealthInterval: 200 * time.Millisecond, PongTimeout: 200 * time.Millisecond})
	conn := <-feed.conns
	msg := pmessages(1)[0]
	if _, err := conn.Write(msg[:len(msg)/2]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "a reconnect", func() bool { return s.Stats().Reconnects > 0 })
	st := s.Stats()
	if !strings.Contains(st.LastErr, "stalled in the middle of a message") || st.Received != 0 || st.Bad != 0 {
		t.Fatalf("after a stall: %+v", st)
	}
	// The new connection works.
	conn = <-feed.conns
	if _, err := conn.Write(msg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the message", func() bool { return s.Stats().Received == 1 })
}

func benchCoalesce() time.Duration {
	d, _ := time.ParseDuration(os.Getenv("QUFLX_BENCH_COALESCE"))
	return d
}
