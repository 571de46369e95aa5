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
	// opTimeout bounds each operation of a request (SetOperationTimeout).
	opTimeout time.Duration
	// health refuses the operations of requests at once while the database does not answer.
	health health
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
	s.health.stays = dialect == DialectSQLite
	if err := db.Use(&s.health); err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("store: open %s: %w", dialect, err)
	}
	s.SetOperationTimeout(DefaultOperationTimeout)
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
	ctx, cancel := s.bound(ctx)
	defer cancel()
	defer s.health.probing()()
	sqlDB, err := s.db.DB()
	if err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	err = sqlDB.PingContext(ctx)
	s.health.observe(err)
	if err != nil {
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

// SQLDB returns the connection pool, for metrics; nil if there is none.
func (s *Store) SQLDB() *sql.DB {
	sqlDB, err := s.db.DB()
	if err != nil {
		return nil
	}
	return sqlDB
}

// DBStats reports the connection pool, for metrics.
func (s *Store) DBStats() sql.DBStats {
	sqlDB, err := s.db.DB()
	if err != nil {
		return sql.DBStats{}
	}
	return sqlDB.Stats()
}
