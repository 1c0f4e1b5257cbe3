package redisdata

import (
	"fmt"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// Embedded is an in-process Redis (miniredis) on a loopback port, for the demo on a
// machine with nothing installed: redis-cli -p PORT can look inside while it runs.
type Embedded struct {
	m    *miniredis.Miniredis
	stop chan struct{}
	wg   sync.WaitGroup
}

// StartEmbedded starts the server on a free loopback port.
func StartEmbedded() (*Embedded, error) {
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("start embedded redis: %w", err)
	}
	e := &Embedded{m: m, stop: make(chan struct{})}
	e.wg.Add(1)
	go e.age()
	return e, nil
}

// age moves miniredis's clock with the wall clock: its TTLs only fall when told to, and
// the dashboard's cache panel must see keys expire as they would on a real server.
func (e *Embedded) age() {
	defer e.wg.Done()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-e.stop:
			return
		case now := <-t.C:
			e.m.FastForward(now.Sub(last))
			last = now
		}
	}
}

// Addr returns host:port.
func (e *Embedded) Addr() string { return e.m.Addr() }

// Port returns the port.
func (e *Embedded) Port() string { return e.m.Port() }

// Close stops the server.
func (e *Embedded) Close() {
	close(e.stop)
	e.wg.Wait()
	e.m.Close()
}
