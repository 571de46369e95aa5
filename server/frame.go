package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/cxone/appreg/server/auth"
)

// requestTimeout bounds the work of one request once it no longer depends on its client
// (see frame).
const requestTimeout = 30 * time.Second

// requestState is what the middleware learns of a request (its id, its own context and, once
// authenticate has verified the token, its caller) and the context its handler runs in: the
// request's own context without its cancellation (context.WithoutCancel), bounded by
// requestTimeout instead.
//
// The bound's timer is made only when someone asks for Done or Err: the database driver, a
// wait for a poll. A lookup answered from memory asks neither, and made a timer and a
// cancellable context for nothing (context.WithTimeout and the timer's heap were 3% of its
// CPU). Once Done is asked, it is a context.WithDeadline on the same deadline, whose Value also
// answers, so that the contexts derived from it join its cancellation as they would any
// context's (context's own parentCancelCtx). After the request, a context asked for is
// cancelled, and one asked for later is born cancelled, as a context.WithTimeout cancelled by
// the frame would be.
type requestState struct {
	context.Context // context.WithoutCancel(client)
	id              string
	// client is the request's own context, the one that ends when the client goes away.
	client    context.Context
	principal auth.Principal
	signedIn  bool

	deadline time.Time
	timed    atomic.Pointer[timedContext] // nil until Done or Err needs it
	mu       sync.Mutex                   // makes timed, and ends the request
	ended    atomic.Bool
}

type timedContext struct {
	context.Context
	cancel context.CancelFunc
}

type stateKey struct{}

// stateOf is the state frame keeps in ctx, or nil outside a request.
func stateOf(ctx context.Context) *requestState {
	st, _ := ctx.Value(stateKey{}).(*requestState)
	return st
}

func (st *requestState) Deadline() (time.Time, bool) { return st.deadline, true }

func (st *requestState) Done() <-chan struct{} { return st.arm().Done() }

// Err needs no timer before the deadline or the end of the request: nothing else ends the
// context.
func (st *requestState) Err() error {
	if t := st.timed.Load(); t != nil {
		return t.Err()
	}
	if !st.ended.Load() && time.Now().Before(st.deadline) {
		return nil
	}
	return st.arm().Err()
}

func (st *requestState) Value(key any) any {
	if key == (stateKey{}) {
		return st
	}
	if t := st.timed.Load(); t != nil {
		return t.Value(key)
	}
	return st.Context.Value(key)
}

// arm returns the context.WithDeadline behind Done and Err, made on first use.
func (st *requestState) arm() *timedContext {
	if t := st.timed.Load(); t != nil {
		return t
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if t := st.timed.Load(); t != nil {
		return t
	}
	ctx, cancel := context.WithDeadline(st.Context, st.deadline)
	if st.ended.Load() {
		cancel()
	}
	t := &timedContext{Context: ctx, cancel: cancel}
	st.timed.Store(t)
	return t
}

// end cancels the request's context, as the end of the request does.
func (st *requestState) end() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.ended.Store(true)
	if t := st.timed.Load(); t != nil {
		t.cancel()
	}
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
//     The context is the requestState itself (no context.WithValue), and its timer is made
//     only when something waits on it (see requestState).
//   - A panic is answered 500 and logged (recovering), the service goes on.
//   - Its metrics, by echo route (never the raw URL, whose ids would make the series
//     unbounded), and one structured log line (logRequest).
func (s *Server) frame(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		r := c.Request()
		st := &requestState{
			Context:  context.WithoutCancel(r.Context()),
			id:       s.requestID(r),
			client:   r.Context(),
			deadline: start.Add(requestTimeout),
		}
		frameHeaders(c.Response().Header(), st.id)

		defer st.end()
		c.SetRequest(r.WithContext(st))
		if err := recovering(c, next); err != nil {
			c.Error(err)
		}
		took := time.Since(start)
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		status := c.Response().Status
		s.metrics.record(route, r.Method, status, took)
		var who *auth.Principal
		if st.signedIn {
			who = &st.principal
		}
		s.logRequest(c.Request(), status, st.id, who, took)
		return nil
	}
}

// requestID is the id of request r: the caller's X-Request-Id when it is a plain token, or a
// new one.
func (s *Server) requestID(r *http.Request) string {
	if id := r.Header.Get(echo.HeaderXRequestID); validRequestID(id) {
		return id
	}
	return s.requestIDs.next()
}

// frameHeaders sets the headers every answer carries: its request id, and the security
// headers.
func frameHeaders(h http.Header, id string) {
	h[echo.HeaderXRequestID] = []string{id}
	h["X-Content-Type-Options"] = headerNosniff
	h["Cache-Control"] = headerNoStore
	h["X-Frame-Options"] = headerDeny
	h["Referrer-Policy"] = headerNoRefer
}

// recovering runs next, and turns a panic in it into an error, answered 500 and logged with
// the panicking goroutine's stack by handleError, as echo's Recover middleware does;
// http.ErrAbortHandler goes on up to net/http, which closes the connection without a word.
func recovering(c echo.Context, next echo.HandlerFunc) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				panic(r)
			}
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	return next(c)
}

// logRequest writes one structured line per request (id, answered status, and who, when the
// caller was authenticated). It never logs headers or bodies: they carry tokens and secrets.
func (s *Server) logRequest(r *http.Request, status int, id string, who *auth.Principal, took time.Duration) {
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
	// The record as Logger.LogAttrs makes it, without the caller's pc: its source would always
	// be this function, and runtime.Callers was a fifth of the line's cost.
	line := slog.NewRecord(time.Now(), level, "request", 0)
	line.AddAttrs(
		slog.String("request_id", id),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", status),
		slog.Duration("duration", took),
	)
	if who != nil {
		line.AddAttrs(slog.String("tenant_id", who.TenantID), slog.String("sub", who.Subject))
	}
	_ = s.log.Handler().Handle(ctx, line) // a log line that cannot be written is not the caller's error
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
