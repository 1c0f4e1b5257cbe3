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
// dead_letters holds buffer entries the flusher could not decode, once per (pair, SHA-256 of
// the raw payload).
//
// Prices are keyed as decimal(20,10) stores them: the float64's shortest decimal form,
// rounded half away from zero to 10 decimal places when longer, so the same tick always
// produces the same key in both backends.
package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
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
	// CountTicks counts stored ticks of asset ("" = all assets).
	CountTicks(ctx context.Context, asset string) (int64, error)
	// CountDeadLetters counts dead letters of asset ("" = all assets).
	CountDeadLetters(ctx context.Context, asset string) (int64, error)
	Ping(ctx context.Context) error
	Close() error
}

// Batch is what one flush writes.
type Batch struct {
	Ticks []model.Tick
	Dead  []DeadLetter
	// BeforeCommit, when set, runs inside the transaction just before the commit; an
	// error rolls everything back. The flusher's crash tests stop the process there.
	BeforeCommit func() error
}

// DeadLetter is a buffer entry the flusher could not decode, set aside with the reason.
type DeadLetter struct {
	Asset   string
	Payload string
	Reason  string
	At      time.Time // zero means now
}

// WriteResult says what a Write changed.
type WriteResult struct {
	Inserted    int // new tick rows
	Duplicates  int // ticks already stored, or repeated within the batch (skipped by the unique key)
	DeadLetters int // new dead-letter rows
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

// redactDSN replaces a URL's password (in the user info or a password query parameter)
// with ***, so a DSN can be shown or logged.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		// Not a URL we can take apart: show the scheme at most.
		if i := strings.Index(dsn, ":"); i > 0 && !strings.ContainsAny(dsn[:i], "@/") {
			return dsn[:i] + ":***"
		}
		return "***"
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxredactedxxx")
		}
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxredactedxxx")
		u.RawQuery = q.Encode()
	}
	return strings.ReplaceAll(u.String(), "xxxredactedxxx", "***")
}

// batchTx is one backend's open transaction, as Write needs it.
type batchTx interface {
	insertTicks(ctx context.Context, rows []tickRow) (isNew []bool, inserted int, err error)
	upsertDeltas(ctx context.Context, deltas []candleDelta) error
	insertDead(ctx context.Context, dead []deadRow) (int, error)
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
	dead := prepareDead(b.Dead, time.Now())
	if len(rows) == 0 && len(dead) == 0 {
		return WriteResult{}, nil
	}
	tx, err := begin(ctx)
	if err != nil {
		return WriteResult{}, fmt.Errorf("store: begin: %w", err)
	}
	defer tx.rollback(ctx) // a no-op after commit
	isNew, inserted, err := tx.insertTicks(ctx, rows)
	if err != nil {
		return WriteResult{}, fmt.Errorf("store: insert ticks: %w", err)
	}
	deltas := minuteDeltas(rows, isNew)
	if err := tx.upsertDeltas(ctx, deltas); err != nil {
		return WriteResult{}, fmt.Errorf("store: upsert candles: %w", err)
	}
	deadInserted, err := tx.insertDead(ctx, dead)
	if err != nil {
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
		DeadLetters: deadInserted,
		Candles:     len(deltas),
	}, nil
}
