package store

import (
	"context"
	"time"
)

// Models are every table's GORM model, unexported ones included, for the schema test.
var Models = []any{&Application{}, &Secret{}, &applicationOrigin{}, &Change{}, &schemaMigration{},
	&Event{}, &OutboxMessage{}, &IdempotencyRecord{}, &RegistrationPolicy{}, &InitialAccessToken{},
	&RegistrationAccessToken{}, &registrationCount{}}

// ApplicationsByID is the query of GetApplication's coalesced reads.
func ApplicationsByID(s *Store, ctx context.Context, ids []string, now time.Time) ([]Application, error) {
	return s.applicationsByID(ctx, ids, now)
}

// SaveIdempotency inserts rec on its own. A record with the same key (even an expired one not
// pruned yet) is ErrIdempotencyKeyExists. Only tests insert a record without a write.
func (s *Store) SaveIdempotency(ctx context.Context, rec *IdempotencyRecord) error {
	return translate("save idempotency record", insertIdempotency(txWriter{s.db.WithContext(ctx)}, rec))
}

// ApplicationsByOrigin returns the ids of the applications that list origin among their
// Origins, in id order, as application_origins holds them (what the tests check it against). It does not check visibility or Enabled: the caller looks the
// applications up.
func (s *Store) ApplicationsByOrigin(ctx context.Context, origin string) ([]string, error) {
	var ids []string
	err := s.db.WithContext(ctx).Model(&applicationOrigin{}).
		Where("origin = ?", origin).Order("application_id").Pluck("application_id", &ids).Error
	if err != nil {
		return nil, translate("applications by origin", err)
	}
	if ids == nil {
		ids = []string{}
	}
	return ids, nil
}

// MarkAway makes s take the database for away since a minute, with no probe since: the next
// operation of a request is let through, as the probe.
func (s *Store) MarkAway() {
	s.health.away.Store(time.Now().Add(-time.Minute).UnixNano())
	s.health.probe.Store(0)
	s.health.lastProbe.Store(0)
}
