// Package storetest gives tests a fresh, migrated store on every dialect that is available:
// SQLite always, PostgreSQL when the server at APPREG_TEST_POSTGRES_URL answers.
//
// PostgreSQL databases are cheap: the migrations run once per test process into a template
// database, and each test gets CREATE DATABASE ... TEMPLATE, dropped in t.Cleanup. Databases
// are named appreg_t_<unix time>_<random>; those older than an hour, left by crashed runs,
// are dropped when a test process first connects. A package whose TestMain calls Main also
// drops its template database at exit.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver

	"github.com/cxone/appreg/store"
)

// EnvPostgresURL names the environment variable holding the admin URL of the test PostgreSQL
// server; the user must be allowed to create databases.
const EnvPostgresURL = "APPREG_TEST_POSTGRES_URL"

// DefaultPostgresURL is used when EnvPostgresURL is unset.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// dbPrefix starts the name of every database this package creates, and of no other.
const dbPrefix = "appreg_t_"

// staleAfter is the age after which a test database is assumed abandoned by a crashed run.
const staleAfter = time.Hour

var pg struct {
	connectOnce sync.Once
	admin       *sql.DB // connected to the admin URL's database
	adminURL    *url.URL
	connectErr  error

	templateOnce sync.Once
	template     string
	templateErr  error
}

// Dialects returns the dialects tests run on: always "sqlite"; "postgres" when reachable.
// When PostgreSQL is not reachable and CI=true, the test fails instead.
func Dialects(t testing.TB) []string {
	t.Helper()
	dialects := []string{store.DialectSQLite}
	if postgresAvailable(t) {
		dialects = append(dialects, store.DialectPostgres)
	}
	return dialects
}

// Open returns a migrated Store on a fresh database of dialect, closed (and on PostgreSQL
// dropped) in t.Cleanup. A test asking for PostgreSQL when it is not reachable is skipped, or
// fails when CI=true.
func Open(t testing.TB, dialect string) *store.Store {
	t.Helper()
	var dsn string
	switch dialect {
	case store.DialectSQLite:
		dsn = "sqlite:" + filepath.Join(t.TempDir(), "appreg.db")
	case store.DialectPostgres:
		dsn = PostgresURL(t)
	default:
		t.Fatalf("storetest: unknown dialect %q", dialect)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("storetest: %v", err)
		}
	})
	if dialect == store.DialectSQLite {
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("storetest: %v", err)
		}
	}
	return s
}

// PostgresURL returns the URL of a fresh, migrated, empty PostgreSQL database, dropped in
// t.Cleanup (with FORCE, so connections still open do not stop it), for tests that start a
// whole server or several replicas on one database. Skipped or failed like Open.
func PostgresURL(t testing.TB) string {
	t.Helper()
	if !postgresAvailable(t) {
		t.Skipf("PostgreSQL not reachable at %s: skipping (set %s)", adminURLString(), EnvPostgresURL)
	}
	tmpl, err := templateDatabase()
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	name := newDatabaseName()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := createDatabase(ctx, name, tmpl); err != nil {
		t.Fatalf("storetest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := dropDatabase(ctx, name); err != nil {
			t.Errorf("storetest: %v", err)
		}
	})
	return databaseURL(name)
}

// Main runs the tests of a package and then drops this process's template database. Call it
// from TestMain; without it the template is dropped by a later run once it is stale.
func Main(m *testing.M) {
	code := m.Run()
	if pg.template != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_ = dropDatabase(ctx, pg.template)
		cancel()
	}
	os.Exit(code)
}

// postgresAvailable connects once per process; on failure it fails t under CI=true and
// otherwise reports false.
func postgresAvailable(t testing.TB) bool {
	t.Helper()
	pg.connectOnce.Do(connect)
	if pg.connectErr == nil {
		return true
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("storetest: PostgreSQL not reachable at %s and CI=true: %v (set %s)",
			adminURLString(), pg.connectErr, EnvPostgresURL)
	}
	return false
}

func connect() {
	raw := os.Getenv(EnvPostgresURL)
	if raw == "" {
		raw = DefaultPostgresURL
	}
	u, err := url.Parse(raw)
	if err != nil {
		pg.connectErr = fmt.Errorf("parse %s: %w", EnvPostgresURL, err)
		return
	}
	q := u.Query()
	if q.Get("connect_timeout") == "" {
		q.Set("connect_timeout", "5")
		u.RawQuery = q.Encode()
	}
	pg.adminURL = u
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		pg.connectErr = err
		return
	}
	db.SetMaxOpenConns(4)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		pg.connectErr = err
		return
	}
	pg.admin = db
	dropStaleDatabases(ctx)
}

// dropStaleDatabases drops the test databases of earlier runs that are older than staleAfter,
// best effort: their names carry their creation time.
func dropStaleDatabases(ctx context.Context) {
	rows, err := pg.admin.QueryContext(ctx,
		`SELECT datname FROM pg_database WHERE datname LIKE 'appreg\_t\_%'`)
	if err != nil {
		return
	}
	var stale []string
	for rows.Next() {
		var name string
		if rows.Scan(&name) != nil {
			continue
		}
		ts, _, _ := strings.Cut(strings.TrimPrefix(name, dbPrefix), "_")
		created, err := strconv.ParseInt(ts, 10, 64)
		if err == nil && time.Since(time.Unix(created, 0)) > staleAfter {
			stale = append(stale, name)
		}
	}
	_ = rows.Close()
	for _, name := range stale {
		_ = dropDatabase(ctx, name)
	}
}

// templateDatabase creates and migrates this process's template database, once.
func templateDatabase() (string, error) {
	pg.templateOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		name := newDatabaseName() + "_tmpl"
		if err := createDatabase(ctx, name, ""); err != nil {
			pg.templateErr = err
			return
		}
		s, err := store.Open(ctx, databaseURL(name))
		if err != nil {
			pg.templateErr = err
			_ = dropDatabase(ctx, name)
			return
		}
		err = s.Migrate(ctx)
		// Closed before use: CREATE DATABASE ... TEMPLATE refuses a template with sessions.
		if cerr := s.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			pg.templateErr = fmt.Errorf("migrate template database %s: %w", name, err)
			_ = dropDatabase(ctx, name)
			return
		}
		pg.template = name
	})
	return pg.template, pg.templateErr
}

// createDatabase creates name, from template unless it is empty. It retries while the
// template is busy (SQLSTATE 55006), which concurrent test processes can briefly cause.
func createDatabase(ctx context.Context, name, template string) error {
	stmt := "CREATE DATABASE " + quoteIdent(name)
	if template != "" {
		stmt += " TEMPLATE " + quoteIdent(template)
	}
	for attempt := 0; ; attempt++ {
		_, err := pg.admin.ExecContext(ctx, stmt)
		var pgErr *pgconn.PgError
		if err == nil {
			return nil
		}
		if attempt >= 50 || !errors.As(err, &pgErr) || pgErr.Code != "55006" {
			return fmt.Errorf("create database %s: %w", name, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("create database %s: %w", name, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func dropDatabase(ctx context.Context, name string) error {
	if _, err := pg.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+quoteIdent(name)+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

// newDatabaseName is appreg_t_<unix seconds>_<12 random hex digits>.
func newDatabaseName() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return dbPrefix + strconv.FormatInt(time.Now().Unix(), 10) + "_" + hex.EncodeToString(b[:])
}

// databaseURL is the admin URL pointed at database name.
func databaseURL(name string) string {
	u := *pg.adminURL
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

func adminURLString() string {
	if pg.adminURL != nil {
		return pg.adminURL.Redacted()
	}
	if raw := os.Getenv(EnvPostgresURL); raw != "" {
		if u, err := url.Parse(raw); err == nil {
			return u.Redacted()
		}
		return EnvPostgresURL
	}
	return DefaultPostgresURL
}

func quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}
