package redisdata

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/redisdata/redistest"
)

var (
	tickPattern  = model.MustKeyPattern("ticks:{asset}")
	chanPattern  = model.MustKeyPattern("updates:{asset}")
	cachePattern = model.MustKeyPattern("historical:{asset}:{timeframe}")
)

func candlesJSON(n int) string {
	cs := make([]model.Candle, n)
	for i := range cs {
		cs[i] = model.Candle{Start: 1729760400 + int64(i)*60, Open: 1, High: 1.1, Low: 0.9, Close: 1.05, Volume: 3}
	}
	return string(model.AppendCandlesJSON(nil, cs))
}

// roundTrips counts what a client sends to the server: single commands and pipelines,
// not the set-up of new connections.
type roundTrips struct{ commands, pipelines atomic.Int64 }

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() != "hello" && cmd.Name() != "client" && cmd.Name() != "select" {
			r.commands.Add(1)
		}
		return next(ctx, cmd)
	}
}
func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		setup := true // a new connection's CLIENT SETNAME / SETINFO
		for _, c := range cmds {
			setup = setup && c.Name() == "client"
		}
		if !setup {
			r.pipelines.Add(1)
		}
		return next(ctx, cmds)
	}
}

func TestPollerReadsBuffersCachesAndInfo(t *testing.T) {
	redistest.Each(t, func(t *testing.T, target redistest.Target) {
		ctx := context.Background()
		w := newWriter(t, target.Addr)
		for i := range 5 {
			w.LPush(ctx, "ticks:EURUSD_otc", fmt.Sprintf(`{"price":1.08,"timestamp":%d}`, 1729760400+i))
		}
		w.RPush(ctx, "ticks:USDJPY_otc", `{"price":150.1,"timestamp":1729760400}`)
		w.Set(ctx, "ticks:BROKEN", "a string, not a list", 0)
		w.SetEx(ctx, "historical:EURUSD_otc:1M", candlesJSON(200), time.Hour)
		w.Set(ctx, "historical:USDJPY_otc:5m", candlesJSON(3), 0)
		w.Set(ctx, "historical:USDJPY_otc:2d", "[]", 0) // not a timeframe: ignored
		w.Set(ctx, "unrelated", "x", 0)

		c, _ := NewClient(Options{Addr: target.Addr, ReadOnly: true})
		defer c.Close()
		p := NewPoller(c, PollerOptions{TickKey: tickPattern, CacheKey: cachePattern})
		snap, err := p.Poll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		lens := map[string]int64{}
		for _, b := range snap.Buffers {
			lens[b.Asset] = b.Len
			if (b.Err != nil) != (b.Asset == "BROKEN") {
				t.Errorf("buffer %s: err %v", b.Asset, b.Err)
			}
		}
		if lens["EURUSD_otc"] != 5 || lens["USDJPY_otc"] != 1 || len(snap.Buffers) != 3 {
			t.Fatalf("buffers %+v", snap.Buffers)
		}
		if len(snap.Caches) != 2 {
			t.Fatalf("caches %+v", snap.Caches)
		}
		eur, jpy := snap.Caches[0], snap.Caches[1]
		if eur.Key != "historical:EURUSD_otc:1M" || eur.Timeframe != model.TF1m || eur.TimeframeText != "1M" ||
			eur.Candles != 200 || !eur.Exists || eur.TTL <= 59*time.Minute || eur.TTL > time.Hour || eur.Bytes < 1000 {
			t.Fatalf("EURUSD cache %+v", eur)
		}
		if !jpy.NoExpiry || jpy.Candles != 3 || jpy.Timeframe != model.TF5m {
			t.Fatalf("USDJPY cache %+v", jpy)
		}
		info := snap.Info
		if !info.ConnectedClients.Known || info.ConnectedClients.V < 1 {
			t.Fatalf("clients not read: %+v", info)
		}
		if target.Real != nil {
			if info.Version == "" || info.Role != "master" || !info.UsedMemory.Known || !info.UptimeSeconds.Known ||
				info.Keyspace[0].Keys < 6 {
				t.Fatalf("real server INFO incomplete: %+v", info)
			}
		} else if info.UsedMemory.Known {
			t.Fatalf("miniredis does not report memory; got %+v", info.UsedMemory)
		}
		if snap.Window.Valid {
			t.Fatal("first poll cannot have a window")
		}

		// Second poll: a window exists, and the candle counts come from the memo.
		w.LPush(ctx, "ticks:EURUSD_otc", `{"price":1.08,"timestamp":1729760500}`)
		snap2, err := p.Poll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if snap2.Window.Seconds <= 0 || snap2.RoundTrips != 1 || snap2.Caches[0].Candles != 200 {
			t.Fatalf("second poll: window %+v trips %d caches %+v", snap2.Window, snap2.RoundTrips, snap2.Caches)
		}
		if target.Real != nil && (!snap2.Window.Valid || snap2.Window.OpsPerSec <= 0) {
			t.Fatalf("real server window %+v", snap2.Window)
		}
		if b := snap2.Buffers[1]; b.Asset != "EURUSD_otc" || b.Len != 6 {
			t.Fatalf("LLEN after push: %+v", snap2.Buffers)
		}

		// A rewritten cache key is counted again.
		w.SetEx(ctx, "historical:EURUSD_otc:1M", candlesJSON(150), time.Hour)
		snap3, _ := p.Poll(ctx)
		if snap3.Caches[0].Candles != 150 || snap3.RoundTrips != 2 {
			t.Fatalf("after rewrite: %+v trips %d", snap3.Caches[0], snap3.RoundTrips)
		}
	})
}

func TestPollerWithFixedAssetsDoesNotScanBuffers(t *testing.T) {
	m := redistest.Mini(t)
	ctx := context.Background()
	w := newWriter(t, m.Addr())
	w.LPush(ctx, "ticks:OTHER", "x")
	w.SetEx(ctx, "historical:OTHER:1m", "[]", time.Hour)
	w.SetEx(ctx, "historical:EURUSD_otc:1m", "[]", time.Hour)
	c, _ := NewClient(Options{Addr: m.Addr(), ReadOnly: true})
	p := NewPoller(c, PollerOptions{TickKey: tickPattern, CacheKey: cachePattern, Assets: []string{"EURUSD_otc"}})
	snap, err := p.Poll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Buffers) != 1 || snap.Buffers[0].Asset != "EURUSD_otc" || snap.Buffers[0].Len != 0 {
		t.Fatalf("buffers %+v", snap.Buffers)
	}
	if len(snap.Caches) != 1 || snap.Caches[0].Asset != "EURUSD_otc" {
		t.Fatalf("caches %+v", snap.Caches)
	}
	p.AddAssets("GBPUSD_otc", "EURUSD_otc")
	snap, _ = p.Poll(ctx)
	if len(snap.Buffers) != 2 {
		t.Fatalf("after AddAssets: %+v", snap.Buffers)
	}
}

// The budget: 100 buffers and 500 cache keys cost one pipelined round trip per
// poll in steady state (LLEN, PTTL, STRLEN and INFO together).
func TestPollOf100BuffersAnd500CacheKeysIsOneRoundTrip(t *testing.T) {
	redistest.Each(t, func(t *testing.T, target redistest.Target) {
		ctx := context.Background()
		seedManyKeys(t, target.Addr, 100, 500)
		c, _ := NewClient(Options{Addr: target.Addr, ReadOnly: true})
		defer c.Close()
		var rt roundTrips
		c.AddHook(&rt)
		p := NewPoller(c, PollerOptions{TickKey: tickPattern, CacheKey: cachePattern})
		if _, err := p.Poll(ctx); err != nil { // discovery + first candle count
			t.Fatal(err)
		}
		rt.commands.Store(0)
		rt.pipelines.Store(0)
		snap, err := p.Poll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(snap.Buffers) != 100 || len(snap.Caches) != 500 {
			t.Fatalf("polled %d buffers, %d caches", len(snap.Buffers), len(snap.Caches))
		}
		if got := rt.pipelines.Load(); got != 1 || rt.commands.Load() != 0 || snap.RoundTrips != 1 {
			t.Fatalf("steady poll: %d pipelines, %d single commands, %d round trips; want 1, 0, 1",
				got, rt.commands.Load(), snap.RoundTrips)
		}
		for _, cs := range snap.Caches {
			if cs.Candles != 20 {
				t.Fatalf("cache %s candles %d", cs.Key, cs.Candles)
			}
		}
	})
}

func seedManyKeys(t testing.TB, addr string, buffers, caches int) {
	ctx := context.Background()
	w := newWriter(t, addr)
	pipe := w.Pipeline()
	tfs := []string{"1m", "5m", "15m", "1h", "4h"}
	val := candlesJSON(20)
	for i := range buffers {
		asset := fmt.Sprintf("ASSET%03d_otc", i)
		pipe.LPush(ctx, "ticks:"+asset, `{"price":1.1,"timestamp":1729760400}`)
		for j := range caches / buffers {
			pipe.SetEx(ctx, "historical:"+asset+":"+tfs[j%len(tfs)], val, time.Hour)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestParseInfo(t *testing.T) {
	text := strings.Join([]string{
		"# Server", "redis_version:7.0.15", "redis_mode:standalone", "uptime_in_seconds:42", "",
		"# Clients", "connected_clients:3", "", "# Memory", "used_memory:1048576", "used_memory_peak:2097152",
		"used_memory_rss:3000000", "maxmemory:0", "", "# Stats", "instantaneous_ops_per_sec:1234",
		"total_commands_processed:99", "keyspace_hits:30", "keyspace_misses:10", "expired_keys:7",
		"evicted_keys:0", "pubsub_channels:2", "pubsub_patterns:1", "", "# Replication", "role:master", "",
		"# Keyspace", "db0:keys=12,expires=5,avg_ttl=3599000", "db3:keys=1,expires=0,avg_ttl=0",
	}, "\r\n")
	var info Info
	ParseInfo(text, &info)
	if info.Version != "7.0.15" || info.Role != "master" || info.UptimeSeconds.V != 42 || info.UsedMemory.V != 1048576 ||
		info.OpsPerSec.V != 1234 || info.PubSubChannels.V != 2 || info.PubSubPatterns.V != 1 || !info.EvictedKeys.Known {
		t.Fatalf("%+v", info)
	}
	if rate, ok := info.HitRate(); !ok || rate != 0.75 {
		t.Fatalf("hit rate %v %v", rate, ok)
	}
	if info.Keyspace[0] != (DBKeys{Keys: 12, Expires: 5, AvgTTLms: 3599000}) || info.Keyspace[3].Keys != 1 {
		t.Fatalf("keyspace %+v", info.Keyspace)
	}
	var empty Info
	ParseInfo("# Clients\nconnected_clients:1\n", &empty)
	if empty.UsedMemory.Known || empty.Keyspace != nil {
		t.Fatal("unreported fields must stay unknown")
	}
	if _, ok := empty.HitRate(); ok {
		t.Fatal("hit rate without counters")
	}
}

func BenchmarkPoll100Buffers500Caches(b *testing.B) {
	for _, kind := range []string{"miniredis", "redis-server"} {
		b.Run(kind, func(b *testing.B) {
			var addr string
			if kind == "miniredis" {
				addr = redistest.Mini(b).Addr()
			} else {
				addr = redistest.Real(b).Addr
			}
			seedManyKeys(b, addr, 100, 500)
			c, _ := NewClient(Options{Addr: addr, ReadOnly: true})
			defer c.Close()
			p := NewPoller(c, PollerOptions{TickKey: tickPattern, CacheKey: cachePattern, DiscoverEvery: time.Hour})
			ctx := context.Background()
			if _, err := p.Poll(ctx); err != nil {
				b.Fatal(err)
			}
			trips := 0
			for b.Loop() {
				snap, err := p.Poll(ctx)
				if err != nil {
					b.Fatal(err)
				}
				trips += snap.RoundTrips
			}
			b.ReportMetric(float64(trips)/float64(b.N), "roundtrips/poll")
		})
	}
}

func TestPollerReadsTheNewestTickOfEitherProducer(t *testing.T) {
	redistest.Each(t, func(t *testing.T, target redistest.Target) {
		ctx := context.Background()
		w := newWriter(t, target.Addr)
		for i := range 3 {
			tick := fmt.Sprintf(`{"price":1.0%d,"timestamp":%d}`, i, 1729760400+i)
			w.LPush(ctx, "ticks:V1_otc", tick)
			w.RPush(ctx, "ticks:V2_otc", tick)
		}
		w.LPush(ctx, "ticks:BAD_otc", "garbage")
		c, _ := NewClient(Options{Addr: target.Addr, ReadOnly: true})
		defer c.Close()
		p := NewPoller(c, PollerOptions{TickKey: tickPattern, CacheKey: cachePattern, LastTicks: true,
			Assets: []string{"V1_otc", "V2_otc", "BAD_otc", "EMPTY_otc"}})
		snap, err := p.Poll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		by := map[string]BufferStat{}
		for _, b := range snap.Buffers {
			by[b.Asset] = b
		}
		for asset, order := range map[string]ListOrder{"V1_otc": OrderNewestFirst, "V2_otc": OrderNewestLast} {
			b := by[asset]
			if b.Last == nil || b.Last.Price != 1.02 || b.Last.UnixMicro != 1729760402e6 || b.Order != order || b.Last.Asset != asset {
				t.Fatalf("%s: %+v last %+v", asset, b, b.Last)
			}
		}
		if by["BAD_otc"].Last != nil || by["EMPTY_otc"].Last != nil || by["EMPTY_otc"].Len != 0 {
			t.Fatalf("bad/empty: %+v %+v", by["BAD_otc"], by["EMPTY_otc"])
		}
		direct, err := ReadBuffers(ctx, c, tickPattern, []string{"V2_otc"})
		if err != nil || len(direct) != 1 || direct[0].Last == nil || direct[0].Last.Price != 1.02 {
			t.Fatalf("ReadBuffers: %+v %v", direct, err)
		}
	})
}

// A place among the vouched assets is given back when discovery no longer finds the key
// that vouched for it (twice in a row: a drained buffer may be briefly absent). Junk keys
// created once must not hide every instrument that comes later.
func TestVouchedAssetsWhoseKeysAreGoneAreForgotten(t *testing.T) {
	srv := redistest.Real(t)
	ctx := context.Background()
	w := newWriter(t, srv.Addr)
	for i := range 5 {
		w.RPush(ctx, fmt.Sprintf("ticks:JUNK%d_otc", i), "x")
	}
	c, err := NewClient(Options{Addr: srv.Addr, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	adm := model.NewAdmission(model.AdmissionOptions{Max: 5})
	p := NewPoller(c, PollerOptions{TickKey: tickPattern, CacheKey: cachePattern, Admission: adm, DiscoverEvery: time.Hour})
	if err := p.Discover(ctx); err != nil {
		t.Fatal(err)
	}
	if !adm.Admitted("JUNK0_otc") {
		t.Fatal("a buffer did not vouch for its asset")
	}
	for i := range 5 {
		w.Del(ctx, fmt.Sprintf("ticks:JUNK%d_otc", i))
	}
	w.RPush(ctx, "ticks:NEWPAIR_otc", "x")
	p.Discover(ctx)
	if !adm.Admitted("JUNK0_otc") || adm.Admitted("NEWPAIR_otc") {
		t.Fatal("one discovery without its key already took a place back (a drained buffer may be absent once)")
	}
	p.Discover(ctx) // the junk's places are given back...
	p.Discover(ctx) // ...and the new pair takes one
	if adm.Admitted("JUNK0_otc") || !adm.Admitted("NEWPAIR_otc") {
		t.Fatalf("after the junk keys went: junk admitted %v, the new pair %v", adm.Admitted("JUNK0_otc"), adm.Admitted("NEWPAIR_otc"))
	}
	snap, err := p.Poll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Buffers) != 1 || snap.Buffers[0].Asset != "NEWPAIR_otc" {
		t.Fatalf("polled buffers %+v", snap.Buffers)
	}
}
