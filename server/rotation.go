package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/cxone/appreg/gen"
	"github.com/cxone/appreg/server/auth"
	"github.com/cxone/appreg/store"
)

// Rotation limits of the contract.
const (
	maxValidSecrets         = 3
	defaultPreviousLifetime = 24 * time.Hour
)

// Secret errors the handlers return.
var (
	ErrTooManySecrets = errors.New("the application already has the most valid secrets allowed")
	ErrLastSecret     = errors.New("the last valid secret cannot be revoked")
	ErrSecretNotFound = errors.New("no secret with this id exists for this application")
)

// ListSecrets lists the metadata of an application's secrets, never a secret.
func (s *Server) ListSecrets(ctx context.Context, req gen.ListSecretsRequestObject) (gen.ListSecretsResponseObject, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := s.store.GetApplication(ctx, p.TenantID, req.ApplicationID, s.now()); err != nil {
		return nil, storeErr(err)
	}
	secrets, err := s.store.ListSecrets(ctx, req.ApplicationID)
	if err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}
	out := gen.SecretList{Secrets: make([]gen.SecretInfo, len(secrets))}
	for i := range secrets {
		out.Secrets[i] = secretInfo(&secrets[i])
	}
	return gen.ListSecrets200JSONResponse(out), nil
}

func secretInfo(sec *store.Secret) gen.SecretInfo {
	id, _ := uuid.Parse(sec.ID)
	return gen.SecretInfo{
		SecretID:     id,
		Hint:         sec.Hint,
		CreatedTime:  sec.CreatedTime.UTC(),
		ExpiresTime:  utcPtr(sec.ExpiresTime),
		LastUsedTime: utcPtr(sec.LastUsedTime),
	}
}

// validAt reports whether a secret still authenticates at now.
func validAt(sec *store.Secret, now time.Time) bool {
	return sec.ExpiresTime == nil || now.Before(*sec.ExpiresTime)
}

// RotateSecret issues a new secret and lets the previous ones expire after
// the overlap window, so clients switch without downtime.
func (s *Server) RotateSecret(ctx context.Context, req gen.RotateSecretRequestObject) (gen.RotateSecretResponseObject, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	previous, lifetime := defaultPreviousLifetime, time.Duration(0)
	if b := req.Body; b != nil {
		if b.PreviousSecretExpiresIn != nil {
			previous = time.Duration(*b.PreviousSecretExpiresIn) * time.Second
		}
		if b.ExpiresIn != nil {
			lifetime = time.Duration(*b.ExpiresIn) * time.Second
		}
	}
	idem, replay, err := s.idempotency(ctx, p, "rotateSecret:"+req.ApplicationID, req.Params.IdempotencyKey, req.Body)
	if err != nil || replay != nil {
		if replay != nil {
			var info gen.SecretInfo
			if err := replay.decode(&info); err != nil {
				return nil, err
			}
			return gen.RotateSecret201JSONResponse{Body: gen.SecretIssued(issued(info, "")), Headers: gen.RotateSecret201ResponseHeaders{IdempotentReplayed: ptrTo("true")}}, nil
		}
		return nil, err
	}

	secret, err := newSecret()
	if err != nil {
		return nil, err
	}
	now := s.now()
	fresh := store.Secret{ID: uuid.NewString(), Hash: hashIssuedSecret(secret), Hint: secretHint(secret), CreatedTime: now}
	if lifetime > 0 {
		exp := now.Add(lifetime)
		fresh.ExpiresTime = &exp
	}
	var record func(*store.Application) *store.IdempotencyRecord
	if idem != nil {
		record = func(*store.Application) *store.IdempotencyRecord {
			return idem.record(201, secretInfo(&fresh))
		}
	}
	_, err = s.updateWith(ctx, req.ApplicationID, req.Params.IfMatch, record, func(a *store.Application) error {
		if a.Type == string(gen.Public) {
			return invalid("applicationId", "public applications have no secrets; they authenticate with PKCE")
		}
		if a.ScheduledDeletionTime != nil {
			return ErrLocked
		}
		kept := a.Secrets[:0:0]
		for _, old := range a.Secrets {
			if !validAt(&old, now) || previous == 0 {
				continue // expired ones are dropped; 0 revokes the valid ones now
			}
			until := now.Add(previous)
			if old.ExpiresTime == nil || old.ExpiresTime.After(until) {
				old.ExpiresTime = &until
			}
			kept = append(kept, old)
		}
		if len(kept)+1 > maxValidSecrets {
			return ErrTooManySecrets
		}
		a.Secrets = append(kept, fresh)
		return nil
	})
	if err != nil {
		return nil, s.idempotencyConflict(ctx, err)
	}
	return gen.RotateSecret201JSONResponse{Body: gen.SecretIssued(issued(secretInfo(&fresh), secret))}, nil
}

// issued is the rotation answer: the metadata and, unless replayed, the secret.
func issued(info gen.SecretInfo, secret string) gen.SecretIssued {
	out := gen.SecretIssued{SecretID: info.SecretID, Hint: info.Hint, CreatedTime: info.CreatedTime, ExpiresTime: info.ExpiresTime, LastUsedTime: info.LastUsedTime}
	if secret != "" {
		out.Secret = &secret
	}
	return out
}

// RevokeSecret revokes one secret now; the last valid one stays.
func (s *Server) RevokeSecret(ctx context.Context, req gen.RevokeSecretRequestObject) (gen.RevokeSecretResponseObject, error) {
	id := req.SecretID.String()
	now := s.now()
	_, err := s.update(ctx, req.ApplicationID, req.Params.IfMatch, func(a *store.Application) error {
		if a.ScheduledDeletionTime != nil {
			return ErrLocked
		}
		found, othersValid := -1, 0
		for i := range a.Secrets {
			switch {
			case a.Secrets[i].ID == id:
				found = i
			case validAt(&a.Secrets[i], now):
				othersValid++
			}
		}
		if found < 0 {
			return ErrSecretNotFound
		}
		if validAt(&a.Secrets[found], now) && othersValid == 0 {
			return ErrLastSecret
		}
		a.Secrets = append(a.Secrets[:found:found], a.Secrets[found+1:]...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return gen.RevokeSecret204Response{}, nil
}

// ListApplicationEvents is the application's audit trail, newest first.
func (s *Server) ListApplicationEvents(ctx context.Context, req gen.ListApplicationEventsRequestObject) (gen.ListApplicationEventsResponseObject, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := s.store.GetApplication(ctx, p.TenantID, req.ApplicationID, s.now()); err != nil {
		return nil, storeErr(err)
	}
	list, err := s.events(ctx, p.TenantID, req.ApplicationID, req.Params.Limit, req.Params.Cursor)
	if err != nil {
		return nil, err
	}
	return gen.ListApplicationEvents200JSONResponse(list), nil
}

// ListApplicationEventsAdmin is any application's audit trail, also after
// its purge, for operators.
func (s *Server) ListApplicationEventsAdmin(ctx context.Context, req gen.ListApplicationEventsAdminRequestObject) (gen.ListApplicationEventsAdminResponseObject, error) {
	if _, err := requireRole(ctx, auth.RoleAdmin); err != nil {
		return nil, err
	}
	list, err := s.events(ctx, "", req.ApplicationID, req.Params.Limit, req.Params.Cursor)
	if err != nil {
		return nil, err
	}
	if len(list.Events) == 0 && req.Params.Cursor == nil {
		return nil, ErrNotFound
	}
	return gen.ListApplicationEventsAdmin200JSONResponse(list), nil
}

func (s *Server) events(ctx context.Context, tenantID, appID string, limit *int, cursor *string) (gen.EventList, error) {
	var after *store.EventCursor
	if cursor != nil {
		c, err := decodeCursor(*cursor)
		if err != nil {
			return gen.EventList{}, invalid("cursor", "is not a cursor this service issued; pass nextCursor unchanged")
		}
		after = &store.EventCursor{Time: c.CreatedTime, ID: c.ID}
	}
	n := 0
	if limit != nil {
		n = *limit
	}
	evs, more, err := s.store.ListEvents(ctx, tenantID, appID, after, n)
	if err != nil {
		return gen.EventList{}, fmt.Errorf("list events: %w", err)
	}
	out := gen.EventList{Events: make([]gen.Event, len(evs))}
	for i, ev := range evs {
		changes := make([]gen.FieldChange, len(ev.Changes))
		for j, c := range ev.Changes {
			changes[j] = gen.FieldChange{Field: c.Field, Old: c.Old, New: c.New}
		}
		out.Events[i] = gen.Event{
			EventID: ev.ID, ApplicationID: ev.ApplicationID, TenantID: ev.TenantID,
			Time: ev.Time.UTC(), Actor: ev.Actor, Action: gen.EventAction(ev.Action), Changes: changes,
		}
	}
	if more && len(evs) > 0 {
		last := evs[len(evs)-1]
		next := encodeCursor(store.Cursor{CreatedTime: last.Time, ID: last.ID})
		out.NextCursor = &next
	}
	return out, nil
}

func ptrTo[T any](v T) *T { return &v }
