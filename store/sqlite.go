package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite" // registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/quflx/quflx-tui/model"
)

// Rows per multi-row statement: powers of two (see chunkSizes) that keep every statement far
// under SQLite's 32766 bound variables.
const (
	sqliteTicksPerStmt   = 512 // 4 variables a row
	sqliteCandlesPerStmt = 64  // 9 variables a row
	sqliteDeadPerStmt    = 64  // 8 variables a row
)

type sqliteStore struct {
	db       *sql.DB
	describe string
	// noEventTimes: the candles table lacks open_us/close_us (a QuFLX store read as it
	// is, without migration).
	noEventTimes bool
	version      int // schema version recorded (read-only stores; 0: never migrated)

	// writeMu serialises writers: SQLite has a single write lock anyway, and waiting here
	// is cheaper than spinning in busy_timeout.
	writeMu sync.Mutex
	stmts   map[stmtShape]*sql.Stmt // prepared at Open, read-only afterwards
}

// stmtShape identifies a cached multi-row statement.
type stmtShape struct {
	kind stmtKind
	rows int
}

type stmtKind uint8

const (
	insertTicks stmtKind = iota
	upsertDeltas
	replaceCandles
	insertDead
)

func openSQLite(ctx context.Context, path string) (Store, error) {
	path = strings.TrimPrefix(path, "//") // tolerate sqlite://PATH
	if path == "" {
		return nil, errors.New("store: sqlite DSN without a path (want sqlite:PATH or sqlite::memory:)")
	}
	memory := path == ":memory:"
	name := path
	if !memory {
		if strings.ContainsAny(path, "?#") {
			return nil, fmt.Errorf("store: sqlite path %q: '?' and '#' are not supported in file names", path)
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, fmt.Errorf("store: sqlite path %q: %w", path, err)
		}
		name = abs
	}
	// A writer waits up to 5 s for another's lock (flushers sharing the file take turns in
	// well under that); a lock held longer is an outage, reported as one and retried.
	// synchronous=NORMAL is durable against application crashes and fsyncs only at
	// checkpoints (in WAL mode, set below); immediate transactions take the write lock up
	// front, so a writer never fails midway on an upgrade from a read lock.
	dsn := name + "?_pragma=busy_timeout(5000)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite %s: %w", name, err)
	}
	if memory {
		// Every connection to :memory: is a database of its own: keep exactly one, forever.
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
	} else {
		db.SetMaxOpenConns(4)
		db.SetMaxIdleConns(4)
	}
	s := &sqliteStore{db: db, describe: "sqlite:" + name, stmts: make(map[stmtShape]*sql.Stmt)}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open sqlite %s: %w", name, err)
	}
	if !memory {
		if err := enableWAL(ctx, db); err != nil {
			db.Close()
			return nil, fmt.Errorf("store: open sqlite %s: %w", name, err)
		}
	}
	if err := migrateSQLite(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.prepareStatements(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// walPatience bounds how long enableWAL retries a busy database: as long as a writer
// waits for a lock (busy_timeout).
const walPatience = 5 * time.Second

// enableWAL switches the file to WAL, which lets readers (the UI) run beside the
// flusher's writes. The mode is stored in the file, so once set every connection uses it.
//
// Switching a file that is not in WAL yet takes its exclusive lock, and SQLite does not
// wait for that lock in busy_timeout: the pragma fails at once with SQLITE_BUSY while
// another connection holds any lock on the file. Flushers started together on a fresh
// file all make the switch at the same moment, so the losers retry until the winner is
// done (then the file is in WAL and the pragma takes no lock at all).
func enableWAL(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(walPatience)
	backoff := time.Millisecond
	for {
		var mode string
		err := db.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode)
		if err == nil {
			// A file system without shared memory keeps the old mode: slower, still correct.
			return nil
		}
		if !isSQLiteBusy(err) || time.Now().Add(backoff).After(deadline) {
			return fmt.Errorf("journal_mode=WAL: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("journal_mode=WAL: %w", err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 50*time.Millisecond)
	}
}

// isSQLiteBusy reports whether err is SQLite's "database is locked" (SQLITE_BUSY, with any
// extended code).
func isSQLiteBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

func (s *sqliteStore) Kind() string     { return "sqlite" }
func (s *sqliteStore) Describe() string { return s.describe }

func (s *sqliteStore) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping %s: %w", s.describe, err)
	}
	return nil
}

func (s *sqliteStore) Close() error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	var errs []error
	for _, st := range s.stmts {
		errs = append(errs, st.Close())
	}
	clear(s.stmts)
	errs = append(errs, s.db.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("store: close %s: %w", s.describe, err)
	}
	return nil
}

func (s *sqliteStore) Write(ctx context.Context, b Batch) (WriteResult, error) {
	return writeBatch(ctx, b, func(ctx context.Context) (batchTx, error) {
		s.writeMu.Lock()
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			s.writeMu.Unlock()
			return nil, err
		}
		return &sqliteTx{s: s, tx: tx}, nil
	})
}

// sqliteTx is a write transaction; it holds writeMu until it ends.
type sqliteTx struct {
	s    *sqliteStore
	tx   *sql.Tx
	done bool
}

func (t *sqliteTx) insertTicks(ctx context.Context, rows []tickRow) ([]bool, int, error) {
	return t.s.insertTicks(ctx, t.tx, rows)
}

func (t *sqliteTx) upsertDeltas(ctx context.Context, deltas []candleDelta) error {
	return t.s.upsertDeltas(ctx, t.tx, deltas)
}

func (t *sqliteTx) insertDead(ctx context.Context, dead []deadRow) error {
	return t.s.insertDead(ctx, t.tx, dead)
}

func (t *sqliteTx) advanceClaims(ctx context.Context, spans []ClaimSpan) error {
	now := sqliteTime(time.Now())
	for _, sp := range spans {
		var res sql.Result
		var err error
		if sp.From == 0 {
			res, err = t.tx.ExecContext(ctx, `INSERT INTO quflx_claim_progress (claim_id, committed, updated_at)
				VALUES (?, ?, ?) ON CONFLICT (claim_id) DO NOTHING`, sp.ID, sp.To, now)
		} else {
			res, err = t.tx.ExecContext(ctx, `UPDATE quflx_claim_progress SET committed = ?, updated_at = ?
				WHERE claim_id = ? AND committed = ?`, sp.To, now, sp.ID, sp.From)
		}
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return claimConflict(sp)
		}
	}
	return nil
}

// sqliteTime is how this package writes times SQLite compares: fixed width, so that text
// order is time order, in the form CURRENT_TIMESTAMP uses.
func sqliteTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000000") }

func (t *sqliteTx) commit(context.Context) error {
	err := t.tx.Commit()
	t.end()
	return err
}

func (t *sqliteTx) rollback(context.Context) {
	if !t.done {
		_ = t.tx.Rollback()
		t.end()
	}
}

func (t *sqliteTx) end() {
	if !t.done {
		t.done = true
		t.s.writeMu.Unlock()
	}
}

// prepareStatements prepares every statement shape once, at Open. Preparing later, inside
// a transaction, would need a second connection, and a :memory: store has only one.
func (s *sqliteStore) prepareStatements(ctx context.Context) error {
	for kind, maxRows := range map[stmtKind]int{
		insertTicks:    sqliteTicksPerStmt,
		upsertDeltas:   sqliteCandlesPerStmt,
		replaceCandles: sqliteCandlesPerStmt,
		insertDead:     sqliteDeadPerStmt,
	} {
		for rows := maxRows; rows >= 1; rows /= 2 {
			shape := stmtShape{kind, rows}
			st, err := s.db.PrepareContext(ctx, sqliteStatement(shape))
			if err != nil {
				return fmt.Errorf("store: prepare sqlite statement %d×%d: %w", kind, rows, err)
			}
			s.stmts[shape] = st
		}
	}
	return nil
}

// stmt returns the prepared statement of shape within tx.
func (s *sqliteStore) stmt(ctx context.Context, tx *sql.Tx, shape stmtShape) (*sql.Stmt, error) {
	st, ok := s.stmts[shape]
	if !ok {
		return nil, fmt.Errorf("no prepared statement of kind %d for %d rows", shape.kind, shape.rows)
	}
	return tx.StmtContext(ctx, st), nil
}

func sqliteStatement(shape stmtShape) string {
	switch shape.kind {
	case insertTicks:
		return `INSERT INTO historical_ticks (pair, price, "timestamp", timestamp_us) VALUES ` +
			placeholders(shape.rows, "(?, ?, ?, ?)") +
			` ON CONFLICT (pair, timestamp_us, price) DO NOTHING RETURNING pair, timestamp_us, price`
	case upsertDeltas:
		return sqliteCandleInsert(shape.rows) + ` ON CONFLICT (pair, timeframe, "timestamp") DO UPDATE SET
	open_price = CASE WHEN excluded.open_us < COALESCE(candles.open_us, candles."timestamp" * 1000000)
		THEN excluded.open_price ELSE candles.open_price END,
	close_price = CASE WHEN excluded.close_us >= COALESCE(candles.close_us, candles."timestamp" * 1000000)
		THEN excluded.close_price ELSE candles.close_price END,
	high_price = MAX(COALESCE(candles.high_price, excluded.high_price), excluded.high_price),
	low_price = MIN(COALESCE(candles.low_price, excluded.low_price), excluded.low_price),
	volume = COALESCE(candles.volume, 0) + excluded.volume,
	open_us = MIN(COALESCE(candles.open_us, candles."timestamp" * 1000000), excluded.open_us),
	close_us = MAX(COALESCE(candles.close_us, candles."timestamp" * 1000000), excluded.close_us)`
	case replaceCandles:
		return sqliteCandleInsert(shape.rows) + ` ON CONFLICT (pair, timeframe, "timestamp") DO UPDATE SET
	open_price = excluded.open_price, high_price = excluded.high_price,
	low_price = excluded.low_price, close_price = excluded.close_price, volume = excluded.volume,
	open_us = excluded.open_us, close_us = excluded.close_us`
	case insertDead:
		return `INSERT INTO dead_letters (pair, payload, reason, payload_sha256, created_at, occurrences,
	first_seen, last_seen) VALUES ` + placeholders(shape.rows, "(?, ?, ?, ?, ?, ?, ?, ?)") +
			` ON CONFLICT (pair, payload_sha256) DO UPDATE SET
	occurrences = dead_letters.occurrences + excluded.occurrences,
	first_seen = MIN(COALESCE(dead_letters.first_seen, excluded.first_seen), excluded.first_seen),
	last_seen = MAX(COALESCE(dead_letters.last_seen, excluded.last_seen), excluded.last_seen)`
	}
	return ""
}

func sqliteCandleInsert(rows int) string {
	return `INSERT INTO candles (pair, timeframe, "timestamp", open_price, high_price, low_price,
	close_price, volume, open_us, close_us) VALUES ` + placeholders(rows, "(?, '"+minuteTimeframe+"', ?, ?, ?, ?, ?, ?, ?, ?)")
}

func placeholders(rows int, row string) string {
	var b strings.Builder
	b.Grow(rows * (len(row) + 2))
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	return b.String()
}

// insertTicks inserts rows (unique keys) and reports which were new, matching the rows the
// insert returned to the batch by key.
func (s *sqliteStore) insertTicks(ctx context.Context, tx *sql.Tx, rows []tickRow) ([]bool, int, error) {
	isNew := make([]bool, len(rows))
	index := make(map[tickKey]int, len(rows))
	for i := range rows {
		index[rows[i].key()] = i
	}
	inserted, pos := 0, 0
	args := make([]any, 0, 4*sqliteTicksPerStmt)
	for _, size := range chunkSizes(len(rows), sqliteTicksPerStmt) {
		st, err := s.stmt(ctx, tx, stmtShape{insertTicks, size})
		if err != nil {
			return nil, 0, err
		}
		args = args[:0]
		for _, r := range rows[pos : pos+size] {
			args = append(args, r.asset, r.price, r.sec, r.us)
		}
		pos += size
		n, err := collectInserted(ctx, st, args, index, isNew)
		if err != nil {
			return nil, 0, err
		}
		inserted += n
	}
	return isNew, inserted, nil
}

func collectInserted(ctx context.Context, st *sql.Stmt, args []any, index map[tickKey]int, isNew []bool) (int, error) {
	res, err := st.QueryContext(ctx, args...)
	if err != nil {
		return 0, err
	}
	defer res.Close()
	n := 0
	for res.Next() {
		var k tickKey
		if err := res.Scan(&k.asset, &k.us, &k.price); err != nil {
			return 0, err
		}
		i, ok := index[k]
		if !ok {
			return 0, fmt.Errorf("inserted row %v matches no tick of the batch", k)
		}
		isNew[i] = true
		n++
	}
	return n, res.Err()
}

func (s *sqliteStore) upsertDeltas(ctx context.Context, tx *sql.Tx, deltas []candleDelta) error {
	pos := 0
	args := make([]any, 0, 9*sqliteCandlesPerStmt)
	for _, size := range chunkSizes(len(deltas), sqliteCandlesPerStmt) {
		st, err := s.stmt(ctx, tx, stmtShape{upsertDeltas, size})
		if err != nil {
			return err
		}
		args = args[:0]
		for _, d := range deltas[pos : pos+size] {
			args = append(args, d.asset, d.start, d.open, d.high, d.low, d.close, d.volume, d.openUs, d.closeUs)
		}
		pos += size
		if _, err := st.ExecContext(ctx, args...); err != nil {
			return err
		}
	}
	return nil
}

func (s *sqliteStore) insertDead(ctx context.Context, tx *sql.Tx, dead []deadRow) error {
	pos := 0
	args := make([]any, 0, 8*sqliteDeadPerStmt)
	for _, size := range chunkSizes(len(dead), sqliteDeadPerStmt) {
		st, err := s.stmt(ctx, tx, stmtShape{insertDead, size})
		if err != nil {
			return err
		}
		args = args[:0]
		for _, d := range dead[pos : pos+size] {
			args = append(args, d.asset, d.payload, d.reason, d.sha, d.first.Format(time.RFC3339Nano), d.count,
				sqliteTime(d.first), sqliteTime(d.last))
		}
		pos += size
		if _, err := st.ExecContext(ctx, args...); err != nil {
			return err
		}
	}
	return nil
}

func (s *sqliteStore) ClaimProgress(ctx context.Context, ids []string) (map[string]int64, error) {
	out := make(map[string]int64, len(ids))
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := s.db.QueryContext(ctx, `SELECT claim_id, committed FROM quflx_claim_progress WHERE claim_id IN (`+
			placeholders(len(chunk), "?")+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("store: claim progress: %w", err)
		}
		for rows.Next() {
			var id string
			var n int64
			if err := rows.Scan(&id, &n); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: claim progress: %w", err)
			}
			out[id] = n
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("store: claim progress: %w", err)
		}
	}
	return out, nil
}

func (s *sqliteStore) PruneClaimProgress(ctx context.Context, before time.Time) (int64, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	res, err := s.db.ExecContext(ctx, `DELETE FROM quflx_claim_progress WHERE updated_at < ?`, sqliteTime(before))
	if err != nil {
		return 0, fmt.Errorf("store: prune claim progress: %w", err)
	}
	return res.RowsAffected()
}

func (s *sqliteStore) WriteCandles(ctx context.Context, asset string, candles []model.Candle) error {
	rows, err := prepareCandles(asset, candles)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return nil
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: write candles: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	pos := 0
	args := make([]any, 0, 9*sqliteCandlesPerStmt)
	for _, size := range chunkSizes(len(rows), sqliteCandlesPerStmt) {
		st, err := s.stmt(ctx, tx, stmtShape{replaceCandles, size})
		if err != nil {
			return fmt.Errorf("store: write candles: %w", err)
		}
		args = args[:0]
		for _, r := range rows[pos : pos+size] {
			// History has no tick times: open and close count as at the minute's start, so
			// live ticks later keep the open and move the close.
			us := r.start * 1e6
			args = append(args, asset, r.start, r.open, r.high, r.low, r.close, r.volume, us, us)
		}
		pos += size
		if _, err := st.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("store: write candles of %s: %w", asset, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: write candles: commit: %w", err)
	}
	return nil
}

func (s *sqliteStore) Candles(ctx context.Context, asset string, tf model.Timeframe, limit int) ([]model.Candle, error) {
	return readCandles(ctx, s, asset, tf, math.MaxInt64, limit)
}

func (s *sqliteStore) CandlesBefore(ctx context.Context, asset string, tf model.Timeframe, before int64, limit int) ([]model.Candle, error) {
	return readCandles(ctx, s, asset, tf, before, limit)
}

func (s *sqliteStore) latestMinuteBefore(ctx context.Context, asset string, before int64) (int64, bool, error) {
	// One MAX per spelling: each is a single index probe, where an IN list would scan.
	var latest sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT MAX(t) FROM (
		SELECT MAX("timestamp") AS t FROM candles WHERE pair = ?1 AND timeframe = '1m' AND "timestamp" < ?2
		UNION ALL
		SELECT MAX("timestamp") FROM candles WHERE pair = ?1 AND timeframe = '1M' AND "timestamp" < ?2)`,
		asset, before).Scan(&latest)
	if err != nil {
		return 0, false, fmt.Errorf("newest minute: %w", err)
	}
	return latest.Int64, latest.Valid, nil
}

func (s *sqliteStore) minuteRows(ctx context.Context, asset string, from, to int64) ([]minuteRow, error) {
	rows, err := s.db.QueryContext(ctx, minuteRowsQuery("?", "?", "?", "", !s.noEventTimes), asset, from, to)
	if err != nil {
		return nil, fmt.Errorf("minute rows: %w", err)
	}
	defer rows.Close()
	var out []minuteRow
	for rows.Next() {
		var r minuteRow
		if err := rows.Scan(&r.start, &r.open, &r.high, &r.low, &r.close, &r.volume, &r.openUs, &r.closeUs); err != nil {
			return nil, fmt.Errorf("minute rows: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("minute rows: %w", err)
	}
	return out, nil
}

// minuteRowsQuery selects 1-minute rows; cast is appended to each price (PostgreSQL reads
// numeric as float8). Rows without prices (none of ours) are skipped. Without eventTimes
// (QuFLX's own candles table) open and close count as at the minute's start.
func minuteRowsQuery(pair, from, to, cast string, eventTimes bool) string {
	times := `COALESCE(open_us, "timestamp" * 1000000), COALESCE(close_us, "timestamp" * 1000000)`
	if !eventTimes {
		times = `"timestamp" * 1000000, "timestamp" * 1000000`
	}
	return `SELECT "timestamp", open_price` + cast + `, high_price` + cast + `, low_price` + cast +
		`, close_price` + cast + `, COALESCE(volume, 0), ` + times + `
	FROM candles
	WHERE pair = ` + pair + ` AND timeframe IN ('1m', '1M') AND "timestamp" >= ` + from + ` AND "timestamp" < ` + to + `
		AND open_price IS NOT NULL AND high_price IS NOT NULL AND low_price IS NOT NULL AND close_price IS NOT NULL`
}

func (s *sqliteStore) CountTicks(ctx context.Context, asset string) (int64, error) {
	return s.count(ctx, "historical_ticks", asset)
}

func (s *sqliteStore) CountDeadLetters(ctx context.Context, asset string) (int64, error) {
	return s.count(ctx, "dead_letters", asset)
}

func (s *sqliteStore) CountDeadOccurrences(ctx context.Context, asset string) (int64, error) {
	return s.sum(ctx, "dead_letters", "occurrences", asset)
}

func (s *sqliteStore) count(ctx context.Context, table, asset string) (int64, error) {
	return s.sum(ctx, table, "1", asset)
}

// sum adds expr over the rows of table (of asset, unless "").
func (s *sqliteStore) sum(ctx context.Context, table, expr, asset string) (int64, error) {
	q := `SELECT COALESCE(SUM(` + expr + `), 0) FROM ` + table
	var args []any
	if asset != "" {
		q += ` WHERE pair = ?`
		args = append(args, asset)
	}
	var n int64
	if err := s.db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count %s: %w", table, err)
	}
	return n, nil
}
