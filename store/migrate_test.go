package store_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cxone/appreg/store"
	"github.com/cxone/appreg/store/storetest"
)

func TestMigrateIdempotent(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		for i := range 2 {
			if err := s.Migrate(ctx); err != nil {
				t.Fatalf("Migrate #%d: %v", i+2, err)
			}
		}
		pending, err := s.MigrationsPending(ctx)
		if err != nil || pending {
			t.Errorf("MigrationsPending = %v, %v; want false", pending, err)
		}
		var versions []int64
		if err := s.DB().WithContext(ctx).Table("schema_migrations").Order("version").Pluck("version", &versions).Error; err != nil {
			t.Fatal(err)
		}
		if len(versions) == 0 || versions[0] != 1 {
			t.Errorf("schema_migrations versions = %v", versions)
		}
	})
}

// TestConcurrentMigrate starts several stores migrating one empty database at once, as
// replicas starting together do.
func TestConcurrentMigrate(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var url string
			switch dialect {
			case store.DialectSQLite:
				url = filepath.Join(t.TempDir(), "concurrent.db")
			case store.DialectPostgres:
				// storetest's databases come migrated: empty this one first.
				url = storetest.PostgresURL(t)
				s, err := store.Open(ctx, url)
				if err != nil {
					t.Fatal(err)
				}
				err = s.DB().WithContext(ctx).Exec("DROP TABLE registration_counts, registration_access_tokens, initial_access_tokens, registration_policies, idempotency_records, outbox_messages, application_events, application_changes, application_origins, application_secrets, applications, schema_migrations").Error
				_ = s.Close()
				if err != nil {
					t.Fatal(err)
				}
			}

			const replicas = 4
			stores := make([]*store.Store, replicas)
			for i := range stores {
				s, err := store.Open(ctx, url)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = s.Close() })
				stores[i] = s
			}
			pending, err := stores[0].MigrationsPending(ctx)
			if err != nil || !pending {
				t.Fatalf("MigrationsPending on an empty database = %v, %v; want true", pending, err)
			}
			var wg sync.WaitGroup
			for _, s := range stores {
				wg.Go(func() {
					if err := s.Migrate(ctx); err != nil {
						t.Errorf("Migrate: %v", err)
					}
				})
			}
			wg.Wait()
			for _, s := range stores {
				if pending, err := s.MigrationsPending(ctx); err != nil || pending {
					t.Errorf("MigrationsPending after Migrate = %v, %v", pending, err)
				}
			}
			mustCreate(t, stores[0], newApp("after-migrate", "tenant-a", t0))
		})
	}
}

func TestOpenSQLite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cases := []struct {
		name string
		url  func() string
		file string
	}{
		{"sqlite: prefix, missing directories", func() string { return "sqlite:" + filepath.Join(dir, "a", "b", "x.db") }, filepath.Join(dir, "a", "b", "x.db")},
		{"sqlite:// prefix", func() string { return "sqlite://" + filepath.Join(dir, "y.db") }, filepath.Join(dir, "y.db")},
		{"plain path", func() string { return filepath.Join(dir, "c", "z.db") }, filepath.Join(dir, "c", "z.db")},
		{"own query parameters kept", func() string { return filepath.Join(dir, "q.db") + "?_pragma=synchronous(NORMAL)" }, filepath.Join(dir, "q.db")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s, err := store.Open(ctx, tc.url())
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			if s.Dialect() != store.DialectSQLite {
				t.Errorf("Dialect = %q", s.Dialect())
			}
			if err := s.Migrate(ctx); err != nil {
				t.Fatalf("Migrate: %v", err)
			}
			if _, err := os.Stat(tc.file); err != nil {
				t.Errorf("database file: %v", err)
			}
			var mode string
			var fk, busy int
			db := s.DB().WithContext(ctx)
			if err := db.Raw("PRAGMA journal_mode").Scan(&mode).Error; err != nil || mode != "wal" {
				t.Errorf("journal_mode = %q, %v", mode, err)
			}
			if err := db.Raw("PRAGMA foreign_keys").Scan(&fk).Error; err != nil || fk != 1 {
				t.Errorf("foreign_keys = %d, %v", fk, err)
			}
			if err := db.Raw("PRAGMA busy_timeout").Scan(&busy).Error; err != nil || busy != 15000 {
				t.Errorf("busy_timeout = %d, %v", busy, err)
			}
		})
	}

	t.Run("in-memory refused", func(t *testing.T) {
		if _, err := store.Open(context.Background(), "sqlite::memory:"); err == nil {
			t.Error("Open(sqlite::memory:) succeeded; want an error")
		}
	})
}

func TestOpenPostgres(t *testing.T) {
	t.Parallel()
	s := storetest.Open(t, store.DialectPostgres)
	if s.Dialect() != store.DialectPostgres {
		t.Errorf("Dialect = %q", s.Dialect())
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}
