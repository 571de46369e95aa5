package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestUndeclaredStatusesAreDeclared sends each request that is answered by the HTTP server
// or the router rather than by an operation, and checks its answer against openapi.yaml: the
// answers of a known operation (431 for headers over the limit, 413 for a body over it on an
// operation that takes none) are validated as that operation's, the others (404, 405, OPTIONS)
// are the ones the spec's description lists, in the shape it gives.
func TestUndeclaredStatusesAreDeclared(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *testEnv) {
		tok := e.token("tenant-a", "alice@example.com")
		huge := strings.Repeat("x", 2<<20)
		cases := []struct {
			name, method, path string
			anonymous          bool // sent without a token
			header             http.Header
			body               []byte
			status             int
			// code is the Error's `error` when the answer is in the Error shape.
			code string
		}{
			{"headers over the limit", http.MethodGet, "/applications", false, http.Header{"X-Padding": {huge}}, nil, http.StatusRequestHeaderFieldsTooLarge, ""},
			{"headers over the limit, lookup path", http.MethodGet, "/internal/cors?origin=https://a.example.com&tenantId=t", false, http.Header{"X-Padding": {huge}}, nil, http.StatusRequestHeaderFieldsTooLarge, ""},
			{"a body over the limit where none is taken", http.MethodGet, "/applications", false, nil, bytes.Repeat([]byte("x"), 2<<20), http.StatusRequestEntityTooLarge, "request_too_large"},
			{"a path the API does not have", http.MethodGet, "/applications/x/nothing", false, nil, nil, http.StatusNotFound, "not_found"},
			{"a method the path does not have", http.MethodPut, "/applications/x", false, nil, nil, http.StatusMethodNotAllowed, "method_not_allowed"},
			{"OPTIONS", http.MethodOptions, "/applications/x", false, nil, nil, http.StatusNoContent, ""},
			// The router's answers do not depend on a token: no operation, nothing to authorize.
			{"a path the API does not have, without a token", http.MethodGet, "/applications/x/nothing", true, nil, nil, http.StatusNotFound, "not_found"},
			{"a method the path does not have, without a token", http.MethodPut, "/applications", true, nil, nil, http.StatusMethodNotAllowed, "method_not_allowed"},
			{"an operation without a token", http.MethodGet, "/applications", true, nil, nil, http.StatusUnauthorized, "invalid_token"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				req, err := http.NewRequest(tc.method, e.URL+tc.path, bytes.NewReader(tc.body))
				if err != nil {
					t.Fatal(err)
				}
				for k, v := range tc.header {
					req.Header[k] = v
				}
				if !tc.anonymous {
					req.Header.Set("Authorization", "Bearer "+tok)
				}
				if tc.body != nil {
					req.Header.Set("Content-Type", "application/json")
				}
				resp, err := (&http.Client{Transport: &validatingTransport{env: e}}).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				if resp.StatusCode != tc.status {
					t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
				}
				if tc.status == http.StatusMethodNotAllowed || tc.method == http.MethodOptions {
					if resp.Header.Get("Allow") == "" {
						t.Errorf("no Allow header")
					}
				}
				if tc.code != "" {
					var body struct {
						Error  string `json:"error"`
						Status int    `json:"status"`
					}
					if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Error != tc.code || body.Status != tc.status {
						t.Errorf("body %+v (%v), want error %q status %d", body, err, tc.code, tc.status)
					}
				}
			})
		}
	})
}
