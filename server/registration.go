package server

// Dynamic client registration (RFC 7591) and its management protocol (RFC 7592), under a
// policy each tenant controls.
//
// Design:
//
//   - A registered client is an ordinary application: the same store row, the same rules
//     (checkSpec), list, audit trail and notifications. Only its creation differs. Its row
//     remembers how it registered (registration_method, registration_token_id), fixed at
//     creation like created_by, so the listing's kept answers, keyed by an application's
//     version, stay right; the Application schema shows it as the read-only `registration`.
//     The audit actor (createdBy) is "registration:<initial access token id>" or
//     "registration:anonymous"; a client changing itself through RFC 7592 acts as
//     "client:<client id>"; the policy's clean-up acts as "registration-policy".
//
//   - Mapping: client_name -> name (made up when absent: RFC 7591 lets the server supply
//     values), redirect_uris -> redirects, post_logout_redirect_uris -> logouts, contacts ->
//     contacts (else the policy's defaultContacts; else invalid_client_metadata, since every
//     application needs 1 to 10), scope, jwks_uri -> jwksEndpoint. token_endpoint_auth_method
//     none -> public; client_secret_basic / client_secret_post (also the RFC's default when
//     absent) -> confidential, or backend when grant_types is exactly client_credentials and
//     there are no redirect URIs. grant_types and response_types are answered as the type
//     allows them on the lookup path (the registry stores types, not grant lists); a
//     requested grant the type cannot use is refused. The policy may allow backend: it needs
//     no redirects, so the redirect host list cannot limit it, and it is the only way a
//     registered client can use client_credentials alone.
//
//   - What is refused and what is dropped: RFC 7591 (section 2) requires a server to ignore
//     metadata it does not understand, and lets it ignore what it does not use. Unknown
//     fields (other specifications' metadata, language-tagged variants such as
//     client_name#fr), the informational fields (client_uri, logo_uri, tos_uri, policy_uri,
//     software_id, software_version) and OpenID Connect's application_type are dropped and
//     not echoed. A known field whose value the service does not support (jwks by value,
//     software_statement, other auth methods and grants) is refused with
//     invalid_client_metadata naming the field, by the request validator or by the mapping:
//     dropping it would register a client that cannot work as its metadata say. The answer
//     echoes only what was kept.
//
//   - Tokens: initial access tokens and registration access tokens are 256-bit random values
//     (newSecret), stored as SHA-256 hashes only, as issued client secrets are. A token's use
//     is a conditional decrement in the registering transaction, so a token with one use
//     left registers exactly one client however many registrations race for it; a refused
//     token creates nothing (401). The registration access token rotates on every PUT (in
//     the transaction of the update: of two concurrent updates with one token, one wins) and
//     is deleted by DELETE, which is the two-step delete of every application.
//
//   - Errors on the registration paths have RFC 7591's shape {"error", "error_description"},
//     including those of the request validator, the router and the body limit: the one error
//     handler picks the shape by path (registrationProblem). Policy refusals are
//     access_denied (403); the daily limit and the anonymous rate limits are 429 with
//     Retry-After.
//
//   - Abuse: anonymous registrations are limited per tenant and per source address by token
//     buckets of their own, apart from the management API's per-tenant limiter, so a flood
//     of registrations does not use up a tenant's management rate; each replica limits on
//     its own (the daily limit, in the database, holds across replicas). The source address
//     is the connection's peer: behind a proxy that is the proxy, which makes the per-address
//     limit a per-proxy one (set the per-address rate accordingly).
//
//   - deleteUnusedAfterDays: the purger's pass (Purger.RunOnce) schedules the deletion of
//     registered clients never used within that many days of their registration, through
//     the same locked update as a DELETE (so replicas racing over one client schedule it
//     once), leaving the usual grace period to restore them.

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"github.com/cxone/appreg/gen"
	"github.com/cxone/appreg/store"
)

// RegistrationStore is what registration needs of the data layer beside Store.
type RegistrationStore interface {
	GetRegistrationPolicy(ctx context.Context, tenantID string) (*store.RegistrationPolicy, error)
	UpdateRegistrationPolicy(ctx context.Context, tenantID string, def store.RegistrationPolicy, fn func(*store.RegistrationPolicy) error) (*store.RegistrationPolicy, error)
	CreateInitialAccessToken(ctx context.Context, t *store.InitialAccessToken) error
	ListInitialAccessTokens(ctx context.Context, tenantID string) ([]store.InitialAccessToken, error)
	InitialAccessTokenByHash(ctx context.Context, tenantID, hash string) (*store.InitialAccessToken, error)
	RevokeInitialAccessToken(ctx context.Context, tenantID, id string, now time.Time) error
	RegisterApplication(ctx context.Context, app *store.Application, secrets []store.Secret, r store.Registration) error
	RegistrationAccessTokenOf(ctx context.Context, id string) (*store.RegistrationAccessToken, error)
	UpdateRegisteredApplication(ctx context.Context, tenantID, id, oldHash, newHash string, now time.Time, fn func(*store.Application) error) (*store.Application, error)
	DeleteRegistration(ctx context.Context, tenantID, id, hash string, now time.Time, fn func(*store.Application) error) (*store.Application, error)
}

// Policy defaults: restrictive (Keycloak's lesson).
var (
	defaultRedirectHosts = []string{"localhost", "127.0.0.1", "::1"}
	defaultAllowedTypes  = []string{string(gen.Public)}
)

const (
	defaultDailyLimit        = 100
	defaultTokenLifetime     = 24 * time.Hour
	defaultRegistrationName  = "Registered client"
	registrationPolicyActor  = "registration-policy"
	initialAccessTokenPrefix = "iat_"
)

// ErrRegistrationTokenNotFound is revokeRegistrationToken's 404.
var ErrRegistrationTokenNotFound = errors.New("no initial access token with this id exists in your tenant")

// regError is an error of the registration endpoints, answered in RFC 7591's shape.
type regError struct {
	status int
	code   string
	desc   string
	header http.Header
}

func (e *regError) Error() string { return e.code + ": " + e.desc }

func regInvalidToken(desc string, missing bool) *regError {
	challenge := `Bearer realm="appreg"`
	if !missing {
		challenge += `, error="invalid_token", error_description=` + strconv.Quote(desc)
	}
	return &regError{status: http.StatusUnauthorized, code: "invalid_token", desc: capitalise(desc) + ".",
		header: http.Header{"WWW-Authenticate": {challenge}}}
}

func regDenied(desc string) *regError {
	return &regError{status: http.StatusForbidden, code: "access_denied", desc: desc}
}

func regMetadata(field, reason string) *regError {
	return &regError{status: http.StatusBadRequest, code: "invalid_client_metadata", desc: field + ": " + reason}
}

func regRetry(desc string, after time.Duration) *regError {
	secs := max(1, int((after+time.Second-1)/time.Second))
	return &regError{status: http.StatusTooManyRequests, code: "rate_limited",
		desc:   fmt.Sprintf("%s; retry after %d second(s).", desc, secs),
		header: http.Header{"Retry-After": {strconv.Itoa(secs)}}}
}

// isRegistrationPath reports whether path is one of the RFC 7591 / 7592 endpoints, whose
// errors have RFC 7591's shape.
func isRegistrationPath(path string) bool { return strings.HasPrefix(path, "/tenants/") }

// regRequest is what the registration handlers need of the HTTP request beyond the body.
type regRequest struct {
	token   string // the bearer token, "" when none was sent
	sent    bool   // an Authorization header was sent
	address string // the connection's peer address
	baseURL string // scheme://host of the request, for registration_client_uri
}

type regRequestKey struct{}

// registrationRequest keeps, for the registration paths, what their handlers read from the
// request: they authenticate with tokens of their own, not the platform's JWT.
func registrationRequest(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		header := r.Header.Get(echo.HeaderAuthorization)
		token, _ := bearerToken(header)
		rr := regRequest{token: token, sent: header != "", address: echo.ExtractIPDirect()(r),
			baseURL: c.Scheme() + "://" + r.Host}
		c.SetRequest(r.WithContext(context.WithValue(r.Context(), regRequestKey{}, rr)))
		return next(c)
	}
}

func regRequestOf(ctx context.Context) regRequest {
	rr, _ := ctx.Value(regRequestKey{}).(regRequest)
	return rr
}

// registrationLimiter limits anonymous registrations per tenant and per source address.
type registrationLimiter struct {
	tenants, addresses *tenantLimiter
}

func newRegistrationLimiter(perTenant, perAddress float64) *registrationLimiter {
	mk := func(perSecond float64, burst int) *tenantLimiter {
		if perSecond <= 0 {
			return nil
		}
		return &tenantLimiter{limit: rate.Limit(perSecond), burst: burst, buckets: map[string]*bucket{}}
	}
	return &registrationLimiter{tenants: mk(perTenant, 10), addresses: mk(perAddress, 5)}
}

func (l *registrationLimiter) allow(tenant, address string, now time.Time) error {
	if l.addresses != nil {
		if wait, ok := l.addresses.allow(address, now); !ok {
			return regRetry("Too many anonymous registrations from your address", wait)
		}
	}
	if l.tenants != nil {
		if wait, ok := l.tenants.allow(tenant, now); !ok {
			return regRetry("Too many anonymous registrations for this tenant", wait)
		}
	}
	return nil
}

// hashToken is the stored form of an initial or registration access token.
func hashToken(token string) string { return hashIssuedSecret(token) }

// registrationPolicy is tenantID's policy, or the defaults when it never set one.
func (s *Server) registrationPolicy(ctx context.Context, tenantID string) (*store.RegistrationPolicy, error) {
	if s.reg == nil {
		return nil, errors.New("registration: the store does not support registration")
	}
	p, err := s.reg.GetRegistrationPolicy(ctx, tenantID)
	if errors.Is(err, store.ErrNotFound) {
		d := defaultPolicy(tenantID)
		return &d, nil
	}
	return p, err
}

func defaultPolicy(tenantID string) store.RegistrationPolicy {
	return store.RegistrationPolicy{
		TenantID:             tenantID,
		InitialState:         string(gen.RegistrationPolicyInitialStateDisabled),
		AllowedRedirectHosts: slices.Clone(defaultRedirectHosts),
		AllowedTypes:         slices.Clone(defaultAllowedTypes),
		DailyLimit:           defaultDailyLimit,
		DefaultContacts:      []string{},
	}
}

// RegisterClient serves POST /tenants/{tenantId}/register (RFC 7591).
func (s *Server) RegisterClient(ctx context.Context, req gen.RegisterClientRequestObject) (gen.RegisterClientResponseObject, error) {
	rr := regRequestOf(ctx)
	tenant := string(req.TenantID)
	policy, err := s.registrationPolicy(ctx, tenant)
	if err != nil {
		return nil, err
	}
	if !policy.Enabled {
		return nil, regDenied("Dynamic registration is turned off for this tenant; ask its administrators.")
	}
	now := s.now()
	token, err := s.initialAccessToken(ctx, rr, tenant, policy.Anonymous, now)
	if err != nil {
		return nil, err
	}
	appType, spec, err := registrationMetadata(req.Body, policy)
	if err != nil {
		return nil, err
	}
	if token == nil {
		// Counted once the request is known to be a registration: refusing bad metadata
		// costs nothing worth limiting, and a client fixing its metadata is not held back.
		if err := s.regLimiter.allow(tenant, rr.address, time.Now()); err != nil {
			return nil, err
		}
	}
	app := registeredApplication(tenant, appType, spec, policy, token, now)
	secret, secrets, err := firstRegisteredSecret(app, now)
	if err != nil {
		return nil, err
	}
	rat, err := newSecret()
	if err != nil {
		return nil, err
	}
	err = s.reg.RegisterApplication(ctx, app, secrets, store.Registration{
		InitialTokenID: app.RegistrationTokenID, AccessTokenHash: hashToken(rat), DailyLimit: policy.DailyLimit,
	})
	switch {
	case errors.Is(err, store.ErrTokenRefused):
		return nil, regInvalidToken("the initial access token is expired, used up, revoked or unknown", false)
	case errors.Is(err, store.ErrDailyLimit):
		midnight := now.Truncate(24 * time.Hour).Add(24 * time.Hour)
		return nil, regRetry(fmt.Sprintf("This tenant's daily limit of %d registrations is reached", policy.DailyLimit), midnight.Sub(now))
	case err != nil:
		return nil, fmt.Errorf("register client: %w", err)
	}
	s.lookup.InvalidateWritten(app.ID, app.Origins)
	info := clientInformation(app, rr.baseURL, secret, rat)
	return gen.RegisterClient201JSONResponse(info), nil
}

// initialAccessToken is the registration's initial access token, or nil for an anonymous
// registration the policy allows; any other credential is refused.
func (s *Server) initialAccessToken(ctx context.Context, rr regRequest, tenant string, anonymous bool, now time.Time) (*store.InitialAccessToken, error) {
	switch {
	case rr.token == "" && rr.sent:
		// A credential that is not a bearer token is refused, not taken for none.
		return nil, regInvalidToken("send the initial access token as Authorization: Bearer <token>", false)
	case rr.token == "":
		if !anonymous {
			return nil, regInvalidToken("this tenant needs an initial access token to register", true)
		}
		return nil, nil
	}
	token, err := s.reg.InitialAccessTokenByHash(ctx, tenant, hashToken(rr.token))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if token == nil || !token.Usable(now) {
		return nil, regInvalidToken("the initial access token is expired, used up, revoked or unknown", false)
	}
	return token, nil
}

// registrationMetadata is the application a registration's metadata asks for, or the
// RFC 7591 error that refuses it.
func registrationMetadata(b *gen.ClientMetadata, policy *store.RegistrationPolicy) (string, appSpec, error) {
	if b == nil {
		return "", appSpec{}, regMetadata("body", "a JSON request body is required")
	}
	for field, set := range map[string]bool{
		"client_id": b.ClientID != nil, "client_secret": b.ClientSecret != nil,
		"client_id_issued_at": b.ClientIDIssuedAt != nil, "client_secret_expires_at": b.ClientSecretExpiresAt != nil,
		"registration_access_token": b.RegistrationAccessToken != nil, "registration_client_uri": b.RegistrationClientURI != nil,
	} {
		if set {
			return "", appSpec{}, regMetadata(field, "is assigned by the server; leave it out of a registration")
		}
	}
	return mapMetadata(b, policy, "")
}

// registeredApplication is the application a registration creates: enabled or not as the
// tenant's policy says, its creator the token or the anonymous registration.
func registeredApplication(tenant, appType string, spec appSpec, policy *store.RegistrationPolicy, token *store.InitialAccessToken, now time.Time) *store.Application {
	app := &store.Application{
		ID:                 uuid.NewString(),
		TenantID:           tenant,
		Type:               appType,
		Tenancy:            string(gen.Single),
		Enabled:            policy.InitialState == string(gen.RegistrationPolicyInitialStateEnabled),
		CreatedTime:        now,
		LastModifiedTime:   now,
		RegistrationMethod: store.RegistrationAnonymous,
	}
	if token != nil {
		app.RegistrationMethod, app.RegistrationTokenID = store.RegistrationInitialToken, token.ID
	}
	app.CreatedBy = registrationActor(app)
	app.LastModifiedBy = app.CreatedBy
	spec.applyTo(app)
	return app
}

// firstRegisteredSecret is the secret issued with a registered application that has one
// (not a public client), and its stored form.
func firstRegisteredSecret(app *store.Application, now time.Time) (string, []store.Secret, error) {
	if app.Type == string(gen.Public) {
		return "", nil, nil
	}
	secret, err := newSecret()
	if err != nil {
		return "", nil, err
	}
	return secret, []store.Secret{{ID: uuid.NewString(), ApplicationID: app.ID, Hash: hashIssuedSecret(secret), Hint: secretHint(secret), CreatedTime: now}}, nil
}

// registrationActor is the audit actor of a self-registered application's creation.
func registrationActor(a *store.Application) string {
	if a.RegistrationTokenID != "" {
		return "registration:" + a.RegistrationTokenID
	}
	return "registration:anonymous"
}

// clientActor is the audit actor of a client changing its own registration (RFC 7592).
func clientActor(id string) string { return "client:" + id }

// authorizeRegistration checks the registration access token of a request on
// /tenants/{tenantId}/register/{clientId} and returns the client and the token's hash. Every
// refusal is the same 401, as RFC 7592 asks for unknown clients too.
func (s *Server) authorizeRegistration(ctx context.Context, tenant, clientID string) (*store.Application, string, error) {
	if s.reg == nil {
		return nil, "", errors.New("registration: the store does not support registration")
	}
	rr := regRequestOf(ctx)
	if rr.token == "" {
		return nil, "", regInvalidToken("send the registration access token as Authorization: Bearer <token>", !rr.sent)
	}
	refused := regInvalidToken("the registration access token is not valid for this client", false)
	hash := hashToken(rr.token)
	stored, err := s.reg.RegistrationAccessTokenOf(ctx, clientID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", refused
	}
	if err != nil {
		return nil, "", err
	}
	if subtle.ConstantTimeCompare([]byte(stored.Hash), []byte(hash)) != 1 {
		return nil, "", refused
	}
	app, err := s.store.GetApplication(ctx, tenant, clientID, s.now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", refused
	}
	if err != nil {
		return nil, "", err
	}
	if app.ScheduledDeletionTime != nil {
		return nil, "", regInvalidToken("the client's deletion is scheduled", false)
	}
	return app, hash, nil
}

// ReadClientRegistration serves GET on a registration_client_uri (RFC 7592 section 2.1).
func (s *Server) ReadClientRegistration(ctx context.Context, req gen.ReadClientRegistrationRequestObject) (gen.ReadClientRegistrationResponseObject, error) {
	app, _, err := s.authorizeRegistration(ctx, string(req.TenantID), string(req.ClientID))
	if err != nil {
		return nil, err
	}
	return gen.ReadClientRegistration200JSONResponse(clientInformation(app, regRequestOf(ctx).baseURL, "", "")), nil
}

// UpdateClientRegistration serves PUT on a registration_client_uri (RFC 7592 section 2.2).
func (s *Server) UpdateClientRegistration(ctx context.Context, req gen.UpdateClientRegistrationRequestObject) (gen.UpdateClientRegistrationResponseObject, error) {
	tenant, id := string(req.TenantID), string(req.ClientID)
	cur, oldHash, err := s.authorizeRegistration(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	b := req.Body
	if b == nil {
		return nil, regMetadata("body", "a JSON request body is required")
	}
	if b.ClientID == nil || *b.ClientID != id {
		return nil, regMetadata("client_id", "must be sent and equal the client's id")
	}
	if b.ClientSecret != nil {
		secrets, err := s.store.ListSecrets(ctx, id)
		if err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(secrets, func(sec store.Secret) bool { return secretMatches(*b.ClientSecret, sec.Hash) }) {
			return nil, regMetadata("client_secret", "is not the client's current secret; leave it out or send the current one")
		}
	}
	policy, err := s.registrationPolicy(ctx, tenant)
	if err != nil {
		return nil, err
	}
	if !policy.Enabled {
		return nil, regDenied("Dynamic registration is turned off for this tenant, so registered clients cannot change themselves; ask its administrators.")
	}
	appType, spec, err := mapMetadata(b, policy, cur.Type)
	if err != nil {
		return nil, err
	}
	rat, err := newSecret()
	if err != nil {
		return nil, err
	}
	now := s.now()
	app, err := s.reg.UpdateRegisteredApplication(ctx, tenant, id, oldHash, hashToken(rat), now, func(a *store.Application) error {
		if a.Type != appType {
			return regMetadata("token_endpoint_auth_method", "the type of a client never changes; register a new client instead")
		}
		spec.applyTo(a)
		a.LastModifiedBy = clientActor(id)
		a.LastModifiedTime = now
		return nil
	})
	switch {
	case errors.Is(err, store.ErrTokenRefused), errors.Is(err, store.ErrNotFound):
		return nil, regInvalidToken("the registration access token is not valid for this client", false)
	case err != nil:
		return nil, err
	}
	s.lookup.InvalidateWritten(app.ID, app.Origins)
	return gen.UpdateClientRegistration200JSONResponse(clientInformation(app, regRequestOf(ctx).baseURL, "", rat)), nil
}

// DeleteClientRegistration serves DELETE on a registration_client_uri (RFC 7592 section
// 2.3): the two-step delete of every application, and the registration access token goes.
func (s *Server) DeleteClientRegistration(ctx context.Context, req gen.DeleteClientRegistrationRequestObject) (gen.DeleteClientRegistrationResponseObject, error) {
	tenant, id := string(req.TenantID), string(req.ClientID)
	_, hash, err := s.authorizeRegistration(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	now := s.now()
	app, err := s.reg.DeleteRegistration(ctx, tenant, id, hash, now, func(a *store.Application) error {
		if a.ScheduledDeletionTime == nil {
			at := now.Add(s.grace)
			a.ScheduledDeletionTime = &at
		}
		a.Enabled = false
		a.LastModifiedBy = clientActor(id)
		a.LastModifiedTime = now
		return nil
	})
	switch {
	case errors.Is(err, store.ErrTokenRefused), errors.Is(err, store.ErrNotFound):
		return nil, regInvalidToken("the registration access token is not valid for this client", false)
	case err != nil:
		return nil, err
	}
	s.lookup.InvalidateWritten(app.ID, app.Origins)
	return gen.DeleteClientRegistration204Response{}, nil
}

// grantsOf are the grants a type allows, as the lookup path answers them.
func grantsOf(appType string) []string {
	out := make([]string, len(grantTypes[appType]))
	for i, g := range grantTypes[appType] {
		out[i] = string(g)
	}
	return out
}

// mapMetadata maps RFC 7591 metadata onto an application of the tenant's policy: its type
// and spec, checked by the application rules and the policy. curType is the type of the
// client being updated, "" for a registration.
func mapMetadata(m *gen.ClientMetadata, policy *store.RegistrationPolicy, curType string) (string, appSpec, error) {
	switch {
	case m.JWKS != nil:
		return "", appSpec{}, regMetadata("jwks", "keys by value are not supported (clients authenticate with none or a client secret); publish them at a jwks_uri")
	case m.SoftwareStatement != nil:
		return "", appSpec{}, regMetadata("software_statement", "software statements are not supported; send the metadata as plain fields")
	}
	t, err := metadataType(m)
	if err != nil {
		return "", appSpec{}, err
	}
	if curType != "" && curType != t.appType {
		return "", appSpec{}, regMetadata("token_endpoint_auth_method",
			fmt.Sprintf("the client is %s and its type never changes (these metadata would make it %s); register a new client instead", curType, t.appType))
	}
	if !slices.Contains(policy.AllowedTypes, t.appType) {
		return "", appSpec{}, regDenied(fmt.Sprintf("This tenant's policy does not let %s clients register (token_endpoint_auth_method %s); it allows: %s.",
			t.appType, t.auth, strings.Join(policy.AllowedTypes, ", ")))
	}
	spec, err := metadataSpec(m, t, policy)
	if err != nil {
		return "", appSpec{}, err
	}
	return t.appType, spec, nil
}

// registeredType is what a registration's metadata make of the client: its type, from its
// token endpoint authentication method, grants and redirect URIs (RFC 7591 defaults).
type registeredType struct {
	appType, auth      string
	redirects, logouts []string
}

// metadataType reads the client's type from m and checks its grants and response types
// against it.
func metadataType(m *gen.ClientMetadata) (registeredType, error) {
	t := registeredType{auth: string(gen.RegAuthClientSecretBasic), redirects: []string{}, logouts: []string{}} // RFC 7591 section 2: the default
	if m.TokenEndpointAuthMethod != nil {
		t.auth = string(*m.TokenEndpointAuthMethod)
	}
	grants := []string{string(gen.RegGrantAuthorizationCode)}
	if m.GrantTypes != nil && len(*m.GrantTypes) > 0 {
		grants = grants[:0]
		for _, g := range *m.GrantTypes {
			grants = append(grants, string(g))
		}
	}
	responses := []string{}
	if m.ResponseTypes != nil {
		for _, r := range *m.ResponseTypes {
			responses = append(responses, string(r))
		}
	}
	if m.RedirectUris != nil {
		t.redirects = append(t.redirects, *m.RedirectUris...)
	}
	if m.PostLogoutRedirectUris != nil {
		t.logouts = append(t.logouts, *m.PostLogoutRedirectUris...)
	}

	t.appType = string(gen.Confidential)
	switch {
	case t.auth == string(gen.RegAuthNone):
		t.appType = string(gen.Public)
	case len(t.redirects) == 0 && slices.Equal(grants, []string{string(gen.RegGrantClientCredentials)}):
		t.appType = string(gen.Backend)
	}
	allowed := grantsOf(t.appType)
	for i, g := range grants {
		if !slices.Contains(allowed, g) {
			return t, regMetadata(fmt.Sprintf("grant_types[%d]", i),
				fmt.Sprintf("%s is not available to a %s client (token_endpoint_auth_method %s)", g, t.appType, t.auth))
		}
	}
	code := slices.Contains(grants, string(gen.RegGrantAuthorizationCode))
	switch {
	case t.appType != string(gen.Backend) && !code:
		return t, regMetadata("grant_types", "must include authorization_code, unless the client uses client_credentials only (and has no redirect_uris)")
	case code && m.ResponseTypes != nil && !slices.Contains(responses, string(gen.ClientMetadataResponseTypesCode)):
		return t, regMetadata("response_types", "must be [\"code\"] with the authorization_code grant")
	case !code && len(responses) > 0:
		return t, regMetadata("response_types", "must be empty without the authorization_code grant")
	}
	return t, nil
}

// metadataSpec is the application m describes, checked by the rules every application
// follows (checkSpec) and by the tenant's policy's redirect hosts.
func metadataSpec(m *gen.ClientMetadata, t registeredType, policy *store.RegistrationPolicy) (appSpec, error) {
	spec := appSpec{
		Name:         deref(m.ClientName),
		Contacts:     derefSlice(m.Contacts),
		Redirects:    t.redirects,
		Logouts:      t.logouts,
		Origins:      []string{},
		JWKSEndpoint: deref(m.JWKSURI),
		Scope:        deref(m.Scope),
	}
	if strings.TrimSpace(spec.Name) == "" {
		spec.Name = defaultRegistrationName
	}
	if len(spec.Contacts) == 0 {
		spec.Contacts = slices.Clone(policy.DefaultContacts)
		if len(spec.Contacts) == 0 {
			return spec, regMetadata("contacts", "at least one e-mail address is required, and this tenant's policy has no default contacts")
		}
	}
	if t.appType != string(gen.Public) {
		spec.AuthMethod = t.auth
	}
	if err := checkSpec(t.appType, &spec); err != nil {
		var ve *ValidationError
		if !errors.As(err, &ve) {
			return spec, err
		}
		return spec, metadataProblem(ve.Fields, true)
	}
	for field, list := range map[string][]string{"redirect_uris": spec.Redirects, "post_logout_redirect_uris": spec.Logouts} {
		for i, raw := range list {
			if host, ok := allowedHost(raw, policy.AllowedRedirectHosts); !ok {
				return spec, regDenied(fmt.Sprintf("%s[%d]: %s is not among the redirect hosts this tenant's policy allows for registered clients (%s).",
					field, i, host, strings.Join(policy.AllowedRedirectHosts, ", ")))
			}
		}
	}
	return spec, nil
}

// metadataNames are the RFC 7591 names of the application fields the rules name.
var metadataNames = map[string]string{
	"name": "client_name", "redirects": "redirect_uris", "logouts": "post_logout_redirect_uris",
	"jwksEndpoint": "jwks_uri", "authMethod": "token_endpoint_auth_method", "contacts": "contacts", "scope": "scope",
}

// metadataProblem is the RFC 7591 error for field errors, named as metadata:
// invalid_redirect_uri when a redirect URI is among them (by the application rules, which
// also want one, or by the schema, for one element), invalid_client_metadata otherwise.
func metadataProblem(fields []FieldError, rules bool) *regError {
	code := "invalid_client_metadata"
	parts := make([]string, len(fields))
	for i, f := range fields {
		name, rest := f.Field, ""
		if j := strings.IndexByte(name, '['); j >= 0 {
			name, rest = name[:j], name[j:]
		}
		if n, ok := metadataNames[name]; ok {
			name = n
		}
		if name == "redirect_uris" && (rules || rest != "") {
			code = "invalid_redirect_uri"
		}
		parts[i] = name + rest + ": " + f.Reason
	}
	return &regError{status: http.StatusBadRequest, code: code, desc: strings.Join(parts, "; ")}
}

// allowedHost reports whether the host of raw (or, for a private-use scheme, the scheme) is
// allowed by hosts: an exact, case-insensitive match, or "*.example.com" for subdomains.
func allowedHost(raw string, hosts []string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil {
		return raw, false
	}
	host := strings.ToLower(u.Hostname())
	if s := strings.ToLower(u.Scheme); s != "http" && s != "https" {
		host = s
	}
	for _, h := range hosts {
		h = strings.ToLower(h)
		if h == host || strings.HasPrefix(h, "*.") && strings.HasSuffix(host, h[1:]) {
			return host, true
		}
	}
	return host, false
}

// clientInformation is the RFC 7591 / 7592 answer for app; secret and rat ("" for none) are
// its client secret and registration access token when just issued.
func clientInformation(a *store.Application, baseURL, secret, rat string) gen.ClientInformation {
	auth := gen.InfoAuthNone
	if a.Type != string(gen.Public) {
		auth = gen.ClientInformationTokenEndpointAuthMethod(a.AuthMethod)
	}
	out := gen.ClientInformation{
		ClientID:                a.ID,
		ClientIDIssuedAt:        a.CreatedTime.Unix(),
		ClientName:              a.Name,
		RedirectUris:            nonNil(a.Redirects),
		TokenEndpointAuthMethod: auth,
		GrantTypes:              []gen.ClientInformationGrantTypes{},
		ResponseTypes:           []gen.ClientInformationResponseTypes{},
		Contacts:                nonNil(a.Contacts),
		RegistrationClientURI:   baseURL + "/tenants/" + url.PathEscape(a.TenantID) + "/register/" + url.PathEscape(a.ID),
	}
	for _, g := range grantsOf(a.Type) {
		out.GrantTypes = append(out.GrantTypes, gen.ClientInformationGrantTypes(g))
		if g == string(gen.RegGrantAuthorizationCode) {
			out.ResponseTypes = append(out.ResponseTypes, gen.ClientInformationResponseTypesCode)
		}
	}
	if len(a.Logouts) > 0 {
		out.PostLogoutRedirectUris = ptrTo(slices.Clone(a.Logouts))
	}
	if a.Scope != "" {
		out.Scope = ptrTo(a.Scope)
	}
	if a.JWKSEndpoint != "" {
		out.JWKSURI = ptrTo(a.JWKSEndpoint)
	}
	if a.Type != string(gen.Public) {
		out.ClientSecretExpiresAt = ptrTo(int64(0))
	}
	if secret != "" {
		out.ClientSecret = ptrTo(secret)
	}
	if rat != "" {
		out.RegistrationAccessToken = ptrTo(rat)
	}
	return out
}

// registrationOf is the Application schema's read-only registration field.
func registrationOf(a *store.Application) *gen.ApplicationRegistration {
	if a.RegistrationMethod == "" {
		return nil
	}
	r := &gen.ApplicationRegistration{Method: gen.ApplicationRegistrationMethod(a.RegistrationMethod)}
	if a.RegistrationTokenID != "" {
		r.TokenID = ptrTo(a.RegistrationTokenID)
	}
	return r
}

// registrationProblem writes p, an error of a registration path, in RFC 7591's shape.
func registrationProblem(err error, p problem) (int, gen.RegistrationError, http.Header) {
	var re *regError
	if errors.As(err, &re) {
		return re.status, gen.RegistrationError{Error: re.code, ErrorDescription: re.desc}, re.header
	}
	code := p.code
	switch p.code {
	case "invalid_request":
		if len(p.fields) > 0 && !slices.ContainsFunc(p.fields, func(f FieldError) bool { return f.Field == "tenantId" || f.Field == "clientId" }) {
			re := metadataProblem(p.fields, false)
			return re.status, gen.RegistrationError{Error: re.code, ErrorDescription: re.desc}, p.header
		}
	case "request_too_large", "unsupported_media_type":
		code = "invalid_request"
	case "service_unavailable", "not_ready":
		code = "temporarily_unavailable"
	}
	return p.status, gen.RegistrationError{Error: code, ErrorDescription: p.detail}, p.header
}
