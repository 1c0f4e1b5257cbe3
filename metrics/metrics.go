// Package metrics exposes quflx-tui's figures to Prometheus at /metrics (--metrics ADDR).
//
// The collectors read state that already exists when they are scraped (the watch
// session's latest reading, the flusher's and the feeder's counters): nothing on a hot
// path counts twice. Durations are the exception, since a histogram needs each event:
// the flusher reports them through its Observe hook (flusher.Observer). This is the only
// package that imports Prometheus.
//
// Per-asset series are bounded: they exist only for assets the watch session's admission
// tracks (the named ones plus at most --max-assets others, forgotten when idle), so a
// publisher inventing channel names cannot grow the exposition.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/quflx/quflx-tui/flusher"
	"github.com/quflx/quflx-tui/redisdata"
	"github.com/quflx/quflx-tui/simulator"
)

// namespace starts every metric name.
const namespace = "quflx"

// Exporter is a registry of quflx-tui's collectors and, once Serve is called, the HTTP
// server of /metrics. A nil *Exporter (no --metrics) accepts every call and does
// nothing, so a mode wires its parts without asking whether metrics are on.
type Exporter struct {
	reg *prometheus.Registry

	flushDuration prometheus.Histogram
	storeWrite    *prometheus.HistogramVec

	mu     sync.Mutex
	srv    *http.Server
	ln     net.Listener
	served chan struct{}
}

// New returns an exporter with the Go runtime and process collectors registered.
func New() *Exporter {
	e := &Exporter{reg: prometheus.NewRegistry()}
	e.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Buckets from 1 ms to about 33 s: a SQLite commit of a few rows takes a millisecond, a
	// PostgreSQL transaction of 50,000 ticks seconds, and the write timeout is a minute.
	buckets := prometheus.ExponentialBuckets(0.001, 2, 16)
	e.flushDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "flusher", Name: "flush_duration_seconds",
		Help:    "Time of one flush: reading the held claims from Redis, writing them to the store and releasing them.",
		Buckets: buckets,
	})
	e.storeWrite = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "store", Name: "write_duration_seconds",
		Help:    "Time of one store transaction of the flusher, by result (ok or error).",
		Buckets: buckets,
	}, []string{"result"})
	return e
}

// Listen returns an exporter serving /metrics on addr, or nil when addr is empty.
func Listen(addr string) (*Exporter, error) {
	if addr == "" {
		return nil, nil
	}
	e := New()
	if err := e.Serve(addr); err != nil {
		return nil, err
	}
	return e, nil
}

// Serve listens on addr (host:port; port 0 picks a free one, see Addr) and serves
// /metrics in the background until Close. The listener is bound before Serve returns: a
// port in use is an error now, not a log line later.
func (e *Exporter) Serve(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", e.Handler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, "quflx-tui: metrics at /metrics")
	})
	// Every phase of a request is bounded: a scraper that stalls, or a client that opens
	// a connection and sends nothing, holds no goroutine for long.
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	e.mu.Lock()
	e.srv, e.ln, e.served = srv, ln, make(chan struct{})
	served := e.served
	e.mu.Unlock()
	go func() {
		defer close(served)
		_ = srv.Serve(ln) // ErrServerClosed after Close
	}()
	return nil
}

// Handler is the /metrics handler (Serve mounts it; tests and benchmarks call it).
func (e *Exporter) Handler() http.Handler {
	return promhttp.HandlerFor(e.reg, promhttp.HandlerOpts{
		Timeout:             10 * time.Second,
		MaxRequestsInFlight: 4, // scrapes read shared state under locks: a flood must not pile up
	})
}

// Addr is the address served (with the port chosen for port 0), "" before Serve.
func (e *Exporter) Addr() string {
	if e == nil {
		return ""
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ln == nil {
		return ""
	}
	return e.ln.Addr().String()
}

// Close stops serving: scrapes under way get a second to finish.
func (e *Exporter) Close() error {
	if e == nil {
		return nil
	}
	e.mu.Lock()
	srv, served := e.srv, e.served
	e.mu.Unlock()
	if srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = srv.Close()
	}
	<-served
	return err
}

// Registry is the exporter's registry, for collectors of other parts of quflx-tui.
func (e *Exporter) Registry() *prometheus.Registry {
	if e == nil {
		return nil
	}
	return e.reg
}

// Watch exposes a watch session: ticks received per asset, decode errors, drops, buffer
// fill, the subscriber's and the server's state, and health. Register one session per
// exporter (a second's series would collide).
func (e *Exporter) Watch(w *redisdata.Watch) {
	if e == nil || w == nil {
		return
	}
	e.reg.MustRegister(newWatchCollector(w))
}

// Flusher exposes a flusher's counters and backlog. Its durations are observed only if
// it was built with ObserveFlusher's hook.
func (e *Exporter) Flusher(f *flusher.Flusher) {
	if e == nil || f == nil {
		return
	}
	e.reg.MustRegister(e.flushDuration, e.storeWrite, newFlusherCollector(f))
}

// ObserveFlusher is the hook a flusher's options take (flusher.Options.Observe) so that
// flush and store-write durations reach the histograms; the zero Observer when e is nil.
func (e *Exporter) ObserveFlusher() flusher.Observer {
	if e == nil {
		return flusher.Observer{}
	}
	return flusher.Observer{
		Flush: func(took time.Duration, _ error) { e.flushDuration.Observe(took.Seconds()) },
		StoreWrite: func(took time.Duration, err error) {
			result := "ok"
			if err != nil {
				result = "error"
			}
			e.storeWrite.WithLabelValues(result).Observe(took.Seconds())
		},
	}
}

// Feeder exposes a feed's counters (the feed command and the demo's feed).
func (e *Exporter) Feeder(f *simulator.Feeder) {
	if e == nil || f == nil {
		return
	}
	e.reg.MustRegister(newFeederCollector(f))
}

// AlertsFiring exposes quflx_alerts_firing, the number of alert rules firing now, as
// firing returns it at each scrape (it must be cheap and safe from any goroutine).
func (e *Exporter) AlertsFiring(firing func() int) {
	e.gaugeFunc("alerts_firing", "Alert rules firing now.", firing)
}

// SSHSessions exposes quflx_ssh_sessions, the SSH sessions attached to `serve` now, as
// sessions returns it at each scrape (cheap and safe from any goroutine).
func (e *Exporter) SSHSessions(sessions func() int) {
	e.gaugeFunc("ssh_sessions", "SSH sessions attached to serve now.", sessions)
}

func (e *Exporter) gaugeFunc(name, help string, fn func() int) {
	if e == nil || fn == nil {
		return
	}
	e.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help},
		func() float64 { return float64(fn()) }))
}
