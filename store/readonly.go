package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/quflx/quflx-tui/model"
)

// Reader is a store opened only to read: chart history and counts, no method that writes.
// Modes that only read (the dashboard's --store, status, mcp) get one, so a write is not
// merely avoided but impossible to express, and the database refuses one besides.
type Reader interface {
	Kind() string
	Describe() string
	// Candles is Store.Candles.
	Candles(ctx context.Context, asset string, tf model.Timeframe, limit int) ([]model.Candle, error)
	// CandlesBefore is Store.CandlesBefore.
	CandlesBefore(ctx context.Context, asset string, tf model.Timeframe, before int64, limit int) ([]model.Candle, error)
	CountTicks(ctx context.Context, asset string) (int64, error)
	// SchemaVersion is the version quflx-tui recorded in the store: 0 for QuFLX's own
	// schema, read as it is.
	SchemaVersion() int
	Ping(ctx context.Context) error
	Close() error
}

// readOnly hides the backend's writing methods: a Reader cannot be asserted to a Store.
type readOnly struct{ backend readerBackend }

type readerBackend interface {
	Reader
	minuteSource
}

func (r readOnly) Kind() string                   { return r.backend.Kind() }
func (r readOnly) Describe() string               { return r.backend.Describe() }
func (r readOnly) SchemaVersion() int             { return r.backend.SchemaVersion() }
func (r readOnly) Ping(ctx context.Context) error { return r.backend.Ping(ctx) }
func (r readOnly) Close() error                   { return r.backend.Close() }
func (r readOnly) CountTicks(ctx context.Context, asset string) (int64, error) {
	return r.backend.CountTicks(ctx, asset)
}
func (r readOnly) Candles(ctx context.Context, asset string, tf model.Timeframe, limit int) ([]model.Candle, error) {
	return r.backend.Candles(ctx, asset, tf, limit)
}
func (r readOnly) CandlesBefore(ctx context.Context, asset string, tf model.Timeframe, before int64, limit int) ([]model.Candle, error) {
	return r.backend.CandlesBefore(ctx, asset, tf, before, limit)
}

// SchemaVersion is the schema version this package migrates stores to.
const SchemaVersion = schemaVersion

// OpenReadOnly opens a store to read without changing anything: no migration, SQLite
// opened read-only (mode=ro, query_only), PostgreSQL sessions in read-only transactions.
// A store that quflx-tui never migrated (QuFLX's own tables) is read as it is; one
// missing what reading needs is refused with the command that migrates it.
func OpenReadOnly(ctx context.Context, dsn string) (Reader, error) {
	lower := strings.ToLower(dsn)
	switch {
	case strings.HasPrefix(lower, "sqlite:"):
		return openSQLiteReadOnly(ctx, dsn[len("sqlite:"):])
	case strings.HasPrefix(lower, "postgres://"), strings.HasPrefix(lower, "postgresql://"):
		return openPostgresReadOnly(ctx, dsn)
	}
	return nil, fmt.Errorf("store: unsupported DSN %q (want sqlite:PATH or postgres://USER:PASSWORD@HOST/DB)", redactDSN(dsn))
}

// migrateHint names what migrates a store, for refusals.
const migrateHint = "run `quflx-tui migrate --store DSN` (or start the flusher, which migrates on start)"

func openSQLiteReadOnly(ctx context.Context, path string) (Reader, error) {
	path = strings.TrimPrefix(path, "//")
	if path == "" || path == ":memory:" {
		return nil, errors.New("store: a read-only SQLite store needs the path of an existing file")
	}
	if strings.ContainsAny(path, "?#%") {
		return nil, fmt.Errorf("store: sqlite path %q: '?', '#' and '%%' are not supported in file names", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("store: sqlite path %q: %w", path, err)
	}
	if _, err := os.Stat(abs); err != nil {
		// mode=ro would not create it, but say so plainly rather than "unable to open".
		return nil, fmt.Errorf("store: sqlite %s: %w (a store opened to read is never created)", abs, errors.Unwrap(err))
	}
	// No journal-mode pragma: switching to WAL is a write. A WAL store (the flusher's)
	// read while no writer has it open would get a -wal and a -shm file created by this
	// process, owned by its user, which the flusher then cannot write: such a store is
	// opened immutable (no locks, no files); with a writer open, its files are used.
	params := "mode=ro&_pragma=busy_timeout(5000)&_pragma=query_only(1)"
	if walMode(abs) && !exists(abs+"-shm") {
		params = "mode=ro&immutable=1&_pragma=query_only(1)"
	}
	db, err := sql.Open("sqlite", "file:"+abs+"?"+params)
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite %s read-only: %w", abs, err)
	}
	db.SetMaxOpenConns(2)
	s := &sqliteStore{db: db, describe: "sqlite:" + abs + " (read-only)"}
	if err := s.checkReadable(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return readOnly{s}, nil
}

// walMode reports whether a SQLite file's header says WAL (read and write versions 2).
func walMode(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var header [20]byte
	if _, err := io.ReadFull(f, header[:]); err != nil {
		return false
	}
	return header[18] == 2 && header[19] == 2
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func (s *sqliteStore) checkReadable(ctx context.Context) error {
	cols, err := s.columns(ctx, "candles")
	if err != nil {
		return fmt.Errorf("store: %s: %w", s.describe, err)
	}
	if err := readableCandles(s.describe, cols); err != nil {
		return err
	}
	s.noEventTimes = !slices.Contains(cols, "open_us") || !slices.Contains(cols, "close_us")
	s.version, err = sqliteSchemaVersion(ctx, s.db)
	if err != nil {
		return fmt.Errorf("store: %s: schema version: %w", s.describe, err)
	}
	return nil
}

func (s *sqliteStore) columns(ctx context.Context, table string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name FROM pragma_table_info(?)`, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		cols = append(cols, strings.ToLower(c))
	}
	return cols, rows.Err()
}

// readableCandles checks that a candles table has what Candles reads.
func readableCandles(describe string, cols []string) error {
	if len(cols) == 0 {
		return fmt.Errorf("store: %s has no candles table: not a QuFLX or quflx-tui store, or never set up (%s)",
			describe, migrateHint)
	}
	for _, need := range []string{"pair", "timeframe", "timestamp", "open_price", "high_price", "low_price", "close_price"} {
		if !slices.Contains(cols, need) {
			return fmt.Errorf("store: %s: candles has no %s column; this schema cannot be read as it is (%s)",
				describe, need, migrateHint)
		}
	}
	return nil
}

// SchemaVersion is the version recorded at migration (0: never migrated).
func (s *sqliteStore) SchemaVersion() int { return s.version }

func openPostgresReadOnly(ctx context.Context, dsn string) (Reader, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("store: postgres DSN %s: %w", redactDSN(dsn), scrubErr(err, dsn))
	}
	describe := describePostgres(cfg.ConnConfig) + " (read-only)"
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "quflx-tui (read-only)"
	}
	// Every transaction of these sessions is read-only: the server refuses a write.
	cfg.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", describe, scrubErr(err, dsn))
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: open %s: %w", describe, scrubErr(err, dsn))
	}
	// A pooler that drops startup parameters (PgBouncer's ignore_startup_parameters)
	// would quietly give read-write sessions: make sure.
	var txReadOnly string
	if err := pool.QueryRow(ctx, `SHOW transaction_read_only`).Scan(&txReadOnly); err != nil || txReadOnly != "on" {
		pool.Close()
		return nil, fmt.Errorf("store: %s: the session is not read-only (transaction_read_only=%q, %v): "+
			"a pooler in between may drop default_transaction_read_only; connect to the server directly", describe, txReadOnly, err)
	}
	s := &postgresStore{pool: pool, describe: describe}
	cols, err := pgx.CollectRows(queryRows(ctx, pool, `SELECT lower(column_name) FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = 'candles'`), pgx.RowTo[string])
	if err == nil {
		err = readableCandles(describe, cols)
	}
	var versioned bool
	if err == nil {
		s.noEventTimes = !slices.Contains(cols, "open_us") || !slices.Contains(cols, "close_us")
		err = pool.QueryRow(ctx, `SELECT to_regclass('quflx_schema_version') IS NOT NULL`).Scan(&versioned)
	}
	if err == nil && versioned {
		err = pool.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM quflx_schema_version`).Scan(&s.version)
	}
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: %s: %w", describe, err)
	}
	return readOnly{s}, nil
}

// queryRows is pool.Query, its error left for CollectRows to report.
func queryRows(ctx context.Context, pool *pgxpool.Pool, sql string) pgx.Rows {
	rows, _ := pool.Query(ctx, sql)
	return rows
}

// SchemaVersion is the version recorded at migration (0: never migrated).
func (s *postgresStore) SchemaVersion() int { return s.version }
