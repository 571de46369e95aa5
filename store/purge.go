package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// DefaultPurgeBatch is the batch size PurgeDue uses when given zero or less.
const DefaultPurgeBatch = 100

// PurgeDue permanently deletes the applications whose scheduled deletion time is at or before
// now (zero = the store's clock), with their secrets and origin rows, and returns them. It
// works in transactions of at most batch applications and loops until none is due.
//
// It is safe with many replicas purging at once: on PostgreSQL each batch is selected with
// FOR UPDATE SKIP LOCKED, so two purgers never take the same row and never wait on each other;
// on SQLite each transaction holds the write lock. A batch is deleted whole or not at all, so
// a crash loses nothing and the next pass finishes the work. On error it returns what earlier
// batches deleted, with the error. Each batch records one change per purged application (see
// Changes) in its own transaction, in the order returned.
func (s *Store) PurgeDue(ctx context.Context, now time.Time, batch int) ([]Application, error) {
	now = nowOr(now)
	if batch <= 0 {
		batch = DefaultPurgeBatch
	}
	purged := []Application{}
	for {
		var apps []Application
		err := s.transaction(ctx, func(tx *gorm.DB) error {
			apps = nil
			q := tx.Where("scheduled_deletion_time <= ?", now).
				Order("scheduled_deletion_time, id").Limit(batch)
			if s.dialect == DialectPostgres {
				q = q.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate, Options: clause.LockingOptionsSkipLocked})
			}
			if err := q.Find(&apps).Error; err != nil {
				return err
			}
			if len(apps) == 0 {
				return nil
			}
			ids := make([]string, len(apps))
			for i, a := range apps {
				ids[i] = a.ID
			}
			// The foreign keys cascade too; deleting explicitly does not depend on SQLite's
			// foreign_keys pragma being on.
			if err := tx.Where("application_id IN ?", ids).Delete(&Secret{}).Error; err != nil {
				return err
			}
			if err := tx.Where("application_id IN ?", ids).Delete(&applicationOrigin{}).Error; err != nil {
				return err
			}
			if err := tx.Where("application_id IN ?", ids).Delete(&RegistrationAccessToken{}).Error; err != nil {
				return err
			}
			res := tx.Where("id IN ?", ids).Delete(&Application{})
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected != int64(len(ids)) {
				return fmt.Errorf("deleted %d applications, want %d", res.RowsAffected, len(ids))
			}
			w := txWriter{tx}
			if err := recordPurged(w, apps, now); err != nil {
				return err
			}
			return recordChanges(w, ids, time.Now())
		})
		if err != nil {
			return purged, translate("purge due applications", err)
		}
		for i := range apps {
			apps[i].afterRead()
		}
		purged = append(purged, apps...)
		// Fewer than batch: nothing else is due, or the rest is locked by another purger,
		// which will delete it (or, if it fails, the next pass will).
		if len(apps) < batch {
			return purged, nil
		}
	}
}
