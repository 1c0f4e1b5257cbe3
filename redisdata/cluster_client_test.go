package redisdata

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/quflx/quflx-tui/redisdata/redistest"
)

// One node's address is enough: Dial asks it whether it is a cluster node and reaches
// the whole cluster from it. Claims of buffers in every slot work (each script's keys
// share the buffer's slot), and SCAN sees the keys of every master.
func TestClusterFromOneNode(t *testing.T) {
	cluster := redistest.RealCluster(t, 3)
	ctx := context.Background()
	c, err := Dial(ctx, Options{Addr: cluster.Addrs[1], MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.IsCluster() {
		t.Fatal("Dial did not recognise a cluster node")
	}
	if _, err := Dial(ctx, Options{Addr: cluster.Addrs[0], DB: 2}); err == nil {
		t.Fatal("a cluster with db 2 was accepted")
	}
	var buffers []string
	for i := range 30 {
		b := fmt.Sprintf("ticks:C%02d_otc", i)
		buffers = append(buffers, b)
		for j := range 5 {
			if err := c.RPush(ctx, b, fmt.Sprint(j)).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	perNode := map[string]int{}
	for _, addr := range cluster.Addrs {
		n := redis.NewClient(&redis.Options{Addr: addr})
		size, _ := n.DBSize(ctx).Result()
		perNode[addr] = int(size)
		n.Close()
	}
	for addr, n := range perNode {
		if n == 0 {
			t.Fatalf("node %s holds no buffer (%v): the test would not cross nodes", addr, perNode)
		}
	}
	var mu sync.Mutex
	var seen []string
	if err := c.ScanEach(ctx, "ticks:*", 100, func(keys []string) {
		mu.Lock()
		seen = append(seen, keys...)
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(seen)
	if !slices.Equal(seen, buffers) {
		t.Fatalf("SCAN on every master saw %d of %d buffers", len(seen), len(buffers))
	}

	cl := NewClaimer(c, ClaimOptions{Owner: "c"})
	res, err := cl.Claim(ctx, buffers)
	if err != nil {
		t.Fatal(err)
	}
	var refs []ClaimRef
	for _, r := range res {
		if r.Err != nil || r.Claim == nil || r.Claim.Len != 5 {
			t.Fatalf("claim of %s: %+v %v", r.Buffer, r.Claim, r.Err)
		}
		refs = append(refs, *r.Claim)
		if got, _ := cl.Read(ctx, *r.Claim, 0, 10); len(got.Entries) != 5 {
			t.Fatalf("read of %s: %v", r.Claim.Key, got.Entries)
		}
	}
	if lost, err := cl.Renew(ctx, refs); err != nil || len(lost) != 0 {
		t.Fatalf("renew across nodes: lost %d, %v", len(lost), err)
	}
	regs, err := cl.Registries(ctx)
	if err != nil || len(regs) != len(buffers) {
		t.Fatalf("registries on every master: %d, %v", len(regs), err)
	}
	if _, err := cl.Release(ctx, refs); err != nil {
		t.Fatal(err)
	}
	left := 0
	_ = c.ScanEach(ctx, "quflx:{*", 100, func(keys []string) { left += len(keys) })
	if left != 0 {
		t.Fatalf("%d claim keys left after release", left)
	}
	t.Logf("30 buffers over 3 masters %v: claimed, read, renewed, released", perNode)
}

// A plain client given a cluster node (--cluster off) fails loudly with MOVED, rather
// than silently seeing a third of the keys.
func TestClusterOffMeansOneNode(t *testing.T) {
	cluster := redistest.RealCluster(t, 3)
	ctx := context.Background()
	c, err := Dial(ctx, Options{Addr: cluster.Addrs[0], Cluster: ClusterOff})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.IsCluster() {
		t.Fatal("--cluster off gave a cluster client")
	}
	moved := 0
	for i := range 20 {
		if err := c.Get(ctx, fmt.Sprint("k", i)).Err(); err != nil && redis.HasErrorPrefix(err, "MOVED") {
			moved++
		}
	}
	if moved == 0 {
		t.Fatal("no MOVED from a single-node client over 20 keys")
	}
}

// A read-only cluster client works without a refusal per command: go-redis asks a bare
// COMMAND for the key positions before routing, and a refusal made it ask again (and log
// a line) before every command.
func TestReadOnlyClusterClientRoutesQuietly(t *testing.T) {
	cluster := redistest.RealCluster(t, 3)
	var lines int
	var mu sync.Mutex
	RouteLogs(func(string) { mu.Lock(); lines++; mu.Unlock() })
	defer RouteLogs(nil)
	c, err := Dial(context.Background(), Options{Addr: cluster.Addrs[0], ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 100 {
		_ = c.Get(context.Background(), fmt.Sprint("k", i)).Err()
	}
	mu.Lock()
	defer mu.Unlock()
	if lines > 1 {
		t.Fatalf("%d log lines for 100 reads", lines)
	}
}
