package redistest_test

import (
	"context"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/quflx/quflx-tui/redisdata/redistest"
)

// nodeClient is a plain client on one cluster node, for asking it what it holds itself.
func nodeClient(t *testing.T, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// owners maps each slot to the address of the master holding it, as node addr sees it.
func owners(t *testing.T, ctx context.Context, addr string) map[int64]string {
	t.Helper()
	ranges, err := nodeClient(t, addr).ClusterSlots(ctx).Result()
	if err != nil {
		t.Fatalf("CLUSTER SLOTS on %s: %v", addr, err)
	}
	m := map[int64]string{}
	for _, r := range ranges {
		for s := r.Start; s <= r.End; s++ {
			m[int64(s)] = r.Nodes[0].Addr
		}
	}
	return m
}

func TestRealCluster(t *testing.T) {
	began := time.Now()
	// AOF with fsync on every write, so the node restarted below must come back with its keys.
	cl := redistest.RealCluster(t, 3, "--appendonly", "yes", "--appendfsync", "always")
	t.Logf("RealCluster(3) took %v", time.Since(began).Round(time.Millisecond))
	ctx := t.Context()

	if len(cl.Nodes) != 3 || len(cl.Addrs) != 3 {
		t.Fatalf("cluster has %d nodes, %d addrs; want 3", len(cl.Nodes), len(cl.Addrs))
	}
	// One address is enough: the client learns the others from CLUSTER SLOTS.
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{cl.Addrs[0]}})
	t.Cleanup(func() { _ = rdb.Close() })

	keys := make([]string, 100)
	for i := range keys {
		keys[i] = "key:" + strconv.Itoa(i)
		if err := rdb.Set(ctx, keys[i], i, 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", keys[i], err)
		}
	}
	for i, k := range keys {
		if got, err := rdb.Get(ctx, k).Result(); err != nil || got != strconv.Itoa(i) {
			t.Fatalf("GET %s = %q, %v; want %d", k, got, err, i)
		}
	}

	// Every key is on the master that owns its slot, and every master got some.
	direct := map[string]*redis.Client{}
	for _, addr := range cl.Addrs {
		direct[addr] = nodeClient(t, addr)
	}
	owner := owners(t, ctx, cl.Addrs[0])
	perNode := map[string]int64{}
	for _, k := range keys {
		slot, err := direct[cl.Addrs[0]].ClusterKeySlot(ctx, k).Result()
		if err != nil {
			t.Fatalf("CLUSTER KEYSLOT %s: %v", k, err)
		}
		addr := owner[slot]
		if direct[addr] == nil {
			t.Fatalf("slot %d is held by %q, not one of %v", slot, addr, cl.Addrs)
		}
		if n, err := direct[addr].Exists(ctx, k).Result(); err != nil || n != 1 {
			t.Fatalf("%s (slot %d) not on its owner %s: exists %d, %v", k, slot, addr, n, err)
		}
		perNode[addr]++
	}
	for _, addr := range cl.Addrs {
		n, err := direct[addr].DBSize(ctx).Result()
		if err != nil {
			t.Fatalf("DBSIZE on %s: %v", addr, err)
		}
		if n == 0 || n != perNode[addr] {
			t.Fatalf("%s holds %d keys, %d of them by slot: want the same, and some", addr, n, perNode[addr])
		}
	}
	t.Logf("keys per master: %v", perNode)

	// A pipeline across slots: go-redis splits it per node and puts the replies back in order.
	cmds, err := rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for _, k := range keys {
			pipe.Incr(ctx, k)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("pipeline across slots: %v", err)
	}
	for i, cmd := range cmds {
		if n := cmd.(*redis.IntCmd).Val(); n != int64(i+1) {
			t.Fatalf("pipelined INCR %s = %d, want %d", keys[i], n, i+1)
		}
	}

	t.Run("restart a node", func(t *testing.T) {
		node := cl.Nodes[1]
		id, err := nodeClient(t, node.Addr).ClusterMyID(ctx).Result()
		if err != nil {
			t.Fatalf("CLUSTER MYID: %v", err)
		}
		held := perNode[node.Addr]

		began := time.Now()
		node.Kill()
		node.Restart(t)
		cl.WaitOK(t)
		t.Logf("node %s back and cluster ok in %v", node.Addr, time.Since(began).Round(time.Millisecond))

		// Same nodes.conf: the same node, with the same slots; same arguments: its AOF.
		if got, err := nodeClient(t, node.Addr).ClusterMyID(ctx).Result(); err != nil || got != id {
			t.Fatalf("CLUSTER MYID after restart = %q, %v; want %q", got, err, id)
		}
		if got := owners(t, ctx, cl.Addrs[0]); !mapsEqual(got, owner) {
			t.Fatal("slot owners changed across the restart")
		}
		if n, err := nodeClient(t, node.Addr).DBSize(ctx).Result(); err != nil || n != held {
			t.Fatalf("DBSIZE after restart = %d, %v; want %d kept by the AOF", n, err, held)
		}
		if !slices.Contains(node.Args(), "--cluster-config-file") {
			t.Fatalf("Args() after restart lost the cluster arguments: %q", node.Args())
		}
		for i, k := range keys {
			if got, err := rdb.Get(ctx, k).Result(); err != nil || got != strconv.Itoa(i+1) {
				t.Fatalf("GET %s through the cluster client after restart = %q, %v; want %d", k, got, err, i+1)
			}
		}
	})
}

func mapsEqual(a, b map[int64]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestRestartKeepsArgs(t *testing.T) {
	ctx := t.Context()

	t.Run("appendonly", func(t *testing.T) {
		srv := redistest.Real(t, "--appendonly", "yes", "--appendfsync", "always")
		rdb := nodeClient(t, srv.Addr)
		if err := rdb.Set(ctx, "k", "kept", 0).Err(); err != nil {
			t.Fatalf("SET: %v", err)
		}
		args := srv.Args()
		srv.Kill()
		if c, err := net.DialTimeout("tcp", srv.Addr, time.Second); err == nil {
			c.Close()
			t.Fatal("port still accepts connections after Kill")
		}
		srv.Restart(t)
		if got, err := rdb.Get(ctx, "k").Result(); err != nil || got != "kept" {
			t.Fatalf("GET k after Kill+Restart with an AOF = %q, %v; want kept", got, err)
		}
		if got := srv.Args(); !slices.Equal(got, args) {
			t.Fatalf("Args() changed across Restart:\n%q\n%q", args, got)
		}
		if !strings.Contains(strings.Join(args, " "), "--appendonly no --dir "+srv.Dir) ||
			!strings.Contains(strings.Join(args, " "), "--appendonly yes --appendfsync always") {
			t.Fatalf("Args() = %q: want the defaults, then the extra arguments", args)
		}
	})

	t.Run("cache only", func(t *testing.T) { // the default still comes back empty, as before
		srv := redistest.Real(t)
		rdb := nodeClient(t, srv.Addr)
		if err := rdb.Set(ctx, "k", "lost", 0).Err(); err != nil {
			t.Fatalf("SET: %v", err)
		}
		srv.Restart(t)
		if err := rdb.Get(ctx, "k").Err(); err != redis.Nil {
			t.Fatalf("GET k after Restart without persistence: %v, want redis.Nil", err)
		}
	})
}
