package store_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cxone/appreg/store"
	"github.com/cxone/appreg/store/storetest"
)

// t0 has nanoseconds and sits just before a second boundary, to catch precision and
// text-ordering mistakes.
var t0 = time.Date(2025, 3, 4, 5, 6, 7, 999_999_999, time.UTC)

// forEachDialect runs test once per available dialect, each on its own fresh database.
func forEachDialect(t *testing.T, test func(t *testing.T, s *store.Store)) {
	t.Helper()
	for _, dialect := range storetest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			test(t, storetest.Open(t, dialect))
		})
	}
}

func newApp(id, tenant string, created time.Time) *store.Application {
	return &store.Application{
		ID:               id,
		TenantID:         tenant,
		Name:             "app " + id,
		Contacts:         []string{"ops@example.com"},
		Type:             "confidential",
		Tenancy:          "single",
		Redirects:        []string{"https://app.example.com/cb"},
		AuthMethod:       "client_secret_basic",
		Scope:            "openid",
		Enabled:          true,
		CreatedBy:        "alice",
		CreatedTime:      created,
		LastModifiedBy:   "alice",
		LastModifiedTime: created,
	}
}

func mustCreate(t testing.TB, s *store.Store, app *store.Application, secrets ...store.Secret) {
	t.Helper()
	if err := s.CreateApplication(context.Background(), app, secrets); err != nil {
		t.Fatalf("CreateApplication(%s): %v", app.ID, err)
	}
}

func ptr[T any](v T) *T { return &v }

// assertAppEqual compares two applications field by field, times with Equal.
func assertAppEqual(t *testing.T, want, got *store.Application) {
	t.Helper()
	w, g := stripTimes(t, *want, *got)
	if !reflect.DeepEqual(w, g) {
		t.Errorf("application differs:\nwant %+v\n got %+v", w, g)
	}
}

// stripTimes checks the time fields of a and b with Equal and returns copies without them.
func stripTimes(t *testing.T, a, b store.Application) (store.Application, store.Application) {
	t.Helper()
	eq := func(name string, x, y time.Time) {
		if !x.Equal(y) {
			t.Errorf("%s: want %s, got %s", name, x.Format(time.RFC3339Nano), y.Format(time.RFC3339Nano))
		}
		if y.Location() != time.UTC {
			t.Errorf("%s: location %s, want UTC", name, y.Location())
		}
	}
	eqPtr := func(name string, x, y *time.Time) {
		switch {
		case x == nil && y == nil:
		case x == nil || y == nil:
			t.Errorf("%s: want %v, got %v", name, x, y)
		default:
			eq(name, *x, *y)
		}
	}
	eq("CreatedTime", a.CreatedTime, b.CreatedTime)
	eq("LastModifiedTime", a.LastModifiedTime, b.LastModifiedTime)
	eqPtr("TenancyDecidedTime", a.TenancyDecidedTime, b.TenancyDecidedTime)
	eqPtr("LastUsedTime", a.LastUsedTime, b.LastUsedTime)
	eqPtr("ScheduledDeletionTime", a.ScheduledDeletionTime, b.ScheduledDeletionTime)
	eqPtr("SecretExpiresTime", a.SecretExpiresTime, b.SecretExpiresTime)
	for _, app := range []*store.Application{&a, &b} {
		app.CreatedTime, app.LastModifiedTime = time.Time{}, time.Time{}
		app.TenancyDecidedTime, app.LastUsedTime, app.ScheduledDeletionTime = nil, nil, nil
		app.SecretExpiresTime = nil
		// Secrets are transient (loaded by some calls only) and checked by the secrets tests.
		app.Secrets = nil
	}
	return a, b
}

func ids(apps []store.Application) []string {
	out := make([]string, len(apps))
	for i, a := range apps {
		out[i] = a.ID
	}
	return out
}

func TestCreateAndGet(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		paris := time.FixedZone("CET", 3600)
		app := newApp("3f8a1c2e-0000-4000-8000-000000000001", "tenant-a", t0.In(paris))
		app.Description = "the description"
		app.Contacts = []string{"a@example.com", "b@example.com"}
		app.Tenancy, app.TenancyApproval = "all", "approved"
		app.TenancyDecidedBy, app.TenancyDecidedTime = "operator", ptr(t0.Add(time.Hour).In(paris))
		app.TenancyComment = "ok"
		app.Origins = []string{"https://app.example.com", "http://localhost:3000"}
		app.Logouts = []string{"https://app.example.com/bye"}
		app.JWKSEndpoint = "https://app.example.com/jwks"
		app.LastUsedTime = ptr(t0.Add(2 * time.Hour))
		written := *app
		mustCreate(t, s, app, store.Secret{Hash: "h1$abc", Hint: "wxyz", ExpiresTime: ptr(t0.Add(24 * time.Hour))})

		// Create normalises in place: UTC microseconds, Version 1.
		if !app.CreatedTime.Equal(written.CreatedTime.Truncate(time.Microsecond)) || app.CreatedTime.Location() != time.UTC {
			t.Errorf("CreatedTime after create = %v", app.CreatedTime)
		}
		if app.Version != 1 {
			t.Errorf("Version = %d, want 1", app.Version)
		}

		got, err := s.GetApplication(ctx, "tenant-a", app.ID, t0)
		if err != nil {
			t.Fatalf("GetApplication: %v", err)
		}
		assertAppEqual(t, app, got)

		got, err = s.GetApplication(ctx, "", app.ID, t0)
		if err != nil {
			t.Fatalf("GetApplication any tenant: %v", err)
		}
		assertAppEqual(t, app, got)

		secrets, err := s.ListSecrets(ctx, app.ID)
		if err != nil {
			t.Fatalf("ListSecrets: %v", err)
		}
		if len(secrets) != 1 {
			t.Fatalf("ListSecrets = %d secrets, want 1", len(secrets))
		}
		sec := secrets[0]
		if sec.ID == "" || sec.ApplicationID != app.ID || sec.Hash != "h1$abc" || sec.Hint != "wxyz" {
			t.Errorf("secret = %+v", sec)
		}
		if !sec.CreatedTime.Equal(app.CreatedTime) || sec.ExpiresTime == nil ||
			!sec.ExpiresTime.Equal(t0.Add(24*time.Hour).Truncate(time.Microsecond)) || sec.LastUsedTime != nil {
			t.Errorf("secret times = %v %v %v", sec.CreatedTime, sec.ExpiresTime, sec.LastUsedTime)
		}
	})
}

func TestCreateDefaults(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		app := newApp("defaults", "tenant-a", time.Time{})
		app.LastModifiedTime = time.Time{}
		before := time.Now().Add(-time.Second)
		mustCreate(t, s, app)
		if app.CreatedTime.Before(before) || !app.LastModifiedTime.Equal(app.CreatedTime) {
			t.Errorf("CreatedTime %v, LastModifiedTime %v: want now and equal", app.CreatedTime, app.LastModifiedTime)
		}
		if app.CreatedTime.Location() != time.UTC || app.CreatedTime.Nanosecond()%1000 != 0 {
			t.Errorf("CreatedTime %v: want UTC microseconds", app.CreatedTime)
		}
	})
}

func TestTimeRoundTrip(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		time time.Time
	}{
		{"whole second", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"nanoseconds", time.Date(2025, 1, 1, 0, 0, 0, 123_456_789, time.UTC)},
		{"one microsecond", time.Date(2025, 1, 1, 0, 0, 0, 1_000, time.UTC)},
		{"trailing zero", time.Date(2025, 1, 1, 0, 0, 0, 500_000_000, time.UTC)},
		{"last microsecond", time.Date(2025, 12, 31, 23, 59, 59, 999_999_000, time.UTC)},
		{"other zone", time.Date(2025, 6, 1, 12, 0, 0, 42_000, time.FixedZone("X", -7*3600))},
		{"with monotonic", time.Now()},
	}
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				app := newApp(fmt.Sprintf("rt-%d", i), "tenant-a", tc.time)
				app.LastUsedTime = ptr(tc.time)
				mustCreate(t, s, app)
				got, err := s.GetApplication(context.Background(), "", app.ID, tc.time)
				if err != nil {
					t.Fatalf("GetApplication: %v", err)
				}
				want := tc.time.Truncate(time.Microsecond)
				if !got.CreatedTime.Equal(want) || !got.CreatedTime.Equal(app.CreatedTime) || !got.LastUsedTime.Equal(want) {
					t.Errorf("read %v / %v, wrote %v (returned %v)", got.CreatedTime, got.LastUsedTime, want, app.CreatedTime)
				}
			})
		}
	})
}

func TestCreateConflict(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		mustCreate(t, s, newApp("dup", "tenant-a", t0), store.Secret{Hash: "x"})
		for _, tenant := range []string{"tenant-a", "tenant-b"} {
			err := s.CreateApplication(ctx, newApp("dup", tenant, t0), []store.Secret{{Hash: "y"}})
			if !errors.Is(err, store.ErrConflict) {
				t.Errorf("duplicate id in %s: err = %v, want ErrConflict", tenant, err)
			}
		}
		// The failed creates left nothing behind.
		secrets, err := s.ListSecrets(ctx, "dup")
		if err != nil || len(secrets) != 1 || secrets[0].Hash != "x" {
			t.Errorf("secrets after conflicts = %+v, %v", secrets, err)
		}
	})
}

// TestCreateIsAllOrNothing makes a create fail after its application row was written (two
// secrets with one id): nothing of it may remain, on PostgreSQL where the inserts go as one
// pipelined batch as on SQLite where they run in a transaction.
func TestCreateIsAllOrNothing(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		app := newApp("half", "tenant-a", t0)
		app.Origins = []string{"https://half.example.com"}
		const id = "7d1c2b3a-0000-4000-8000-00000000beef"
		err := s.CreateApplication(ctx, app, []store.Secret{{ID: id, Hash: "a"}, {ID: id, Hash: "b"}})
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("create with a duplicate secret id: err = %v, want ErrConflict", err)
		}
		if _, err := s.GetApplication(ctx, "", "half", t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("application of the failed create: %v, want ErrNotFound", err)
		}
		if apps, err := s.ApplicationsWithOrigin(ctx, "https://half.example.com", t0); err != nil || len(apps) != 0 {
			t.Errorf("origin index of the failed create: %d applications, %v", len(apps), err)
		}
		if len(eventsOf(t, s, "half")) != 0 || len(messagesOf(t, s, "half")) != 0 {
			t.Error("the failed create left an event or a message")
		}
		// The connection is clean afterwards: the next create succeeds.
		mustCreate(t, s, newApp("half", "tenant-a", t0), store.Secret{Hash: "c"})
	})
}

func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		mustCreate(t, s, newApp("a1", "tenant-a", t0))
		mustCreate(t, s, newApp("b1", "tenant-b", t0.Add(time.Second)))

		if _, err := s.GetApplication(ctx, "tenant-b", "a1", t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get other tenant's: err = %v, want ErrNotFound", err)
		}
		if _, err := s.GetApplication(ctx, "tenant-a", "missing", t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get missing: err = %v, want ErrNotFound", err)
		}
		called := false
		_, err := s.UpdateApplication(ctx, "tenant-b", "a1", t0, func(a *store.Application) error {
			called = true
			return nil
		})
		if !errors.Is(err, store.ErrNotFound) || called {
			t.Errorf("Update other tenant's: err = %v, fn called %v; want ErrNotFound, not called", err, called)
		}

		cases := []struct {
			tenant string
			want   []string
		}{
			{"tenant-a", []string{"a1"}},
			{"tenant-b", []string{"b1"}},
			{"tenant-c", []string{}},
			{"", []string{"a1", "b1"}},
		}
		for _, tc := range cases {
			apps, more, err := listBoth(t, s, store.ListQuery{TenantID: tc.tenant, Now: t0})
			if err != nil {
				t.Fatalf("List(%q): %v", tc.tenant, err)
			}
			if got := ids(apps); !slices.Equal(got, tc.want) || more || apps == nil {
				t.Errorf("List(%q) = %v (nil %v), more %v; want %v", tc.tenant, got, apps == nil, more, tc.want)
			}
		}
	})
}

func TestListPaging(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		// Ties on created_time are broken by id; sub-second and second-boundary times must
		// order as times, not as text.
		created := []struct {
			id   string
			time time.Time
		}{
			{"e", t0.Add(time.Second)},
			{"b", t0},
			{"a", t0},
			{"g", t0.Add(2 * time.Second)},
			{"c", t0.Add(time.Microsecond)},
			{"f", t0.Add(time.Second)},
			{"d", t0.Add(500 * time.Millisecond)},
			{"h", t0.Add(-time.Hour)},
		}
		for _, c := range created {
			mustCreate(t, s, newApp(c.id, "tenant-a", c.time))
		}
		mustCreate(t, s, newApp("other", "tenant-b", t0))
		want := []string{"h", "a", "b", "c", "d", "e", "f", "g"}

		all, more, err := listBoth(t, s, store.ListQuery{TenantID: "tenant-a", Now: t0})
		if err != nil || more || !slices.Equal(ids(all), want) {
			t.Fatalf("List all = %v, more %v, %v; want %v", ids(all), more, err, want)
		}

		for _, limit := range []int{1, 3, 4, 7, 8, 9} {
			t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
				var got []string
				q := store.ListQuery{TenantID: "tenant-a", Limit: limit, Now: t0}
				for page := 0; ; page++ {
					apps, more, err := listBoth(t, s, q)
					if err != nil {
						t.Fatalf("page %d: %v", page, err)
					}
					if len(apps) > limit {
						t.Fatalf("page %d has %d rows, limit %d", page, len(apps), limit)
					}
					got = append(got, ids(apps)...)
					if wantMore := len(got) < len(want); more != wantMore {
						t.Fatalf("page %d: more = %v, want %v", page, more, wantMore)
					}
					if !more {
						break
					}
					last := apps[len(apps)-1]
					q.After = &store.Cursor{CreatedTime: last.CreatedTime, ID: last.ID}
				}
				if !slices.Equal(got, want) {
					t.Errorf("pages = %v, want %v", got, want)
				}
			})
		}
	})
}

func TestListPendingTenancy(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		for i, c := range []struct{ tenancy, approval string }{
			{"single", ""},
			{"all", "pending"},
			{"all", "approved"},
			{"all", "rejected"},
			{"all", "pending"},
		} {
			app := newApp(fmt.Sprintf("app%d", i), fmt.Sprintf("tenant-%d", i%2), t0.Add(time.Duration(i)*time.Second))
			app.Tenancy, app.TenancyApproval = c.tenancy, c.approval
			mustCreate(t, s, app)
		}
		cases := []struct {
			name   string
			tenant string
			want   []string
		}{
			{"all tenants", "", []string{"app1", "app4"}},
			{"one tenant", "tenant-0", []string{"app4"}},
			{"other tenant", "tenant-1", []string{"app1"}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				apps, _, err := listBoth(t, s, store.ListQuery{TenantID: tc.tenant, PendingTenancy: true, Now: t0})
				if err != nil || !slices.Equal(ids(apps), tc.want) {
					t.Errorf("List pending = %v, %v; want %v", ids(apps), err, tc.want)
				}
			})
		}
	})
}

func TestNilListsReadBackEmpty(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		app := newApp("nil-lists", "tenant-a", t0)
		app.Contacts, app.Redirects, app.Origins, app.Logouts = nil, nil, nil, nil
		mustCreate(t, s, app)
		check := func(how string, a *store.Application) {
			t.Helper()
			for name, l := range map[string][]string{"Contacts": a.Contacts, "Redirects": a.Redirects, "Origins": a.Origins, "Logouts": a.Logouts} {
				if l == nil || len(l) != 0 {
					t.Errorf("%s: %s = %#v, want []string{}", how, name, l)
				}
			}
		}
		check("after create", app)
		got, err := s.GetApplication(ctx, "", app.ID, t0)
		if err != nil {
			t.Fatal(err)
		}
		check("get", got)

		// A JSON null written behind the store's back reads back as an empty list too.
		err = s.DB().WithContext(ctx).Exec("UPDATE applications SET contacts = 'null', redirects = 'null', origins = 'null', logouts = 'null' WHERE id = ?", app.ID).Error
		if err != nil {
			t.Fatal(err)
		}
		got, err = s.GetApplication(ctx, "", app.ID, t0)
		if err != nil {
			t.Fatal(err)
		}
		check("get after null", got)
		apps, _, err := s.ListApplications(ctx, store.ListQuery{})
		if err != nil || len(apps) != 1 {
			t.Fatalf("List = %v, %v", apps, err)
		}
		check("list", &apps[0])
		updated, err := s.UpdateApplication(ctx, "", app.ID, t0, func(a *store.Application) error {
			check("updater", a)
			a.Contacts = nil
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		check("update", updated)
	})
}

func TestUpdateApplication(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		app := newApp("upd", "tenant-a", t0)
		app.Description = "x"
		app.Origins = []string{"https://a.example.com"}
		mustCreate(t, s, app)

		later := t0.Add(time.Minute)
		saved, err := s.UpdateApplication(ctx, "tenant-a", app.ID, later, func(a *store.Application) error {
			if a.Version != 1 {
				t.Errorf("updater sees Version %d, want 1", a.Version)
			}
			a.Enabled = false
			a.Description = ""
			a.Scope = ""
			a.Contacts = []string{"new@example.com"}
			a.LastModifiedBy, a.LastModifiedTime = "bob", later.Add(123) // nanoseconds are dropped
			a.ScheduledDeletionTime = ptr(later.Add(time.Hour))
			// Immutable fields: ignored.
			a.ID, a.TenantID, a.Type, a.CreatedBy, a.CreatedTime = "evil", "tenant-b", "public", "mallory", later
			a.Version = 42
			return nil
		})
		if err != nil {
			t.Fatalf("UpdateApplication: %v", err)
		}
		want := *app
		want.Enabled, want.Description, want.Scope = false, "", ""
		want.Contacts = []string{"new@example.com"}
		want.LastModifiedBy, want.LastModifiedTime = "bob", later.Add(123).Truncate(time.Microsecond)
		want.ScheduledDeletionTime = ptr(later.Add(time.Hour).Truncate(time.Microsecond))
		want.Version = 2
		assertAppEqual(t, &want, saved)
		got, err := s.GetApplication(ctx, "tenant-a", app.ID, later)
		if err != nil {
			t.Fatalf("GetApplication: %v", err)
		}
		assertAppEqual(t, &want, got)

		t.Run("fn error rolls back", func(t *testing.T) {
			errVeto := errors.New("veto")
			_, err := s.UpdateApplication(ctx, "tenant-a", app.ID, later, func(a *store.Application) error {
				a.Name = "changed"
				a.Origins = []string{"https://changed.example.com"}
				return fmt.Errorf("rule: %w", errVeto)
			})
			if !errors.Is(err, errVeto) {
				t.Fatalf("err = %v, want errVeto", err)
			}
			got, err := s.GetApplication(ctx, "tenant-a", app.ID, later)
			if err != nil {
				t.Fatal(err)
			}
			assertAppEqual(t, &want, got)
			if ids, _ := s.ApplicationsByOrigin(ctx, "https://changed.example.com"); len(ids) != 0 {
				t.Errorf("origin index changed by a rolled-back update: %v", ids)
			}
		})

		t.Run("version counts updates", func(t *testing.T) {
			for i := 0; i < 3; i++ {
				saved, err = s.UpdateApplication(ctx, "", app.ID, later, func(a *store.Application) error { return nil })
				if err != nil {
					t.Fatal(err)
				}
			}
			if saved.Version != 5 {
				t.Errorf("Version = %d, want 5", saved.Version)
			}
		})
	})
}

func TestVisibility(t *testing.T) {
	t.Parallel()
	// Deletion scheduled at sched; the application is gone when sched <= now.
	sec := time.Date(2025, 5, 6, 7, 8, 9, 0, time.UTC)
	cases := []struct {
		name    string
		sched   time.Time
		now     time.Time
		visible bool
	}{
		{"well before", sec, sec.Add(-time.Hour), true},
		{"equal, whole second", sec, sec, false},
		{"one microsecond before", sec, sec.Add(-time.Microsecond), true},
		{"one microsecond after", sec, sec.Add(time.Microsecond), false},
		{"half a second before", sec, sec.Add(-500 * time.Millisecond), true},
		{"sub-second sched, now next second", sec.Add(-time.Microsecond), sec, false},
		{"sub-second sched, now just before", sec.Add(-time.Microsecond), sec.Add(-2 * time.Microsecond), true},
		{"sub-second sched equal", sec.Add(123_456 * time.Microsecond), sec.Add(123_456 * time.Microsecond), false},
		{"0.5 vs 0.45", sec.Add(500 * time.Millisecond), sec.Add(450 * time.Millisecond), true},
		{"0.45 vs 0.5", sec.Add(450 * time.Millisecond), sec.Add(500 * time.Millisecond), false},
		{"0.1 vs 0.09", sec.Add(100 * time.Millisecond), sec.Add(90 * time.Millisecond), true},
		{"across a minute", sec.Add(51 * time.Second), sec.Add(50*time.Second + 999_999*time.Microsecond), true},
		{"now in another zone", sec, sec.In(time.FixedZone("X", 5*3600)), false},
		{"sched nanoseconds truncated", sec.Add(999), sec, false},
		{"now nanoseconds truncated", sec, sec.Add(-time.Nanosecond), true},
	}
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				app := newApp(fmt.Sprintf("vis-%02d", i), fmt.Sprintf("tenant-%02d", i), t0)
				app.Enabled = false
				app.ScheduledDeletionTime = ptr(tc.sched)
				mustCreate(t, s, app)

				_, err := s.GetApplication(ctx, app.TenantID, app.ID, tc.now)
				if tc.visible && err != nil || !tc.visible && !errors.Is(err, store.ErrNotFound) {
					t.Errorf("GetApplication: err = %v, visible = %v", err, tc.visible)
				}
				apps, _, err := listBoth(t, s, store.ListQuery{TenantID: app.TenantID, Now: tc.now})
				if err != nil || (len(apps) == 1) != tc.visible {
					t.Errorf("ListApplications = %v, %v; visible = %v", ids(apps), err, tc.visible)
				}
				_, err = s.UpdateApplication(ctx, app.TenantID, app.ID, tc.now, func(*store.Application) error { return nil })
				if tc.visible && err != nil || !tc.visible && !errors.Is(err, store.ErrNotFound) {
					t.Errorf("UpdateApplication: err = %v, visible = %v", err, tc.visible)
				}
			})
		}
	})
}

func TestConcurrentUpdatesLoseNothing(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		mustCreate(t, s, newApp("hot", "tenant-a", t0))
		const n = 20
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				_, err := s.UpdateApplication(ctx, "tenant-a", "hot", t0, func(a *store.Application) error {
					a.Redirects = append(a.Redirects, fmt.Sprintf("https://app.example.com/cb%d", i))
					a.Origins = append(a.Origins, fmt.Sprintf("https://o%d.example.com", i))
					return nil
				})
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("UpdateApplication: %v", err)
			}
		}
		got, err := s.GetApplication(ctx, "tenant-a", "hot", t0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Redirects) != n+1 || len(got.Origins) != n || got.Version != n+1 {
			t.Errorf("after %d updates: %d redirects, %d origins, version %d", n, len(got.Redirects), len(got.Origins), got.Version)
		}
		for i := range n {
			o := fmt.Sprintf("https://o%d.example.com", i)
			if ids, err := s.ApplicationsByOrigin(ctx, o); err != nil || !slices.Equal(ids, []string{"hot"}) {
				t.Errorf("ApplicationsByOrigin(%s) = %v, %v", o, ids, err)
			}
		}
	})
}

// TestReadDuringWriteTransaction checks that a read is served while a write transaction is
// open in another goroutine (WAL on SQLite), so an updater that reads through the store does
// not deadlock.
func TestReadDuringWriteTransaction(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		mustCreate(t, s, newApp("rw", "tenant-a", t0))
		mustCreate(t, s, newApp("other", "tenant-a", t0))
		_, err := s.UpdateApplication(ctx, "tenant-a", "rw", t0, func(a *store.Application) error {
			a.Name = "renamed"
			other, err := s.GetApplication(ctx, "tenant-a", "other", t0)
			if err != nil {
				return fmt.Errorf("read during update: %w", err)
			}
			old, err := s.GetApplication(ctx, "tenant-a", "rw", t0)
			if err != nil {
				return fmt.Errorf("read of the locked row during update: %w", err)
			}
			if other.ID != "other" || old.Name != "app rw" {
				return fmt.Errorf("read %q and %q", other.ID, old.Name)
			}
			apps, _, err := s.ListApplications(ctx, store.ListQuery{TenantID: "tenant-a", Now: t0})
			if err != nil || len(apps) != 2 {
				return fmt.Errorf("list during update: %d apps, %v", len(apps), err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

func TestApplicationsByOrigin(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a := newApp("o-a", "tenant-a", t0)
		a.Origins = []string{"https://shared.example.com", "https://a.example.com", "https://a.example.com"}
		b := newApp("o-b", "tenant-b", t0)
		b.Origins = []string{"https://shared.example.com"}
		mustCreate(t, s, a)
		mustCreate(t, s, b)

		check := func(origin string, want []string) {
			t.Helper()
			got, err := s.ApplicationsByOrigin(ctx, origin)
			if err != nil || got == nil || !slices.Equal(got, want) {
				t.Errorf("ApplicationsByOrigin(%s) = %#v, %v; want %v", origin, got, err, want)
			}
		}
		check("https://shared.example.com", []string{"o-a", "o-b"})
		check("https://a.example.com", []string{"o-a"})
		check("https://A.example.com", []string{})
		check("https://none.example.com", []string{})

		_, err := s.UpdateApplication(ctx, "tenant-a", "o-a", t0, func(app *store.Application) error {
			app.Origins = []string{"https://new.example.com"}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		check("https://shared.example.com", []string{"o-b"})
		check("https://a.example.com", []string{})
		check("https://new.example.com", []string{"o-a"})
	})
}

func TestListSecretsOldestFirst(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		mustCreate(t, s, newApp("sec", "tenant-a", t0),
			store.Secret{Hash: "newest", CreatedTime: t0.Add(2 * time.Second)},
			store.Secret{Hash: "oldest", CreatedTime: t0.Add(-time.Second)},
			store.Secret{Hash: "middle", CreatedTime: t0.Add(500 * time.Millisecond)},
		)
		mustCreate(t, s, newApp("sec2", "tenant-a", t0), store.Secret{Hash: "elsewhere"})
		secrets, err := s.ListSecrets(ctx, "sec")
		if err != nil {
			t.Fatal(err)
		}
		var hashes []string
		for _, sec := range secrets {
			hashes = append(hashes, sec.Hash)
		}
		if want := []string{"oldest", "middle", "newest"}; !slices.Equal(hashes, want) {
			t.Errorf("ListSecrets = %v, want %v", hashes, want)
		}
		none, err := s.ListSecrets(ctx, "missing")
		if err != nil || none == nil || len(none) != 0 {
			t.Errorf("ListSecrets(missing) = %#v, %v; want empty", none, err)
		}
	})
}

// TestGetManyAtOnce reads applications of several tenants from many goroutines at once, so
// that reads are coalesced, and checks every answer; and runs the coalesced query itself
// with many ids.
func TestGetManyAtOnce(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		const tenants, per = 4, 10
		var all []string
		for i := range tenants * per {
			app := newApp(fmt.Sprintf("many-%02d", i), fmt.Sprintf("tenant-%d", i%tenants), t0)
			if i%per == 3 {
				app.ScheduledDeletionTime = ptr(t0.Add(time.Hour))
			}
			mustCreate(t, s, app)
			all = append(all, app.ID)
		}

		apps, err := store.ApplicationsByID(s, ctx, append(slices.Clone(all), "unknown"), t0.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if got := slices.Sorted(slices.Values(ids(apps))); !slices.Equal(got, all) {
			t.Errorf("by id before deletion: %v, want %v", got, all)
		}
		apps, err = store.ApplicationsByID(s, ctx, all, t0.Add(2*time.Hour))
		if err != nil || len(apps) != len(all)-tenants {
			t.Errorf("by id after deletion: %d applications, %v; want %d", len(apps), err, len(all)-tenants)
		}

		var wg sync.WaitGroup
		errs := make(chan error, 1000)
		for g := range 50 {
			wg.Go(func() {
				for j := range 20 {
					i := (g*7 + j*13) % len(all)
					tenant := fmt.Sprintf("tenant-%d", (i+g%2)%tenants) // every other goroutine asks in the wrong tenant
					now := t0.Add(time.Duration(j%3) * time.Hour)       // before, at and after deletion times
					app, err := s.GetApplication(ctx, tenant, all[i], now)
					want := g%2 == 0 && (i%per != 3 || now.Before(t0.Add(time.Hour)))
					switch {
					case want && (err != nil || app.ID != all[i] || app.TenantID != tenant || app.Name != "app "+all[i]):
						errs <- fmt.Errorf("%s in %s at %v: %v, %v", all[i], tenant, now, app, err)
					case !want && !errors.Is(err, store.ErrNotFound):
						errs <- fmt.Errorf("%s in %s at %v: %v, %v; want ErrNotFound", all[i], tenant, now, app, err)
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

// BenchmarkListApplications lists a tenant of 100 applications, as listApplication does at
// 1,000,000 applications in 10,000 tenants.
func BenchmarkListApplications(b *testing.B) {
	for _, dialect := range storetest.Dialects(b) {
		b.Run(dialect, func(b *testing.B) {
			s := storetest.Open(b, dialect)
			ctx := context.Background()
			for i := range 100 {
				app := newApp(fmt.Sprintf("bench-%03d", i), "tenant-bench", t0.Add(time.Duration(i)*time.Second))
				app.Origins = []string{"https://app.example.com", "https://admin.example.com"}
				app.Contacts = []string{"ops@example.com", "dev@example.com"}
				mustCreate(b, s, app)
			}
			b.ReportAllocs()
			for b.Loop() {
				apps, _, err := s.ListApplications(ctx, store.ListQuery{TenantID: "tenant-bench"})
				if err != nil || len(apps) != 100 {
					b.Fatalf("%d applications, %v", len(apps), err)
				}
			}
		})
	}
}

// TestListRowsShareNothing lists applications whose list columns take both decoding paths
// (an "&" is stored escaped, which the hand splitter leaves to encoding/json), with lists of
// different lengths in turn, and checks every application keeps its own.
func TestListRowsShareNothing(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		want := map[string][]string{}
		for i := range 6 {
			app := newApp(fmt.Sprintf("share-%d", i), "tenant-share", t0.Add(time.Duration(i)*time.Second))
			app.Redirects = nil
			for j := range 3 - i%3 {
				uri := fmt.Sprintf("https://app%d.example.com/cb%d", i, j)
				if i%2 == 0 {
					uri += "?a=1&b=2"
				}
				app.Redirects = append(app.Redirects, uri)
			}
			if i == 4 {
				app.LastUsedTime = ptr(t0)
			}
			want[app.ID] = slices.Clone(app.Redirects)
			mustCreate(t, s, app)
		}
		apps, _, err := s.ListApplications(ctx, store.ListQuery{TenantID: "tenant-share"})
		if err != nil || len(apps) != len(want) {
			t.Fatalf("ListApplications: %d, %v", len(apps), err)
		}
		for _, a := range apps {
			if !slices.Equal(a.Redirects, want[a.ID]) {
				t.Errorf("%s: redirects %v, want %v", a.ID, a.Redirects, want[a.ID])
			}
			if (a.LastUsedTime != nil) != (a.ID == "share-4") {
				t.Errorf("%s: lastUsedTime %v", a.ID, a.LastUsedTime)
			}
		}
	})
}

// TestGoneAt is the one rule "due for deletion means gone": the method every read of a row
// in hand asks, and the SQL of every query (GetApplication, a listing, the coalesced reads'
// by-id query), agree on each side of the scheduled time.
func TestGoneAt(t *testing.T) {
	due := t0.Truncate(time.Microsecond).Add(time.Hour)
	cases := []struct {
		name string
		due  *time.Time
		now  time.Time
		gone bool
	}{
		{"never scheduled", nil, due, false},
		{"before the scheduled time", ptr(due), due.Add(-time.Microsecond), false},
		{"at the scheduled time", ptr(due), due, true},
		{"after the scheduled time", ptr(due), due.Add(time.Microsecond), true},
		{"long after", ptr(due), due.Add(30 * 24 * time.Hour), true},
	}
	for _, tc := range cases {
		if got := (&store.Application{ScheduledDeletionTime: tc.due}).GoneAt(tc.now); got != tc.gone {
			t.Errorf("%s: GoneAt = %v, want %v", tc.name, got, tc.gone)
		}
	}
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		for i, tc := range cases {
			app := newApp(fmt.Sprintf("gone-%d", i), "tenant-gone", t0)
			app.ScheduledDeletionTime = tc.due
			mustCreate(t, s, app)
			_, err := s.GetApplication(ctx, "tenant-gone", app.ID, tc.now)
			if gone := errors.Is(err, store.ErrNotFound); gone != tc.gone || (err != nil && !gone) {
				t.Errorf("%s: GetApplication: %v, want gone %v", tc.name, err, tc.gone)
			}
			byID, err := store.ApplicationsByID(s, ctx, []string{app.ID}, tc.now)
			if err != nil || (len(byID) == 0) != tc.gone {
				t.Errorf("%s: ApplicationsByID = %d rows, %v; want gone %v", tc.name, len(byID), err, tc.gone)
			}
		}
	})
}

// TestReadByIDInEveryExecMode: the read by id of viewApplication, which goes to pgx with an
// array of ids (id = ANY($2)), reads the right rows whichever query mode the database URL
// asks pgx for (an operator behind PgBouncer may set default_query_exec_mode=simple_protocol,
// where the array is written into the statement's text), ids with quotes, braces, commas and
// backslashes included.
func TestReadByIDInEveryExecMode(t *testing.T) {
	t.Parallel()
	base := storetest.PostgresURL(t)
	ctx := context.Background()
	writer, err := store.Open(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	odd := []string{`plain`, `it's`, `{braced}`, `a,b`, `say "hi"`, `back\slash`, `NULL`, `ünï`}
	for i, id := range odd {
		app := newApp(id, "acme", t0)
		if i == 1 {
			app.ScheduledDeletionTime = ptr(t0.Add(time.Hour))
		}
		mustCreate(t, writer, app)
	}
	asked := append(slices.Clone(odd), `unknown`, `{plain}`, `"plain"`)
	for _, mode := range []string{"cache_statement", "cache_describe", "describe_exec", "exec", "simple_protocol"} {
		t.Run(mode, func(t *testing.T) {
			u, err := url.Parse(base)
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			q.Set("default_query_exec_mode", mode)
			u.RawQuery = q.Encode()
			s, err := store.Open(ctx, u.String())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for _, at := range []struct {
				now  time.Time
				want []string
			}{
				{t0.Add(time.Minute), odd},
				{t0.Add(2 * time.Hour), slices.Delete(slices.Clone(odd), 1, 2)},
			} {
				apps, err := store.ApplicationsByID(s, ctx, asked, at.now)
				if err != nil {
					t.Fatalf("at %v: %v", at.now, err)
				}
				got := slices.Sorted(slices.Values(ids(apps)))
				if want := slices.Sorted(slices.Values(at.want)); !slices.Equal(got, want) {
					t.Errorf("at %v: %q, want %q", at.now, got, want)
				}
			}
		})
	}
}
