package store_test

import (
	"context"
	"reflect"
	"sync"
	"testing"

	"gorm.io/gorm/schema"

	"github.com/cxone/appreg/store"
)

// TestModelsMatchSchema checks every GORM model against the migrated tables, both ways: each
// field has its column, each column has its field, and a column is nullable exactly when its
// field is a pointer. It also checks that the indexes the queries rely on exist.
func TestModelsMatchSchema(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		db := s.DB().WithContext(context.Background())
		for _, model := range store.Models {
			sch, err := schema.Parse(model, &sync.Map{}, db.NamingStrategy)
			if err != nil {
				t.Fatalf("parse %T: %v", model, err)
			}
			t.Run(sch.Table, func(t *testing.T) {
				if !db.Migrator().HasTable(model) {
					t.Fatalf("table %s missing", sch.Table)
				}
				cols, err := db.Migrator().ColumnTypes(model)
				if err != nil {
					t.Fatalf("ColumnTypes: %v", err)
				}
				byName := map[string]bool{}
				for _, c := range cols {
					byName[c.Name()] = true
					f := sch.LookUpField(c.Name())
					if f == nil || f.DBName != c.Name() {
						t.Errorf("column %s.%s has no model field", sch.Table, c.Name())
						continue
					}
					if nullable, ok := c.Nullable(); ok && !f.PrimaryKey {
						if isPtr := f.FieldType.Kind() == reflect.Pointer; nullable != isPtr {
							t.Errorf("column %s.%s nullable=%v but field %s is %s", sch.Table, c.Name(), nullable, f.Name, f.FieldType)
						}
					}
				}
				for _, f := range sch.Fields {
					if f.DBName == "" {
						continue
					}
					if !byName[f.DBName] || !db.Migrator().HasColumn(model, f.DBName) {
						t.Errorf("field %s.%s: column %s missing", sch.Name, f.Name, f.DBName)
					}
				}
			})
		}

		indexes := map[string][]string{
			"applications": {
				"applications_tenant_created_idx",
				"applications_created_idx",
				"applications_pending_tenancy_idx",
				"applications_scheduled_deletion_idx",
				"applications_tenant_type_idx",
				"applications_tenant_disabled_idx",
				"applications_tenant_pending_deletion_idx",
			},
			"application_secrets": {"application_secrets_application_idx"},
			"application_origins": {"application_origins_origin_idx"},
			"application_changes": {"application_changes_changed_time_idx"},
			"application_events":  {"application_events_application_idx"},
			"outbox_messages": {
				"outbox_messages_due_idx",
				"outbox_messages_sent_idx",
				"outbox_messages_reminder_idx",
			},
			"idempotency_records": {"idempotency_records_created_idx"},
		}
		for table, names := range indexes {
			for _, name := range names {
				if !db.Migrator().HasIndex(table, name) {
					t.Errorf("index %s on %s missing", name, table)
				}
			}
		}
	})
}
