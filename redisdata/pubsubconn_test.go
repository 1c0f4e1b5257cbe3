package redisdata

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/quflx/quflx-tui/redisdata/redistest"
)

// The pub/sub reader parses every push shape, keeps payloads in place, and skips a
// payload over the limit without holding it (only its head), whatever its size.
func TestPubSubConnReadsEveryPushShape(t *testing.T) {
	redistest.Each(t, func(t *testing.T, target redistest.Target) {
		ctx := context.Background()
		c, err := dialPubSub(ctx, Options{Addr: target.Addr, DialTimeout: time.Second, ReadTimeout: time.Second, ClientName: "t"}, "tcp", target.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.close()
		if err := c.subscribe(nil, "updates:*"); err != nil {
			t.Fatal(err)
		}
		_ = c.setReadDeadline(time.Now().Add(3 * time.Second))
		if ev, err := c.next(1024); err != nil || ev.kind != "psubscribe" || string(ev.channel) != "updates:*" {
			t.Fatalf("confirmation %+v %v", ev, err)
		}
		w := newWriter(t, target.Addr)
		huge := strings.Repeat("x", 300_000) // several times the read buffer
		w.Publish(ctx, "updates:A", "small")
		w.Publish(ctx, "updates:B", huge)
		w.Publish(ctx, "updates:C", "after")
		for i, want := range []struct {
			ch, payload string
			oversize    int
		}{
			{"updates:A", "small", 0}, {"updates:B", huge[:256], len(huge)}, {"updates:C", "after", 0},
		} {
			ev, err := c.next(1024)
			if err != nil || ev.kind != "pmessage" || string(ev.channel) != want.ch || string(ev.payload) != want.payload || ev.oversize != want.oversize {
				t.Fatalf("message %d: %s %q %.20q (%d) %v", i, ev.kind, ev.channel, ev.payload, ev.oversize, err)
			}
		}
		if err := c.ping(); err != nil {
			t.Fatal(err)
		}
		if ev, err := c.next(1024); err != nil || ev.kind != "pong" {
			t.Fatalf("pong %+v %v", ev, err)
		}
	})
}

// Messages already read in cost no allocation: the channel and payload are read in
// place and the decoder interns asset names.
func TestPubSubConnBufferedMessagesDoNotAllocate(t *testing.T) {
	srv := redistest.Real(t)
	ctx := context.Background()
	c, err := dialPubSub(ctx, Options{Addr: srv.Addr, DialTimeout: time.Second, ReadTimeout: time.Second}, "tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	c.subscribe([]string{"updates:A"}, "")
	_ = c.setReadDeadline(time.Now().Add(3 * time.Second))
	c.next(1024)
	w := newWriter(t, srv.Addr)
	pipe := w.Pipeline()
	for i := range 300 {
		pipe.Publish(ctx, "updates:A", fmt.Sprintf(`{"price":1.%04d,"timestamp":1752960407}`, i))
	}
	pipe.Exec(ctx)
	c.next(1024) // the first fills the buffer
	time.Sleep(50 * time.Millisecond)
	allocs := testing.AllocsPerRun(100, func() {
		if ev, err := c.next(1024); err != nil || ev.kind != "message" {
			t.Fatal(ev, err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations a buffered message", allocs)
	}
}
