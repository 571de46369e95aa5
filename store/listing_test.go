package store_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cxone/appreg/store"
)

// listBoth runs q with ListApplications and with ListApplicationStates, checks that they
// list the same applications (the states being those of the rows read whole) with the same
// more, and returns ListApplications' answer. The listing tests call it, so every rule of a
// listing (tenant, visibility, order, paging, pending tenancy) holds for both.
func listBoth(t *testing.T, s *store.Store, q store.ListQuery) ([]store.Application, bool, error) {
	t.Helper()
	ctx := context.Background()
	apps, more, err := s.ListApplications(ctx, q)
	rows, moreRows, errRows := s.ListApplicationStates(ctx, q)
	if (err == nil) != (errRows == nil) || more != moreRows || len(rows) != len(apps) {
		t.Fatalf("ListApplicationStates(%+v) = %d rows, more %v, %v; ListApplications %d, more %v, %v",
			q, len(rows), moreRows, errRows, len(apps), more, err)
	}
	for i := range apps {
		if want := apps[i].State(); !sameListed(rows[i], want) {
			t.Errorf("ListApplicationStates row %d = %+v, want %+v", i, rows[i], want)
		}
	}
	return apps, more, err
}

// sameListed compares two states, times with Equal and in UTC.
func sameListed(x, y store.Listed) bool {
	utc := x.CreatedTime.Location() == time.UTC && (x.LastUsedTime == nil || x.LastUsedTime.Location() == time.UTC)
	lastUsed := x.LastUsedTime == nil && y.LastUsedTime == nil ||
		x.LastUsedTime != nil && y.LastUsedTime != nil && x.LastUsedTime.Equal(*y.LastUsedTime)
	return utc && lastUsed && x.ID == y.ID && x.TenantID == y.TenantID && x.Version == y.Version && x.CreatedTime.Equal(y.CreatedTime)
}

// TestListedStateMoves: the state a listing reads changes with every write of an application,
// so that an answer kept for one state is never the answer of another (the list cache relies
// on it): an update (even one that changes nothing), a new lastUsedTime, a rotation and a
// revocation of a secret (they move secretExpiresTime), and an application purged and
// imported again under the same id, in another tenant.
func TestListedStateMoves(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		state := func(tenant string) store.Listed {
			t.Helper()
			rows, _, err := s.ListApplicationStates(ctx, store.ListQuery{TenantID: tenant, Now: t0})
			if err != nil || len(rows) != 1 {
				t.Fatalf("ListApplicationStates(%s) = %v, %v; want one row", tenant, rows, err)
			}
			return rows[0]
		}
		app := newApp("legacy-1", "tenant-a", t0.Add(-time.Hour))
		mustCreate(t, s, app)
		seen := []store.Listed{state("tenant-a")}
		changed := func(what string, now store.Listed) {
			t.Helper()
			for _, old := range seen {
				if sameListed(old, now) {
					t.Errorf("after %s the state is %+v, as before", what, now)
				}
			}
			seen = append(seen, now)
		}

		if _, err := s.UpdateApplication(ctx, "tenant-a", app.ID, t0, func(a *store.Application) error {
			a.Description = "changed"
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		changed("an update", state("tenant-a"))
		if _, err := s.UpdateApplication(ctx, "tenant-a", app.ID, t0, func(*store.Application) error { return nil }); err != nil {
			t.Fatal(err)
		}
		changed("an update that changes nothing", state("tenant-a"))
		if err := s.TouchLastUsed(ctx, map[string]time.Time{app.ID: t0.Add(-time.Minute)}); err != nil {
			t.Fatal(err)
		}
		changed("a first use", state("tenant-a"))
		if err := s.TouchLastUsed(ctx, map[string]time.Time{app.ID: t0.Add(-time.Second)}); err != nil {
			t.Fatal(err)
		}
		changed("a later use", state("tenant-a"))

		// A rotation and a revocation move secretExpiresTime, which listings answer.
		if _, err := s.UpdateApplication(ctx, "tenant-a", app.ID, t0, func(a *store.Application) error {
			a.Secrets = append(a.Secrets, store.Secret{Hash: "h1", ExpiresTime: ptr(t0.Add(time.Hour))}, store.Secret{Hash: "h2"})
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		changed("a rotation", state("tenant-a"))
		if _, err := s.UpdateApplication(ctx, "tenant-a", app.ID, t0, func(a *store.Application) error {
			a.Secrets = slices.DeleteFunc(a.Secrets, func(x store.Secret) bool { return x.ExpiresTime != nil })
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		changed("a revocation", state("tenant-a"))

		if _, err := s.UpdateApplication(ctx, "tenant-a", app.ID, t0, func(a *store.Application) error {
			a.ScheduledDeletionTime = ptr(t0.Add(time.Second))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if purged, err := s.PurgeDue(ctx, t0.Add(time.Minute), 10); err != nil || len(purged) != 1 {
			t.Fatalf("PurgeDue = %d, %v", len(purged), err)
		}
		again := newApp("legacy-1", "tenant-b", t0)
		again.Name = "another application"
		mustCreate(t, s, again)
		changed("a purge and an import of the same id", state("tenant-b"))
	})
}

// TestApplicationsByID: the visible applications of a tenant among the ids, in any order,
// whatever the number of ids; ids no row can hold are left out, not refused.
func TestApplicationsByID(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		var all []string
		for i := range 230 { // more than one query's worth of ids
			app := newApp(fmt.Sprintf("app-%03d", i), "tenant-a", t0.Add(time.Duration(i)*time.Second))
			if i%10 == 9 {
				app.ScheduledDeletionTime = ptr(t0.Add(-time.Second)) // due: invisible at t0
			}
			mustCreate(t, s, app)
			all = append(all, app.ID)
		}
		mustCreate(t, s, newApp("other-1", "tenant-b", t0))
		visible := slices.DeleteFunc(slices.Clone(all), func(id string) bool { return strings.HasSuffix(id, "9") })

		cases := []struct {
			name   string
			tenant string
			ids    []string
			want   []string
		}{
			{"every one", "tenant-a", all, visible},
			{"none", "tenant-a", nil, nil},
			{"another tenant's", "tenant-a", []string{"app-001", "other-1"}, []string{"app-001"}},
			{"any tenant", "", []string{"app-001", "other-1"}, []string{"app-001", "other-1"}},
			{"missing and impossible", "tenant-a",
				[]string{"app-002", "missing", "bad\x00id", "\xff\xfe", strings.Repeat("x", 129)}, []string{"app-002"}},
			{"due for deletion", "tenant-a", []string{"app-009", "app-010"}, []string{"app-010"}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				apps, err := s.ApplicationsByID(ctx, tc.tenant, tc.ids, t0)
				if err != nil {
					t.Fatal(err)
				}
				got := ids(apps)
				slices.Sort(got)
				if !slices.Equal(got, tc.want) && len(got)+len(tc.want) > 0 {
					t.Errorf("ApplicationsByID = %v, want %v", got, tc.want)
				}
				for i := range apps {
					want, err := s.GetApplication(ctx, "", apps[i].ID, t0)
					if err != nil {
						t.Fatal(err)
					}
					assertAppEqual(t, want, &apps[i])
				}
			})
		}
	})
}

// TestListedRowsShareNothing: rows scanned through one set of destinations, by
// ListApplicationStates and by the application readers (ApplicationsByID, and on PostgreSQL
// readApplications, which normalises its row before copying it out), keep each their own
// last-used time.
func TestListedRowsShareNothing(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		used := map[string]time.Time{}
		for i := range 3 {
			app := newApp(fmt.Sprintf("used-%d", i), "tenant-used", t0.Add(time.Duration(i)*time.Second))
			mustCreate(t, s, app)
			used[app.ID] = t0.Add(time.Duration(i+1) * time.Hour).Truncate(time.Microsecond)
		}
		if err := s.TouchLastUsed(ctx, used); err != nil {
			t.Fatal(err)
		}
		checkUsed := func(reader, id string, got *time.Time) {
			if got == nil || !got.Equal(used[id]) {
				t.Errorf("%s: %s: last used %v, want %v", reader, id, got, used[id])
			}
		}
		rows, _, err := s.ListApplicationStates(ctx, store.ListQuery{TenantID: "tenant-used", Now: t0})
		if err != nil || len(rows) != 3 {
			t.Fatalf("ListApplicationStates = %d rows, %v", len(rows), err)
		}
		for _, r := range rows {
			checkUsed("ListApplicationStates", r.ID, r.LastUsedTime)
		}
		apps, err := s.ApplicationsByID(ctx, "tenant-used", slices.Collect(maps.Keys(used)), t0)
		if err != nil || len(apps) != 3 {
			t.Fatalf("ApplicationsByID = %d applications, %v", len(apps), err)
		}
		for _, a := range apps {
			checkUsed("ApplicationsByID", a.ID, a.LastUsedTime)
		}
	})
}
