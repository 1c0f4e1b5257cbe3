package flusher

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/quflx/quflx-tui/redisdata"
	"github.com/quflx/quflx-tui/redisdata/redistest"
	"github.com/quflx/quflx-tui/store"
)

// Identical bad entries are separate occurrences of one dead letter, and each is counted
// once however the claims holding them are replayed: the table's occurrences, the
// flushers' bad counters and the entries pushed agree. 1 MB junk never leaves Redis whole.
func TestDeadLettersAreCountedExactly(t *testing.T) {
	srv := redistest.Real(t)
	r := newRig(t, srv.Addr)
	ctx := context.Background()
	junk := strings.Repeat("x", 1<<20)
	pushBad := func() {
		for range 5 {
			r.redis.LPush(ctx, "ticks:A_otc", "not json")
		}
		for range 2 {
			r.redis.LPush(ctx, "ticks:A_otc", junk)
		}
		r.redis.LPush(ctx, "ticks:A_otc", `{"price":-1,"timestamp":1752960407}`)
	}
	// A flusher that died after committing its claim and before releasing it: its
	// dead letters are in the store, the claim is still in Redis.
	pushBad()
	dead := redisdata.NewClaimer(r.redis, redisdata.ClaimOptions{Owner: "dead", Lease: 300 * time.Millisecond})
	res, _ := dead.Claim(ctx, []string{"ticks:A_otc"})
	ref := *res[0].Claim
	if _, err := r.store.Write(ctx, store.Batch{
		Dead: []store.DeadLetter{
			{Asset: "A_otc", Payload: "not json", Reason: "x", Count: 5},
			withCount(oversizeLetter("A_otc", junk[:256], redisdata.Oversize{Len: 1 << 20, SHA1: sha1Hex(junk)}, 64<<10, time.Now()), 2),
			{Asset: "A_otc", Payload: `{"price":-1,"timestamp":1752960407}`, Reason: "x"},
		},
		Claims: []store.ClaimSpan{{ID: ref.ID, From: 0, To: ref.Len}},
	}); err != nil {
		t.Fatal(err)
	}
	// Two more claims' worth, flushed by a live flusher that also adopts the dead one's.
	pushBad()
	f, stop := r.run(Options{Interval: 100 * time.Millisecond, AdoptEvery: 50 * time.Millisecond, DiscoverEvery: 100 * time.Millisecond})
	waitFor(t, 5*time.Second, "the first wave", func() bool { return f.Stats().Bad == 8 })
	pushBad()
	waitFor(t, 5*time.Second, "the second wave and the adoption", func() bool {
		s := f.Stats()
		return s.Bad == 16 && s.Claims == 0 && s.Adopted == 8
	})
	stop()
	occurrences, _ := r.store.CountDeadOccurrences(ctx, "")
	rows, _ := r.store.CountDeadLetters(ctx, "")
	if s := f.Stats(); occurrences != 24 || rows != 3 || s.Bad != 16 || s.Flushed != 0 {
		// 24 = 8 by the dead flusher + 16 by this one; 3 rows: "not json", the 1 MB junk
		// (known by its head and SHA-1), the negative price.
		t.Fatalf("occurrences %d, rows %d, flusher %+v", occurrences, rows, s)
	}
}

func withCount(d store.DeadLetter, n int64) store.DeadLetter {
	d.Count = n
	return d
}

func sha1Hex(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}
