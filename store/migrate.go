package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
)

// migrationsFS holds one directory of numbered SQL files per dialect:
// migrations/<dialect>/<version>_<name>.sql. Files are never edited once released; a change
// is a new file.
//
//go:embed migrations
var migrationsFS embed.FS

// migrateLockKey is the PostgreSQL advisory lock that serialises Migrate across replicas
// ("appreg" in ASCII).
const migrateLockKey int64 = 0x617070726567

// migration is one embedded SQL file.
type migration struct {
	version int64
	name    string
	sql     string
}

// schemaMigration is a row of schema_migrations: one per applied migration.
type schemaMigration struct {
	Version     int64     `gorm:"column:version;primaryKey;autoIncrement:false"`
	AppliedTime time.Time `gorm:"column:applied_time"`
}

// TableName is the table of schemaMigration rows.
func (schemaMigration) TableName() string { return "schema_migrations" }

// createSchemaMigrations is the bookkeeping table, created by Migrate itself.
var createSchemaMigrations = map[string]string{
	DialectPostgres: `CREATE TABLE IF NOT EXISTS schema_migrations (
    version      bigint      PRIMARY KEY,
    applied_time timestamptz NOT NULL
)`,
	DialectSQLite: `CREATE TABLE IF NOT EXISTS schema_migrations (
    version      INTEGER  NOT NULL PRIMARY KEY,
    applied_time DATETIME NOT NULL
)`,
}

// loadMigrations reads the dialect's migrations in version order.
func loadMigrations(dialect string) ([]migration, error) {
	dir := path.Join("migrations", dialect)
	entries, err := fs.ReadDir(migrationsFS, dir)
	if err != nil {
		return nil, fmt.Errorf("store: migrations: %w", err)
	}
	var migs []migration
	seen := map[int64]string{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		prefix, _, ok := strings.Cut(e.Name(), "_")
		version, err := strconv.ParseInt(prefix, 10, 64)
		if !ok || err != nil || version <= 0 {
			return nil, fmt.Errorf("store: migrations: %s: name is not <version>_<name>.sql", e.Name())
		}
		if other, dup := seen[version]; dup {
			return nil, fmt.Errorf("store: migrations: %s and %s share version %d", other, e.Name(), version)
		}
		seen[version] = e.Name()
		body, err := fs.ReadFile(migrationsFS, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("store: migrations: %w", err)
		}
		migs = append(migs, migration{version: version, name: e.Name(), sql: string(body)})
	}
	sort.Slice(migs, func(i, j int) bool { return migs[i].version < migs[j].version })
	return migs, nil
}

// Migrate applies the pending embedded migrations in version order, each in its own
// transaction together with its schema_migrations row, so a failed migration leaves nothing
// behind. It is idempotent and safe to run from several processes at once: on PostgreSQL each
// transaction first takes a transaction-scoped advisory lock (pg_advisory_xact_lock, released
// by commit or rollback, so a dropped connection cannot leave it held) and re-checks the
// version under it; on SQLite every transaction holds the write lock from its start.
func (s *Store) Migrate(ctx context.Context) error {
	migs, err := loadMigrations(s.dialect)
	if err != nil {
		return err
	}
	err = s.transaction(ctx, func(tx *gorm.DB) error {
		if err := s.lockMigrations(tx); err != nil {
			return err
		}
		return tx.Exec(createSchemaMigrations[s.dialect]).Error
	})
	if err != nil {
		return translate("migrate: create schema_migrations", err)
	}
	applied, err := s.appliedMigrations(ctx)
	if err != nil {
		return err
	}
	for _, m := range migs {
		if applied[m.version] {
			continue
		}
		err := s.transaction(ctx, func(tx *gorm.DB) error {
			if err := s.lockMigrations(tx); err != nil {
				return err
			}
			var n int64
			if err := tx.Model(&schemaMigration{}).Where("version = ?", m.version).Count(&n).Error; err != nil {
				return err
			}
			if n > 0 {
				return nil // another process applied it meanwhile
			}
			// Straight to the driver: gorm would read '?' and '@' in the SQL as placeholders.
			if _, err := tx.Statement.ConnPool.ExecContext(ctx, m.sql); err != nil {
				return err
			}
			return tx.Create(&schemaMigration{Version: m.version, AppliedTime: now()}).Error
		})
		if err != nil {
			return translate("migrate "+s.dialect+"/"+m.name, err)
		}
	}
	return nil
}

// lockMigrations serialises migration transactions across PostgreSQL sessions until tx ends.
// SQLite needs nothing: its transactions begin with the write lock (_txlock=immediate).
func (s *Store) lockMigrations(tx *gorm.DB) error {
	if s.dialect != DialectPostgres {
		return nil
	}
	return tx.Exec("SELECT pg_advisory_xact_lock(?)", migrateLockKey).Error
}

// appliedMigrations is the set of versions recorded in schema_migrations; empty when the table
// does not exist yet.
func (s *Store) appliedMigrations(ctx context.Context) (map[int64]bool, error) {
	db := s.db.WithContext(ctx)
	// Not Migrator().HasTable: it turns a database error into "no table".
	exists := "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
	if s.dialect == DialectPostgres {
		exists = "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'schema_migrations'"
	}
	var n int64
	if err := db.Raw(exists).Scan(&n).Error; err != nil {
		return nil, translate("read schema_migrations", err)
	}
	if n == 0 {
		return map[int64]bool{}, nil
	}
	var versions []int64
	if err := db.Model(&schemaMigration{}).Pluck("version", &versions).Error; err != nil {
		return nil, translate("read schema_migrations", err)
	}
	applied := make(map[int64]bool, len(versions))
	for _, v := range versions {
		applied[v] = true
	}
	return applied, nil
}

// MigrationsPending reports whether an embedded migration has not been applied yet, for
// readiness checks: a replica should not serve before the schema it expects exists. Versions
// applied by a newer binary and unknown to this one do not count.
func (s *Store) MigrationsPending(ctx context.Context) (bool, error) {
	migs, err := loadMigrations(s.dialect)
	if err != nil {
		return false, err
	}
	applied, err := s.appliedMigrations(ctx)
	if err != nil {
		return false, err
	}
	for _, m := range migs {
		if !applied[m.version] {
			return true, nil
		}
	}
	return false, nil
}

// transaction runs fn in one transaction bound to ctx: committed if fn returns nil, rolled
// back otherwise (also on panic). Its BEGIN and COMMIT bypass GORM's callbacks, so health
// observes its outcome here.
func (s *Store) transaction(ctx context.Context, fn func(tx *gorm.DB) error) error {
	err := s.db.WithContext(ctx).Transaction(fn)
	s.health.observe(err)
	return err
}
