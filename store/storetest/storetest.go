// Package storetest gives tests real, throwaway databases for package store: a fresh
// PostgreSQL database per test (created through an admin URL, dropped at cleanup) and a
// SQLite file in the test's temporary directory.
//
// PostgreSQL tests read the admin URL from QUFLX_PG_URL (a role that may CREATE DATABASE,
// e.g. postgres://quflx:quflx@127.0.0.1:5432/postgres). Without it they skip, unless
// QUFLX_REQUIRE_REAL=1, which makes a missing server a failure (for CI).
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvPostgresURL names the environment variable holding the admin URL.
const EnvPostgresURL = "QUFLX_PG_URL"

// EnvRequireReal names the environment variable that turns skips into failures.
const EnvRequireReal = "QUFLX_REQUIRE_REAL"

// AdminURL returns the PostgreSQL admin URL, skipping the test when it is not set (failing
// it when QUFLX_REQUIRE_REAL=1).
func AdminURL(tb testing.TB) string {
	tb.Helper()
	admin := os.Getenv(EnvPostgresURL)
	if admin == "" {
		if os.Getenv(EnvRequireReal) == "1" {
			tb.Fatal("QUFLX_REQUIRE_REAL=1 but QUFLX_PG_URL is not set")
		}
		tb.Skip("QUFLX_PG_URL is not set: skipping the PostgreSQL test")
	}
	return admin
}

// PostgresURL creates a fresh, uniquely named, empty database and returns its URL (the admin
// URL with the database name replaced). The database is dropped, connections and all, when
// the test ends.
func PostgresURL(tb testing.TB) string {
	tb.Helper()
	admin := AdminURL(tb)
	u, err := url.Parse(admin)
	if err != nil {
		tb.Fatalf("storetest: parse %s: %v", EnvPostgresURL, err)
	}
	var suffix [6]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		tb.Fatalf("storetest: random name: %v", err)
	}
	name := "quflx_test_" + hex.EncodeToString(suffix[:])

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := adminExec(ctx, admin, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("storetest: create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := adminExec(ctx, admin, `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`); err != nil {
			tb.Errorf("storetest: drop database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

func adminExec(ctx context.Context, admin, sql string) error {
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// SQLiteDSN returns a store DSN for a new SQLite file in the test's temporary directory.
func SQLiteDSN(tb testing.TB) string {
	tb.Helper()
	return "sqlite:" + SQLitePath(tb)
}

// SQLitePath returns the path of a new SQLite file in the test's temporary directory.
func SQLitePath(tb testing.TB) string {
	tb.Helper()
	return filepath.Join(tb.TempDir(), fmt.Sprintf("quflx-%d.db", time.Now().UnixNano()))
}

// AdminExec runs a statement through the admin URL (to take a test database down and
// up again, say).
func AdminExec(tb testing.TB, sql string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := adminExec(ctx, AdminURL(tb), sql); err != nil {
		tb.Fatalf("storetest: %s: %v", sql, err)
	}
}

// HostPort returns the host:port a PostgreSQL URL points at (to put a proxy before it).
func HostPort(tb testing.TB, dsn string) string {
	tb.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatalf("storetest: parse %s: %v", dsn, err)
	}
	if u.Port() == "" {
		return u.Hostname() + ":5432"
	}
	return u.Host
}

// WithHostPort returns dsn pointed at another host:port (a proxy in front of the server).
func WithHostPort(tb testing.TB, dsn, hostPort string) string {
	tb.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatalf("storetest: parse %s: %v", dsn, err)
	}
	u.Host = hostPort
	return u.String()
}
