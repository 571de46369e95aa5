package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/cxone/appreg/console"
	"github.com/cxone/appreg/gen"
	"github.com/cxone/appreg/server"
	"github.com/cxone/appreg/server/auth"
	"github.com/cxone/appreg/store"
)

func init() {
	// The console's page is text/html; kin-openapi has no decoder for it.
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.FileBodyDecoder)
}

const testIndex = `<!doctype html><html lang="en"><head><title>Console</title>` +
	`<script type="module" src="/console/assets/app-3f2a1b.js"></script></head><body></body></html>`

// testConsole is a built console: its page, a hashed asset and an unhashed file.
func testConsole() fstest.MapFS {
	return fstest.MapFS{
		"index.html":           {Data: []byte(testIndex)},
		"assets/app-3f2a1b.js": {Data: []byte("console.log('console');")},
		"favicon.svg":          {Data: []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`)},
	}
}

const devCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

func TestConsoleServing(t *testing.T) {
	e := newEnvWith(t, store.DialectSQLite, func(c *server.Config) {
		c.Console = server.ConsoleConfig{Files: testConsole(), Mode: server.ConsoleDevelopment}
	})
	cases := []struct {
		name        string
		path        string
		status      int
		contentType string
		cache       string
		body        string
	}{
		{"console without slash answers the page", "/console", 200, "text/html", "no-cache", testIndex},
		{"console root answers the page", "/console/", 200, "text/html", "no-cache", testIndex},
		{"index.html answers the page", "/console/index.html", 200, "text/html", "no-cache", testIndex},
		{"a screen answers the page", "/console/applications", 200, "text/html", "no-cache", testIndex},
		{"a deep link answers the page", "/console/applications/6f1c8a52/secrets", 200, "text/html", "no-cache", testIndex},
		{"a client id with dots answers the page", "/console/applications/my.client.v2", 200, "text/html", "no-cache", testIndex},
		{"the callback answers the page", "/console/callback?code=x&state=y", 200, "text/html", "no-cache", testIndex},
		{"a hashed asset is cached for good", "/console/assets/app-3f2a1b.js", 200, "text/javascript", "public, max-age=31536000, immutable", "console.log('console');"},
		{"an unhashed file is revalidated", "/console/favicon.svg", 200, "image/svg+xml", "no-cache", "<svg"},
		{"a missing asset is 404", "/console/assets/missing-1234.js", 404, "application/json", "no-store", `"not_found"`},
		{"a missing asset under a screen is 404", "/console/applications/app.css", 404, "application/json", "no-store", `"not_found"`},
		{"a missing top-level file is 404", "/console/robots.txt", 404, "application/json", "no-store", `"not_found"`},
		{"a path escaping the build answers the page", "/console/../../etc/passwd", 200, "text/html", "no-cache", testIndex},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			head, headBody := e.do(http.MethodHead, tc.path, "", "", nil)
			resp, body := e.do(http.MethodGet, tc.path, "", "", nil)
			// HEAD (monitors, curl -I, link checkers): GET's status and headers, no body.
			if head.StatusCode != resp.StatusCode || len(headBody) != 0 {
				t.Errorf("HEAD: status %d with %d bytes of body, GET %d", head.StatusCode, len(headBody), resp.StatusCode)
			}
			for _, name := range []string{"Content-Type", "Cache-Control", "Content-Security-Policy"} {
				if head.Header.Get(name) != resp.Header.Get(name) {
					t.Errorf("HEAD: %s %q, GET %q", name, head.Header.Get(name), resp.Header.Get(name))
				}
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, tc.contentType) {
				t.Errorf("Content-Type %q, want %s", ct, tc.contentType)
			}
			if got := resp.Header.Get("Cache-Control"); got != tc.cache {
				t.Errorf("Cache-Control %q, want %q", got, tc.cache)
			}
			if !strings.Contains(string(body), tc.body) {
				t.Errorf("body %q does not hold %q", body, tc.body)
			}
			if got := resp.Header.Get("Content-Security-Policy"); got != devCSP {
				t.Errorf("Content-Security-Policy %q, want %q", got, devCSP)
			}
			if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q", got)
			}
			if got := resp.Header.Get("Referrer-Policy"); got != "no-referrer" {
				t.Errorf("Referrer-Policy %q", got)
			}
		})
	}
}

func TestConsoleNeedsNoTokenButAPIDoes(t *testing.T) {
	e := newEnvWith(t, store.DialectSQLite, func(c *server.Config) {
		c.Console = server.ConsoleConfig{Files: testConsole(), Mode: server.ConsoleDevelopment}
	})
	for _, path := range []string{"/console", "/console/applications", "/console-config"} {
		if resp, body := e.do(http.MethodGet, path, "", "", nil); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s without a token: %d %s", path, resp.StatusCode, body)
		}
	}
	if resp, _ := e.do(http.MethodGet, "/me", "", "", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /me without a token: %d, want 401", resp.StatusCode)
	}
}

func TestConsoleNotServedWithoutFiles(t *testing.T) {
	e := newEnv(t, store.DialectSQLite)
	resp, body := e.do(http.MethodGet, "/console/applications", "", "", nil)
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), `"not_found"`) {
		t.Fatalf("GET /console/applications with no console built: %d %s", resp.StatusCode, body)
	}
}

func TestConsoleAssetsCompressed(t *testing.T) {
	big := strings.Repeat("export const x = 'console';\n", 200)
	files := testConsole()
	files["assets/big-77aa.js"] = &fstest.MapFile{Data: []byte(big)}
	e := newEnvWith(t, store.DialectSQLite, func(c *server.Config) {
		c.Console = server.ConsoleConfig{Files: files, Mode: server.ConsoleDevelopment}
	})
	req, _ := http.NewRequest(http.MethodGet, e.URL+"/console/assets/big-77aa.js", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("status %d, Content-Encoding %q: want 200 gzip", resp.StatusCode, resp.Header.Get("Content-Encoding"))
	}
}

func TestViewMe(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *testEnv) {
		expired := func() string {
			tok, err := auth.Sign(e.key, "test-key", map[string]any{
				"tenantId": "demo", "sub": "admin@demo.example.com",
				"exp": e.Clock.Now().Add(-time.Hour).Unix(), "iat": e.Clock.Now().Add(-2 * time.Hour).Unix(),
			})
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
		cases := []struct {
			name   string
			token  string
			status int
			want   gen.Me
		}{
			{"tenant administrator", e.token("demo", "admin@demo.example.com"), 200,
				gen.Me{TenantID: "demo", Subject: "admin@demo.example.com", Roles: []string{}, IsOperator: false}},
			{"operator", e.token("platform", "ops@example.com", auth.RoleAdmin, "other"), 200,
				gen.Me{TenantID: "platform", Subject: "ops@example.com", Roles: []string{auth.RoleAdmin, "other"}, IsOperator: true}},
			{"no token", "", 401, gen.Me{}},
			{"expired token", expired(), 401, gen.Me{}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				resp, err := e.clientWithToken(tc.token).ViewMeWithResponse(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode() != tc.status {
					t.Fatalf("status %d, want %d: %s", resp.StatusCode(), tc.status, resp.Body)
				}
				if tc.status != 200 {
					if resp.JSON401 == nil || resp.JSON401.Error != "invalid_token" {
						t.Errorf("want an invalid_token error, got %s", resp.Body)
					}
					return
				}
				got := *resp.JSON200
				if got.TenantID != tc.want.TenantID || got.Subject != tc.want.Subject || got.IsOperator != tc.want.IsOperator ||
					strings.Join(got.Roles, ",") != strings.Join(tc.want.Roles, ",") || got.Roles == nil {
					t.Errorf("got %+v, want %+v", got, tc.want)
				}
				if want := e.Clock.Now().Add(time.Hour).Truncate(time.Second); !got.ExpiresTime.Equal(want) {
					t.Errorf("expiresTime %s, want %s", got.ExpiresTime, want)
				}
			})
		}
	})
}

// fakeIssuer serves a discovery document, counting the fetches.
type fakeIssuer struct {
	*httptest.Server
	fetches atomic.Int64
	status  atomic.Int64
	// claimed is the issuer the document names; the issuer's own URL when empty.
	claimed     string
	tokenOrigin string
}

func newFakeIssuer(t *testing.T, claimed, tokenOrigin string) *fakeIssuer {
	t.Helper()
	f := &fakeIssuer{claimed: claimed, tokenOrigin: tokenOrigin}
	f.status.Store(http.StatusOK)
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/openid-configuration" {
			http.NotFound(w, r)
			return
		}
		f.fetches.Add(1)
		if st := int(f.status.Load()); st != http.StatusOK {
			w.WriteHeader(st)
			return
		}
		iss, tok := f.URL, f.URL
		if f.claimed != "" {
			iss = f.claimed
		}
		if f.tokenOrigin != "" {
			tok = f.tokenOrigin
		}
		_ = json.NewEncoder(w).Encode(map[string]string{
			"issuer":                 iss,
			"authorization_endpoint": f.URL + "/authorize",
			"token_endpoint":         tok + "/oauth/token",
			"end_session_endpoint":   f.URL + "/end_session",
			"jwks_uri":               f.URL + "/keys",
		})
	}))
	t.Cleanup(f.Close)
	return f
}

func TestViewConsoleConfig(t *testing.T) {
	t.Run("development", func(t *testing.T) {
		e := newEnvWith(t, store.DialectSQLite, func(c *server.Config) {
			c.Console = server.ConsoleConfig{Files: testConsole(), Mode: server.ConsoleDevelopment}
		})
		got := consoleConfig(t, e, 200)
		if got.Mode != "development" || got.Scope != "openid" || got.Issuer != nil || got.ClientID != nil || got.TokenEndpoint != nil {
			t.Errorf("got %+v", got)
		}
	})
	t.Run("token only", func(t *testing.T) {
		e := newEnv(t, store.DialectSQLite)
		if got := consoleConfig(t, e, 200); got.Mode != "token" || got.Issuer != nil {
			t.Errorf("got %+v", got)
		}
	})
	t.Run("oidc from the issuer's discovery document, fetched once", func(t *testing.T) {
		iss := newFakeIssuer(t, "", "")
		e := newEnvWith(t, store.DialectSQLite, func(c *server.Config) {
			c.Console = server.ConsoleConfig{Files: testConsole(), Mode: server.ConsoleOIDC, Issuer: iss.URL, ClientID: "appreg-console"}
		})
		for range 3 {
			got := consoleConfig(t, e, 200)
			if got.Mode != "oidc" || deref(got.Issuer) != iss.URL || deref(got.ClientID) != "appreg-console" ||
				deref(got.AuthorizationEndpoint) != iss.URL+"/authorize" || deref(got.TokenEndpoint) != iss.URL+"/oauth/token" ||
				deref(got.EndSessionEndpoint) != iss.URL+"/end_session" || got.Scope != "openid" {
				t.Errorf("got %+v", got)
			}
		}
		if n := iss.fetches.Load(); n != 1 {
			t.Errorf("the discovery document was fetched %d times, want once", n)
		}
		resp, _ := e.do(http.MethodGet, "/console/", "", "", nil)
		want := "connect-src 'self' " + iss.URL + ";"
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	})
	t.Run("oidc with the token endpoint on another origin", func(t *testing.T) {
		iss := newFakeIssuer(t, "", "https://tokens.example.com")
		e := newEnvWith(t, store.DialectSQLite, func(c *server.Config) {
			c.Console = server.ConsoleConfig{Files: testConsole(), Mode: server.ConsoleOIDC, Issuer: iss.URL, ClientID: "appreg-console"}
		})
		resp, _ := e.do(http.MethodGet, "/console/", "", "", nil)
		want := "connect-src 'self' " + iss.URL + " https://tokens.example.com;"
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	})
	t.Run("oidc refuses a document naming another issuer", func(t *testing.T) {
		iss := newFakeIssuer(t, "https://evil.example.com", "")
		e := newEnvWith(t, store.DialectSQLite, func(c *server.Config) {
			c.Console = server.ConsoleConfig{Files: testConsole(), Mode: server.ConsoleOIDC, Issuer: iss.URL, ClientID: "appreg-console"}
		})
		consoleConfig(t, e, 503)
	})
	t.Run("oidc with the issuer down is 503, then recovers", func(t *testing.T) {
		iss := newFakeIssuer(t, "", "")
		iss.status.Store(http.StatusBadGateway)
		e := newEnvWith(t, store.DialectSQLite, func(c *server.Config) {
			c.Console = server.ConsoleConfig{Files: testConsole(), Mode: server.ConsoleOIDC, Issuer: iss.URL, ClientID: "appreg-console"}
		})
		consoleConfig(t, e, 503)
		consoleConfig(t, e, 503)
		if n := iss.fetches.Load(); n != 1 {
			t.Errorf("a down issuer was asked %d times in a row, want once", n)
		}
		resp, _ := e.do(http.MethodGet, "/console/", "", "", nil)
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self' "+iss.URL+";") {
			t.Errorf("with the issuer down, Content-Security-Policy %q should still allow the issuer", csp)
		}
	})
}

func TestConsoleOIDCNeedsIssuerAndClient(t *testing.T) {
	e := newEnv(t, store.DialectSQLite)
	for _, tc := range []struct{ name, issuer, client string }{
		{"no client id", "https://login.example.com", ""},
		{"no issuer", "", "appreg-console"},
		{"issuer over plain http", "http://login.example.com", "appreg-console"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := server.New(server.Config{Store: e.Store, Auth: mustVerifier(t, e), Lookup: e.Cache, Logger: quietLogger(),
				Console: server.ConsoleConfig{Mode: server.ConsoleOIDC, Issuer: tc.issuer, ClientID: tc.client}})
			if err == nil {
				t.Fatal("server.New accepted it")
			}
		})
	}
}

func consoleConfig(t *testing.T, e *testEnv, status int) gen.ConsoleConfig {
	t.Helper()
	resp, err := e.clientWithToken("").ViewConsoleConfigWithResponse(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode() != status {
		t.Fatalf("GET /console-config: %d, want %d: %s", resp.StatusCode(), status, resp.Body)
	}
	if status != 200 {
		if resp.JSON503 == nil || resp.JSON503.Error != "service_unavailable" || resp.HTTPResponse.Header.Get("Retry-After") == "" {
			t.Errorf("want service_unavailable with Retry-After, got %s", resp.Body)
		}
		return gen.ConsoleConfig{}
	}
	return *resp.JSON200
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// TestEmbeddedConsole: the committed build, as embedded, loads: every script and
// style sheet its page names is served, cached for good.
func TestEmbeddedConsole(t *testing.T) {
	e := newEnvWith(t, store.DialectSQLite, func(c *server.Config) {
		c.Console = server.ConsoleConfig{Files: console.Files(), Mode: server.ConsoleDevelopment}
	})
	resp, page := e.do(http.MethodGet, "/console/applications", "", "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /console/applications: %d", resp.StatusCode)
	}
	refs := regexp.MustCompile(`(?:src|href)="(/console/assets/[^"]+)"`).FindAllStringSubmatch(string(page), -1)
	if len(refs) == 0 {
		t.Fatalf("the page names no assets:\n%s", page)
	}
	for _, ref := range refs {
		resp, body := e.do(http.MethodGet, ref[1], "", "", nil)
		if resp.StatusCode != http.StatusOK || len(body) == 0 || resp.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
			t.Errorf("GET %s: %d, %d bytes, Cache-Control %q", ref[1], resp.StatusCode, len(body), resp.Header.Get("Cache-Control"))
		}
	}
}
