package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cxone/appreg/store"
)

// TestListFilters: the console's filters (type, state, search), alone and together, whole and
// paged through, with LIKE's wildcards in a search matched literally, and never another
// tenant's applications, on every dialect.
func TestListFilters(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		type app struct {
			id, name, typ, state string
		}
		apps := []app{
			{"app-01", "Desktop App", "confidential", store.StateEnabled},
			{"app-02", "desktop_tool", "public", store.StateEnabled},
			{"app-03", "100% Pure", "backend", store.StateDisabled},
			{"app-04", "Mobile", "public", store.StatePendingDeletion},
			{"app-05", `back\slash`, "confidential", store.StateEnabled},
			{"app-06", "DESKTOP Admin", "backend", store.StateDisabled},
			{"app-07", "Desktop gone", "confidential", "due"}, // past its deletion time: invisible
			{"DESK-9", "Other", "confidential", store.StateEnabled},
			{"app-10", "desktopXtool", "public", store.StateEnabled},
			{"app-11", "Plain 100 percent", "backend", store.StateEnabled},
		}
		for i, a := range apps {
			for _, tenant := range []string{"tenant-a", "tenant-b"} {
				row := newApp(a.id, tenant, t0.Add(time.Duration(i)*time.Second))
				if tenant == "tenant-b" { // the same names and types in another tenant
					row.ID = "b-" + a.id
				}
				row.Name, row.Type = a.name, a.typ
				switch a.state {
				case store.StateDisabled:
					row.Enabled = false
				case store.StatePendingDeletion:
					row.Enabled, row.ScheduledDeletionTime = false, ptr(t0.Add(time.Hour))
				case "due":
					row.Enabled, row.ScheduledDeletionTime = false, ptr(t0.Add(-time.Second))
				}
				mustCreate(t, s, row)
			}
		}

		cases := []struct {
			name string
			q    store.ListQuery
			want []string
		}{
			{"no filter", store.ListQuery{}, []string{"app-01", "app-02", "app-03", "app-04", "app-05", "app-06", "DESK-9", "app-10", "app-11"}},
			{"type public", store.ListQuery{Type: "public"}, []string{"app-02", "app-04", "app-10"}},
			{"type backend", store.ListQuery{Type: "backend"}, []string{"app-03", "app-06", "app-11"}},
			{"type confidential", store.ListQuery{Type: "confidential"}, []string{"app-01", "app-05", "DESK-9"}},
			{"state enabled", store.ListQuery{State: store.StateEnabled}, []string{"app-01", "app-02", "app-05", "DESK-9", "app-10", "app-11"}},
			{"state disabled", store.ListQuery{State: store.StateDisabled}, []string{"app-03", "app-06"}},
			{"state pendingDeletion", store.ListQuery{State: store.StatePendingDeletion}, []string{"app-04"}},
			{"search name, any case", store.ListQuery{Search: "DeskTop"}, []string{"app-01", "app-02", "app-06", "app-10"}},
			{"search name or id prefix", store.ListQuery{Search: "desk"}, []string{"app-01", "app-02", "app-06", "DESK-9", "app-10"}},
			{"search id prefix, any case", store.ListQuery{Search: "APP-0"}, []string{"app-01", "app-02", "app-03", "app-04", "app-05", "app-06"}},
			{"search id is a prefix, not a substring", store.ListQuery{Search: "p-0"}, nil},
			{"search whole id", store.ListQuery{Search: "desk-9"}, []string{"DESK-9"}},
			{"search % literally", store.ListQuery{Search: "%"}, []string{"app-03"}},
			{"search 0% literally", store.ListQuery{Search: "0% p"}, []string{"app-03"}},
			{"search _ literally", store.ListQuery{Search: "_"}, []string{"app-02"}},
			{"search p_t literally", store.ListQuery{Search: "p_t"}, []string{"app-02"}},
			{`search \ literally`, store.ListQuery{Search: `\`}, []string{"app-05"}},
			{`search k\s literally`, store.ListQuery{Search: `k\s`}, []string{"app-05"}},
			{`search \% literally`, store.ListQuery{Search: `\%`}, nil},
			{"search quote", store.ListQuery{Search: "'; --"}, nil},
			{"search nothing matches", store.ListQuery{Search: "zzz"}, nil},
			{"type and state", store.ListQuery{Type: "public", State: store.StateEnabled}, []string{"app-02", "app-10"}},
			{"state and search", store.ListQuery{State: store.StateEnabled, Search: "desk"}, []string{"app-01", "app-02", "DESK-9", "app-10"}},
			{"all three", store.ListQuery{Type: "backend", State: store.StateDisabled, Search: "desk"}, []string{"app-06"}},
			{"all three, none", store.ListQuery{Type: "public", State: store.StateDisabled, Search: "desk"}, nil},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				q := tc.q
				q.TenantID, q.Now = "tenant-a", t0
				all, more, err := listBoth(t, s, q)
				if err != nil || more {
					t.Fatalf("list: more %v, %v", more, err)
				}
				if got := ids(all); !slices.Equal(got, tc.want) && len(got)+len(tc.want) > 0 {
					t.Errorf("listed %v, want %v", got, tc.want)
				}
				for _, limit := range []int{1, 2, 4} {
					if got := listPages(t, s, q, limit); !slices.Equal(got, tc.want) && len(got)+len(tc.want) > 0 {
						t.Errorf("pages of %d listed %v, want %v", limit, got, tc.want)
					}
				}
				q.TenantID = "tenant-b"
				other, _, err := listBoth(t, s, q)
				if err != nil {
					t.Fatal(err)
				}
				for _, a := range other {
					if a.TenantID != "tenant-b" || !strings.HasPrefix(a.ID, "b-") {
						t.Errorf("tenant-b's listing holds %s of %s", a.ID, a.TenantID)
					}
				}
			})
		}

		t.Run("unknown state", func(t *testing.T) {
			q := store.ListQuery{TenantID: "tenant-a", State: "gone", Now: t0}
			if _, _, err := s.ListApplications(context.Background(), q); err == nil {
				t.Error("ListApplications with an unknown state: no error")
			}
			if _, _, err := s.ListApplicationStates(context.Background(), q); err == nil {
				t.Error("ListApplicationStates with an unknown state: no error")
			}
		})
	})
}

// listPages lists q page by page, limit at a time, and returns the ids listed.
func listPages(t *testing.T, s *store.Store, q store.ListQuery, limit int) []string {
	t.Helper()
	q.Limit = limit
	var got []string
	for page := 0; page < 100; page++ {
		apps, more, err := listBoth(t, s, q)
		if err != nil {
			t.Fatalf("page %d: %v", page, err)
		}
		if len(apps) > limit || more && len(apps) < limit {
			t.Fatalf("page %d: %d rows, more %v, limit %d", page, len(apps), more, limit)
		}
		got = append(got, ids(apps)...)
		if !more {
			return got
		}
		last := apps[len(apps)-1]
		q.After = &store.Cursor{CreatedTime: last.CreatedTime, ID: last.ID}
	}
	t.Fatal("more than 100 pages")
	return nil
}

// TestSecretExpiresTime: an application's SecretExpiresTime is the earliest expiry among its
// stored secrets, after its creation and after every write of its secrets, whatever the
// updater sets; GetApplication, ListApplications and UpdateApplication's answer agree.
func TestSecretExpiresTime(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		at := func(h int) *time.Time { return ptr(t0.Add(time.Duration(h) * time.Hour).Truncate(time.Microsecond)) }
		secret := func(exp *time.Time) store.Secret {
			return store.Secret{ID: uuid.NewString(), Hash: "h", Hint: "hint", ExpiresTime: exp}
		}
		check := func(what, id string, got, want *time.Time) {
			t.Helper()
			read, err := s.GetApplication(ctx, "tenant-a", id, t0)
			if err != nil {
				t.Fatal(err)
			}
			listed, _, err := s.ListApplications(ctx, store.ListQuery{TenantID: "tenant-a", Search: id, Now: t0})
			if err != nil || len(listed) != 1 {
				t.Fatalf("list %s: %d, %v", id, len(listed), err)
			}
			for name, v := range map[string]*time.Time{"answer": got, "GetApplication": read.SecretExpiresTime, "ListApplications": listed[0].SecretExpiresTime} {
				if (v == nil) != (want == nil) || v != nil && (!v.Equal(want.Truncate(time.Microsecond)) || v.Location() != time.UTC) {
					t.Errorf("%s: %s SecretExpiresTime = %v, want %v", what, name, v, want)
				}
			}
		}

		none := newApp("none", "tenant-a", t0)
		mustCreate(t, s, none, secret(nil))
		check("created with a secret that never expires", none.ID, none.SecretExpiresTime, nil)

		public := newApp("public", "tenant-a", t0)
		mustCreate(t, s, public)
		check("created without secrets", public.ID, public.SecretExpiresTime, nil)

		app := newApp("expiring", "tenant-a", t0)
		// early has nanoseconds, which the store truncates.
		late, early, never := secret(at(48)), secret(ptr(t0.Add(2*time.Hour+time.Nanosecond))), secret(nil)
		firstExpiry := early.ExpiresTime
		mustCreate(t, s, app, late, early, never)
		check("created with expiring secrets", app.ID, app.SecretExpiresTime, firstExpiry)

		update := func(what string, want *time.Time, fn func(a *store.Application)) {
			t.Helper()
			saved, err := s.UpdateApplication(ctx, "tenant-a", app.ID, t0, func(a *store.Application) error {
				fn(a)
				return nil
			})
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			check(what, app.ID, saved.SecretExpiresTime, want)
		}
		update("an update that sets it by hand", firstExpiry, func(a *store.Application) { a.SecretExpiresTime = at(-5) })
		update("an update that clears it by hand", firstExpiry, func(a *store.Application) { a.SecretExpiresTime = nil })
		update("an update without secrets", firstExpiry, func(a *store.Application) { a.Secrets = nil; a.Description = "x" })
		update("a rotation", at(1), func(a *store.Application) {
			for i := range a.Secrets {
				if a.Secrets[i].ExpiresTime == nil {
					a.Secrets[i].ExpiresTime = at(1) // the previous one, valid for an hour
				}
			}
			a.Secrets = append(a.Secrets, secret(nil))
		})
		update("a revocation of the earliest", firstExpiry, func(a *store.Application) {
			a.Secrets = slices.DeleteFunc(a.Secrets, func(x store.Secret) bool { return x.ExpiresTime != nil && x.ExpiresTime.Equal(*at(1)) })
		})
		update("an expiry moved later", at(3), func(a *store.Application) {
			for i := range a.Secrets {
				if a.Secrets[i].ID == early.ID {
					a.Secrets[i].ExpiresTime = at(3)
				}
			}
		})
		update("a revocation of every expiring one", nil, func(a *store.Application) {
			a.Secrets = slices.DeleteFunc(a.Secrets, func(x store.Secret) bool { return x.ExpiresTime != nil })
		})
		update("a secret past its expiry still counts", at(-1), func(a *store.Application) {
			a.Secrets = append(a.Secrets, secret(at(-1)))
		})
		update("no secrets at all", nil, func(a *store.Application) { a.Secrets = []store.Secret{} })
	})
}

// TestListFiltersManyPages pages through a filtered listing of more applications than one
// page, with the filtered rows spread among others, and checks nothing is listed twice or
// missed.
func TestListFiltersManyPages(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		var want []string
		for i := range 60 {
			a := newApp(fmt.Sprintf("p-%02d", i), "tenant-a", t0.Add(time.Duration(i%7)*time.Second)) // ties on time
			if i%3 == 0 {
				a.Name, a.Type = fmt.Sprintf("Needle %d", i), "public"
				want = append(want, a.ID)
			}
			mustCreate(t, s, a)
		}
		slices.SortFunc(want, func(x, y string) int {
			var i, j int
			fmt.Sscanf(x, "p-%d", &i)
			fmt.Sscanf(y, "p-%d", &j)
			if c := i%7 - j%7; c != 0 {
				return c
			}
			return strings.Compare(x, y)
		})
		q := store.ListQuery{TenantID: "tenant-a", Type: "public", Search: "needle", Now: t0}
		for _, limit := range []int{1, 3, 7, 20, 21} {
			if got := listPages(t, s, q, limit); !slices.Equal(got, want) {
				t.Errorf("pages of %d = %v, want %v", limit, got, want)
			}
		}
	})
}

// TestMigrationFillsSecretExpiresTime: migration 0005 fills secret_expires_time of the
// applications that existed before it with the earliest expiry of their secrets. The test
// undoes 0005 on a migrated database, writes applications and secrets, and migrates again.
func TestMigrationFillsSecretExpiresTime(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		mustCreate(t, s, newApp("two-expiring", "tenant-a", t0),
			store.Secret{Hash: "a", ExpiresTime: ptr(t0.Add(3 * time.Hour))},
			store.Secret{Hash: "b", ExpiresTime: ptr(t0.Add(time.Hour))},
			store.Secret{Hash: "c"})
		mustCreate(t, s, newApp("never", "tenant-a", t0), store.Secret{Hash: "d"})
		mustCreate(t, s, newApp("no-secret", "tenant-a", t0))
		db := s.DB().WithContext(ctx)
		for _, q := range []string{
			"DROP INDEX applications_tenant_type_idx",
			"DROP INDEX applications_tenant_disabled_idx",
			"DROP INDEX applications_tenant_pending_deletion_idx",
			"ALTER TABLE applications DROP COLUMN secret_expires_time",
			"DELETE FROM schema_migrations WHERE version = 5",
		} {
			if err := db.Exec(q).Error; err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		want := map[string]*time.Time{"two-expiring": ptr(t0.Add(time.Hour).Truncate(time.Microsecond)), "never": nil, "no-secret": nil}
		for id, w := range want {
			a, err := s.GetApplication(ctx, "", id, t0)
			if err != nil {
				t.Fatal(err)
			}
			if got := a.SecretExpiresTime; (got == nil) != (w == nil) || got != nil && !got.Equal(*w) {
				t.Errorf("%s: SecretExpiresTime after the migration = %v, want %v", id, got, w)
			}
		}
	})
}
