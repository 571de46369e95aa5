package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cxone/appreg/gen"
	"github.com/cxone/appreg/server/auth"
	"github.com/cxone/appreg/server/lookup"
	"github.com/cxone/appreg/store"
)

// LookupCache is what the lookup path needs of the in-process cache.
type LookupCache interface {
	Client(ctx context.Context, id string) (*lookup.Client, error)
	OriginApps(ctx context.Context, origin string) ([]store.Application, error)
	// CachedClient and CachedOrigin answer from memory alone, for the hot path (hotpath.go);
	// AbsentClient tells it an id the cache does not hold is known not to exist, after a
	// poll when one is needed, and false once the caller has gone (the full path words
	// that answer, 499).
	CachedClient(id string) (*lookup.Client, bool)
	AbsentClient(ctx context.Context, id string) bool
	CachedOrigin(origin string) ([]store.Application, bool)
	InvalidateWritten(applicationID string, origins []string)
	// NoteClientUse records a use of a cached client, and of its secret unless secretID is "".
	NoteClientUse(c *lookup.Client, secretID string, at time.Time)
}

// ErrUnknownClient is the lookup path's 404.
var ErrUnknownClient = errors.New("no client with this id exists")

// LookupClient answers the authorization server's question: what may this
// client do, and may it be used in this tenant.
func (s *Server) LookupClient(ctx context.Context, req gen.LookupClientRequestObject) (gen.LookupClientResponseObject, error) {
	if _, err := requireRole(ctx, auth.RoleLookup); err != nil {
		return nil, err
	}
	c, err := s.lookup.Client(ctx, req.ClientID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnknownClient
	}
	if err != nil {
		return nil, fmt.Errorf("lookup client: %w", err)
	}
	return s.policyAnswer(c, req.Params.TenantID), nil
}

// policyAnswer is the lookup of client c by tenant, noted as a use of c.
func (s *Server) policyAnswer(c *lookup.Client, tenant string) cachedPolicy {
	s.lookup.NoteClientUse(c, "", s.now())
	return cachedPolicy{client: c, allowed: allowedForTenant(&c.App, tenant)}
}

// dummyHash is compared against when a client is unknown or has no secret,
// so that every verification does the same work whatever its outcome.
var dummyHash = hashIssuedSecret("appreg-dummy-secret-for-constant-time-verification")

// VerifyClientSecret checks a secret presented at the token endpoint. The
// secret is compared with every stored issued secret of the client, valid or
// not, and the reasons are decided only after, so the time taken does not tell
// an unknown client from a wrong secret. A client's state (disabled, locked,
// tenant) is only told to a caller that presented its secret.
//
// Imported secrets (slow hashes) are checked only when no issued secret
// matched, through s.slow (see verifySlow): a flood of wrong secrets for one
// imported client must not take the replica's CPU from everyone else.
func (s *Server) VerifyClientSecret(ctx context.Context, req gen.VerifyClientSecretRequestObject) (gen.VerifyClientSecretResponseObject, error) {
	if _, err := requireRole(ctx, auth.RoleLookup); err != nil {
		return nil, err
	}
	b := req.Body
	if b == nil {
		return nil, invalid("body", "a JSON request body is required")
	}
	c, err := s.lookup.Client(ctx, req.ClientID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("verify client: %w", err)
	}
	return s.verifyAnswer(c, b.Secret, b.TenantID), nil
}

// verifyAnswer is the verification of secret for client c (nil: unknown) asked for tenant,
// a success noted as a use of c and of its secret.
func (s *Server) verifyAnswer(c *lookup.Client, secret, tenant string) gen.VerifyClientSecretResponseObject {
	now := s.now()
	fail := func(r gen.VerifyResultReason) gen.VerifyClientSecretResponseObject {
		return verifyClientSecretResponse{Valid: false, Reason: &r}
	}

	var (
		matched *store.Secret
		slow    bool // the client has a slow-hash secret
	)
	if c == nil || len(c.Secrets) == 0 {
		secretMatches(secret, dummyHash)
	} else {
		for i := range c.Secrets {
			sec := &c.Secrets[i]
			if isSlowHash(sec.Hash) {
				slow = true
				continue
			}
			ok := secretMatches(secret, sec.Hash)
			if ok && matched == nil && usable(sec, now) {
				matched = sec
			}
		}
	}
	if matched == nil && slow && c.App.Type != string(gen.Public) {
		var refused gen.VerifyResultReason
		matched, refused = s.verifySlow(c, secret, now)
		if refused != "" {
			return fail(refused)
		}
	}

	switch {
	case c == nil:
		return fail(gen.VerifyResultReasonUnknownClient)
	case c.App.Type == string(gen.Public):
		return fail(gen.VerifyResultReasonPublicClient)
	case matched == nil:
		return fail(gen.VerifyResultReasonWrongSecret)
	case c.App.ScheduledDeletionTime != nil:
		return fail(gen.VerifyResultReasonLocked)
	case !c.App.Enabled:
		return fail(gen.VerifyResultReasonDisabled)
	}
	if !allowedForTenant(&c.App, tenant) {
		return fail(gen.VerifyResultReasonNotAllowedForTenant)
	}
	s.lookup.NoteClientUse(c, matched.ID, now)
	return cachedPolicy{client: c, allowed: true}
}

// usable reports whether sec has not expired at now.
func usable(sec *store.Secret, now time.Time) bool {
	return sec.ExpiresTime == nil || now.Before(*sec.ExpiresTime)
}

// verifySlow checks secret against c's slow-hash secrets under the guard's
// bounds (lookup.SlowHashes): from memory when this very secret was verified
// for this snapshot of c recently; otherwise refused at once (busy,
// throttled) when the bounds say so; otherwise one hash per slow secret on
// a worker. It returns the usable secret matched, or nil, or the reason the
// check was refused.
func (s *Server) verifySlow(c *lookup.Client, secret string, now time.Time) (*store.Secret, gen.VerifyResultReason) {
	g := s.slow
	if id, ok := g.Remembered(c, secret); ok {
		for i := range c.Secrets {
			if sec := &c.Secrets[i]; sec.ID == id && usable(sec, now) {
				return sec, ""
			}
		}
	}
	if g.Throttled(c.App.ID) {
		return nil, gen.VerifyResultReasonThrottled
	}
	if !g.Acquire() {
		return nil, gen.VerifyResultReasonBusy
	}
	i, done := g.Run(func() int {
		for i := range c.Secrets {
			if sec := &c.Secrets[i]; isSlowHash(sec.Hash) && usable(sec, now) && secretMatches(secret, sec.Hash) {
				return i
			}
		}
		return -1
	})
	if !done {
		return nil, gen.VerifyResultReasonBusy
	}
	if i < 0 {
		g.Failed(c.App.ID)
		return nil, ""
	}
	matched := &c.Secrets[i]
	g.Remember(c, secret, matched.ID)
	return matched, ""
}

// CheckCORSOrigin answers the gateway: may a browser page of origin call the
// platform's APIs for tenant. An origin that is not one (the browser's
// "null", garbage) is simply not allowed: the gateway passes on whatever
// the browser sent.
func (s *Server) CheckCORSOrigin(ctx context.Context, req gen.CheckCORSOriginRequestObject) (gen.CheckCORSOriginResponseObject, error) {
	if _, err := requireRole(ctx, auth.RoleLookup); err != nil {
		return nil, err
	}
	origin, reason := normalizeOrigin(req.Params.Origin)
	if reason != "" {
		return s.corsAnswer(nil, ""), nil
	}
	apps, err := s.lookup.OriginApps(ctx, origin)
	if err != nil {
		return nil, fmt.Errorf("cors lookup: %w", err)
	}
	return s.corsAnswer(apps, req.Params.TenantID), nil
}

// corsAnswer is the CORS check's answer for tenant, given the applications that list the
// origin: allowed when one of them is enabled, not deleted, and usable in tenant.
func (s *Server) corsAnswer(apps []store.Application, tenant string) corsAnswer {
	for i := range apps {
		a := &apps[i]
		if a.Enabled && a.ScheduledDeletionTime == nil && allowedForTenant(a, tenant) {
			return corsAnswer{allowed: true, cacheControl: s.corsCacheControl}
		}
	}
	return corsAnswer{allowed: false, cacheControl: s.corsCacheControl}
}

// allowedForTenant reports whether a may be used in tenant: its owner's, or
// any once its all-tenant approval is granted.
func allowedForTenant(a *store.Application, tenant string) bool {
	return a.TenantID == tenant || effectiveTenancy(a) == gen.All
}

// grantTypes are the OAuth2 grants each type of application may use.
var grantTypes = map[string][]gen.ClientPolicyGrantTypes{
	string(gen.Public):       {gen.AuthorizationCode, gen.RefreshToken},
	string(gen.Confidential): {gen.AuthorizationCode, gen.RefreshToken, gen.ClientCredentials},
	string(gen.Backend):      {gen.ClientCredentials},
}

// policyOf is a client's policy as the authorization server enforces it.
func policyOf(a *store.Application, tenant string) gen.ClientPolicy {
	p := gen.ClientPolicy{
		ID:                a.ID,
		TenantID:          a.TenantID,
		Type:              gen.ApplicationType(a.Type),
		IsEnabled:         a.Enabled,
		Locked:            a.ScheduledDeletionTime != nil,
		EffectiveTenancy:  effectiveTenancy(a),
		AllowedForTenant:  allowedForTenant(a, tenant),
		Redirects:         nonNil(a.Redirects),
		Logouts:           nonNil(a.Logouts),
		Origins:           nonNil(a.Origins),
		Scope:             a.Scope,
		PkceRequired:      a.Type == string(gen.Public),
		GrantTypes:        grantTypes[a.Type],
		TokenEndpointOnly: a.Type == string(gen.Backend),
	}
	if a.AuthMethod != "" {
		m := gen.AuthMethod(a.AuthMethod)
		p.AuthMethod = &m
	}
	if a.JWKSEndpoint != "" {
		j := a.JWKSEndpoint
		p.JWKSEndpoint = &j
	}
	return p
}
