package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/cxone/appreg/server/auth"
)

// requestTimeout bounds the work of one request once it no longer depends on its client
// (see frame).
const requestTimeout = 30 * time.Second

// requestState is what the middleware learns of a request, kept once in its context: its
// id, its own context and, once authenticate has verified the token, its caller.
type requestState struct {
	id string
	// client is the request's own context, the one that ends when the client goes away.
	client    context.Context
	principal auth.Principal
	signedIn  bool
}

type stateKey struct{}

// stateOf is the state frame keeps in ctx, or nil outside a request.
func stateOf(ctx context.Context) *requestState {
	st, _ := ctx.Value(stateKey{}).(*requestState)
	return st
}

// The security headers' values, shared by every answer: a header map keeps the slice it is
// given, and nothing writes into one (Set and Add replace or grow it), so no request needs
// its own copy.
var (
	headerNosniff  = []string{"nosniff"}
	headerNoStore  = []string{"no-store"}
	headerDeny     = []string{"DENY"}
	headerNoRefer  = []string{"no-referrer"}
	headerJSONType = []string{"application/json"}
)

// frame is the outermost middleware: what every request gets, whatever it asks, in one place
// and one pass (one clock read at each end, one context, no map of its own).
//
//   - Its id: the caller's X-Request-Id when it is a plain token, or a new one; echoed back,
//     and in the logs and error bodies.
//   - The security headers: no answer may be cached or sniffed (they carry credentials
//     metadata and, once, a secret).
//   - A context that a client hanging up does not cancel, bounded by requestTimeout instead.
//     Every operation is a few milliseconds of database work: cancelling it mid-query saves
//     nothing, but makes the driver close its connection, and under many hang-ups at once
//     (a load balancer draining, a gateway's retry storm) the pool handed such connections
//     to healthy requests, which then failed with "bad connection" or an i/o timeout.
//     handleError still tells a client that went away (499) by the request's own context.
//   - Its metrics, by echo route (never the raw URL, whose ids would make the series
//     unbounded), and one structured log line (logRequest).
func (s *Server) frame(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		r := c.Request()
		st := &requestState{id: r.Header.Get(echo.HeaderXRequestID), client: r.Context()}
		if !validRequestID(st.id) {
			st.id = s.requestIDs.next()
		}
		h := c.Response().Header()
		h[echo.HeaderXRequestID] = []string{st.id}
		h["X-Content-Type-Options"] = headerNosniff
		h["Cache-Control"] = headerNoStore
		h["X-Frame-Options"] = headerDeny
		h["Referrer-Policy"] = headerNoRefer

		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), requestTimeout)
		defer cancel()
		c.SetRequest(r.WithContext(context.WithValue(ctx, stateKey{}, st)))
		if err := next(c); err != nil {
			c.Error(err)
		}
		took := time.Since(start)
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		s.metrics.record(route, r.Method, c.Response().Status, took)
		s.logRequest(c, st, took)
		return nil
	}
}

// logRequest writes one structured line per request. It never logs headers or bodies:
// they carry tokens and secrets.
func (s *Server) logRequest(c echo.Context, st *requestState, took time.Duration) {
	r := c.Request()
	status := c.Response().Status
	level := slog.LevelInfo
	switch {
	case status == http.StatusServiceUnavailable:
		level = slog.LevelWarn // see logFailure
	case status >= 500:
		level = slog.LevelError
	case (status < 400 || status == http.StatusNotFound) && strings.HasPrefix(r.URL.Path, "/internal/"):
		// The lookup path answers thousands of calls a second: its successes and its 404s
		// (an unknown client id: anyone on the internet can send one to the token
		// endpoint, thousands a second) are logged at debug level, its failures as usual.
		level = slog.LevelDebug
	}
	ctx := r.Context()
	if !s.log.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("request_id", st.id),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", status),
		slog.Duration("duration", took),
	}
	if st.signedIn {
		attrs = append(attrs, slog.String("tenant_id", st.principal.TenantID), slog.String("sub", st.principal.Subject))
	}
	s.log.LogAttrs(ctx, level, "request", attrs...)
}

// clientGone reports whether the client of c's request went away.
func clientGone(c echo.Context) bool {
	ctx := c.Request().Context()
	if st := stateOf(ctx); st != nil {
		ctx = st.client
	}
	return errors.Is(ctx.Err(), context.Canceled)
}

func requestIDOf(c echo.Context) string {
	if st := stateOf(c.Request().Context()); st != nil {
		return st.id
	}
	return ""
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// requestIDs makes the ids of requests that come without one: this process's random prefix
// and a counter, as chi's RequestID middleware does. They are unique across replicas and
// restarts without a random read per request (uuid.NewString was 3% of a lookup's CPU); a
// request id is a correlation handle, not a secret.
type requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24)
	return &requestIDs{prefix: hex.EncodeToString(b[:]) + "-"}
}

func (g *requestIDs) next() string {
	var buf [64]byte
	return string(strconv.AppendUint(append(buf[:0], g.prefix...), g.n.Add(1), 10))
}
