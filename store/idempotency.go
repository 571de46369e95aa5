package store

import (
	"context"
	"fmt"
	"time"
)

// IdempotencyRecord is a row of idempotency_records: the answer given to a request that
// carried an Idempotency-Key, kept so that a retry with the same key is answered the same
// without doing the work again.
type IdempotencyRecord struct {
	TenantID string `gorm:"column:tenant_id;primaryKey"`
	// Operation names what the key was used for, e.g. "createApplication" or
	// "rotateSecret:<applicationId>": one key may serve different operations.
	Operation string `gorm:"column:operation;primaryKey"`
	Key       string `gorm:"column:idempotency_key;primaryKey"`
	// RequestHash identifies the request body, so that the same key with another body can
	// be refused.
	RequestHash string `gorm:"column:request_hash"`
	Status      int    `gorm:"column:status"`
	// Response is the answer to replay, without any secret (the caller strips it).
	Response []byte `gorm:"column:response"`
	// CreatedTime is when the answer was given; zero means the store's clock.
	CreatedTime time.Time `gorm:"column:created_time"`
}

// TableName is the table of IdempotencyRecord rows.
func (IdempotencyRecord) TableName() string { return "idempotency_records" }

// insertIdempotency inserts rec in tx; a record with the same key is ErrIdempotencyKeyExists.
func insertIdempotency(w rowWriter, rec *IdempotencyRecord) error {
	if rec.CreatedTime.IsZero() {
		rec.CreatedTime = now()
	}
	rec.CreatedTime = normTime(rec.CreatedTime)
	if rec.Response == nil {
		rec.Response = []byte{}
	}
	return w.insert(rec, func(err error) error {
		if uniqueViolation(err) {
			return fmt.Errorf("%w: %w", ErrIdempotencyKeyExists, err)
		}
		return err
	})
}

// GetIdempotency returns the record of key for operation of tenantID. It is ErrNotFound when
// there is none, or when it was created before notBefore (a key is honoured for a while,
// e.g. 24 hours, then it may be used again).
func (s *Store) GetIdempotency(ctx context.Context, tenantID, operation, key string, notBefore time.Time) (*IdempotencyRecord, error) {
	return run(s, ctx, func(ctx context.Context) (*IdempotencyRecord, error) {
		var rec IdempotencyRecord
		err := s.db.WithContext(ctx).
			Where("tenant_id = ? AND operation = ? AND idempotency_key = ? AND created_time >= ?", tenantID, operation, key, normTime(notBefore)).
			Take(&rec).Error
		if err != nil {
			return nil, translate("get idempotency record", err)
		}
		rec.CreatedTime = rec.CreatedTime.UTC()
		if rec.Response == nil {
			rec.Response = []byte{}
		}
		return &rec, nil
	})
}

// PruneIdempotency deletes the records created before before and returns how many it deleted.
// Run it with a cut-off older than the one GetIdempotency is given, or an expired key that is
// reused before the prune is refused as existing.
func (s *Store) PruneIdempotency(ctx context.Context, before time.Time) (int64, error) {
	res := s.db.WithContext(ctx).Where("created_time < ?", normTime(before)).Delete(&IdempotencyRecord{})
	if res.Error != nil {
		return 0, translate("prune idempotency records", res.Error)
	}
	return res.RowsAffected, nil
}

// CreateApplicationIdempotent is CreateApplication that also inserts rec in the same
// transaction. If a record with rec's key exists already (a concurrent twin committed first),
// nothing is written and the error wraps ErrIdempotencyKeyExists (and so ErrConflict): the
// caller then reads the twin's record with GetIdempotency and replays it. The record is
// inserted first, so a twin waits on it (PostgreSQL) rather than doing the whole create.
func (s *Store) CreateApplicationIdempotent(ctx context.Context, app *Application, secrets []Secret, rec *IdempotencyRecord) error {
	return s.create(ctx, app, secrets, rec)
}

// UpdateApplicationIdempotent is UpdateApplication that also inserts an idempotency record in
// the same transaction: after fn has changed the application and the store has saved it (so
// new secrets have their ids), rec is called with the saved application and returns the
// record to insert, or nil for none. If a record with its key exists already (a concurrent
// twin committed first), the whole update is rolled back and the error wraps
// ErrIdempotencyKeyExists. rec is not called when fn fails.
func (s *Store) UpdateApplicationIdempotent(ctx context.Context, tenantID, id string, now time.Time, rec func(*Application) *IdempotencyRecord, fn func(*Application) error) (*Application, error) {
	return s.update(ctx, tenantID, id, now, fn, rec, nil)
}
