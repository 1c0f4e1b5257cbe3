package redisdata

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/quflx/quflx-tui/redisdata/redistest"
)

func TestClaimMovesTheBufferAndKeepsLaterPushes(t *testing.T) {
	redistest.Each(t, func(t *testing.T, target redistest.Target) {
		ctx := context.Background()
		w := newWriter(t, target.Addr)
		for i := range 5 {
			w.LPush(ctx, "ticks:A", fmt.Sprint("a", i))
		}
		w.Set(ctx, "ticks:WRONG", "x", 0)
		cl := NewClaimer(w, "")
		claims, err := cl.Claim(ctx, []string{"ticks:A", "ticks:EMPTY", "ticks:WRONG"})
		if err != nil {
			t.Fatal(err)
		}
		a, empty, wrong := claims[0], claims[1], claims[2]
		if a.Moved != 5 || a.Pending != 5 || a.Inflight != "quflx:inflight:ticks:A" || a.Err != nil {
			t.Fatalf("claim A %+v", a)
		}
		if empty.Moved != 0 || empty.Pending != 0 || empty.Err != nil || wrong.Err == nil {
			t.Fatalf("empty %+v wrong %+v", empty, wrong)
		}
		if w.Exists(ctx, "ticks:A").Val() != 0 {
			t.Fatal("buffer not moved")
		}
		// A tick pushed during the flush lands in a fresh buffer, untouched.
		w.LPush(ctx, "ticks:A", "during")
		entries, err := cl.Read(ctx, a.Inflight, 0, 100)
		if err != nil || len(entries) != 5 || entries[0] != "a4" {
			t.Fatalf("in flight %v %v", entries, err)
		}
		// The commit failed: the next claim appends to the unfinished one instead of
		// overwriting it.
		claims, _ = cl.Claim(ctx, []string{"ticks:A"})
		if claims[0].Moved != 1 || claims[0].Pending != 6 {
			t.Fatalf("second claim %+v", claims[0])
		}
		entries, _ = cl.Read(ctx, a.Inflight, 0, 100)
		if !slices.Equal(entries, []string{"a4", "a3", "a2", "a1", "a0", "during"}) {
			t.Fatalf("after append %v", entries)
		}
		unfinished, err := cl.Unfinished(ctx)
		if err != nil || !slices.Equal(unfinished, []string{"ticks:A"}) {
			t.Fatalf("unfinished %v %v", unfinished, err)
		}
		// Release what a writer committed (the first 6) while a claim appends one more:
		// the appended entry stays in flight.
		w.LPush(ctx, "ticks:A", "late")
		cl.Claim(ctx, []string{"ticks:A"})
		left, err := cl.Release(ctx, map[string]int64{a.Inflight: 6})
		if err != nil || left[a.Inflight] != 1 {
			t.Fatalf("release: %v %v", left, err)
		}
		if entries, _ := cl.Read(ctx, a.Inflight, 0, 10); !slices.Equal(entries, []string{"late"}) {
			t.Fatalf("after partial release %v", entries)
		}
		if left, err := cl.Release(ctx, map[string]int64{a.Inflight: 1}); err != nil || left[a.Inflight] != 0 {
			t.Fatalf("release the rest: %v %v", left, err)
		}
		if unfinished, _ := cl.Unfinished(ctx); len(unfinished) != 0 {
			t.Fatalf("after release %v", unfinished)
		}
	})
}

func TestClaimAppendsLargeBuffersInChunks(t *testing.T) {
	redistest.Each(t, func(t *testing.T, target redistest.Target) {
		ctx := context.Background()
		w := newWriter(t, target.Addr)
		cl := NewClaimer(w, "")
		w.RPush(ctx, "quflx:inflight:ticks:B", "old")
		vals := make([]any, 2500)
		for i := range vals {
			vals[i] = fmt.Sprint(i)
		}
		w.RPush(ctx, "ticks:B", vals...)
		claims, err := cl.Claim(ctx, []string{"ticks:B"})
		if err != nil || claims[0].Moved != 2500 || claims[0].Pending != 2501 {
			t.Fatalf("%+v %v", claims, err)
		}
		last, _ := cl.Read(ctx, claims[0].Inflight, 2500, 10)
		if !slices.Equal(last, []string{"2499"}) {
			t.Fatalf("tail %v", last)
		}
	})
}

func TestClaimReloadsTheScriptAfterARestart(t *testing.T) {
	srv := redistest.Real(t)
	ctx := context.Background()
	w := newWriter(t, srv.Addr)
	cl := NewClaimer(w, "")
	w.LPush(ctx, "ticks:A", "x")
	if c, err := cl.Claim(ctx, []string{"ticks:A"}); err != nil || c[0].Err != nil {
		t.Fatal(err, c)
	}
	w.ScriptFlush(ctx) // what a restart does to the script cache
	w.LPush(ctx, "ticks:A", "y")
	c, err := cl.Claim(ctx, []string{"ticks:A"})
	if err != nil || c[0].Err != nil || c[0].Pending != 2 {
		t.Fatalf("after SCRIPT FLUSH: %v %+v", err, c)
	}
}
