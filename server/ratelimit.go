package server

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"
)

// rateLimitedError is a tenant over its request rate; retryAfter says when to
// come back.
type rateLimitedError struct{ retryAfter time.Duration }

func (e *rateLimitedError) Error() string { return "too many requests for this tenant" }

// tenantLimiter is a token bucket per tenant for the management API. The
// lookup path is the platform's own traffic and is not limited per tenant.
// Buckets of tenants that went quiet are dropped, so memory stays bounded
// by the number of tenants active within a minute.
type tenantLimiter struct {
	limit rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	l    *rate.Limiter
	seen time.Time
}

// newTenantLimiter allows perSecond requests a second per tenant, with bursts
// of twice that; 0 turns limiting off (nil).
func newTenantLimiter(perSecond float64) *tenantLimiter {
	if perSecond <= 0 {
		return nil
	}
	return &tenantLimiter{
		limit:   rate.Limit(perSecond),
		burst:   int(math.Max(1, math.Ceil(2*perSecond))),
		buckets: map[string]*bucket{},
	}
}

// allow takes a token from tenant's bucket, or says how long to wait.
func (t *tenantLimiter) allow(tenant string, now time.Time) (time.Duration, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if now.Sub(t.swept) > time.Minute {
		for k, b := range t.buckets {
			if now.Sub(b.seen) > time.Minute {
				delete(t.buckets, k)
			}
		}
		t.swept = now
	}
	b := t.buckets[tenant]
	if b == nil {
		b = &bucket{l: rate.NewLimiter(t.limit, t.burst)}
		t.buckets[tenant] = b
	}
	b.seen = now
	r := b.l.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d, false
	}
	return 0, true
}

// limitTenants refuses management requests over the tenant's rate with 429 (Server.operation
// puts it in front of the management API only: the lookup path is the platform's own traffic).
func (s *Server) limitTenants(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		p, ok := principalFrom(c.Request().Context())
		if !ok {
			return next(c)
		}
		if wait, ok := s.limiter.allow(p.TenantID, time.Now()); !ok {
			return &rateLimitedError{retryAfter: wait}
		}
		return next(c)
	}
}

func rateLimitedProblem(e *rateLimitedError) problem {
	secs := int(math.Ceil(e.retryAfter.Seconds()))
	if secs < 1 {
		secs = 1
	}
	return problem{
		status: http.StatusTooManyRequests, code: "rate_limited",
		detail: "Too many requests for your tenant; retry after " + strconv.Itoa(secs) + " second(s).",
		header: http.Header{"Retry-After": {strconv.Itoa(secs)}},
	}
}
