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
