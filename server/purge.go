package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cxone/appreg/store"
)

// PurgeStore is what the purger needs of the data layer.
type PurgeStore interface {
	PurgeDue(ctx context.Context, now time.Time, batch int) ([]store.Application, error)
}

// Purger permanently deletes applications whose scheduled deletion time has
// come. Every replica may run one: the store hands each due application to
// exactly one purging transaction (row locks, SKIP LOCKED), and a pass that
// dies mid-way rolls back and is finished by the next one.
type Purger struct {
	Store    PurgeStore
	Interval time.Duration
	Batch    int
	// DeletionGrace is the grace period of the deletions the registration policies'
	// deleteUnusedAfterDays schedule (when Store is an UnusedRegistrationStore). Default 168h.
	DeletionGrace time.Duration
	Now           func() time.Time
	Logger        *slog.Logger
	// Purged counts the applications purged (Metrics.Purged); nil counts nothing.
	Purged prometheus.Counter
}

// housekeeper is the optional part of a PurgeStore that forgets what is no
// longer needed: idempotency records past their window, delivered messages.
type housekeeper interface {
	PruneIdempotency(ctx context.Context, before time.Time) (int64, error)
	PruneOutbox(ctx context.Context, sentBefore time.Time) (int64, error)
}

// How long idempotency records and delivered messages are kept.
const (
	keepIdempotency = 25 * time.Hour
	keepSent        = 7 * 24 * time.Hour
)

// RunOnce purges everything due now and returns how many applications it deleted.
func (p *Purger) RunOnce(ctx context.Context) (int, error) {
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	batch := p.Batch
	if batch <= 0 {
		batch = 100
	}
	at := now().UTC()
	if us, ok := p.Store.(UnusedRegistrationStore); ok {
		grace := p.DeletionGrace
		if grace <= 0 {
			grace = 168 * time.Hour
		}
		if _, err := scheduleUnused(ctx, us, at.Truncate(time.Microsecond), grace, batch, p.logger()); err != nil {
			p.logger().ErrorContext(ctx, "scheduling unused registered clients failed", slog.String("error", err.Error()))
		}
	}
	purged, err := p.Store.PurgeDue(ctx, at, batch)
	if hk, ok := p.Store.(housekeeper); ok && err == nil {
		if _, err = hk.PruneIdempotency(ctx, at.Add(-keepIdempotency)); err == nil {
			_, err = hk.PruneOutbox(ctx, at.Add(-keepSent))
		}
	}
	if p.Purged != nil {
		p.Purged.Add(float64(len(purged)))
	}
	for _, a := range purged {
		p.logger().InfoContext(ctx, "application purged",
			slog.String("application_id", a.ID), slog.String("tenant_id", a.TenantID))
	}
	return len(purged), err
}

// Run purges every Interval until ctx is done.
func (p *Purger) Run(ctx context.Context) {
	interval := p.Interval
	if interval <= 0 {
		interval = time.Minute
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := p.RunOnce(ctx); err != nil && ctx.Err() == nil {
			p.logger().ErrorContext(ctx, "purge pass failed", slog.String("error", err.Error()))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *Purger) logger() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.Default()
}
