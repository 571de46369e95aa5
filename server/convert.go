package server

import (
	"github.com/cxone/appreg/gen"
	"github.com/cxone/appreg/store"
)

// effectiveTenancy is the tenancy in force: an all-tenant application works
// as single-tenant until an operator approves it.
func effectiveTenancy(a *store.Application) gen.Tenancy {
	if a.Tenancy == string(gen.All) && a.TenancyApproval == string(gen.Approved) {
		return gen.All
	}
	return gen.Single
}

// toAPI is the answer form of a stored application. It never carries a secret.
func toAPI(a *store.Application) gen.Application {
	out := gen.Application{
		ID:                    a.ID,
		TenantID:              a.TenantID,
		Name:                  a.Name,
		Description:           a.Description,
		Contacts:              nonNil(a.Contacts),
		Type:                  gen.ApplicationType(a.Type),
		Tenancy:               gen.Tenancy(a.Tenancy),
		EffectiveTenancy:      effectiveTenancy(a),
		Redirects:             nonNil(a.Redirects),
		Origins:               nonNil(a.Origins),
		Logouts:               nonNil(a.Logouts),
		Scope:                 a.Scope,
		IsEnabled:             a.Enabled,
		IsLocked:              a.ScheduledDeletionTime != nil,
		CreatedBy:             a.CreatedBy,
		CreatedTime:           a.CreatedTime.UTC(),
		LastModifiedBy:        a.LastModifiedBy,
		LastModifiedTime:      a.LastModifiedTime.UTC(),
		LastUsedTime:          utcPtr(a.LastUsedTime),
		ScheduledDeletionTime: utcPtr(a.ScheduledDeletionTime),
		SecretExpiresTime:     utcPtr(a.SecretExpiresTime),
	}
	if a.TenancyApproval != "" {
		v := gen.TenancyApproval(a.TenancyApproval)
		out.TenancyApproval = &v
	}
	if a.AuthMethod != "" {
		v := gen.AuthMethod(a.AuthMethod)
		out.AuthMethod = &v
	}
	if a.JWKSEndpoint != "" {
		v := a.JWKSEndpoint
		out.JWKSEndpoint = &v
	}
	return out
}

// withSecret is the create answer: the application and, when one was issued,
// its secret.
func withSecret(a gen.Application, secret string) gen.ApplicationWithSecret {
	out := gen.ApplicationWithSecret{
		ID:                    a.ID,
		TenantID:              a.TenantID,
		Name:                  a.Name,
		Description:           a.Description,
		Contacts:              a.Contacts,
		Type:                  a.Type,
		Tenancy:               a.Tenancy,
		EffectiveTenancy:      a.EffectiveTenancy,
		TenancyApproval:       a.TenancyApproval,
		Redirects:             a.Redirects,
		Origins:               a.Origins,
		Logouts:               a.Logouts,
		AuthMethod:            a.AuthMethod,
		JWKSEndpoint:          a.JWKSEndpoint,
		Scope:                 a.Scope,
		IsEnabled:             a.IsEnabled,
		IsLocked:              a.IsLocked,
		CreatedBy:             a.CreatedBy,
		CreatedTime:           a.CreatedTime,
		LastModifiedBy:        a.LastModifiedBy,
		LastModifiedTime:      a.LastModifiedTime,
		LastUsedTime:          a.LastUsedTime,
		ScheduledDeletionTime: a.ScheduledDeletionTime,
		SecretExpiresTime:     a.SecretExpiresTime,
	}
	if secret != "" {
		out.Secret = &secret
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
