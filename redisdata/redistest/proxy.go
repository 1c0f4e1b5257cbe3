package redistest

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Proxy is a TCP proxy that a test puts between a client (Redis, PostgreSQL, anything over
// TCP) and a real server to inject network faults: replies lost after the command was
// applied, connection resets, a silent peer, a stopped server.
//
// Bytes are forwarded exactly as read, in order; a fault only ever withholds them or kills
// the connection, never alters or reorders them.
type Proxy struct {
	Addr string // 127.0.0.1:port that clients dial

	t      testing.TB
	target string
	ln     net.Listener
	ctx    context.Context // cancelled at cleanup: aborts dials to the target
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the proxy started

	drops      atomic.Int64 // armed by DropReplies, not yet used
	chaosDrops atomic.Int64 // armed by Chaos: kept apart so that Chaos disarms only its own

	mu     sync.Mutex
	conns  map[*proxyConn]struct{}
	frozen bool
	thaw   chan struct{} // closed by Thaw; replaced by each Freeze
	down   bool
	closed bool
	faults FaultCounts
}

// FaultCounts is how many faults a Proxy actually injected.
type FaultCounts struct {
	DroppedReplies int64 // server reads discarded, each killing its connection
	Resets         int64 // connections reset by ResetAll or Down
	Freezes        int64 // transitions from forwarding to frozen
}

// proxyConn is one client connection and its connection to the target.
type proxyConn struct {
	client, server net.Conn
	done           chan struct{} // closed when the proxy kills the connection
	once           sync.Once
	pumps          atomic.Int32 // directions still forwarding
}

// NewProxy listens on a free loopback port and forwards every connection it accepts to
// target. Everything is closed, and every goroutine gone, at the end of the test.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy for %s: listen: %v", target, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{
		Addr: ln.Addr().String(), t: t, target: target, ln: ln, ctx: ctx, cancel: cancel,
		conns: map[*proxyConn]struct{}{},
	}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *Proxy) close() {
	p.mu.Lock()
	p.closed = true
	conns := p.snapshot()
	p.mu.Unlock()
	p.cancel()
	_ = p.ln.Close()
	for _, c := range conns {
		c.kill()
	}
	p.wg.Wait()
}

// snapshot lists the open connections; p.mu must be held.
func (p *Proxy) snapshot() []*proxyConn {
	conns := make([]*proxyConn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	return conns
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			if p.ctx.Err() == nil { // not closed at cleanup: the proxy is dead, say so
				p.t.Errorf("proxy for %s: accept: %v", p.target, err)
			}
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			reset(client) // the kernel already completed the handshake: the best "refused" is a reset
			continue
		}
		p.wg.Add(1)
		go p.serve(client)
	}
}

// serve connects an accepted client to the target, off the accept loop so that a slow
// target does not hold up other clients.
func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	var d net.Dialer
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	server, err := d.DialContext(ctx, "tcp", p.target)
	cancel()
	if err != nil {
		reset(client) // the target is really down: pass that on
		return
	}
	c := &proxyConn{client: client, server: server, done: make(chan struct{})}
	p.mu.Lock()
	if p.down || p.closed { // went down while dialling
		p.mu.Unlock()
		c.kill()
		return
	}
	p.conns[c] = struct{}{}
	c.pumps.Store(2)
	p.wg.Add(2)
	p.mu.Unlock()
	go p.pump(c, server, client, false)
	go p.pump(c, client, server, true)
}

// pump forwards src to dst until either ends. An EOF is passed on as a half-close, so a
// client that shuts down its write side still gets its replies; any other error kills both
// sides.
func (p *Proxy) pump(c *proxyConn, dst, src net.Conn, fromServer bool) {
	defer p.wg.Done()
	defer p.pumpDone(c)
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.pass(c) {
				return
			}
			if fromServer && p.takeDrop() {
				p.mu.Lock()
				p.faults.DroppedReplies++
				p.mu.Unlock()
				c.kill()
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				c.kill()
				return
			}
		}
		if err != nil {
			if !p.pass(c) { // a frozen peer reports nothing, not even its end
				return
			}
			if errors.Is(err, io.EOF) {
				if cw, ok := dst.(interface{ CloseWrite() error }); ok {
					_ = cw.CloseWrite()
					return
				}
			}
			c.kill()
			return
		}
	}
}

// pumpDone closes the connection once both directions have ended on their own.
func (p *Proxy) pumpDone(c *proxyConn) {
	if c.pumps.Add(-1) > 0 {
		return
	}
	c.once.Do(func() {
		close(c.done)
		_ = c.client.Close()
		_ = c.server.Close()
	})
	p.forget(c)
}

func (p *Proxy) forget(c *proxyConn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// pass blocks while the proxy is frozen, on a channel rather than a poll so that a frozen
// connection costs no CPU. It reports false once the connection has been killed.
func (p *Proxy) pass(c *proxyConn) bool {
	for {
		p.mu.Lock()
		frozen, thaw := p.frozen, p.thaw
		p.mu.Unlock()
		if !frozen {
			select {
			case <-c.done:
				return false
			default:
				return true
			}
		}
		select {
		case <-thaw:
		case <-c.done:
			return false
		}
	}
}

func (p *Proxy) takeDrop() bool {
	return take(&p.drops) || take(&p.chaosDrops)
}

func take(armed *atomic.Int64) bool {
	for {
		n := armed.Load()
		if n <= 0 {
			return false
		}
		if armed.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

// kill closes both sides abruptly: with SO_LINGER 0 the peers get a reset, not an orderly
// end of stream, as when a process or a middlebox dies.
func (c *proxyConn) kill() {
	c.once.Do(func() {
		close(c.done)
		reset(c.client)
		reset(c.server)
	})
}

func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// DropReplies arms the "reset after apply" fault for the next n times the server sends
// bytes to a client: those bytes (one whole read, which may hold several pipelined replies)
// are discarded and both sides of that connection are reset. The server has applied the
// command; the client never learns it.
func (p *Proxy) DropReplies(n int) {
	p.drops.Add(int64(n))
}

// ResetAll resets both sides of every open connection.
func (p *Proxy) ResetAll() {
	p.mu.Lock()
	conns := p.snapshot()
	p.faults.Resets += int64(len(conns))
	p.mu.Unlock()
	for _, c := range conns {
		c.kill()
		p.forget(c)
	}
}

// Freeze stops forwarding in both directions: connections stay open and silent, like a
// dead peer or a partition. New connections are still accepted (and connected to the
// target) but carry nothing until Thaw.
func (p *Proxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.frozen {
		p.frozen = true
		p.thaw = make(chan struct{})
		p.faults.Freezes++
	}
}

// Thaw resumes forwarding; what was held during the freeze is delivered then, as TCP would
// after a partition heals.
func (p *Proxy) Thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.frozen {
		p.frozen = false
		close(p.thaw)
	}
}

// Down resets every connection and resets new ones as soon as they are accepted, until
// Up: the server looks stopped. (A TCP dial itself still completes, as the kernel accepts
// before the proxy can refuse; a client's first read or write then fails.)
func (p *Proxy) Down() {
	p.mu.Lock()
	p.down = true
	p.mu.Unlock()
	p.ResetAll()
}

// Up accepts and forwards connections again after Down.
func (p *Proxy) Up() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// Faults returns how many faults actually happened so far.
func (p *Proxy) Faults() FaultCounts {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.faults
}

// Conns returns the number of open proxied connections.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// ChaosOptions tunes Proxy.Chaos.
type ChaosOptions struct {
	Every     time.Duration // mean time between faults; 50ms when zero
	FreezeFor time.Duration // how long a freeze lasts; 300ms when zero
	Seed      uint64        // the random sequence of faults and gaps; a random seed when zero (logged)
	Kinds     []string      // among "drop", "reset", "freeze"; all three when empty
}

// Chaos injects faults in the background until ctx is done (or the test ends): after a
// random gap of 0.5-1.5 × o.Every, one of DropReplies(1), ResetAll, or a freeze of
// o.FreezeFor followed by Thaw. Chaos keeps at most one drop of its own armed, and when it
// stops it thaws the proxy and disarms that drop, so that what the test does next runs
// clean (a fault already under way when ctx is done still completes). The seed fixes
// which faults come when; what each one hits still depends on the scheduling of the
// test's own traffic. Call it from the test's goroutine: an unknown kind fails the test.
func (p *Proxy) Chaos(ctx context.Context, o ChaosOptions) {
	p.t.Helper()
	if o.Every <= 0 {
		o.Every = 50 * time.Millisecond
	}
	if o.FreezeFor <= 0 {
		o.FreezeFor = 300 * time.Millisecond
	}
	kinds := o.Kinds
	if len(kinds) == 0 {
		kinds = []string{"drop", "reset", "freeze"}
	}
	for _, k := range kinds {
		if k != "drop" && k != "reset" && k != "freeze" {
			p.t.Fatalf("proxy chaos: unknown fault kind %q (want drop, reset or freeze)", k)
		}
	}
	seed := o.Seed
	if seed == 0 {
		seed = rand.Uint64()
		p.t.Logf("proxy chaos: seed %d", seed)
	}
	rng := rand.New(rand.NewPCG(seed, seed))

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer p.chaosDrops.Store(0)
		// sleep reports false when it is time to stop: the caller's ctx or the test's end.
		sleep := func(d time.Duration) bool {
			timer := time.NewTimer(d)
			defer timer.Stop()
			select {
			case <-timer.C:
				return ctx.Err() == nil && p.ctx.Err() == nil // both may have fired at once
			case <-ctx.Done():
				return false
			case <-p.ctx.Done():
				return false
			}
		}
		for {
			if !sleep(o.Every/2 + time.Duration(rng.Int64N(int64(o.Every)+1))) {
				return
			}
			switch kinds[rng.IntN(len(kinds))] {
			case "drop":
				if p.chaosDrops.Load() == 0 { // idle moments must not pile up drops for later
					p.chaosDrops.Add(1)
				}
			case "reset":
				p.ResetAll()
			case "freeze":
				p.Freeze()
				ok := sleep(o.FreezeFor)
				p.Thaw() // never leave the proxy frozen behind the caller's back
				if !ok {
					return
				}
			}
		}
	}()
}
