package server

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/cxone/appreg/server/auth"
)

// principalFrom returns the caller that authenticate stored in ctx.
func principalFrom(ctx context.Context) (auth.Principal, bool) {
	if st := stateOf(ctx); st != nil && st.signedIn {
		return st.principal, true
	}
	return auth.Principal{}, false
}

// caller returns the authenticated caller. Every API route is behind
// authenticate, so a missing principal is a wiring bug, refused as 401.
func caller(ctx context.Context) (auth.Principal, error) {
	p, ok := principalFrom(ctx)
	if !ok {
		return auth.Principal{}, &authError{status: http.StatusUnauthorized, reason: "a bearer token is required"}
	}
	return p, nil
}

// requireRole returns the caller when it holds role, a 403 otherwise.
func requireRole(ctx context.Context, role string) (auth.Principal, error) {
	p, err := caller(ctx)
	if err != nil {
		return p, err
	}
	if !p.HasRole(role) {
		return p, &authError{status: http.StatusForbidden, reason: "this operation needs the role " + role}
	}
	return p, nil
}

// authError is a refused credential (401) or a missing role (403).
type authError struct {
	status int
	reason string
	// missing is set when no credentials were sent at all: RFC 6750 then
	// wants a bare challenge without an error code.
	missing bool
}

func (e *authError) Error() string { return e.reason }

// authenticate checks the bearer token of every API request and stores the
// caller in the request's context. Only operations of the spec run it (Server.operation): a
// request for none (an unknown path, a method the path does not have) gets echo's 404 or
// 405, token or not, as the contract declares.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		token, ok := bearerToken(r.Header.Get(echo.HeaderAuthorization))
		if !ok {
			return &authError{status: http.StatusUnauthorized, reason: "a bearer token is required in the Authorization header", missing: true}
		}
		p, err := s.auth.Verify(r.Context(), token)
		if err != nil {
			var te *auth.TokenError
			if errors.As(err, &te) {
				return &authError{status: http.StatusUnauthorized, reason: te.Reason}
			}
			return err
		}
		st := stateOf(r.Context())
		if st == nil {
			return errors.New("authenticate: the request has no frame") // a wiring bug
		}
		st.principal, st.signedIn = p, true
		return next(c)
	}
}

// bearerToken extracts the token of an "Authorization: Bearer" header; the
// scheme is case-insensitive (RFC 7235).
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
