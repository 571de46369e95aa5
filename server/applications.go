package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/cxone/appreg/gen"
	"github.com/cxone/appreg/server/auth"
	"github.com/cxone/appreg/store"
)

// ListApplication lists the caller's applications, all of them or a page, optionally filtered
// by type, state and a search.
func (s *Server) ListApplication(ctx context.Context, req gen.ListApplicationRequestObject) (gen.ListApplicationResponseObject, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	q := store.ListQuery{TenantID: p.TenantID}
	if err := listFilters(req.Params, &q); err != nil {
		return nil, err
	}
	return s.list(ctx, q, req.Params.Limit, req.Params.Cursor)
}

// maxSearch is the longest q the contract accepts, in characters.
const maxSearch = 128

// listFilters sets the filters of params on q. The request validator already refuses what
// the contract does not allow; this refuses it again, with the field named, for callers that
// bypass it, and refuses what the contract cannot say: a q that is not UTF-8 text, or holds
// NUL, which PostgreSQL refuses in any text (a 500 otherwise).
func listFilters(params gen.ListApplicationParams, q *store.ListQuery) error {
	var ve ValidationError
	if t := params.Type; t != nil {
		if !t.Valid() {
			ve.Add("type", "must be one of confidential, public, backend")
		}
		q.Type = string(*t)
	}
	if st := params.State; st != nil {
		if !st.Valid() {
			ve.Add("state", "must be one of enabled, disabled, pendingDeletion")
		}
		q.State = string(*st)
	}
	if search := params.Q; search != nil {
		switch n := utf8.RuneCountInString(*search); {
		case !utf8.ValidString(*search) || strings.ContainsRune(*search, 0):
			ve.Add("q", "must be UTF-8 text without NUL characters")
		case n == 0 || n > maxSearch:
			ve.Add("q", fmt.Sprintf("must be 1 to %d characters; leave it out to list every application", maxSearch))
		}
		q.Search = *search
	}
	return ve.Err()
}

// list runs a listing query with the optional paging parameters, answered by s.lists. A
// listing with the console's filters (type, state, q) carries the filters' fingerprint in its
// cursors: a cursor sent with other filters is a 400.
func (s *Server) list(ctx context.Context, q store.ListQuery, limit *int, cursor *string) (applicationList, error) {
	q.Now = s.now()
	if limit != nil {
		q.Limit = *limit
	}
	fingerprint := filtersFingerprint(q)
	if cursor != nil {
		c, err := decodeCursorFor(*cursor, fingerprint)
		switch {
		case errors.Is(err, errCursorFilters):
			return applicationList{}, invalid("cursor", "was issued for a listing with other filters (type, state, q); send the filters it was issued with, or list again without a cursor")
		case err != nil:
			return applicationList{}, invalid("cursor", "is not a cursor this service issued; pass nextCursor unchanged")
		}
		q.After = c
	}
	l, err := s.lists.list(ctx, q)
	if err != nil {
		return applicationList{}, fmt.Errorf("list applications: %w", err)
	}
	out := applicationList{apps: l.apps}
	if l.more && len(l.rows) > 0 {
		last := l.rows[len(l.rows)-1]
		next := encodeCursorFor(store.Cursor{CreatedTime: last.CreatedTime, ID: last.ID}, fingerprint)
		out.nextCursor = &next
	}
	return out, nil
}

// CreateApplication registers an application and, for confidential and
// backend applications, issues its secret.
func (s *Server) CreateApplication(ctx context.Context, req gen.CreateApplicationRequestObject) (gen.CreateApplicationResponseObject, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	b := req.Body
	if b == nil {
		return nil, invalid("body", "a JSON request body is required")
	}
	imported := b.ID != nil || b.Secret != nil || b.TenantID != nil
	if imported && !p.HasRole(auth.RoleAdmin) {
		return nil, &authError{status: http.StatusForbidden, reason: "importing an application with its id, secret or tenantId needs the role " + auth.RoleAdmin}
	}
	app, err := s.newApplication(p, b, imported)
	if err != nil {
		return nil, err
	}
	shown, secrets, err := firstSecret(app, b, imported)
	if err != nil {
		return nil, err
	}
	replay, err := s.createOnce(ctx, p, req.Params.IdempotencyKey, b, app, secrets)
	switch {
	case replay != nil:
		return replayedCreation(replay)
	case err != nil:
		return nil, err
	}
	s.lookup.InvalidateWritten(app.ID, app.Origins)
	return gen.CreateApplication201JSONResponse{
		Body:    withSecret(toAPI(app), shown),
		Headers: gen.CreateApplication201ResponseHeaders{ETag: etagOf(app)},
	}, nil
}

// newApplication checks b and returns the application it creates for p: in p's tenant with a
// new id, or with the tenant and id b imports.
func (s *Server) newApplication(p auth.Principal, b *gen.ApplicationCreate, imported bool) (*store.Application, error) {
	appType := string(b.Type)
	spec := createSpec(b)
	var ve ValidationError
	if err := checkSpec(appType, &spec); err != nil {
		var specErr *ValidationError
		if !errors.As(err, &specErr) {
			return nil, err
		}
		ve.Fields = append(ve.Fields, specErr.Fields...)
	}
	if b.SecretExpiresIn != nil && appType == string(gen.Public) {
		ve.Add("secretExpiresIn", "a public application has no secret")
	}
	tenantID, id := p.TenantID, uuid.NewString()
	if imported {
		checkImport(b, appType, &ve)
		tenantID, id = deref(b.TenantID), deref(b.ID)
	}
	if err := ve.Err(); err != nil {
		return nil, err
	}

	now := s.now()
	app := &store.Application{
		ID:               id,
		TenantID:         tenantID,
		Type:             appType,
		Tenancy:          string(gen.Single),
		Enabled:          true,
		CreatedBy:        p.Subject,
		CreatedTime:      now,
		LastModifiedBy:   p.Subject,
		LastModifiedTime: now,
	}
	spec.applyTo(app)
	if b.Tenancy != nil && *b.Tenancy == gen.All {
		app.Tenancy = string(gen.All)
		app.TenancyApproval = string(gen.Pending)
	}
	return app, nil
}

// createSpec is the part of a creation's body that a patch can change later.
func createSpec(b *gen.ApplicationCreate) appSpec {
	return appSpec{
		Name:         b.Name,
		Description:  deref(b.Description),
		Contacts:     b.Contacts,
		Redirects:    derefSlice(b.Redirects),
		Origins:      derefSlice(b.Origins),
		Logouts:      derefSlice(b.Logouts),
		AuthMethod:   string(deref(b.AuthMethod)),
		JWKSEndpoint: deref(b.JWKSEndpoint),
		Scope:        deref(b.Scope),
	}
}

// firstSecret returns the secret app is created with, issued here or imported from b, and
// the secret the answer shows: the one issued; an imported one, which the operator brought,
// is not shown back. A public application has none.
func firstSecret(app *store.Application, b *gen.ApplicationCreate, imported bool) (shown string, secrets []store.Secret, err error) {
	if app.Type == string(gen.Public) {
		return "", nil, nil
	}
	var secret, hash string
	if imported {
		secret = deref(b.Secret)
		hash, err = hashImportedSecret(secret)
	} else {
		secret, err = newSecret()
		if err == nil {
			hash = hashIssuedSecret(secret)
			shown = secret
		}
	}
	if err != nil {
		return "", nil, err
	}
	now := app.CreatedTime
	sec := store.Secret{ID: uuid.NewString(), ApplicationID: app.ID, Hash: hash, Hint: secretHint(secret), CreatedTime: now}
	if b.SecretExpiresIn != nil {
		expires := now.Add(time.Duration(*b.SecretExpiresIn) * time.Second)
		sec.ExpiresTime = &expires
	}
	return shown, []store.Secret{sec}, nil
}

// createOnce stores app and its secrets, once for an idempotency key: when the key was used
// before for the same request, or a twin request with it committed first, it stores nothing
// and returns the first answer to replay.
func (s *Server) createOnce(ctx context.Context, p auth.Principal, key *string, b *gen.ApplicationCreate, app *store.Application, secrets []store.Secret) (*replayed, error) {
	idem, replay, err := s.idempotency(ctx, p, "createApplication", key, b)
	if err != nil || replay != nil {
		return replay, err
	}
	var rec *store.IdempotencyRecord
	if idem != nil {
		// The replayable answer never carries the secret.
		rec = idem.record(http.StatusCreated, withSecret(toAPI(app), ""))
	}
	err = s.store.CreateApplicationIdempotent(ctx, app, secrets, rec)
	if errors.Is(err, store.ErrIdempotencyKeyExists) {
		// A twin with the same key committed first: answer as it did.
		_, replay, err = s.idempotency(ctx, p, "createApplication", key, b)
		if replay == nil && err == nil {
			err = ErrIdempotencyKeyReused
		}
	}
	switch {
	case replay != nil:
		return replay, nil
	case errors.Is(err, store.ErrConflict):
		return nil, ErrIDTaken
	case err != nil:
		return nil, fmt.Errorf("create application: %w", err)
	}
	return nil, nil
}

// replayedCreation answers a createApplication repeated with its idempotency key as the first
// one was answered, without the secret.
func replayedCreation(replay *replayed) (gen.CreateApplicationResponseObject, error) {
	var first gen.ApplicationWithSecret
	if err := replay.decode(&first); err != nil {
		return nil, err
	}
	return gen.CreateApplication201JSONResponse{
		Body:    first,
		Headers: gen.CreateApplication201ResponseHeaders{IdempotentReplayed: ptrTo("true")},
	}, nil
}

// checkImport applies the rules of the import form: an id that fits the
// published paths, the owner tenant, and a secret exactly when the type has one.
func checkImport(b *gen.ApplicationCreate, appType string, ve *ValidationError) {
	if b.ID == nil {
		ve.Add("id", "is required in the import form")
	} else if reason := validImportedID(*b.ID); reason != "" {
		ve.Add("id", reason)
	}
	if b.TenantID == nil || *b.TenantID == "" {
		ve.Add("tenantId", "is required in the import form")
	}
	switch {
	case appType == string(gen.Public) && b.Secret != nil:
		ve.Add("secret", "public applications have no secret")
	case appType != string(gen.Public) && b.Secret == nil:
		ve.Add("secret", "is required to import a "+appType+" application")
	}
}

// ViewApplication returns one application of the caller's tenant.
func (s *Server) ViewApplication(ctx context.Context, req gen.ViewApplicationRequestObject) (gen.ViewApplicationResponseObject, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	app, err := s.store.GetApplication(ctx, p.TenantID, req.ApplicationID, s.now())
	if err != nil {
		return nil, storeErr(err)
	}
	return viewApplicationResponse{app: toAPI(app), etag: *etagOf(app)}, nil
}

// PatchApplication changes the fields present in the body.
func (s *Server) PatchApplication(ctx context.Context, req gen.PatchApplicationRequestObject) (gen.PatchApplicationResponseObject, error) {
	b := req.Body
	if b == nil {
		return nil, invalid("body", "a JSON request body is required")
	}
	app, err := s.update(ctx, req.ApplicationID, req.Params.IfMatch, func(a *store.Application) error {
		if a.ScheduledDeletionTime != nil {
			return ErrLocked
		}
		var ve ValidationError
		checkReadOnly(b, a, &ve)
		spec := specOf(a)
		spec.patch(b)
		if err := checkSpec(a.Type, &spec); err != nil {
			var specErr *ValidationError
			if !errors.As(err, &specErr) {
				return err
			}
			ve.Fields = append(ve.Fields, specErr.Fields...)
		}
		if err := ve.Err(); err != nil {
			return err
		}
		if reflect.DeepEqual(spec, specOf(a)) {
			return errUnchanged
		}
		spec.applyTo(a)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return gen.PatchApplication200JSONResponse{Body: toAPI(app), Headers: gen.PatchApplication200ResponseHeaders{ETag: etagOf(app)}}, nil
}

// DeleteApplication disables and locks the application and schedules its
// permanent deletion. A second DELETE keeps the first schedule.
func (s *Server) DeleteApplication(ctx context.Context, req gen.DeleteApplicationRequestObject) (gen.DeleteApplicationResponseObject, error) {
	app, err := s.update(ctx, req.ApplicationID, req.Params.IfMatch, func(a *store.Application) error {
		if a.ScheduledDeletionTime != nil {
			return errUnchanged
		}
		at := s.now().Add(s.grace)
		a.ScheduledDeletionTime = &at
		a.Enabled = false
		return nil
	})
	if err != nil {
		return nil, err
	}
	return gen.DeleteApplication200JSONResponse{Body: toAPI(app), Headers: gen.DeleteApplication200ResponseHeaders{ETag: etagOf(app)}}, nil
}

// EnableApplication serves POST /applications/{id}-enable.
func (s *Server) EnableApplication(ctx context.Context, req gen.EnableApplicationRequestObject) (gen.EnableApplicationResponseObject, error) {
	if err := s.enable(ctx, req.ApplicationID, req.Params.IfMatch); err != nil {
		return nil, err
	}
	return gen.EnableApplication204Response{}, nil
}

// EnableApplicationAlias serves POST /applications/{id}/enable.
func (s *Server) EnableApplicationAlias(ctx context.Context, req gen.EnableApplicationAliasRequestObject) (gen.EnableApplicationAliasResponseObject, error) {
	if err := s.enable(ctx, req.ApplicationID, req.Params.IfMatch); err != nil {
		return nil, err
	}
	return gen.EnableApplicationAlias204Response{}, nil
}

// DisableApplication serves POST /applications/{id}-disable.
func (s *Server) DisableApplication(ctx context.Context, req gen.DisableApplicationRequestObject) (gen.DisableApplicationResponseObject, error) {
	if err := s.disable(ctx, req.ApplicationID, req.Params.IfMatch); err != nil {
		return nil, err
	}
	return gen.DisableApplication204Response{}, nil
}

// DisableApplicationAlias serves POST /applications/{id}/disable.
func (s *Server) DisableApplicationAlias(ctx context.Context, req gen.DisableApplicationAliasRequestObject) (gen.DisableApplicationAliasResponseObject, error) {
	if err := s.disable(ctx, req.ApplicationID, req.Params.IfMatch); err != nil {
		return nil, err
	}
	return gen.DisableApplicationAlias204Response{}, nil
}

// enable enables the application and, when its deletion is scheduled,
// unlocks it and cancels the deletion.
func (s *Server) enable(ctx context.Context, id string, ifMatch *string) error {
	_, err := s.update(ctx, id, ifMatch, func(a *store.Application) error {
		if a.Enabled && a.ScheduledDeletionTime == nil {
			return errUnchanged
		}
		a.Enabled = true
		a.ScheduledDeletionTime = nil
		return nil
	})
	return err
}

// disable disables the application; a locked one refuses.
func (s *Server) disable(ctx context.Context, id string, ifMatch *string) error {
	_, err := s.update(ctx, id, ifMatch, func(a *store.Application) error {
		if a.ScheduledDeletionTime != nil {
			return ErrLocked
		}
		if !a.Enabled {
			return errUnchanged
		}
		a.Enabled = false
		return nil
	})
	return err
}

// errUnchanged tells update that fn changed nothing: the application is
// answered as it is, without a write.
var errUnchanged = errors.New("unchanged")

// update runs fn on the caller's application in one locked read-modify-write
// and stamps who changed it and when.
func (s *Server) update(ctx context.Context, id string, ifMatch *string, fn func(*store.Application) error) (*store.Application, error) {
	return s.updateWith(ctx, id, ifMatch, nil, fn)
}

// updateWith is update that also saves, in the same transaction, the
// idempotency record rec makes of the saved application (nil for none).
func (s *Server) updateWith(ctx context.Context, id string, ifMatch *string, rec func(*store.Application) *store.IdempotencyRecord, fn func(*store.Application) error) (*store.Application, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var unchanged *store.Application
	app, err := s.store.UpdateApplicationIdempotent(ctx, p.TenantID, id, now, rec, func(a *store.Application) error {
		if ifMatch != nil && !etagMatches(*ifMatch, a) {
			return ErrPreconditionFailed
		}
		if err := fn(a); err != nil {
			if errors.Is(err, errUnchanged) {
				cp := *a
				unchanged = &cp
			}
			return err
		}
		a.LastModifiedBy = p.Subject
		a.LastModifiedTime = now
		return nil
	})
	if errors.Is(err, errUnchanged) {
		return unchanged, nil
	}
	if err != nil {
		return nil, storeErr(err)
	}
	s.lookup.InvalidateWritten(app.ID, app.Origins)
	return app, nil
}

// storeErr maps the data layer's sentinels to domain errors and leaves
// domain errors from update closures as they are.
func storeErr(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	}
	return err
}

// specOf is the changeable part of a stored application.
func specOf(a *store.Application) appSpec {
	return appSpec{
		Name:         a.Name,
		Description:  a.Description,
		Contacts:     nonNil(a.Contacts),
		Redirects:    nonNil(a.Redirects),
		Origins:      nonNil(a.Origins),
		Logouts:      nonNil(a.Logouts),
		AuthMethod:   a.AuthMethod,
		JWKSEndpoint: a.JWKSEndpoint,
		Scope:        a.Scope,
	}
}

// applyTo writes the spec onto a stored application.
func (sp appSpec) applyTo(a *store.Application) {
	a.Name = sp.Name
	a.Description = sp.Description
	a.Contacts = sp.Contacts
	a.Redirects = sp.Redirects
	a.Origins = sp.Origins
	a.Logouts = sp.Logouts
	a.AuthMethod = sp.AuthMethod
	a.JWKSEndpoint = sp.JWKSEndpoint
	a.Scope = sp.Scope
}

// patch overwrites the fields present in a PATCH body.
func (sp *appSpec) patch(b *gen.ApplicationPatch) {
	if b.Name != nil {
		sp.Name = *b.Name
	}
	if b.Description != nil {
		sp.Description = *b.Description
	}
	if b.Contacts != nil {
		sp.Contacts = *b.Contacts
	}
	if b.Redirects != nil {
		sp.Redirects = *b.Redirects
	}
	if b.Origins != nil {
		sp.Origins = *b.Origins
	}
	if b.Logouts != nil {
		sp.Logouts = *b.Logouts
	}
	if b.AuthMethod != nil {
		sp.AuthMethod = string(*b.AuthMethod)
	}
	if b.JWKSEndpoint != nil {
		sp.JWKSEndpoint = *b.JWKSEndpoint
	}
	if b.Scope != nil {
		sp.Scope = *b.Scope
	}
}

// checkReadOnly accepts read-only fields that SDKs send back unchanged and
// refuses those that differ. lastUsedTime is left out: the lookup path moves
// it at any moment, so a whole-object round trip could never match it.
func checkReadOnly(b *gen.ApplicationPatch, a *store.Application, ve *ValidationError) {
	cur := toAPI(a)
	differs := func(field, why string) {
		ve.Add(field, "is read-only and differs from the current value; "+why)
	}
	const resend = "send it unchanged or leave it out"
	if b.ID != nil && *b.ID != cur.ID {
		differs("id", resend)
	}
	if b.TenantID != nil && *b.TenantID != cur.TenantID {
		differs("tenantId", "an application cannot move to another tenant")
	}
	if b.Type != nil && *b.Type != cur.Type {
		differs("type", "the type of an application never changes; register a new application instead")
	}
	if b.Tenancy != nil && *b.Tenancy != cur.Tenancy {
		differs("tenancy", "tenancy is fixed at creation; register a new application instead")
	}
	if b.EffectiveTenancy != nil && *b.EffectiveTenancy != cur.EffectiveTenancy {
		differs("effectiveTenancy", "it follows the operators' approval")
	}
	if b.TenancyApproval != nil && (cur.TenancyApproval == nil || *b.TenancyApproval != *cur.TenancyApproval) {
		differs("tenancyApproval", "operators decide it")
	}
	if b.IsEnabled != nil && *b.IsEnabled != cur.IsEnabled {
		differs("isEnabled", "use POST /applications/{applicationId}-enable or -disable")
	}
	if b.IsLocked != nil && *b.IsLocked != cur.IsLocked {
		differs("isLocked", "DELETE locks an application and -enable unlocks it")
	}
	const reread = "the application changed since you read it; read it again"
	if b.CreatedBy != nil && *b.CreatedBy != cur.CreatedBy {
		differs("createdBy", resend)
	}
	if b.CreatedTime != nil && !b.CreatedTime.Equal(cur.CreatedTime) {
		differs("createdTime", resend)
	}
	if b.LastModifiedBy != nil && *b.LastModifiedBy != cur.LastModifiedBy {
		differs("lastModifiedBy", reread)
	}
	if b.LastModifiedTime != nil && !b.LastModifiedTime.Equal(cur.LastModifiedTime) {
		differs("lastModifiedTime", reread)
	}
	if b.ScheduledDeletionTime != nil && (cur.ScheduledDeletionTime == nil || !b.ScheduledDeletionTime.Equal(*cur.ScheduledDeletionTime)) {
		differs("scheduledDeletionTime", "DELETE schedules the deletion and -enable cancels it")
	}
	if b.SecretExpiresTime != nil && (cur.SecretExpiresTime == nil || !b.SecretExpiresTime.Equal(*cur.SecretExpiresTime)) {
		differs("secretExpiresTime", "it follows the application's secrets; rotate or revoke a secret to change it")
	}
	if b.Registration != nil && !reflect.DeepEqual(b.Registration, cur.Registration) {
		differs("registration", "it records how the application registered")
	}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func derefSlice(p *[]string) []string {
	if p == nil {
		return []string{}
	}
	return *p
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
