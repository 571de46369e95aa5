package server_test

import (
	"context"
	"crypto"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/cxone/appreg/gen"
	"github.com/cxone/appreg/server"
	"github.com/cxone/appreg/server/auth"
	"github.com/cxone/appreg/server/lookup"
	"github.com/cxone/appreg/store"
	"github.com/cxone/appreg/store/storetest"
)

// cutProxy forwards a loopback port to PostgreSQL and can cut every
// connection and refuse new ones, as a database that went down would, or
// pause: stop forwarding bytes (new connections are accepted, and hang), as
// a network that stopped delivering would.
type cutProxy struct {
	addr, target string
	mu           sync.Mutex
	ln           net.Listener
	conns        []net.Conn
	open         chan struct{} // closed while forwarding; pause replaces it
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	p := &cutProxy{target: target, open: make(chan struct{})}
	close(p.open)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *cutProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go p.pipe(up, c)
			go p.pipe(c, up)
		}
	}()
}

// pipe copies src to dst while the proxy forwards, until either fails.
func (p *cutProxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			open := p.open
			p.mu.Unlock()
			<-open
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// pause stops forwarding: every byte sent either way waits for resume.
func (p *cutProxy) pause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.open:
		p.open = make(chan struct{})
	default: // already paused
	}
}

// resume forwards again what pause held, and what follows.
func (p *cutProxy) resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.open:
	default:
		close(p.open)
	}
}

// cut closes the listener and every connection (and ends a pause).
func (p *cutProxy) cut() {
	p.resume()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// restore listens again on the same address.
func (p *cutProxy) restore(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	p.serve(ln)
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
	dbURL.Host = proxy.addr
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

	proxy.cut()
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

	proxy.restore(t)
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
