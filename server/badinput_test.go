package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// hostile are values no field of its kind accepts, by field kind.
var hostile = map[string][]any{
	"text": {"a\x00b", "a\u202eb", 42, map[string]any{"$ne": 1}, []any{"x"}, true,
		strings.Repeat("x", 1100), "\u2066inject\u2069"},
	"enum": {"'; DROP TABLE applications; --", "../../etc/passwd", 7, "", "Confidential", "\x00", []any{"public"}},
	"uris": {[]any{"../../etc/passwd"}, []any{"javascript:alert(1)"}, []any{"https://a.example.com/'; DROP TABLE x;--#"},
		[]any{"https://a.example.com/\x00"}, []any{1}, "https://a.example.com", []any{"https://*.example.com"},
		[]any{"https://a.example.com/#f"}, []any{"http://evil.example.com/cb"}, []any{"file:///etc/passwd"},
		[]any{"https://a.example.com/" + strings.Repeat("a", 2100)}, []any{"data:text/html,<script>"}},
	"contacts": {[]any{}, []any{"not-an-email"}, []any{"'; DROP TABLE x;--@example.com"}, []any{nil},
		"it@example.com", []any{"a@example.com", "a@example.com"}, []any{"Bob <b@example.com>"},
		[]any{"a@b@example.com"}, strings.Split(strings.Repeat("a@example.com,", 11), ",")[:11]},
	"scope": {`a"b`, "a\x00b", 5, `a\b`},
	"jwks":  {"http://a.example.com/jwks", "../../etc/passwd", 5, "https://a.example.com/jwks#x"},
}

var fieldKinds = map[string]string{
	"name": "text", "description": "text", "type": "enum", "tenancy": "enum", "authMethod": "enum",
	"redirects": "uris", "logouts": "uris", "origins": "uris", "contacts": "contacts",
	"scope": "scope", "jwksEndpoint": "jwks",
}

// TestBadInputSuite sends more than 200 hostile requests; each must be a 4xx
// in the error shape (the harness validates every answer against the spec),
// never a 5xx, and the database must be unchanged at the end.
func TestBadInputSuite(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *testEnv) {
		app := e.created("acme", confidentialBody())
		tok := e.token("acme", "attacker")
		before := dbSnapshot(t, e)

		type req struct {
			name, method, path, ct string
			body                   []byte
			header                 map[string]string
		}
		var reqs []req
		valid := map[string]any{"name": "A", "contacts": []any{"a@example.com"}, "type": "confidential",
			"redirects": []any{"https://a.example.com/cb"}}
		for field, kind := range fieldKinds {
			for i, v := range hostile[kind] {
				create := map[string]any{}
				for k, x := range valid {
					create[k] = x
				}
				create[field] = v
				cb, _ := json.Marshal(create)
				pb, _ := json.Marshal(map[string]any{field: v})
				reqs = append(reqs,
					req{fmt.Sprintf("create %s #%d", field, i), http.MethodPost, "/applications", "application/json", cb, nil},
					req{fmt.Sprintf("patch %s #%d", field, i), http.MethodPatch, "/applications/" + app.ID, "application/json", pb, nil})
			}
		}
		for i, id := range []string{strings.Repeat("x", 129), "%00", "a%2Fb", "..%2F..", "%E2%80%AE", "x%20y", "'--"} {
			for _, m := range []string{http.MethodGet, http.MethodPatch, http.MethodDelete} {
				reqs = append(reqs, req{fmt.Sprintf("bad id #%d %s", i, m), m, "/applications/" + id, "application/json", []byte(`{}`), nil})
			}
		}
		for i, q := range []string{"limit=-1", "limit=0", "limit=1001", "limit=1e3", "limit=", "cursor=%00", "cursor=" + strings.Repeat("A", 600), "cursor=e30", "limit=2&cursor=bad",
			"type=spa", "type=", "type=Public", "type=public&type=x", "state=deleted", "state=", "state=ENABLED", "q=",
			"q=" + strings.Repeat("a", 129), "q=a%00b", "q=%FF%FE", "q=desk&state=gone", "type=%27%3B--",
			"type=public&cursor=" + b64(map[string]string{"t": "2026-11-23T10:00:00Z", "i": "x", "f": "AAAAAAAAAAAAAAAA"}),
			"q=a&cursor=" + b64(map[string]string{"t": "2026-11-23T10:00:00Z", "i": "x"})} {
			reqs = append(reqs, req{fmt.Sprintf("bad query #%d", i), http.MethodGet, "/applications?" + q, "", nil, nil})
		}
		for i, k := range []string{"", strings.Repeat("k", 300), "a b", "é"} {
			reqs = append(reqs, req{fmt.Sprintf("bad Idempotency-Key #%d", i), http.MethodPost, "/applications", "application/json",
				[]byte(`{"name":"A","contacts":[],"type":"x"}`), map[string]string{"Idempotency-Key": k}})
		}
		for i, m := range []string{`"0"`, `W/"1"`, "garbage", `"5", "6"`} {
			reqs = append(reqs, req{fmt.Sprintf("stale If-Match #%d", i), http.MethodPatch, "/applications/" + app.ID, "application/json",
				[]byte(`{"name":"B"}`), map[string]string{"If-Match": m}})
		}
		for i, b := range []string{`{"name":"A","name":"\u0000","contacts":["a@example.com"],"type":"confidential","redirects":["https://a.example.com/cb"]}`,
			strings.Repeat("[", 5000) + strings.Repeat("]", 5000), `{"a":` + strings.Repeat(`{"a":`, 2000) + `1` + strings.Repeat("}", 2001),
			"\xff\xfe", `{"name":"A"}garbage`, "", `null`} {
			reqs = append(reqs, req{fmt.Sprintf("malformed body #%d", i), http.MethodPost, "/applications", "application/json", []byte(b), nil})
		}
		for i, ct := range []string{"text/plain", "application/xml", "multipart/form-data", "application/json-patch+json", ""} {
			reqs = append(reqs, req{fmt.Sprintf("content type #%d", i), http.MethodPatch, "/applications/" + app.ID, ct, []byte(`{"name":"B"}`), nil})
		}
		reqs = append(reqs, req{"huge body", http.MethodPost, "/applications", "application/json",
			[]byte(`{"name":"` + strings.Repeat("a", 2<<20) + `"}`), nil})

		if len(reqs) < 200 {
			t.Fatalf("only %d requests", len(reqs))
		}
		client := &http.Client{Transport: &validatingTransport{env: e}}
		for _, r := range reqs {
			hr, _ := http.NewRequest(r.method, e.URL+r.path, bytes.NewReader(r.body))
			hr.Header.Set("Authorization", "Bearer "+tok)
			if r.ct != "" {
				hr.Header.Set("Content-Type", r.ct)
			}
			for k, v := range r.header {
				hr.Header[k] = []string{v}
			}
			resp, err := client.Do(hr)
			if err != nil {
				t.Fatalf("%s: %v", r.name, err)
			}
			resp.Body.Close()
			if resp.StatusCode < 400 || resp.StatusCode >= 500 {
				t.Errorf("%s: answered %d, want a 4xx", r.name, resp.StatusCode)
			}
		}
		if after := dbSnapshot(t, e); after != before {
			t.Fatalf("hostile input changed the database:\n%s\n---\n%s", before, after)
		}
		t.Logf("%d hostile requests, all 4xx, database unchanged", len(reqs))
	})
}

// dbSnapshot is every row of every table the API writes, in a stable order.
func dbSnapshot(t *testing.T, e *testEnv) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{
		"SELECT * FROM applications ORDER BY id",
		"SELECT * FROM application_secrets ORDER BY id",
		"SELECT * FROM application_origins ORDER BY application_id, origin",
		"SELECT * FROM application_events ORDER BY id",
		"SELECT * FROM outbox_messages ORDER BY id",
		"SELECT * FROM idempotency_records ORDER BY tenant_id, operation, idempotency_key",
		"SELECT count(*) FROM application_changes",
	} {
		var rows []map[string]any
		if err := e.Store.DB().Raw(q).Scan(&rows).Error; err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		j, _ := json.Marshal(rows)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}
