package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

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

// TestUnavailableFailuresAreSampled: a 500's reason is logged each time at error level; a
// 503's at warn level, at most once a second, with how many were left out.
func TestUnavailableFailuresAreSampled(t *testing.T) {
	var buf bytes.Buffer
	s := &Server{log: slog.New(slog.NewJSONHandler(&buf, nil)), requestIDs: newRequestIDs()}
	s.unavailableLog.Interval = time.Second
	c := echo.New().NewContext(httptest.NewRequest(http.MethodGet, "/applications", nil), httptest.NewRecorder())
	lines := func() []map[string]any {
		var out []map[string]any
		for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			var m map[string]any
			if l != "" && json.Unmarshal([]byte(l), &m) == nil {
				out = append(out, m)
			}
		}
		buf.Reset()
		return out
	}
	for range 3 {
		s.logFailure(c, http.StatusInternalServerError, errors.New("boom"))
	}
	if l := lines(); len(l) != 3 || l[0]["level"] != "ERROR" {
		t.Fatalf("500s: %v, want 3 lines at ERROR", l)
	}
	for range 100 {
		s.logFailure(c, http.StatusServiceUnavailable, errors.New("database away"))
	}
	if l := lines(); len(l) != 1 || l[0]["level"] != "WARN" || l[0]["similar_not_logged"] != float64(0) {
		t.Fatalf("100 503s in a burst: %v, want one WARN line", l)
	}
	time.Sleep(1100 * time.Millisecond)
	s.logFailure(c, http.StatusServiceUnavailable, errors.New("database away"))
	if l := lines(); len(l) != 1 || l[0]["similar_not_logged"] != float64(99) {
		t.Fatalf("the next 503 a second later: %v, want one line counting the 99 left out", l)
	}
}

// TestRequestLogLevels: one line per request, at the level its path and status call for
// (README: what is sampled or lowered, and only that).
func TestRequestLogLevels(t *testing.T) {
	for _, tc := range []struct {
		path   string
		status int
		level  string
	}{
		{"/internal/clients/x", http.StatusOK, "DEBUG"},
		{"/internal/clients/x", http.StatusNotFound, "DEBUG"},
		{"/internal/clients/x", http.StatusUnauthorized, "INFO"},
		{"/internal/clients/x", http.StatusBadRequest, "INFO"},
		{"/internal/clients/x", http.StatusServiceUnavailable, "WARN"},
		{"/internal/clients/x", http.StatusInternalServerError, "ERROR"},
		{"/applications/x", http.StatusOK, "INFO"},
		{"/applications/x", http.StatusNotFound, "INFO"},
		{"/applications", http.StatusServiceUnavailable, "WARN"},
		{"/applications", http.StatusInternalServerError, "ERROR"},
	} {
		var buf bytes.Buffer
		s := &Server{log: slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
		s.logRequest(httptest.NewRequest(http.MethodGet, tc.path, nil), tc.status, "r1", nil, time.Millisecond)
		var line map[string]any
		if err := json.Unmarshal(buf.Bytes(), &line); err != nil || line["level"] != tc.level || line["status"] != float64(tc.status) {
			t.Errorf("%s %d: %s, want one line at %s", tc.path, tc.status, buf.String(), tc.level)
		}
	}
}

// TestRequestContext pins the request's context (requestState): a deadline of requestTimeout
// and no cancellation before anything waits on it; the timed context made on first Done,
// joined by the contexts derived from it and cancelled with them at the end of the request;
// born cancelled when first asked after it; the deadline's own expiry; the values of the
// request's context and of the state; nothing of its client's cancellation.
func TestRequestContext(t *testing.T) {
	type key struct{}
	newState := func(deadline time.Time) (*requestState, context.CancelFunc) {
		client, hangUp := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
		return &requestState{Context: context.WithoutCancel(client), client: client, deadline: deadline}, hangUp
	}
	t.Run("nothing made before it is waited on", func(t *testing.T) {
		deadline := time.Now().Add(requestTimeout)
		st, hangUp := newState(deadline)
		hangUp()
		if d, ok := st.Deadline(); !ok || !d.Equal(deadline) {
			t.Errorf("Deadline = %v, %v; want %v", d, ok, deadline)
		}
		if err := st.Err(); err != nil {
			t.Errorf("Err = %v after the client hung up", err)
		}
		if st.Value(key{}) != "v" || stateOf(st) != st {
			t.Errorf("values: %v, %p; want v, %p", st.Value(key{}), stateOf(st), st)
		}
		if st.timed.Load() != nil {
			t.Error("a timed context was made without anyone waiting on one")
		}
		st.end()
		if err := st.Err(); !errors.Is(err, context.Canceled) {
			t.Errorf("Err after the request = %v, want Canceled", err)
		}
	})
	t.Run("derived contexts end with the request", func(t *testing.T) {
		st, _ := newState(time.Now().Add(requestTimeout))
		child, cancel := context.WithTimeout(st, time.Hour) // as the store bounds an operation
		defer cancel()
		if d, _ := child.Deadline(); !d.Equal(st.deadline) {
			t.Errorf("the child's deadline %v, want the request's %v", d, st.deadline)
		}
		if st.timed.Load() == nil {
			t.Fatal("deriving a cancellable context did not make the timed one")
		}
		if child.Value(key{}) != "v" || stateOf(child) != st {
			t.Error("the child does not see the request's values")
		}
		select {
		case <-child.Done():
			t.Fatal("the child ended before the request")
		default:
		}
		st.end()
		select {
		case <-child.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("the child outlived the request")
		}
		if err := context.Cause(child); !errors.Is(err, context.Canceled) {
			t.Errorf("the child's cause %v, want Canceled", err)
		}
	})
	t.Run("asked after the request", func(t *testing.T) {
		st, _ := newState(time.Now().Add(requestTimeout))
		st.end()
		select {
		case <-st.Done():
		default:
			t.Fatal("Done asked after the request is not closed")
		}
	})
	t.Run("past its deadline", func(t *testing.T) {
		st, _ := newState(time.Now().Add(-time.Millisecond))
		if err := st.Err(); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Err = %v, want DeadlineExceeded", err)
		}
		select {
		case <-st.Done():
		default:
			t.Fatal("Done is not closed past the deadline")
		}
	})
	t.Run("many waiters share one timed context", func(t *testing.T) {
		st, _ := newState(time.Now().Add(requestTimeout))
		var wg sync.WaitGroup
		dones := make([]<-chan struct{}, 8)
		for i := range dones {
			wg.Add(1)
			go func() { defer wg.Done(); dones[i] = st.Done() }()
		}
		wg.Wait()
		for _, d := range dones[1:] {
			if d != dones[0] {
				t.Fatal("two waiters got different Done channels")
			}
		}
		st.end()
		<-dones[0]
	})
}
