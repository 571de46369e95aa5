package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cxone/appreg/gen"
	"github.com/cxone/appreg/server"
	"github.com/cxone/appreg/server/auth"
	"github.com/cxone/appreg/store"
)

// setPolicy changes tenant's registration policy, failing the test unless it is accepted.
func (e *testEnv) setPolicy(tenant string, body gen.RegistrationPolicyUpdate) gen.RegistrationPolicy {
	e.t.Helper()
	r, err := e.client(tenant).PutRegistrationPolicyWithResponse(context.Background(), body)
	if err != nil || r.JSON200 == nil {
		e.t.Fatalf("put policy: %v %d %s", err, r.StatusCode(), r.Body)
	}
	return *r.JSON200
}

// issueToken issues an initial access token of tenant.
func (e *testEnv) issueToken(tenant string, uses, expiresIn int) *gen.InitialAccessTokenIssued {
	e.t.Helper()
	r, err := e.client(tenant).CreateRegistrationTokenWithResponse(context.Background(),
		gen.InitialAccessTokenCreate{Uses: &uses, ExpiresIn: &expiresIn, Description: ptr("test")})
	if err != nil || r.JSON201 == nil {
		e.t.Fatalf("issue token: %v %d %s", err, r.StatusCode(), r.Body)
	}
	return r.JSON201
}

// register posts metadata to tenant's registration endpoint with token ("" = anonymous).
func (e *testEnv) register(tenant, token string, m gen.ClientMetadata) *gen.RegisterClientResponse {
	e.t.Helper()
	r, err := e.clientWithToken(token).RegisterClientWithResponse(context.Background(), tenant, m)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func mcpMetadata() gen.ClientMetadata {
	return gen.ClientMetadata{
		ClientName:              ptr("Claude Desktop"),
		RedirectUris:            ptr([]gen.RegistrationURI{"http://127.0.0.1:33418/callback"}),
		TokenEndpointAuthMethod: ptr(gen.RegAuthNone),
		GrantTypes:              ptr([]gen.ClientMetadataGrantTypes{gen.RegGrantAuthorizationCode, gen.RegGrantRefreshToken}),
		ResponseTypes:           ptr([]gen.ClientMetadataResponseTypes{gen.ClientMetadataResponseTypesCode}),
	}
}

// openPolicy lets every type register, from loopback and app.example.com, with defaults.
func openPolicy(anonymous bool) gen.RegistrationPolicyUpdate {
	return gen.RegistrationPolicyUpdate{
		Enabled:              ptr(true),
		Anonymous:            ptr(anonymous),
		DefaultContacts:      ptr([]string{"it-admins@example.com"}),
		AllowedTypes:         ptr([]gen.ApplicationType{gen.Public, gen.Confidential, gen.Backend}),
		AllowedRedirectHosts: ptr([]string{"localhost", "127.0.0.1", "[::1]", "app.example.com", "*.agents.example.com", "com.example.app"}),
	}
}

func TestRegistrationPolicy(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		c := e.client("acme")
		got, err := c.GetRegistrationPolicyWithResponse(ctx)
		if err != nil || got.JSON200 == nil {
			t.Fatalf("get: %v %s", err, got.Body)
		}
		d := got.JSON200
		if d.Enabled || d.Anonymous || d.InitialState != gen.RegistrationPolicyInitialStateDisabled || d.DailyLimit != 100 ||
			len(d.AllowedTypes) != 1 || d.AllowedTypes[0] != gen.Public || len(d.AllowedRedirectHosts) != 3 || d.DeleteUnusedAfterDays != 0 {
			t.Errorf("defaults are not the restrictive ones: %+v", d)
		}

		bad := []struct {
			name  string
			body  gen.RegistrationPolicyUpdate
			field string
		}{
			{"enable without default contacts", gen.RegistrationPolicyUpdate{Enabled: ptr(true)}, "defaultContacts"},
			{"bad default contact", gen.RegistrationPolicyUpdate{DefaultContacts: ptr([]string{"not an address"})}, "defaultContacts[0]"},
			{"bad host", gen.RegistrationPolicyUpdate{AllowedRedirectHosts: ptr([]string{"https://x/"})}, "allowedRedirectHosts[0]"},
			{"daily limit 0", gen.RegistrationPolicyUpdate{DailyLimit: ptr(0)}, "dailyLimit"},
		}
		for _, tc := range bad {
			t.Run(tc.name, func(t *testing.T) {
				r, err := c.PutRegistrationPolicyWithResponse(ctx, tc.body)
				if err != nil || r.JSON400 == nil || r.JSON400.Errors == nil || (*r.JSON400.Errors)[0].Field != tc.field {
					t.Fatalf("want 400 naming %s, got %v %d %s", tc.field, err, r.StatusCode(), r.Body)
				}
			})
		}

		p := e.setPolicy("acme", gen.RegistrationPolicyUpdate{DefaultContacts: ptr([]string{"Ops@Example.COM"})})
		p = e.setPolicy("acme", gen.RegistrationPolicyUpdate{Enabled: ptr(true), DailyLimit: ptr(5)})
		if !p.Enabled || p.DailyLimit != 5 || len(p.DefaultContacts) != 1 || p.DefaultContacts[0] != "Ops@example.com" ||
			p.Anonymous || len(p.AllowedTypes) != 1 || p.LastModifiedBy == nil || *p.LastModifiedBy != "user@acme" {
			t.Errorf("a partial PUT changed other fields or lost earlier ones: %+v", p)
		}
		if other, _ := e.client("globex").GetRegistrationPolicyWithResponse(ctx); other.JSON200 == nil || other.JSON200.Enabled {
			t.Errorf("another tenant's policy changed: %s", other.Body)
		}
	})
}

// TestRegisterAnonymousLifecycle: an MCP-style client registers anonymously, is an ordinary
// (disabled) application, reads, updates (the token rotates) and deletes its registration.
func TestRegisterAnonymousLifecycle(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		e.setPolicy("acme", gen.RegistrationPolicyUpdate{Enabled: ptr(true), Anonymous: ptr(true), DefaultContacts: ptr([]string{"it-admins@example.com"})})

		r := e.register("acme", "", mcpMetadata())
		if r.JSON201 == nil {
			t.Fatalf("register: %d %s", r.StatusCode(), r.Body)
		}
		info := r.JSON201
		if info.ClientSecret != nil || info.ClientSecretExpiresAt != nil || info.RegistrationAccessToken == nil ||
			info.TokenEndpointAuthMethod != gen.InfoAuthNone || info.Contacts[0] != "it-admins@example.com" ||
			!strings.HasSuffix(info.RegistrationClientURI, "/tenants/acme/register/"+info.ClientID) {
			t.Errorf("registration answer: %s", r.Body)
		}
		for _, absent := range []string{`"jwks_uri"`, `"scope"`, `"post_logout_redirect_uris"`, `""`} {
			if strings.Contains(string(r.Body), absent) {
				t.Errorf("answer carries %s: %s", absent, r.Body)
			}
		}

		view, _ := e.client("acme").ViewApplicationWithResponse(ctx, info.ClientID)
		app := view.JSON200
		if app == nil || app.IsEnabled || app.Type != gen.Public || app.CreatedBy != "registration:anonymous" ||
			app.Registration == nil || app.Registration.Method != gen.ApplicationRegistrationMethodAnonymous || app.Registration.TokenID != nil {
			t.Fatalf("the registered client as an application: %s", view.Body)
		}
		list, _ := e.client("acme").ListApplicationWithResponse(ctx, nil)
		if list.JSON200 == nil || len(list.JSON200.Applications) != 1 || list.JSON200.Applications[0].Registration == nil {
			t.Fatalf("list: %s", list.Body)
		}
		lk, _ := e.client("platform", auth.RoleLookup).LookupClientWithResponse(ctx, info.ClientID, &gen.LookupClientParams{TenantID: "acme"})
		if lk.JSON200 == nil || lk.JSON200.IsEnabled || !lk.JSON200.PkceRequired {
			t.Fatalf("lookup: %d %s", lk.StatusCode(), lk.Body)
		}

		rat := *info.RegistrationAccessToken
		read, _ := e.clientWithToken(rat).ReadClientRegistrationWithResponse(ctx, "acme", info.ClientID)
		if read.JSON200 == nil || read.JSON200.ClientName != "Claude Desktop" || read.JSON200.RegistrationAccessToken != nil {
			t.Fatalf("read: %d %s", read.StatusCode(), read.Body)
		}
		for name, tok := range map[string]string{"no token": "", "wrong token": rat + "x", "an initial token": e.issueToken("acme", 1, 3600).Token} {
			r, _ := e.clientWithToken(tok).ReadClientRegistrationWithResponse(ctx, "acme", info.ClientID)
			if r.JSON401 == nil || r.HTTPResponse.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("read with %s: %d %s", name, r.StatusCode(), r.Body)
			}
		}
		if r, _ := e.clientWithToken(rat).ReadClientRegistrationWithResponse(ctx, "globex", info.ClientID); r.JSON401 == nil {
			t.Errorf("read through another tenant's path: %d %s", r.StatusCode(), r.Body)
		}

		upd := mcpMetadata()
		upd.ClientID = &info.ClientID
		upd.ClientName = ptr("Claude Desktop (laptop)")
		upd.RegistrationAccessToken = &rat
		upd.ClientIDIssuedAt = &info.ClientIDIssuedAt
		put, _ := e.clientWithToken(rat).UpdateClientRegistrationWithResponse(ctx, "acme", info.ClientID, upd)
		if put.JSON200 == nil || put.JSON200.ClientName != "Claude Desktop (laptop)" || put.JSON200.RegistrationAccessToken == nil ||
			*put.JSON200.RegistrationAccessToken == rat {
			t.Fatalf("update: %d %s", put.StatusCode(), put.Body)
		}
		if r, _ := e.clientWithToken(rat).ReadClientRegistrationWithResponse(ctx, "acme", info.ClientID); r.JSON401 == nil {
			t.Errorf("the token before rotation still works: %d", r.StatusCode())
		}
		toConfidential := upd
		toConfidential.TokenEndpointAuthMethod = ptr(gen.RegAuthClientSecretBasic)
		newRAT := *put.JSON200.RegistrationAccessToken
		if r, _ := e.clientWithToken(newRAT).UpdateClientRegistrationWithResponse(ctx, "acme", info.ClientID, toConfidential); r.JSON400 == nil || r.JSON400.Error != "invalid_client_metadata" {
			t.Errorf("changing the type: %d %s", r.StatusCode(), r.Body)
		}
		events, _ := e.client("acme").ListApplicationEventsWithResponse(ctx, info.ClientID, nil)
		if events.JSON200 == nil || !strings.Contains(string(events.Body), `"client:`+info.ClientID+`"`) || !strings.Contains(string(events.Body), `"registration:anonymous"`) {
			t.Errorf("audit trail lacks the registration actors: %s", events.Body)
		}

		del, _ := e.clientWithToken(newRAT).DeleteClientRegistrationWithResponse(ctx, "acme", info.ClientID)
		if del.StatusCode() != http.StatusNoContent {
			t.Fatalf("delete: %d %s", del.StatusCode(), del.Body)
		}
		if r, _ := e.clientWithToken(newRAT).ReadClientRegistrationWithResponse(ctx, "acme", info.ClientID); r.JSON401 == nil {
			t.Errorf("read after delete: %d", r.StatusCode())
		}
		view, _ = e.client("acme").ViewApplicationWithResponse(ctx, info.ClientID)
		if view.JSON200 == nil || !view.JSON200.IsLocked || view.JSON200.ScheduledDeletionTime == nil {
			t.Errorf("after delete the application is not in its two-step delete: %s", view.Body)
		}
	})
}

// TestRegisterWithInitialAccessToken: tokens pay one use per registration; used-up, revoked,
// expired and missing tokens are 401 and create nothing; confidential and backend clients
// get a secret that the lookup path verifies.
func TestRegisterWithInitialAccessToken(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		e.setPolicy("acme", openPolicy(false))
		e.setPolicy("acme", gen.RegistrationPolicyUpdate{InitialState: ptr(gen.RegistrationPolicyUpdateInitialStateEnabled)})
		tok := e.issueToken("acme", 2, 3600)

		web := gen.ClientMetadata{
			ClientName:   ptr("Support agent"),
			RedirectUris: ptr([]gen.RegistrationURI{"https://app.example.com/callback"}),
			Contacts:     ptr([]string{"agent-team@example.com"}),
			Scope:        ptr("openid  openid offline_access"),
			JWKSURI:      ptr("https://app.example.com/jwks.json"),
			LogoURI:      ptr("https://app.example.com/logo.png"),
			SoftwareID:   ptr("agent"),
		}
		r := e.register("acme", tok.Token, web)
		if r.JSON201 == nil {
			t.Fatalf("register: %d %s", r.StatusCode(), r.Body)
		}
		conf := r.JSON201
		if conf.ClientSecret == nil || conf.ClientSecretExpiresAt == nil || *conf.ClientSecretExpiresAt != 0 ||
			conf.TokenEndpointAuthMethod != gen.InfoAuthClientSecretBasic || conf.Scope == nil || *conf.Scope != "openid offline_access" ||
			strings.Contains(string(r.Body), "logo_uri") || strings.Contains(string(r.Body), "software_id") {
			t.Errorf("confidential registration answer: %s", r.Body)
		}
		var raw map[string]any
		_ = json.Unmarshal(r.Body, &raw)
		if _, ok := raw["client_secret_expires_at"].(float64); !ok {
			t.Errorf("client_secret_expires_at is not a number: %s", r.Body)
		}

		backend := e.register("acme", tok.Token, gen.ClientMetadata{
			ClientName: ptr("Nightly export"), TokenEndpointAuthMethod: ptr(gen.RegAuthClientSecretPost),
			GrantTypes: ptr([]gen.ClientMetadataGrantTypes{gen.RegGrantClientCredentials}),
		})
		if backend.JSON201 == nil || backend.JSON201.ClientSecret == nil || len(backend.JSON201.RedirectUris) != 0 {
			t.Fatalf("backend: %d %s", backend.StatusCode(), backend.Body)
		}

		lk := e.client("platform", auth.RoleLookup)
		for _, c := range []*gen.ClientInformation{conf, backend.JSON201} {
			v, _ := lk.VerifyClientSecretWithResponse(ctx, c.ClientID, gen.VerifyClientSecretJSONRequestBody{Secret: *c.ClientSecret, TenantID: "acme"})
			if v.JSON200 == nil || !v.JSON200.Valid {
				t.Errorf("secret of %s does not verify: %s", c.ClientID, v.Body)
			}
		}
		view, _ := e.client("acme").ViewApplicationWithResponse(ctx, backend.JSON201.ClientID)
		if view.JSON200 == nil || view.JSON200.Type != gen.Backend || !view.JSON200.IsEnabled ||
			view.JSON200.Registration == nil || view.JSON200.Registration.TokenID == nil || *view.JSON200.Registration.TokenID != tok.ID.String() ||
			view.JSON200.CreatedBy != "registration:"+tok.ID.String() {
			t.Errorf("backend application: %s", view.Body)
		}

		revoked := e.issueToken("acme", 5, 3600)
		if r, _ := e.client("acme").RevokeRegistrationTokenWithResponse(ctx, revoked.ID); r.StatusCode() != http.StatusNoContent {
			t.Fatalf("revoke: %d %s", r.StatusCode(), r.Body)
		}
		if r, _ := e.client("globex").RevokeRegistrationTokenWithResponse(ctx, revoked.ID); r.JSON404 == nil {
			t.Errorf("revoking another tenant's token: %d %s", r.StatusCode(), r.Body)
		}
		expiring := e.issueToken("acme", 5, 60)
		e.Clock.Advance(2 * time.Minute)

		refusals := []struct{ name, token string }{
			{"used up", tok.Token},
			{"revoked", revoked.Token},
			{"expired", expiring.Token},
			{"unknown", "iat_nothing"},
			{"none (anonymous not allowed)", ""},
			{"another tenant's", e.issueToken("globex", 5, 3600).Token},
		}
		for _, tc := range refusals {
			t.Run(tc.name, func(t *testing.T) {
				r := e.register("acme", tc.token, mcpMetadata())
				if r.JSON401 == nil || r.JSON401.Error != "invalid_token" || !strings.HasPrefix(r.HTTPResponse.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Fatalf("want 401 invalid_token, got %d %s", r.StatusCode(), r.Body)
				}
			})
		}
		list, _ := e.client("acme").ListApplicationWithResponse(ctx, nil)
		if list.JSON200 == nil || len(list.JSON200.Applications) != 2 {
			t.Errorf("refused registrations created applications: %s", list.Body)
		}
		tokens, _ := e.client("acme").ListRegistrationTokensWithResponse(ctx)
		states := map[string]gen.InitialAccessTokenState{}
		for _, tk := range tokens.JSON200.Tokens {
			states[tk.ID.String()] = tk.State
		}
		if states[tok.ID.String()] != gen.InitialAccessTokenStateUsedUp || states[revoked.ID.String()] != gen.InitialAccessTokenStateRevoked ||
			states[expiring.ID.String()] != gen.InitialAccessTokenStateExpired || strings.Contains(string(tokens.Body), tok.Token) {
			t.Errorf("token list: %s", tokens.Body)
		}
	})
}

// TestRegisterOneUseRace: a token with one use left, raced by concurrent registrations,
// registers one client; the others get 401 and nothing is created.
func TestRegisterOneUseRace(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *testEnv) {
		e.setPolicy("acme", openPolicy(false))
		tok := e.issueToken("acme", 1, 3600)
		const n = 6
		codes := make([]int, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { codes[i] = e.register("acme", tok.Token, mcpMetadata()).StatusCode() })
		}
		wg.Wait()
		created := 0
		for _, c := range codes {
			switch c {
			case http.StatusCreated:
				created++
			case http.StatusUnauthorized:
			default:
				t.Errorf("status %d", c)
			}
		}
		list, _ := e.client("acme").ListApplicationWithResponse(context.Background(), nil)
		if created != 1 || list.JSON200 == nil || len(list.JSON200.Applications) != 1 {
			t.Fatalf("%d created (%v), %d applications; want 1", created, codes, len(list.JSON200.Applications))
		}
	})
}

// TestRegisterRefusesBadMetadata: every bad metadata case is refused in RFC 7591's shape with
// the right code, and creates nothing.
func TestRegisterRefusesBadMetadata(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *testEnv) {
		e.setPolicy("acme", openPolicy(true))
		e.setPolicy("strict", gen.RegistrationPolicyUpdate{Enabled: ptr(true), Anonymous: ptr(true), DefaultContacts: ptr([]string{"a@example.com"})})
		many := make([]string, 101)
		for i := range many {
			many[i] = `"http://127.0.0.1:1/cb` + string(rune('a'+i%26)) + strings.Repeat("x", i/26) + `"`
		}
		elevenContacts := `["a@example.com","b@example.com","c@example.com","d@example.com","e@example.com","f@example.com","g@example.com","h@example.com","i@example.com","j@example.com","k@example.com"]`
		const loop = `"redirect_uris":["http://127.0.0.1:1/cb"]`
		cases := []struct {
			name, tenant, body, contentType string
			status                          int
			code, mention                   string
		}{
			{"redirect_uris not a list", "acme", `{"redirect_uris":"http://127.0.0.1/cb","token_endpoint_auth_method":"none"}`, "", 400, "invalid_client_metadata", "redirect_uris"},
			{"client_name a number", "acme", `{"client_name":7,"token_endpoint_auth_method":"none",` + loop + `}`, "", 400, "invalid_client_metadata", "client_name"},
			{"contacts not strings", "acme", `{"contacts":[1],"token_endpoint_auth_method":"none",` + loop + `}`, "", 400, "invalid_client_metadata", "contacts"},
			{"unknown auth method", "acme", `{"token_endpoint_auth_method":"private_key_jwt",` + loop + `}`, "", 400, "invalid_client_metadata", "token_endpoint_auth_method"},
			{"jwks not an object", "acme", `{"token_endpoint_auth_method":"none","jwks":[],` + loop + `}`, "", 400, "invalid_client_metadata", "jwks"},
			{"jwks by value", "acme", `{"token_endpoint_auth_method":"none","jwks":{"keys":[]},` + loop + `}`, "", 400, "invalid_client_metadata", "jwks"},
			{"software statement", "acme", `{"token_endpoint_auth_method":"none","software_statement":"eyJ...",` + loop + `}`, "", 400, "invalid_client_metadata", "software_statement"},
			{"implicit grant", "acme", `{"token_endpoint_auth_method":"none","grant_types":["implicit"],` + loop + `}`, "", 400, "invalid_client_metadata", "grant_types"},
			{"token response type", "acme", `{"token_endpoint_auth_method":"none","response_types":["token"],` + loop + `}`, "", 400, "invalid_client_metadata", "response_types"},
			{"public with client_credentials", "acme", `{"token_endpoint_auth_method":"none","grant_types":["authorization_code","client_credentials"],` + loop + `}`, "", 400, "invalid_client_metadata", "client_credentials"},
			{"refresh_token alone", "acme", `{"token_endpoint_auth_method":"none","grant_types":["refresh_token"],` + loop + `}`, "", 400, "invalid_client_metadata", "grant_types"},
			{"no redirect for public", "acme", `{"token_endpoint_auth_method":"none"}`, "", 400, "invalid_redirect_uri", "redirect_uris"},
			{"fragment", "acme", `{"token_endpoint_auth_method":"none","redirect_uris":["http://127.0.0.1/cb#x"]}`, "", 400, "invalid_redirect_uri", "redirect_uris[0]"},
			{"wildcard", "acme", `{"token_endpoint_auth_method":"none","redirect_uris":["https://*.app.example.com/cb"]}`, "", 400, "invalid_redirect_uri", "wildcard"},
			{"javascript URI", "acme", `{"token_endpoint_auth_method":"none","redirect_uris":["javascript:alert(1)"]}`, "", 400, "invalid_redirect_uri", "javascript"},
			{"http on a public host", "acme", `{"token_endpoint_auth_method":"none","redirect_uris":["http://app.example.com/cb"]}`, "", 400, "invalid_redirect_uri", "loopback"},
			{"relative URI", "acme", `{"token_endpoint_auth_method":"none","redirect_uris":["/cb"]}`, "", 400, "invalid_redirect_uri", "absolute"},
			{"bad logout URI", "acme", `{"token_endpoint_auth_method":"none",` + loop + `,"post_logout_redirect_uris":["data:text/html,x"]}`, "", 400, "invalid_client_metadata", "post_logout_redirect_uris[0]"},
			{"jwks_uri over http", "acme", `{"token_endpoint_auth_method":"none",` + loop + `,"jwks_uri":"http://app.example.com/jwks"}`, "", 400, "invalid_client_metadata", "jwks_uri"},
			{"bad contact", "acme", `{"token_endpoint_auth_method":"none",` + loop + `,"contacts":["Bob <bob@example.com>"]}`, "", 400, "invalid_client_metadata", "contacts[0]"},
			{"too many redirect URIs", "acme", `{"token_endpoint_auth_method":"none","redirect_uris":[` + strings.Join(many, ",") + `]}`, "", 400, "invalid_client_metadata", "redirect_uris"},
			{"too many contacts", "acme", `{"token_endpoint_auth_method":"none",` + loop + `,"contacts":` + elevenContacts + `}`, "", 400, "invalid_client_metadata", "contacts"},
			{"client_name too long", "acme", `{"token_endpoint_auth_method":"none",` + loop + `,"client_name":"` + strings.Repeat("n", 129) + `"}`, "", 400, "invalid_client_metadata", "client_name"},
			{"client_id sent", "acme", `{"client_id":"mine","token_endpoint_auth_method":"none",` + loop + `}`, "", 400, "invalid_client_metadata", "client_id"},
			{"not JSON", "acme", `{"redirect_uris":`, "", 400, "invalid_client_metadata", "JSON"},
			{"body over the limit", "acme", `{"client_name":"` + strings.Repeat("x", 1<<20) + `"}`, "", 413, "invalid_request", "too large"},
			{"not JSON content", "acme", `redirect_uris=x`, "application/x-www-form-urlencoded", 415, "invalid_request", "application/json"},
			{"host outside the policy", "acme", `{"token_endpoint_auth_method":"none","redirect_uris":["https://evil.example.net/cb"]}`, "", 403, "access_denied", "evil.example.net"},
			{"host outside the default policy", "strict", `{"token_endpoint_auth_method":"none","redirect_uris":["https://app.example.com/cb"]}`, "", 403, "access_denied", "app.example.com"},
			{"type outside the policy", "strict", `{"token_endpoint_auth_method":"client_secret_basic",` + loop + `}`, "", 403, "access_denied", "confidential"},
			{"registration off", "off", `{"token_endpoint_auth_method":"none",` + loop + `}`, "", 403, "access_denied", "turned off"},
			{"basic credentials", "acme", `{"token_endpoint_auth_method":"none",` + loop + `}`, "basic", 401, "invalid_token", "Bearer"},
			{"bad tenant id", "a%20b", `{"token_endpoint_auth_method":"none",` + loop + `}`, "", 400, "invalid_request", "tenantId"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				ct := tc.contentType
				if ct == "" || ct == "basic" {
					ct = "application/json"
				}
				req, _ := http.NewRequest(http.MethodPost, e.URL+"/tenants/"+tc.tenant+"/register", strings.NewReader(tc.body))
				req.Header.Set("Content-Type", ct)
				if tc.contentType == "basic" {
					req.SetBasicAuth("client", "secret")
				}
				resp, body := e.send(req)
				var got map[string]any
				if err := json.Unmarshal(body, &got); err != nil {
					t.Fatalf("%d %s: %v", resp.StatusCode, body, err)
				}
				desc, _ := got["error_description"].(string)
				if resp.StatusCode != tc.status || got["error"] != tc.code || len(got) != 2 || !strings.Contains(desc, tc.mention) {
					t.Errorf("got %d %s; want %d %s mentioning %q", resp.StatusCode, body, tc.status, tc.code, tc.mention)
				}
			})
		}
		for _, tenant := range []string{"acme", "strict"} {
			apps, _, err := e.Store.ListApplications(context.Background(), store.ListQuery{TenantID: tenant})
			if err != nil || len(apps) != 0 {
				t.Errorf("refused registrations created %d applications in %s (%v)", len(apps), tenant, err)
			}
		}
	})
}

// TestRegisterAllowsDroppedAndPrivateUse: what RFC 7591 lets a server drop is dropped, and
// policy host patterns and private-use schemes are honoured.
func TestRegisterAllowsDroppedAndPrivateUse(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *testEnv) {
		e.setPolicy("acme", openPolicy(true))
		cases := []struct{ name, body string }{
			{"informational fields", `{"token_endpoint_auth_method":"none","redirect_uris":["http://localhost:8080/cb"],"client_uri":"https://x.example.com","logo_uri":"https://x.example.com/l.png","tos_uri":"https://x.example.com/tos","policy_uri":"https://x.example.com/p","software_id":"x","software_version":"1","application_type":"native"}`},
			{"subdomain pattern", `{"token_endpoint_auth_method":"none","redirect_uris":["https://eu.agents.example.com/cb"]}`},
			{"private-use scheme", `{"token_endpoint_auth_method":"none","redirect_uris":["com.example.app:/oauth2redirect"]}`},
			{"IPv6 loopback", `{"token_endpoint_auth_method":"none","redirect_uris":["http://[::1]:9000/cb"]}`},
			{"null lists", `{"token_endpoint_auth_method":"none","redirect_uris":["http://127.0.0.1/cb"],"contacts":null,"grant_types":null,"response_types":null,"post_logout_redirect_uris":null}`},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				resp, body := e.do(http.MethodPost, "/tenants/acme/register", "", "application/json", []byte(tc.body))
				if resp.StatusCode != http.StatusCreated {
					t.Fatalf("%d %s", resp.StatusCode, body)
				}
				for _, dropped := range []string{"client_uri", "logo_uri", "tos_uri", "policy_uri", "software_id", "software_version", "application_type"} {
					if strings.Contains(string(body), `"`+dropped+`"`) {
						t.Errorf("answer echoes the dropped %s: %s", dropped, body)
					}
				}
			})
		}
	})
}

// TestRegisterIgnoresUnknownMetadata: metadata the service does not know (another
// specification's, a vendor's, a language-tagged variant) is ignored, as RFC 7591 section 2
// requires ("MUST ignore"), in a registration and in an RFC 7592 update: the client is
// registered from the rest, and nothing of it is stored or echoed. Known metadata it does not
// support (jwks, software_statement) is refused in an update as in a registration.
func TestRegisterIgnoresUnknownMetadata(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *testEnv) {
		e.setPolicy("acme", openPolicy(true))
		unknown := `"client_name#fr":"Agent (FR)","frobnicate":true,"tls_client_certificate_bound_access_tokens":true,"x_vendor":{"nested":[1,null]}`
		echoes := func(what string, body []byte) {
			t.Helper()
			for _, field := range []string{"client_name#fr", "frobnicate", "tls_client_certificate_bound_access_tokens", "x_vendor", "Agent (FR)"} {
				if strings.Contains(string(body), field) {
					t.Errorf("%s echoes the unknown %s: %s", what, field, body)
				}
			}
		}
		resp, body := e.do(http.MethodPost, "/tenants/acme/register", "", "application/json",
			[]byte(`{"token_endpoint_auth_method":"none","redirect_uris":["http://127.0.0.1/cb"],"client_name":"Agent",`+unknown+`}`))
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("register: %d %s", resp.StatusCode, body)
		}
		echoes("the registration", body)
		var info gen.ClientInformation
		if err := json.Unmarshal(body, &info); err != nil || info.ClientName != "Agent" || info.RegistrationAccessToken == nil {
			t.Fatalf("registration answer (%v): %s", err, body)
		}
		upd := fmt.Sprintf(`{"client_id":%q,"token_endpoint_auth_method":"none","redirect_uris":["http://127.0.0.1/cb2"],"client_name":"Agent 2",%s}`, info.ClientID, unknown)
		req, _ := http.NewRequest(http.MethodPut, e.URL+"/tenants/acme/register/"+info.ClientID, strings.NewReader(upd))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+*info.RegistrationAccessToken)
		resp, body = e.send(req)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"client_name":"Agent 2"`) {
			t.Fatalf("update: %d %s", resp.StatusCode, body)
		}
		echoes("the update", body)
		var updated gen.ClientInformation
		if err := json.Unmarshal(body, &updated); err != nil || updated.RegistrationAccessToken == nil {
			t.Fatalf("update answer (%v): %s", err, body)
		}
		// Known metadata the service does not support is refused in an update too, as it is in a
		// registration (mapMetadata), and changes nothing.
		for field, value := range map[string]string{"jwks": `{"keys":[]}`, "software_statement": `"eyJ..."`} {
			bad := fmt.Sprintf(`{"client_id":%q,"token_endpoint_auth_method":"none","redirect_uris":["http://127.0.0.1/cb3"],"client_name":"Agent 3",%q:%s}`, info.ClientID, field, value)
			req, _ := http.NewRequest(http.MethodPut, e.URL+"/tenants/acme/register/"+info.ClientID, strings.NewReader(bad))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+*updated.RegistrationAccessToken) // it rotates on every update
			resp, body := e.send(req)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "invalid_client_metadata") || !strings.Contains(string(body), field) {
				t.Errorf("update with %s: %d %s", field, resp.StatusCode, body)
			}
		}
		view, _ := e.client("acme").ViewApplicationWithResponse(context.Background(), info.ClientID)
		if view.JSON200 == nil || view.JSON200.Name != "Agent 2" {
			t.Fatalf("the client as an application: %d %s", view.StatusCode(), view.Body)
		}
		echoes("the application", view.Body)
	})
}

func TestRegisterAnonymousRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, store.DialectSQLite, func(c *server.Config) {
		c.AnonymousRegistrationRatePerAddress = 0.001 // a burst of 5, then nothing
		c.RateLimit = 1000
	})
	e.setPolicy("acme", openPolicy(true))
	var last *gen.RegisterClientResponse
	for range 6 {
		last = e.register("acme", "", mcpMetadata())
	}
	if last.JSON429 == nil || last.JSON429.Error != "rate_limited" || last.HTTPResponse.Header.Get("Retry-After") == "" {
		t.Fatalf("sixth anonymous registration from one address: %d %s", last.StatusCode(), last.Body)
	}
	// With a token the limit does not apply, nor to the tenant's management calls.
	tok := e.issueToken("acme", 1, 3600)
	if r := e.register("acme", tok.Token, mcpMetadata()); r.JSON201 == nil {
		t.Errorf("registration with a token after the anonymous limit: %d %s", r.StatusCode(), r.Body)
	}
	if r, _ := e.client("acme").ListApplicationWithResponse(context.Background(), nil); r.JSON200 == nil || len(r.JSON200.Applications) != 6 {
		t.Errorf("management call after the anonymous limit: %d", r.StatusCode())
	}
}

func TestRegisterDailyLimit(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *testEnv) {
		p := openPolicy(true)
		p.DailyLimit = ptr(2)
		e.setPolicy("acme", p)
		for i := range 3 {
			r := e.register("acme", "", mcpMetadata())
			if (i < 2) != (r.JSON201 != nil) {
				t.Fatalf("registration %d: %d %s", i, r.StatusCode(), r.Body)
			}
			if i == 2 && (r.JSON429 == nil || r.HTTPResponse.Header.Get("Retry-After") == "") {
				t.Fatalf("over the daily limit: %d %s", r.StatusCode(), r.Body)
			}
		}
		e.Clock.Advance(24 * time.Hour)
		if r := e.register("acme", "", mcpMetadata()); r.JSON201 == nil {
			t.Fatalf("next day: %d %s", r.StatusCode(), r.Body)
		}
	})
}

// TestDeleteUnusedRegisteredClients: the purger schedules the deletion of registered clients
// never used within the policy's days, and of no other application.
func TestDeleteUnusedRegisteredClients(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		p := openPolicy(true)
		p.DeleteUnusedAfterDays = ptr(2)
		e.setPolicy("acme", p)
		unused := e.register("acme", "", mcpMetadata()).JSON201
		used := e.register("acme", "", mcpMetadata()).JSON201
		admin := e.created("acme", confidentialBody())
		if err := e.Store.TouchLastUsed(ctx, map[string]time.Time{used.ClientID: e.Clock.Now()}); err != nil {
			t.Fatal(err)
		}
		purger := &server.Purger{Store: e.Store, Now: e.Clock.Now, DeletionGrace: time.Hour, Logger: quietLogger()}
		e.Clock.Advance(24 * time.Hour)
		if _, err := purger.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		c := e.client("acme")
		if v, _ := c.ViewApplicationWithResponse(ctx, unused.ClientID); v.JSON200 == nil || v.JSON200.IsLocked {
			t.Fatalf("scheduled before its days: %s", v.Body)
		}
		e.Clock.Advance(25 * time.Hour)
		for range 2 { // a second pass (another replica) changes nothing
			if _, err := purger.RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
		}
		c = e.client("acme") // a token valid at the new time
		v, _ := c.ViewApplicationWithResponse(ctx, unused.ClientID)
		if v.JSON200 == nil || !v.JSON200.IsLocked || v.JSON200.LastModifiedBy != "registration-policy" {
			t.Fatalf("unused registered client: %s", v.Body)
		}
		for _, id := range []string{used.ClientID, admin.ID} {
			if v, _ := c.ViewApplicationWithResponse(ctx, id); v.JSON200 == nil || v.JSON200.IsLocked {
				t.Errorf("%s was scheduled: %s", id, v.Body)
			}
		}
		events, _ := c.ListApplicationEventsWithResponse(ctx, unused.ClientID, nil)
		if n := strings.Count(string(events.Body), "deletion_scheduled"); n != 1 {
			t.Errorf("%d deletion_scheduled events, want 1: %s", n, events.Body)
		}
	})
}

// TestPatchAcceptsRegistrationUnchanged: the whole-object PATCH round trip of SDKs carries
// the read-only registration field.
func TestPatchAcceptsRegistrationUnchanged(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		e.setPolicy("acme", openPolicy(true))
		info := e.register("acme", "", mcpMetadata()).JSON201
		tok := uuid.NewString()
		c := e.client("acme")
		same := gen.ApplicationPatch{Name: ptr("renamed"), Registration: &gen.ApplicationRegistration{Method: gen.ApplicationRegistrationMethodAnonymous}}
		if r, _ := c.PatchApplicationWithResponse(ctx, info.ClientID, nil, same); r.JSON200 == nil || r.JSON200.Registration == nil {
			t.Fatalf("patch with the registration unchanged: %d %s", r.StatusCode(), r.Body)
		}
		other := gen.ApplicationPatch{Registration: &gen.ApplicationRegistration{Method: gen.ApplicationRegistrationMethodInitialAccessToken, TokenID: &tok}}
		if r, _ := c.PatchApplicationWithResponse(ctx, info.ClientID, nil, other); r.JSON400 == nil {
			t.Fatalf("patch changing the registration: %d %s", r.StatusCode(), r.Body)
		}
	})
}

// send sends req as it is and validates the answer, as do does.
func (e *testEnv) send(req *http.Request) (*http.Response, []byte) {
	e.t.Helper()
	resp, err := (&http.Client{Transport: &validatingTransport{env: e}}).Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp, body
}
