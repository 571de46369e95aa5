package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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

	verify := func(id string) string { return "/internal/clients/" + id + "/verify" }
	body := func(secret, tenant string) string { return `{"secret":"` + secret + `","tenantId":"` + tenant + `"}` }
	type hotCase struct {
		name, method, target, authorization, requestID, body string
		hot                                                  bool   // answered by the hot path once warm
		contentType                                          string // of a body: application/json unless set
		chunked                                              bool   // the body sent without a length
	}
	tests := []hotCase{
		{"lookup, owner tenant", "GET", client + "?tenantId=acme", lk, "r-1", "", true, "", false},
		{"lookup, other tenant", "GET", client + "?tenantId=globex", lk, "r-2", "", true, "", false},
		{"lookup, public client", "GET", "/internal/clients/" + public.ID + "?tenantId=acme", lk, "r-3", "", true, "", false},
		{"lookup, disabled client", "GET", "/internal/clients/" + disabled.ID + "?tenantId=acme", lk, "r-4", "", true, "", false},
		{"lookup, client scheduled for deletion", "GET", "/internal/clients/" + locked.ID + "?tenantId=acme", lk, "r-5", "", true, "", false},
		{"lookup, an unknown parameter beside", "GET", client + "?tenantId=acme&x=1", lk, "r-6", "", true, "", false},
		{"lookup, scheme in lower case", "GET", client + "?tenantId=acme", strings.Replace(lk, "Bearer", "bearer", 1), "r-7", "", true, "", false},
		{"lookup, no request id: one is made", "GET", client + "?tenantId=acme", lk, "", "", true, "", false},
		{"lookup, a request id that is no plain token: one is made", "GET", client + "?tenantId=acme", lk, "a b", "", true, "", false},
		{"lookup, an escaped parameter name", "GET", client + "?tenant%49d=acme", lk, "r-20", "", true, "", false},
		{"lookup, a pair that does not unescape beside", "GET", client + "?x=%zz&tenantId=acme", lk, "r-21", "", true, "", false},
		{"lookup, a query over 1 KiB", "GET", client + "?x=" + strings.Repeat("a", 1100) + "&tenantId=acme", lk, "r-22", "", true, "", false},
		{"lookup, a ';' in the tenantId pair", "GET", client + "?tenantId=acme;x=1", lk, "r-23", "", false, "", false},
		{"lookup, unknown client", "GET", "/internal/clients/no-such-client?tenantId=acme", lk, "r-8", "", true, "", false},
		{"lookup, unknown client, no request id", "GET", "/internal/clients/no-such-client-2?tenantId=acme", lk, "", "", true, "", false},
		{"lookup, unknown client, pretty", "GET", "/internal/clients/no-such-client?tenantId=acme&pretty", lk, "r-24", "", false, "", false},
		{"lookup, unknown client, no tenantId", "GET", "/internal/clients/no-such-client", lk, "r-25", "", false, "", false},
		{"lookup, unknown client, a token without the role", "GET", "/internal/clients/no-such-client?tenantId=acme", noRole, "r-26", "", false, "", false},
		{"lookup, id outside its pattern", "GET", "/internal/clients/bad%20id?tenantId=acme", lk, "r-9", "", false, "", false},
		{"lookup, escaped slash in the id", "GET", "/internal/clients/a%2Fb?tenantId=acme", lk, "r-10", "", false, "", false},
		{"lookup, trailing slash", "GET", client + "/?tenantId=acme", lk, "r-11", "", false, "", false},
		{"lookup, no tenantId", "GET", client, lk, "r-12", "", false, "", false},
		{"lookup, tenantId twice", "GET", client + "?tenantId=acme&tenantId=acme", lk, "r-13", "", false, "", false},
		{"lookup, empty tenantId", "GET", client + "?tenantId=", lk, "r-14", "", false, "", false},
		{"lookup, no token", "GET", client + "?tenantId=acme", "", "r-15", "", false, "", false},
		{"lookup, a token without the role", "GET", client + "?tenantId=acme", noRole, "r-16", "", false, "", false},
		{"lookup, a token not signed by the trusted key", "GET", client + "?tenantId=acme", "Bearer eyJhbGciOiJFUzI1NiJ9.e30.c2ln", "r-17", "", false, "", false},
		{"lookup, a body", "GET", client + "?tenantId=acme", lk, "r-18", `{"a":1}`, false, "", false},
		{"lookup, HEAD", "HEAD", client + "?tenantId=acme", lk, "r-19", "", false, "", false},
		{"cors, listed origin", "GET", "/internal/cors?origin=https%3A%2F%2Fdesktop.example.com&tenantId=acme", lk, "c-1", "", true, "", false},
		{"cors, normalised form", "GET", "/internal/cors?origin=HTTPS%3A%2F%2FDesktop.Example.com%3A443&tenantId=acme", lk, "c-2", "", true, "", false},
		{"cors, other tenant", "GET", "/internal/cors?origin=https%3A%2F%2Fdesktop.example.com&tenantId=globex", lk, "c-3", "", true, "", false},
		{"cors, unlisted origin", "GET", "/internal/cors?origin=https%3A%2F%2Fevil.example.com&tenantId=acme", lk, "c-4", "", true, "", false},
		{"cors, the browser's null", "GET", "/internal/cors?origin=null&tenantId=acme", lk, "c-5", "", true, "", false},
		{"cors, no origin", "GET", "/internal/cors?tenantId=acme", lk, "c-6", "", false, "", false},
		{"cors, origin twice", "GET", "/internal/cors?origin=null&origin=null&tenantId=acme", lk, "c-7", "", false, "", false},
		{"cors, no tenantId", "GET", "/internal/cors?origin=null", lk, "c-8", "", false, "", false},
		{"cors, a token without the role", "GET", "/internal/cors?origin=null&tenantId=acme", noRole, "c-9", "", false, "", false},
		{"verify, the right secret", "POST", verify(conf.ID), lk, "v-1", body(*conf.Secret, "acme"), true, "", false},
		{"verify, the right secret, other tenant", "POST", verify(conf.ID), lk, "v-2", body(*conf.Secret, "globex"), true, "", false},
		{"verify, a wrong secret", "POST", verify(conf.ID), lk, "v-3", body("wrong-secret", "acme"), true, "", false},
		{"verify, a disabled client", "POST", verify(disabled.ID), lk, "v-4", body(*disabled.Secret, "acme"), true, "", false},
		{"verify, a client scheduled for deletion", "POST", verify(locked.ID), lk, "v-5", body(*locked.Secret, "acme"), true, "", false},
		{"verify, a public client", "POST", verify(public.ID), lk, "v-6", body("any", "acme"), true, "", false},
		{"verify, an unknown client", "POST", verify("no-such-client"), lk, "v-7", body("any", "acme"), true, "", false},
		{"verify, an unknown client, an unknown member", "POST", verify("no-such-client"), lk, "v-20", `{"secret":"a","tenantId":"acme","x":"1"}`, false, "", false},
		{"verify, an unknown member", "POST", verify(conf.ID), lk, "v-8", `{"secret":"a","tenantId":"acme","x":"1"}`, false, "", false},
		{"verify, an escape in the secret", "POST", verify(conf.ID), lk, "v-9", body(`wr\u006fng`, "acme"), false, "", false},
		{"verify, a member twice", "POST", verify(conf.ID), lk, "v-10", `{"secret":"a","secret":"b","tenantId":"acme"}`, false, "", false},
		{"verify, no tenantId", "POST", verify(conf.ID), lk, "v-11", `{"secret":"a"}`, false, "", false},
		{"verify, not JSON", "POST", verify(conf.ID), lk, "v-12", `secret=a`, false, "", false},
		{"verify, text/plain", "POST", verify(conf.ID), lk, "v-13", body(*conf.Secret, "acme"), false, "text/plain", false},
		{"verify, a charset", "POST", verify(conf.ID), lk, "v-14", body(*conf.Secret, "acme"), false, "application/json; charset=utf-8", false},
		{"verify, no body", "POST", verify(conf.ID), lk, "v-15", "", false, "", false},
		{"verify, a body without a length", "POST", verify(conf.ID), lk, "v-16", body(*conf.Secret, "acme"), false, "", true},
		{"verify, a body over 4 KiB", "POST", verify(conf.ID), lk, "v-17", "{" + strings.Repeat(" ", 5000) + body(*conf.Secret, "acme")[1:], false, "", false},
		{"verify, a token without the role", "POST", verify(conf.ID), noRole, "v-18", body(*conf.Secret, "acme"), false, "", false},
		{"verify, GET", "GET", verify(conf.ID), lk, "v-19", "", false, "", false},
	}
	okLookups, okVerifies, okCORS := 0.0, 0.0, 0.0
	check := func(tc hotCase) {
		send := func(base string) hotAnswer {
			t.Helper()
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
				if tc.chunked {
					body = io.MultiReader(body) // a reader whose length NewRequest cannot tell
				}
			}
			req, err := http.NewRequest(tc.method, base+tc.target, body)
			if err != nil {
				t.Fatal(err)
			}
			if tc.body != "" {
				req.Header.Set("Content-Type", "application/json")
				if tc.contentType != "" {
					req.Header.Set("Content-Type", tc.contentType)
				}
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
				switch {
				case strings.HasPrefix(tc.target, "/internal/cors"):
					okCORS++
				case tc.method == "POST":
					okVerifies++
				default:
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
			before, counted := hotAnswers(e), scrapeMetrics(t, e)
			warm := send(e.URL)
			line := lastRequestLine(logs.String()[logged:])
			if hot := hotAnswers(e)-before == 1; hot != tc.hot {
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
				// successes and unknown ids), with who asked.
				var l map[string]any
				if err := json.Unmarshal([]byte(line), &l); err != nil {
					t.Fatalf("log: %q: %v", line, err)
				}
				path, _, _ := strings.Cut(tc.target, "?")
				if l["level"] != "DEBUG" || l["msg"] != "request" || l["method"] != tc.method || l["path"] != path ||
					l["status"] != float64(warm.status) || l["tenant_id"] != "platform" || l["sub"] != "authz-server" || l["duration"] == nil ||
					(tc.requestID == "r-1" && l["request_id"] != "r-1") {
					t.Errorf("log line %v", l)
				}
				// Its metrics: one answer more in the series of its route, method and status.
				route := "/internal/clients/:clientId"
				switch {
				case strings.HasPrefix(tc.target, "/internal/cors"):
					route = "/internal/cors"
				case tc.method == "POST":
					route += "/verify"
				}
				series := fmt.Sprintf(`appreg_http_requests_total{method=%q,route=%q,status="%d"}`, tc.method, route, warm.status)
				if got := scrapeMetrics(t, e)[series] - counted[series]; got != 1 {
					t.Errorf("%s: counted %v more, want 1", series, got)
				}
			}
		})
	}
	for _, tc := range tests {
		check(tc)
	}

	// Past its deletion time, a client held in the cache is gone (DESIGN.md: afterwards it is
	// 404): the hot path answers its lookup 404 and its verification unknown_client, as echo.
	e.Clock.Advance(e.Grace)
	lk = "Bearer " + e.token("platform", "authz-server", auth.RoleLookup) // the first one expired with the grace
	check(hotCase{"lookup, a client past its deletion time", "GET", "/internal/clients/" + locked.ID + "?tenantId=acme", lk, "d-1", "", true, "", false})
	check(hotCase{"verify, a client past its deletion time", "POST", verify(locked.ID), lk, "d-2", body(*locked.Secret, "acme"), true, "", false})

	// Every answer of both paths was counted, under the route echo would name.
	m := scrapeMetrics(t, e)
	for series, want := range map[string]float64{
		`method="GET",route="/internal/clients/:clientId"`:         okLookups,
		`method="POST",route="/internal/clients/:clientId/verify"`: okVerifies,
		`method="GET",route="/internal/cors"`:                      okCORS,
	} {
		if got := m[`appreg_http_requests_total{`+series+`,status="200"}`]; got != want {
			t.Errorf("%s: %v answers counted 200, want %v", series, got, want)
		}
	}
	clients, secrets, origins := e.Server.HotAnswers()
	for kind, want := range map[string]int64{"client": clients, "secret": secrets, "origin": origins} {
		if got := m[`appreg_lookup_hot_answers_total{kind="`+kind+`"}`]; got != float64(want) || want == 0 {
			t.Errorf("appreg_lookup_hot_answers_total{kind=%q} = %v, want %d (not 0)", kind, got, want)
		}
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
		before := hotAnswers(e)
		if s := get(); s != http.StatusOK {
			t.Fatalf("before it expires, again: %d", s)
		}
		if hotAnswers(e) != before+1 {
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

// hotAnswers is the number of answers e's hot path gave.
func hotAnswers(e *testEnv) int64 {
	clients, secrets, origins := e.Server.HotAnswers()
	return clients + secrets + origins
}

// FuzzHotPath sends arbitrary lookup-path calls (a target after /internal/, a body, a content
// type, a method) to the whole stack and to echo alone, in process, and wants the same answer
// from both: the hot path may only ever answer as the full path does.
func FuzzHotPath(f *testing.F) {
	e := newEnv(f, "sqlite")
	app := e.created("acme", confidentialBody())
	for _, seed := range []struct{ target, body, contentType string }{
		{"clients/" + app.ID + "?tenantId=acme", "", ""},
		{"clients/" + app.ID + "?tenantId=globex&tenantId=acme", "", ""},
		{"clients/" + app.ID + "/verify", `{"secret":"` + *app.Secret + `","tenantId":"acme"}`, "application/json"},
		{"clients/" + app.ID + "/verify", `{"secret":"x","tenantId":"acme","secret":"y"}`, "application/json"},
		{"clients/" + app.ID + "/verify?x=1", `{"secret":"\u0078","tenantId":"acme"}`, "application/json; charset=utf-8"},
		{"cors?origin=https%3A%2F%2Fdesktop.example.com&tenantId=acme", "", ""},
		{"cors?origin=HTTPS://Desktop.Example.com:443&tenantId=acme;x", "", ""},
		{"cors?origin=null&tenantId=", "x", "text/plain"},
	} {
		f.Add(seed.target, seed.body, seed.contentType)
	}
	tok := "Bearer " + e.token("platform", "authz-server", auth.RoleLookup)
	full := e.Server.FullPath()
	f.Fuzz(func(t *testing.T, target, body, contentType string) {
		method := http.MethodGet
		if body != "" {
			method = http.MethodPost
		}
		answer := func(h http.Handler) *httptest.ResponseRecorder {
			req, err := http.NewRequest(method, "http://appreg/internal/"+target, strings.NewReader(body))
			if err != nil {
				t.Skip("not a request: ", err)
			}
			req.RequestURI = req.URL.RequestURI() // as the server sets it
			req.Header.Set("Authorization", tok)
			req.Header.Set("X-Request-Id", "fuzz")
			if contentType != "" {
				req.Header.Set("Content-Type", contentType)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			return rec
		}
		answer(e.handler) // warms the token cache and the lookup cache for the next one
		whole := answer(e.handler)
		alone := answer(full)
		if whole.Code != alone.Code || !bytes.Equal(whole.Body.Bytes(), alone.Body.Bytes()) || !sameHeaders(whole.Header(), alone.Header()) {
			t.Fatalf("%s %s %q: the whole stack answers\n%d %v %s\necho alone\n%d %v %s", method, target, body,
				whole.Code, whole.Header(), whole.Body, alone.Code, alone.Header(), alone.Body)
		}
	})
}
