package server_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cxone/appreg/gen"
	"github.com/cxone/appreg/server"
	"github.com/cxone/appreg/server/auth"
)

func b64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestBadTokens(t *testing.T) {
	e := newEnv(t, "sqlite")
	now := e.Clock.Now()
	claims := func(mod func(map[string]any)) map[string]any {
		c := map[string]any{"tenantId": "acme", "sub": "u", "exp": now.Add(time.Hour).Unix()}
		if mod != nil {
			mod(c)
		}
		return c
	}
	sign := func(c map[string]any) string {
		tok, err := auth.Sign(e.key, "test-key", c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	foreign, _ := auth.Sign(other, "test-key", claims(nil))
	pub, _ := x509.MarshalPKIXPublicKey(&e.key.PublicKey)
	hsInput := b64(map[string]string{"alg": "HS256", "kid": "test-key"}) + "." + b64(claims(nil))
	mac := hmac.New(sha256.New, pub)
	mac.Write([]byte(hsInput))
	hs := hsInput + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))

	tests := []struct{ name, header string }{
		{"no header", ""},
		{"not bearer", "Basic dXNlcjpwYXNz"},
		{"bearer without token", "Bearer "},
		{"garbage", "Bearer not.a.token"},
		{"alg none", "Bearer " + b64(map[string]string{"alg": "none"}) + "." + b64(claims(nil)) + "."},
		{"HS256 with the public key", "Bearer " + hs},
		{"expired", "Bearer " + sign(claims(func(c map[string]any) { c["exp"] = now.Add(-time.Hour).Unix() }))},
		{"not yet valid", "Bearer " + sign(claims(func(c map[string]any) { c["nbf"] = now.Add(time.Hour).Unix() }))},
		{"missing tenantId", "Bearer " + sign(claims(func(c map[string]any) { delete(c, "tenantId") }))},
		{"signed by another key", "Bearer " + foreign},
		{"tampered payload", "Bearer " + func() string {
			p := strings.Split(sign(claims(nil)), ".")
			return p[0] + "." + b64(claims(func(c map[string]any) { c["tenantId"] = "globex" })) + "." + p[2]
		}()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, e.URL+"/applications", nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			resp, err := (&http.Client{Transport: &validatingTransport{env: e}}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("%d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
}

// TestCrossTenantIsIndistinguishable tries every operation on another
// tenant's application: each answer equals the one for an id that does not
// exist, but for the request id, and nothing changes.
func TestCrossTenantIsIndistinguishable(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *testEnv) {
		app := e.created("acme", confidentialBody())
		secrets, _ := e.Store.ListSecrets(context.Background(), app.ID)
		before, _ := e.client("acme").ViewApplicationWithResponse(context.Background(), app.ID)
		tok := e.token("globex", "intruder")
		missing := "6f1c8a52-7f0e-4a54-9a43-000000000000"
		ops := []struct{ method, path, body string }{
			{http.MethodGet, "/applications/%s", ""},
			{http.MethodPatch, "/applications/%s", `{"name":"pwned"}`},
			{http.MethodDelete, "/applications/%s", ""},
			{http.MethodPost, "/applications/%s-enable", ""},
			{http.MethodPost, "/applications/%s-disable", ""},
			{http.MethodPost, "/applications/%s/enable", ""},
			{http.MethodPost, "/applications/%s/disable", ""},
			{http.MethodGet, "/applications/%s/secrets", ""},
			{http.MethodPost, "/applications/%s/secrets", `{}`},
			{http.MethodDelete, "/applications/%s/secrets/" + secrets[0].ID, ""},
			{http.MethodGet, "/applications/%s/events", ""},
		}
		reqID := regexp.MustCompile(`"requestId":"[^"]*"`)
		for _, op := range ops {
			t.Run(op.method+" "+op.path, func(t *testing.T) {
				ct := ""
				if op.body != "" {
					ct = "application/json"
				}
				r1, b1 := e.do(op.method, strings.ReplaceAll(op.path, "%s", app.ID), tok, ct, []byte(op.body))
				r2, b2 := e.do(op.method, strings.ReplaceAll(op.path, "%s", missing), tok, ct, []byte(op.body))
				if r1.StatusCode != http.StatusNotFound || r2.StatusCode != http.StatusNotFound {
					t.Fatalf("statuses %d and %d, want 404 and 404", r1.StatusCode, r2.StatusCode)
				}
				if a, b := reqID.ReplaceAll(b1, nil), reqID.ReplaceAll(b2, nil); !bytes.Equal(a, b) {
					t.Fatalf("another tenant's application is distinguishable:\n%s\n%s", a, b)
				}
			})
		}
		after, _ := e.client("acme").ViewApplicationWithResponse(context.Background(), app.ID)
		if !bytes.Equal(before.Body, after.Body) {
			t.Fatalf("changed by another tenant:\n%s\n%s", before.Body, after.Body)
		}
	})
}

// TestRateLimitPerTenant: a tenant over its rate gets 429 with Retry-After;
// other tenants and the lookup path are unaffected.
func TestRateLimitPerTenant(t *testing.T) {
	e := newEnvWith(t, "sqlite", func(c *server.Config) { c.RateLimit = 5 })
	busy, calm := e.client("acme"), e.client("globex")
	limited := 0
	for i := 0; i < 30; i++ {
		r, err := busy.ListApplicationWithResponse(context.Background(), &gen.ListApplicationParams{})
		if err != nil {
			t.Fatal(err)
		}
		if r.StatusCode() == http.StatusTooManyRequests {
			limited++
			if r.HTTPResponse.Header.Get("Retry-After") == "" || r.JSON429.Error != "rate_limited" {
				t.Fatalf("429 without Retry-After or code: %s", r.Body)
			}
		}
	}
	if limited < 15 {
		t.Fatalf("%d of 30 calls limited at 5/s (burst 10), want at least 15", limited)
	}
	if r, _ := calm.ListApplicationWithResponse(context.Background(), &gen.ListApplicationParams{}); r.StatusCode() != http.StatusOK {
		t.Fatalf("another tenant: %d", r.StatusCode())
	}
	lk := e.client("acme", auth.RoleLookup)
	for i := 0; i < 30; i++ {
		r, _ := lk.LookupClientWithResponse(context.Background(), "nope", &gen.LookupClientParams{TenantID: "acme"})
		if r.StatusCode() != http.StatusNotFound {
			t.Fatalf("lookup path limited: %d", r.StatusCode())
		}
	}
}

// syncBuffer collects log output from concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestNoSecretOrTokenInLogs captures the logs of a whole session at debug
// level and searches them for every secret and token used.
func TestNoSecretOrTokenInLogs(t *testing.T) {
	var logs syncBuffer
	e := newEnvWith(t, "sqlite", func(c *server.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	ctx := context.Background()
	owner := e.token("acme", "owner")
	app := e.created("acme", confidentialBody())
	rot, _ := e.client("acme").RotateSecretWithResponse(ctx, app.ID, &gen.RotateSecretParams{}, gen.RotateSecretJSONRequestBody{})
	lk := e.client("platform", auth.RoleLookup)
	lk.VerifyClientSecretWithResponse(ctx, app.ID, gen.VerifyClientSecretJSONRequestBody{Secret: *app.Secret, TenantID: "acme"})
	lk.VerifyClientSecretWithResponse(ctx, app.ID, gen.VerifyClientSecretJSONRequestBody{Secret: "wrong-" + *app.Secret, TenantID: "acme"})
	e.do(http.MethodGet, "/applications", owner+"x", "", nil)
	e.do(http.MethodPost, "/applications", owner, "application/json", []byte(`{"secret":"`+*app.Secret+`"}`))
	req, _ := http.NewRequest(http.MethodGet, e.URL+"/applications", nil)
	req.Header.Set("Authorization", "Bearer "+owner)
	req.Header.Set("X-Request-Id", "trace-me-123")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Request-Id") != "trace-me-123" {
		t.Fatalf("X-Request-Id not echoed: %q", resp.Header.Get("X-Request-Id"))
	}

	out := logs.String()
	for name, s := range map[string]string{"first secret": *app.Secret, "rotated secret": *rot.JSON201.Secret, "token": owner, "token signature": owner[strings.LastIndex(owner, ".")+1:]} {
		if strings.Contains(out, s) {
			t.Errorf("the logs contain the %s", name)
		}
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for _, l := range lines {
		if strings.Contains(l, `"msg":"request"`) && !strings.Contains(l, `"request_id":"`) {
			t.Errorf("request line without request_id: %s", l)
		}
	}
	if !strings.Contains(out, `"request_id":"trace-me-123"`) {
		t.Error("the caller's request id is not in the logs")
	}
}

// TestSecurityHeadersOnEveryAnswer covers successes and errors alike, the management API's
// and the lookup path's (whose CORS answer alone may be cached, for its max-age), each
// answer's own request id, and that no answer's headers leak into the next one's (frame
// shares the headers' values between answers).
func TestSecurityHeadersOnEveryAnswer(t *testing.T) {
	e := newEnv(t, "sqlite")
	app := e.created("acme", confidentialBody())
	lookupTok := e.token("platform", "gw", auth.RoleLookup)
	cases := []struct{ path, tok, cache string }{
		{"/applications", "", "no-store"},
		{"/applications", e.token("acme", "u"), "no-store"},
		{"/applications/x", e.token("acme", "u"), "no-store"},
		{"/nothing-here", "", "no-store"},
		{"/internal/clients/" + app.ID + "?tenantId=acme", lookupTok, "no-store"},
		{"/internal/clients/unknown-client?tenantId=acme", lookupTok, "no-store"},
		{"/internal/clients/" + app.ID + "?tenantId=acme", "", "no-store"},
		{"/internal/cors?origin=https%3A%2F%2Fdesktop.example.com&tenantId=acme", lookupTok, "max-age=1"},
		{"/applications", e.token("acme", "u"), "no-store"}, // after the CORS answer's max-age
	}
	ids := map[string]bool{}
	for _, tc := range cases {
		resp, _ := e.do(http.MethodGet, tc.path, tc.tok, "", nil)
		for h, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Cache-Control": tc.cache,
			"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"} {
			if got := resp.Header.Values(h); len(got) != 1 || got[0] != want {
				t.Errorf("GET %s (%d): %s = %q, want %q", tc.path, resp.StatusCode, h, got, want)
			}
		}
		id := resp.Header.Get("X-Request-Id")
		if id == "" || ids[id] {
			t.Errorf("GET %s: X-Request-Id %q, empty or another answer's", tc.path, id)
		}
		ids[id] = true
	}
}

// TestTokenKeysIssuerAudience checks over HTTP what the verifier promises
// with a JWKS URL, an issuer and an audience: a key the issuer starts using is
// fetched when a token names it; another unknown kid soon after fetches
// nothing and is refused; a token for another issuer or audience is refused.
// Each refusal is a 401 that names its reason. The steps run in order.
func TestTokenKeysIssuerAudience(t *testing.T) {
	const issuer, audience = "https://issuer.test", "appreg"
	first, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	second, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	var (
		mu      sync.Mutex
		keys    = map[string]crypto.PublicKey{"k1": first.Public()}
		fetches int
	)
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		fetches++
		b, err := auth.PublicJWKS(keys)
		if err != nil {
			t.Error(err)
		}
		w.Write(b)
	}))
	t.Cleanup(jwks.Close)
	e := newEnvWith(t, "sqlite", func(cfg *server.Config) {
		v, err := auth.NewVerifier(context.Background(), auth.Config{
			JWKSURL: jwks.URL, Issuer: issuer, Audience: audience, Now: cfg.Now, Logger: quietLogger(),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(v.Close)
		cfg.Auth = v
	})
	claims := func(set map[string]any) map[string]any {
		c := map[string]any{"iss": issuer, "aud": audience, "tenantId": "acme", "sub": "u", "exp": e.Clock.Now().Add(time.Hour).Unix()}
		for k, v := range set {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return c
	}

	steps := []struct {
		name        string
		before      func()
		key         crypto.Signer
		kid         string
		claims      map[string]any
		reason      string // empty: 200
		wantFetches int
	}{
		{"valid", nil, first, "k1", claims(nil), "", 1},
		{"wrong issuer", nil, first, "k1", claims(map[string]any{"iss": "https://evil.test"}), "the token's issuer is not trusted", 1},
		{"no issuer", nil, first, "k1", claims(map[string]any{"iss": nil}), "the token's issuer is not trusted", 1},
		{"wrong audience", nil, first, "k1", claims(map[string]any{"aud": "billing"}), "the token is not meant for this service (audience)", 1},
		{"no audience", nil, first, "k1", claims(map[string]any{"aud": nil}), "the token is not meant for this service (audience)", 1},
		{"new key of the issuer", func() {
			mu.Lock()
			keys["k2"] = second.Public()
			mu.Unlock()
		}, second, "k2", claims(nil), "", 2},
		{"unknown kid soon after", nil, first, "k9", claims(nil), "unknown signing key (kid)", 2},
		{"known kid, another key's signature", nil, second, "k1", claims(nil), "the token's signature is invalid", 2},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.before != nil {
				st.before()
			}
			tok, err := auth.Sign(st.key, st.kid, st.claims)
			if err != nil {
				t.Fatal(err)
			}
			resp, body := e.do(http.MethodGet, "/applications", tok, "", nil)
			switch {
			case st.reason == "" && resp.StatusCode != http.StatusOK:
				t.Errorf("status %d, want 200: %s", resp.StatusCode, body)
			case st.reason != "" && (resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), `"error":"invalid_token"`) ||
				!strings.Contains(resp.Header.Get("WWW-Authenticate"), `error_description="`+st.reason+`"`)):
				t.Errorf("status %d, WWW-Authenticate %q, body %s; want 401 invalid_token saying %q",
					resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body, st.reason)
			}
			mu.Lock()
			got := fetches
			mu.Unlock()
			if got != st.wantFetches {
				t.Errorf("JWKS fetches = %d, want %d", got, st.wantFetches)
			}
		})
	}
}

// TestNoRegistrationCredentialInLogs extends TestNoSecretOrTokenInLogs to the credentials of
// dynamic registration: the initial access token, the registration access tokens (the first
// and the one a PUT rotates to) and the client secret appear in the one answer that issues
// them, never in the logs, and a read of the registration never shows the secret.
func TestNoRegistrationCredentialInLogs(t *testing.T) {
	var logs syncBuffer
	e := newEnvWith(t, "sqlite", func(c *server.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	ctx := context.Background()
	e.setPolicy("acme", gen.RegistrationPolicyUpdate{Enabled: ptr(true), DefaultContacts: ptr([]string{"it@example.com"}),
		AllowedTypes: ptr([]gen.ApplicationType{gen.Public, gen.Confidential})})
	iat := e.issueToken("acme", 1, 3600)
	r := e.register("acme", iat.Token, gen.ClientMetadata{ClientName: ptr("Agent"),
		RedirectUris: ptr([]gen.RegistrationURI{"http://127.0.0.1:8123/callback"})})
	if r.JSON201 == nil || r.JSON201.ClientSecret == nil || r.JSON201.RegistrationAccessToken == nil {
		t.Fatalf("register: %d %s", r.StatusCode(), r.Body)
	}
	info := r.JSON201
	rat := *info.RegistrationAccessToken
	read, _ := e.clientWithToken(rat).ReadClientRegistrationWithResponse(ctx, "acme", info.ClientID)
	if read.JSON200 == nil || strings.Contains(string(read.Body), *info.ClientSecret) || strings.Contains(string(read.Body), "client_secret\"") {
		t.Errorf("read of the registration: %d %s", read.StatusCode(), read.Body)
	}
	put, _ := e.clientWithToken(rat).UpdateClientRegistrationWithResponse(ctx, "acme", info.ClientID, gen.ClientMetadata{
		ClientID: &info.ClientID, ClientName: ptr("Agent 2"), RedirectUris: ptr([]gen.RegistrationURI{"http://127.0.0.1:8123/callback"})})
	if put.JSON200 == nil || put.JSON200.RegistrationAccessToken == nil {
		t.Fatalf("update: %d %s", put.StatusCode(), put.Body)
	}
	// Refused credentials are not logged either: the spent initial token, the rotated-out
	// registration token, a wrong secret.
	e.register("acme", iat.Token, gen.ClientMetadata{ClientName: ptr("Again"),
		RedirectUris: ptr([]gen.RegistrationURI{"http://127.0.0.1:8123/callback"})})
	e.clientWithToken(rat).ReadClientRegistrationWithResponse(ctx, "acme", info.ClientID)
	e.client("platform", auth.RoleLookup).VerifyClientSecretWithResponse(ctx, info.ClientID,
		gen.VerifyClientSecretJSONRequestBody{Secret: "wrong-" + *info.ClientSecret, TenantID: "acme"})

	out := logs.String()
	if out == "" {
		t.Fatal("nothing was logged: the test would prove nothing")
	}
	for name, secret := range map[string]string{"initial access token": iat.Token, "registration access token": rat,
		"rotated registration access token": *put.JSON200.RegistrationAccessToken, "client secret": *info.ClientSecret} {
		if strings.Contains(out, secret) {
			t.Errorf("the logs contain the %s", name)
		}
	}
}
