package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/labstack/echo/v4"

	"github.com/cxone/appreg/gen"
	"github.com/cxone/appreg/server/lookup"
	"github.com/cxone/appreg/store"
)

// statusClientClosed is recorded for requests whose client went away.
const statusClientClosed = 499

// problem is an error answer before it is written in the contract's shape.
type problem struct {
	status int
	code   string
	detail string
	fields []FieldError
	header http.Header
}

// titles holds the RFC 9457 title of each machine code.
var titles = map[string]string{
	"invalid_request":        "Invalid request",
	"invalid_token":          "Invalid token",
	"insufficient_scope":     "Insufficient role",
	"not_found":              "Not found",
	"method_not_allowed":     "Method not allowed",
	"application_locked":     "Application locked",
	"conflict":               "Conflict",
	"tenancy_not_pending":    "Tenancy not pending",
	"request_too_large":      "Request too large",
	"unsupported_media_type": "Unsupported media type",
	"server_error":           "Internal error",
	"precondition_failed":    "Precondition failed",
	"too_many_secrets":       "Too many secrets",
	"last_secret":            "Last secret",
	"idempotency_key_reused": "Idempotency key reused",
	"rate_limited":           "Too many requests",
	"service_unavailable":    "Service unavailable",
	"not_ready":              "Not ready",
}

// handleError is echo's one error handler: every error of the validator, the
// router, the binder, the handlers and recovered panics is answered here, in
// one shape. 5xx answers are generic; the error is logged with the request id.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	if clientGone(c) {
		// The client hung up: nobody reads an answer, and the failure of its
		// cancelled database work is no fault of the service. Logs and
		// metrics record it as 499, nginx's "client closed request".
		c.Response().Status = statusClientClosed
		return
	}
	p := problemOf(err)
	if p.status >= 500 && !errors.As(err, new(*regError)) {
		s.logFailure(c, p.status, err)
	}
	if isRegistrationPath(c.Request().URL.Path) {
		status, body, header := registrationProblem(err, p)
		writeProblem(c, status, header, body, s)
		return
	}
	writeProblem(c, p.status, p.header, problemBody(p, requestIDOf(c)), s)
}

// problemBody is the contract's error body of p, for the request with id requestID ("": none).
func problemBody(p problem, requestID string) gen.Error {
	body := gen.Error{
		Error:            p.code,
		ErrorDescription: p.detail,
		Type:             "urn:cxone:appreg:problem:" + p.code,
		Title:            titles[p.code],
		Status:           p.status,
		Detail:           p.detail,
	}
	if requestID != "" {
		body.RequestID = &requestID
	}
	if len(p.fields) > 0 {
		fe := make([]gen.FieldError, len(p.fields))
		for i, f := range p.fields {
			fe[i] = gen.FieldError{Field: f.Field, Reason: f.Reason}
		}
		body.Errors = &fe
	}
	return body
}

// writeProblem writes an error answer: its headers, and body unless the request is a HEAD.
func writeProblem(c echo.Context, status int, header http.Header, body any, s *Server) {
	for k, vs := range header {
		for _, v := range vs {
			c.Response().Header().Add(k, v)
		}
	}
	if c.Request().Method == http.MethodHead {
		// The headers a GET would get, Content-Type included (RFC 9110, 9.3.2).
		c.Response().Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
		_ = c.NoContent(status)
		return
	}
	var werr error
	if e, ok := body.(gen.Error); ok && !prettyAsked(c) {
		werr = writeProblemJSON(c.Response(), status, &e)
	} else {
		werr = c.JSON(status, body)
	}
	if werr != nil {
		s.log.WarnContext(c.Request().Context(), "writing error answer", slog.String("error", werr.Error()))
	}
}

// prettyAsked reports whether the request asks echo for indented JSON (?pretty), which
// c.JSON honours.
func prettyAsked(c echo.Context) bool {
	_, pretty := c.QueryParams()[prettyParam]
	return pretty
}

// prettyParam is the query parameter that asks for an indented error answer.
const prettyParam = "pretty"

// writeProblemJSON writes e as c.JSON does (TestProblemAnswerIsEchoJSON), encoded by
// appendProblem instead of encoding/json's reflection.
func writeProblemJSON(w http.ResponseWriter, status int, e *gen.Error) error {
	return writeJSON(w, status, "", func(b []byte) ([]byte, error) { return appendProblem(b, e), nil })
}

// domainProblems are the answers to the domain's sentinel errors.
var domainProblems = []struct {
	err          error
	status       int
	code, detail string
}{
	{ErrNotFound, http.StatusNotFound, "not_found", "No application with this id exists in your tenant."},
	{ErrRegistrationTokenNotFound, http.StatusNotFound, "not_found", "No initial access token with this id exists in your tenant."},
	{store.ErrNotFound, http.StatusNotFound, "not_found", "No application with this id exists in your tenant."},
	{ErrUnknownClient, http.StatusNotFound, "not_found", "No client with this id exists."},
	{ErrSecretNotFound, http.StatusNotFound, "not_found", "No secret with this id exists for this application."},
	{ErrLocked, http.StatusConflict, "application_locked", "The application's deletion is scheduled, so it cannot be changed or disabled; enable it first to cancel the deletion."},
	{ErrTenancyNotPending, http.StatusConflict, "tenancy_not_pending", "The application is not an all-tenant application waiting for approval."},
	{ErrTooManySecrets, http.StatusConflict, "too_many_secrets", "The application already has 3 valid secrets; revoke one or let one expire first."},
	{ErrLastSecret, http.StatusConflict, "last_secret", "This is the application's last valid secret; rotate first, then revoke it."},
	{ErrIdempotencyKeyReused, http.StatusConflict, "idempotency_key_reused", "This Idempotency-Key was already used for a different request (or that request is still running); use a new key for a new request."},
	{ErrIDTaken, http.StatusConflict, "conflict", "An application with this id already exists; choose another id."},
	{ErrPreconditionFailed, http.StatusPreconditionFailed, "precondition_failed", "The application changed since you read it (If-Match); read it again and retry."},
}

// problemOf maps an error to its answer.
func problemOf(err error) problem {
	var (
		ve  *ValidationError
		ae  *authError
		he  *echo.HTTPError
		me  openapi3.MultiError
		rqe *openapi3filter.RequestError
	)
	for _, d := range domainProblems {
		if errors.Is(err, d.err) {
			return problem{status: d.status, code: d.code, detail: d.detail}
		}
	}
	var rl *rateLimitedError
	switch {
	case errors.As(err, &rl):
		return rateLimitedProblem(rl)
	case errors.Is(err, errIssuerUnavailable):
		return problem{
			status: http.StatusServiceUnavailable, code: "service_unavailable",
			detail: "The sign-in provider cannot be reached right now; retry in a few seconds.",
			header: http.Header{"Retry-After": {"5"}},
		}
	case errors.As(err, new(notReady)):
		return problem{
			status: http.StatusServiceUnavailable, code: "not_ready",
			detail: "The service cannot reach its database or its migrations are not applied yet.",
			header: http.Header{"Retry-After": {"2"}},
		}
	case errors.As(err, &ve):
		return validationProblem(ve.Fields)
	case errors.As(err, &ae):
		return authProblem(ae)
	case errors.As(err, &me):
		return requestProblem(me)
	case errors.As(err, &rqe):
		return requestProblem(rqe)
	case errors.As(err, &he):
		return httpProblem(he)
	// Only errors that are not the request's own: a truncated JSON body
	// also wraps io.ErrUnexpectedEOF, which from the database means a cut
	// connection. A lookup cache failing closed (lookup.ErrStale) is
	// unavailable whatever kept its poll from the change log.
	case store.IsUnavailable(err), errors.Is(err, lookup.ErrStale):
		return problem{
			status: http.StatusServiceUnavailable, code: "service_unavailable",
			detail: "The service is temporarily unavailable; retry in a few seconds.",
			header: http.Header{"Retry-After": {"2"}},
		}
	}
	return problem{status: http.StatusInternalServerError, code: "server_error", detail: "The service failed to answer; try again later."}
}

// logFailure logs why a request was answered 5xx. A 500 is logged each time, at error level.
// A 503 (the database away, a sign-in provider unreachable) is the service refusing work it
// cannot do, which during an outage is every request for the same reason: it is logged at
// warn level, at most once a second, with the number of such lines left out since the last
// one (every request still has its own request line, and /metrics counts them).
func (s *Server) logFailure(c echo.Context, status int, err error) {
	r := c.Request()
	attrs := []slog.Attr{
		slog.String("request_id", requestIDOf(c)),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.String("error", err.Error()),
	}
	if status != http.StatusServiceUnavailable {
		s.log.LogAttrs(r.Context(), slog.LevelError, "request failed", attrs...)
		return
	}
	logged := false
	s.unavailableLog.Do(func() {
		logged = true
		attrs = append(attrs, slog.Int64("similar_not_logged", s.unavailableSkipped.Swap(0)))
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "request refused: service unavailable", attrs...)
	})
	if !logged {
		s.unavailableSkipped.Add(1)
	}
}

func validationProblem(fields []FieldError) problem {
	detail := "The request is invalid."
	if len(fields) > 0 {
		parts := make([]string, len(fields))
		for i, f := range fields {
			parts[i] = f.Field + ": " + f.Reason
		}
		detail = strings.Join(parts, "; ")
	}
	return problem{status: http.StatusBadRequest, code: "invalid_request", detail: detail, fields: fields}
}

func authProblem(e *authError) problem {
	if e.status == http.StatusForbidden {
		return problem{status: http.StatusForbidden, code: "insufficient_scope", detail: capitalise(e.reason) + "."}
	}
	challenge := `Bearer realm="appreg"`
	if !e.missing {
		challenge += `, error="invalid_token", error_description=` + strconv.Quote(e.reason)
	}
	return problem{
		status: http.StatusUnauthorized, code: "invalid_token", detail: capitalise(e.reason) + ".",
		header: http.Header{"WWW-Authenticate": {challenge}},
	}
}

// httpProblem maps echo's own errors: router, binder, body limit, recovered panics.
func httpProblem(he *echo.HTTPError) problem {
	switch he.Code {
	case http.StatusNotFound:
		return problem{status: he.Code, code: "not_found", detail: "No such resource."}
	case http.StatusMethodNotAllowed:
		return problem{status: he.Code, code: "method_not_allowed", detail: "This method is not allowed on this resource."}
	case http.StatusRequestEntityTooLarge:
		return problem{status: he.Code, code: "request_too_large", detail: "The request body is too large."}
	case http.StatusUnsupportedMediaType:
		return problem{status: he.Code, code: "unsupported_media_type", detail: "Send the body as application/json."}
	}
	if he.Internal != nil {
		if p := problemOf(he.Internal); p.status != http.StatusInternalServerError {
			return p
		}
	}
	if he.Code >= 400 && he.Code < 500 {
		return problem{status: http.StatusBadRequest, code: "invalid_request", detail: capitalise(fmt.Sprint(he.Message)) + "."}
	}
	return problem{status: http.StatusInternalServerError, code: "server_error", detail: "The service failed to answer; try again later."}
}

// requestProblem maps the request validator's errors, naming each field.
func requestProblem(err error) problem {
	var ve ValidationError
	status := http.StatusBadRequest
	collectRequestErrors(err, "", &ve, &status)
	switch status {
	case http.StatusUnsupportedMediaType:
		return problem{status: status, code: "unsupported_media_type", detail: "Send the body as application/json.", fields: ve.Fields}
	case http.StatusRequestEntityTooLarge:
		return problem{status: status, code: "request_too_large", detail: "The request body is too large."}
	}
	if len(ve.Fields) == 0 {
		ve.Add("body", "the request does not match the API description")
	}
	return validationProblem(ve.Fields)
}

// collectRequestErrors walks a validator error tree and records one field
// error per leaf. prefix is the field path so far.
func collectRequestErrors(err error, prefix string, ve *ValidationError, status *int) {
	var he *echo.HTTPError
	if errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge {
		*status = he.Code
		return
	}
	switch e := err.(type) {
	case openapi3.MultiError:
		for _, inner := range e {
			collectRequestErrors(inner, prefix, ve, status)
		}
	case *openapi3filter.RequestError:
		switch {
		case e.Parameter != nil:
			collectRequestErrors(e.Err, e.Parameter.Name, ve, status)
			if e.Err == nil {
				ve.Add(e.Parameter.Name, e.Reason)
			}
		case strings.HasPrefix(e.Reason, kinBadContentType):
			*status = http.StatusUnsupportedMediaType
			ve.Add("Content-Type", "send the body as application/json")
		case errors.Is(e.Err, openapi3filter.ErrInvalidRequired):
			ve.Add("body", "a JSON request body is required")
		case e.Reason == kinBadBody:
			ve.Add("body", "is not valid JSON: "+decodeReason(e.Err))
		case e.Err != nil:
			n := len(ve.Fields)
			collectRequestErrors(e.Err, prefix, ve, status)
			if len(ve.Fields) == n && *status == http.StatusBadRequest {
				ve.Add(orBody(prefix), e.Reason)
			}
		default:
			ve.Add(orBody(prefix), e.Reason)
		}
	case *openapi3.SchemaError:
		field, reason := schemaField(e)
		ve.Add(joinField(prefix, field), reason)
	case *openapi3filter.ParseError:
		ve.Add(orBody(prefix), e.Error())
	default:
		if err != nil {
			ve.Add(orBody(prefix), err.Error())
		}
	}
}

// The texts of kin-openapi's errors that the mapping above tells apart: its error types do
// not distinguish these cases. TestKinOpenAPITexts makes kin-openapi produce each one, so an
// upgrade that changes them fails there rather than turning a 415 into a 400 unnoticed.
const (
	// kinBadContentType starts the reason of a body sent with a Content-Type the operation
	// does not declare (kin-openapi's unexported prefixInvalidCT).
	kinBadContentType = "header Content-Type has unexpected value"
	// kinBadBody is the reason of a body that does not decode.
	kinBadBody = "failed to decode request body"
	// kinUnknownProperty ends the reason of a property the schema does not declare, whose
	// name is quoted after `property `.
	kinUnknownProperty = "is unsupported"
)

// schemaField names the field a schema error is about. For a missing or an
// unknown property kin-openapi points at the parent object; the property's
// name is in the reason.
func schemaField(e *openapi3.SchemaError) (string, string) {
	path := e.JSONPointer()
	field := ""
	for _, seg := range path {
		if _, err := strconv.Atoi(seg); err == nil {
			field += "[" + seg + "]"
		} else if field == "" {
			field = seg
		} else {
			field += "." + seg
		}
	}
	switch {
	case e.SchemaField == "required":
		// The pointer already ends at the missing property.
		return field, "is required"
	case e.SchemaField == "properties" && strings.HasSuffix(e.Reason, kinUnknownProperty):
		if name, ok := quotedProperty(e.Reason); ok {
			return joinField(field, name), "is not a field of this request; check its spelling (names are case-sensitive)"
		}
	}
	return field, e.Reason
}

func quotedProperty(reason string) (string, bool) {
	_, rest, ok := strings.Cut(reason, `property "`)
	if !ok {
		return "", false
	}
	name, _, ok := strings.Cut(rest, `"`)
	return name, ok
}

func joinField(prefix, field string) string {
	switch {
	case prefix == "":
		return orBody(field)
	case field == "":
		return prefix
	case strings.HasPrefix(field, "["):
		return prefix + field
	}
	return prefix + "." + field
}

func orBody(field string) string {
	if field == "" {
		return "body"
	}
	return field
}

// decodeReason keeps the JSON decoder's message and drops kin-openapi's wrapping.
func decodeReason(err error) string {
	if err == nil {
		return "malformed"
	}
	var pe *openapi3filter.ParseError
	if errors.As(err, &pe) && pe.Cause != nil {
		return pe.Cause.Error()
	}
	return err.Error()
}

func capitalise(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
