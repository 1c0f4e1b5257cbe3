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
	m       *miniredis.Miniredis
	started time.Time
	stop    chan struct{}
	wg      sync.WaitGroup
}

// StartEmbedded starts the server on a free loopback port.
func StartEmbedded() (*Embedded, error) {
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("start embedded redis: %w", err)
	}
	e := &Embedded{m: m, started: time.Now(), stop: make(chan struct{})}
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

// FillInfo fills in, from the server's own counters, what its INFO leaves out (miniredis
// reports only clients and commands): uptime, pub/sub channels and patterns, and the
// keyspace. Memory, hit rate and expiry figures it does not keep stay unknown.
func (e *Embedded) FillInfo(in *Info) {
	if !in.UptimeSeconds.Known {
		in.UptimeSeconds = Int{V: int64(time.Since(e.started).Seconds()), Known: true}
	}
	if !in.PubSubChannels.Known {
		in.PubSubChannels = Int{V: int64(len(e.m.PubSubChannels(""))), Known: true}
	}
	if !in.PubSubPatterns.Known {
		in.PubSubPatterns = Int{V: int64(e.m.PubSubNumPat()), Known: true}
	}
	if in.Keyspace == nil {
		db := e.m.DB(0)
		var keys DBKeys
		for _, k := range db.Keys() { // the demo's few dozen keys
			keys.Keys++
			if db.TTL(k) > 0 {
				keys.Expires++
			}
		}
		in.Keyspace = map[int]DBKeys{0: keys}
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
