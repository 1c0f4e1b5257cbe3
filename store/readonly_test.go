package store_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/store"
	"github.com/quflx/quflx-tui/store/storetest"
)

// postgresSignature is a PostgreSQL database's schema and data, to compare before and after.
const postgresSignature = `SELECT string_agg(x, E'\n' ORDER BY x) FROM (
	SELECT format('column %s.%s %s %s %s', table_name, column_name, data_type, character_maximum_length, is_nullable) AS x
		FROM information_schema.columns WHERE table_schema = 'public'
	UNION ALL SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public'
	UNION ALL SELECT 'constraint ' || conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
		WHERE connamespace = 'public'::regnamespace
	UNION ALL SELECT 'ticks ' || md5(string_agg(t::text, ',' ORDER BY t::text)) FROM historical_ticks t
	UNION ALL SELECT 'candles ' || md5(string_agg(c::text, ',' ORDER BY c::text)) FROM candles c) s`

// A dashboard given --store reads QuFLX's own store as it is: no migration, no write, the
// schema and data byte for byte as they were (the flusher's migration once ran here and
// dropped QuFLX's key, so QuFLX's own inserts failed). A write is not even expressible.
func TestReadOnlyStoreLeavesALegacySchemaUntouched(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			var dsn string
			var signature func() string
			if kind == "sqlite" {
				dir := t.TempDir()
				dsn = "sqlite:" + filepath.Join(dir, "legacy.db")
				signature = func() string { return dirSignature(t, dir) }
				for _, ddl := range []string{legacySchemas["sqlite"]["constraint"], legacySchemas["sqlite"]["candles"], legacyRows} {
					sqliteExec(t, dsn, ddl)
				}
			} else {
				dsn = storetest.PostgresURL(t)
				signature = func() string { return postgresQueryText(t, dsn, postgresSignature) }
				for _, ddl := range []string{legacySchemas["postgres"]["constraint"], legacySchemas["postgres"]["candles"], legacyRows} {
					postgresExec(t, dsn, ddl)
				}
			}
			before := signature()
			r, err := store.OpenReadOnly(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			if _, canWrite := r.(store.Store); canWrite {
				t.Fatal("a read-only store offers Write")
			}
			got, err := r.Candles(ctx, "EURUSD_otc", model.TF1m, 10)
			if err != nil || len(got) != 2 || got[0].Open != 1.1 || got[1].Close != 1.3 {
				t.Fatalf("legacy candles read as %+v, %v", got, err)
			}
			if n, err := r.CountTicks(ctx, ""); err != nil || n != 3 {
				t.Fatalf("CountTicks = %d, %v", n, err)
			}
			if v := r.SchemaVersion(); v != 0 || !strings.Contains(r.Describe(), "read-only") {
				t.Fatalf("schema version %d, describe %q", v, r.Describe())
			}
			r.Close()
			if after := signature(); after != before {
				t.Fatalf("the store changed:\nbefore %s\nafter  %s", before, after)
			}
			// QuFLX's own writer still works: its key is where it was.
			insert := `INSERT INTO historical_ticks (pair, price, "timestamp") VALUES ('EURUSD_otc', 1.4, 1)
				ON CONFLICT (pair, "timestamp") DO NOTHING`
			if kind == "sqlite" {
				sqliteExec(t, dsn, insert)
			} else {
				postgresExec(t, dsn, insert)
			}
		})
	}
}

// A store that cannot be read as it is, or does not exist, is refused with what to do.
func TestReadOnlyStoreRefusals(t *testing.T) {
	ctx := context.Background()
	missing := "sqlite:" + filepath.Join(t.TempDir(), "none.db")
	if _, err := store.OpenReadOnly(ctx, missing); err == nil || !strings.Contains(err.Error(), "never created") {
		t.Fatalf("missing file: %v", err)
	}
	if _, err := os.Stat(strings.TrimPrefix(missing, "sqlite:")); err == nil {
		t.Fatal("opening a missing store read-only created it")
	}
	empty := storetest.SQLiteDSN(t)
	sqliteExec(t, empty, `CREATE TABLE unrelated (x)`)
	if _, err := store.OpenReadOnly(ctx, empty); err == nil || !strings.Contains(err.Error(), "quflx-tui migrate") {
		t.Fatalf("a store without candles: %v", err)
	}
	// A current store reads its version.
	current := storetest.SQLiteDSN(t)
	openStore(t, current)
	r, err := store.OpenReadOnly(ctx, current)
	if err != nil || r.SchemaVersion() != store.SchemaVersion {
		t.Fatalf("current store: %v, version %v", err, r)
	}
	r.Close()
}

// dirSignature hashes every file of a directory: a read-only open must not create a
// journal, a WAL or a shared-memory file either.
func dirSignature(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		parts = append(parts, e.Name()+" "+hex.EncodeToString(sum[:]))
	}
	slices.Sort(parts)
	return strings.Join(parts, "; ")
}

func postgresQueryText(t *testing.T, dsn, query string) string {
	t.Helper()
	conn := postgresConn(t, dsn)
	var s string
	if err := conn.QueryRow(context.Background(), query).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// The flusher's stores are in WAL mode. Opening one read-only while no writer has it open
// must create nothing (a -wal or -shm file owned by the dashboard's user once made the
// flusher fail with "attempt to write a readonly database"); opening one a writer has
// open reads through its files, and adds none.
func TestReadOnlyWALStoreCreatesNoFile(t *testing.T) {
	dir := t.TempDir()
	dsn := "sqlite:" + filepath.Join(dir, "q.db")
	ctx := context.Background()
	w, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	write(t, w, store.Batch{Ticks: sampleTicks()})
	w.Close()
	before := dirSignature(t, dir)
	if strings.Contains(before, "-wal") || strings.Contains(before, "-shm") {
		t.Fatalf("the writer left WAL files behind: %s", before)
	}
	r, err := store.OpenReadOnly(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := r.Candles(ctx, "EURUSD_otc", model.TF1m, 10); err != nil || len(got) == 0 {
		t.Fatalf("candles %v, %v", got, err)
	}
	r.Close()
	if after := dirSignature(t, dir); after != before {
		t.Fatalf("a read-only open changed the directory:\nbefore %s\nafter  %s", before, after)
	}

	// With a writer open, its -wal and -shm exist: the reader uses them and adds nothing.
	w = openStore(t, dsn)
	write(t, w, store.Batch{Ticks: []model.Tick{tick("EURUSD_otc", 500, 1.2)}})
	during := fileNames(t, dir)
	r, err = store.OpenReadOnly(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := r.CountTicks(ctx, ""); err != nil || n != 121 {
		t.Fatalf("CountTicks beside a writer = %d, %v", n, err)
	}
	r.Close()
	if names := fileNames(t, dir); names != during {
		t.Fatalf("files %s, was %s", names, during)
	}
}

func fileNames(t *testing.T, dir string) string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return strings.Join(names, " ")
}
