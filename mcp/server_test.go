package mcp

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/redis/go-redis/v9"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata"
	"github.com/quflx/quflx-tui/redisdata/redistest"
)

var (
	tickKey  = model.MustKeyPattern("ticks:{asset}")
	cacheKey = model.MustKeyPattern("historical:{asset}:{timeframe}")
)

// session connects the SDK's own client to a server over in-memory transports.
func session(t *testing.T, addr string, allowWrites bool) (*sdk.ClientSession, *redisdata.Client) {
	t.Helper()
	c, err := redisdata.NewClient(redisdata.Options{Addr: addr, ReadOnly: !allowWrites, DialTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	server := NewServer(redisdata.NewWatch(c, redisdata.WatchOptions{TickKey: tickKey, CacheKey: cacheKey}), Options{TickKey: tickKey, CacheKey: cacheKey, AllowWrites: allowWrites})
	st, ct := sdk.NewInMemoryTransports()
	ctx := context.Background()
	ss, err := server.Connect(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ss.Close() })
	client := sdk.NewClient(&sdk.Implementation{Name: "quflx-test", Version: "1"}, nil)
	cs, err := client.Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs, c
}

// call calls a tool and decodes its structured result into out.
func call(t *testing.T, cs *sdk.ClientSession, name string, args map[string]any, out any) *sdk.CallToolResult {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: protocol error %v", name, err)
	}
	if !res.IsError && out != nil {
		b, _ := json.Marshal(res.StructuredContent)
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s: structured content %s: %v", name, b, err)
		}
	}
	return res
}

func textOf(res *sdk.CallToolResult) string {
	var sb strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*sdk.TextContent); ok {
			sb.WriteString(tc.Text)
		}
	}
	return sb.String()
}

func mustFail(t *testing.T, cs *sdk.ClientSession, name string, args map[string]any, want string) {
	t.Helper()
	res := call(t, cs, name, args, nil)
	if !res.IsError || !strings.Contains(textOf(res), want) {
		t.Fatalf("%s(%v): IsError %v, %q; want a tool error containing %q", name, args, res.IsError, textOf(res), want)
	}
}

func seed(t *testing.T, addr string) {
	w, _ := redisdata.NewClient(redisdata.Options{Addr: addr})
	defer w.Close()
	ctx := context.Background()
	now := time.Now()
	for i := range 3 {
		w.RPush(ctx, "ticks:EURUSD_otc", fmt.Sprintf(`{"price":1.08%d,"timestamp":%.3f}`, i, float64(now.UnixMilli()-int64(3-i)*1000)/1000))
	}
	w.LPush(ctx, "ticks:USDJPY_otc", fmt.Sprintf(`{"price":150.1,"timestamp":%d}`, now.Unix()))
	candles := []model.Candle{{Start: now.Unix() / 60 * 60, Open: 1, High: 1.1, Low: 0.9, Close: 1.05, Volume: 4}}
	w.SetEx(ctx, "historical:EURUSD_otc:1M", model.AppendCandlesJSON(nil, candles), time.Hour)
	w.SetEx(ctx, "historical:EURUSD_otc:5m", model.AppendCandlesJSON(nil, append(candles, candles...)), 100*time.Second)
	w.Set(ctx, "plain", "hello", 0)
	st := redisdata.FlusherStatus{State: "idle", Store: "sqlite:q.db", Heartbeat: now, Flushed: 42}
	redisdata.PublishFlusherStatus(ctx, w, redisdata.DefaultFlusherStatusKey, st, time.Minute)
}

func TestEveryReadToolAgainstBothServers(t *testing.T) {
	redistest.Each(t, func(t *testing.T, target redistest.Target) {
		seed(t, target.Addr)
		cs, _ := session(t, target.Addr, false)

		var ping PingOut
		if res := call(t, cs, "redis_ping", nil, &ping); res.IsError || ping.Pong != "PONG" || !strings.Contains(textOf(res), "PONG") {
			t.Fatalf("ping %+v %q", ping, textOf(res))
		}
		var got GetOut
		call(t, cs, "redis_get", map[string]any{"key": "plain"}, &got)
		if !got.Exists || got.Value != "hello" || got.Truncated {
			t.Fatalf("get %+v", got)
		}
		call(t, cs, "redis_get", map[string]any{"key": "nope"}, &got)
		if got.Exists {
			t.Fatalf("get missing %+v", got)
		}
		var keys KeysOut
		call(t, cs, "redis_keys", map[string]any{"pattern": "ticks:*"}, &keys)
		if !slices.Equal(keys.Keys, []string{"ticks:EURUSD_otc", "ticks:USDJPY_otc"}) || keys.Truncated {
			t.Fatalf("keys %+v", keys)
		}
		call(t, cs, "redis_keys", map[string]any{"pattern": "*", "limit": 2}, &keys)
		if keys.Count != 2 || !keys.Truncated {
			t.Fatalf("capped keys %+v", keys)
		}
		var info InfoOut
		call(t, cs, "redis_info", map[string]any{"section": "clients"}, &info)
		if info.Info["Clients"]["connected_clients"] == "" {
			t.Fatalf("info %+v", info)
		}
		var n LenOut
		call(t, cs, "redis_llen", map[string]any{"key": "ticks:EURUSD_otc"}, &n)
		if n.Length != 3 {
			t.Fatalf("llen %+v", n)
		}
		var r RangeOut
		call(t, cs, "redis_lrange", map[string]any{"key": "ticks:EURUSD_otc", "start": -2, "stop": -1}, &r)
		if len(r.Values) != 2 || r.Start != 1 || r.Stop != 2 || !strings.Contains(r.Values[1], "1.082") {
			t.Fatalf("lrange %+v", r)
		}
		var buffers BuffersOut
		call(t, cs, "quflx_monitor_buffers", nil, &buffers)
		if buffers.Count != 2 || buffers.Buffers[0].Asset != "EURUSD_otc" || *buffers.Buffers[0].LastPrice != 1.082 ||
			buffers.Buffers[0].Order != "newest-last" || buffers.Buffers[1].Order != "unknown" {
			t.Fatalf("buffers %+v", buffers)
		}
		call(t, cs, "quflx_monitor_buffers", map[string]any{"assets": []string{"USDJPY_otc"}}, &buffers)
		if buffers.Count != 1 || *buffers.Buffers[0].LastPrice != 150.1 {
			t.Fatalf("buffers of one asset %+v", buffers)
		}
		var caches CacheOut
		call(t, cs, "quflx_monitor_cache", nil, &caches)
		if caches.Count != 2 || caches.Caches[0].State != "fresh" || caches.Caches[0].Candles != 1 ||
			caches.Caches[1].State != "expiring" || caches.Caches[1].Candles != 2 {
			t.Fatalf("caches %+v", caches)
		}
		call(t, cs, "quflx_monitor_cache", map[string]any{"asset": "EURUSD_otc", "timeframe": "1m"}, &caches)
		if caches.Count != 1 || caches.Caches[0].Key != "historical:EURUSD_otc:1M" {
			t.Fatalf("1m cache (spelled 1M) %+v", caches)
		}
		var perf PerformanceOut
		call(t, cs, "quflx_get_performance_metrics", nil, &perf)
		if perf.Server.ConnectedClients == nil || perf.Flusher == nil || perf.Flusher.Flushed != 42 || perf.Server.PingMillis <= 0 {
			t.Fatalf("performance %+v", perf)
		}
		if target.Real != nil && (perf.Server.Version == nil || perf.Server.UsedMemory == nil) {
			t.Fatalf("real server metrics %+v", perf.Server)
		}
	})
}

func TestBadArgumentsAndWrongTypesAreToolErrors(t *testing.T) {
	redistest.Each(t, func(t *testing.T, target redistest.Target) {
		seed(t, target.Addr)
		cs, _ := session(t, target.Addr, true)
		mustFail(t, cs, "redis_get", map[string]any{}, `missing properties: ["key"]`)
		mustFail(t, cs, "redis_get", map[string]any{"key": ""}, "key is required")
		mustFail(t, cs, "redis_get", map[string]any{"key": 42}, "key")
		mustFail(t, cs, "redis_lrange", map[string]any{"key": "ticks:EURUSD_otc", "start": "zero", "stop": 1}, "start")
		mustFail(t, cs, "redis_set", map[string]any{"key": "k", "value": "v", "ttl": -5}, "negative")
		mustFail(t, cs, "redis_info", map[string]any{"section": "memory stats"}, "one word")
		mustFail(t, cs, "quflx_monitor_cache", map[string]any{"timeframe": "2d"}, "unknown timeframe")
		// A key of the wrong type.
		mustFail(t, cs, "redis_llen", map[string]any{"key": "plain"}, "WRONGTYPE")
		mustFail(t, cs, "redis_get", map[string]any{"key": "ticks:EURUSD_otc"}, "WRONGTYPE")
		mustFail(t, cs, "redis_lpush", map[string]any{"key": "plain", "value": "x"}, "WRONGTYPE")
		// And the server keeps serving.
		var ping PingOut
		if res := call(t, cs, "redis_ping", nil, &ping); res.IsError {
			t.Fatal("server stopped serving after tool errors")
		}
	})
}

func TestLrangeIsBounded(t *testing.T) {
	m := redistest.Mini(t)
	for i := range 2500 {
		m.RPush("big", fmt.Sprint(i))
	}
	cs, _ := session(t, m.Addr(), false)
	var r RangeOut
	call(t, cs, "redis_lrange", map[string]any{"key": "big", "start": 0, "stop": -1}, &r)
	if len(r.Values) != 1000 || !r.Truncated || r.Length != 2500 || r.Values[999] != "999" {
		t.Fatalf("lrange 0 -1 of 2500: %d values, truncated %v", len(r.Values), r.Truncated)
	}
	call(t, cs, "redis_lrange", map[string]any{"key": "big", "start": 5, "stop": 2}, &r)
	if len(r.Values) != 0 || r.Truncated {
		t.Fatalf("empty range %+v", r)
	}
}

func TestWriteToolsOnlyWithAllowWrites(t *testing.T) {
	redistest.Each(t, func(t *testing.T, target redistest.Target) {
		seed(t, target.Addr)
		ro, _ := session(t, target.Addr, false)
		tools, err := ro.ListTools(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, tl := range tools.Tools {
			names = append(names, tl.Name)
		}
		if len(names) != 9 {
			t.Fatalf("read-only server offers %v", names)
		}
		for _, w := range WriteTools {
			if slices.Contains(names, w) {
				t.Fatalf("read-only server offers %s", w)
			}
			res, err := ro.CallTool(context.Background(), &sdk.CallToolParams{Name: w, Arguments: map[string]any{"key": "plain", "value": "x"}})
			if err == nil && !res.IsError {
				t.Fatalf("%s was served without --allow-writes", w)
			}
		}

		rw, c := session(t, target.Addr, true)
		tools, _ = rw.ListTools(context.Background(), nil)
		if len(tools.Tools) != 13 {
			t.Fatalf("writable server offers %d tools", len(tools.Tools))
		}
		var set SetOut
		call(t, rw, "redis_set", map[string]any{"key": "k", "value": "v", "ttl": 60}, &set)
		var n LenOut
		call(t, rw, "redis_lpush", map[string]any{"key": "l", "value": "a"}, &n)
		call(t, rw, "redis_lpush", map[string]any{"key": "l", "value": "b"}, &n)
		var tr TrimOut
		call(t, rw, "redis_ltrim", map[string]any{"key": "l", "start": 0, "stop": 0}, &tr)
		var del DelOut
		call(t, rw, "redis_del", map[string]any{"key": "plain"}, &del)
		ctx := context.Background()
		if c.Get(ctx, "k").Val() != "v" || c.TTL(ctx, "k").Val() <= 0 || tr.Length != 1 || c.LIndex(ctx, "l", 0).Val() != "b" ||
			del.Deleted != 1 || c.Exists(ctx, "plain").Val() != 0 {
			t.Fatalf("writes did not land: set %+v trim %+v del %+v", set, tr, del)
		}
	})
}

func TestServerGoingAwayMidSession(t *testing.T) {
	srv := redistest.Real(t)
	seed(t, srv.Addr)
	cs, _ := session(t, srv.Addr, false)
	var ping PingOut
	if res := call(t, cs, "redis_ping", nil, &ping); res.IsError {
		t.Fatal(textOf(res))
	}
	srv.Kill()
	for tool, args := range map[string]map[string]any{"redis_ping": nil, "quflx_monitor_buffers": nil, "redis_llen": {"key": "x"}} {
		res := call(t, cs, tool, args, nil)
		if !res.IsError || !strings.Contains(textOf(res), "refused") {
			t.Fatalf("%s with the server gone: IsError %v %q", tool, res.IsError, textOf(res))
		}
	}
	srv.Restart(t)
	deadline := time.Now().Add(3 * time.Second)
	for {
		res := call(t, cs, "redis_ping", nil, &ping)
		if !res.IsError {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not serving again after the restart: %s", textOf(res))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// roundTrips counts pipelines and single commands sent through a client.
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if name := cmd.Name(); name != "client" && name != "select" && name != "hello" {
			r.n.Add(1)
		}
		return next(ctx, cmd)
	}
}
func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 && cmds[0].Name() != "client" {
			r.n.Add(1)
		}
		return next(ctx, cmds)
	}
}

// The budget: quflx_monitor_buffers over 100 assets is one pipelined round trip.
func TestMonitorBuffersOf100AssetsIsOneRoundTrip(t *testing.T) {
	srv := redistest.Real(t)
	w, _ := redisdata.NewClient(redisdata.Options{Addr: srv.Addr})
	defer w.Close()
	ctx := context.Background()
	var assets []string
	pipe := w.Pipeline()
	for i := range 100 {
		a := fmt.Sprintf("ASSET%03d_otc", i)
		assets = append(assets, a)
		pipe.LPush(ctx, "ticks:"+a, fmt.Sprintf(`{"price":1.%03d,"timestamp":%d}`, i+1, time.Now().Unix()))
	}
	pipe.Exec(ctx)
	cs, c := session(t, srv.Addr, false)
	var rt roundTrips
	c.AddHook(&rt)
	c.Ping(ctx) // connect before counting
	rt.n.Store(0)
	var out BuffersOut
	call(t, cs, "quflx_monitor_buffers", map[string]any{"assets": assets}, &out)
	if out.Count != 100 || *out.Buffers[99].LastPrice != 1.1 {
		t.Fatalf("buffers %d", out.Count)
	}
	if got := rt.n.Load(); got != 1 {
		t.Fatalf("monitor of 100 assets took %d round trips, want 1", got)
	}
}

// redis_keys refuses patterns that would make SCAN's matching slow (long, many stars) and
// stops its walk at a deadline, answering with what it found; a pattern matching nothing
// in a large keyspace cannot keep the tool (or the server) busy for long.
func TestKeysIsBounded(t *testing.T) {
	srv := redistest.Real(t, "--enable-debug-command", "yes")
	c, err := redisdata.NewClient(redisdata.Options{Addr: srv.Addr, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer w.Close()
	if err := w.Do(context.Background(), "DEBUG", "POPULATE", 1_000_000, "junk").Err(); err != nil {
		t.Fatal(err)
	}
	server := NewServer(redisdata.NewWatch(c, redisdata.WatchOptions{TickKey: tickKey, CacheKey: cacheKey}), Options{TickKey: tickKey, CacheKey: cacheKey, ScanDeadline: 100 * time.Millisecond})
	st, ct := sdk.NewInMemoryTransports()
	ctx := context.Background()
	ss, _ := server.Connect(ctx, st, nil)
	defer ss.Close()
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "t", Version: "1"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	for _, bad := range []string{strings.Repeat("a", 300), strings.Repeat("*a", 9)} {
		if res := call(t, cs, "redis_keys", map[string]any{"pattern": bad}, nil); !res.IsError {
			t.Errorf("pattern %.20q... accepted", bad)
		}
	}
	var out KeysOut
	start := time.Now()
	call(t, cs, "redis_keys", map[string]any{"pattern": "nothing:*"}, &out)
	if took := time.Since(start); !out.Partial || out.Count != 0 || took > 2*time.Second {
		t.Fatalf("a walk of a million keys for nothing: %+v in %v", out, took)
	}
}

// redis_lrange is bounded in bytes: a list of 1 MB junk elements gives a short answer,
// each long element cut to its head and length.
func TestLrangeIsBoundedInBytes(t *testing.T) {
	redistest.Each(t, func(t *testing.T, target redistest.Target) {
		cs, _ := session(t, target.Addr, false)
		w := redis.NewClient(&redis.Options{Addr: target.Addr})
		defer w.Close()
		ctx := context.Background()
		huge := strings.Repeat("x", 1<<20)
		for range 40 {
			w.RPush(ctx, "ticks:JUNK", huge)
		}
		var out RangeOut
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		res := call(t, cs, "redis_lrange", map[string]any{"key": "ticks:JUNK", "start": 0, "stop": -1}, &out)
		runtime.ReadMemStats(&after)
		if grew := after.TotalAlloc - before.TotalAlloc; target.Real != nil && grew > 16<<20 {
			t.Fatalf("reading 40 elements of 1 MB allocated %d MB: they arrived whole", grew>>20)
		}
		b, _ := json.Marshal(res)
		if len(b) > 1<<20 || len(out.Values) == 0 || len(out.Cut) != len(out.Values) ||
			!strings.HasSuffix(out.Values[0], "… (1048576 bytes)") || out.Length != 40 {
			t.Fatalf("answer of %d bytes: %d values, cut %v, length %d", len(b), len(out.Values), out.Cut, out.Length)
		}
	})
}
