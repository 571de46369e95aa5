package store

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
)

// touchChunk is how many rows one last-used statement updates.
const touchChunk = 500

// touchAttempts is how often a chunk is tried when PostgreSQL aborts it as a deadlock victim
// (two replicas flushing overlapping applications) or a serialisation failure.
const touchAttempts = 3

// TouchLastUsed raises the last_used_time of each application of apps (id to time of use) to
// that time, and leaves it when the stored time is already as late: two replicas flushing out
// of order never move it back. Unknown ids are ignored. It is not a change: usage is not
// policy, so it records no change row and leaves Version (the ETag) alone.
//
// On PostgreSQL each chunk of touchChunk applications is one UPDATE ... FROM (VALUES ...),
// committed on its own so no row stays locked against UpdateApplication for longer than a
// statement; on SQLite each chunk is one transaction of one UPDATE per application.
func (s *Store) TouchLastUsed(ctx context.Context, apps map[string]time.Time) error {
	return s.touch(ctx, "applications", "text", apps, "touch applications last used")
}

// TouchSecretsLastUsed is TouchLastUsed for application_secrets.last_used_time, keyed by secret
// id. Ids that cannot be secret ids (not UUIDs) are ignored.
func (s *Store) TouchSecretsLastUsed(ctx context.Context, secrets map[string]time.Time) error {
	valid := make(map[string]time.Time, len(secrets))
	for id, t := range secrets {
		if uuid.Validate(id) == nil {
			valid[id] = t
		}
	}
	return s.touch(ctx, "application_secrets", "uuid", valid, "touch secrets last used")
}

// touch raises last_used_time in table (keyed by id, of PostgreSQL type idType) to times.
// Ids go in sorted order, so concurrent flushes lock rows in the same order.
func (s *Store) touch(ctx context.Context, table, idType string, times map[string]time.Time, op string) error {
	ids := slices.Sorted(maps.Keys(times))
	for chunk := range slices.Chunk(ids, touchChunk) {
		var err error
		for range touchAttempts {
			if s.dialect == DialectPostgres {
				err = s.touchPostgres(ctx, table, idType, chunk, times)
			} else {
				err = s.touchSQLite(ctx, table, chunk, times)
			}
			if !retryable(err) {
				break
			}
		}
		if err != nil {
			return translate(op, err)
		}
	}
	return nil
}

// touchPostgres is one UPDATE ... FROM (VALUES ...) for the ids of chunk.
func (s *Store) touchPostgres(ctx context.Context, table, idType string, chunk []string, times map[string]time.Time) error {
	var b strings.Builder
	b.WriteString("UPDATE " + table + " AS a SET last_used_time = v.at FROM (VALUES ")
	args := make([]any, 0, 2*len(chunk))
	for i, id := range chunk {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(CAST(? AS " + idType + "), CAST(? AS timestamptz))")
		args = append(args, id, normTime(times[id]))
	}
	b.WriteString(") AS v(id, at) WHERE a.id = v.id AND (a.last_used_time IS NULL OR a.last_used_time < v.at)")
	return s.db.WithContext(ctx).Exec(b.String(), args...).Error
}

// touchSQLite is one transaction of one UPDATE per id of chunk. The times compare as text,
// which orders correctly because the store writes every time in one UTC format.
func (s *Store) touchSQLite(ctx context.Context, table string, chunk []string, times map[string]time.Time) error {
	stmt := "UPDATE " + table + " SET last_used_time = ? WHERE id = ? AND (last_used_time IS NULL OR last_used_time < ?)"
	return s.transaction(ctx, func(tx *gorm.DB) error {
		for _, id := range chunk {
			t := normTime(times[id])
			if err := tx.Exec(stmt, t, id, t).Error; err != nil {
				return err
			}
		}
		return nil
	})
}
