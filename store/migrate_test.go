package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/quflx/quflx-tui/model"
	"github.com/quflx/quflx-tui/store"
	"github.com/quflx/quflx-tui/store/storetest"
)

// legacySchemas are QuFLX's tables as its own code creates them, with the whole-second key
// either as a table constraint or as a separate unique index, under names no code guesses.
var legacySchemas = map[string]map[string]string{
	"postgres": {
		"constraint": `CREATE TABLE historical_ticks (id bigserial PRIMARY KEY, pair varchar(20), price decimal(20,10),
				"timestamp" bigint, created_at timestamptz DEFAULT now(),
				CONSTRAINT odd_legacy_name UNIQUE (pair, "timestamp"))`,
		"index": `CREATE TABLE historical_ticks (id bigserial PRIMARY KEY, pair varchar(20), price decimal(20,10),
				"timestamp" bigint, created_at timestamptz DEFAULT now());
			CREATE UNIQUE INDEX another_odd_name ON historical_ticks ("timestamp", pair)`,
		"candles": `CREATE TABLE candles (id bigserial PRIMARY KEY, pair varchar(20), timeframe varchar(10),
				open_price decimal(20,10), high_price decimal(20,10), low_price decimal(20,10), close_price decimal(20,10),
				volume bigint, "timestamp" bigint, created_at timestamptz DEFAULT now(),
				UNIQUE (pair, timeframe, "timestamp"))`,
	},
	"sqlite": {
		"constraint": `CREATE TABLE historical_ticks (id INTEGER PRIMARY KEY AUTOINCREMENT, pair VARCHAR(20), price DECIMAL(20,10),
				"timestamp" INTEGER, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, UNIQUE (pair, "timestamp"));
			CREATE INDEX legacy_pair_idx ON historical_ticks (pair);
			CREATE VIEW legacy_view AS SELECT pair, price FROM historical_ticks`,
		"index": `CREATE TABLE historical_ticks (id INTEGER PRIMARY KEY AUTOINCREMENT, pair VARCHAR(20), price DECIMAL(20,10),
				"timestamp" INTEGER, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
			CREATE UNIQUE INDEX another_odd_name ON historical_ticks ("timestamp", pair);
			CREATE VIEW legacy_view AS SELECT pair, price FROM historical_ticks`,
		"candles": `CREATE TABLE candles (id INTEGER PRIMARY KEY AUTOINCREMENT, pair VARCHAR(20), timeframe VARCHAR(10),
				open_price DECIMAL(20,10), high_price DECIMAL(20,10), low_price DECIMAL(20,10), close_price DECIMAL(20,10),
				volume BIGINT, "timestamp" BIGINT, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
				UNIQUE (pair, timeframe, "timestamp"))`,
	},
}

var legacyRows = fmt.Sprintf(`INSERT INTO historical_ticks (pair, price, "timestamp") VALUES
		('EURUSD_otc', 1.1, %[1]d), ('EURUSD_otc', 1.2, %[1]d + 1), ('EURUSD_otc', 1.3, %[1]d + 61);
	INSERT INTO candles (pair, timeframe, open_price, high_price, low_price, close_price, volume, "timestamp") VALUES
		('EURUSD_otc', '1m', 1.1, 1.2, 1.1, 1.2, 2, %[1]d),
		('EURUSD_otc', '1M', 1.3, 1.3, 1.3, 1.3, 1, %[1]d + 60)`, t0)

func TestMigrateLegacySchema(t *testing.T) {
	for _, variant := range []string{"constraint", "index"} {
		t.Run(variant, func(t *testing.T) {
			eachBackend(t, func(t *testing.T, be backend) {
				dsn := be.fresh(t)
				for _, ddl := range []string{legacySchemas[be.name][variant], legacySchemas[be.name]["candles"], legacyRows} {
					for _, stmt := range strings.Split(ddl, ";\n") {
						be.exec(t, dsn, stmt)
					}
				}
				s := openStore(t, dsn)
				checkMigrated(t, be, dsn, s)

				// Opening a migrated database again changes nothing.
				again := openStore(t, dsn)
				if n := countTicks(t, again, ""); n != 7 {
					t.Errorf("after reopening: %d ticks, want 7", n)
				}
				if v := be.queryInt(t, dsn, `SELECT COUNT(*) FROM quflx_schema_version`); v != 1 {
					t.Errorf("schema version rows = %d", v)
				}
				if be.name == "sqlite" {
					if n := be.queryInt(t, dsn, `SELECT COUNT(*) FROM legacy_view`); n != 7 {
						t.Errorf("legacy view sees %d rows, want 7", n)
					}
					if variant == "constraint" {
						if n := be.queryInt(t, dsn, `SELECT COUNT(*) FROM sqlite_master WHERE name = 'legacy_pair_idx'`); n != 1 {
							t.Error("the rebuild lost the legacy index on pair")
						}
					}
				}
			})
		})
	}
}

func checkMigrated(t *testing.T, be backend, dsn string, s store.Store) {
	t.Helper()
	if n := countTicks(t, s, "EURUSD_otc"); n != 3 {
		t.Fatalf("migrated store has %d ticks, want the 3 legacy ones", n)
	}
	if n := be.queryInt(t, dsn, `SELECT COUNT(*) FROM historical_ticks WHERE timestamp_us = "timestamp" * 1000000`); n != 3 {
		t.Errorf("%d legacy rows have timestamp_us backfilled, want 3", n)
	}
	// A legacy tick resent is a duplicate; two more ticks in its second are both new (the
	// whole-second key would have dropped them).
	res := write(t, s, store.Batch{Ticks: []model.Tick{tick("EURUSD_otc", 1, 1.2), tick("EURUSD_otc", 1.25, 1.25), tick("EURUSD_otc", 1.75, 1.27)}})
	if res.Inserted != 2 || res.Duplicates != 1 {
		t.Fatalf("Write after migration = %+v, want 2 inserted, 1 duplicate", res)
	}
	if n := be.queryInt(t, dsn, fmt.Sprintf(`SELECT COUNT(*) FROM historical_ticks WHERE "timestamp" = %d`, t0+1)); n != 3 {
		t.Errorf("QuFLX's timestamp column: %d rows in second t0+1, want 3", n)
	}
	// The legacy '1m' row keeps its open and takes the newer close; the legacy '1M' row
	// merges with the new '1m' row of its minute.
	write(t, s, store.Batch{Ticks: []model.Tick{tick("EURUSD_otc", 70, 1.35)}})
	want := []model.Candle{
		{Start: t0, Open: 1.1, High: 1.27, Low: 1.1, Close: 1.27, Volume: 4},
		{Start: t0 + 60, Open: 1.3, High: 1.35, Low: 1.3, Close: 1.35, Volume: 2},
	}
	diffCandles(t, "migrated candles", candles(t, s, "EURUSD_otc", model.TF1m, 10), want)
	// pair was varchar(20): a longer asset name fits now.
	long := "A_forty_byte_asset_name_for_the_column_"
	if res := write(t, s, store.Batch{Ticks: []model.Tick{tick(long, 1, 1.5)}}); res.Inserted != 1 {
		t.Errorf("long asset: %+v", res)
	}
}

func TestSQLiteRefusesLegacyTableWithUnknownColumns(t *testing.T) {
	dsn := storetest.SQLiteDSN(t)
	sqliteExec(t, dsn, `CREATE TABLE historical_ticks (id INTEGER PRIMARY KEY, pair VARCHAR(20), price DECIMAL(20,10),
		"timestamp" INTEGER, source TEXT, UNIQUE (pair, "timestamp"))`)
	sqliteExec(t, dsn, `INSERT INTO historical_ticks (pair, price, "timestamp", source) VALUES ('A', 1.1, 1, 'feed')`)
	_, err := store.Open(context.Background(), dsn)
	if err == nil || !strings.Contains(err.Error(), `"source"`) {
		t.Fatalf("Open: err = %v, want a refusal naming the column", err)
	}
	// The failed migration rolled back: the table is as it was.
	if n := sqliteQueryInt(t, dsn, `SELECT COUNT(*) FROM pragma_table_info('historical_ticks') WHERE name = 'timestamp_us'`); n != 0 {
		t.Error("a failed migration left timestamp_us behind")
	}
	if n := sqliteQueryInt(t, dsn, `SELECT COUNT(*) FROM sqlite_master WHERE name = 'quflx_schema_version'`); n != 0 {
		t.Error("a failed migration left the version table behind")
	}
}

func TestPostgresMigrationWidensPair(t *testing.T) {
	dsn := storetest.PostgresURL(t)
	postgresExec(t, dsn, legacySchemas["postgres"]["constraint"])
	postgresExec(t, dsn, legacySchemas["postgres"]["candles"])
	openStore(t, dsn)
	for _, table := range []string{"historical_ticks", "candles"} {
		n := postgresQueryInt(t, dsn, `SELECT character_maximum_length FROM information_schema.columns
			WHERE table_name = '`+table+`' AND column_name = 'pair'`)
		if n != 64 {
			t.Errorf("%s.pair is varchar(%d), want 64", table, n)
		}
	}
	if n := postgresQueryInt(t, dsn, `SELECT COUNT(*) FROM pg_constraint WHERE conname = 'odd_legacy_name'`); n != 0 {
		t.Error("the legacy UNIQUE (pair, timestamp) constraint survived")
	}
}
