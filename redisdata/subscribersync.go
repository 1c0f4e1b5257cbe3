package redisdata

import (
	"context"
	"errors"
	"strconv"
	"sync"
)

// errNotSubscribed: Sync needs a subscribed connection to send its PING on.
var errNotSubscribed = errors.New("the subscriber is not subscribed")

// syncState is Sync's hand-over with the reader: the live connection to write the PING on
// and the calls waiting for their PONG.
type syncState struct {
	mu      sync.Mutex
	conn    *pubsubConn // nil while not subscribed
	seq     uint64
	waiters map[string]chan error
}

// Sync returns once every message the server published before the call is counted.
// Redis answers a PING on a subscribed connection in order with the messages queued
// there, so its PONG comes after each of them: the counts read after Sync are exact as
// of the call (on one node; a cluster's other nodes forward their messages
// asynchronously). It writes nothing but a PING.
func (s *Subscriber) Sync(ctx context.Context) error {
	st := &s.sync
	st.mu.Lock()
	if st.conn == nil {
		st.mu.Unlock()
		return errNotSubscribed
	}
	st.seq++
	token := "quflx-sync-" + strconv.FormatUint(st.seq, 10)
	done := make(chan error, 1)
	if st.waiters == nil {
		st.waiters = map[string]chan error{}
	}
	st.waiters[token] = done
	err := st.conn.send("PING", token)
	st.mu.Unlock()
	if err != nil {
		s.answerSync(token, err)
	}
	// A reader holding ticks for a display would answer only after Hold.
	select {
	case s.drainWake <- struct{}{}:
	default:
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		s.answerSync(token, ctx.Err())
		return ctx.Err()
	}
}

// syncOn offers conn to Sync once it is subscribed; nil withdraws it and fails the calls
// still waiting, whose PONG will never come.
func (s *Subscriber) syncOn(conn *pubsubConn, err error) {
	st := &s.sync
	st.mu.Lock()
	defer st.mu.Unlock()
	st.conn = conn
	if conn != nil {
		return
	}
	for token, w := range st.waiters {
		w <- err
		delete(st.waiters, token)
	}
}

// answerSync answers the Sync call waiting for token, if any.
func (s *Subscriber) answerSync(token string, err error) {
	st := &s.sync
	st.mu.Lock()
	defer st.mu.Unlock()
	if w, ok := st.waiters[token]; ok {
		w <- err
		delete(st.waiters, token)
	}
}
