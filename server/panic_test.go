package server_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cxone/appreg/server"
	"github.com/cxone/appreg/store"
)

// panickingStore is a store whose reads of one application panic, as a bug would.
type panickingStore struct{ server.Store }

func (panickingStore) GetApplication(context.Context, string, string, time.Time) (*store.Application, error) {
	panic("a bug in the data layer")
}

// TestPanicIsAnswered: a panic in a handler is answered 500 in the contract's shape, with the
// request's id and the security headers, its stack is logged, and the service goes on.
func TestPanicIsAnswered(t *testing.T) {
	var logs syncBuffer
	e := newEnvWith(t, "sqlite", func(cfg *server.Config) {
		cfg.Store = panickingStore{cfg.Store}
		cfg.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	})
	token := e.token("acme", "alice@acme")
	resp, body := e.do(http.MethodGet, "/applications/any-id", token, "", nil)
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500: %s", resp.StatusCode, body)
	}
	var problem struct {
		Error     string `json:"error"`
		Detail    string `json:"detail"`
		RequestID string `json:"requestId"`
	}
	if err := json.Unmarshal(body, &problem); err != nil || problem.Error != "server_error" {
		t.Fatalf("body %s (%v), want error server_error", body, err)
	}
	if strings.Contains(problem.Detail, "bug") {
		t.Errorf("the answer tells the panic: %s", body)
	}
	if id := resp.Header.Get("X-Request-Id"); id == "" || id != problem.RequestID {
		t.Errorf("X-Request-Id %q, body's requestId %q", id, problem.RequestID)
	}
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("the security headers are missing: %v", resp.Header)
	}
	if l := logs.String(); !strings.Contains(l, "a bug in the data layer") || !strings.Contains(l, "goroutine") || !strings.Contains(l, problem.RequestID) {
		t.Errorf("the log does not hold the panic, its stack and the request id:\n%s", l)
	}
	if resp, body := e.do(http.MethodGet, "/applications", token, "", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("after the panic, the listing answered %d: %s", resp.StatusCode, body)
	}
}
