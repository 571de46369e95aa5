package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Reminder kinds of outbox messages; the other kinds are event actions.
const (
	KindSecretExpiring7d = "secret_expiring_7d"
	KindSecretExpiring1d = "secret_expiring_1d"
	KindPurgeComing1d    = "purge_coming_1d"
	// KindImportedSecret tells an application's contacts, once per imported secret, that the
	// secret is checked with a slow hash and how to move to an issued one (rotation).
	KindImportedSecret = "imported_secret"
)

// ImportedSecretScheme is the scheme tag of the hash of a secret imported with its value
// (server/secrets.go writes "pbkdf2-sha256$..."): the hashes ScheduleReminders tells of.
const ImportedSecretScheme = "pbkdf2-sha256"

// importedNoticeBatch bounds the imported secrets one ScheduleReminders call tells of; the
// next calls tell of the rest.
const importedNoticeBatch = 1000

// foreverRef is the RefTime of a message that must never be written again: PruneOutbox keeps
// a sent message until its RefTime, and ScheduleReminders writes a message only while none
// with its ref exists.
var foreverRef = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// DefaultClaimLimit is the number of messages ClaimOutbox leases when given zero or less.
const DefaultClaimLimit = 100

// maxErrorText bounds OutboxMessage.LastError, in bytes.
const maxErrorText = 2000

// reminderBatch is how many reminders one INSERT writes.
const reminderBatch = 200

// idChunk bounds the ids of one IN (...) list, well under every driver's parameter limit.
const idChunk = 1000

// outboxPruneBatch is how many messages one PruneOutbox statement deletes.
const outboxPruneBatch = 10_000

// OutboxMessage is a row of outbox_messages: a notification to an application's contacts,
// written in the transaction of the event it tells of (or by ScheduleReminders), and
// delivered later by a dispatcher that claims it (ClaimOutbox), sends it and marks it
// (MarkSent, MarkFailed). It carries everything the message needs, so it can be sent after the
// application is gone, and never a secret or a secret's hash.
type OutboxMessage struct {
	// ID is a UUIDv7, unique: use it as the e-mail's Message-ID so that a duplicate delivery
	// (a dispatcher that crashed between send and mark) can be recognised.
	ID string `gorm:"column:id;primaryKey"`
	// EventID is the event the message tells of; "" for reminders.
	EventID       string `gorm:"column:event_id"`
	ApplicationID string `gorm:"column:application_id"`
	TenantID      string `gorm:"column:tenant_id"`
	// Kind is the event's action, or KindSecretExpiring7d, KindSecretExpiring1d or
	// KindPurgeComing1d.
	Kind string `gorm:"column:kind"`
	// Ref is what a reminder is about, which makes it unique per application and kind:
	// "<secretId>@<expiresTime>" or "<scheduledDeletionTime>"; "" for event messages.
	Ref string `gorm:"column:ref"`
	// RefTime is the expiry or deletion time of Ref; nil for event messages.
	RefTime *time.Time `gorm:"column:ref_time"`
	// Recipients are the application's contacts when the message was written (for an update
	// that changed them: the new ones, then the removed ones).
	Recipients []string `gorm:"column:recipients;serializer:json"`
	// Payload is what the message says, as JSON values. Every message has applicationId,
	// applicationName, tenantId, kind, time (RFC 3339 UTC) and isEnabled, and
	// scheduledDeletionTime when deletion is scheduled. Event messages add eventId, actor,
	// changedFields (names), changes (the event's FieldChanges), and as they apply
	// secretsIssued, secretsRevoked, secretsExpiryChanged (arrays of {secretId, hint,
	// expiresTime}), tenancyApproval and tenancyComment. Secret reminders add secretId, hint
	// and expiresTime.
	Payload         map[string]any `gorm:"column:payload;serializer:json"`
	CreatedTime     time.Time      `gorm:"column:created_time"`
	NextAttemptTime time.Time      `gorm:"column:next_attempt_time"`
	Attempts        int            `gorm:"column:attempts"`
	LastError       string         `gorm:"column:last_error"`
	// ClaimedUntil is the end of the lease of the dispatcher that claimed the message.
	ClaimedUntil *time.Time `gorm:"column:claimed_until"`
	SentTime     *time.Time `gorm:"column:sent_time"`
}

// TableName is the table of OutboxMessage rows.
func (OutboxMessage) TableName() string { return "outbox_messages" }

func (m *OutboxMessage) afterRead() {
	m.CreatedTime = m.CreatedTime.UTC()
	m.NextAttemptTime = m.NextAttemptTime.UTC()
	m.RefTime = utcPtr(m.RefTime)
	m.ClaimedUntil = utcPtr(m.ClaimedUntil)
	m.SentTime = utcPtr(m.SentTime)
	if m.Recipients == nil {
		m.Recipients = []string{}
	}
	if m.Payload == nil {
		m.Payload = map[string]any{}
	}
}

// newMessage is a message of kind about app to recipients, due at at, with payload completed
// by what every message carries.
func newMessage(kind string, app *Application, recipients []string, at time.Time, payload map[string]any) (*OutboxMessage, error) {
	id, err := newID()
	if err != nil {
		return nil, err
	}
	at = normTime(at)
	if payload == nil {
		payload = map[string]any{}
	}
	payload["kind"] = kind
	payload["applicationId"] = app.ID
	payload["applicationName"] = app.Name
	payload["tenantId"] = app.TenantID
	payload["time"] = apiTime(at)
	payload["isEnabled"] = app.Enabled
	if app.ScheduledDeletionTime != nil {
		payload["scheduledDeletionTime"] = apiTime(*app.ScheduledDeletionTime)
	}
	if recipients == nil {
		recipients = []string{}
	}
	return &OutboxMessage{
		ID:              id,
		ApplicationID:   app.ID,
		TenantID:        app.TenantID,
		Kind:            kind,
		Recipients:      slices.Clone(recipients),
		Payload:         payload,
		CreatedTime:     at,
		NextAttemptTime: at,
	}, nil
}

// ClaimOutbox leases to the caller, until now+lease, at most limit unsent messages that are
// due at now (next_attempt_time <= now) and not leased (no lease, or one that ended at or
// before now), oldest first; limit <= 0 means DefaultClaimLimit. None is an empty slice.
//
// It is one transaction: on PostgreSQL the messages are selected FOR UPDATE SKIP LOCKED, so
// dispatchers on several replicas never receive the same message while its lease lasts and
// never wait on each other; on SQLite the transaction holds the write lock. A dispatcher that
// dies keeps its messages only until the lease ends; then they are claimed again (so a
// message sent but not yet marked may be sent twice: its ID tells the copies apart).
func (s *Store) ClaimOutbox(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]OutboxMessage, error) {
	if lease <= 0 {
		return nil, errors.New("store: claim outbox: lease must be positive")
	}
	if limit <= 0 {
		limit = DefaultClaimLimit
	}
	now = nowOr(now)
	until := normTime(now.Add(lease))
	var msgs []OutboxMessage
	err := s.transaction(ctx, func(tx *gorm.DB) error {
		msgs = []OutboxMessage{}
		q := tx.Where("sent_time IS NULL AND next_attempt_time <= ? AND (claimed_until IS NULL OR claimed_until <= ?)", now, now).
			Order("created_time, id").Limit(limit)
		if s.dialect == DialectPostgres {
			q = q.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate, Options: clause.LockingOptionsSkipLocked})
		}
		if err := q.Find(&msgs).Error; err != nil {
			return err
		}
		if len(msgs) == 0 {
			return nil
		}
		ids := make([]string, len(msgs))
		for i := range msgs {
			ids[i] = msgs[i].ID
		}
		res := tx.Model(&OutboxMessage{}).Where("id IN ?", ids).Update("claimed_until", until)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != int64(len(ids)) {
			return fmt.Errorf("leased %d messages, want %d", res.RowsAffected, len(ids))
		}
		return nil
	})
	if err != nil {
		return nil, translate("claim outbox", err)
	}
	for i := range msgs {
		msgs[i].afterRead()
		msgs[i].ClaimedUntil = &until
	}
	return msgs, nil
}

// MarkSent records that message id was sent at now and ends its lease. Marking a sent message
// again changes nothing; an unknown id is ErrNotFound.
func (s *Store) MarkSent(ctx context.Context, id string, now time.Time) error {
	return s.mark(ctx, "mark outbox message "+id+" sent", id, map[string]any{
		"sent_time":     nowOr(now),
		"claimed_until": nil,
	})
}

// MarkFailed records a failed attempt to send message id: attempts grows by one, errText
// (cut to 2000 bytes) becomes LastError, the lease ends and the message is due again at next
// (at now if next is earlier). The backoff policy is the caller's. A message already sent is
// left alone; an unknown id is ErrNotFound.
func (s *Store) MarkFailed(ctx context.Context, id string, now time.Time, errText string, next time.Time) error {
	now = nowOr(now)
	next = normTime(next)
	if next.Before(now) {
		next = now
	}
	return s.mark(ctx, "mark outbox message "+id+" failed", id, map[string]any{
		"attempts":          gorm.Expr("attempts + 1"),
		"last_error":        truncateText(errText, maxErrorText),
		"next_attempt_time": next,
		"claimed_until":     nil,
	})
}

// mark applies set to unsent message id; ErrNotFound when no message has the id.
func (s *Store) mark(ctx context.Context, op, id string, set map[string]any) error {
	db := s.db.WithContext(ctx)
	res := db.Model(&OutboxMessage{}).Where("id = ? AND sent_time IS NULL", id).Updates(set)
	if res.Error != nil {
		return translate(op, res.Error)
	}
	if res.RowsAffected > 0 {
		return nil
	}
	var n int64
	if err := db.Model(&OutboxMessage{}).Where("id = ?", id).Count(&n).Error; err != nil {
		return translate(op, err)
	}
	if n == 0 {
		return translate(op, ErrNotFound)
	}
	return nil
}

// truncateText cuts s to at most n bytes without splitting a character.
func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// ScheduleReminders inserts the reminders due at now and returns how many it inserted:
//
//   - secret_expiring_7d for each secret expiring more than one day and at most seven days
//     after now;
//   - secret_expiring_1d for each secret expiring after now and at most one day after now;
//   - purge_coming_1d for each application whose scheduled deletion is after now and at most
//     one day after now.
//
// Secrets of applications scheduled for deletion get no reminder (their application is
// locked and about to go). Each reminder is inserted at most once, whatever the number of
// calls or replicas: a unique index on (application_id, kind, ref) refuses the copies (ON
// CONFLICT DO NOTHING), ref naming the secret with its expiry, or the deletion time, so that a
// changed expiry or a new schedule is reminded of again. Run it every few minutes.
func (s *Store) ScheduleReminders(ctx context.Context, now time.Time) (int, error) {
	now = nowOr(now)
	db := s.db.WithContext(ctx)
	secrets, err := secretReminders(db, now)
	if err != nil {
		return 0, err
	}
	purges, err := purgeReminders(db, now)
	if err != nil {
		return 0, err
	}
	notices, err := importedNotices(db, now)
	if err != nil {
		return 0, err
	}
	return insertReminders(db, slices.Concat(secrets, purges, notices))
}

// secretReminders are the reminders due for the secrets that expire within 7 days, of
// applications not scheduled for deletion.
func secretReminders(db *gorm.DB, now time.Time) ([]OutboxMessage, error) {
	var secrets []Secret
	err := db.Where("expires_time > ? AND expires_time <= ?", now, now.Add(7*reminderDay)).
		Order("expires_time, id").Find(&secrets).Error
	if err != nil {
		return nil, translate("schedule reminders: expiring secrets", err)
	}
	appIDs := make([]string, 0, len(secrets))
	for _, sec := range secrets {
		if !slices.Contains(appIDs, sec.ApplicationID) {
			appIDs = append(appIDs, sec.ApplicationID)
		}
	}
	apps := make(map[string]*Application, len(appIDs))
	for chunk := range slices.Chunk(appIDs, idChunk) {
		var rows []Application
		if err := db.Where("id IN ? AND scheduled_deletion_time IS NULL", chunk).Find(&rows).Error; err != nil {
			return nil, translate("schedule reminders: applications", err)
		}
		for i := range rows {
			rows[i].afterRead()
			apps[rows[i].ID] = &rows[i]
		}
	}

	var msgs []OutboxMessage
	for i := range secrets {
		sec := &secrets[i]
		sec.afterRead()
		app := apps[sec.ApplicationID]
		if app == nil {
			continue
		}
		kind := KindSecretExpiring7d
		if !sec.ExpiresTime.After(now.Add(reminderDay)) {
			kind = KindSecretExpiring1d
		}
		ref := secretRef(sec)
		msg, err := newMessage(kind, app, app.Contacts, now, map[string]any{
			"secretId":    sec.ID,
			"hint":        sec.Hint,
			"expiresTime": ref["expiresTime"],
		})
		if err != nil {
			return nil, err
		}
		msg.Ref = sec.ID + "@" + apiTime(*sec.ExpiresTime)
		msg.RefTime = sec.ExpiresTime
		msgs = append(msgs, *msg)
	}
	return msgs, nil
}

// purgeReminders are the reminders due for the applications purged within a day.
func purgeReminders(db *gorm.DB, now time.Time) ([]OutboxMessage, error) {
	var due []Application
	err := db.Where("scheduled_deletion_time > ? AND scheduled_deletion_time <= ?", now, now.Add(reminderDay)).
		Order("scheduled_deletion_time, id").Find(&due).Error
	if err != nil {
		return nil, translate("schedule reminders: scheduled deletions", err)
	}
	var msgs []OutboxMessage
	for i := range due {
		app := &due[i]
		app.afterRead()
		msg, err := newMessage(KindPurgeComing1d, app, app.Contacts, now, nil)
		if err != nil {
			return nil, err
		}
		msg.Ref = apiTime(*app.ScheduledDeletionTime)
		msg.RefTime = app.ScheduledDeletionTime
		msgs = append(msgs, *msg)
	}
	return msgs, nil
}

// insertReminders inserts msgs, skipping those already inserted, and returns how many it did.
func insertReminders(db *gorm.DB, msgs []OutboxMessage) (int, error) {
	var inserted int64
	for chunk := range slices.Chunk(msgs, reminderBatch) {
		res := db.Clauses(clause.OnConflict{DoNothing: true}).Create(&chunk)
		if res.Error != nil {
			return int(inserted), translate("schedule reminders: insert", res.Error)
		}
		inserted += res.RowsAffected
	}
	return int(inserted), nil
}

// reminderDay is the day of the reminders' "in 7 days" and "in 1 day".
const reminderDay = 24 * time.Hour

// importedNotices are the messages of KindImportedSecret not written yet: one per valid
// imported secret of an application not scheduled for deletion, ref the secret's id. The
// NOT EXISTS reads the unique reminder index, so a secret told of once is never read again.
func importedNotices(db *gorm.DB, now time.Time) ([]OutboxMessage, error) {
	var secrets []Secret
	err := db.Where("hash LIKE ? AND (expires_time IS NULL OR expires_time > ?)", ImportedSecretScheme+"$%", now).
		Where("NOT EXISTS (SELECT 1 FROM outbox_messages o WHERE o.application_id = application_secrets.application_id AND o.kind = ? AND o.ref = CAST(application_secrets.id AS TEXT))", KindImportedSecret).
		Order("created_time, id").Limit(importedNoticeBatch).Find(&secrets).Error
	if err != nil {
		return nil, translate("schedule reminders: imported secrets", err)
	}
	var msgs []OutboxMessage
	for chunk := range slices.Chunk(secrets, idChunk) {
		ids := make([]string, len(chunk))
		for i := range chunk {
			ids[i] = chunk[i].ApplicationID
		}
		var rows []Application
		if err := db.Where("id IN ? AND scheduled_deletion_time IS NULL", ids).Find(&rows).Error; err != nil {
			return nil, translate("schedule reminders: applications of imported secrets", err)
		}
		apps := make(map[string]*Application, len(rows))
		for i := range rows {
			rows[i].afterRead()
			apps[rows[i].ID] = &rows[i]
		}
		for i := range chunk {
			sec := &chunk[i]
			app := apps[sec.ApplicationID]
			if app == nil {
				continue
			}
			msg, err := newMessage(KindImportedSecret, app, app.Contacts, now, map[string]any{"secretId": sec.ID, "hint": sec.Hint})
			if err != nil {
				return nil, err
			}
			msg.Ref, msg.RefTime = sec.ID, &foreverRef
			msgs = append(msgs, *msg)
		}
	}
	return msgs, nil
}

// PruneOutbox deletes the messages sent before sentBefore and returns how many it deleted.
// A sent reminder stays until its secret's expiry or its deletion time is before sentBefore
// too, so that ScheduleReminders cannot insert it again. It deletes in batches; running it on
// several replicas at once is harmless.
func (s *Store) PruneOutbox(ctx context.Context, sentBefore time.Time) (int64, error) {
	sentBefore = normTime(sentBefore)
	const stmt = `DELETE FROM outbox_messages WHERE id IN (
    SELECT id FROM outbox_messages
    WHERE sent_time < ? AND (ref_time IS NULL OR ref_time < ?)
    ORDER BY sent_time LIMIT ?)`
	var total int64
	for {
		res := s.db.WithContext(ctx).Exec(stmt, sentBefore, sentBefore, outboxPruneBatch)
		if res.Error != nil {
			return total, translate("prune outbox", res.Error)
		}
		total += res.RowsAffected
		if res.RowsAffected < outboxPruneBatch {
			return total, nil
		}
	}
}
