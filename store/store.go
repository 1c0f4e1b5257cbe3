// Package store is the SQL store of quflx-tui's batch flusher: ticks moved out of the Redis
// buffers land here loss-free and idempotently, with 1-minute candles upserted from them.
// Two backends share one schema (QuFLX's tables, extended): embedded SQLite
// (modernc.org/sqlite, pure Go) and PostgreSQL/Supabase (pgx v5).
//
// # Schema
//
// historical_ticks keeps every QuFLX column (pair, price decimal(20,10), timestamp in Unix
// seconds, created_at) so QuFLX readers keep working, and adds timestamp_us, the tick's Unix
// microseconds. Its idempotency key is UNIQUE (pair, timestamp_us, price), replacing QuFLX's
// UNIQUE (pair, timestamp): exact resends (same asset, same microsecond, same price) are one
// tick, while two ticks in the same second with different microsecond timestamps or prices
// are both kept. The old key silently dropped every tick after the first in a second, and a
// real feed sends two or more a second. pair is widened to varchar(64).
//
// candles keeps QuFLX's columns and adds open_us and close_us, the event times of the ticks
// that set open and close, so that batches arriving out of order still give each candle the
// open of its earliest tick and the close of its latest. The flusher writes timeframe '1m'.
//
// dead_letters holds buffer entries the flusher could not decode, one row per (pair, SHA-256
// of the raw payload) with the number of times such an entry was met and when it was first
// and last seen: the sum of occurrences equals the flusher's count of bad entries.
//
// quflx_claim_progress records, per flusher claim, how many of its entries are committed.
// A write that carries claim spans advances them in the same transaction as the ticks, and
// only from where the store says the claim stands: a replayed or concurrent write of the
// same entries is refused (ErrClaimConflict), so every entry is committed exactly once and
// counters (ticks, duplicates, dead-letter occurrences) are exact under any replay.
//
// Prices are keyed as decimal(20,10) stores them: the float64's shortest decimal form,
// rounded half away from zero to 10 decimal places when longer, so the same tick always
// produces the same key in both backends.
package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/quflx/quflx-tui/model"
)

// Store is a SQL tick and candle store. Its methods are safe for concurrent use.
type Store interface {
	// Kind returns "sqlite" or "postgres".
	Kind() string
	// Describe names the database for display, never with a password.
	Describe() string
	// Write stores a batch in one transaction: ticks inserted idempotently, 1-minute
	// candles upserted from the ticks that were actually new (so a replayed batch changes
	// nothing and volume is never double counted), dead letters inserted idempotently. On
	// any error nothing is committed.
	Write(ctx context.Context, b Batch) (WriteResult, error)
	// WriteCandles upserts 1-minute history candles for asset (to backfill a demo store):
	// on conflict the row is replaced by the given candle.
	WriteCandles(ctx context.Context, asset string, candles []model.Candle) error
	// Candles returns the newest limit candles of asset at timeframe tf, oldest first,
	// aggregated from the stored 1-minute candles ('1m' and '1M' rows alike). Buckets with
	// no 1-minute candle are absent.
	Candles(ctx context.Context, asset string, tf model.Timeframe, limit int) ([]model.Candle, error)
	// CandlesBefore is Candles of the buckets that start before before (Unix seconds):
	// the page of older history a chart panned back to its oldest candle asks for.
	CandlesBefore(ctx context.Context, asset string, tf model.Timeframe, before int64, limit int) ([]model.Candle, error)
	// CountTicks counts stored ticks of asset ("" = all assets).
	CountTicks(ctx context.Context, asset string) (int64, error)
	// CountDeadLetters counts dead-letter rows of asset ("" = all assets): distinct bad
	// payloads.
	CountDeadLetters(ctx context.Context, asset string) (int64, error)
	// CountDeadOccurrences counts every bad entry recorded for asset ("" = all assets).
	CountDeadOccurrences(ctx context.Context, asset string) (int64, error)
	// ClaimProgress returns how many entries of each claim are committed (absent: none).
	ClaimProgress(ctx context.Context, ids []string) (map[string]int64, error)
	// PruneClaimProgress forgets the progress of claims not advanced since before.
	PruneClaimProgress(ctx context.Context, before time.Time) (int64, error)
	Ping(ctx context.Context) error
	Close() error
}

// Batch is what one flush writes.
type Batch struct {
	Ticks []model.Tick
	Dead  []DeadLetter
	// Claims are the flusher claim spans the batch holds. The write commits only if each
	// claim's committed count in the store is exactly its span's From, and advances it to
	// To; otherwise nothing is written and the error wraps ErrClaimConflict.
	Claims []ClaimSpan
	// BeforeCommit, when set, runs inside the transaction just before the commit; an
	// error rolls everything back. The flusher's crash tests stop the process there.
	BeforeCommit func() error
}

// ClaimSpan is entries [From, To) of one flusher claim.
type ClaimSpan struct {
	ID       string
	From, To int64
}

// ErrClaimBusy marks a write refused because another session holds a claim's progress
// row (a writer of that claim is mid-transaction, or froze there): set that claim aside
// for a while and write the others.
var ErrClaimBusy = errors.New("claim being written by another session")

// ClaimBusyError names the claim whose row was locked.
type ClaimBusyError struct{ ID string }

func (e *ClaimBusyError) Error() string        { return fmt.Sprintf("%v: %s", ErrClaimBusy, e.ID) }
func (e *ClaimBusyError) Is(target error) bool { return target == ErrClaimBusy }

// ClaimLockWait is how long a write waits for a claim's progress row held by another
// session before it reports the claim busy.
const ClaimLockWait = 2 * time.Second

// ErrClaimConflict marks a write refused because a claim's entries were already committed
// (a replay, or another flusher that got there first).
var ErrClaimConflict = errors.New("claim already advanced")

// DeadLetter is a buffer entry the flusher could not decode, set aside with the reason.
type DeadLetter struct {
	Asset   string
	Payload string
	Reason  string
	At      time.Time // zero means now
	// Count is how many such entries this stands for (0 means 1).
	Count int64
	// SHA256 identifies the whole payload when Payload holds only its first bytes (hex;
	// empty means the SHA-256 of Payload).
	SHA256 string
}

// WriteResult says what a Write changed.
type WriteResult struct {
	Inserted    int // new tick rows
	Duplicates  int // ticks already stored, or repeated within the batch (skipped by the unique key)
	DeadLetters int // dead-letter occurrences recorded
	Candles     int // 1-minute candle rows inserted or updated
}

// Open opens a store from a DSN and creates or migrates its schema before returning:
//   - "sqlite:PATH" (e.g. "sqlite:quflx.db"; "sqlite::memory:" for a throwaway store),
//   - "postgres://..." or "postgresql://..." (Supabase too; sslmode and the other pgx
//     connection parameters in the URL are honoured). Behind Supabase's transaction pooler
//     (port 6543), which cannot keep prepared statements, add default_query_exec_mode=exec.
func Open(ctx context.Context, dsn string) (Store, error) {
	lower := strings.ToLower(dsn)
	switch {
	case strings.HasPrefix(lower, "sqlite:"):
		return openSQLite(ctx, dsn[len("sqlite:"):])
	case strings.HasPrefix(lower, "postgres://"), strings.HasPrefix(lower, "postgresql://"):
		return openPostgres(ctx, dsn)
	}
	return nil, fmt.Errorf("store: unsupported DSN %q (want sqlite:PATH, sqlite::memory:, "+
		"postgres://USER:PASSWORD@HOST/DB or postgresql://)", redactDSN(dsn))
}

// ErrInvalidTick marks a tick the store refuses (the flusher should dead-letter it).
var ErrInvalidTick = errors.New("invalid tick")

// ErrInvalidCandle marks a candle WriteCandles refuses.
var ErrInvalidCandle = errors.New("invalid candle")

// minuteTimeframe is the timeframe column value of the rows this package writes.
const minuteTimeframe = "1m"

// maxAssetLen is the width of the pair columns, in bytes.
const maxAssetLen = 64

// Redact returns a DSN fit to show: its password replaced with ***.
func Redact(dsn string) string { return redactDSN(dsn) }

// redactDSN replaces a DSN's password (in the user info, or a password or sslpassword
// query parameter) with ***, so a DSN can be shown or logged.
func redactDSN(dsn string) string {
	if !strings.Contains(dsn, "://") {
		// Not a URL (sqlite:PATH holds no secret; anything else is shown by scheme only).
		if strings.HasPrefix(strings.ToLower(dsn), "sqlite:") {
			return dsn
		}
		if i := strings.Index(dsn, ":"); i > 0 && !strings.ContainsAny(dsn[:i], "@/= ") {
			return dsn[:i] + ":***"
		}
		return "***"
	}
	return model.RedactURL(dsn)
}

// scrubDSN removes the DSN's secrets from a text that may quote it.
func scrubDSN(text, dsn string) string { return model.Scrub(text, model.URLSecrets(dsn)...) }

// scrubbedError is an error whose text had a DSN's secrets removed; it still unwraps.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// scrubErr returns err with the secrets of dsn taken out of its text.
func scrubErr(err error, dsn string) error {
	if err == nil {
		return nil
	}
	return &scrubbedError{msg: scrubDSN(err.Error(), dsn), err: err}
}

// ScrubDSN returns text without any secret of dsn in it.
func ScrubDSN(text, dsn string) string { return scrubDSN(text, dsn) }

// batchTx is one backend's open transaction, as Write needs it.
type batchTx interface {
	advanceClaims(ctx context.Context, spans []ClaimSpan) error
	insertTicks(ctx context.Context, rows []tickRow) (isNew []bool, inserted int, err error)
	upsertDeltas(ctx context.Context, deltas []candleDelta) error
	insertDead(ctx context.Context, dead []deadRow) error
	commit(ctx context.Context) error
	rollback(ctx context.Context)
}

// writeBatch is Write for every backend: validate, then in one transaction insert the
// ticks, upsert the candles of those that were new, insert the dead letters, commit.
func writeBatch(ctx context.Context, b Batch, begin func(context.Context) (batchTx, error)) (WriteResult, error) {
	rows, err := prepareTicks(b.Ticks)
	if err != nil {
		return WriteResult{}, err
	}
	dead, occurrences := prepareDead(b.Dead, time.Now())
	spans, err := prepareSpans(b.Claims)
	if err != nil {
		return WriteResult{}, err
	}
	if len(rows) == 0 && len(dead) == 0 && len(spans) == 0 {
		return WriteResult{}, nil
	}
	tx, err := begin(ctx)
	if err != nil {
		return WriteResult{}, fmt.Errorf("store: begin: %w", err)
	}
	defer tx.rollback(ctx) // a no-op after commit
	// Claims first: a replayed batch is refused before any work, and concurrent writers
	// of one claim queue on its row instead of both inserting.
	if err := tx.advanceClaims(ctx, spans); err != nil {
		return WriteResult{}, fmt.Errorf("store: advance claims: %w", err)
	}
	isNew, inserted, err := tx.insertTicks(ctx, rows)
	if err != nil {
		return WriteResult{}, fmt.Errorf("store: insert ticks: %w", err)
	}
	deltas := minuteDeltas(rows, isNew)
	if err := tx.upsertDeltas(ctx, deltas); err != nil {
		return WriteResult{}, fmt.Errorf("store: upsert candles: %w", err)
	}
	if err := tx.insertDead(ctx, dead); err != nil {
		return WriteResult{}, fmt.Errorf("store: insert dead letters: %w", err)
	}
	if b.BeforeCommit != nil {
		if err := b.BeforeCommit(); err != nil {
			return WriteResult{}, fmt.Errorf("store: before commit: %w", err)
		}
	}
	if err := tx.commit(ctx); err != nil {
		return WriteResult{}, fmt.Errorf("store: commit: %w", err)
	}
	return WriteResult{
		Inserted:    inserted,
		Duplicates:  len(b.Ticks) - inserted,
		DeadLetters: int(occurrences),
		Candles:     len(deltas),
	}, nil
}

// prepareSpans checks claim spans and sorts them by claim, so that concurrent writers
// take claim rows in one order and cannot deadlock.
func prepareSpans(spans []ClaimSpan) ([]ClaimSpan, error) {
	out := slices.Clone(spans)
	slices.SortFunc(out, func(a, b ClaimSpan) int { return strings.Compare(a.ID, b.ID) })
	for i, s := range out {
		if s.ID == "" || s.From < 0 || s.To <= s.From {
			return nil, fmt.Errorf("store: claim span %+v: want an id and 0 <= from < to", s)
		}
		if i > 0 && out[i-1].ID == s.ID {
			return nil, fmt.Errorf("store: claim %s appears twice in one batch", s.ID)
		}
	}
	return out, nil
}

// claimConflict is the error of a span the store's progress does not continue.
func claimConflict(s ClaimSpan) error {
	return fmt.Errorf("%w: claim %s does not stand at %d", ErrClaimConflict, s.ID, s.From)
}
