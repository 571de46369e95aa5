package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cxone/appreg/store"
)

func newToken(t *testing.T, s *store.Store, id, tenant string, uses int, expires time.Time) {
	t.Helper()
	err := s.CreateInitialAccessToken(context.Background(), &store.InitialAccessToken{
		ID: id, TenantID: tenant, Hash: "h-" + id, UsesLeft: uses, ExpiresTime: expires,
		CreatedBy: "admin", CreatedTime: expires.Add(-time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
}

func registered(id, tenant, tokenID string, created time.Time) *store.Application {
	a := newApp(id, tenant, created)
	a.Type = "public"
	a.RegistrationMethod = store.RegistrationAnonymous
	if tokenID != "" {
		a.RegistrationMethod, a.RegistrationTokenID = store.RegistrationInitialToken, tokenID
	}
	return a
}

// TestRegisterTakesOneUse: a token with one use left, used by concurrent registrations,
// registers exactly one client; the others get ErrTokenRefused and create nothing.
func TestRegisterTakesOneUse(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
		newToken(t, s, "00000000-0000-4000-8000-000000000001", "acme", 1, now.Add(time.Hour))
		const n = 6
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				app := registered(fmt.Sprintf("reg-%d", i), "acme", "00000000-0000-4000-8000-000000000001", now)
				errs[i] = s.RegisterApplication(ctx, app, nil, store.Registration{
					InitialTokenID: app.RegistrationTokenID, AccessTokenHash: fmt.Sprint("rat-", i), DailyLimit: 100,
				})
			})
		}
		wg.Wait()
		ok := 0
		for i, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, store.ErrTokenRefused):
				t.Errorf("registration %d: %v, want ErrTokenRefused", i, err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d registrations succeeded with a one-use token, want 1", ok)
		}
		apps, _, err := s.ListApplications(ctx, store.ListQuery{TenantID: "acme", Now: now})
		if err != nil || len(apps) != 1 {
			t.Fatalf("applications after the race: %d, %v; want 1", len(apps), err)
		}
		if apps[0].RegistrationMethod != store.RegistrationInitialToken || apps[0].RegistrationTokenID == "" {
			t.Errorf("registration link: %q %q", apps[0].RegistrationMethod, apps[0].RegistrationTokenID)
		}
		tokens, err := s.ListInitialAccessTokens(ctx, "acme")
		if err != nil || len(tokens) != 1 || tokens[0].UsesLeft != 0 {
			t.Fatalf("token after the race: %+v, %v", tokens, err)
		}
	})
}

func TestRegisterRefusals(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
		const (
			expired = "00000000-0000-4000-8000-0000000000e1"
			revoked = "00000000-0000-4000-8000-0000000000e2"
			other   = "00000000-0000-4000-8000-0000000000e3"
			good    = "00000000-0000-4000-8000-0000000000e4"
		)
		newToken(t, s, expired, "acme", 5, now)
		newToken(t, s, revoked, "acme", 5, now.Add(time.Hour))
		newToken(t, s, other, "globex", 5, now.Add(time.Hour))
		newToken(t, s, good, "acme", 5, now.Add(time.Hour))
		if err := s.RevokeInitialAccessToken(ctx, "acme", revoked, now); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeInitialAccessToken(ctx, "globex", revoked, now); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("revoking another tenant's token: %v, want ErrNotFound", err)
		}
		cases := []struct {
			name, token string
			limit       int
			want        error
		}{
			{"expired token", expired, 100, store.ErrTokenRefused},
			{"revoked token", revoked, 100, store.ErrTokenRefused},
			{"another tenant's token", other, 100, store.ErrTokenRefused},
			{"anonymous within the limit", "", 2, nil},
			{"token within the limit", good, 2, nil},
			{"over the daily limit", good, 2, store.ErrDailyLimit},
		}
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				app := registered(fmt.Sprint("refusal-", i), "acme", tc.token, now)
				err := s.RegisterApplication(ctx, app, nil, store.Registration{InitialTokenID: tc.token, AccessTokenHash: "x", DailyLimit: tc.limit})
				if !errors.Is(err, tc.want) {
					t.Fatalf("RegisterApplication = %v, want %v", err, tc.want)
				}
				_, err = s.GetApplication(ctx, "acme", app.ID, now)
				if (tc.want == nil) != (err == nil) {
					t.Errorf("GetApplication after %v: %v", tc.want, err)
				}
			})
		}
		tokens, _ := s.ListInitialAccessTokens(ctx, "acme")
		for _, tok := range tokens {
			if tok.ID == good && tok.UsesLeft != 4 {
				t.Errorf("the token refused for the daily limit lost a use: %d left, want 4", tok.UsesLeft)
			}
		}
	})
}

// TestRegistrationAccessTokenRotation: an update rotates the token; the old one is refused
// afterwards, and a delete removes the token.
func TestRegistrationAccessTokenRotation(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
		app := registered("rot-1", "acme", "", now)
		if err := s.RegisterApplication(ctx, app, nil, store.Registration{AccessTokenHash: "old", DailyLimit: 10}); err != nil {
			t.Fatal(err)
		}
		rename := func(a *store.Application) error { a.Name = "renamed"; return nil }
		if _, err := s.UpdateRegisteredApplication(ctx, "acme", app.ID, "old", "new", now, rename); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpdateRegisteredApplication(ctx, "acme", app.ID, "old", "newer", now, rename); !errors.Is(err, store.ErrTokenRefused) {
			t.Fatalf("update with the rotated token: %v, want ErrTokenRefused", err)
		}
		tok, err := s.RegistrationAccessTokenOf(ctx, app.ID)
		if err != nil || tok.Hash != "new" {
			t.Fatalf("token after rotation: %+v, %v", tok, err)
		}
		if _, err := s.DeleteRegistration(ctx, "acme", app.ID, "new", now, func(a *store.Application) error { a.Enabled = false; return nil }); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RegistrationAccessTokenOf(ctx, app.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("token after delete: %v, want ErrNotFound", err)
		}
	})
}

func TestRegistrationPolicyPartialUpdates(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		def := store.RegistrationPolicy{InitialState: "disabled", DailyLimit: 100, AllowedTypes: []string{"public"}, LastModifiedTime: time.Now()}
		if _, err := s.GetRegistrationPolicy(ctx, "acme"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("policy before any change: %v, want ErrNotFound", err)
		}
		var wg sync.WaitGroup
		wg.Go(func() {
			_, err := s.UpdateRegistrationPolicy(ctx, "acme", def, func(p *store.RegistrationPolicy) error { p.Enabled = true; return nil })
			if err != nil {
				t.Error(err)
			}
		})
		wg.Go(func() {
			_, err := s.UpdateRegistrationPolicy(ctx, "acme", def, func(p *store.RegistrationPolicy) error { p.DailyLimit = 7; return nil })
			if err != nil {
				t.Error(err)
			}
		})
		wg.Wait()
		p, err := s.GetRegistrationPolicy(ctx, "acme")
		if err != nil || !p.Enabled || p.DailyLimit != 7 || len(p.AllowedTypes) != 1 {
			t.Fatalf("policy after two concurrent partial updates: %+v, %v", p, err)
		}
	})
}

func TestUnusedRegistrations(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
		def := store.RegistrationPolicy{InitialState: "disabled", DailyLimit: 100, LastModifiedTime: now}
		if _, err := s.UpdateRegistrationPolicy(ctx, "acme", def, func(p *store.RegistrationPolicy) error { p.DeleteUnusedAfterDays = 3; return nil }); err != nil {
			t.Fatal(err)
		}
		mk := func(id, tenant string, age time.Duration, used bool, method string) {
			a := registered(id, tenant, "", now.Add(-age))
			a.RegistrationMethod = method
			if used {
				a.LastUsedTime = &now
			}
			if err := s.RegisterApplication(ctx, a, nil, store.Registration{AccessTokenHash: id, DailyLimit: 100}); err != nil {
				t.Fatal(err)
			}
		}
		mk("old-unused", "acme", 4*24*time.Hour, false, store.RegistrationAnonymous)
		mk("young-unused", "acme", 2*24*time.Hour, false, store.RegistrationAnonymous)
		mk("old-used", "acme", 4*24*time.Hour, true, store.RegistrationAnonymous)
		mk("old-admin-made", "acme", 4*24*time.Hour, false, "")
		mk("other-tenant", "globex", 40*24*time.Hour, false, store.RegistrationAnonymous)
		got, err := s.UnusedRegistrations(ctx, now, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].ID != "old-unused" || got[0].TenantID != "acme" {
			t.Fatalf("UnusedRegistrations = %+v, want old-unused only", got)
		}
	})
}
