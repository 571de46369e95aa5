package store_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cxone/appreg/store"
)

func TestGetClient(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		app := newApp("cl", "tenant-a", t0)
		mustCreate(t, s, app,
			store.Secret{Hash: "new", CreatedTime: t0.Add(time.Second)},
			store.Secret{Hash: "old", CreatedTime: t0})
		mustCreate(t, s, newApp("no-secret", "tenant-b", t0))
		due := newApp("due", "tenant-a", t0)
		due.ScheduledDeletionTime = ptr(t0.Add(time.Minute))
		mustCreate(t, s, due, store.Secret{Hash: "x"})

		got, secrets, err := s.GetClient(ctx, "cl", t0)
		if err != nil {
			t.Fatalf("GetClient: %v", err)
		}
		assertAppEqual(t, app, got)
		if len(secrets) != 2 || secrets[0].Hash != "old" || secrets[1].Hash != "new" {
			t.Errorf("secrets = %+v, want old then new", secrets)
		}

		_, secrets, err = s.GetClient(ctx, "no-secret", t0)
		if err != nil || secrets == nil || len(secrets) != 0 {
			t.Errorf("GetClient(no-secret) secrets = %#v, %v; want empty", secrets, err)
		}

		cases := []struct {
			name, id string
			now      time.Time
			found    bool
		}{
			{"missing", "missing", t0, false},
			{"scheduled, not yet due", "due", t0, true},
			{"due", "due", t0.Add(time.Minute), false},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				_, _, err := s.GetClient(ctx, tc.id, tc.now)
				if tc.found && err != nil || !tc.found && !errors.Is(err, store.ErrNotFound) {
					t.Errorf("GetClient(%s) err = %v, found = %v", tc.id, err, tc.found)
				}
			})
		}
	})
}

func TestApplicationsWithOrigin(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		const shared = "https://shared.example.com"
		for _, c := range []struct {
			id      string
			origins []string
			sched   *time.Time
			enabled bool
		}{
			{"w-b", []string{shared}, nil, true},
			{"w-a", []string{"https://a.example.com", shared}, nil, false},
			{"w-due", []string{shared}, ptr(t0), false},
			{"w-later", []string{shared}, ptr(t0.Add(time.Hour)), false},
			{"w-none", nil, nil, true},
		} {
			app := newApp(c.id, "tenant-"+c.id, t0)
			app.Origins, app.ScheduledDeletionTime, app.Enabled = c.origins, c.sched, c.enabled
			mustCreate(t, s, app)
		}
		cases := []struct {
			origin string
			want   []string
		}{
			{shared, []string{"w-a", "w-b", "w-later"}},
			{"https://a.example.com", []string{"w-a"}},
			{"https://SHARED.example.com", []string{}},
			{"https://nobody.example.com", []string{}},
		}
		for _, tc := range cases {
			t.Run(tc.origin, func(t *testing.T) {
				apps, err := s.ApplicationsWithOrigin(ctx, tc.origin, t0)
				if err != nil || apps == nil || !slices.Equal(ids(apps), tc.want) {
					t.Errorf("ApplicationsWithOrigin = %v (nil %v), %v; want %v", ids(apps), apps == nil, err, tc.want)
				}
				for _, a := range apps {
					if !slices.Contains(a.Origins, tc.origin) || a.Name != "app "+a.ID {
						t.Errorf("incomplete application %+v", a)
					}
				}
			})
		}

		got, err := s.ApplicationOrigins(ctx, []string{"w-a", "w-none", "missing", "w-due"})
		want := map[string][]string{"w-a": {"https://a.example.com", shared}, "w-due": {shared}}
		if err != nil || !maps.EqualFunc(got, want, slices.Equal) {
			t.Errorf("ApplicationOrigins = %v, %v; want %v", got, err, want)
		}
	})
}

func TestTouchLastUsed(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		app := newApp("tu", "tenant-a", t0)
		app.LastUsedTime = ptr(t0)
		mustCreate(t, s, app, store.Secret{Hash: "h"})
		mustCreate(t, s, newApp("tu-never", "tenant-a", t0))
		secrets, err := s.ListSecrets(ctx, "tu")
		if err != nil {
			t.Fatal(err)
		}
		secretID := secrets[0].ID
		_, seq := changesAfter(t, s, 0)

		lastUsed := func(id string) *time.Time {
			t.Helper()
			a, err := s.GetApplication(ctx, "", id, t0)
			if err != nil {
				t.Fatal(err)
			}
			if a.Version != 1 {
				t.Errorf("%s: Version %d after touches, want 1", id, a.Version)
			}
			return a.LastUsedTime
		}
		secretLastUsed := func() *time.Time {
			t.Helper()
			secrets, err := s.ListSecrets(ctx, "tu")
			if err != nil {
				t.Fatal(err)
			}
			return secrets[0].LastUsedTime
		}
		steps := []struct {
			name string
			at   time.Time // t0 has nanoseconds: the store keeps microseconds
			want time.Time
		}{
			{"later raises", t0.Add(time.Hour), t0.Add(time.Hour)},
			{"earlier never lowers", t0.Add(time.Minute), t0.Add(time.Hour)},
			{"equal is no change", t0.Add(time.Hour), t0.Add(time.Hour)},
			{"a microsecond later raises", t0.Add(time.Hour + time.Microsecond), t0.Add(time.Hour + time.Microsecond)},
		}
		for _, st := range steps {
			if err := s.TouchLastUsed(ctx, map[string]time.Time{"tu": st.at, "tu-never": st.at, "missing": st.at}); err != nil {
				t.Fatalf("%s: TouchLastUsed: %v", st.name, err)
			}
			if err := s.TouchSecretsLastUsed(ctx, map[string]time.Time{secretID: st.at, "not-a-uuid": st.at, uuid.NewString(): st.at}); err != nil {
				t.Fatalf("%s: TouchSecretsLastUsed: %v", st.name, err)
			}
			want := st.want.Truncate(time.Microsecond)
			if got := lastUsed("tu"); got == nil || !got.Equal(want) {
				t.Errorf("%s: last used %v, want %v", st.name, got, want)
			}
			if got := lastUsed("tu-never"); got == nil || !got.Equal(want) {
				t.Errorf("%s: never-used last used %v, want %v", st.name, got, want)
			}
			if got := secretLastUsed(); got == nil || !got.Equal(want) {
				t.Errorf("%s: secret last used %v, want %v", st.name, got, want)
			}
		}
		if got, _ := changesAfter(t, s, seq); len(got) != 0 {
			t.Errorf("touches recorded changes %v", got)
		}
		if err := s.TouchLastUsed(ctx, nil); err != nil {
			t.Errorf("TouchLastUsed(nil): %v", err)
		}
	})
}

// TestTouchLastUsedBatches touches more applications than one statement carries, from two
// flushers at once with overlapping sets, as two replicas do.
func TestTouchLastUsedBatches(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		const n = 600 // more than one statement's chunk
		for i := range n {
			mustCreate(t, s, newApp(fmt.Sprintf("b%04d", i), "tenant-a", t0))
		}
		var wg sync.WaitGroup
		for w := range 2 {
			wg.Go(func() {
				apps := make(map[string]time.Time, n)
				for i := range n {
					apps[fmt.Sprintf("b%04d", i)] = t0.Add(time.Duration(w*n+i) * time.Second)
				}
				start := time.Now()
				if err := s.TouchLastUsed(ctx, apps); err != nil {
					t.Errorf("TouchLastUsed: %v", err)
				}
				t.Logf("%s: touched %d applications in %v", s.Dialect(), n, time.Since(start))
			})
		}
		wg.Wait()
		apps, _, err := s.ListApplications(ctx, store.ListQuery{TenantID: "tenant-a", Now: t0})
		if err != nil || len(apps) != n {
			t.Fatalf("List = %d, %v", len(apps), err)
		}
		for i, a := range apps {
			want := t0.Add(time.Duration(n+i) * time.Second).Truncate(time.Microsecond)
			if a.LastUsedTime == nil || !a.LastUsedTime.Equal(want) || a.Version != 1 {
				t.Fatalf("%s: last used %v version %d; want %v, 1", a.ID, a.LastUsedTime, a.Version, want)
			}
		}
	})
}
