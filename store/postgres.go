package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/quflx/quflx-tui/model"
)

type postgresStore struct {
	pool         *pgxpool.Pool
	describe     string
	noEventTimes bool // see sqliteStore
	version      int
}

func openPostgres(ctx context.Context, dsn string) (Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("store: postgres DSN %s: %w", redactDSN(dsn), scrubErr(err, dsn))
	}
	describe := describePostgres(cfg.ConnConfig)
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "quflx-tui"
	}
	// A quflx-tui process that freezes mid-transaction (a hung host, a cut network) must
	// not hold its locks for the hours TCP keepalive takes: the server ends the session.
	if _, ok := cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"]; !ok {
		cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"] = "60000"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", describe, scrubErr(err, dsn))
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: open %s: %w", describe, scrubErr(err, dsn))
	}
	if err := migratePostgres(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return &postgresStore{pool: pool, describe: describe}, nil
}

// describePostgres names a database from its parsed settings, never from the DSN's text:
// a password the text's reader and pgx split differently cannot come out here.
func describePostgres(c *pgx.ConnConfig) string {
	u := url.URL{Scheme: "postgres", Host: net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port))), Path: "/" + c.Database}
	if c.User != "" {
		u.User = url.User(c.User)
	}
	return u.String()
}

func (s *postgresStore) Kind() string     { return "postgres" }
func (s *postgresStore) Describe() string { return s.describe }

func (s *postgresStore) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("store: ping %s: %w", s.describe, err)
	}
	return nil
}

func (s *postgresStore) Close() error {
	s.pool.Close()
	return nil
}

// Write first looks up which ticks are stored already and COPYs the others straight into
// historical_ticks, in key order (see insertTicksCopy). Should another writer commit some
// of the same ticks between the look-up and the COPY, the COPY fails on the unique key,
// the transaction is rolled back whole, and the batch is written again in a new one that
// skips known keys in the database itself (INSERT ... ON CONFLICT DO NOTHING).
func (s *postgresStore) Write(ctx context.Context, b Batch) (WriteResult, error) {
	res, err := s.write(ctx, b, false)
	if errors.Is(err, errTicksRaced) {
		res, err = s.write(ctx, b, true)
	}
	return res, err
}

func (s *postgresStore) write(ctx context.Context, b Batch, onConflict bool) (WriteResult, error) {
	return writeBatch(ctx, b, func(ctx context.Context) (batchTx, error) {
		tx, err := s.pool.Begin(ctx)
		if err != nil {
			return nil, err
		}
		return postgresTx{tx: tx, onConflict: onConflict}, nil
	})
}

// postgresTx is a write transaction.
type postgresTx struct {
	tx pgx.Tx
	// onConflict inserts ticks with INSERT ... ON CONFLICT DO NOTHING instead of COPY:
	// slower, but it cannot fail on a key another writer committed meanwhile.
	onConflict bool
}

func (t postgresTx) insertTicks(ctx context.Context, rows []tickRow) ([]bool, int, error) {
	if t.onConflict {
		return insertTicksOnConflict(ctx, t.tx, rows)
	}
	return insertTicksCopy(ctx, t.tx, rows)
}

func (t postgresTx) upsertDeltas(ctx context.Context, deltas []candleDelta) error {
	return upsertDeltasPostgres(ctx, t.tx, deltas)
}

func (t postgresTx) insertDead(ctx context.Context, dead []deadRow) error {
	return insertDeadPostgres(ctx, t.tx, dead)
}

// advanceClaims moves each claim's committed count on, in one round trip: the statements
// run in claim order, so concurrent writers lock claim rows in one order.
func (t postgresTx) advanceClaims(ctx context.Context, spans []ClaimSpan) error {
	if len(spans) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	// A claim row held by another session is waited for briefly, not for as long as that
	// session lives: it may be a flusher frozen mid-transaction.
	b.Queue(fmt.Sprintf(`SET LOCAL lock_timeout = '%dms'`, ClaimLockWait.Milliseconds()))
	for _, sp := range spans {
		if sp.From == 0 {
			b.Queue(`INSERT INTO quflx_claim_progress (claim_id, committed) VALUES ($1, $2)
				ON CONFLICT (claim_id) DO NOTHING`, sp.ID, sp.To)
		} else {
			b.Queue(`UPDATE quflx_claim_progress SET committed = $1, updated_at = now()
				WHERE claim_id = $2 AND committed = $3`, sp.To, sp.ID, sp.From)
		}
	}
	b.Queue(`SET LOCAL lock_timeout = DEFAULT`)
	br := t.tx.SendBatch(ctx, b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return err
	}
	for _, sp := range spans {
		tag, err := br.Exec()
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "55P03" { // lock_not_available
			return &ClaimBusyError{ID: sp.ID}
		}
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return claimConflict(sp)
		}
	}
	if _, err := br.Exec(); err != nil {
		return err
	}
	return br.Close()
}

func (t postgresTx) commit(ctx context.Context) error { return t.tx.Commit(ctx) }

// rollback runs even when ctx is what failed the transaction.
func (t postgresTx) rollback(ctx context.Context) { _ = t.tx.Rollback(context.WithoutCancel(ctx)) }

// candleInsert starts both candle statements: one multi-row insert from arrays, prices as
// decimal text so that numeric gets exactly the ticks' values.
const candleInsert = `INSERT INTO candles AS c (pair, timeframe, "timestamp", open_price, high_price,
	low_price, close_price, volume, open_us, close_us)
SELECT u.pair, '` + minuteTimeframe + `', u.ts, u.o::numeric, u.h::numeric, u.l::numeric, u.c::numeric, u.v, u.ou, u.cu
FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[],
	$8::bigint[], $9::bigint[]) AS u(pair, ts, o, h, l, c, v, ou, cu)
ON CONFLICT (pair, timeframe, "timestamp") DO UPDATE SET `

// upsertDeltasSQL folds a batch's new ticks into stored candles by event time (see the
// package comment); rows without open_us/close_us count as opened and closed at the start.
const upsertDeltasSQL = candleInsert + `
	open_price = CASE WHEN EXCLUDED.open_us < COALESCE(c.open_us, c."timestamp" * 1000000)
		THEN EXCLUDED.open_price ELSE c.open_price END,
	close_price = CASE WHEN EXCLUDED.close_us >= COALESCE(c.close_us, c."timestamp" * 1000000)
		THEN EXCLUDED.close_price ELSE c.close_price END,
	high_price = GREATEST(c.high_price, EXCLUDED.high_price),
	low_price = LEAST(c.low_price, EXCLUDED.low_price),
	volume = COALESCE(c.volume, 0) + EXCLUDED.volume,
	open_us = LEAST(COALESCE(c.open_us, c."timestamp" * 1000000), EXCLUDED.open_us),
	close_us = GREATEST(COALESCE(c.close_us, c."timestamp" * 1000000), EXCLUDED.close_us)`

const replaceCandlesSQL = candleInsert + `
	open_price = EXCLUDED.open_price, high_price = EXCLUDED.high_price, low_price = EXCLUDED.low_price,
	close_price = EXCLUDED.close_price, volume = EXCLUDED.volume,
	open_us = EXCLUDED.open_us, close_us = EXCLUDED.close_us`

// candleArrays holds the columns of a multi-row candle statement.
type candleArrays struct {
	pair                  []string
	ts                    []int64
	open, high, low, clos []string
	volume, openUs, clUs  []int64
}

func (a *candleArrays) add(pair string, ts int64, o, h, l, c string, v, openUs, closeUs int64) {
	a.pair = append(a.pair, pair)
	a.ts = append(a.ts, ts)
	a.open = append(a.open, o)
	a.high = append(a.high, h)
	a.low = append(a.low, l)
	a.clos = append(a.clos, c)
	a.volume = append(a.volume, v)
	a.openUs = append(a.openUs, openUs)
	a.clUs = append(a.clUs, closeUs)
}

func (a *candleArrays) args() []any {
	return []any{a.pair, a.ts, a.open, a.high, a.low, a.clos, a.volume, a.openUs, a.clUs}
}

func upsertDeltasPostgres(ctx context.Context, tx pgx.Tx, deltas []candleDelta) error {
	if len(deltas) == 0 {
		return nil
	}
	var a candleArrays
	for _, d := range deltas {
		a.add(d.asset, d.start, d.openText, d.highText, d.lowText, d.closeText, d.volume, d.openUs, d.closeUs)
	}
	_, err := tx.Exec(ctx, upsertDeltasSQL, a.args()...)
	return err
}

func insertDeadPostgres(ctx context.Context, tx pgx.Tx, dead []deadRow) error {
	if len(dead) == 0 {
		return nil
	}
	pairs := make([]string, len(dead))
	payloads := make([]string, len(dead))
	reasons := make([]string, len(dead))
	sums := make([]string, len(dead))
	counts := make([]int64, len(dead))
	firsts := make([]time.Time, len(dead))
	lasts := make([]time.Time, len(dead))
	for i, d := range dead {
		pairs[i], payloads[i], reasons[i], sums[i] = d.asset, d.payload, d.reason, d.sha
		counts[i], firsts[i], lasts[i] = d.count, d.first, d.last
	}
	_, err := tx.Exec(ctx, `INSERT INTO dead_letters AS d (pair, payload, reason, payload_sha256, created_at,
		occurrences, first_seen, last_seen)
		SELECT u.pair, u.payload, u.reason, u.sha, u.first, u.n, u.first, u.last
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::timestamptz[],
			$7::timestamptz[]) AS u(pair, payload, reason, sha, n, first, last)
		ORDER BY u.pair, u.sha
		ON CONFLICT (pair, payload_sha256) DO UPDATE SET
			occurrences = d.occurrences + EXCLUDED.occurrences,
			first_seen = LEAST(d.first_seen, EXCLUDED.first_seen),
			last_seen = GREATEST(d.last_seen, EXCLUDED.last_seen)`,
		pairs, payloads, reasons, sums, counts, firsts, lasts)
	return err
}

func (s *postgresStore) ClaimProgress(ctx context.Context, ids []string) (map[string]int64, error) {
	out := make(map[string]int64, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT claim_id, committed FROM quflx_claim_progress WHERE claim_id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("store: claim progress: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var n int64
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("store: claim progress: %w", err)
		}
		out[id] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: claim progress: %w", err)
	}
	return out, nil
}

func (s *postgresStore) PruneClaimProgress(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM quflx_claim_progress WHERE updated_at < $1`, before)
	if err != nil {
		return 0, fmt.Errorf("store: prune claim progress: %w", err)
	}
	return tag.RowsAffected(), nil
}

func (s *postgresStore) WriteCandles(ctx context.Context, asset string, candles []model.Candle) error {
	rows, err := prepareCandles(asset, candles)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return nil
	}
	var a candleArrays
	for _, r := range rows {
		// History has no tick times: open and close count as at the minute's start, so live
		// ticks later keep the open and move the close.
		us := r.start * 1e6
		a.add(asset, r.start, r.openText, r.highText, r.lowText, r.closeText, r.volume, us, us)
	}
	if _, err := s.pool.Exec(ctx, replaceCandlesSQL, a.args()...); err != nil {
		return fmt.Errorf("store: write candles of %s: %w", asset, err)
	}
	return nil
}

func (s *postgresStore) Candles(ctx context.Context, asset string, tf model.Timeframe, limit int) ([]model.Candle, error) {
	return readCandles(ctx, s, asset, tf, math.MaxInt64, limit)
}

func (s *postgresStore) CandlesBefore(ctx context.Context, asset string, tf model.Timeframe, before int64, limit int) ([]model.Candle, error) {
	return readCandles(ctx, s, asset, tf, before, limit)
}

func (s *postgresStore) latestMinuteBefore(ctx context.Context, asset string, before int64) (int64, bool, error) {
	// One MAX per spelling: each is a single index probe. GREATEST ignores NULLs.
	var latest *int64
	err := s.pool.QueryRow(ctx, `SELECT GREATEST(
		(SELECT MAX("timestamp") FROM candles WHERE pair = $1 AND timeframe = '1m' AND "timestamp" < $2),
		(SELECT MAX("timestamp") FROM candles WHERE pair = $1 AND timeframe = '1M' AND "timestamp" < $2))`,
		asset, before).Scan(&latest)
	if err != nil {
		return 0, false, fmt.Errorf("newest minute: %w", err)
	}
	if latest == nil {
		return 0, false, nil
	}
	return *latest, true, nil
}

func (s *postgresStore) minuteRows(ctx context.Context, asset string, from, to int64) ([]minuteRow, error) {
	rows, err := s.pool.Query(ctx, minuteRowsQuery("$1", "$2", "$3", "::float8", !s.noEventTimes), asset, from, to)
	if err != nil {
		return nil, fmt.Errorf("minute rows: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (minuteRow, error) {
		var m minuteRow
		err := r.Scan(&m.start, &m.open, &m.high, &m.low, &m.close, &m.volume, &m.openUs, &m.closeUs)
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("minute rows: %w", err)
	}
	return out, nil
}

func (s *postgresStore) CountTicks(ctx context.Context, asset string) (int64, error) {
	return s.count(ctx, "historical_ticks", asset)
}

func (s *postgresStore) CountDeadLetters(ctx context.Context, asset string) (int64, error) {
	return s.count(ctx, "dead_letters", asset)
}

func (s *postgresStore) CountDeadOccurrences(ctx context.Context, asset string) (int64, error) {
	return s.sum(ctx, "dead_letters", "occurrences", asset)
}

func (s *postgresStore) count(ctx context.Context, table, asset string) (int64, error) {
	return s.sum(ctx, table, "1", asset)
}

// sum adds expr over the rows of table (of asset, unless "").
func (s *postgresStore) sum(ctx context.Context, table, expr, asset string) (int64, error) {
	q := `SELECT COALESCE(SUM(` + expr + `), 0)::bigint FROM ` + table
	var args []any
	if asset != "" {
		q += ` WHERE pair = $1`
		args = append(args, asset)
	}
	var n int64
	if err := s.pool.QueryRow(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count %s: %w", table, err)
	}
	return n, nil
}
