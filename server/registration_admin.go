package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/cxone/appreg/gen"
	"github.com/cxone/appreg/store"
)

// GetRegistrationPolicy serves GET /registration-policy.
func (s *Server) GetRegistrationPolicy(ctx context.Context, _ gen.GetRegistrationPolicyRequestObject) (gen.GetRegistrationPolicyResponseObject, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	policy, err := s.registrationPolicy(ctx, p.TenantID)
	if err != nil {
		return nil, err
	}
	return gen.GetRegistrationPolicy200JSONResponse(policyAPI(policy)), nil
}

// PutRegistrationPolicy serves PUT /registration-policy: the fields sent change, the others
// keep their values.
func (s *Server) PutRegistrationPolicy(ctx context.Context, req gen.PutRegistrationPolicyRequestObject) (gen.PutRegistrationPolicyResponseObject, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	b := req.Body
	if b == nil {
		return nil, invalid("body", "a JSON request body is required")
	}
	if s.reg == nil {
		return nil, errors.New("registration: the store does not support registration")
	}
	var ve ValidationError
	var hosts, contacts []string
	if b.AllowedRedirectHosts != nil {
		hosts = checkList(&ve, "allowedRedirectHosts", *b.AllowedRedirectHosts, 100, normalizeRedirectHost)
	}
	if b.DefaultContacts != nil {
		contacts = checkList(&ve, "defaultContacts", *b.DefaultContacts, maxContacts, normalizeContact)
	}
	if err := ve.Err(); err != nil {
		return nil, err
	}
	now := s.now()
	saved, err := s.reg.UpdateRegistrationPolicy(ctx, p.TenantID, defaultPolicy(p.TenantID), func(cur *store.RegistrationPolicy) error {
		if b.Enabled != nil {
			cur.Enabled = *b.Enabled
		}
		if b.Anonymous != nil {
			cur.Anonymous = *b.Anonymous
		}
		if b.InitialState != nil {
			cur.InitialState = string(*b.InitialState)
		}
		if b.AllowedRedirectHosts != nil {
			cur.AllowedRedirectHosts = hosts
		}
		if b.AllowedTypes != nil {
			cur.AllowedTypes = cur.AllowedTypes[:0]
			for _, t := range *b.AllowedTypes {
				if !slices.Contains(cur.AllowedTypes, string(t)) {
					cur.AllowedTypes = append(cur.AllowedTypes, string(t))
				}
			}
		}
		if b.DailyLimit != nil {
			cur.DailyLimit = *b.DailyLimit
		}
		if b.DefaultContacts != nil {
			cur.DefaultContacts = contacts
		}
		if b.DeleteUnusedAfterDays != nil {
			cur.DeleteUnusedAfterDays = *b.DeleteUnusedAfterDays
		}
		if cur.Enabled && len(cur.DefaultContacts) == 0 {
			return invalid("defaultContacts", "set at least one default contact to enable registration: MCP clients send no contacts, and every application needs one")
		}
		cur.LastModifiedBy = p.Subject
		cur.LastModifiedTime = now
		return nil
	})
	if err != nil {
		return nil, err
	}
	return gen.PutRegistrationPolicy200JSONResponse(policyAPI(saved)), nil
}

// normalizeRedirectHost accepts a host name, an IP address, "*.example.com" or a private-use
// URI scheme (com.example.app), lower-cased; brackets around an IPv6 address are dropped.
func normalizeRedirectHost(raw string) (string, string) {
	h := strings.ToLower(strings.TrimSpace(raw))
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	const want = "must be a host name, an IP address, *.example.com or a private-use URI scheme such as com.example.app"
	switch {
	case h == "localhost", net.ParseIP(h) != nil:
		return h, ""
	case strings.HasPrefix(h, "*."):
		if validDomain(h[2:]) {
			return h, ""
		}
	case validDomain(h):
		return h, ""
	}
	return "", want
}

func policyAPI(p *store.RegistrationPolicy) gen.RegistrationPolicy {
	out := gen.RegistrationPolicy{
		Enabled:               p.Enabled,
		Anonymous:             p.Anonymous,
		InitialState:          gen.RegistrationPolicyInitialState(p.InitialState),
		AllowedRedirectHosts:  nonNil(p.AllowedRedirectHosts),
		AllowedTypes:          make([]gen.ApplicationType, len(p.AllowedTypes)),
		DailyLimit:            p.DailyLimit,
		DefaultContacts:       nonNil(p.DefaultContacts),
		DeleteUnusedAfterDays: p.DeleteUnusedAfterDays,
	}
	for i, t := range p.AllowedTypes {
		out.AllowedTypes[i] = gen.ApplicationType(t)
	}
	if p.LastModifiedBy != "" {
		out.LastModifiedBy = ptrTo(p.LastModifiedBy)
		out.LastModifiedTime = ptrTo(p.LastModifiedTime.UTC())
	}
	return out
}

// CreateRegistrationToken serves POST /registration-tokens.
func (s *Server) CreateRegistrationToken(ctx context.Context, req gen.CreateRegistrationTokenRequestObject) (gen.CreateRegistrationTokenResponseObject, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if s.reg == nil {
		return nil, errors.New("registration: the store does not support registration")
	}
	b := req.Body
	if b == nil {
		return nil, invalid("body", "a JSON request body is required")
	}
	lifetime, uses := defaultTokenLifetime, 1
	if b.ExpiresIn != nil {
		lifetime = time.Duration(*b.ExpiresIn) * time.Second
	}
	if b.Uses != nil {
		uses = *b.Uses
	}
	desc, reason := cleanText(deref(b.Description), 256, false)
	if reason != "" {
		return nil, invalid("description", reason)
	}
	value, err := newSecret()
	if err != nil {
		return nil, err
	}
	value = initialAccessTokenPrefix + value
	now := s.now()
	t := &store.InitialAccessToken{
		ID: uuid.NewString(), TenantID: p.TenantID, Hash: hashToken(value), Description: desc,
		UsesLeft: uses, ExpiresTime: now.Add(lifetime), CreatedBy: p.Subject, CreatedTime: now,
	}
	if err := s.reg.CreateInitialAccessToken(ctx, t); err != nil {
		return nil, fmt.Errorf("create initial access token: %w", err)
	}
	api := tokenAPI(t, now)
	return gen.CreateRegistrationToken201JSONResponse{
		ID: api.ID, Token: value, ExpiresTime: api.ExpiresTime, UsesLeft: api.UsesLeft, Description: api.Description,
		State: gen.InitialAccessTokenIssuedState(api.State), CreatedBy: api.CreatedBy, CreatedTime: api.CreatedTime,
	}, nil
}

// ListRegistrationTokens serves GET /registration-tokens.
func (s *Server) ListRegistrationTokens(ctx context.Context, _ gen.ListRegistrationTokensRequestObject) (gen.ListRegistrationTokensResponseObject, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if s.reg == nil {
		return nil, errors.New("registration: the store does not support registration")
	}
	tokens, err := s.reg.ListInitialAccessTokens(ctx, p.TenantID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := gen.ListRegistrationTokens200JSONResponse{Tokens: make([]gen.InitialAccessToken, len(tokens))}
	for i := range tokens {
		out.Tokens[i] = tokenAPI(&tokens[i], now)
	}
	return out, nil
}

// RevokeRegistrationToken serves DELETE /registration-tokens/{tokenId}.
func (s *Server) RevokeRegistrationToken(ctx context.Context, req gen.RevokeRegistrationTokenRequestObject) (gen.RevokeRegistrationTokenResponseObject, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if s.reg == nil {
		return nil, errors.New("registration: the store does not support registration")
	}
	err = s.reg.RevokeInitialAccessToken(ctx, p.TenantID, req.TokenID.String(), s.now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrRegistrationTokenNotFound
	}
	if err != nil {
		return nil, err
	}
	return gen.RevokeRegistrationToken204Response{}, nil
}

func tokenAPI(t *store.InitialAccessToken, now time.Time) gen.InitialAccessToken {
	state := gen.InitialAccessTokenStateActive
	switch {
	case t.RevokedTime != nil:
		state = gen.InitialAccessTokenStateRevoked
	case !now.Before(t.ExpiresTime):
		state = gen.InitialAccessTokenStateExpired
	case t.UsesLeft <= 0:
		state = gen.InitialAccessTokenStateUsedUp
	}
	id, _ := uuid.Parse(t.ID)
	return gen.InitialAccessToken{
		ID: openapi_types.UUID(id), ExpiresTime: t.ExpiresTime.UTC(), UsesLeft: t.UsesLeft,
		Description: t.Description, State: state, CreatedBy: t.CreatedBy, CreatedTime: t.CreatedTime.UTC(),
		RevokedTime: utcPtr(t.RevokedTime),
	}
}

// UnusedRegistrationStore is what the purger needs to apply the policies'
// deleteUnusedAfterDays.
type UnusedRegistrationStore interface {
	UnusedRegistrations(ctx context.Context, now time.Time, limit int) ([]store.UnusedRegistration, error)
	UpdateApplication(ctx context.Context, tenantID, id string, now time.Time, fn func(*store.Application) error) (*store.Application, error)
}

// errSkip leaves an application as it is in scheduleUnused's update.
var errSkip = errors.New("skip")

// scheduleUnused schedules the deletion of the registered clients that their tenant's policy
// deletes when unused, and returns how many it scheduled. Each is checked again under its
// row lock, so replicas running it at once schedule each client once, and one used meanwhile
// is kept.
func scheduleUnused(ctx context.Context, st UnusedRegistrationStore, now time.Time, grace time.Duration, batch int, log *slog.Logger) (int, error) {
	due, err := st.UnusedRegistrations(ctx, now, batch)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, u := range due {
		_, err := st.UpdateApplication(ctx, u.TenantID, u.ID, now, func(a *store.Application) error {
			if a.RegistrationMethod == "" || a.LastUsedTime != nil || a.ScheduledDeletionTime != nil {
				return errSkip
			}
			at := now.Add(grace)
			a.ScheduledDeletionTime = &at
			a.Enabled = false
			a.LastModifiedBy = registrationPolicyActor
			a.LastModifiedTime = now
			return nil
		})
		switch {
		case err == nil:
			n++
			log.InfoContext(ctx, "unused registered client scheduled for deletion",
				slog.String("application_id", u.ID), slog.String("tenant_id", u.TenantID))
		case errors.Is(err, errSkip), errors.Is(err, store.ErrNotFound):
		default:
			return n, err
		}
	}
	return n, nil
}
