package store_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/store"
	"github.com/quflx/quflx-tui/store/storetest"
)

// sampleTicks gives two assets 60 ticks each, 2.5 s apart: three minutes of candles apiece.
func sampleTicks() []model.Tick {
	var ticks []model.Tick
	for _, asset := range []string{"EURUSD_otc", "GBPUSD_otc"} {
		for i := range 60 {
			// Quoted to 5 places like the real feed (1.1 + 0.0012 alone is 1.1012000000000002).
			price := math.Round((1.1+0.0001*float64((i*7)%13))*1e5) / 1e5
			ticks = append(ticks, tick(asset, float64(i)*2.5+0.123, price))
		}
	}
	return ticks
}

func TestWriteReplayChangesNothing(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		s := openStore(t, be.fresh(t))
		ticks := sampleTicks()
		batch := store.Batch{Ticks: ticks, Dead: []store.DeadLetter{{Asset: "EURUSD_otc", Payload: "{", Reason: "truncated JSON"}}}

		first := write(t, s, batch)
		if want := (store.WriteResult{Inserted: 120, DeadLetters: 1, Candles: 6}); first != want {
			t.Fatalf("first Write = %+v, want %+v", first, want)
		}
		before := candles(t, s, "EURUSD_otc", model.TF1m, 100)
		diffCandles(t, "after first write", before, referenceCandles(ticks[:60], model.TF1m))

		// Ticks are idempotent by their key. A dead letter has no key but its payload, and two
		// identical bad entries are two occurrences: a replay of the same entries is refused
		// by its claim span instead (TestClaimSpansCommitEachEntryOnce).
		again := write(t, s, batch)
		if want := (store.WriteResult{Duplicates: 120, DeadLetters: 1}); again != want {
			t.Fatalf("replayed Write = %+v, want %+v", again, want)
		}
		diffCandles(t, "after replay", candles(t, s, "EURUSD_otc", model.TF1m, 100), before)
		if n := countTicks(t, s, ""); n != 120 {
			t.Errorf("CountTicks = %d, want 120", n)
		}
		if n := countTicks(t, s, "GBPUSD_otc"); n != 60 {
			t.Errorf("CountTicks(GBPUSD_otc) = %d, want 60", n)
		}
		var volume int64
		for _, c := range candles(t, s, "GBPUSD_otc", model.TF1h, 10) {
			volume += c.Volume
		}
		if volume != 60 {
			t.Errorf("GBPUSD_otc volume = %d after a replay, want 60", volume)
		}
	})
}

func TestDistinctTicksInOneSecondAreKept(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		s := openStore(t, be.fresh(t))
		res := write(t, s, store.Batch{Ticks: []model.Tick{
			tick("A", 5.1, 1.10),
			tick("A", 5.6, 1.20),
			tick("A", 5.6, 1.30), // same microsecond, another price
			tick("A", 5.9, 1.20), // same price, another microsecond
		}})
		if res.Inserted != 4 || res.Duplicates != 0 {
			t.Fatalf("Write = %+v, want 4 inserted", res)
		}
		want := []model.Candle{{Start: t0, Open: 1.10, High: 1.30, Low: 1.10, Close: 1.20, Volume: 4}}
		diffCandles(t, "1m", candles(t, s, "A", model.TF1m, 10), want)
	})
}

func TestExactResendsAreOneTick(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		s := openStore(t, be.fresh(t))
		a, b, c := tick("A", 1, 1.15838), tick("A", 2, 1.1584), tick("A", 3, 1.15839)
		// The same price up to float noise beyond decimal(20,10) is the same tick.
		noisy := a
		noisy.Price = math.Nextafter(a.Price, 2)

		res := write(t, s, store.Batch{Ticks: []model.Tick{a, a, b, noisy}})
		if res.Inserted != 2 || res.Duplicates != 2 {
			t.Fatalf("first Write = %+v, want 2 inserted, 2 duplicates", res)
		}
		res = write(t, s, store.Batch{Ticks: []model.Tick{b, c, a}})
		if res.Inserted != 1 || res.Duplicates != 2 || res.Candles != 1 {
			t.Fatalf("second Write = %+v, want 1 inserted, 2 duplicates, 1 candle", res)
		}
		if n := countTicks(t, s, "A"); n != 3 {
			t.Errorf("CountTicks = %d, want 3", n)
		}
		want := []model.Candle{{Start: t0, Open: 1.15838, High: 1.1584, Low: 1.15838, Close: 1.15839, Volume: 3}}
		diffCandles(t, "1m", candles(t, s, "A", model.TF1m, 10), want)
	})
}

func TestOutOfOrderBatchesSetOpenAndCloseByEventTime(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		s := openStore(t, be.fresh(t))
		write(t, s, store.Batch{Ticks: []model.Tick{tick("A", 20, 1.20), tick("A", 30, 1.30)}})
		// A later batch carries earlier and later ticks: new open, new close, new low.
		write(t, s, store.Batch{Ticks: []model.Tick{tick("A", 50, 1.50), tick("A", 25, 0.90), tick("A", 10, 1.10)}})
		want := []model.Candle{{Start: t0, Open: 1.10, High: 1.50, Low: 0.90, Close: 1.50, Volume: 5}}
		diffCandles(t, "after the second batch", candles(t, s, "A", model.TF1m, 10), want)

		// A tick from the middle of the minute moves only the high.
		write(t, s, store.Batch{Ticks: []model.Tick{tick("A", 40, 2.00)}})
		want = []model.Candle{{Start: t0, Open: 1.10, High: 2.00, Low: 0.90, Close: 1.50, Volume: 6}}
		diffCandles(t, "after the third batch", candles(t, s, "A", model.TF1m, 10), want)

		// Within one batch too, newest first.
		write(t, s, store.Batch{Ticks: []model.Tick{tick("A", 119, 3.3), tick("A", 90, 3.2), tick("A", 61, 3.1)}})
		want = append(want, model.Candle{Start: t0 + 60, Open: 3.1, High: 3.3, Low: 3.1, Close: 3.3, Volume: 3})
		diffCandles(t, "reversed batch", candles(t, s, "A", model.TF1m, 10), want)
	})
}

func TestDeadLettersCountEveryOccurrence(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		s := openStore(t, be.fresh(t))
		dead := []store.DeadLetter{
			{Asset: "A", Payload: "not json", Reason: "invalid JSON", At: time.Now()},
			{Asset: "A", Payload: "not json", Reason: "invalid JSON, seen again"},
			{Asset: "B", Payload: "not json", Reason: "invalid JSON"},
			{Asset: "", Payload: "\x00\xff\xfe binary", Reason: "no asset, not UTF-8"},
			{Asset: "A", Payload: strings.Repeat("x", 1<<20), Reason: "1 MB string"},
		}
		res := write(t, s, store.Batch{Dead: dead})
		if res.DeadLetters != 5 || res.Inserted != 0 {
			t.Fatalf("Write = %+v, want 5 dead-letter occurrences", res)
		}
		// The same payloads met again are more occurrences of the same rows.
		if res := write(t, s, store.Batch{Dead: dead[:2]}); res.DeadLetters != 2 {
			t.Fatalf("second Write = %+v, want 2 occurrences", res)
		}
		if n := countDead(t, s, ""); n != 4 {
			t.Errorf("CountDeadLetters = %d rows, want 4", n)
		}
		if n := countDead(t, s, "A"); n != 2 {
			t.Errorf("CountDeadLetters(A) = %d rows, want 2", n)
		}
		if n, err := s.CountDeadOccurrences(context.Background(), ""); err != nil || n != 7 {
			t.Errorf("CountDeadOccurrences = %d, %v; want 7", n, err)
		}
		if n, err := s.CountDeadOccurrences(context.Background(), "A"); err != nil || n != 5 {
			t.Errorf("CountDeadOccurrences(A) = %d, %v; want 5", n, err)
		}
	})
}

// A claim span commits only where the store says the claim stands: a replay of committed
// entries (a crash between commit and release, a second flusher) writes nothing, so the
// counters stay exact; the writer learns where to go on from ClaimProgress.
func TestClaimSpansCommitEachEntryOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		s := openStore(t, be.fresh(t))
		ctx := context.Background()
		ticks := sampleTicks()
		bad := []store.DeadLetter{{Asset: "A", Payload: "junk", Reason: "invalid JSON", Count: 2}}
		first := store.Batch{Ticks: ticks[:60], Dead: bad, Claims: []store.ClaimSpan{{ID: "f1-1", From: 0, To: 62}}}
		if res := write(t, s, first); res.Inserted != 60 || res.DeadLetters != 2 {
			t.Fatalf("first span: %+v", res)
		}
		// Replayed: refused whole, nothing counted twice.
		if _, err := s.Write(ctx, first); !errors.Is(err, store.ErrClaimConflict) {
			t.Fatalf("replayed span: err = %v, want ErrClaimConflict", err)
		}
		// A batch mixing a new claim with an overlapping one is refused whole too.
		mixed := store.Batch{Ticks: ticks[60:], Claims: []store.ClaimSpan{{ID: "f2-1", From: 0, To: 60}, {ID: "f1-1", From: 30, To: 62}}}
		if _, err := s.Write(ctx, mixed); !errors.Is(err, store.ErrClaimConflict) {
			t.Fatalf("overlapping span: err = %v, want ErrClaimConflict", err)
		}
		if n := countTicks(t, s, ""); n != 60 {
			t.Fatalf("refused writes left %d ticks, want 60", n)
		}
		progress, err := s.ClaimProgress(ctx, []string{"f1-1", "f2-1", "never"})
		if err != nil || len(progress) != 1 || progress["f1-1"] != 62 {
			t.Fatalf("ClaimProgress = %v, %v; want f1-1 at 62 only", progress, err)
		}
		// Continuing from where the store stands works.
		next := store.Batch{Ticks: ticks[60:], Claims: []store.ClaimSpan{{ID: "f1-1", From: 62, To: 122}}}
		if res := write(t, s, next); res.Inserted != 60 {
			t.Fatalf("continued span: %+v", res)
		}
		if n, _ := s.CountDeadOccurrences(ctx, ""); n != 2 {
			t.Fatalf("dead-letter occurrences %d, want 2", n)
		}
		// Progress is forgotten only when old.
		if n, err := s.PruneClaimProgress(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
			t.Fatalf("PruneClaimProgress(an hour ago) = %d, %v", n, err)
		}
		if n, err := s.PruneClaimProgress(ctx, time.Now().Add(time.Hour)); err != nil || n != 1 {
			t.Fatalf("PruneClaimProgress(in an hour) = %d, %v", n, err)
		}
	})
}

// Two writers racing on one claim: exactly one commits it; the other is refused and
// stores nothing (its ticks would only have been duplicates, but its dead letters would
// have been counted twice).
func TestConcurrentWritersOfOneClaim(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		dsn := be.fresh(t)
		a, b := openStore(t, dsn), openStore(t, dsn)
		ctx := context.Background()
		for round := range 20 {
			id := fmt.Sprintf("race-%d", round)
			batch := store.Batch{
				Ticks:  sampleTicks(),
				Dead:   []store.DeadLetter{{Asset: "A", Payload: "junk", Reason: "bad"}},
				Claims: []store.ClaimSpan{{ID: id, From: 0, To: 121}},
			}
			errs := make(chan error, 2)
			for _, st := range []store.Store{a, b} {
				go func() { _, err := st.Write(ctx, batch); errs <- err }()
			}
			var ok, refused int
			for range 2 {
				switch err := <-errs; {
				case err == nil:
					ok++
				case errors.Is(err, store.ErrClaimConflict):
					refused++
				default:
					t.Fatalf("round %d: %v", round, err)
				}
			}
			if ok != 1 || refused != 1 {
				t.Fatalf("round %d: %d commits, %d refusals; want one of each", round, ok, refused)
			}
		}
		if n, _ := a.CountDeadOccurrences(ctx, ""); n != 20 {
			t.Fatalf("dead-letter occurrences %d after 20 claims of one bad entry", n)
		}
	})
}

// failOnReason makes the database itself refuse a dead letter whose reason is 'boom'. The
// dead letters are written last, after the ticks and the candles.
var failOnReason = map[string]string{
	"sqlite": `CREATE TRIGGER boom BEFORE INSERT ON dead_letters WHEN NEW.reason = 'boom'
		BEGIN SELECT RAISE(ABORT, 'boom refused'); END`,
	"postgres": `CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.reason = 'boom' THEN RAISE EXCEPTION 'boom refused'; END IF; RETURN NEW; END $$;
		CREATE TRIGGER boom BEFORE INSERT ON dead_letters FOR EACH ROW EXECUTE FUNCTION boom()`,
}

func TestFailedWriteCommitsNothing(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		dsn := be.fresh(t)
		s := openStore(t, dsn)
		be.exec(t, dsn, failOnReason[be.name])
		ticks := sampleTicks()

		_, err := s.Write(context.Background(), store.Batch{Ticks: ticks, Dead: []store.DeadLetter{{Asset: "A", Payload: "x", Reason: "boom"}}})
		if err == nil || !strings.Contains(err.Error(), "boom refused") || !strings.HasPrefix(err.Error(), "store: ") {
			t.Fatalf("Write with a refused row: err = %v, want the database's refusal", err)
		}
		if n := countTicks(t, s, ""); n != 0 {
			t.Fatalf("failed Write left %d ticks", n)
		}
		if got := candles(t, s, "EURUSD_otc", model.TF1m, 10); len(got) != 0 {
			t.Fatalf("failed Write left candles %+v", got)
		}

		cancelled, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := s.Write(cancelled, store.Batch{Ticks: ticks}); !errors.Is(err, context.Canceled) {
			t.Fatalf("Write with a cancelled context: err = %v", err)
		}

		// The retry stores everything: the failures kept nothing half-done.
		res := write(t, s, store.Batch{Ticks: ticks, Dead: []store.DeadLetter{{Asset: "A", Payload: "x", Reason: "fine"}}})
		if want := (store.WriteResult{Inserted: 120, DeadLetters: 1, Candles: 6}); res != want {
			t.Fatalf("retry = %+v, want %+v", res, want)
		}
		diffCandles(t, "after retry", candles(t, s, "EURUSD_otc", model.TF1m, 10), referenceCandles(ticks[:60], model.TF1m))
	})
}

func TestPostgresWriteCancelledMidway(t *testing.T) {
	dsn := storetest.PostgresURL(t)
	s := openStore(t, dsn)
	// Another session locks candles: the Write inserts its ticks, then blocks on the
	// candle upsert until its context ends.
	conn := postgresConn(t, dsn)
	defer conn.Close(context.Background())
	ctx := context.Background()
	lock, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.Exec(ctx, `LOCK TABLE candles IN SHARE ROW EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	ticks := sampleTicks()
	_, err = s.Write(short, store.Batch{Ticks: ticks})
	if err == nil || !strings.Contains(err.Error(), "store: upsert candles") {
		t.Fatalf("Write blocked on candles: err = %v, want a failed candle upsert", err)
	}
	if err := lock.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if n := countTicks(t, s, ""); n != 0 {
		t.Fatalf("cancelled Write left %d ticks", n)
	}
	if res := write(t, s, store.Batch{Ticks: ticks}); res.Inserted != len(ticks) {
		t.Fatalf("retry = %+v, want %d inserted", res, len(ticks))
	}
}

func TestInvalidTickFailsTheBatch(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		s := openStore(t, be.fresh(t))
		ticks := append(sampleTicks(), model.Tick{Asset: "A", Price: math.NaN(), UnixMicro: t0 * 1e6})
		_, err := s.Write(context.Background(), store.Batch{Ticks: ticks})
		if !errors.Is(err, store.ErrInvalidTick) || !strings.Contains(err.Error(), "tick 120") {
			t.Fatalf("Write with a NaN price: err = %v, want ErrInvalidTick naming tick 120", err)
		}
		if n := countTicks(t, s, ""); n != 0 {
			t.Fatalf("refused batch left %d ticks", n)
		}
		long := strings.Repeat("X", 64)
		if res := write(t, s, store.Batch{Ticks: []model.Tick{tick(long, 1, 1.5)}}); res.Inserted != 1 {
			t.Fatalf("64-byte asset: %+v", res)
		}
	})
}

func TestCandlesMatchTheRecording(t *testing.T) {
	ticks := readRecording(t)
	eachBackend(t, func(t *testing.T, be backend) {
		s := openStore(t, be.fresh(t))
		// Batches arrive shuffled, and one is delivered twice, as after a crash.
		const size = 1000
		var batches [][]model.Tick
		for i := 0; i < len(ticks); i += size {
			batches = append(batches, ticks[i:min(i+size, len(ticks))])
		}
		rng := rand.New(rand.NewPCG(1, 2))
		rng.Shuffle(len(batches), func(i, j int) { batches[i], batches[j] = batches[j], batches[i] })
		batches = append(batches, batches[3])
		inserted, duplicates := 0, 0
		for _, b := range batches {
			res := write(t, s, store.Batch{Ticks: b})
			inserted += res.Inserted
			duplicates += res.Duplicates
		}
		want1m := referenceCandles(ticks, model.TF1m)
		unique := 0
		for _, c := range want1m {
			unique += int(c.Volume)
		}
		if inserted != unique || duplicates != len(ticks)+size-unique {
			t.Errorf("inserted %d, duplicates %d; want %d and %d", inserted, duplicates, unique, len(ticks)+size-unique)
		}
		if n := countTicks(t, s, "EURUSD_otc"); n != int64(unique) {
			t.Errorf("CountTicks = %d, want %d", n, unique)
		}
		if len(want1m) < 60 {
			t.Fatalf("reference has only %d 1m candles", len(want1m))
		}
		for _, tf := range []model.Timeframe{model.TF1m, model.TF5m, model.TF1h} {
			want := referenceCandles(ticks, tf)
			diffCandles(t, "all "+tf.String(), candles(t, s, "EURUSD_otc", tf, 10000), want)
			diffCandles(t, "newest 3 "+tf.String(), candles(t, s, "EURUSD_otc", tf, 3), want[max(0, len(want)-3):])
		}
		want15m := referenceCandles(ticks, model.TF15m)
		diffCandles(t, "newest 2 15m", candles(t, s, "EURUSD_otc", model.TF15m, 2), want15m[len(want15m)-2:])
		if got := candles(t, s, "GBPUSD_otc", model.TF1m, 10); len(got) != 0 {
			t.Errorf("candles of an unknown asset: %+v", got)
		}
	})
}

// audcadCandles reads the recorded AUDCAD 1-minute candles.
func audcadCandles(t *testing.T) []model.Candle {
	t.Helper()
	f, err := openTestdata("AUDCAD_otc_1m_candles.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, _, err := model.ReadCSV(f, model.CSVOptions{Asset: "AUDCAD_otc"})
	if err != nil || len(rows) < 100 {
		t.Fatalf("read candles: %d rows, %v", len(rows), err)
	}
	out := make([]model.Candle, len(rows))
	for i, r := range rows {
		out[i] = model.Candle{Start: r.UnixMicro / 1e6, Open: r.Open, High: r.High, Low: r.Low, Close: r.Price, Volume: int64(i%7 + 1)}
	}
	return out
}

func TestWriteCandlesRoundTrip(t *testing.T) {
	history := audcadCandles(t)
	eachBackend(t, func(t *testing.T, be backend) {
		s := openStore(t, be.fresh(t))
		ctx := context.Background()
		if err := s.WriteCandles(ctx, "AUDCAD_otc", history); err != nil {
			t.Fatal(err)
		}
		diffCandles(t, "1m", candles(t, s, "AUDCAD_otc", model.TF1m, 1000), history)
		diffCandles(t, "5m", candles(t, s, "AUDCAD_otc", model.TF5m, 1000), referenceFromCandles(history, model.TF5m))

		// Writing again replaces rows: volume is not added up.
		last := history[len(history)-1]
		changed := last
		changed.High, changed.Volume = last.High+0.01, 42
		if err := s.WriteCandles(ctx, "AUDCAD_otc", []model.Candle{changed}); err != nil {
			t.Fatal(err)
		}
		got := candles(t, s, "AUDCAD_otc", model.TF1m, 1)
		diffCandles(t, "replaced", got, []model.Candle{changed})

		// A live tick in a history minute keeps its open and moves its close.
		write(t, s, store.Batch{Ticks: []model.Tick{{Asset: "AUDCAD_otc", Price: 0.5, UnixMicro: (last.Start + 30) * 1e6}}})
		want := changed
		want.Close, want.Low, want.Volume = 0.5, 0.5, 43
		diffCandles(t, "after a live tick", candles(t, s, "AUDCAD_otc", model.TF1m, 1), []model.Candle{want})

		bad := []model.Candle{{Start: t0 + 30, Open: 1, High: 1, Low: 1, Close: 1}}
		if err := s.WriteCandles(ctx, "AUDCAD_otc", bad); !errors.Is(err, store.ErrInvalidCandle) {
			t.Errorf("candle off the minute: err = %v", err)
		}
		bad = []model.Candle{{Start: t0, Open: 1, High: 0.9, Low: 0.8, Close: 1}}
		if err := s.WriteCandles(ctx, "AUDCAD_otc", bad); !errors.Is(err, store.ErrInvalidCandle) {
			t.Errorf("open above high: err = %v", err)
		}
	})
}

func TestCandlesSkipEmptyBuckets(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		s := openStore(t, be.fresh(t))
		var history []model.Candle
		for i, start := range []int64{t0, t0 + 60, t0 + 5*3600, t0 + 5*3600 + 60, t0 + 24*3600} {
			p := 1 + float64(i)/10
			history = append(history, model.Candle{Start: start, Open: p, High: p, Low: p, Close: p, Volume: 1})
		}
		if err := s.WriteCandles(context.Background(), "A", history); err != nil {
			t.Fatal(err)
		}
		diffCandles(t, "newest 3 of 1m", candles(t, s, "A", model.TF1m, 3), history[2:])
		diffCandles(t, "all 1m", candles(t, s, "A", model.TF1m, 10), history)
		h := referenceFromCandles(history, model.TF1h)
		if len(h) != 3 {
			t.Fatalf("reference: %+v", h)
		}
		diffCandles(t, "newest 2 of 1h", candles(t, s, "A", model.TF1h, 2), h[1:])
		diffCandles(t, "4h", candles(t, s, "A", model.TF4h, 5), referenceFromCandles(history, model.TF4h))
		if got, err := s.Candles(context.Background(), "A", 90, 5); err == nil {
			t.Errorf("a 90 s timeframe: got %+v, want an error", got)
		}
		if got := candles(t, s, "A", model.TF1m, 0); len(got) != 0 {
			t.Errorf("limit 0: %+v", got)
		}
	})
}

// Paging back from the oldest candle a chart holds: CandlesBefore returns the newest
// candles that start before it, across gaps, and pages put together are Candles of all.
func TestCandlesBeforePagesBackThroughHistory(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		dsn := be.fresh(t)
		s := openStore(t, dsn)
		ctx := context.Background()
		var history []model.Candle
		for i := range int64(300) {
			start := t0 + i*60
			if i >= 100 {
				start += 3 * 3600 // a gap of three hours in the middle
			}
			// Quoted to 5 places like the real feed, as the store keeps them.
			p := float64(100+i%17) / 100
			history = append(history, model.Candle{Start: start, Open: p, High: float64(101+i%17) / 100, Low: float64(99+i%17) / 100, Close: p, Volume: i%5 + 1})
		}
		if err := s.WriteCandles(ctx, "A", history); err != nil {
			t.Fatal(err)
		}
		for _, tf := range []model.Timeframe{model.TF1m, model.TF5m, model.TF1h} {
			all := candles(t, s, "A", tf, 1000)
			diffCandles(t, tf.String()+" all", all, referenceFromCandles(history, tf))
			// Page back 37 candles at a time from the newest, as a panning chart does.
			var paged []model.Candle
			before := all[len(all)-1].Start + int64(tf)
			for {
				page, err := s.CandlesBefore(ctx, "A", tf, before, 37)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) == 0 {
					break
				}
				if len(page) > 37 || page[len(page)-1].Start >= before {
					t.Fatalf("%s: page of %d ending at %d, before %d", tf, len(page), page[len(page)-1].Start, before)
				}
				paged = append(slices.Clone(page), paged...)
				before = page[0].Start
			}
			diffCandles(t, tf.String()+" pages", paged, all)
			// A before inside a bucket leaves that whole bucket out.
			mid := all[len(all)-1].Start + 30
			page, err := s.CandlesBefore(ctx, "A", tf, mid, 2)
			if err != nil {
				t.Fatal(err)
			}
			diffCandles(t, tf.String()+" before mid-bucket", page, all[len(all)-3:len(all)-1])
		}
		ro, err := store.OpenReadOnly(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer ro.Close()
		page, err := ro.CandlesBefore(ctx, "A", model.TF1m, history[100].Start, 3)
		if err != nil {
			t.Fatal(err)
		}
		diffCandles(t, "read-only, across the gap", page, history[97:100])
	})
}

func TestOpenTwiceAndConcurrently(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backend) {
		dsn := be.fresh(t)
		stores := make([]store.Store, 3)
		errs := make([]error, 3)
		var wg sync.WaitGroup
		for i := range stores {
			wg.Go(func() { stores[i], errs[i] = store.Open(context.Background(), dsn) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("concurrent Open %d: %v", i, err)
			}
			t.Cleanup(func() { stores[i].Close() })
		}
		if v := be.queryInt(t, dsn, `SELECT COUNT(*) FROM quflx_schema_version`); v != 1 {
			t.Errorf("schema version rows = %d, want 1", v)
		}
		// Concurrent writers of overlapping batches: every tick stored once.
		ticks := sampleTicks()
		for _, s := range stores {
			wg.Go(func() {
				if _, err := s.Write(context.Background(), store.Batch{Ticks: ticks}); err != nil {
					t.Errorf("concurrent Write: %v", err)
				}
			})
		}
		wg.Wait()
		if n := countTicks(t, stores[2], ""); n != 120 {
			t.Errorf("CountTicks = %d, want 120", n)
		}
		diffCandles(t, "after concurrent writers", candles(t, stores[1], "EURUSD_otc", model.TF1m, 10), referenceCandles(ticks[:60], model.TF1m))
		for _, s := range stores {
			if err := s.Ping(context.Background()); err != nil {
				t.Error(err)
			}
		}
	})
}

func TestKindAndDescribe(t *testing.T) {
	path := storetest.SQLitePath(t)
	s := openStore(t, "sqlite:"+path)
	abs, _ := filepath.Abs(path)
	if s.Kind() != "sqlite" || s.Describe() != "sqlite:"+abs {
		t.Errorf("sqlite: Kind %q, Describe %q", s.Kind(), s.Describe())
	}
	mem := openStore(t, "sqlite::memory:")
	if res := write(t, mem, store.Batch{Ticks: sampleTicks()}); res.Inserted != 120 || countTicks(t, mem, "") != 120 {
		t.Errorf("in-memory store: %+v", res)
	}

	// Describe must hide a password: make sure the URL has one (the server may not check
	// it, as under CI's trust authentication).
	u, err := url.Parse(storetest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, has := u.User.Password(); !has {
		u.User = url.UserPassword(u.User.Username(), "s3cret")
	}
	dsn := u.String()
	pw, _ := u.User.Password()
	pg := openStore(t, dsn)
	d := pg.Describe()
	if pg.Kind() != "postgres" || !strings.HasPrefix(d, "postgres://"+u.User.Username()+"@"+u.Host) || strings.Contains(d, pw) {
		t.Errorf("postgres: Kind %q, Describe %q (from %s)", pg.Kind(), d, dsn)
	}
}

func TestOpenRefusesUnknownDSN(t *testing.T) {
	for _, dsn := range []string{"mysql://root:hunter2@db/quflx", "quflx.db", "sqlite:", "postgres://u:hunter2@127.0.0.1:1/x?connect_timeout=1"} {
		_, err := store.Open(context.Background(), dsn)
		if err == nil {
			t.Errorf("Open(%q) succeeded", dsn)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open(%q) error leaks the password: %v", dsn, err)
		}
	}
	_, err := store.Open(context.Background(), "mysql://root:hunter2@db/quflx")
	for _, form := range []string{"sqlite:PATH", "postgres://", "postgresql://"} {
		if !strings.Contains(err.Error(), form) {
			t.Errorf("error %q does not name %s", err, form)
		}
	}
}
