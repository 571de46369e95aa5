package server_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/cxone/appreg/gen"
	"github.com/cxone/appreg/server/auth"
)

// created registers body for tenant and returns the answer.
func (e *testEnv) created(tenant string, body gen.CreateApplicationJSONRequestBody) *gen.ApplicationWithSecret {
	e.t.Helper()
	r, err := e.client(tenant).CreateApplicationWithResponse(context.Background(), nil, body)
	if err != nil || r.JSON201 == nil {
		e.t.Fatalf("create: %v %d %s", err, r.StatusCode(), r.Body)
	}
	return r.JSON201
}

func TestVerifyReasons(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		owner := e.client("acme")
		lk := e.client("platform", auth.RoleLookup)

		good := e.created("acme", confidentialBody())
		disabled := e.created("acme", confidentialBody())
		locked := e.created("acme", confidentialBody())
		allPending := confidentialBody()
		allPending.Tenancy = ptr(gen.All)
		pending := e.created("acme", allPending)
		public := e.created("acme", gen.CreateApplicationJSONRequestBody{
			Name: "SPA", Contacts: []string{"a@example.com"}, Type: gen.Public,
			Redirects: ptr([]string{"https://spa.example.com/cb"}),
		})
		if r, _ := owner.DisableApplicationWithResponse(ctx, disabled.ID, nil); r.StatusCode() != http.StatusNoContent {
			t.Fatalf("disable: %d", r.StatusCode())
		}
		if r, _ := owner.DeleteApplicationWithResponse(ctx, locked.ID, nil); r.StatusCode() != http.StatusOK {
			t.Fatalf("delete: %d", r.StatusCode())
		}

		tests := []struct {
			name, id, secret, tenant string
			want                     gen.VerifyResultReason // "" = valid
		}{
			{"valid", good.ID, *good.Secret, "acme", ""},
			{"unknown client", "00000000-0000-4000-8000-000000000000", *good.Secret, "acme", gen.VerifyResultReasonUnknownClient},
			{"wrong secret", good.ID, *good.Secret + "x", "acme", gen.VerifyResultReasonWrongSecret},
			{"another client's secret", good.ID, *disabled.Secret, "acme", gen.VerifyResultReasonWrongSecret},
			{"disabled", disabled.ID, *disabled.Secret, "acme", gen.VerifyResultReasonDisabled},
			{"locked", locked.ID, *locked.Secret, "acme", gen.VerifyResultReasonLocked},
			{"public client", public.ID, "anything", "acme", gen.VerifyResultReasonPublicClient},
			{"other tenant", good.ID, *good.Secret, "globex", gen.VerifyResultReasonNotAllowedForTenant},
			{"all-tenant pending, other tenant", pending.ID, *pending.Secret, "globex", gen.VerifyResultReasonNotAllowedForTenant},
			{"all-tenant pending, owner", pending.ID, *pending.Secret, "acme", ""},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				r, err := lk.VerifyClientSecretWithResponse(ctx, tc.id, gen.VerifyClientSecretJSONRequestBody{Secret: tc.secret, TenantID: tc.tenant})
				if err != nil || r.JSON200 == nil {
					t.Fatalf("verify: %v %d %s", err, r.StatusCode(), r.Body)
				}
				got := r.JSON200
				if tc.want == "" {
					if !got.Valid || got.Reason != nil || got.Policy == nil || got.Policy.ID != tc.id {
						t.Fatalf("want valid with policy, got %s", r.Body)
					}
					return
				}
				if got.Valid || got.Reason == nil || *got.Reason != tc.want || got.Policy != nil {
					t.Fatalf("want invalid %s without policy, got %s", tc.want, r.Body)
				}
			})
		}

		// Approval makes the all-tenant application usable in every tenant.
		admin := e.client("ops", auth.RoleAdmin)
		if r, _ := admin.DecideTenancyWithResponse(ctx, pending.ID, gen.DecideTenancyJSONRequestBody{Decision: gen.Approve}); r.StatusCode() != http.StatusOK {
			t.Fatalf("approve: %d %s", r.StatusCode(), r.Body)
		}
		r, _ := lk.VerifyClientSecretWithResponse(ctx, pending.ID, gen.VerifyClientSecretJSONRequestBody{Secret: *pending.Secret, TenantID: "globex"})
		if r.JSON200 == nil || !r.JSON200.Valid || r.JSON200.Policy.EffectiveTenancy != gen.All {
			t.Fatalf("approved all-tenant app in another tenant: %s", r.Body)
		}
		p, _ := lk.LookupClientWithResponse(ctx, pending.ID, &gen.LookupClientParams{TenantID: "globex"})
		if p.JSON200 == nil || !p.JSON200.AllowedForTenant {
			t.Fatalf("lookup after approval: %s", p.Body)
		}
	})
}

func TestLookupClientPolicy(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		lk := e.client("platform", auth.RoleLookup)
		conf := e.created("acme", confidentialBody())
		backend := e.created("acme", gen.CreateApplicationJSONRequestBody{
			Name: "Exporter", Contacts: []string{"ops@example.com"}, Type: gen.Backend,
		})
		public := e.created("acme", gen.CreateApplicationJSONRequestBody{
			Name: "SPA", Contacts: []string{"a@example.com"}, Type: gen.Public,
			Redirects: ptr([]string{"https://spa.example.com/cb"}),
		})
		tests := []struct {
			name, id, tenant         string
			allowed, pkce, tokenOnly bool
			grants                   []gen.ClientPolicyGrantTypes
		}{
			{"confidential, owner", conf.ID, "acme", true, false, false, []gen.ClientPolicyGrantTypes{gen.AuthorizationCode, gen.RefreshToken, gen.ClientCredentials}},
			{"confidential, other tenant", conf.ID, "globex", false, false, false, []gen.ClientPolicyGrantTypes{gen.AuthorizationCode, gen.RefreshToken, gen.ClientCredentials}},
			{"backend", backend.ID, "acme", true, false, true, []gen.ClientPolicyGrantTypes{gen.ClientCredentials}},
			{"public", public.ID, "acme", true, true, false, []gen.ClientPolicyGrantTypes{gen.AuthorizationCode, gen.RefreshToken}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				r, err := lk.LookupClientWithResponse(ctx, tc.id, &gen.LookupClientParams{TenantID: tc.tenant})
				if err != nil || r.JSON200 == nil {
					t.Fatalf("lookup: %v %d %s", err, r.StatusCode(), r.Body)
				}
				p := r.JSON200
				if p.AllowedForTenant != tc.allowed || p.PkceRequired != tc.pkce || p.TokenEndpointOnly != tc.tokenOnly ||
					p.TenantID != "acme" || !p.IsEnabled || p.Locked || len(p.GrantTypes) != len(tc.grants) {
					t.Fatalf("policy: %s", r.Body)
				}
				for i := range tc.grants {
					if p.GrantTypes[i] != tc.grants[i] {
						t.Fatalf("grantTypes: %v, want %v", p.GrantTypes, tc.grants)
					}
				}
			})
		}

		t.Run("unknown and purged clients are 404", func(t *testing.T) {
			r, _ := lk.LookupClientWithResponse(ctx, "no-such-client", &gen.LookupClientParams{TenantID: "acme"})
			if r.StatusCode() != http.StatusNotFound {
				t.Fatalf("unknown: %d", r.StatusCode())
			}
		})
		t.Run("a disable is seen at once", func(t *testing.T) {
			if r, _ := e.client("acme").DisableApplicationWithResponse(ctx, conf.ID, nil); r.StatusCode() != http.StatusNoContent {
				t.Fatal(r.StatusCode())
			}
			r, _ := lk.LookupClientWithResponse(ctx, conf.ID, &gen.LookupClientParams{TenantID: "acme"})
			if r.JSON200 == nil || r.JSON200.IsEnabled {
				t.Fatalf("after disable: %s", r.Body)
			}
		})
		t.Run("a passed deletion time hides the client", func(t *testing.T) {
			if r, _ := e.client("acme").DeleteApplicationWithResponse(ctx, backend.ID, nil); r.StatusCode() != http.StatusOK {
				t.Fatal(r.StatusCode())
			}
			r, _ := lk.LookupClientWithResponse(ctx, backend.ID, &gen.LookupClientParams{TenantID: "acme"})
			if r.JSON200 == nil || !r.JSON200.Locked || r.JSON200.IsEnabled {
				t.Fatalf("scheduled: %s", r.Body)
			}
			e.Clock.Advance(e.Grace)
			r, _ = lk.LookupClientWithResponse(ctx, backend.ID, &gen.LookupClientParams{TenantID: "acme"})
			if r.StatusCode() != http.StatusNotFound {
				t.Fatalf("after the scheduled time: %d", r.StatusCode())
			}
		})
	})
}

func TestCORSCheck(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		lk := e.client("platform", auth.RoleLookup)
		app := e.created("acme", confidentialBody()) // origin https://desktop.example.com

		check := func(origin, tenant string) bool {
			t.Helper()
			r, err := lk.CheckCORSOriginWithResponse(ctx, &gen.CheckCORSOriginParams{Origin: origin, TenantID: tenant})
			if err != nil || r.JSON200 == nil {
				t.Fatalf("cors: %v %d %s", err, r.StatusCode(), r.Body)
			}
			if cc := r.HTTPResponse.Header.Get("Cache-Control"); cc != "max-age=1" {
				t.Errorf("Cache-Control %q, want max-age=1", cc)
			}
			return r.JSON200.Allowed
		}
		tests := []struct {
			name, origin, tenant string
			want                 bool
		}{
			{"listed origin, owner tenant", "https://desktop.example.com", "acme", true},
			{"normalised form", "HTTPS://Desktop.Example.com:443", "acme", true},
			{"other tenant", "https://desktop.example.com", "globex", false},
			{"unlisted origin", "https://evil.example.com", "acme", false},
			{"other port", "https://desktop.example.com:8443", "acme", false},
			{"browser null origin", "null", "acme", false},
			{"garbage", "%%%", "acme", false},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				if got := check(tc.origin, tc.tenant); got != tc.want {
					t.Fatalf("allowed = %v, want %v", got, tc.want)
				}
			})
		}
		owner := e.client("acme")
		owner.DisableApplicationWithResponse(ctx, app.ID, nil)
		if check("https://desktop.example.com", "acme") {
			t.Fatal("allowed after disable")
		}
		owner.EnableApplicationWithResponse(ctx, app.ID, nil)
		if !check("https://desktop.example.com", "acme") {
			t.Fatal("not allowed after enable")
		}
		// The writing replica's own answers follow at once, also for an origin whose
		// "not allowed" answer is cached and that the write adds.
		if check("https://new.example.com", "acme") {
			t.Fatal("unlisted origin allowed")
		}
		r, _ := owner.PatchApplicationWithResponse(ctx, app.ID, nil, gen.PatchApplicationJSONRequestBody{Origins: ptr([]string{"https://new.example.com"})})
		if r.StatusCode() != http.StatusOK {
			t.Fatalf("patch: %d %s", r.StatusCode(), r.Body)
		}
		if check("https://desktop.example.com", "acme") || !check("https://new.example.com", "acme") {
			t.Fatal("origin change not reflected")
		}
		if check("https://later.example.com", "acme") {
			t.Fatal("unlisted origin allowed")
		}
		body := confidentialBody()
		body.Origins = ptr([]string{"https://later.example.com"})
		e.created("acme", body)
		if !check("https://later.example.com", "acme") {
			t.Fatal("origin of a new application not allowed at once")
		}
	})
}

func TestLookupNeedsRole(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *testEnv) {
		app := e.created("acme", confidentialBody())
		tok := e.token("acme", "user@acme") // a tenant user, not the platform
		paths := []struct{ method, path, body string }{
			{http.MethodGet, "/internal/clients/" + app.ID + "?tenantId=acme", ""},
			{http.MethodPost, "/internal/clients/" + app.ID + "/verify", `{"secret":"x","tenantId":"acme"}`},
			{http.MethodGet, "/internal/cors?tenantId=acme&origin=" + url.QueryEscape("https://desktop.example.com"), ""},
		}
		for _, p := range paths {
			resp, body := e.do(p.method, p.path, tok, "application/json", []byte(p.body))
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s %s: %d %s, want 403", p.method, p.path, resp.StatusCode, body)
			}
		}
	})
}

// TestLastUsedTimeFromVerify: verifications and lookups, through the whole stack (the hot path
// once warm), feed lastUsedTime: the application's is its latest use, a lookup included; its
// secret's is the latest verification. Uses are noted once a second per cached client
// (lookup.Cache.NoteClientUse): a use a minute later must still be written.
func TestLastUsedTimeFromVerify(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		app := e.created("acme", confidentialBody())
		lk := e.client("platform", auth.RoleLookup)
		verified := e.Clock.Now().Truncate(time.Microsecond)
		for i := 0; i < 5; i++ {
			r, _ := lk.VerifyClientSecretWithResponse(ctx, app.ID, gen.VerifyClientSecretJSONRequestBody{Secret: *app.Secret, TenantID: "acme"})
			if r.JSON200 == nil || !r.JSON200.Valid {
				t.Fatalf("verify: %s", r.Body)
			}
		}
		lookup := func() {
			t.Helper()
			if r, _ := lk.LookupClientWithResponse(ctx, app.ID, &gen.LookupClientParams{TenantID: "acme"}); r.JSON200 == nil {
				t.Fatalf("lookup: %d %s", r.StatusCode(), r.Body)
			}
		}
		lookup() // a use like the next ones but for its second
		e.Clock.Advance(time.Minute)
		looked := e.Clock.Now().Truncate(time.Microsecond)
		lookup()
		lookup()
		// The batched writes are flushed on shutdown.
		if err := e.Cache.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		v, _ := e.client("acme").ViewApplicationWithResponse(ctx, app.ID)
		if v.JSON200 == nil || v.JSON200.LastUsedTime == nil || !v.JSON200.LastUsedTime.Equal(looked) {
			t.Fatalf("lastUsedTime after verifies, lookups a minute later (%s) and a flush: %s", looked, v.Body)
		}
		secrets, err := e.Store.ListSecrets(ctx, app.ID)
		if err != nil || len(secrets) != 1 || secrets[0].LastUsedTime == nil || !secrets[0].LastUsedTime.Equal(verified) {
			t.Fatalf("secret lastUsedTime: %v %+v, want the verification's %s", err, secrets, verified)
		}
	})
}
