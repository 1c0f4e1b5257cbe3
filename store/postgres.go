package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/quflx/quflx-tui/model"
)

type postgresStore struct {
	pool     *pgxpool.Pool
	describe string
}

func openPostgres(ctx context.Context, dsn string) (Store, error) {
	describe := redactDSN(dsn)
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("store: postgres DSN %s: %w", describe, err)
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "quflx-tui"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", describe, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: open %s: %w", describe, err)
	}
	if err := migratePostgres(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return &postgresStore{pool: pool, describe: describe}, nil
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

func (s *postgresStore) Write(ctx context.Context, b Batch) (WriteResult, error) {
	return writeBatch(ctx, b, func(ctx context.Context) (batchTx, error) {
		tx, err := s.pool.Begin(ctx)
		if err != nil {
			return nil, err
		}
		return postgresTx{tx}, nil
	})
}

// postgresTx is a write transaction.
type postgresTx struct{ tx pgx.Tx }

func (t postgresTx) insertTicks(ctx context.Context, rows []tickRow) ([]bool, int, error) {
	return insertTicksPostgres(ctx, t.tx, rows)
}

func (t postgresTx) upsertDeltas(ctx context.Context, deltas []candleDelta) error {
	return upsertDeltasPostgres(ctx, t.tx, deltas)
}

func (t postgresTx) insertDead(ctx context.Context, dead []deadRow) (int, error) {
	return insertDeadPostgres(ctx, t.tx, dead)
}

func (t postgresTx) commit(ctx context.Context) error { return t.tx.Commit(ctx) }

// rollback runs even when ctx is what failed the transaction.
func (t postgresTx) rollback(ctx context.Context) { _ = t.tx.Rollback(context.WithoutCancel(ctx)) }

// insertTicksSQL moves the copied batch into historical_ticks, skipping known keys, and
// returns the batch positions (ord) of the rows that were new. Insertion in key order makes
// concurrent writers wait on each other instead of deadlocking.
const insertTicksSQL = `WITH ins AS (
	INSERT INTO historical_ticks (pair, price, "timestamp", timestamp_us)
	SELECT pair, price::numeric, ts, ts_us FROM quflx_ticks_in ORDER BY pair, ts_us, price::numeric
	ON CONFLICT (pair, timestamp_us, price) DO NOTHING
	RETURNING pair, timestamp_us, price
)
SELECT i.ord FROM ins
JOIN quflx_ticks_in i ON i.pair = ins.pair AND i.ts_us = ins.timestamp_us AND i.price::numeric = ins.price`

// insertTicksPostgres COPYs the batch into a temporary table (COPY cannot skip conflicts
// itself), then inserts from it with ON CONFLICT DO NOTHING.
func insertTicksPostgres(ctx context.Context, tx pgx.Tx, rows []tickRow) ([]bool, int, error) {
	isNew := make([]bool, len(rows))
	if len(rows) == 0 {
		return isNew, 0, nil
	}
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE quflx_ticks_in (
		ord int4 NOT NULL, pair text NOT NULL, ts bigint NOT NULL, ts_us bigint NOT NULL, price text NOT NULL
	) ON COMMIT DROP`); err != nil {
		return nil, 0, fmt.Errorf("temporary table: %w", err)
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"quflx_ticks_in"}, []string{"ord", "pair", "ts", "ts_us", "price"},
		pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
			r := &rows[i]
			return []any{int32(i), r.asset, r.sec, r.us, r.priceText}, nil
		}))
	if err != nil {
		return nil, 0, fmt.Errorf("copy: %w", err)
	}
	res, err := tx.Query(ctx, insertTicksSQL)
	if err != nil {
		return nil, 0, err
	}
	defer res.Close()
	inserted := 0
	for res.Next() {
		var ord int32
		if err := res.Scan(&ord); err != nil {
			return nil, 0, err
		}
		if ord < 0 || int(ord) >= len(rows) || isNew[ord] {
			return nil, 0, fmt.Errorf("insert returned unexpected batch position %d", ord)
		}
		isNew[ord] = true
		inserted++
	}
	if err := res.Err(); err != nil {
		return nil, 0, err
	}
	return isNew, inserted, nil
}

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

func insertDeadPostgres(ctx context.Context, tx pgx.Tx, dead []deadRow) (int, error) {
	if len(dead) == 0 {
		return 0, nil
	}
	pairs := make([]string, len(dead))
	payloads := make([]string, len(dead))
	reasons := make([]string, len(dead))
	sums := make([]string, len(dead))
	ats := make([]time.Time, len(dead))
	for i, d := range dead {
		pairs[i], payloads[i], reasons[i], sums[i], ats[i] = d.asset, d.payload, d.reason, d.sha, d.at
	}
	tag, err := tx.Exec(ctx, `INSERT INTO dead_letters (pair, payload, reason, payload_sha256, created_at)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
		ON CONFLICT (pair, payload_sha256) DO NOTHING`, pairs, payloads, reasons, sums, ats)
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
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
	return readCandles(ctx, s, asset, tf, limit)
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
	rows, err := s.pool.Query(ctx, minuteRowsQuery("$1", "$2", "$3", "::float8"), asset, from, to)
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

func (s *postgresStore) count(ctx context.Context, table, asset string) (int64, error) {
	q := `SELECT COUNT(*) FROM ` + table
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
