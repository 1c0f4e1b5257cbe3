package redisdata

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata/redistest"
)

// startSubscriber runs a subscriber until the test ends and waits until it is live.
func startSubscriber(t testing.TB, addr string, opts SubscriberOptions) *Subscriber {
	t.Helper()
	c, err := NewClient(Options{Addr: addr, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if opts.Channel.String() == "" {
		opts.Channel = chanPattern
	}
	s := NewSubscriber(c, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		c.Close()
	})
	waitFor(t, 3*time.Second, "subscriber live", func() bool { return s.Stats().State == StateLive })
	return s
}

func waitFor(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func nextTick(t testing.TB, s *Subscriber, limit time.Duration) model.Tick {
	t.Helper()
	select {
	case tk := <-s.Ticks():
		return tk
	case <-time.After(limit):
		t.Fatalf("no tick within %v (stats %+v)", limit, s.Stats())
	}
	return model.Tick{}
}

func TestSubscriberDecodesAndCountsBadMessages(t *testing.T) {
	redistest.Each(t, func(t *testing.T, target redistest.Target) {
		for _, mode := range []string{"pattern", "assets"} {
			t.Run(mode, func(t *testing.T) {
				opts := SubscriberOptions{MaxBadPayload: 40}
				if mode == "assets" {
					opts.Assets = []string{"EURUSD_otc", "USDJPY_otc"}
				}
				s := startSubscriber(t, target.Addr, opts)
				w := newWriter(t, target.Addr)
				ctx := context.Background()
				now := time.Now().Unix()
				w.Publish(ctx, "updates:EURUSD_otc", fmt.Sprintf(`{"asset":"EURUSD_otc","price":1.08241,"timestamp":%d}`, now))
				w.Publish(ctx, "updates:USDJPY_otc", "not json at all "+strings.Repeat("x", 100))
				w.Publish(ctx, "updates:USDJPY_otc", fmt.Sprintf(`{"price":NaN,"timestamp":%d}`, now))
				// No asset in the payload: it comes from the channel.
				w.Publish(ctx, "updates:USDJPY_otc", fmt.Sprintf(`{"close":150.123,"timestamp":%d}`, now))

				t1 := nextTick(t, s, 2*time.Second)
				t2 := nextTick(t, s, 2*time.Second)
				if t1.Asset != "EURUSD_otc" || t1.Price != 1.08241 || t2.Asset != "USDJPY_otc" || t2.Price != 150.123 {
					t.Fatalf("ticks %+v %+v", t1, t2)
				}
				st := s.Stats()
				if st.Received != 4 || st.Bad != 2 || st.Dropped != 0 {
					t.Fatalf("stats %+v", st)
				}
				jpy := st.Assets["USDJPY_otc"]
				if jpy.Bad != 2 || jpy.Received != 1 || jpy.LastBad == nil || !strings.Contains(jpy.LastBad.Err, "unusable price") {
					t.Fatalf("USDJPY counts %+v", jpy)
				}
				first := s.Events(nil)
				var bad []string
				for _, e := range first {
					if e.Kind == "bad" {
						bad = append(bad, e.Text)
					}
				}
				if len(bad) != 2 || !strings.Contains(bad[0], "not a JSON object") || !strings.Contains(bad[0], "… (116 bytes)") {
					t.Fatalf("bad events %q", bad)
				}
				if names := st.AssetNames(); len(names) != 2 {
					t.Fatalf("assets %v", names)
				}
			})
		}
	})
}

func TestSubscriberNeverBlocksOnASlowConsumer(t *testing.T) {
	m := redistest.Mini(t)
	s := startSubscriber(t, m.Addr(), SubscriberOptions{Buffer: 10})
	w := newWriter(t, m.Addr())
	ctx := context.Background()
	now := time.Now().Unix()
	for i := range 100 {
		w.Publish(ctx, "updates:EURUSD_otc", fmt.Sprintf(`{"price":%d.5,"timestamp":%d}`, i+1, now))
	}
	// Nobody reads Ticks(): the reader must go on, dropping and counting.
	waitFor(t, 3*time.Second, "all 100 received", func() bool { return s.Stats().Received == 100 })
	st := s.Stats()
	if st.Dropped != 90 || st.Assets["EURUSD_otc"].Dropped != 90 || st.Assets["EURUSD_otc"].Received != 100 {
		t.Fatalf("stats %+v", st)
	}
	// The ten kept are the first ten, in order.
	for i := range 10 {
		if tk := nextTick(t, s, time.Second); tk.Price != float64(i+1)+0.5 {
			t.Fatalf("tick %d: %+v", i, tk)
		}
	}
}

// The restart test of the issue: kill the real server under an attached subscriber, start
// it again, and the subscriber must receive again within 3 s, by itself.
func TestSubscriberSurvivesServerRestart(t *testing.T) {
	srv := redistest.Real(t)
	s := startSubscriber(t, srv.Addr, SubscriberOptions{HealthInterval: 500 * time.Millisecond, DownAfter: 300 * time.Millisecond})
	ctx := context.Background()
	publish := func() error {
		w, _ := NewClient(Options{Addr: srv.Addr, DialTimeout: 200 * time.Millisecond})
		defer w.Close()
		return w.Publish(ctx, "updates:EURUSD_otc", fmt.Sprintf(`{"price":1.1,"timestamp":%d}`, time.Now().Unix())).Err()
	}
	if err := publish(); err != nil {
		t.Fatal(err)
	}
	nextTick(t, s, 2*time.Second)

	srv.Kill()
	waitFor(t, 3*time.Second, "reconnecting", func() bool {
		st := s.Stats().State
		return st == StateReconnecting || st == StateDown
	})
	outage := s.Stats().Since
	waitFor(t, 2*time.Second, "down", func() bool { return s.Stats().State == StateDown })
	if s.Stats().Since != outage {
		t.Fatal("down must keep the time the outage began")
	}

	srv.Restart(t)
	restarted := time.Now()
	// Publish until one gets through: messages sent before the resubscribe are lost, as
	// pub/sub is at-most-once.
	got := make(chan time.Duration, 1)
	go func() {
		select {
		case <-s.Ticks():
			got <- time.Since(restarted)
		case <-time.After(5 * time.Second):
			got <- -1
		}
	}()
	var took time.Duration
	for took == 0 {
		_ = publish()
		select {
		case took = <-got:
		case <-time.After(50 * time.Millisecond):
		}
	}
	if took < 0 || took > 3*time.Second {
		t.Fatalf("received again after %v, want within 3s", took)
	}
	st := s.Stats()
	if st.State != StateLive || st.Reconnects != 1 || st.LastErr == "" {
		t.Fatalf("after restart: %+v", st)
	}
	t.Logf("receiving again %v after the restart", took)
}

func TestSubscriberStopsCleanly(t *testing.T) {
	m := redistest.Mini(t)
	c, _ := NewClient(Options{Addr: m.Addr()})
	defer c.Close()
	s := NewSubscriber(c, SubscriberOptions{Channel: chanPattern})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	waitFor(t, 2*time.Second, "live", func() bool { return s.Stats().State == StateLive })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if _, open := <-s.Ticks(); open {
		t.Fatal("tick channel still open")
	}
	if s.Stats().State != StateStopped {
		t.Fatal("state not stopped")
	}
}

// eurusdPayloads returns the real recording as producer JSON payloads.
func eurusdPayloads(t testing.TB) []string {
	f, err := os.Open("../testdata/EURUSD_otc_ticks.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ticks, _, err := model.ReadCSV(f, model.CSVOptions{Asset: "EURUSD_otc"})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(ticks))
	for i, tk := range ticks {
		out[i] = fmt.Sprintf(`{"asset":"EURUSD_otc","price":%s,"timestamp":%.3f}`,
			strconv.FormatFloat(tk.Price, 'f', -1, 64), float64(tk.UnixMicro)/1e6)
	}
	return out
}

// BenchmarkSubscriberVsRedisBenchmark measures how many messages per second the subscriber
// receives and decodes from a real redis-server while redis-benchmark publishes a real tick
// with -P 32, and reports the ratio of the two rates measured in the same run.
func BenchmarkSubscriberVsRedisBenchmark(b *testing.B) {
	benchPath, err := exec.LookPath("redis-benchmark")
	if err != nil {
		if redistest.RequireReal() {
			b.Fatal("redis-benchmark not installed")
		}
		b.Skip("redis-benchmark not installed")
	}
	// No output-buffer limit for subscribers: a lagging reader must be measured, not
	// disconnected by the server halfway.
	srv := redistest.Real(b, "--client-output-buffer-limit", "pubsub 0 0 0")
	s := startSubscriber(b, srv.Addr, SubscriberOptions{Buffer: 1 << 16})
	var consumed atomic.Int64
	go func() {
		for range s.Ticks() {
			consumed.Add(1)
		}
	}()
	payload := eurusdPayloads(b)[0]
	n := 1_000_000
	b.ResetTimer()
	for b.Loop() {
		before := s.Stats()
		start := time.Now()
		out, err := exec.Command(benchPath, "-h", "127.0.0.1", "-p", strconv.Itoa(srv.Port), "-c", "1", "-P", "32",
			"-n", strconv.Itoa(n), "-q", "PUBLISH", "updates:EURUSD_otc", payload).CombinedOutput()
		if err != nil {
			b.Fatalf("redis-benchmark: %v\n%s", err, out)
		}
		publishRate := parseRedisBenchmarkRate(b, string(out))
		waitFor(b, 60*time.Second, "every message received", func() bool {
			return s.Stats().Received-before.Received >= int64(n)
		})
		took := time.Since(start)
		st := s.Stats()
		if got := st.Received - before.Received; got != int64(n) || st.Bad != 0 {
			b.Fatalf("received %d of %d, bad %d", got, n, st.Bad)
		}
		recvRate := float64(n) / took.Seconds()
		b.ReportMetric(recvRate, "msgs/s")
		b.ReportMetric(publishRate, "redis-benchmark-publish/s")
		b.ReportMetric(recvRate/publishRate, "ratio")
		b.ReportMetric(float64(st.Dropped-before.Dropped), "dropped")
	}
}

var rateRe = regexp.MustCompile(`([0-9.]+) requests per second`)

func parseRedisBenchmarkRate(b *testing.B, out string) float64 {
	// -q prints progress with carriage returns, then the final figure.
	sc := bufio.NewScanner(strings.NewReader(strings.ReplaceAll(out, "\r", "\n")))
	rate := 0.0
	for sc.Scan() {
		if m := rateRe.FindStringSubmatch(sc.Text()); m != nil {
			rate, _ = strconv.ParseFloat(m[1], 64)
		}
	}
	if rate == 0 {
		b.Fatal(errors.New("no rate in redis-benchmark output: " + out))
	}
	return rate
}

// A frozen link (the peer is gone but nothing resets the connection: a partition, a dead
// host) accepts the subscriber's PING, so a write that succeeds proves nothing. The
// unanswered PONG must end the live state within HealthInterval + PongTimeout, and the
// subscriber must come back by itself once the link thaws, seeing new messages.
func TestSilentConnectionIsNoticedAndRedialled(t *testing.T) {
	srv := redistest.Real(t)
	proxy := redistest.NewProxy(t, srv.Addr)
	s := startSubscriber(t, proxy.Addr, SubscriberOptions{
		Assets: []string{"A_otc"}, HealthInterval: 300 * time.Millisecond, PongTimeout: 300 * time.Millisecond,
	})
	w := newWriter(t, srv.Addr)
	ctx := context.Background()
	w.Publish(ctx, "updates:A_otc", `{"price":1.5,"timestamp":1752960407}`)
	nextTick(t, s, 2*time.Second)

	proxy.Freeze()
	frozen := time.Now()
	waitFor(t, 5*time.Second, "the silent link to be noticed", func() bool { return s.Stats().State != StateLive })
	noticed := time.Since(frozen)
	if st := s.Stats(); !strings.Contains(st.LastErr, "no reply to PING") {
		t.Fatalf("state %v, last error %q", st.State, st.LastErr)
	}
	proxy.Thaw()
	waitFor(t, 5*time.Second, "live again", func() bool { return s.Stats().State == StateLive })
	w.Publish(ctx, "updates:A_otc", `{"price":1.6,"timestamp":1752960408}`)
	if tk := nextTick(t, s, 3*time.Second); tk.Price != 1.6 {
		t.Fatalf("after the thaw got %+v", tk)
	}
	t.Logf("a frozen link was noticed %v after the freeze (health 300ms + pong 300ms)", noticed.Round(time.Millisecond))
}

// Channel names are the publisher's choice, of any length: huge ones must cost neither
// memory (a cache of names, remembered candidates, kept bad messages) nor the connection
// (a name over the reader's limit is cut, not a protocol error that redials).
func TestHugeChannelNamesAreHarmless(t *testing.T) {
	srv := redistest.Real(t)
	s := startSubscriber(t, srv.Addr, SubscriberOptions{})
	w := newWriter(t, srv.Addr)
	ctx := context.Background()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range 300 {
		name := fmt.Sprintf("updates:%d%s", i, strings.Repeat("x", 1<<20))
		w.Publish(ctx, name, `{"price":1.5,"timestamp":1752960407}`)
	}
	w.Publish(ctx, "updates:EURUSD_otc", fmt.Sprintf(`{"price":1.5,"timestamp":%d}`, time.Now().Unix()))
	waitFor(t, 10*time.Second, "every message read", func() bool { return s.Stats().Received == 301 })
	runtime.GC()
	runtime.ReadMemStats(&after)
	st := s.Stats()
	if st.Reconnects != 0 || st.State != StateLive || st.Bad != 300 {
		t.Fatalf("stats %+v", st)
	}
	if grew := int64(after.HeapInuse) - int64(before.HeapInuse); grew > 32<<20 {
		t.Fatalf("300 channel names of 1 MB left %d MB in use", grew>>20)
	}
	if bm := st.LastBad; bm == nil || len(bm.Channel) > 200 || len(bm.Err) > 400 {
		t.Fatalf("the last bad message keeps %d bytes of channel name", len(bm.Channel))
	}
}

// A flood that never lets the read buffer run dry must not trip the quiet-feed deadline:
// it was set once, when the buffer was last empty, and expired in the middle of a message
// a HealthInterval later, which cut the stream and lost what was in flight.
func TestSubscriberSustainedFloodKeepsItsConnection(t *testing.T) {
	srv := redistest.Real(t, "--client-output-buffer-limit", "pubsub 0 0 0")
	var got atomic.Int64
	s := startSubscriber(t, srv.Addr, SubscriberOptions{HealthInterval: 200 * time.Millisecond, PongTimeout: 200 * time.Millisecond,
		Sink: func(model.Tick) {
			// A reader a little slower than the publisher: the buffer never empties.
			if got.Add(1)%50 == 0 {
				time.Sleep(100 * time.Microsecond)
			}
		}})
	w := newWriter(t, srv.Addr)
	ctx := context.Background()
	const n = 60_000
	payloads := eurusdPayloads(t)
	for sent := 0; sent < n; {
		pipe := w.Pipeline()
		for range 1000 {
			pipe.Publish(ctx, "updates:EURUSD_otc", payloads[sent%len(payloads)])
			sent++
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 30*time.Second, "every message", func() bool {
		st := s.Stats()
		return st.Received >= n || st.Reconnects > 0
	})
	if st := s.Stats(); st.Received != n || st.Reconnects != 0 || st.Bad != 0 {
		t.Fatalf("received %d of %d, %d reconnects (%s), bad %d", st.Received, n, st.Reconnects, st.LastErr, st.Bad)
	}
}

// At a high rate a display's reader holds ticks in the socket until the display asks
// for them: Drain returns with every tick that had arrived in the sink.
func TestSubscriberHoldsTicksUntilDrained(t *testing.T) {
	srv := redistest.Real(t)
	var held atomic.Int64
	s := startSubscriber(t, srv.Addr, SubscriberOptions{Hold: 10 * time.Second, Pending: func() { held.Add(1) },
		burstWindow: time.Second})
	w := newWriter(t, srv.Addr)
	ctx := context.Background()
	publish := func(n int) {
		pipe := w.Pipeline()
		for i := range n {
			pipe.Publish(ctx, "updates:EURUSD_otc", fmt.Sprintf(`{"price":1.08,"timestamp":%d}`, 1729760400+i))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	drainCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	publish(500) // a burst: the reader starts holding as it reads it
	waitFor(t, 5*time.Second, "the reader holding", func() bool { return held.Load() > 0 })
	// The reader may start holding before the server wrote the whole burst: each Drain
	// takes what had arrived when it was called.
	waitFor(t, 5*time.Second, "the burst drained", func() bool {
		if err := s.Drain(drainCtx); err != nil {
			t.Fatal(err)
		}
		return s.Stats().Received == 500
	})
	publish(50)
	time.Sleep(50 * time.Millisecond) // in the reader's socket by now, not taken
	if got := s.Stats().Received; got != 500 {
		t.Fatalf("received %d while holding, want 500", got)
	}
	if err := s.Drain(drainCtx); err != nil {
		t.Fatal(err)
	}
	if got := s.Stats().Received; got != 550 {
		t.Fatalf("received %d after Drain, want 550", got)
	}
	// Published one by one (a segment each), as a live feed arrives: the held socket
	// must keep taking them in, not leave them with a server waiting for acknowledgements.
	for i := range 300 {
		if err := w.Publish(ctx, "updates:EURUSD_otc", fmt.Sprintf(`{"price":1.09,"timestamp":%d}`, 1729770400+i)).Err(); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(50 * time.Millisecond)
	if err := s.Drain(drainCtx); err != nil {
		t.Fatal(err)
	}
	if got := s.Stats().Received; got != 850 {
		t.Fatalf("received %d after Drain, want 850: ticks stayed behind in the server", got)
	}
	// A quiet feed is read as it comes, without a Drain.
	waitFor(t, 5*time.Second, "the reader to stop holding", func() bool {
		publish(1)
		_ = s.Drain(drainCtx)
		time.Sleep(20 * time.Millisecond)
		s.drainMu.Lock()
		defer s.drainMu.Unlock()
		return !s.holding
	})
	before := s.Stats().Received
	publish(1)
	waitFor(t, 5*time.Second, "a tick of a quiet feed", func() bool { return s.Stats().Received == before+1 })
}

// Sync returns once every message published before it is counted: the flusher's
// trim-loss window depends on it. A slow reader makes the lag real: without Sync the
// count right after the last PUBLISH is short.
func TestSubscriberSyncCountsEverythingPublishedBefore(t *testing.T) {
	srv := redistest.Real(t)
	var slow atomic.Bool
	var n atomic.Int64
	s := startSubscriber(t, srv.Addr, SubscriberOptions{Sink: func(model.Tick) {
		if slow.Load() && n.Add(1)%100 == 0 {
			time.Sleep(time.Millisecond)
		}
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	waitFor(t, 5*time.Second, "subscribed", func() bool { return s.Sync(ctx) == nil })
	w := newWriter(t, srv.Addr)
	payloads := eurusdPayloads(t)
	slow.Store(true)
	var lagged bool
	for round := 1; round <= 5; round++ {
		pipe := w.Pipeline()
		for i := range 2000 {
			pipe.Publish(ctx, "updates:EURUSD_otc", payloads[i%len(payloads)])
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
		lagged = lagged || s.Stats().Received < int64(round*2000)
		if err := s.Sync(ctx); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if got := s.Stats().Received; got != int64(round*2000) {
			t.Fatalf("round %d: %d received after Sync, want %d", round, got, round*2000)
		}
	}
	if !lagged {
		t.Log("the reader never lagged: Sync was not put to the test")
	}
}

// A Sync on a subscriber that has no connection says so at once, not after a timeout.
func TestSubscriberSyncWithoutConnection(t *testing.T) {
	c, err := NewClient(Options{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := NewSubscriber(c, SubscriberOptions{})
	if err := s.Sync(context.Background()); !errors.Is(err, errNotSubscribed) {
		t.Fatalf("Sync without a connection: %v", err)
	}
}
