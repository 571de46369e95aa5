package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"
	echomw "github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/cxone/appreg/gen"
	"github.com/cxone/appreg/server/auth"
	"github.com/cxone/appreg/server/lookup"
	"github.com/cxone/appreg/store"
)

// Store is what the handlers need of the data layer.
type Store interface {
	GetApplication(ctx context.Context, tenantID, id string, now time.Time) (*store.Application, error)
	ListApplications(ctx context.Context, q store.ListQuery) ([]store.Application, bool, error)
	ListApplicationStates(ctx context.Context, q store.ListQuery) ([]store.Listed, bool, error)
	ApplicationsByID(ctx context.Context, tenantID string, ids []string, now time.Time) ([]store.Application, error)
	CreateApplicationIdempotent(ctx context.Context, app *store.Application, secrets []store.Secret, rec *store.IdempotencyRecord) error
	UpdateApplicationIdempotent(ctx context.Context, tenantID, id string, now time.Time, rec func(*store.Application) *store.IdempotencyRecord, fn func(*store.Application) error) (*store.Application, error)
	GetIdempotency(ctx context.Context, tenantID, operation, key string, notBefore time.Time) (*store.IdempotencyRecord, error)
	ListSecrets(ctx context.Context, applicationID string) ([]store.Secret, error)
	ListEvents(ctx context.Context, tenantID, applicationID string, after *store.EventCursor, limit int) ([]store.Event, bool, error)
}

// Authenticator turns a bearer token into the caller's identity. A refused
// token is an *auth.TokenError.
type Authenticator interface {
	Verify(ctx context.Context, token string) (auth.Principal, error)
}

// Config is what New needs. Store and Auth are required.
type Config struct {
	Store Store
	Auth  Authenticator
	// Lookup is the lookup path's cache; required.
	Lookup LookupCache
	// SlowHashes bounds the checks of imported secrets on the lookup path.
	// Default: lookup.NewSlowHashes with its defaults.
	SlowHashes *lookup.SlowHashes
	// ListCacheSize is the memory, in bytes, for the encoded applications listings answer
	// with. Default lookup.DefaultAnswersSize.
	ListCacheSize int64
	// CORSMaxAge is how long the gateway may keep a CORS answer. Default 1s,
	// so that a change reaches browsers as fast as it reaches replicas.
	CORSMaxAge time.Duration
	// DeletionGrace is how long a deleted application can still be restored
	// with -enable. Default 168h.
	DeletionGrace time.Duration
	// BodyLimit caps request bodies, in bytes. Default 1 MiB.
	BodyLimit int64
	// RateLimit is the management API's requests per second per tenant;
	// 0 turns it off.
	RateLimit float64
	// AnonymousRegistrationRate and AnonymousRegistrationRatePerAddress limit anonymous
	// dynamic registrations per tenant and per source address, a second (bursts of 10 and
	// 5). Default 1 and 0.1; negative turns the limit off.
	AnonymousRegistrationRate           float64
	AnonymousRegistrationRatePerAddress float64
	// Now is the clock; tests inject theirs. Default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// Ready reports whether the service can serve (database reachable,
	// migrations applied); GET /readyz answers with it. Nil means always ready.
	Ready func(context.Context) error
	// Metrics are the process's collectors, which GET /metrics serves; New
	// adds the server's own (caches, database pool) to its registry. Default:
	// NewMetrics on a registry of the server's own.
	Metrics *Metrics
	// Console is the web console and how it signs people in; without Files,
	// /console is not served.
	Console ConsoleConfig
}

// Server implements gen.StrictServerInterface.
type Server struct {
	store  Store
	auth   Authenticator
	lookup LookupCache
	lists  lister
	slow   *lookup.SlowHashes
	// corsCacheControl is the CORS answer's Cache-Control (Config.CORSMaxAge), made once.
	corsCacheControl []string
	grace            time.Duration
	bodyLimit        int64
	clock            func() time.Time
	log              *slog.Logger
	ready            func(context.Context) error
	limiter          *tenantLimiter
	reg              RegistrationStore // nil: registration answers 500
	regLimiter       *registrationLimiter
	metrics          *Metrics
	ops              operations
	console          *consoleSite
	handler          http.Handler // the hot path, then echo behind rewriteSuffixPaths
	hot              *hotPath     // nil when the hot path is off (see newHotPath)
	requestIDs       *requestIDs
	validator        *validator
	// unavailableLog and unavailableSkipped sample the log of 503s (logFailure).
	unavailableLog     rate.Sometimes
	unavailableSkipped atomic.Int64
}

var _ gen.StrictServerInterface = (*Server)(nil)

// New builds the server and its HTTP stack.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Auth == nil || cfg.Lookup == nil {
		return nil, errors.New("server: Store, Auth and Lookup are required")
	}
	s := &Server{
		store:      cfg.Store,
		auth:       cfg.Auth,
		lookup:     cfg.Lookup,
		slow:       cfg.SlowHashes,
		grace:      cfg.DeletionGrace,
		bodyLimit:  cfg.BodyLimit,
		clock:      cfg.Now,
		log:        cfg.Logger,
		ready:      cfg.Ready,
		limiter:    newTenantLimiter(cfg.RateLimit),
		metrics:    cfg.Metrics,
		requestIDs: newRequestIDs(),
	}
	s.unavailableLog.Interval = time.Second
	s.reg, _ = cfg.Store.(RegistrationStore)
	perTenant, perAddress := cfg.AnonymousRegistrationRate, cfg.AnonymousRegistrationRatePerAddress
	if perTenant == 0 {
		perTenant = 1
	}
	if perAddress == 0 {
		perAddress = 0.1
	}
	s.regLimiter = newRegistrationLimiter(perTenant, perAddress)
	if s.grace <= 0 {
		s.grace = 168 * time.Hour
	}
	corsMaxAge := cfg.CORSMaxAge
	if corsMaxAge <= 0 {
		corsMaxAge = time.Second
	}
	s.corsCacheControl = []string{"max-age=" + strconv.Itoa(int(corsMaxAge/time.Second))}
	if s.bodyLimit <= 0 {
		s.bodyLimit = 1 << 20
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	s.lists = newListCache(cfg.Store, cfg.ListCacheSize)
	if s.slow == nil {
		s.slow = lookup.NewSlowHashes(lookup.SlowHashConfig{})
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.metrics == nil {
		m, err := NewMetrics(prometheus.NewRegistry())
		if err != nil {
			return nil, err
		}
		s.metrics = m
	}
	if err := s.metrics.registerServer(s); err != nil {
		return nil, err
	}
	site, err := newConsoleSite(cfg.Console)
	if err != nil {
		return nil, err
	}
	s.console = site
	e, err := s.newEcho()
	if err != nil {
		return nil, err
	}
	s.handler = s.newHotPath(rewriteSuffixPaths(e))
	return s, nil
}

// Handler is the whole HTTP stack.
func (s *Server) Handler() http.Handler { return s.handler }

// now is the server's clock in UTC, truncated to what PostgreSQL keeps, so a
// time answered at write time equals the one read back later.
func (s *Server) now() time.Time { return s.clock().UTC().Truncate(time.Microsecond) }

// Spec returns the embedded OpenAPI document, without servers so that
// validation does not depend on the host a request was sent to.
func Spec() (*openapi3.T, error) {
	spec, err := gen.GetSpec()
	if err != nil {
		return nil, fmt.Errorf("load embedded spec: %w", err)
	}
	spec.Servers = nil
	return spec, nil
}

func (s *Server) newEcho() (*echo.Echo, error) {
	spec, err := Spec()
	if err != nil {
		return nil, err
	}
	if err := s.ops.loadServedSpec(spec); err != nil {
		return nil, err
	}
	s.validator = newValidator(spec)
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = s.handleError

	// frame recovers panics itself (echo's Recover middleware would cost every request a
	// closure: echo composes its Use middleware again on each).
	e.Use(s.frame)
	e.Use(echomw.BodyLimit(fmt.Sprint(s.bodyLimit) + "B"))

	routes := &publishedRoutes{e: e, s: s}
	gen.RegisterHandlers(routes, gen.NewStrictHandler(s, nil))
	if routes.err != nil {
		return nil, routes.err
	}
	s.registerOps(e)
	s.registerConsole(e)
	return e, nil
}

// isAPIPath reports whether a path belongs to the authenticated,
// spec-validated API (the rest is health, metrics and documentation).
func isAPIPath(path string) bool {
	return path == "/applications" || strings.HasPrefix(path, "/applications/") || path == "/me" ||
		strings.HasPrefix(path, "/admin/") || strings.HasPrefix(path, "/internal/") ||
		path == "/registration-policy" || path == "/registration-tokens" || strings.HasPrefix(path, "/registration-tokens/")
}

// rewriteSuffixPaths turns the published suffix form
// POST /applications/{id}-enable (and -disable) into the alias
// /applications/{id}/enable before echo routes it (a handler in front of echo rather than
// echo's Pre middleware, which costs every request a closure). Echo cannot route a parameter
// followed by a literal in one segment, and kin-openapi's router would rank
// the suffix route ahead of plain ids; with one form both see the same path.
// The id keeps any inner hyphens: a-b-c-enable is id a-b-c.
func rewriteSuffixPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			if rest, ok := strings.CutPrefix(r.URL.Path, "/applications/"); ok && !strings.Contains(rest, "/") {
				for _, action := range [...]string{"enable", "disable"} {
					if id, ok := strings.CutSuffix(rest, "-"+action); ok && id != "" {
						r.URL.Path = "/applications/" + id + "/" + action
						r.URL.RawPath = ""
						break
					}
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// publishedRoutes registers the generated routes on echo, each behind its operation's
// middleware (Server.operation), except the suffix forms, which rewriteSuffixPaths maps onto
// the alias routes, and the console's, which serveConsole answers at any depth.
type publishedRoutes struct {
	e   *echo.Echo
	s   *Server
	err error // a generated route that is no operation of the spec
}

func (r *publishedRoutes) add(method, path string, h echo.HandlerFunc, m []echo.MiddlewareFunc) *echo.Route {
	switch {
	case method == http.MethodGet && isConsoleRoute(path),
		method == http.MethodPost && (strings.HasSuffix(path, "-enable") || strings.HasSuffix(path, "-disable")):
		return nil
	}
	op, ok := r.s.validator.routes[routeKey{method, path}]
	if !ok {
		r.err = errors.Join(r.err, fmt.Errorf("server: the generated route %s %s is no operation of the spec", method, path))
		return nil
	}
	return r.e.Add(method, path, r.s.operation(path, op, h), m...)
}

func (r *publishedRoutes) CONNECT(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodConnect, path, h, m)
}

func (r *publishedRoutes) DELETE(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodDelete, path, h, m)
}

func (r *publishedRoutes) GET(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodGet, path, h, m)
}

func (r *publishedRoutes) HEAD(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodHead, path, h, m)
}

func (r *publishedRoutes) OPTIONS(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodOptions, path, h, m)
}

func (r *publishedRoutes) PATCH(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodPatch, path, h, m)
}

func (r *publishedRoutes) POST(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodPost, path, h, m)
}

func (r *publishedRoutes) PUT(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodPut, path, h, m)
}

func (r *publishedRoutes) TRACE(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodTrace, path, h, m)
}

// operation is what the operation at route path runs, composed once at start (echo's Use
// middleware is composed again on every request), each step only where its path needs it:
// the bearer token (the authenticated API), the registration request's credentials
// (registration), the tenant's rate limit (the management API, when one is set),
// validation against the operation, then the handler. What every request gets, operation or
// not (a 404, a 405), is in frame and the Use middleware of newEcho.
func (s *Server) operation(path string, op *validatedRoute, h echo.HandlerFunc) echo.HandlerFunc {
	h = s.validator.check(op, h)
	if s.limiter != nil && !strings.HasPrefix(path, "/internal/") {
		h = s.limitTenants(h)
	}
	if isRegistrationPath(path) {
		h = registrationRequest(h)
	}
	if isAPIPath(path) {
		h = s.authenticate(h)
	}
	return h
}
