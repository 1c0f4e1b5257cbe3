package redisdata

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/quflx/quflx-tui/redisdata/redistest"
)

func pushN(t *testing.T, c *Client, key, prefix string, n int) {
	t.Helper()
	for i := range n {
		if err := c.RPush(context.Background(), key, fmt.Sprint(prefix, i)).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestClaimTakesTheWholeBufferAndLeavesLaterPushes(t *testing.T) {
	redistest.Each(t, func(t *testing.T, target redistest.Target) {
		ctx := context.Background()
		w := newWriter(t, target.Addr)
		pushN(t, w, "ticks:A", "a", 5)
		w.Set(ctx, "ticks:WRONG", "x", 0)
		cl := NewClaimer(w, ClaimOptions{Owner: "f1"})
		res, err := cl.Claim(ctx, []string{"ticks:A", "ticks:EMPTY", "ticks:WRONG"})
		if err != nil {
			t.Fatal(err)
		}
		a, empty, wrong := res[0], res[1], res[2]
		if a.Claim == nil || a.Claim.Len != 5 || a.Err != nil || a.Claim.ID != "f1-1" ||
			a.Claim.Key != "quflx:{ticks:A}:claim:f1-1" || a.Claim.Registry != "quflx:{ticks:A}:claims" {
			t.Fatalf("claim of A: %+v %+v", a, a.Claim)
		}
		if empty.Claim != nil || empty.Err != nil || wrong.Claim != nil || wrong.Err == nil {
			t.Fatalf("empty %+v, wrong %+v", empty, wrong)
		}
		// A tick pushed after the claim waits in a fresh buffer for the next claim.
		w.RPush(ctx, "ticks:A", "later")
		r, err := cl.Read(ctx, *a.Claim, 0, 100)
		if err != nil || !slices.Equal(r.Entries, []string{"a0", "a1", "a2", "a3", "a4"}) {
			t.Fatalf("read %v, %v", r.Entries, err)
		}
		if got := w.LRange(ctx, "ticks:A", 0, -1).Val(); !slices.Equal(got, []string{"later"}) {
			t.Fatalf("buffer after the claim: %v", got)
		}
		// Reads start anywhere and stop at the end.
		if r, _ := cl.Read(ctx, *a.Claim, 3, 100); !slices.Equal(r.Entries, []string{"a3", "a4"}) {
			t.Fatalf("read from 3: %v", r.Entries)
		}
		second, _ := cl.Claim(ctx, []string{"ticks:A"})
		if second[0].Claim == nil || second[0].Claim.ID == a.Claim.ID || second[0].Claim.Len != 1 {
			t.Fatalf("second claim %+v", second[0].Claim)
		}
		// Released twice (a reply lost, a second flusher): the second release removes
		// nothing, and the other claim of the same buffer is untouched.
		for range 2 {
			if _, err := cl.Release(ctx, []ClaimRef{*a.Claim}); err != nil {
				t.Fatal(err)
			}
		}
		if w.Exists(ctx, a.Claim.Key).Val() != 0 || w.HExists(ctx, a.Claim.Registry, a.Claim.ID).Val() {
			t.Fatal("released claim still there")
		}
		if r, _ := cl.Read(ctx, *second[0].Claim, 0, 100); !slices.Equal(r.Entries, []string{"later"}) {
			t.Fatalf("other claim after a double release: %v", r.Entries)
		}
	})
}

// The claim script run twice with the same id (its reply was lost and the pipeline was
// sent again) claims once: the second run must not RENAME the refilled buffer over the
// first claim.
func TestClaimScriptIsIdempotentByID(t *testing.T) {
	redistest.Each(t, func(t *testing.T, target redistest.Target) {
		ctx := context.Background()
		w := newWriter(t, target.Addr)
		pushN(t, w, "ticks:A", "a", 3)
		keys := []string{"ticks:A", "quflx:{ticks:A}:claims", "quflx:{ticks:A}:claim:x-1"}
		first, err := claimScript.Run(ctx, w, keys, "x-1", "x", 15000).Int64Slice()
		if err != nil || !slices.Equal(first, []int64{1, 3}) {
			t.Fatalf("first run %v %v", first, err)
		}
		pushN(t, w, "ticks:A", "b", 2)
		again, err := claimScript.Run(ctx, w, keys, "x-1", "x", 15000).Int64Slice()
		if err != nil || !slices.Equal(again, []int64{1, 3}) {
			t.Fatalf("second run %v %v", again, err)
		}
		if got := w.LRange(ctx, keys[2], 0, -1).Val(); !slices.Equal(got, []string{"a0", "a1", "a2"}) {
			t.Fatalf("claim after a repeated run: %v", got)
		}
		if n := w.LLen(ctx, "ticks:A").Val(); n != 2 {
			t.Fatalf("buffer after a repeated run holds %d, want the 2 later pushes", n)
		}
	})
}

func TestLeasesRenewExpireAndMoveToAnotherFlusher(t *testing.T) {
	redistest.Each(t, func(t *testing.T, target redistest.Target) {
		ctx := context.Background()
		w := newWriter(t, target.Addr)
		pushN(t, w, "ticks:A", "a", 4)
		a := NewClaimer(w, ClaimOptions{Owner: "a", Lease: 300 * time.Millisecond})
		b := NewClaimer(w, ClaimOptions{Owner: "b", Lease: time.Minute})
		res, _ := a.Claim(ctx, []string{"ticks:A"})
		ref := *res[0].Claim
		// Not expired: b adopts nothing; a renews.
		if got, _, err := b.Adopt(ctx, []string{"ticks:A"}, 10); err != nil || len(got) != 0 {
			t.Fatalf("adopted a live lease: %v %v", got, err)
		}
		if lost, err := a.Renew(ctx, []ClaimRef{ref}); err != nil || len(lost) != 0 {
			t.Fatalf("renew: lost %v, %v", lost, err)
		}
		if target.Mini != nil {
			target.Mini.SetTime(time.Now().Add(time.Second)) // miniredis's TIME follows this clock
		} else {
			time.Sleep(400 * time.Millisecond)
		}
		got, _, err := b.Adopt(ctx, []string{"ticks:A", "ticks:NONE"}, 10)
		if err != nil || len(got) != 1 || got[0].Key != ref.Key || got[0].Len != 4 {
			t.Fatalf("adopt after expiry: %+v %v", got, err)
		}
		// a comes back: its renewal says the claim is no longer its own.
		if lost, err := a.Renew(ctx, []ClaimRef{ref}); err != nil || len(lost) != 1 {
			t.Fatalf("renew after the takeover: lost %v, %v", lost, err)
		}
		// b renews twice (a retried renewal is still a renewal) and then hands it back.
		for range 2 {
			if lost, err := b.Renew(ctx, got); err != nil || len(lost) != 0 {
				t.Fatalf("b renews: lost %v, %v", lost, err)
			}
		}
		if err := b.Abandon(ctx, got); err != nil {
			t.Fatal(err)
		}
		if again, _, _ := a.Adopt(ctx, []string{"ticks:A"}, 10); len(again) != 1 {
			t.Fatalf("abandoned claim not adoptable at once: %+v", again)
		}
	})
}

// Reads are bounded in bytes: entries past MaxEntryBytes never leave Redis whole, and a
// read stops once its reply would pass MaxReadBytes.
func TestReadsAreBoundedInBytes(t *testing.T) {
	redistest.Each(t, func(t *testing.T, target redistest.Target) {
		ctx := context.Background()
		w := newWriter(t, target.Addr)
		huge := strings.Repeat("x", 1<<20)
		w.RPush(ctx, "ticks:A", "small-0", huge, "small-2")
		for i := range 40 {
			w.RPush(ctx, "ticks:A", fmt.Sprintf("%03d%s", i, strings.Repeat("y", 297)))
		}
		cl := NewClaimer(w, ClaimOptions{Owner: "f", MaxEntryBytes: 64 << 10, MaxReadBytes: 1000})
		res, _ := cl.Claim(ctx, []string{"ticks:A"})
		ref := *res[0].Claim
		r, err := cl.Read(ctx, ref, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha1.Sum([]byte(huge))
		big, ok := r.Oversize[1]
		// 7 + 256 (the head of the huge one) + 7 + 300 + 300 bytes fit in 1000; a sixth would not.
		if len(r.Entries) != 5 || r.Entries[0] != "small-0" || !ok || big.Len != 1<<20 ||
			big.SHA1 != hex.EncodeToString(sum[:]) || len(r.Entries[1]) != oversizeKeep {
			t.Fatalf("read: %d entries, oversize %+v", len(r.Entries), r.Oversize)
		}
		// 300-byte entries, 1000 bytes a read: three at a time.
		r, err = cl.Read(ctx, ref, 3, 100)
		if err != nil || len(r.Entries) != 3 || !strings.HasPrefix(r.Entries[0], "000") {
			t.Fatalf("bounded read: %d entries, %v", len(r.Entries), err)
		}
		// Every entry is reached, in order, by reading on from where the last read ended.
		var all []string
		for pos := int64(0); pos < ref.Len; {
			r, err := cl.Read(ctx, ref, pos, 7)
			if err != nil || len(r.Entries) == 0 {
				t.Fatalf("read at %d: %v", pos, err)
			}
			all = append(all, r.Entries...)
			pos += int64(len(r.Entries))
		}
		if len(all) != 43 || !strings.HasPrefix(all[42], "039") {
			t.Fatalf("read %d entries in all", len(all))
		}
	})
}

func TestClaimKeysShareTheBufferSlot(t *testing.T) {
	cl := NewClaimer(nil, ClaimOptions{Owner: "o"})
	cases := []struct{ buffer, registry string }{
		{"ticks:EURUSD_otc", "quflx:{ticks:EURUSD_otc}:claims"},
		{"ticks:{EURUSD}", "quflx:{EURUSD}:ticks:{EURUSD}:claims"},
		{"{EURUSD}:ticks", "quflx:{EURUSD}:{EURUSD}:ticks:claims"},
	}
	for _, c := range cases {
		reg, err := cl.RegistryKey(c.buffer)
		if err != nil || reg != c.registry {
			t.Errorf("RegistryKey(%q) = %q, %v; want %q", c.buffer, reg, err, c.registry)
		}
		if HashTag(reg) != HashTag(c.buffer) {
			t.Errorf("%q hashes on %q, its buffer on %q", reg, HashTag(reg), HashTag(c.buffer))
		}
		if back, ok := cl.BufferOfRegistry(reg); !ok || back != c.buffer {
			t.Errorf("BufferOfRegistry(%q) = %q, %v", reg, back, ok)
		}
		ref, _ := cl.ref(c.buffer, "o-1", 0)
		if HashTag(ref.Key) != HashTag(c.buffer) {
			t.Errorf("claim key %q is not in the slot of %q", ref.Key, c.buffer)
		}
	}
	if _, err := cl.RegistryKey("a{}b"); err == nil {
		t.Error("a key with braces but no tag got a registry")
	}
	for _, bad := range []string{"quflx:{x}:other", "quflx:x:claims", "quflx:{A}:B:claims"} {
		if b, ok := cl.BufferOfRegistry(bad); ok {
			t.Errorf("BufferOfRegistry(%q) = %q", bad, b)
		}
	}
}

func TestRegistriesAndLegacyClaimsAreFound(t *testing.T) {
	redistest.Each(t, func(t *testing.T, target redistest.Target) {
		ctx := context.Background()
		w := newWriter(t, target.Addr)
		pushN(t, w, "ticks:A", "a", 2)
		pushN(t, w, LegacyClaimPrefix+"ticks:B", "b", 3) // left in flight by the first flusher
		cl := NewClaimer(w, ClaimOptions{Owner: "f"})
		if _, err := cl.Claim(ctx, []string{"ticks:A"}); err != nil {
			t.Fatal(err)
		}
		legacy, err := cl.AdoptLegacy(ctx, nil)
		if err != nil || len(legacy) != 1 || legacy[0].Buffer != "ticks:B" || legacy[0].Len != 3 {
			t.Fatalf("legacy: %+v %v", legacy, err)
		}
		if r, _ := cl.Read(ctx, legacy[0], 0, 10); !slices.Equal(r.Entries, []string{"b0", "b1", "b2"}) {
			t.Fatalf("legacy claim holds %v", r.Entries)
		}
		regs, err := cl.Registries(ctx)
		slices.Sort(regs)
		if err != nil || !slices.Equal(regs, []string{"ticks:A", "ticks:B"}) {
			t.Fatalf("registries %v %v", regs, err)
		}
	})
}

// The reply of a claim is lost after Redis made it (a reset, a failover): the caller gets
// an error and does not know the claim. Nothing is lost: its lease runs out and another
// claimer adopts it whole.
func TestAClaimWhoseReplyIsLostIsAdopted(t *testing.T) {
	srv := redistest.Real(t)
	proxy := redistest.NewProxy(t, srv.Addr)
	ctx := context.Background()
	w := newWriter(t, srv.Addr)
	pushN(t, w, "ticks:A", "a", 10)
	viaProxy, err := NewClient(Options{Addr: proxy.Addr, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer viaProxy.Close()
	lost := NewClaimer(viaProxy, ClaimOptions{Owner: "lost", Lease: 300 * time.Millisecond})
	// Warm the pipeline connection (and the script cache): the reply dropped must be the
	// claim's, not a handshake's.
	if _, err := lost.Claim(ctx, []string{"ticks:EMPTY"}); err != nil {
		t.Fatal(err)
	}
	proxy.DropReplies(1)
	if _, err := lost.Claim(ctx, []string{"ticks:A"}); err == nil {
		t.Fatal("the claim's reply was dropped, yet Claim reported success")
	}
	if n := w.LLen(ctx, "ticks:A").Val(); n != 0 {
		t.Fatalf("the claim was not applied (buffer holds %d): the test proves nothing", n)
	}
	time.Sleep(400 * time.Millisecond)
	other := NewClaimer(w, ClaimOptions{Owner: "other"})
	got, _, err := other.Adopt(ctx, []string{"ticks:A"}, 10)
	if err != nil || len(got) != 1 || got[0].Len != 10 || !strings.HasPrefix(got[0].ID, "lost-") {
		t.Fatalf("adopted %+v, %v", got, err)
	}
}

// A release whose reply is lost and that a client retries blindly runs twice. With the
// first flusher's "remove the first n" release that deleted ticks never stored; deleting
// an immutable claim by its unique id twice deletes nothing more.
func TestAReleaseRunTwiceRemovesNothingElse(t *testing.T) {
	srv := redistest.Real(t)
	proxy := redistest.NewProxy(t, srv.Addr)
	ctx := context.Background()
	w := newWriter(t, srv.Addr)
	retrying, err := NewClient(Options{Addr: proxy.Addr, MaxRetries: 3}) // go-redis retries blindly
	if err != nil {
		t.Fatal(err)
	}
	defer retrying.Close()
	cl := NewClaimer(retrying, ClaimOptions{Owner: "f"})
	pushN(t, w, "ticks:A", "a", 3)
	first, _ := cl.Claim(ctx, []string{"ticks:A"})
	pushN(t, w, "ticks:A", "b", 7)
	second, _ := cl.Claim(ctx, []string{"ticks:A"})
	if first[0].Claim == nil || second[0].Claim == nil {
		t.Fatalf("claims %+v %+v", first, second)
	}
	proxy.DropReplies(1)
	if _, err := cl.Release(ctx, []ClaimRef{*first[0].Claim}); err != nil {
		t.Fatalf("release (retried by the client): %v", err)
	}
	if proxy.Faults().DroppedReplies != 1 {
		t.Fatalf("faults %+v: the reply was not dropped", proxy.Faults())
	}
	r, err := cl.Read(ctx, *second[0].Claim, 0, 100)
	if err != nil || len(r.Entries) != 7 || r.Entries[0] != "b0" {
		t.Fatalf("the later claim after a release run twice: %v, %v", r.Entries, err)
	}
}

// A TTL someone put on a buffer does not carry over to its claim (a claim held through a
// store outage would expire, ticks and all), and a registry entry that is not ours to
// parse does not break the lease scripts.
func TestClaimsSurviveBufferTTLsAndOddRegistryValues(t *testing.T) {
	redistest.Each(t, func(t *testing.T, target redistest.Target) {
		ctx := context.Background()
		w := newWriter(t, target.Addr)
		pushN(t, w, "ticks:A", "a", 3)
		w.Expire(ctx, "ticks:A", time.Minute)
		cl := NewClaimer(w, ClaimOptions{Owner: "f"})
		res, _ := cl.Claim(ctx, []string{"ticks:A"})
		ref := *res[0].Claim
		if ttl := w.TTL(ctx, ref.Key).Val(); ttl != -1 {
			t.Fatalf("claim TTL %v, want none", ttl)
		}
		w.HSet(ctx, ref.Registry, "junk", "no colon here")
		if lost, err := cl.Renew(ctx, []ClaimRef{ref}); err != nil || len(lost) != 0 {
			t.Fatalf("renew beside an odd entry: lost %v, %v", lost, err)
		}
		if err := cl.Abandon(ctx, []ClaimRef{ref}); err != nil {
			t.Fatal(err)
		}
	})
}
