package auth

import (
	"slices"
	"time"
)

// Roles this service knows.
const (
	RoleAdmin  = "appreg.admin"  // operator endpoints and import
	RoleLookup = "appreg.lookup" // the authorization server's and gateway's lookup path
)

// Principal is the verified caller of a request: the tenant it acts for (the
// tenantId claim), the actor (sub) and its roles.
type Principal struct {
	TenantID  string
	Subject   string
	Roles     []string
	ExpiresAt time.Time
}

// HasRole reports whether the principal holds role.
func (p Principal) HasRole(role string) bool {
	return slices.Contains(p.Roles, role)
}

// TokenError says why a token is refused, in a sentence safe to show the
// caller: it never echoes the token. The HTTP layer answers it with 401 and
// WWW-Authenticate: Bearer error="invalid_token".
type TokenError struct {
	Reason string
}

// Error returns the reason prefixed with "invalid token: ".
func (e *TokenError) Error() string {
	return "invalid token: " + e.Reason
}

// Reasons a token is refused. Those that need a detail are built where they
// are used.
const (
	reasonMalformed     = "malformed token"
	reasonTooLarge      = "the token is too large"
	reasonExpired       = "the token has expired"
	reasonNotYetValid   = "the token is not valid yet"
	reasonIssuedFuture  = "the token was issued in the future (iat)"
	reasonNoExpiry      = "the token has no expiry (exp)"
	reasonIssuer        = "the token's issuer is not trusted"
	reasonAudience      = "the token is not meant for this service (audience)"
	reasonUnknownKey    = "unknown signing key (kid)"
	reasonKeyMismatch   = "the signing key (kid) does not fit the token's algorithm"
	reasonAmbiguousKey  = "the token has no key id (kid) and more than one key could have signed it"
	reasonSignature     = "the token's signature is invalid"
	reasonType          = "the token's type (typ) is not JWT"
	reasonCrit          = "the token has critical header parameters (crit), which this service does not support"
	reasonNoTenant      = "the token has no tenantId claim"
	reasonEmptyTenant   = "the token's tenantId claim is empty"
	reasonBadTenant     = "the token's tenantId claim must be a string of at most 128 characters, without control characters"
	reasonNoSubject     = "the token has no sub claim"
	reasonBadRoles      = "the token's roles claim must be an array of strings"
	reasonNoAlgorithm   = "the token's header has no alg"
	maxTenantIDRunes    = 128
	maxAlgorithmEchoLen = 32
)

func tokenError(reason string) *TokenError { return &TokenError{Reason: reason} }

func malformed(detail string) *TokenError {
	return &TokenError{Reason: reasonMalformed + ": " + detail}
}
