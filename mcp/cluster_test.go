package mcp

import (
	"context"
	"fmt"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/quflx/quflx-tui/redisdata"
	"github.com/quflx/quflx-tui/redisdata/redistest"
)

// Given one node of a cluster, the tools see all of it: redis_keys walks every master,
// redis_info answers per master, the buffer monitor and LLEN reach each key's own node,
// and the performance figures are the masters' sum with each node listed.
func TestToolsSeeEveryClusterNode(t *testing.T) {
	cl := redistest.RealCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w, err := redisdata.Dial(ctx, redisdata.Options{Addr: cl.Addrs[0]})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	const assets = 30
	for i := range assets {
		if err := w.RPush(ctx, fmt.Sprintf("ticks:K%02d_otc", i), `{"price":1.1,"timestamp":1729760400}`).Err(); err != nil {
			t.Fatal(err)
		}
	}
	c, err := redisdata.Dial(ctx, redisdata.Options{Addr: cl.Addrs[1], ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	server := NewServer(redisdata.NewWatch(c, redisdata.WatchOptions{TickKey: tickKey, CacheKey: cacheKey}),
		Options{TickKey: tickKey, CacheKey: cacheKey})
	st, ct := sdk.NewInMemoryTransports()
	ss, err := server.Connect(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ss.Close() })
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "quflx-test", Version: "1"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })

	var keys KeysOut
	if res := call(t, cs, "redis_keys", map[string]any{"pattern": "ticks:*"}, &keys); res.IsError || keys.Count != assets {
		t.Fatalf("redis_keys: %d keys, want %d: %s", keys.Count, assets, textOf(res))
	}
	var info InfoOut
	if res := call(t, cs, "redis_info", map[string]any{"section": "keyspace"}, &info); res.IsError || len(info.Nodes) != 3 {
		t.Fatalf("redis_info: %d nodes: %s", len(info.Nodes), textOf(res))
	}
	total := 0
	for _, n := range info.Nodes {
		var keys int
		if _, err := fmt.Sscanf(n.Info["Keyspace"]["db0"], "keys=%d", &keys); err != nil || n.Error != "" {
			t.Fatalf("node %s: %+v (%v)", n.Address, n, err)
		}
		total += keys
	}
	if total != assets {
		t.Fatalf("the masters hold %d keys together, want %d", total, assets)
	}
	var buffers BuffersOut
	if res := call(t, cs, "quflx_monitor_buffers", nil, &buffers); res.IsError || buffers.Count != assets {
		t.Fatalf("quflx_monitor_buffers: %d: %s", buffers.Count, textOf(res))
	}
	var l LenOut
	if res := call(t, cs, "redis_llen", map[string]any{"key": "ticks:K07_otc"}, &l); res.IsError || l.Length != 1 {
		t.Fatalf("redis_llen: %+v %s", l, textOf(res))
	}
	var perf PerformanceOut
	if res := call(t, cs, "quflx_get_performance_metrics", nil, &perf); res.IsError || perf.Server.Mode != "cluster" ||
		len(perf.Server.Nodes) != 3 {
		t.Fatalf("performance: mode %q, %d nodes: %s", perf.Server.Mode, len(perf.Server.Nodes), textOf(res))
	}
}
