package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/cxone/appreg/gen"
	"github.com/cxone/appreg/store"
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

var errNotYet = errors.New("not implemented yet")

// RotateSecret issues a new secret and lets the previous ones expire.
func (s *Server) RotateSecret(ctx context.Context, req gen.RotateSecretRequestObject) (gen.RotateSecretResponseObject, error) {
	return nil, errNotYet
}

// RevokeSecret revokes one secret now.
func (s *Server) RevokeSecret(ctx context.Context, req gen.RevokeSecretRequestObject) (gen.RevokeSecretResponseObject, error) {
	return nil, errNotYet
}

// ListApplicationEvents is the application's audit trail.
func (s *Server) ListApplicationEvents(ctx context.Context, req gen.ListApplicationEventsRequestObject) (gen.ListApplicationEventsResponseObject, error) {
	return nil, errNotYet
}

// ListApplicationEventsAdmin is any application's audit trail, for operators.
func (s *Server) ListApplicationEventsAdmin(ctx context.Context, req gen.ListApplicationEventsAdminRequestObject) (gen.ListApplicationEventsAdminResponseObject, error) {
	return nil, errNotYet
}
