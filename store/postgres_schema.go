package store

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// schemaLockKey is the pg_advisory_xact_lock key that serialises concurrent migrations
// ("quflx" in ASCII).
const schemaLockKey int64 = 0x7175666c78

var postgresSchema = struct{ ticks, candles, deadLetters, deadLettersKey string }{
	ticks: `CREATE TABLE IF NOT EXISTS historical_ticks (
	id bigserial PRIMARY KEY,
	pair varchar(64) NOT NULL,
	price decimal(20,10) NOT NULL,
	"timestamp" bigint NOT NULL,
	timestamp_us bigint NOT NULL,
	created_at timestamptz DEFAULT now()
)`,
	candles: `CREATE TABLE IF NOT EXISTS candles (
	id bigserial PRIMARY KEY,
	pair varchar(64) NOT NULL,
	timeframe varchar(8) NOT NULL,
	open_price decimal(20,10),
	high_price decimal(20,10),
	low_price decimal(20,10),
	close_price decimal(20,10),
	volume bigint DEFAULT 0,
	"timestamp" bigint NOT NULL,
	open_us bigint,
	close_us bigint,
	created_at timestamptz DEFAULT now()
)`,
	deadLetters: `CREATE TABLE IF NOT EXISTS dead_letters (
	id bigserial PRIMARY KEY,
	pair varchar(64) NOT NULL,
	payload text NOT NULL,
	reason text NOT NULL,
	payload_sha256 char(64) NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now()
)`,
	deadLettersKey: `CREATE UNIQUE INDEX IF NOT EXISTS dead_letters_pair_payload_sha256_key
	ON dead_letters (pair, payload_sha256)`,
}

// migratePostgres creates the schema or migrates QuFLX's, in one transaction holding an
// advisory lock, so concurrent Opens wait for each other and a failure changes nothing.
//
// From QuFLX's schema it adds timestamp_us (backfilled as timestamp * 1e6, then NOT NULL)
// and open_us/close_us, drops every unique constraint or index whose columns are exactly
// (pair, timestamp) whatever its name, creates the new key, and widens pair to varchar(64).
// QuFLX readers keep working; QuFLX's own writer does not, as its ON CONFLICT (pair,
// timestamp) no longer has a matching key (it was the bug).
func migratePostgres(ctx context.Context, pool *pgxpool.Pool) error {
	// A current schema needs no lock and no transaction.
	var version int
	if err := pool.QueryRow(ctx, `SELECT COALESCE((SELECT MAX(version) FROM quflx_schema_version), 0)`).Scan(&version); err == nil && version >= schemaVersion {
		return nil
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("store: migrate postgres: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, schemaLockKey); err != nil {
		return fmt.Errorf("store: migrate postgres: lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS quflx_schema_version (
		version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("store: migrate postgres: version table: %w", err)
	}
	if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM quflx_schema_version`).Scan(&version); err != nil {
		return fmt.Errorf("store: migrate postgres: read version: %w", err)
	}
	if version < 1 {
		if err := migratePostgresTicks(ctx, tx); err != nil {
			return fmt.Errorf("store: migrate postgres: historical_ticks: %w", err)
		}
		if err := migratePostgresCandles(ctx, tx); err != nil {
			return fmt.Errorf("store: migrate postgres: candles: %w", err)
		}
		for _, stmt := range []string{postgresSchema.deadLetters, postgresSchema.deadLettersKey} {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("store: migrate postgres: dead_letters: %w", err)
			}
		}
	}
	if version < 2 {
		for _, stmt := range postgresV2 {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("store: migrate postgres to version 2: %.60s: %w", stmt, err)
			}
		}
	}
	if version < schemaVersion {
		if _, err := tx.Exec(ctx, `INSERT INTO quflx_schema_version (version) VALUES ($1)`, schemaVersion); err != nil {
			return fmt.Errorf("store: migrate postgres: record version: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("store: migrate postgres: commit: %w", err)
	}
	return nil
}

// postgresV2 counts dead-letter occurrences and records each flusher claim's progress.
var postgresV2 = []string{
	`ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS occurrences bigint NOT NULL DEFAULT 1`,
	`ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS first_seen timestamptz`,
	`ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS last_seen timestamptz`,
	`UPDATE dead_letters SET first_seen = created_at WHERE first_seen IS NULL`,
	`UPDATE dead_letters SET last_seen = created_at WHERE last_seen IS NULL`,
	`CREATE TABLE IF NOT EXISTS quflx_claim_progress (
	claim_id text PRIMARY KEY,
	committed bigint NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT now()
)`,
	`CREATE INDEX IF NOT EXISTS quflx_claim_progress_updated_at ON quflx_claim_progress (updated_at)`,
}

func migratePostgresTicks(ctx context.Context, tx pgx.Tx) error {
	steps := []string{
		postgresSchema.ticks,
		`ALTER TABLE historical_ticks ADD COLUMN IF NOT EXISTS timestamp_us bigint`,
		`UPDATE historical_ticks SET timestamp_us = "timestamp" * 1000000 WHERE timestamp_us IS NULL`,
		// NULLs are distinct in a unique index: a NULL timestamp_us would escape the key.
		`ALTER TABLE historical_ticks ALTER COLUMN timestamp_us SET NOT NULL`,
	}
	for _, s := range steps {
		if _, err := tx.Exec(ctx, s); err != nil {
			return fmt.Errorf("%.60s: %w", s, err)
		}
	}
	if err := widenPair(ctx, tx, "historical_ticks"); err != nil {
		return err
	}
	legacy, err := postgresUniqueIndexes(ctx, tx, "historical_ticks", "pair", "timestamp")
	if err != nil {
		return err
	}
	for _, ix := range legacy {
		drop := `DROP INDEX ` + ix.index // regclass text: already quoted and qualified as needed
		if ix.constraint != "" {
			drop = `ALTER TABLE historical_ticks DROP CONSTRAINT ` + quoteIdent(ix.constraint)
		}
		if _, err := tx.Exec(ctx, drop); err != nil {
			return fmt.Errorf("drop legacy key %s: %w", ix.index, err)
		}
	}
	var haveKey bool
	if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, ticksKeyIndex).Scan(&haveKey); err != nil {
		return err
	}
	if !haveKey {
		// Rows equal under the new key are the same tick stored twice (only possible in a
		// table that had no whole-second key): keep the first.
		if _, err := tx.Exec(ctx, `DELETE FROM historical_ticks a USING historical_ticks b
			WHERE a.pair = b.pair AND a.timestamp_us = b.timestamp_us AND a.price = b.price
			AND a.ctid > b.ctid`); err != nil {
			return fmt.Errorf("drop exact duplicates: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE UNIQUE INDEX `+ticksKeyIndex+
			` ON historical_ticks (pair, timestamp_us, price)`); err != nil {
			return fmt.Errorf("create key: %w", err)
		}
	}
	return nil
}

func migratePostgresCandles(ctx context.Context, tx pgx.Tx) error {
	for _, s := range []string{
		postgresSchema.candles,
		`ALTER TABLE candles ADD COLUMN IF NOT EXISTS open_us bigint`,
		`ALTER TABLE candles ADD COLUMN IF NOT EXISTS close_us bigint`,
	} {
		if _, err := tx.Exec(ctx, s); err != nil {
			return fmt.Errorf("%.60s: %w", s, err)
		}
	}
	if err := widenPair(ctx, tx, "candles"); err != nil {
		return err
	}
	keys, err := postgresUniqueIndexes(ctx, tx, "candles", "pair", "timeframe", "timestamp")
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		if _, err := tx.Exec(ctx, `CREATE UNIQUE INDEX candles_pair_timeframe_timestamp_key
			ON candles (pair, timeframe, "timestamp")`); err != nil {
			return fmt.Errorf("create key: %w", err)
		}
	}
	return nil
}

// widenPair makes table.pair at least varchar(64); unbounded varchar and text stay as they
// are. Lengthening a varchar changes only the catalog, no rewrite.
func widenPair(ctx context.Context, tx pgx.Tx, table string) error {
	var typmod int32
	err := tx.QueryRow(ctx, `SELECT atttypmod FROM pg_attribute
		WHERE attrelid = $1::regclass AND attname = 'pair' AND atttypid = 'varchar'::regtype AND NOT attisdropped`,
		table).Scan(&typmod)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("type of %s.pair: %w", table, err)
	}
	const varlenHeader = 4 // typmod of varchar(n) is n + 4; -1 when unbounded
	if typmod < 0 || typmod-varlenHeader >= maxAssetLen {
		return nil
	}
	if _, err := tx.Exec(ctx, `ALTER TABLE `+quoteIdent(table)+` ALTER COLUMN pair TYPE varchar(64)`); err != nil {
		return fmt.Errorf("widen %s.pair: %w", table, err)
	}
	return nil
}

type postgresIndex struct {
	index      string // regclass text
	constraint string // the constraint owning the index, if any
}

// postgresUniqueIndexes finds the unique indexes of table whose columns are exactly cols, in
// any order: a key is recognised by what it covers, not by a guessed name.
func postgresUniqueIndexes(ctx context.Context, tx pgx.Tx, table string, cols ...string) ([]postgresIndex, error) {
	want := slices.Clone(cols)
	slices.Sort(want)
	rows, err := tx.Query(ctx, `SELECT i.indexrelid::regclass::text, COALESCE(con.conname::text, '')
		FROM pg_index i
		LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid
			AND con.contype IN ('u', 'p')
		WHERE i.indrelid = $1::regclass AND i.indisunique AND i.indexprs IS NULL AND i.indnatts = $2
			AND (SELECT array_agg(a.attname::text ORDER BY a.attname::text) FROM pg_attribute a
				WHERE a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)) = $3::text[]`,
		table, len(want), want)
	if err != nil {
		return nil, fmt.Errorf("unique keys of %s: %w", table, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (postgresIndex, error) {
		var ix postgresIndex
		err := r.Scan(&ix.index, &ix.constraint)
		return ix, err
	})
	if err != nil {
		return nil, fmt.Errorf("unique keys of %s: %w", table, err)
	}
	return out, nil
}
