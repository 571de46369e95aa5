package store

import (
	"context"
	"time"
)

// DefaultChangesLimit is the page size Changes uses when given zero or less.
const DefaultChangesLimit = 1000

// pruneBatch is how many change rows one PruneChanges statement deletes, so that pruning a
// large backlog never holds one long transaction.
const pruneBatch = 10_000

// Change is a row of application_changes: application ApplicationID was created, changed,
// deleted or purged by a transaction that committed this row with it. The lookup caches of
// every replica read these rows in Seq order to learn which cached entries to drop.
//
// Seq grows with every change but, on PostgreSQL, rows become visible in commit order, not in
// Seq order, and a rolled-back write leaves a Seq that never appears: readers must tolerate
// gaps (see server/lookup).
type Change struct {
	Seq           int64  `gorm:"column:seq;primaryKey;autoIncrement"`
	ApplicationID string `gorm:"column:application_id"`
	// Time is the store's clock when the write happened; PruneChanges goes by it.
	Time time.Time `gorm:"column:changed_time"`
}

// TableName is the table of Change rows.
func (Change) TableName() string { return "application_changes" }

// recordChange writes the change row of one application in tx, the transaction of the write
// itself, so the row commits exactly when the write does. Call it last in the transaction: on
// PostgreSQL the seq is drawn when the row is inserted, and the shorter the time from there
// to the commit, the shorter the gaps readers wait on. now is the time of the write.
func recordChange(w rowWriter, applicationID string, now time.Time) error {
	return recordChanges(w, []string{applicationID}, now)
}

// recordChanges is recordChange for several applications in one statement; their seqs follow
// the order of applicationIDs.
func recordChanges(w rowWriter, applicationIDs []string, now time.Time) error {
	if len(applicationIDs) == 0 {
		return nil
	}
	now = normTime(now)
	rows := make([]Change, len(applicationIDs))
	for i, id := range applicationIDs {
		rows[i] = Change{ApplicationID: id, Time: now}
	}
	return w.insert(&rows, nil)
}

// Changes returns at most limit change rows with a seq above afterSeq, in seq order; none is
// an empty slice. limit <= 0 means DefaultChangesLimit.
func (s *Store) Changes(ctx context.Context, afterSeq int64, limit int) ([]Change, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	defer s.health.probing()()
	if limit <= 0 {
		limit = DefaultChangesLimit
	}
	changes := []Change{}
	err := s.db.WithContext(ctx).Where("seq > ?", afterSeq).Order("seq").Limit(limit).Find(&changes).Error
	if err != nil {
		return nil, translate("read changes", err)
	}
	for i := range changes {
		changes[i].Time = changes[i].Time.UTC()
	}
	return changes, nil
}

// LatestChangeSeq is the highest seq committed so far, 0 when there is none. A cache starts
// reading changes from about there: everything before is already in the database it reads.
func (s *Store) LatestChangeSeq(ctx context.Context) (int64, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	defer s.health.probing()()
	var seq int64
	err := s.db.WithContext(ctx).Model(&Change{}).Select("COALESCE(MAX(seq), 0)").Scan(&seq).Error
	if err != nil {
		return 0, translate("latest change seq", err)
	}
	return seq, nil
}

// PruneChanges deletes the change rows written before before and returns how many it deleted.
// The newest row is always kept, so that LatestChangeSeq keeps telling a starting replica
// where the log stands even after a quiet hour. It deletes in batches; running it on several
// replicas at once is harmless.
func (s *Store) PruneChanges(ctx context.Context, before time.Time) (int64, error) {
	before = normTime(before)
	const stmt = `DELETE FROM application_changes WHERE seq IN (
    SELECT seq FROM application_changes
    WHERE changed_time < ? AND seq < (SELECT MAX(seq) FROM application_changes)
    ORDER BY seq LIMIT ?)`
	var total int64
	for {
		res := s.db.WithContext(ctx).Exec(stmt, before, pruneBatch)
		if res.Error != nil {
			return total, translate("prune changes", res.Error)
		}
		total += res.RowsAffected
		if res.RowsAffected < pruneBatch {
			return total, nil
		}
	}
}

// EachApplicationID calls count with about how many applications are stored, then fn with
// the id of every application stored, visible or not, in no particular order, reading them in
// one streamed query (a million ids are about 40 MB read once, never held). The lookup caches
// load their set of existing client ids with it.
func (s *Store) EachApplicationID(ctx context.Context, count func(n int), fn func(id string)) error {
	var n int64
	if err := s.db.WithContext(ctx).Model(&Application{}).Count(&n).Error; err != nil {
		return translate("count applications", err)
	}
	count(int(n))
	rows, err := s.db.WithContext(ctx).Model(&Application{}).Select("id").Rows()
	if err != nil {
		return translate("read application ids", err)
	}
	defer rows.Close()
	var id string
	for rows.Next() {
		if err := rows.Scan(&id); err != nil {
			return translate("read application ids", err)
		}
		fn(id)
	}
	if err := rows.Err(); err != nil {
		return translate("read application ids", err)
	}
	return nil
}
