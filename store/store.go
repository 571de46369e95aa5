// Package store is the data layer of appreg: the GORM models of registered applications and
// their secrets, the queries and transactions the service needs, and the embedded SQL
// migrations. It runs on PostgreSQL (production, any number of replicas) and on an embedded
// SQLite file (development, single process).
//
// The package knows nothing of HTTP or of the generated API types. It returns the sentinels
// ErrNotFound, ErrConflict and ErrIdempotencyKeyExists (test with errors.Is) and otherwise
// wrapped driver errors.
//
// Every write of an application also writes, in its own transaction, what follows from it: a
// change row for the lookup caches (Changes), one audit event (ListEvents) and one outbox
// message to the application's contacts (ClaimOutbox). A write that rolls back leaves none of
// them; a committed one leaves all of them.
//
// Listings filter by type, state and a search (ListQuery) and keep their (created_time, id)
// order, so keyset paging works through filtered results as through whole ones. Indexes serve
// the filters that can be rare: applications_tenant_type_idx for a type, and partial indexes
// for the disabled and the pending-deletion states. A search is a
// substring match on the name (or a prefix of the id), which no B-tree serves: it filters the
// rows the tenant's index reads in list order, so a page costs the applications read until it
// is full, and a search that matches little reads the whole tenant (BenchmarkFilteredListing:
// about 20 ms at 10,000 applications on PostgreSQL). A trigram index (pg_trgm) is the next
// step should that be too slow; it is left out because it needs an extension, and for common
// searches PostgreSQL must still choose the ordered scan over it.
//
// Application.SecretExpiresTime, the earliest expiry among an application's secrets, is a
// column of the application that the store derives from the secrets on every write of them
// (CreateApplication, and UpdateApplication, which holds the secrets under the row lock
// already), in the same transaction. A join or subquery over the secrets would cost every
// listing; the column costs a listing nothing, and the version every update moves keeps the
// list cache's states (Listed) right. Written by a binary older than migration 0005 (during a
// rolling upgrade), the column is stale until the application's next write.
//
// Every time it writes is converted to UTC and truncated to microseconds first, because
// PostgreSQL keeps microseconds and SQLite compares times as text: a time written is Equal
// to the one read back, and comparisons order correctly on both.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Dialect names returned by Store.Dialect.
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
)

// sqliteParams are appended to every SQLite DSN. _txlock=immediate makes every transaction
// take the write lock when it begins: writers queue on busy_timeout instead of failing with
// SQLITE_BUSY when a read lock cannot be upgraded, and a read-modify-write transaction is
// serialised like SELECT ... FOR UPDATE on PostgreSQL. WAL lets plain reads run while a write
// transaction is open in another connection.
const sqliteParams = "_pragma=busy_timeout(15000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_txlock=immediate"

// Store is the data layer over one database. It is safe for concurrent use.
type Store struct {
	db      *gorm.DB
	dialect string
	reads   readCoalescer // GetApplication's
}

// Open connects to the database named by url and checks that it answers. url is either a
// PostgreSQL URL ("postgres://..." or "postgresql://...") or an SQLite file: "sqlite:<path>",
// "sqlite://<path>" or a plain path. The parent directory of an SQLite file is created if
// missing. Open does not migrate: call Migrate.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg := &gorm.Config{
		Logger:               logger.Discard,
		NowFunc:              now,
		DisableAutomaticPing: true, // Open pings below, with ctx.
		// Writes that must be atomic run in explicit transactions (s.transaction);
		// wrapping every single statement in one more would only add round trips.
		SkipDefaultTransaction: true,
	}

	var (
		dialector gorm.Dialector
		dialect   string
	)
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		dialect = DialectPostgres
		dialector = postgres.Open(url)
	default:
		dialect = DialectSQLite
		dsn, err := sqliteDSN(url)
		if err != nil {
			return nil, err
		}
		dialector = sqlite.Open(dsn)
	}

	db, err := gorm.Open(dialector, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dialect, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dialect, err)
	}
	switch dialect {
	case DialectPostgres:
		// As many idle as open: under load a smaller idle pool closes and
		// reopens connections (a TCP and auth handshake each) all the time.
		sqlDB.SetMaxOpenConns(DefaultPostgresConns)
		sqlDB.SetMaxIdleConns(DefaultPostgresConns)
		sqlDB.SetConnMaxLifetime(30 * time.Minute)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	case DialectSQLite:
		// Several connections, so reads proceed while a write transaction is open; writers
		// are serialised by SQLite itself (see sqliteParams).
		sqlDB.SetMaxOpenConns(8)
		sqlDB.SetMaxIdleConns(8)
	}

	s := &Store{db: db, dialect: dialect}
	s.reads.lanes, s.reads.query = readLanes, s.applicationsByID
	if err := s.Ping(ctx); err != nil {
		_ = sqlDB.Close()
		return nil, err
	}
	return s, nil
}

// sqliteDSN turns the SQLite forms Open accepts into a glebarez DSN with the store's
// pragmas, creating the file's directory.
func sqliteDSN(url string) (string, error) {
	path := url
	for _, prefix := range []string{"sqlite://", "sqlite3://", "sqlite:", "sqlite3:"} {
		if strings.HasPrefix(path, prefix) {
			path = strings.TrimPrefix(path, prefix)
			break
		}
	}
	file, query, _ := strings.Cut(path, "?")
	if file == "" {
		return "", errors.New("store: open sqlite: empty file path")
	}
	if file == ":memory:" || strings.Contains(query, "mode=memory") {
		// Every pooled connection would see its own empty database.
		return "", errors.New("store: open sqlite: in-memory databases are not supported; use a file")
	}
	if !strings.HasPrefix(file, "file:") {
		if err := os.MkdirAll(filepath.Dir(file), 0o750); err != nil {
			return "", fmt.Errorf("store: open sqlite: %w", err)
		}
	}
	if query != "" {
		query += "&"
	}
	return file + "?" + query + sqliteParams, nil
}

// DefaultPostgresConns is the PostgreSQL connection pool's size unless SetMaxConns changes it.
const DefaultPostgresConns = 20

// SetMaxConns sets how many PostgreSQL connections the store opens at most, all of which it
// keeps open when idle. It does nothing on SQLite, whose pool size is fixed by its locking.
func (s *Store) SetMaxConns(n int) {
	if s.dialect != DialectPostgres || n <= 0 {
		return
	}
	if sqlDB, err := s.db.DB(); err == nil {
		sqlDB.SetMaxOpenConns(n)
		sqlDB.SetMaxIdleConns(n)
	}
}

// Close closes every connection.
func (s *Store) Close() error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	if err := sqlDB.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// Dialect is DialectSQLite or DialectPostgres.
func (s *Store) Dialect() string { return s.dialect }

// DB is the underlying GORM handle, for tests and for extensions of the store.
func (s *Store) DB() *gorm.DB { return s.db }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping %s: %w", s.dialect, err)
	}
	return nil
}

// now is the store's clock: UTC, truncated to what PostgreSQL keeps.
func now() time.Time { return normTime(time.Now()) }

// normTime is t as the store writes it.
func normTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// normTimePtr is normTime for optional times.
func normTimePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	n := normTime(*t)
	return &n
}

// nowOr is t normalised, or the store's clock when t is zero, so that a caller forgetting
// "now" never makes due applications visible again.
func nowOr(t time.Time) time.Time {
	if t.IsZero() {
		return now()
	}
	return normTime(t)
}

// DBStats reports the connection pool, for metrics.
func (s *Store) DBStats() sql.DBStats {
	sqlDB, err := s.db.DB()
	if err != nil {
		return sql.DBStats{}
	}
	return sqlDB.Stats()
}
