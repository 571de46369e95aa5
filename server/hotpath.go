package server

import (
	"fmt"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cxone/appreg/server/auth"
)

// The lookup path's two reads, by echo route (the route label of their metrics).
const (
	lookupRoute = "/internal/clients/:clientId"
	corsRoute   = "/internal/cors"
)

// verifiedTokens is an Authenticator that can tell, without new work, the caller of a token
// it has already verified (auth.Verifier.Verified).
type verifiedTokens interface {
	Verified(token string) (auth.Principal, bool)
}

// hotPath answers the lookup path's two reads, a client's policy and a CORS check, in front
// of echo, when everything the answer needs is already in memory: the bearer token verified
// before (and not expired), the parameters certainly valid (the validator's own shortcut,
// validatedRoute.fastParamsOK), the client or origin in the lookup cache and the cache fresh.
// Any other request, and any request of another route, goes on to echo unchanged, where the
// same checks decide it and word any error: the hot path answers only what the full path
// would answer 200, with the same functions (the handler's policyAnswer and corsAnswer, the
// frame's request id, headers, metrics and log line), byte for byte
// (TestHotPathAnswersAsEcho). Why it exists: see "The hot path" in doc.go.
type hotPath struct {
	s            *Server
	tokens       verifiedTokens
	lookup, cors *validatedRoute
	next         http.Handler
	// answered counts the hot answers, by kind: the client lookups and the CORS checks
	// (appreg_lookup_hot_answers_total).
	clients, origins atomic.Int64
}

// newHotPath puts the hot path in front of next, or returns next when the hot path cannot
// decide as the full path would: an Authenticator that cannot tell a verified token from
// memory, or a read whose parameters the validator's shortcut does not check.
func (s *Server) newHotPath(next http.Handler) http.Handler {
	tokens, _ := s.auth.(verifiedTokens)
	h := &hotPath{
		s: s, tokens: tokens, next: next,
		lookup: s.validator.routes[routeKey{http.MethodGet, lookupRoute}],
		cors:   s.validator.routes[routeKey{http.MethodGet, corsRoute}],
	}
	if tokens == nil || !h.lookup.hotParams() || !h.cors.hotParams() {
		return next
	}
	s.hot = h
	return h
}

// hotParams reports whether the hot path can check r's parameters: all of them plain (the
// shortcut's), at most one in the path, and no body.
func (r *validatedRoute) hotParams() bool {
	if r == nil || r.fast == nil || r.kin.Operation.RequestBody != nil {
		return false
	}
	inPath := 0
	for i := range r.fast {
		if r.fast[i].inPath {
			inPath++
		}
	}
	return inPath <= 1
}

func (h *hotPath) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// A GET of one of the two reads, without a body, its path as sent (no escapes: echo and the
	// generated binder would each have their say on those). Other requests pay these checks
	// only.
	if r.Method == http.MethodGet && lookupRead(r.URL.Path) && r.URL.RawPath == "" &&
		r.ContentLength == 0 && r.TransferEncoding == nil {
		start := time.Now()
		if a, ok := h.decide(r); ok {
			h.write(w, r, start, &a)
			return
		}
	}
	h.next.ServeHTTP(w, r)
}

// lookupRead reports whether path may be one of the two reads.
func lookupRead(path string) bool {
	return path == "/internal/cors" || strings.HasPrefix(path, "/internal/clients/")
}

// hotAnswer is the answer the hot path decided on: a policy (route lookupRoute) or a CORS
// answer, and who asked.
type hotAnswer struct {
	route  string
	caller auth.Principal
	policy cachedPolicy
	cors   corsAnswer
}

// decide returns the answer of r when the hot path can give it, ok false otherwise. It
// writes nothing, so that the full path can take over; a panic in it is logged and leaves r
// to the full path, which answers it as every panic is answered.
func (h *hotPath) decide(r *http.Request) (a hotAnswer, ok bool) {
	defer func() {
		if v := recover(); v != nil {
			h.s.log.Error("hot path: panic, the request goes on to the full path", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			ok = false
		}
	}()
	id, isLookup := strings.CutPrefix(r.URL.Path, "/internal/clients/")
	if isLookup && (id == "" || strings.ContainsAny(id, "/%")) {
		return a, false
	}
	token, ok := bearerToken(r.Header.Get("Authorization"))
	if !ok {
		return a, false
	}
	if a.caller, ok = h.tokens.Verified(token); !ok || !a.caller.HasRole(auth.RoleLookup) {
		return a, false
	}
	req := &hotRequest{id: id, query: r.URL.Query()}
	if isLookup {
		if !h.lookup.fastParamsOK(req) {
			return a, false
		}
		c, ok := h.s.lookup.CachedClient(id)
		if !ok {
			return a, false
		}
		a.route, a.policy = lookupRoute, h.s.policyAnswer(c, req.query.Get("tenantId"))
		h.clients.Add(1)
		return a, true
	}
	if !h.cors.fastParamsOK(req) {
		return a, false
	}
	a.route = corsRoute
	origin, reason := normalizeOrigin(req.query.Get("origin"))
	if reason != "" {
		a.cors = h.s.corsAnswer(nil, "")
	} else {
		apps, ok := h.s.lookup.CachedOrigin(origin)
		if !ok {
			return a, false
		}
		a.cors = h.s.corsAnswer(apps, req.query.Get("tenantId"))
	}
	h.origins.Add(1)
	return a, true
}

// write answers a as the frame and the handler would: request id and security headers, the
// answer, its metrics and its log line.
func (h *hotPath) write(w http.ResponseWriter, r *http.Request, start time.Time, a *hotAnswer) {
	id := h.s.requestID(r)
	frameHeaders(w.Header(), id)
	if a.route == lookupRoute {
		_ = a.policy.VisitLookupClientResponse(w) // a failed write: the client went away
	} else {
		_ = a.cors.VisitCheckCORSOriginResponse(w)
	}
	took := time.Since(start)
	h.s.metrics.record(a.route, http.MethodGet, http.StatusOK, took)
	h.s.logRequest(r, http.StatusOK, id, &a.caller, took)
}

// hotRequest is what fastParamsOK reads of a request the hot path decides: its one path
// parameter and its query.
type hotRequest struct {
	id    string
	query url.Values
}

func (q *hotRequest) Param(string) string     { return q.id }
func (q *hotRequest) QueryParams() url.Values { return q.query }
