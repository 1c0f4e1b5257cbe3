package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"
)

// schemaVersion is the version of the schema this package creates. Both backends record it
// in quflx_schema_version once the migration to it has run.
const schemaVersion = 2

const sqliteTicksTable = `CREATE TABLE IF NOT EXISTS %s (
	id INTEGER PRIMARY KEY,
	pair VARCHAR(64) NOT NULL,
	price DECIMAL(20,10) NOT NULL,
	"timestamp" BIGINT NOT NULL,
	timestamp_us BIGINT NOT NULL,
	created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
)`

var sqliteSchema = struct{ candles, deadLetters, deadLettersKey string }{
	candles: `CREATE TABLE IF NOT EXISTS candles (
	id INTEGER PRIMARY KEY,
	pair VARCHAR(64) NOT NULL,
	timeframe VARCHAR(8) NOT NULL,
	open_price DECIMAL(20,10),
	high_price DECIMAL(20,10),
	low_price DECIMAL(20,10),
	close_price DECIMAL(20,10),
	volume BIGINT DEFAULT 0,
	"timestamp" BIGINT NOT NULL,
	open_us BIGINT,
	close_us BIGINT,
	created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
)`,
	deadLetters: `CREATE TABLE IF NOT EXISTS dead_letters (
	id INTEGER PRIMARY KEY,
	pair VARCHAR(64) NOT NULL,
	payload TEXT NOT NULL,
	reason TEXT NOT NULL,
	payload_sha256 CHAR(64) NOT NULL,
	created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
)`,
	deadLettersKey: `CREATE UNIQUE INDEX IF NOT EXISTS dead_letters_pair_payload_sha256_key
	ON dead_letters (pair, payload_sha256)`,
}

// migrateSQLite creates the schema or migrates a legacy QuFLX one, in one IMMEDIATE
// transaction so that two processes opening the same file do not race.
//
// Supported legacy shapes of historical_ticks: QuFLX's columns (id, pair, price, timestamp,
// created_at; id and created_at optional) with the whole-second key either as a separate
// UNIQUE INDEX (dropped) or as a UNIQUE / PRIMARY KEY table constraint (the table is rebuilt,
// keeping rows, ids, other indexes, triggers and views). A legacy table with columns beyond
// QuFLX's is refused when it needs a rebuild, rather than rebuilt without them.
func migrateSQLite(ctx context.Context, db *sql.DB) error {
	// A current schema needs no write lock: a store locked by someone else (a backup, an
	// outage) must not stop a flusher from starting and protecting the buffers meanwhile.
	if v, err := sqliteSchemaVersion(ctx, db); err == nil && v >= schemaVersion {
		return nil
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: migrate sqlite: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS quflx_schema_version (
		version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("store: migrate sqlite: version table: %w", err)
	}
	var version int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM quflx_schema_version`).Scan(&version); err != nil {
		return fmt.Errorf("store: migrate sqlite: read version: %w", err)
	}
	if version >= schemaVersion {
		return tx.Commit()
	}
	if version < 1 {
		if err := migrateSQLiteTicks(ctx, tx); err != nil {
			return fmt.Errorf("store: migrate sqlite: historical_ticks: %w", err)
		}
		if err := migrateSQLiteCandles(ctx, tx); err != nil {
			return fmt.Errorf("store: migrate sqlite: candles: %w", err)
		}
		for _, stmt := range []string{sqliteSchema.deadLetters, sqliteSchema.deadLettersKey} {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("store: migrate sqlite: dead_letters: %w", err)
			}
		}
	}
	if err := migrateSQLiteV2(ctx, tx); err != nil {
		return fmt.Errorf("store: migrate sqlite to version 2: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO quflx_schema_version (version, applied_at) VALUES (?, ?)`,
		schemaVersion, time.Now().UTC().Format(time.RFC3339)); err != nil {
		return fmt.Errorf("store: migrate sqlite: record version: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: migrate sqlite: commit: %w", err)
	}
	return nil
}

// sqliteSchemaVersion reads the recorded schema version without a write lock (0: none).
func sqliteSchemaVersion(ctx context.Context, db *sql.DB) (int, error) {
	var exists int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'quflx_schema_version'`).Scan(&exists); err != nil || exists == 0 {
		return 0, err
	}
	var version int
	err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM quflx_schema_version`).Scan(&version)
	return version, err
}

// migrateSQLiteV2 counts dead-letter occurrences and records each flusher claim's progress.
func migrateSQLiteV2(ctx context.Context, tx *sql.Tx) error {
	cols, err := sqliteColumns(ctx, tx, "dead_letters")
	if err != nil {
		return err
	}
	var steps []string
	for _, c := range []struct{ name, def string }{
		{"occurrences", "BIGINT NOT NULL DEFAULT 1"}, {"first_seen", "TIMESTAMP"}, {"last_seen", "TIMESTAMP"},
	} {
		if !slices.Contains(cols, c.name) {
			steps = append(steps, `ALTER TABLE dead_letters ADD COLUMN `+c.name+` `+c.def)
		}
	}
	steps = append(steps,
		`UPDATE dead_letters SET first_seen = created_at WHERE first_seen IS NULL`,
		`UPDATE dead_letters SET last_seen = created_at WHERE last_seen IS NULL`,
		`CREATE TABLE IF NOT EXISTS quflx_claim_progress (
	claim_id TEXT PRIMARY KEY,
	committed BIGINT NOT NULL,
	updated_at TIMESTAMP NOT NULL
)`,
		`CREATE INDEX IF NOT EXISTS quflx_claim_progress_updated_at ON quflx_claim_progress (updated_at)`)
	for _, stmt := range steps {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("%.60s: %w", stmt, err)
		}
	}
	return nil
}

const ticksKeyIndex = "historical_ticks_pair_ts_us_price_key"

func migrateSQLiteTicks(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(sqliteTicksTable, "historical_ticks")); err != nil {
		return err
	}
	cols, err := sqliteColumns(ctx, tx, "historical_ticks")
	if err != nil {
		return err
	}
	if !slices.Contains(cols, "timestamp_us") {
		if _, err := tx.ExecContext(ctx, `ALTER TABLE historical_ticks ADD COLUMN timestamp_us BIGINT`); err != nil {
			return fmt.Errorf("add timestamp_us: %w", err)
		}
		cols = append(cols, "timestamp_us")
	}
	if _, err := tx.ExecContext(ctx, `UPDATE historical_ticks SET timestamp_us = "timestamp" * 1000000
		WHERE timestamp_us IS NULL`); err != nil {
		return fmt.Errorf("backfill timestamp_us: %w", err)
	}
	uniques, err := sqliteUniqueIndexes(ctx, tx, "historical_ticks")
	if err != nil {
		return err
	}
	rebuild := false
	for _, ix := range uniques {
		if !sameColumns(ix.columns, "pair", "timestamp") {
			continue
		}
		if ix.origin == "c" { // a CREATE UNIQUE INDEX: droppable
			if _, err := tx.ExecContext(ctx, `DROP INDEX `+quoteIdent(ix.name)); err != nil {
				return fmt.Errorf("drop legacy index %s: %w", ix.name, err)
			}
			continue
		}
		rebuild = true // a table constraint: only a rebuild removes it
	}
	if rebuild {
		if err := rebuildSQLiteTicks(ctx, tx, cols); err != nil {
			return fmt.Errorf("rebuild without UNIQUE (pair, timestamp): %w", err)
		}
	}
	var haveKey int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = ?`,
		ticksKeyIndex).Scan(&haveKey); err != nil {
		return err
	}
	if haveKey == 0 {
		// Rows equal under the new key are the same tick stored twice (only possible in a
		// table that had no whole-second key): keep the first.
		if _, err := tx.ExecContext(ctx, `DELETE FROM historical_ticks WHERE rowid NOT IN (
			SELECT MIN(rowid) FROM historical_ticks GROUP BY pair, timestamp_us, price)`); err != nil {
			return fmt.Errorf("drop exact duplicates: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `CREATE UNIQUE INDEX `+ticksKeyIndex+
			` ON historical_ticks (pair, timestamp_us, price)`); err != nil {
			return fmt.Errorf("create key: %w", err)
		}
	}
	return nil
}

// rebuildSQLiteTicks replaces historical_ticks by a copy without its table constraints,
// following SQLite's documented procedure for schema changes ALTER TABLE cannot make.
func rebuildSQLiteTicks(ctx context.Context, tx *sql.Tx, cols []string) error {
	known := []string{"id", "pair", "price", "timestamp", "timestamp_us", "created_at"}
	for _, c := range cols {
		if !slices.Contains(known, c) {
			return fmt.Errorf("legacy column %q is not QuFLX's: migrate this table by hand", c)
		}
	}
	for _, c := range []string{"pair", "price", "timestamp"} {
		if !slices.Contains(cols, c) {
			return fmt.Errorf("legacy table has no %q column", c)
		}
	}
	// Indexes and triggers die with the old table: keep their SQL to recreate them.
	// Automatic indexes (constraints) have no SQL and are not kept.
	rows, err := tx.QueryContext(ctx, `SELECT sql FROM sqlite_master
		WHERE tbl_name = 'historical_ticks' AND type IN ('index', 'trigger') AND sql IS NOT NULL`)
	if err != nil {
		return err
	}
	var keep []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return err
		}
		keep = append(keep, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}

	var copyCols []string
	for _, c := range known {
		if slices.Contains(cols, c) {
			copyCols = append(copyCols, quoteIdent(c))
		}
	}
	list := strings.Join(copyCols, ", ")
	steps := []string{
		fmt.Sprintf(sqliteTicksTable, "historical_ticks_quflx_new"),
		fmt.Sprintf(`INSERT INTO historical_ticks_quflx_new (%s) SELECT %s FROM historical_ticks`, list, list),
		`DROP TABLE historical_ticks`,
		// Legacy rename semantics leave views that name historical_ticks alone; the modern
		// ones would refuse to rename while such a view points at a missing table.
		`PRAGMA legacy_alter_table = ON`,
		`ALTER TABLE historical_ticks_quflx_new RENAME TO historical_ticks`,
		`PRAGMA legacy_alter_table = OFF`,
	}
	for _, s := range append(steps, keep...) {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("%.60s: %w", s, err)
		}
	}
	return nil
}

func migrateSQLiteCandles(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, sqliteSchema.candles); err != nil {
		return err
	}
	cols, err := sqliteColumns(ctx, tx, "candles")
	if err != nil {
		return err
	}
	for _, c := range []string{"open_us", "close_us"} {
		if !slices.Contains(cols, c) {
			if _, err := tx.ExecContext(ctx, `ALTER TABLE candles ADD COLUMN `+c+` BIGINT`); err != nil {
				return fmt.Errorf("add %s: %w", c, err)
			}
		}
	}
	uniques, err := sqliteUniqueIndexes(ctx, tx, "candles")
	if err != nil {
		return err
	}
	for _, ix := range uniques {
		if sameColumns(ix.columns, "pair", "timeframe", "timestamp") {
			return nil
		}
	}
	_, err = tx.ExecContext(ctx, `CREATE UNIQUE INDEX candles_pair_timeframe_timestamp_key
		ON candles (pair, timeframe, "timestamp")`)
	return err
}

func sqliteColumns(ctx context.Context, tx *sql.Tx, table string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name FROM pragma_table_info(?)`, table)
	if err != nil {
		return nil, fmt.Errorf("columns of %s: %w", table, err)
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		cols = append(cols, strings.ToLower(name))
	}
	return cols, rows.Err()
}

type sqliteIndex struct {
	name, origin string // origin: "c" CREATE INDEX, "u" UNIQUE constraint, "pk" PRIMARY KEY
	columns      []string
}

func sqliteUniqueIndexes(ctx context.Context, tx *sql.Tx, table string) ([]sqliteIndex, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name, origin FROM pragma_index_list(?) WHERE "unique" = 1`, table)
	if err != nil {
		return nil, fmt.Errorf("indexes of %s: %w", table, err)
	}
	var out []sqliteIndex
	for rows.Next() {
		var ix sqliteIndex
		if err := rows.Scan(&ix.name, &ix.origin); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, ix)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		cols, err := tx.QueryContext(ctx, `SELECT name FROM pragma_index_info(?) ORDER BY seqno`, out[i].name)
		if err != nil {
			return nil, fmt.Errorf("columns of index %s: %w", out[i].name, err)
		}
		for cols.Next() {
			var name sql.NullString // NULL for an expression
			if err := cols.Scan(&name); err != nil {
				cols.Close()
				return nil, err
			}
			out[i].columns = append(out[i].columns, strings.ToLower(name.String))
		}
		cols.Close()
		if err := cols.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// sameColumns reports whether cols are exactly want, in any order.
func sameColumns(cols []string, want ...string) bool {
	if len(cols) != len(want) {
		return false
	}
	for _, w := range want {
		if !slices.Contains(cols, w) {
			return false
		}
	}
	return true
}

// quoteIdent quotes an SQL identifier (the same syntax in SQLite and PostgreSQL).
func quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}
