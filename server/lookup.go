package server

import (
	"context"
	"errors"
	"fmt"
	"strconv"
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
	InvalidateWritten(applicationID string, origins []string)
	NoteUse(applicationID, secretID string, at time.Time)
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
	now := s.now()
	s.lookup.NoteUse(c.App.ID, "", now)
	return lookupClientResponse(policyOf(&c.App, req.Params.TenantID)), nil
}

// dummyHash is compared against when a client is unknown or has no secret,
// so that every verification does the same work whatever its outcome.
var dummyHash = hashIssuedSecret("appreg-dummy-secret-for-constant-time-verification")

// VerifyClientSecret checks a secret presented at the token endpoint. The
// secret is compared with every stored secret of the client, valid or not,
// and the reasons are decided only after, so the time taken does not tell
// an unknown client from a wrong secret. A client's state (disabled, locked,
// tenant) is only told to a caller that presented its secret.
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
	now := s.now()

	var matched *store.Secret
	if c == nil || len(c.Secrets) == 0 {
		secretMatches(b.Secret, dummyHash)
	} else {
		for i := range c.Secrets {
			sec := &c.Secrets[i]
			ok := secretMatches(b.Secret, sec.Hash)
			if ok && matched == nil && (sec.ExpiresTime == nil || now.Before(*sec.ExpiresTime)) {
				matched = sec
			}
		}
	}

	fail := func(r gen.VerifyResultReason) (gen.VerifyClientSecretResponseObject, error) {
		return verifyClientSecretResponse{Valid: false, Reason: &r}, nil
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
	policy := policyOf(&c.App, b.TenantID)
	if !policy.AllowedForTenant {
		return fail(gen.VerifyResultReasonNotAllowedForTenant)
	}
	s.lookup.NoteUse(c.App.ID, matched.ID, now)
	return verifyClientSecretResponse{Valid: true, Policy: &policy}, nil
}

// CheckCORSOrigin answers the gateway: may a browser page of origin call the
// platform's APIs for tenant. An origin that is not one (the browser's
// "null", garbage) is simply not allowed: the gateway passes on whatever
// the browser sent.
func (s *Server) CheckCORSOrigin(ctx context.Context, req gen.CheckCORSOriginRequestObject) (gen.CheckCORSOriginResponseObject, error) {
	if _, err := requireRole(ctx, auth.RoleLookup); err != nil {
		return nil, err
	}
	maxAge := "max-age=" + strconv.Itoa(int(s.corsMaxAge/time.Second))
	answer := func(allowed bool) (gen.CheckCORSOriginResponseObject, error) {
		return gen.CheckCORSOrigin200JSONResponse{
			Body:    gen.CORSResult{Allowed: allowed},
			Headers: gen.CheckCORSOrigin200ResponseHeaders{CacheControl: &maxAge},
		}, nil
	}
	origin, reason := normalizeOrigin(req.Params.Origin)
	if reason != "" {
		return answer(false)
	}
	apps, err := s.lookup.OriginApps(ctx, origin)
	if err != nil {
		return nil, fmt.Errorf("cors lookup: %w", err)
	}
	for i := range apps {
		a := &apps[i]
		if a.Enabled && a.ScheduledDeletionTime == nil && allowedForTenant(a, req.Params.TenantID) {
			return answer(true)
		}
	}
	return answer(false)
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
