package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/cxone/appreg/gen"
	"github.com/cxone/appreg/server/auth"
	"github.com/cxone/appreg/store"
)

// ListTenancyRequests lists the pending all-tenant applications of every tenant.
func (s *Server) ListTenancyRequests(ctx context.Context, req gen.ListTenancyRequestsRequestObject) (gen.ListTenancyRequestsResponseObject, error) {
	if _, err := requireRole(ctx, auth.RoleAdmin); err != nil {
		return nil, err
	}
	return s.list(ctx, store.ListQuery{PendingTenancy: true}, req.Params.Limit, req.Params.Cursor)
}

// DecideTenancy records an operator's decision on a pending all-tenant
// application: approval makes its effective tenancy all; rejection leaves it
// single-tenant for good.
func (s *Server) DecideTenancy(ctx context.Context, req gen.DecideTenancyRequestObject) (gen.DecideTenancyResponseObject, error) {
	p, err := requireRole(ctx, auth.RoleAdmin)
	if err != nil {
		return nil, err
	}
	b := req.Body
	if b == nil {
		return nil, invalid("body", "a JSON request body is required")
	}
	if _, reason := cleanText(deref(b.Comment), 1024, true); reason != "" {
		return nil, invalid("comment", reason)
	}
	now := s.now()
	// Operators act across tenants: the empty tenant id matches any.
	app, err := s.store.UpdateApplicationIdempotent(ctx, "", req.ApplicationID, now, nil, func(a *store.Application) error {
		if a.Tenancy != string(gen.All) || a.TenancyApproval != string(gen.Pending) {
			return ErrTenancyNotPending
		}
		a.TenancyApproval = string(gen.Rejected)
		if b.Decision == gen.Approve {
			a.TenancyApproval = string(gen.Approved)
		}
		a.TenancyDecidedBy = p.Subject
		a.TenancyDecidedTime = &now
		a.TenancyComment = deref(b.Comment)
		a.LastModifiedBy = p.Subject
		a.LastModifiedTime = now
		return nil
	})
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrNotFound
		}
		if errors.Is(err, ErrTenancyNotPending) {
			return nil, err
		}
		return nil, fmt.Errorf("decide tenancy: %w", err)
	}
	s.lookup.InvalidateWritten(app.ID, app.Origins)
	return gen.DecideTenancy200JSONResponse(toAPI(app)), nil
}
