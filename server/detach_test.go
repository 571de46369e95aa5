package server

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
)

// TestDetachFromClient (frame) pins what handlers see when their client hangs up: a context that
// is not cancelled (its database work finishes, and the driver keeps its connection), with
// a deadline, while clientGone still tells that the client went away (answered as 499).
func TestDetachFromClient(t *testing.T) {
	e := echo.New()
	clientCtx, hangUp := context.WithCancel(context.Background())
	req := httptest.NewRequest(http.MethodGet, "/applications", nil).WithContext(clientCtx)
	c := e.NewContext(req, httptest.NewRecorder())

	var seen context.Context
	s := &Server{metrics: mustMetrics(t), log: slog.New(slog.DiscardHandler), requestIDs: newRequestIDs()}
	err := s.frame(func(c echo.Context) error {
		hangUp()
		seen = c.Request().Context()
		if err := seen.Err(); err != nil {
			t.Errorf("the handler's context ended with its client: %v", err)
		}
		if _, ok := seen.Deadline(); !ok {
			t.Error("the handler's context has no deadline")
		}
		if !clientGone(c) {
			t.Error("clientGone = false after the client hung up")
		}
		return nil
	})(c)
	if err != nil {
		t.Fatal(err)
	}
	if seen.Err() == nil {
		t.Error("the handler's context outlives the request")
	}
}

func mustMetrics(t *testing.T) *Metrics {
	t.Helper()
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestRequestIDs: ids made for requests that come without one are distinct, plain tokens
// (validRequestID), and two servers' differ.
func TestRequestIDs(t *testing.T) {
	a, b := newRequestIDs(), newRequestIDs()
	seen := map[string]bool{}
	for range 1000 {
		for _, id := range []string{a.next(), b.next()} {
			if !validRequestID(id) || seen[id] {
				t.Fatalf("id %q: valid %v, seen before %v", id, validRequestID(id), seen[id])
			}
			seen[id] = true
		}
	}
}
