package redisdata

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/quflx/quflx-tui/redisdata/redistest"
)

func TestParseURL(t *testing.T) {
	cases := []struct {
		url  string
		want Options
	}{
		{"redis://localhost:6380/2", Options{Addr: "localhost:6380", Network: "tcp", DB: 2}},
		{"redis://bob:s3cret@10.0.0.5", Options{Addr: "10.0.0.5:6379", Network: "tcp", Username: "bob", Password: "s3cret"}},
		{"redis://:onlypass@host:7000/0", Options{Addr: "host:7000", Network: "tcp", Password: "onlypass"}},
		{"unix:///run/redis.sock?db=3", Options{Addr: "/run/redis.sock", Network: "unix", DB: 3}},
		{"redis://h/1?dial_timeout=3s", Options{Addr: "h:6379", Network: "tcp", DB: 1, DialTimeout: 3 * time.Second}},
	}
	for _, c := range cases {
		got, err := ParseURL(c.url)
		if err != nil {
			t.Fatalf("ParseURL(%q): %v", c.url, err)
		}
		if got.Addr != c.want.Addr || got.Network != c.want.Network || got.DB != c.want.DB ||
			got.Username != c.want.Username || got.Password != c.want.Password || got.DialTimeout != c.want.DialTimeout {
			t.Errorf("ParseURL(%q) = %+v, want %+v", c.url, got, c.want)
		}
	}
	tlsOpts, err := ParseURL("rediss://:pw@cache.example.com:6380")
	if err != nil || tlsOpts.TLS == nil || tlsOpts.TLS.ServerName != "cache.example.com" {
		t.Fatalf("rediss: %+v %v", tlsOpts, err)
	}
	for _, bad := range []string{"http://x", "redis://h/notadb", "redis://h:6379/0?bogus=1", "://"} {
		if _, err := ParseURL(bad); err == nil {
			t.Errorf("ParseURL(%q) accepted", bad)
		}
	}
	_, err = ParseURL("redis://u:hunter2@h/x")
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error must not leak the password: %v", err)
	}
}

func TestReadOnlyClientRefusesWrites(t *testing.T) {
	redistest.Each(t, func(t *testing.T, target redistest.Target) {
		ctx := context.Background()
		c, err := NewClient(Options{Addr: target.Addr, ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		w := newWriter(t, target.Addr)
		w.Set(ctx, "k", "v", 0)

		if v, err := c.Get(ctx, "k").Result(); err != nil || v != "v" {
			t.Fatalf("GET on read-only client: %q %v", v, err)
		}
		for name, cmd := range map[string]func() error{
			"SET":        func() error { return c.Set(ctx, "k", "x", 0).Err() },
			"DEL":        func() error { return c.Del(ctx, "k").Err() },
			"LPUSH":      func() error { return c.LPush(ctx, "l", "x").Err() },
			"CONFIG SET": func() error { return c.ConfigSet(ctx, "maxmemory", "1").Err() },
			"CLIENT KILL": func() error {
				return c.Do(ctx, "CLIENT", "KILL", "ID", "1").Err()
			},
			"FLUSHALL": func() error { return c.FlushAll(ctx).Err() },
			"pipeline": func() error {
				p := c.Pipeline()
				p.Get(ctx, "k")
				p.Del(ctx, "k")
				_, err := p.Exec(ctx)
				return err
			},
		} {
			if err := cmd(); !errors.Is(err, ErrReadOnly) {
				t.Errorf("%s on a read-only client: %v, want ErrReadOnly", name, err)
			}
		}
		if v, _ := w.Get(ctx, "k").Result(); v != "v" {
			t.Fatalf("a write leaked through: k = %q", v)
		}
	})
}

func TestPingRTTAndUnreachable(t *testing.T) {
	m := redistest.Mini(t)
	c, _ := NewClient(Options{Addr: m.Addr()})
	defer c.Close()
	rtt, err := c.PingRTT(context.Background())
	if err != nil || rtt <= 0 || rtt > time.Second {
		t.Fatalf("PingRTT = %v, %v", rtt, err)
	}

	dead, _ := NewClient(Options{Addr: "127.0.0.1:" + strconv.Itoa(redistest.FreePort(t)), DialTimeout: 200 * time.Millisecond})
	defer dead.Close()
	start := time.Now()
	_, err = dead.PingRTT(context.Background())
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("ping of a closed port: %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("failing ping took %v", took)
	}
}

func TestClientSelectsDBAndAuthenticates(t *testing.T) {
	ctx := context.Background()
	m := redistest.Mini(t)
	m.RequireAuth("pw")
	m.Select(2)
	m.Set("only-in-2", "yes")
	c, _ := NewClient(Options{Addr: m.Addr(), Password: "pw", DB: 2})
	defer c.Close()
	if v, err := c.Get(ctx, "only-in-2").Result(); err != nil || v != "yes" {
		t.Fatalf("db 2 with password: %q %v", v, err)
	}
	bad, _ := NewClient(Options{Addr: m.Addr(), Password: "wrong"})
	defer bad.Close()
	if _, err := bad.PingRTT(ctx); err == nil {
		t.Fatal("wrong password accepted")
	}
}

func TestClientOverUnixSocketWithACLUser(t *testing.T) {
	ctx := context.Background()
	sock := filepath.Join(t.TempDir(), "r.sock")
	s := redistest.Real(t, "--unixsocket", sock, "--unixsocketperm", "700")
	admin := newWriter(t, s.Addr)
	// The monitoring-only user of shared/notes: read the QuFLX keys, nothing else.
	err := admin.Do(ctx, "ACL", "SETUSER", "quflx-mon", "reset", "on", ">monpw", "~ticks:*", "~historical:*",
		"&updates:*", "+@read", "-@dangerous", "+info", "+ping", "+client|setname",
		"+subscribe", "+psubscribe", "+unsubscribe", "+punsubscribe").Err()
	if err != nil {
		t.Fatal(err)
	}
	admin.LPush(ctx, "ticks:A", `{"price":1,"timestamp":1729760400}`)

	opts, err := ParseURL("unix://quflx-mon:monpw@" + sock)
	if err != nil {
		t.Fatal(err)
	}
	opts.ReadOnly = true
	c, _ := NewClient(opts)
	defer c.Close()
	if n, err := c.LLen(ctx, "ticks:A").Result(); err != nil || n != 1 {
		t.Fatalf("LLEN over unix socket as ACL user: %d %v", n, err)
	}
	if name, err := admin.Do(ctx, "CLIENT", "LIST").Text(); err != nil || !strings.Contains(name, "name=quflx-tui") {
		t.Fatalf("CLIENT SETNAME did not happen: %v\n%s", err, name)
	}
}

// newWriter is a plain writable client for setting up fixtures.
func newWriter(t testing.TB, addr string) *Client {
	t.Helper()
	c, err := NewClient(Options{Addr: addr, ClientName: "quflx-test-writer"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// CLIENT NO-TOUCH keeps a monitor's reads from refreshing the LRU/LFU clock of what it
// looks at. On a connection that owns data it would do harm: the flusher's claims would
// look idle and go first under an eviction policy. Readers send it; writers must not.
// (Redis 7.0 does not know the command, so the client's own hook watches what is sent.)
func TestOnlyReadersSendNoTouch(t *testing.T) {
	srv := redistest.Real(t)
	sent := func(readOnly bool) bool {
		c, err := NewClient(Options{Addr: srv.Addr, ReadOnly: readOnly})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		rec := &recordHook{}
		c.AddHook(rec)
		c.Ping(context.Background())
		return rec.saw("client no-touch")
	}
	if !sent(true) {
		t.Error("a read-only client did not send CLIENT NO-TOUCH")
	}
	if sent(false) {
		t.Error("a writing client sent CLIENT NO-TOUCH")
	}
}

// recordHook records the commands a client sends, its connection set-up included.
type recordHook struct {
	mu   sync.Mutex
	cmds []string
}

func (h *recordHook) add(cmd redis.Cmder) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var words []string
	for _, a := range cmd.Args()[:min(2, len(cmd.Args()))] {
		words = append(words, strings.ToLower(fmt.Sprint(a)))
	}
	h.cmds = append(h.cmds, strings.Join(words, " "))
}

func (h *recordHook) saw(cmd string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Contains(h.cmds, cmd)
}

func (h *recordHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *recordHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.add(cmd); return next(ctx, cmd) }
}
func (h *recordHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			h.add(c)
		}
		return next(ctx, cmds)
	}
}

// A FixedPool client holds PoolSize connections from the start and never more, however
// many commands and pipelines its callers send at once (a plain client grows a pool for
// pipelines besides its own).
func TestFixedPoolHoldsPoolSize(t *testing.T) {
	srv := redistest.Real(t)
	ctx := context.Background()
	c, err := Dial(ctx, Options{Addr: srv.Addr, PoolSize: 2, FixedPool: true, ClientName: "fixed", ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	counter, err := NewClient(Options{Addr: srv.Addr, ClientName: "counter"})
	if err != nil {
		t.Fatal(err)
	}
	defer counter.Close()
	held := func() int {
		list, err := counter.ClientList(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(list, " name=fixed ") + strings.Count(list, " name= ") // a pre-dialled one is named on first use
	}
	deadline := time.Now().Add(5 * time.Second)
	for held() != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections at start, want 2", held())
		}
		time.Sleep(20 * time.Millisecond)
	}
	var wg sync.WaitGroup
	most := 0
	var mu sync.Mutex
	for i := range 20 {
		wg.Go(func() {
			for range 20 {
				if i%2 == 0 {
					pipe := c.Pipeline()
					pipe.Get(ctx, "a")
					pipe.Info(ctx, "server")
					_, _ = pipe.Exec(ctx)
				} else {
					_ = c.Get(ctx, "b").Err()
				}
			}
			mu.Lock()
			most = max(most, held())
			mu.Unlock()
		})
	}
	wg.Wait()
	if most != 2 || held() != 2 {
		t.Fatalf("%d connections at most under 20 callers, %d after; want 2", most, held())
	}
}
