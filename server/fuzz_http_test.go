package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// serve sends a JSON request to the server in process (fast enough to fuzz).
func (e *testEnv) serve(method, path, token string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	return rec
}

// fuzzAnswerIsSafe fails on a 5xx, or a 4xx outside the error shape.
func fuzzAnswerIsSafe(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	body := rec.Body.Bytes()
	resp := rec.Result()
	if resp.StatusCode >= 500 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if resp.StatusCode >= 400 {
		var e struct {
			Error  string `json:"error"`
			Status int    `json:"status"`
		}
		if err := json.Unmarshal(body, &e); err != nil || e.Error == "" || e.Status != resp.StatusCode {
			t.Fatalf("%d answer outside the error shape: %s", resp.StatusCode, body)
		}
	}
}

// FuzzHTTPCreateBody sends arbitrary bytes as the body of createApplication
// through the whole stack: never a 5xx or a panic, errors in the shape.
func FuzzHTTPCreateBody(f *testing.F) {
	for _, seed := range []string{
		`{"name":"A","contacts":["a@example.com"],"type":"confidential","redirects":["https://a.example.com/cb"]}`,
		`{"name":"A","contacts":["a@example.com"],"type":"public","redirects":["com.example.app:/cb"]}`,
		`{"name":"A","contacts":["a@example.com"],"type":"backend","origins":["https://a.example.com"]}`,
		`{"name":"\u202e","contacts":[],"type":"x"}`, `[]`, `null`, `{"name":1}`, `{"a":`, "\x00",
		`{"name":"A","name":"B","contacts":["a@example.com"],"type":"backend"}`,
	} {
		f.Add([]byte(seed))
	}
	e := newEnv(f, "sqlite")
	tok := e.token("acme", "fuzzer")
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzAnswerIsSafe(t, e.serve(http.MethodPost, "/applications", tok, body))
	})
}

// FuzzHTTPPatchBody does the same for patchApplication.
func FuzzHTTPPatchBody(f *testing.F) {
	for _, seed := range []string{
		`{"name":"B"}`, `{"redirects":["https://b.example.com/cb#x"]}`, `{"type":"public"}`,
		`{"createdTime":"2026-01-01T00:00:00Z"}`, `{"origins":["https://B.example.com:443/"]}`, `{}`, `"x"`,
	} {
		f.Add([]byte(seed))
	}
	e := newEnv(f, "sqlite")
	app := e.created("acme", confidentialBody())
	tok := e.token("acme", "fuzzer")
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzAnswerIsSafe(t, e.serve(http.MethodPatch, "/applications/"+app.ID, tok, body))
	})
}
