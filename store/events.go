package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/google/uuid"
)

// Event actions: what happened to an application. Each write of an application records at
// most one event (see UpdateApplication for how the action of an update is chosen).
const (
	ActionCreated           = "created"
	ActionUpdated           = "updated"
	ActionDisabled          = "disabled"
	ActionEnabled           = "enabled"
	ActionDeletionScheduled = "deletion_scheduled"
	ActionDeletionCancelled = "deletion_cancelled"
	ActionPurged            = "purged"
	ActionSecretIssued      = "secret_issued"
	ActionSecretRevoked     = "secret_revoked"
	ActionTenancyApproved   = "tenancy_approved"
	ActionTenancyRejected   = "tenancy_rejected"
)

// SystemActor is the actor of what the service does by itself (the purge).
const SystemActor = "appreg"

// FieldChange is one field an event changed, in the API's names and forms: Field is the
// camelCase name (name, description, contacts, redirects, origins, logouts, authMethod,
// jwksEndpoint, scope, isEnabled, scheduledDeletionTime, tenancy, tenancyApproval,
// tenancyComment, secrets; and type on creation). Old and New are JSON values: strings,
// booleans, arrays of strings, times as RFC 3339 UTC strings, and for secrets arrays of
// {"secretId", "hint", "expiresTime"} objects, never a hash. Either is nil when the field was
// unset (an empty string, no time).
type FieldChange struct {
	Field string `json:"field"`
	Old   any    `json:"old,omitempty"`
	New   any    `json:"new,omitempty"`
}

// Event is a row of application_events: one lifecycle event of an application, recorded by
// the store in the transaction of the write it describes. Events are never deleted, not even
// by the purge of their application.
type Event struct {
	// ID is a UUIDv7: unique, and ordered by creation time within a process.
	ID            string `gorm:"column:id;primaryKey"`
	ApplicationID string `gorm:"column:application_id"`
	TenantID      string `gorm:"column:tenant_id"`
	// Time is the write's time by the caller's clock: the application's CreatedTime for
	// "created", the now of UpdateApplication or PurgeDue otherwise.
	Time time.Time `gorm:"column:event_time"`
	// Actor is CreatedBy for "created", the updated LastModifiedBy for updates, and
	// SystemActor for "purged".
	Actor   string        `gorm:"column:actor"`
	Action  string        `gorm:"column:action"`
	Changes []FieldChange `gorm:"column:changes;serializer:json"`
}

// TableName is the table of Event rows.
func (Event) TableName() string { return "application_events" }

// EventCursor is a keyset position in ListEvents' (time desc, id desc) order.
type EventCursor struct {
	Time time.Time
	ID   string
}

// ListEvents returns the events of application applicationID, newest first (time desc, id
// desc), restricted to tenant tenantID ("" = any tenant, for operators; events of purged
// applications are listed too). after starts strictly after that position; limit is the page
// size, 0 meaning all. more is true when further events exist beyond limit. None is an empty
// slice: the caller decides whether that is a 404.
func (s *Store) ListEvents(ctx context.Context, tenantID, applicationID string, after *EventCursor, limit int) (events []Event, more bool, err error) {
	err = s.exec(ctx, func(ctx context.Context) error {
		events, more, err = s.listEvents(ctx, tenantID, applicationID, after, limit)
		return err
	})
	return events, more, err
}

// listEvents is ListEvents once begun.
func (s *Store) listEvents(ctx context.Context, tenantID, applicationID string, after *EventCursor, limit int) (events []Event, more bool, err error) {
	db := s.db.WithContext(ctx).Where("application_id = ?", applicationID)
	if tenantID != "" {
		db = db.Where("tenant_id = ?", tenantID)
	}
	if after != nil {
		db = db.Where("(event_time, id) < (?, ?)", normTime(after.Time), after.ID)
	}
	db = db.Order("event_time DESC, id DESC")
	if limit > 0 {
		db = db.Limit(limit + 1)
	}
	events = []Event{}
	if err := db.Find(&events).Error; err != nil {
		return nil, false, translate("list events of "+applicationID, err)
	}
	if limit > 0 && len(events) > limit {
		events, more = events[:limit], true
	}
	for i := range events {
		events[i].Time = events[i].Time.UTC()
		if events[i].Changes == nil {
			events[i].Changes = []FieldChange{}
		}
	}
	return events, more, nil
}

// apiTime is t as the API writes it: RFC 3339 in UTC.
func apiTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// auditField is a field of an application as events show it.
type auditField struct {
	name string
	// value is the field of a in API form; nil when unset.
	value func(a *Application) any
}

// auditFields are the fields events report, in the order they report them.
var auditFields = []auditField{
	{"name", func(a *Application) any { return stringValue(a.Name) }},
	{"description", func(a *Application) any { return stringValue(a.Description) }},
	{"type", func(a *Application) any { return stringValue(a.Type) }},
	{"tenancy", func(a *Application) any { return stringValue(a.Tenancy) }},
	{"contacts", func(a *Application) any { return listValue(a.Contacts) }},
	{"redirects", func(a *Application) any { return listValue(a.Redirects) }},
	{"origins", func(a *Application) any { return listValue(a.Origins) }},
	{"logouts", func(a *Application) any { return listValue(a.Logouts) }},
	{"authMethod", func(a *Application) any { return stringValue(a.AuthMethod) }},
	{"jwksEndpoint", func(a *Application) any { return stringValue(a.JWKSEndpoint) }},
	{"scope", func(a *Application) any { return stringValue(a.Scope) }},
	{"isEnabled", func(a *Application) any { return a.Enabled }},
	{"scheduledDeletionTime", func(a *Application) any { return timeValue(a.ScheduledDeletionTime) }},
	{"tenancyApproval", func(a *Application) any { return stringValue(a.TenancyApproval) }},
	{"tenancyComment", func(a *Application) any { return stringValue(a.TenancyComment) }},
	{"secrets", func(a *Application) any { return secretRefs(a.Secrets) }},
}

func stringValue(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func listValue(l []string) any {
	if l == nil {
		return []string{}
	}
	return slices.Clone(l)
}

func timeValue(t *time.Time) any {
	if t == nil {
		return nil
	}
	return apiTime(*t)
}

// initialValues are the changes of a "created" event: every field that has a value, as New.
func initialValues(app *Application) []FieldChange {
	changes := []FieldChange{}
	for _, f := range auditFields {
		v := f.value(app)
		if v == nil || reflect.ValueOf(v).Kind() == reflect.Slice && reflect.ValueOf(v).Len() == 0 {
			continue
		}
		changes = append(changes, FieldChange{Field: f.name, New: v})
	}
	return changes
}

// fieldChanges are the audited fields that differ between cur and next. Both must be
// normalised (prepareWrite or afterRead) and carry their secrets.
func fieldChanges(cur, next *Application) []FieldChange {
	changes := []FieldChange{}
	for _, f := range auditFields {
		o, n := f.value(cur), f.value(next)
		if !reflect.DeepEqual(o, n) {
			changes = append(changes, FieldChange{Field: f.name, Old: o, New: n})
		}
	}
	return changes
}

// columnsChanged reports whether a write of next over cur changes any stored column beyond
// the audited fields and the version: the audit stamps, the tenancy decision, last use.
func columnsChanged(cur, next *Application) bool {
	return cur.LastModifiedBy != next.LastModifiedBy ||
		!cur.LastModifiedTime.Equal(next.LastModifiedTime) ||
		cur.TenancyDecidedBy != next.TenancyDecidedBy ||
		!equalTimePtr(cur.TenancyDecidedTime, next.TenancyDecidedTime) ||
		!equalTimePtr(cur.LastUsedTime, next.LastUsedTime)
}

// updateAction is the one action that names an update of cur into next, by precedence: the
// deletion schedule, then enabling, then the tenancy decision, then secrets, else "updated".
func updateAction(cur, next *Application, d secretDiff) string {
	switch {
	case cur.ScheduledDeletionTime == nil && next.ScheduledDeletionTime != nil:
		return ActionDeletionScheduled
	case cur.ScheduledDeletionTime != nil && next.ScheduledDeletionTime == nil:
		return ActionDeletionCancelled
	case cur.Enabled && !next.Enabled:
		return ActionDisabled
	case !cur.Enabled && next.Enabled:
		return ActionEnabled
	case cur.TenancyApproval != next.TenancyApproval && next.TenancyApproval == "approved":
		return ActionTenancyApproved
	case cur.TenancyApproval != next.TenancyApproval && next.TenancyApproval == "rejected":
		return ActionTenancyRejected
	case len(d.added) > 0:
		return ActionSecretIssued
	case len(d.removed)+len(d.expired) > 0:
		return ActionSecretRevoked
	default:
		return ActionUpdated
	}
}

// newID is a UUIDv7 string.
func newID() (string, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("new id: %w", err)
	}
	return id.String(), nil
}

// prepareEvent assigns ev its ID and normalises it, and returns its notification to
// recipients about app, with payload completed by what every message carries. The caller
// inserts both in the transaction of the write.
func prepareEvent(ev *Event, app *Application, recipients []string, payload map[string]any) (*OutboxMessage, error) {
	if ev.Changes == nil {
		ev.Changes = []FieldChange{}
	}
	ev.Time = normTime(ev.Time)
	id, err := newID()
	if err != nil {
		return nil, err
	}
	ev.ID = id
	if payload == nil {
		payload = map[string]any{}
	}
	fields := make([]string, len(ev.Changes))
	for i, c := range ev.Changes {
		fields[i] = c.Field
	}
	payload["eventId"] = ev.ID
	payload["actor"] = ev.Actor
	payload["changedFields"] = fields
	payload["changes"] = ev.Changes
	msg, err := newMessage(ev.Action, app, recipients, ev.Time, payload)
	if err != nil {
		return nil, err
	}
	msg.EventID = ev.ID
	return msg, nil
}

// recordEvent writes ev and its notification (see prepareEvent) in tx.
func recordEvent(w rowWriter, ev *Event, app *Application, recipients []string, payload map[string]any) error {
	msg, err := prepareEvent(ev, app, recipients, payload)
	if err != nil {
		return err
	}
	if err := w.insert(ev, nil); err != nil {
		return err
	}
	return w.insert(msg, nil)
}

// recordCreated records the "created" event of app, which carries its secrets.
func recordCreated(w rowWriter, app *Application) error {
	ev := &Event{
		ApplicationID: app.ID,
		TenantID:      app.TenantID,
		Time:          app.CreatedTime,
		Actor:         app.CreatedBy,
		Action:        ActionCreated,
		Changes:       initialValues(app),
	}
	payload := map[string]any{}
	if len(app.Secrets) > 0 {
		payload["secretsIssued"] = secretRefs(app.Secrets)
	}
	return recordEvent(w, ev, app, app.Contacts, payload)
}

// errNoEvent tells recordUpdate's caller that the write changed nothing at all.
var errNoEvent = errors.New("no event")

// recordUpdate records the event of an update of cur into next at now, or returns errNoEvent
// when nothing but the version changed. The contacts notified are next's and, when the
// contacts changed, the old ones too: a changed contact list is worth telling those removed.
func recordUpdate(w rowWriter, cur, next *Application, d secretDiff, now time.Time) error {
	changes := fieldChanges(cur, next)
	if len(changes) == 0 && !columnsChanged(cur, next) {
		return errNoEvent
	}
	ev := &Event{
		ApplicationID: next.ID,
		TenantID:      next.TenantID,
		Time:          now,
		Actor:         next.LastModifiedBy,
		Action:        updateAction(cur, next, d),
		Changes:       changes,
	}
	payload := map[string]any{}
	if len(d.added) > 0 {
		payload["secretsIssued"] = secretRefs(d.added)
	}
	if revoked := append(slices.Clone(d.removed), d.expired...); len(revoked) > 0 {
		payload["secretsRevoked"] = secretRefs(revoked)
	}
	if len(d.rescheduled) > 0 {
		payload["secretsExpiryChanged"] = secretRefs(d.rescheduled)
	}
	if next.TenancyApproval != cur.TenancyApproval {
		payload["tenancyApproval"] = next.TenancyApproval
		payload["tenancyComment"] = next.TenancyComment
	}
	recipients := slices.Clone(next.Contacts)
	for _, c := range cur.Contacts {
		if !slices.Contains(recipients, c) {
			recipients = append(recipients, c)
		}
	}
	return recordEvent(w, ev, next, recipients, payload)
}

// recordPurged records the "purged" events of apps, purged at now, and their notifications,
// in two statements.
func recordPurged(w rowWriter, apps []Application, now time.Time) error {
	if len(apps) == 0 {
		return nil
	}
	events := make([]Event, len(apps))
	msgs := make([]OutboxMessage, len(apps))
	for i := range apps {
		a := apps[i]
		a.afterRead()
		events[i] = Event{
			ApplicationID: a.ID,
			TenantID:      a.TenantID,
			Time:          now,
			Actor:         SystemActor,
			Action:        ActionPurged,
		}
		msg, err := prepareEvent(&events[i], &a, a.Contacts, nil)
		if err != nil {
			return err
		}
		msgs[i] = *msg
	}
	if err := w.insert(&events, nil); err != nil {
		return err
	}
	return w.insert(&msgs, nil)
}
