package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cxone/appreg/gen"
	"github.com/cxone/appreg/server"
	"github.com/cxone/appreg/server/auth"
	"github.com/cxone/appreg/store/storetest"
)

// hotAnswer is one answer as the wire carries it: status, headers but Date (and the request
// id when the server made it), body.
type hotAnswer struct {
	status int
	header http.Header
	body   []byte
}

// TestHotPathAnswersAsEcho sends each request of the lookup path's two reads to the whole
// stack (the hot path in front of echo) and to echo alone, on one server, and wants the same
// answer byte for byte: status, headers, body, and the same metrics and log line. The
// ordinary reads must be answered by the hot path once their token and client are in
// memory; every other request (bad or missing token, a role missing, bad, repeated or missing
// parameters, an escaped path, a body, another method, an unknown client) must go on to echo,
// which answers it as it always did.
func TestHotPathAnswersAsEcho(t *testing.T) {
	for _, d := range storetest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			var logs syncBuffer
			e := newEnvWith(t, d, func(c *server.Config) {
				c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			})
			full := httptest.NewServer(e.Server.FullPath())
			t.Cleanup(full.Close)
			testHotPath(t, e, full.URL, &logs)
		})
	}
}

func testHotPath(t *testing.T, e *testEnv, fullURL string, logs *syncBuffer) {
	ctx := context.Background()
	owner := e.client("acme")
	conf := e.created("acme", confidentialBody()) // origin https://desktop.example.com
	public := e.created("acme", gen.CreateApplicationJSONRequestBody{
		Name: "SPA", Contacts: []string{"a@example.com"}, Type: gen.Public,
		Redirects: ptr([]string{"https://spa.example.com/cb"}),
	})
	disabled := e.created("acme", gen.CreateApplicationJSONRequestBody{
		Name: "Exporter", Contacts: []string{"ops@example.com"}, Type: gen.Backend,
	})
	if r, _ := owner.DisableApplicationWithResponse(ctx, disabled.ID, nil); r.StatusCode() != http.StatusNoContent {
		t.Fatalf("disable: %d", r.StatusCode())
	}
	locked := e.created("acme", gen.CreateApplicationJSONRequestBody{
		Name: "Old", Contacts: []string{"ops@example.com"}, Type: gen.Backend,
	})
	if r, _ := owner.DeleteApplicationWithResponse(ctx, locked.ID, nil); r.StatusCode() != http.StatusOK {
		t.Fatalf("delete: %d", r.StatusCode())
	}
	lk := "Bearer " + e.token("platform", "authz-server", auth.RoleLookup)
	noRole := "Bearer " + e.token("acme", "admin@acme")
	client := "/internal/clients/" + conf.ID

	tests := []struct {
		name, method, target, authorization, requestID, body string
		hot                                                  bool // answered by the hot path once warm
	}{
		{"lookup, owner tenant", "GET", client + "?tenantId=acme", lk, "r-1", "", true},
		{"lookup, other tenant", "GET", client + "?tenantId=globex", lk, "r-2", "", true},
		{"lookup, public client", "GET", "/internal/clients/" + public.ID + "?tenantId=acme", lk, "r-3", "", true},
		{"lookup, disabled client", "GET", "/internal/clients/" + disabled.ID + "?tenantId=acme", lk, "r-4", "", true},
		{"lookup, client scheduled for deletion", "GET", "/internal/clients/" + locked.ID + "?tenantId=acme", lk, "r-5", "", true},
		{"lookup, an unknown parameter beside", "GET", client + "?tenantId=acme&x=1", lk, "r-6", "", true},
		{"lookup, scheme in lower case", "GET", client + "?tenantId=acme", strings.Replace(lk, "Bearer", "bearer", 1), "r-7", "", true},
		{"lookup, no request id: one is made", "GET", client + "?tenantId=acme", lk, "", "", true},
		{"lookup, a request id that is no plain token: one is made", "GET", client + "?tenantId=acme", lk, "a b", "", true},
		{"lookup, unknown client", "GET", "/internal/clients/no-such-client?tenantId=acme", lk, "r-8", "", false},
		{"lookup, id outside its pattern", "GET", "/internal/clients/bad%20id?tenantId=acme", lk, "r-9", "", false},
		{"lookup, escaped slash in the id", "GET", "/internal/clients/a%2Fb?tenantId=acme", lk, "r-10", "", false},
		{"lookup, trailing slash", "GET", client + "/?tenantId=acme", lk, "r-11", "", false},
		{"lookup, no tenantId", "GET", client, lk, "r-12", "", false},
		{"lookup, tenantId twice", "GET", client + "?tenantId=acme&tenantId=acme", lk, "r-13", "", false},
		{"lookup, empty tenantId", "GET", client + "?tenantId=", lk, "r-14", "", false},
		{"lookup, no token", "GET", client + "?tenantId=acme", "", "r-15", "", false},
		{"lookup, a token without the role", "GET", client + "?tenantId=acme", noRole, "r-16", "", false},
		{"lookup, a token not signed by the trusted key", "GET", client + "?tenantId=acme", "Bearer eyJhbGciOiJFUzI1NiJ9.e30.c2ln", "r-17", "", false},
		{"lookup, a body", "GET", client + "?tenantId=acme", lk, "r-18", `{"a":1}`, false},
		{"lookup, HEAD", "HEAD", client + "?tenantId=acme", lk, "r-19", "", false},
		{"cors, listed origin", "GET", "/internal/cors?origin=https%3A%2F%2Fdesktop.example.com&tenantId=acme", lk, "c-1", "", true},
		{"cors, normalised form", "GET", "/internal/cors?origin=HTTPS%3A%2F%2FDesktop.Example.com%3A443&tenantId=acme", lk, "c-2", "", true},
		{"cors, other tenant", "GET", "/internal/cors?origin=https%3A%2F%2Fdesktop.example.com&tenantId=globex", lk, "c-3", "", true},
		{"cors, unlisted origin", "GET", "/internal/cors?origin=https%3A%2F%2Fevil.example.com&tenantId=acme", lk, "c-4", "", true},
		{"cors, the browser's null", "GET", "/internal/cors?origin=null&tenantId=acme", lk, "c-5", "", true},
		{"cors, no origin", "GET", "/internal/cors?tenantId=acme", lk, "c-6", "", false},
		{"cors, origin twice", "GET", "/internal/cors?origin=null&origin=null&tenantId=acme", lk, "c-7", "", false},
		{"cors, no tenantId", "GET", "/internal/cors?origin=null", lk, "c-8", "", false},
		{"cors, a token without the role", "GET", "/internal/cors?origin=null&tenantId=acme", noRole, "c-9", "", false},
	}
	okLookups, okCORS := 0.0, 0.0
	for _, tc := range tests {
		send := func(base string) hotAnswer {
			t.Helper()
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			req, err := http.NewRequest(tc.method, base+tc.target, body)
			if err != nil {
				t.Fatal(err)
			}
			if tc.authorization != "" {
				req.Header.Set("Authorization", tc.authorization)
			}
			if tc.requestID != "" {
				req.Header.Set("X-Request-Id", tc.requestID)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.validate(req, resp, b); err != nil {
				t.Errorf("%s: the answer breaks openapi.yaml: %v\n%s", tc.name, err, b)
			}
			if resp.StatusCode == http.StatusOK {
				if strings.HasPrefix(tc.target, "/internal/cors") {
					okCORS++
				} else {
					okLookups++
				}
			}
			h := resp.Header.Clone()
			h.Del("Date")
			if id := h.Get("X-Request-Id"); id == "" {
				t.Errorf("%s: no X-Request-Id", tc.name)
			} else if id != tc.requestID {
				h.Set("X-Request-Id", "(made)")
				b = bytes.ReplaceAll(b, []byte(id), []byte("(made)"))
			}
			return hotAnswer{resp.StatusCode, h, b}
		}
		t.Run(tc.name, func(t *testing.T) {
			cold := send(e.URL)
			fromEcho := send(fullURL)
			logged := len(logs.String())
			clients, origins := e.Server.HotAnswers()
			warm := send(e.URL)
			clients2, origins2 := e.Server.HotAnswers()
			line := lastRequestLine(logs.String()[logged:])
			if hot := clients2-clients+origins2-origins == 1; hot != tc.hot {
				t.Errorf("answered by the hot path: %v, want %v (%d %s)", hot, tc.hot, warm.status, warm.body)
			}
			for _, a := range []struct {
				name string
				got  hotAnswer
			}{{"first", cold}, {"warm", warm}} {
				if a.got.status != fromEcho.status || !bytes.Equal(a.got.body, fromEcho.body) || !sameHeaders(a.got.header, fromEcho.header) {
					t.Errorf("%s answer differs from echo's:\n%d %v %s\necho's:\n%d %v %s", a.name,
						a.got.status, a.got.header, a.got.body, fromEcho.status, fromEcho.header, fromEcho.body)
				}
			}
			if tc.hot {
				// The hot answer's log line: the frame's, at debug level (the lookup path's
				// successes), with who asked.
				var l map[string]any
				if err := json.Unmarshal([]byte(line), &l); err != nil {
					t.Fatalf("log: %q: %v", line, err)
				}
				path, _, _ := strings.Cut(tc.target, "?")
				if l["level"] != "DEBUG" || l["msg"] != "request" || l["method"] != "GET" || l["path"] != path ||
					l["status"] != float64(200) || l["tenant_id"] != "platform" || l["sub"] != "authz-server" || l["duration"] == nil ||
					(tc.requestID == "r-1" && l["request_id"] != "r-1") {
					t.Errorf("log line %v", l)
				}
			}
		})
	}

	// Every answer of both paths was counted, under the route echo would name.
	m := scrapeMetrics(t, e)
	for route, want := range map[string]float64{"/internal/clients/:clientId": okLookups, "/internal/cors": okCORS} {
		if got := m[`appreg_http_requests_total{method="GET",route="`+route+`",status="200"}`]; got != want {
			t.Errorf("%s: %v answers counted 200, want %v", route, got, want)
		}
	}
	clients, origins := e.Server.HotAnswers()
	if m[`appreg_lookup_hot_answers_total{kind="client"}`] != float64(clients) || m[`appreg_lookup_hot_answers_total{kind="origin"}`] != float64(origins) {
		t.Errorf("appreg_lookup_hot_answers_total: %v %v, want %d %d", m[`appreg_lookup_hot_answers_total{kind="client"}`], m[`appreg_lookup_hot_answers_total{kind="origin"}`], clients, origins)
	}

	t.Run("a remembered token that expires is refused", func(t *testing.T) {
		tok, err := auth.Sign(e.key, "test-key", map[string]any{
			"tenantId": "platform", "sub": "authz-server", "roles": []string{auth.RoleLookup},
			"exp": e.Clock.Now().Add(time.Minute).Unix(), "iat": e.Clock.Now().Unix(),
		})
		if err != nil {
			t.Fatal(err)
		}
		get := func() int {
			req, _ := http.NewRequest("GET", e.URL+client+"?tenantId=acme", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		if s := get(); s != http.StatusOK {
			t.Fatalf("before it expires: %d", s)
		}
		before, _ := e.Server.HotAnswers()
		if s := get(); s != http.StatusOK {
			t.Fatalf("before it expires, again: %d", s)
		}
		if after, _ := e.Server.HotAnswers(); after != before+1 {
			t.Fatal("the remembered token was not answered by the hot path")
		}
		e.Clock.Advance(time.Hour)
		if s := get(); s != http.StatusUnauthorized {
			t.Fatalf("after it expired: %d, want 401", s)
		}
	})
}

// sameHeaders compares two answers' headers, values in order.
func sameHeaders(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || strings.Join(v, "\x00") != strings.Join(w, "\x00") {
			return false
		}
	}
	return true
}

// lastRequestLine is the last "request" line of JSON log output.
func lastRequestLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], `"msg":"request"`) {
			return lines[i]
		}
	}
	return ""
}
