package server_test

import (
	"context"
	"crypto"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/cxone/appreg/gen"
	"github.com/cxone/appreg/server"
	"github.com/cxone/appreg/server/auth"
	"github.com/cxone/appreg/server/lookup"
	"github.com/cxone/appreg/store"
	"github.com/cxone/appreg/store/storetest"
)

// newCutProxy is a storetest.FaultProxy in front of target, cut when the test ends.
func newCutProxy(t *testing.T, target string) *storetest.FaultProxy {
	t.Helper()
	p, err := storetest.NewFaultProxy("127.0.0.1:0", target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Cut)
	return p
}

// restoreProxy listens again, failing the test if it cannot.
func restoreProxy(t *testing.T, p *storetest.FaultProxy) {
	t.Helper()
	if err := p.Restore(); err != nil {
		t.Fatal(err)
	}
}

// TestDatabaseDownIs503AndRecovers: with the database unreachable every
// operation answers 503 with Retry-After in the error shape (never 500), and
// the service recovers by itself when the database is back.
func TestDatabaseDownIs503AndRecovers(t *testing.T) {
	if !contains(storetest.Dialects(t), "postgres") {
		t.Skip("PostgreSQL not reachable: skipping")
	}
	dbURL, err := url.Parse(storetest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCutProxy(t, dbURL.Host)
	dbURL.Host = proxy.Addr()
	ctx := context.Background()
	st, err := store.Open(ctx, dbURL.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })

	env := newEnv(t, "sqlite") // for its key, clock and client plumbing
	cache := lookup.New(st, lookup.Config{Now: env.Clock.Now, Logger: quietLogger()})
	srv, err := server.New(server.Config{Store: st, Auth: mustVerifier(t, env), Lookup: cache, Now: env.Clock.Now, Ready: st.Ping,
		Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	env.URL = ts.URL

	c := env.client("acme")
	created, _ := c.CreateApplicationWithResponse(ctx, nil, confidentialBody())
	if created.JSON201 == nil {
		t.Fatalf("create: %s", created.Body)
	}

	proxy.Cut()
	calls := []func() (int, http.Header, []byte){
		func() (int, http.Header, []byte) {
			r, _ := c.ListApplicationWithResponse(ctx, &gen.ListApplicationParams{})
			return r.StatusCode(), r.HTTPResponse.Header, r.Body
		},
		func() (int, http.Header, []byte) {
			r, _ := c.CreateApplicationWithResponse(ctx, nil, confidentialBody())
			return r.StatusCode(), r.HTTPResponse.Header, r.Body
		},
		func() (int, http.Header, []byte) {
			r, _ := c.PatchApplicationWithResponse(ctx, created.JSON201.ID, nil, gen.PatchApplicationJSONRequestBody{Name: ptr("x")})
			return r.StatusCode(), r.HTTPResponse.Header, r.Body
		},
		func() (int, http.Header, []byte) {
			resp, body := env.do(http.MethodGet, "/readyz", "", "", nil)
			return resp.StatusCode, resp.Header, body
		},
	}
	for i, call := range calls {
		status, h, body := call()
		if status != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
			t.Fatalf("call %d with the database down: %d %s", i, status, body)
		}
	}

	restoreProxy(t, proxy)
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, _ := c.ListApplicationWithResponse(ctx, &gen.ListApplicationParams{})
		if r.StatusCode() == http.StatusOK {
			if len(r.JSON200.Applications) != 1 {
				t.Fatalf("after recovery: %s", r.Body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery within 10 s: %d %s", r.StatusCode(), r.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func mustJWKS(t *testing.T, e *testEnv) []byte {
	t.Helper()
	j, err := auth.PublicJWKS(map[string]crypto.PublicKey{"test-key": &e.key.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	return j
}
