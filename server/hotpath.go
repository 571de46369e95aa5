package server

import (
	"fmt"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cxone/appreg/gen"
	"github.com/cxone/appreg/server/auth"
)

// The lookup path's three calls, by echo route (the route label of their metrics).
const (
	lookupRoute = "/internal/clients/:clientId"
	verifyRoute = "/internal/clients/:clientId/verify"
	corsRoute   = "/internal/cors"
)

// hotBodyLimit is the largest verify body the hot path reads (a secret and a tenant id are
// about a hundred bytes); a larger one goes to the full path, whole.
const hotBodyLimit = 4 << 10

// verifiedTokens is an Authenticator that can tell, without new work, the caller of a token
// it has already verified (auth.Verifier.Verified).
type verifiedTokens interface {
	Verified(token string) (auth.Principal, bool)
}

// hotPath answers the lookup path's three calls (a client's policy, a secret's verification,
// a CORS check) in front of echo, when everything the answer needs is already in memory:
// the bearer token verified before (and not expired), the parameters and body certainly
// valid (the validator's own shortcut, validatedRoute.fastParamsOK and plainObject.accepts),
// the client or origin in the lookup cache and the cache fresh, or the client id known not
// to exist (lookup.Cache.AbsentClient). Any other request, and any request of another route,
// goes on to echo unchanged, where the same checks decide it and word any error: the hot path
// answers only what the full path answers 200, and one error, the 404 of an unknown client
// id, with the same functions (the handler's policyAnswer, verifyAnswer and corsAnswer, the
// error handler's problemBody, the frame's request id, headers, metrics and log line), byte
// for byte (TestHotPathAnswersAsEcho). Why it exists: see "The hot path" in doc.go.
type hotPath struct {
	s                    *Server
	tokens               verifiedTokens
	lookup, verify, cors *validatedRoute
	next                 http.Handler
	// The hot answers, by kind (appreg_lookup_hot_answers_total).
	clients, secrets, origins atomic.Int64
}

// newHotPath puts the hot path in front of next, or returns next when the hot path cannot
// decide as the full path would: an Authenticator that cannot tell a verified token from
// memory, or a call whose parameters or body the validator's shortcut does not check.
func (s *Server) newHotPath(next http.Handler) http.Handler {
	tokens, _ := s.auth.(verifiedTokens)
	h := &hotPath{
		s: s, tokens: tokens, next: next,
		lookup: s.validator.routes[routeKey{http.MethodGet, lookupRoute}],
		verify: s.validator.routes[routeKey{http.MethodPost, verifyRoute}],
		cors:   s.validator.routes[routeKey{http.MethodGet, corsRoute}],
	}
	if tokens == nil || !h.lookup.hotParams(false) || !h.verify.hotParams(true) || !h.cors.hotParams(false) {
		return next
	}
	s.hot = h
	return h
}

// hotParams reports whether the hot path can check r's parameters and body: its parameters
// all plain (the shortcut's), at most one in the path, and a body (when withBody) that is
// a plain object, else none.
func (r *validatedRoute) hotParams(withBody bool) bool {
	if r == nil || r.fast == nil || withBody != (r.kin.Operation.RequestBody != nil) || withBody && r.fastBody == nil {
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
	// One of the three calls, its path as sent (no escapes: echo and the generated binder
	// would each have their say on those), a body only to verify and a small one. Other
	// requests pay these checks only.
	path := r.URL.Path
	var ok bool
	switch r.Method {
	case http.MethodGet:
		ok = (path == "/internal/cors" || strings.HasPrefix(path, "/internal/clients/")) && r.ContentLength == 0
	case http.MethodPost:
		ok = strings.HasPrefix(path, "/internal/clients/") && strings.HasSuffix(path, "/verify") &&
			r.ContentLength > 0 && r.ContentLength <= min(hotBodyLimit, h.s.bodyLimit)
	}
	if ok && r.URL.RawPath == "" && r.TransferEncoding == nil {
		start := time.Now()
		if a, ok := h.decide(r); ok {
			h.write(w, r, start, &a)
			return
		}
	}
	h.next.ServeHTTP(w, r)
}

// hotAnswer is the answer the hot path decided on (one of policy, verified and cors, by
// route) and who asked.
type hotAnswer struct {
	route    string
	caller   auth.Principal
	policy   cachedPolicy
	unknown  bool // a lookup of a client id known not to exist: 404
	verified gen.VerifyClientSecretResponseObject
	cors     corsAnswer
}

// decide returns the answer of r when the hot path can give it, ok false otherwise. It
// writes nothing (a verify body it read is left to be read again), so that the full path
// can take over; a panic in it is logged and leaves r to the full path, which answers it as
// every panic is answered.
func (h *hotPath) decide(r *http.Request) (a hotAnswer, ok bool) {
	defer func() {
		if v := recover(); v != nil {
			h.s.log.Error("hot path: panic, the request goes on to the full path", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			ok = false
		}
	}()
	route := h.cors
	id, isClient := strings.CutPrefix(r.URL.Path, "/internal/clients/")
	switch {
	case !isClient:
		a.route = corsRoute
	case r.Method == http.MethodPost:
		a.route, route, id = verifyRoute, h.verify, strings.TrimSuffix(id, "/verify")
	default:
		a.route, route = lookupRoute, h.lookup
	}
	if isClient && (id == "" || strings.ContainsAny(id, "/%")) {
		return a, false
	}
	token, ok := bearerToken(r.Header.Get("Authorization"))
	if !ok {
		return a, false
	}
	if a.caller, ok = h.tokens.Verified(token); !ok || !a.caller.HasRole(auth.RoleLookup) {
		return a, false
	}
	req := newHotRequest(id, r.URL.RawQuery)
	if !route.fastParamsOK(req) {
		return a, false
	}
	if a.route == corsRoute {
		origin, reason := normalizeOrigin(req.first("origin"))
		if reason != "" {
			a.cors = h.s.corsAnswer(nil, "")
		} else {
			apps, ok := h.s.lookup.CachedOrigin(origin)
			if !ok {
				return a, false
			}
			a.cors = h.s.corsAnswer(apps, req.first("tenantId"))
		}
		h.origins.Add(1)
		return a, true
	}
	c, held := h.s.lookup.CachedClient(id) // c nil: held as not found, or not held
	if a.route == lookupRoute {
		switch {
		case c != nil:
			a.policy = h.s.policyAnswer(c, req.first("tenantId"))
		case !req.prettyAsked() && (held || h.s.lookup.AbsentClient(r.Context(), id)):
			a.unknown = true
		default:
			return a, false
		}
		h.clients.Add(1)
		return a, true
	}
	// The body after the held client: it is read only for a request the hot path can
	// otherwise answer, and accepts leaves it to be read again (by echo, when it is not
	// accepted); before the wait for a poll that an unknown id may need, which echo would
	// wait for again. verifyAnswer answers a nil client unknown_client.
	if !route.fastBody.accepts(r) || !held && !h.s.lookup.AbsentClient(r.Context(), id) {
		return a, false
	}
	body := r.Body.(*validatedBody).value
	secret, _ := body["secret"].(string)
	tenant, _ := body["tenantId"].(string)
	a.verified = h.s.verifyAnswer(c, secret, tenant)
	h.secrets.Add(1)
	return a, true
}

// unknownClient is the problem handleError answers ErrUnknownClient with.
var unknownClient = problemOf(ErrUnknownClient)

// write answers a as the frame and the handler would, or, for an unknown client, the error
// handler: request id and security headers, the answer, its metrics and its log line.
func (h *hotPath) write(w http.ResponseWriter, r *http.Request, start time.Time, a *hotAnswer) {
	id := h.s.requestID(r)
	frameHeaders(w.Header(), id)
	status := http.StatusOK
	switch { // a failed write: the client went away
	case a.unknown:
		status = unknownClient.status
		body := problemBody(unknownClient, id)
		_ = writeProblemJSON(w, status, &body)
	case a.route == lookupRoute:
		_ = a.policy.VisitLookupClientResponse(w)
	case a.route == verifyRoute:
		_ = a.verified.VisitVerifyClientSecretResponse(w)
	default:
		_ = a.cors.VisitCheckCORSOriginResponse(w)
	}
	took := time.Since(start)
	h.s.metrics.record(a.route, r.Method, status, took)
	h.s.logRequest(r, status, id, &a.caller, took)
}

// maxScannedQuery is the longest query queryValue reads itself: a lookup's is a tenant id and
// an origin, some hundred bytes.
const maxScannedQuery = 1 << 10

// hotRequest is what fastParamsOK reads of a request the hot path decides: its one path
// parameter and its query, read where it is (queryValue), without a url.Values.
type hotRequest struct {
	id, raw string
	// read are the parameters queryValue has read, each asked for twice (by fastParamsOK,
	// then by decide): an escaped origin is unescaped once.
	read  [2]queryParam
	nRead int
}

// queryParam is one query parameter as queryValue read it.
type queryParam struct {
	name, first string
	count       int
}

func newHotRequest(id, rawQuery string) *hotRequest { return &hotRequest{id: id, raw: rawQuery} }

func (q *hotRequest) Param(string) string { return q.id }

// QueryParams is the query as r.URL.Query() has it; fastParamsOK reads queryValue instead.
func (q *hotRequest) QueryParams() url.Values {
	v, _ := url.ParseQuery(q.raw) // as r.URL.Query(): a pair in error is left out
	return v
}

// queryValue returns the first value of the query parameter name and how many times it was
// sent, as url.ParseQuery reads them: pairs separated by '&', an empty one or one with a ';'
// left out, each cut at its first '=', its name and value unescaped (a pair that does not
// unescape left out). Nothing is allocated but an escaped name or value. A query longer than
// maxScannedQuery is left to url.ParseQuery itself, which also refuses one of too many pairs
// (10,000 by default, GODEBUG urlmaxqueryparams).
func (q *hotRequest) queryValue(name string) (first string, count int) {
	for _, p := range q.read[:q.nRead] {
		if p.name == name {
			return p.first, p.count
		}
	}
	first, count = q.scan(name)
	if q.nRead < len(q.read) {
		q.read[q.nRead] = queryParam{name, first, count}
		q.nRead++
	}
	return first, count
}

// scan is queryValue without the parameters already read.
func (q *hotRequest) scan(name string) (first string, count int) {
	if len(q.raw) > maxScannedQuery {
		return firstValue(q.QueryParams()[name])
	}
	for rest := q.raw; rest != ""; {
		var pair string
		pair, rest, _ = strings.Cut(rest, "&")
		if pair == "" || strings.Contains(pair, ";") {
			continue
		}
		key, value, _ := strings.Cut(pair, "=")
		if key, err := url.QueryUnescape(key); err != nil || key != name {
			continue
		}
		value, err := url.QueryUnescape(value)
		if err != nil {
			continue
		}
		if count == 0 {
			first = value
		}
		count++
	}
	return first, count
}

// prettyAsked reports whether the query asks for an indented error answer, as the error
// handler's prettyAsked reads it.
func (q *hotRequest) prettyAsked() bool {
	_, n := q.queryValue(prettyParam)
	return n > 0
}

// first is the first value of the query parameter name, "" when it was not sent.
func (q *hotRequest) first(name string) string {
	v, _ := q.queryValue(name)
	return v
}
