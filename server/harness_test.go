package server_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/cxone/appreg/gen"
	"github.com/cxone/appreg/server"
	"github.com/cxone/appreg/server/auth"
	"github.com/cxone/appreg/server/lookup"
	"github.com/cxone/appreg/store"
	"github.com/cxone/appreg/store/storetest"
)

// clock is a settable clock shared by a test and the server under test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testEnv is a real appreg server on a fresh database, with a signing key the
// server trusts.
type testEnv struct {
	t       testing.TB
	URL     string
	Clock   *clock
	Store   *store.Store
	Cache   *lookup.Cache
	Grace   time.Duration
	key     *ecdsa.PrivateKey
	route   routers.Router
	handler http.Handler
	Server  *server.Server
}

const testGrace = time.Hour

// newEnv starts a server on a fresh database of dialect.
func newEnv(t testing.TB, dialect string) *testEnv {
	t.Helper()
	return newEnvWith(t, dialect, nil)
}

// newEnvWith is newEnv with the server's configuration adjusted by tune.
func newEnvWith(t testing.TB, dialect string, tune func(*server.Config)) *testEnv {
	t.Helper()
	st := storetest.Open(t, dialect)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := auth.PublicJWKS(map[string]crypto.PublicKey{"test-key": &key.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	clk := newClock()
	v, err := auth.NewVerifier(context.Background(), auth.Config{JWKS: jwks, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	cache := lookup.New(st, lookup.Config{Now: clk.Now, PollInterval: 20 * time.Millisecond, Logger: quietLogger()})
	if err := cache.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cache.Stop(context.Background()) })
	cfg := server.Config{
		Store: st, Auth: v, Lookup: cache, DeletionGrace: testGrace, Now: clk.Now, Ready: st.Ping,
		Logger: quietLogger(),
	}
	if tune != nil {
		tune(&cfg)
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)

	spec, err := server.Spec()
	if err != nil {
		t.Fatal(err)
	}
	router, err := gorillamux.NewRouter(spec)
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{t: t, URL: ts.URL, Clock: clk, Store: st, Cache: cache, Grace: testGrace, key: key, route: router, handler: srv.Handler(), Server: srv}
}

// token signs a token for tenant with the server's trusted key.
func (e *testEnv) token(tenant, sub string, roles ...string) string {
	e.t.Helper()
	claims := map[string]any{
		"tenantId": tenant,
		"sub":      sub,
		"exp":      e.Clock.Now().Add(time.Hour).Unix(),
		"iat":      e.Clock.Now().Unix(),
	}
	if len(roles) > 0 {
		claims["roles"] = roles
	}
	tok, err := auth.Sign(e.key, "test-key", claims)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// client is a generated client acting for tenant; every answer it gets is
// checked against openapi.yaml.
func (e *testEnv) client(tenant string, roles ...string) *gen.ClientWithResponses {
	e.t.Helper()
	return e.clientWithToken(e.token(tenant, "user@"+tenant, roles...))
}

func (e *testEnv) clientWithToken(token string) *gen.ClientWithResponses {
	e.t.Helper()
	c, err := gen.NewClientWithResponses(e.URL,
		gen.WithHTTPClient(&http.Client{Transport: &validatingTransport{env: e}, Timeout: 30 * time.Second}),
		gen.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
			if token != "" {
				r.Header.Set("Authorization", "Bearer "+token)
			}
			return nil
		}))
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// do sends a raw request (for what the generated client cannot send: bad
// JSON, wrong content types, odd paths) and validates the answer.
func (e *testEnv) do(method, path, token, contentType string, body []byte) (*http.Response, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := (&http.Client{Transport: &validatingTransport{env: e}}).Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp, b
}

// validatingTransport checks every answer against openapi.yaml, including
// that its status is declared for the operation.
type validatingTransport struct{ env *testEnv }

func (vt *validatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err := vt.env.validate(req, resp, body); err != nil {
		vt.env.t.Errorf("%s %s answered %d, which breaks openapi.yaml: %v\nbody: %s", req.Method, req.URL.Path, resp.StatusCode, err, body)
	}
	return resp, nil
}

func (e *testEnv) validate(req *http.Request, resp *http.Response, body []byte) error {
	route, params, err := e.route.FindRoute(req)
	if err != nil {
		// Operational paths (health, metrics, docs) are outside the contract;
		// any other path outside the spec must answer 404 or 405, or, to OPTIONS,
		// 204 (the answers the spec's description lists).
		if !strings.HasPrefix(req.URL.Path, "/applications") && !strings.HasPrefix(req.URL.Path, "/admin/") && !strings.HasPrefix(req.URL.Path, "/internal/") {
			return nil
		}
		options := req.Method == http.MethodOptions && resp.StatusCode == http.StatusNoContent
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed && !options {
			return fmt.Errorf("no operation for this path, yet the answer is %d", resp.StatusCode)
		}
		return nil
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	return openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	})
}

// eachDialect runs f once per database dialect, in parallel.
func eachDialect(t *testing.T, f func(t *testing.T, e *testEnv)) {
	t.Helper()
	for _, d := range storetest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			f(t, newEnv(t, d))
		})
	}
}

// withHandler is e served by h: another replica on the same database, clock and keys.
func (e *testEnv) withHandler(h http.Handler) *testEnv {
	e.t.Helper()
	ts := httptest.NewServer(h)
	e.t.Cleanup(ts.Close)
	r := *e
	r.URL, r.handler = ts.URL, h
	return &r
}

// mustVerifier is a verifier of e's tokens, at e's clock.
func mustVerifier(t *testing.T, e *testEnv) *auth.Verifier {
	t.Helper()
	v, err := auth.NewVerifier(context.Background(), auth.Config{JWKS: mustJWKS(t, e), Now: e.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
