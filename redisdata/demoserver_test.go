package redisdata

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/quflx/quflx-tui/redisdata/redistest"
)

// The demo's embedded server: the poll's INFO is completed from miniredis's own counters
// (keys, their TTLs, pub/sub, uptime); what it does not keep stays unknown, not zero.
func TestEmbeddedFillsInfoFromItsCounters(t *testing.T) {
	emb, err := StartEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Close()
	ctx := context.Background()
	c, err := NewClient(Options{Addr: emb.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Set(ctx, "a", "1", 0)
	c.Set(ctx, "b", "2", time.Hour)
	c.LPush(ctx, "ticks:EURUSD_otc", "{}")
	sub := c.Subscribe(ctx, "updates:EURUSD_otc")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}

	w := NewWatch(c, WatchOptions{TickKey: tickPattern, CacheKey: cachePattern, FillInfo: emb.FillInfo})
	r := w.Poll(ctx)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	in := r.Snapshot.Info
	if db := in.Keyspace[0]; db.Keys != 3 || db.Expires != 1 {
		t.Errorf("keyspace %+v, want 3 keys, 1 with a TTL", in.Keyspace)
	}
	if !in.PubSubChannels.Known || in.PubSubChannels.V != 1 || !in.UptimeSeconds.Known || !in.ConnectedClients.Known {
		t.Errorf("pub/sub %+v, uptime %+v, clients %+v", in.PubSubChannels, in.UptimeSeconds, in.ConnectedClients)
	}
	if in.UsedMemory.Known || in.KeyspaceHits.Known || in.ExpiredKeys.Known {
		t.Error("figures miniredis does not keep were made up")
	}
}

// The demo's throwaway redis-server: loopback, no persistence, real INFO; Close kills it
// and removes its directory.
func TestThrowawayServer(t *testing.T) {
	path := redistest.RedisServerPath(t)
	ctx := context.Background()
	srv, err := StartThrowaway(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if srv.Version() == "" {
		t.Error("no version")
	}
	c, err := NewClient(Options{Addr: srv.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var in Info
	text, err := c.Info(ctx, "server", "memory", "persistence").Result()
	if err != nil {
		t.Fatal(err)
	}
	ParseInfo(text, &in)
	if !in.UsedMemory.Known || in.Version != srv.Version() {
		t.Errorf("not a real server's INFO: %+v", in)
	}
	for param, want := range map[string]string{"save": "", "appendonly": "no", "bind": "127.0.0.1", "dir": srv.Dir()} {
		got, err := c.ConfigGet(ctx, param).Result()
		if err != nil || got[param] != want {
			t.Errorf("CONFIG GET %s = %q (%v), want %q", param, got[param], err, want)
		}
	}
	srv.Close()
	if _, err := os.Stat(srv.Dir()); !os.IsNotExist(err) {
		t.Errorf("directory %s left behind: %v", srv.Dir(), err)
	}
	if err := c.Ping(ctx).Err(); err == nil {
		t.Error("still answering after Close")
	}
	if srv.cmd.ProcessState == nil || srv.cmd.Process.Signal(syscall.Signal(0)) == nil {
		t.Error("process still there after Close")
	}
}

// A port another server took between the probe and the bind is not the demo's: the
// demo must not write to whatever answers there.
func TestThrowawayServerIsOurOwnChild(t *testing.T) {
	other := redistest.Real(t)
	probe := freeLoopbackPort
	var calls int
	freeLoopbackPort = func() (int, error) {
		if calls++; calls == 1 {
			return other.Port, nil // taken by another server by the time ours binds
		}
		return probe()
	}
	defer func() { freeLoopbackPort = probe }()
	srv, err := StartThrowaway(context.Background(), redistest.RedisServerPath(t))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if calls < 2 || srv.Addr() == other.Addr {
		t.Fatalf("the demo took %s, answered by another server (%d tries)", srv.Addr(), calls)
	}
}
