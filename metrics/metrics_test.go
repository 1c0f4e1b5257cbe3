package metrics_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quflx/quflx-tui/flusher"
	"github.com/quflx/quflx-tui/metrics"
	"github.com/quflx/quflx-tui/metrics/metricstest"
	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata"
	"github.com/quflx/quflx-tui/redisdata/redistest"
	"github.com/quflx/quflx-tui/simulator"
	"github.com/quflx/quflx-tui/store"
)

func pattern(t testing.TB, s string) model.KeyPattern {
	t.Helper()
	p, err := model.ParseKeyPattern(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// pipeline is a feed, a flusher and a watch session on one real Redis, all exported.
type pipeline struct {
	ex      *metrics.Exporter
	feeder  *simulator.Feeder
	flusher *flusher.Flusher
	watch   *redisdata.Watch
	assets  []string
}

// startPipeline runs n assets at rate ticks/s each until the test ends.
func startPipeline(t testing.TB, n int, rate float64) *pipeline {
	t.Helper()
	srv := redistest.Real(t)
	ctx, cancel := context.WithCancel(context.Background())
	ticks, channel := pattern(t, "ticks:{asset}"), pattern(t, "updates:{asset}")
	client := func(readOnly bool) *redisdata.Client {
		c, err := redisdata.NewClient(redisdata.Options{Addr: srv.Addr, ReadOnly: readOnly, MaxRetries: -1})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	writer := client(false)
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "ticks.db"))
	if err != nil {
		t.Fatal(err)
	}
	p := &pipeline{ex: metrics.New()}
	assets := simulator.Pick(n)
	for _, a := range assets {
		p.assets = append(p.assets, a.Name)
	}
	p.watch = redisdata.NewWatch(client(true), redisdata.WatchOptions{
		TickKey: ticks, Channel: channel, CacheKey: pattern(t, "historical:{asset}:{timeframe}"), Assets: p.assets,
		Subscribe: true, PollEvery: 200 * time.Millisecond, Thresholds: model.HealthThresholds{Capacity: 1000},
	})
	p.flusher = flusher.New(writer, st, flusher.Options{TickKey: ticks, Channel: channel, Assets: p.assets,
		Interval: 300 * time.Millisecond, Observe: p.ex.ObserveFlusher()})
	producer := redisdata.NewProducer(writer, redisdata.ProducerOptions{TickKey: ticks, Channel: channel})
	syn := simulator.NewSynthetic(simulator.SyntheticOptions{Assets: assets, Rate: rate, Seed: 1}, time.Now())
	p.feeder = simulator.NewFeeder(producer, []simulator.Source{syn}, simulator.FeedOptions{})
	p.ex.Watch(p.watch)
	p.ex.Flusher(p.flusher)
	p.ex.Feeder(p.feeder)

	p.watch.Start(ctx)
	done := make(chan struct{}, 2)
	go func() { _ = p.flusher.Run(ctx); done <- struct{}{} }()
	go func() { _ = p.feeder.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() {
		cancel()
		<-done
		<-done
		p.watch.Close()
		writer.Close()
		st.Close()
	})
	return p
}

// Everything the exporter offers, on a live pipeline: the values move, the func gauges
// of other features (alerts, SSH sessions) read their source at each scrape, and the
// whole exposition passes promtool.
func TestExporterOfALivePipeline(t *testing.T) {
	p := startPipeline(t, 3, 50)
	var alerts, sessions atomic.Int64
	p.ex.AlertsFiring(func() int { return int(alerts.Load()) })
	p.ex.SSHSessions(func() int { return int(sessions.Load()) })
	if err := p.ex.Serve("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	addr := p.ex.Addr()

	var text string
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		text = metricstest.Scrape(t, addr)
		rows, _ := metricstest.Value(text, "quflx_flusher_rows_total")
		writes, _ := metricstest.Value(text, `quflx_store_write_duration_seconds_count{result="ok"}`)
		if rows > 0 && writes > 0 && metricstest.Sum(text, "quflx_ticks_received_total") > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pipeline's figures did not move:\n%s", text)
		}
	}
	for _, a := range p.assets {
		if _, ok := metricstest.Value(text, `quflx_ticks_received_total{asset="`+a+`"}`); !ok {
			t.Errorf("no received counter for %s", a)
		}
	}
	if fed, _ := metricstest.Value(text, "quflx_feed_ticks_total"); fed == 0 {
		t.Error("quflx_feed_ticks_total did not move")
	}
	if v, _ := metricstest.Value(text, "quflx_flusher_flush_duration_seconds_count"); v == 0 {
		t.Error("no flush timed")
	}
	if v, _ := metricstest.Value(text, `quflx_flusher_state{state="stopped"}`); v != 0 {
		t.Error("a running flusher exported as stopped")
	}

	for _, want := range []int64{0, 2} {
		alerts.Store(want)
		sessions.Store(want + 1)
		text = metricstest.Scrape(t, addr)
		if v, _ := metricstest.Value(text, "quflx_alerts_firing"); v != float64(want) {
			t.Errorf("quflx_alerts_firing = %v, want %d", v, want)
		}
		if v, _ := metricstest.Value(text, "quflx_ssh_sessions"); v != float64(want+1) {
			t.Errorf("quflx_ssh_sessions = %v, want %d", v, want+1)
		}
	}
	metricstest.Promtool(t, text)

	// Close stops serving: the port is released.
	if err := p.ex.Close(); err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("still listening after Close")
	}
}

// A nil exporter (no --metrics) takes every call, so modes wire it unconditionally.
func TestNilExporterDoesNothing(t *testing.T) {
	var ex *metrics.Exporter
	ex.Watch(nil)
	ex.Flusher(nil)
	ex.Feeder(nil)
	ex.AlertsFiring(func() int { return 1 })
	ex.SSHSessions(func() int { return 1 })
	if o := ex.ObserveFlusher(); o.Flush != nil || o.StoreWrite != nil {
		t.Fatal("a nil exporter's observer observes")
	}
	if ex.Addr() != "" || ex.Close() != nil {
		t.Fatal("a nil exporter serves")
	}
}

// An address in use is refused at once, not logged later.
func TestServeRefusesAPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := metrics.Listen(l.Addr().String()); err == nil {
		t.Fatal("listened on a port in use")
	}
}

// The server's timeouts: a client that connects and sends nothing is cut off, and does
// not stop Close.
func TestSilentClientDoesNotHoldClose(t *testing.T) {
	ex, err := metrics.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", ex.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	closed := make(chan error, 1)
	go func() { closed <- ex.Close() }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close waited for a silent client")
	}
	if _, err := http.Get("http://" + ex.Addr() + "/metrics"); err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("served after Close: %v", err)
	}
}

// BenchmarkScrape is one /metrics scrape over HTTP with 10 assets live (100 ticks/s each
// through a real Redis, a flusher and a watch session).
func BenchmarkScrape(b *testing.B) {
	p := startPipeline(b, 10, 100)
	if err := p.ex.Serve("127.0.0.1:0"); err != nil {
		b.Fatal(err)
	}
	defer p.ex.Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		text := metricstest.Scrape(b, p.ex.Addr())
		if metricstest.Sum(text, "quflx_ticks_received_total") > 0 || time.Now().After(deadline) {
			break
		}
	}
	b.ResetTimer()
	for b.Loop() {
		metricstest.Scrape(b, p.ex.Addr())
	}
}
