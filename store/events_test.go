package store_test

import (
	"cmp"
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cxone/appreg/store"
)

// hashMarker is in every secret hash the event tests write: it must never show up in an event
// or an outbox message.
const hashMarker = "HASHMARK"

// eventsOf is every event of an application, newest first.
func eventsOf(t *testing.T, s *store.Store, applicationID string) []store.Event {
	t.Helper()
	events, more, err := s.ListEvents(context.Background(), "", applicationID, nil, 0)
	if err != nil || more {
		t.Fatalf("ListEvents(%s) = more %v, %v", applicationID, more, err)
	}
	return events
}

// messagesOf is every outbox message of an application, in creation order.
func messagesOf(t *testing.T, s *store.Store, applicationID string) []store.OutboxMessage {
	t.Helper()
	var msgs []store.OutboxMessage
	err := s.DB().WithContext(context.Background()).Where("application_id = ?", applicationID).
		Order("created_time, id").Find(&msgs).Error
	if err != nil {
		t.Fatalf("read outbox: %v", err)
	}
	return msgs
}

// assertNoHash fails when any stored event or outbox message mentions a secret hash: the raw
// JSON columns are searched, not the decoded values.
func assertNoHash(t *testing.T, s *store.Store) {
	t.Helper()
	var texts []string
	db := s.DB().WithContext(context.Background())
	if err := db.Raw("SELECT changes FROM application_events").Scan(&texts).Error; err != nil {
		t.Fatal(err)
	}
	var msgs []string
	if err := db.Raw("SELECT payload || recipients || kind || ref FROM outbox_messages").Scan(&msgs).Error; err != nil {
		t.Fatal(err)
	}
	texts = append(texts, msgs...)
	if len(texts) == 0 {
		t.Fatal("no events or messages to search")
	}
	for _, txt := range texts {
		if strings.Contains(txt, hashMarker) {
			t.Errorf("a secret hash is stored in an event or message: %s", txt)
		}
	}
}

func fieldNames(changes []store.FieldChange) []string {
	out := make([]string, len(changes))
	for i, c := range changes {
		out[i] = c.Field
	}
	return out
}

func change(changes []store.FieldChange, field string) (store.FieldChange, bool) {
	for _, c := range changes {
		if c.Field == field {
			return c, true
		}
	}
	return store.FieldChange{}, false
}

func TestCreatedEvent(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		app := newApp("ev-create", "tenant-a", t0)
		app.Contacts = []string{"a@example.com", "b@example.com"}
		mustCreate(t, s, app, store.Secret{ID: secretA, Hash: "h$" + hashMarker, Hint: "wxyz", ExpiresTime: ptr(t0.Add(time.Hour))})

		events := eventsOf(t, s, app.ID)
		if len(events) != 1 {
			t.Fatalf("%d events after create, want 1", len(events))
		}
		ev := events[0]
		if ev.Action != store.ActionCreated || ev.Actor != "alice" || ev.TenantID != "tenant-a" ||
			!ev.Time.Equal(app.CreatedTime) || ev.Time.Location() != time.UTC || ev.ID == "" {
			t.Errorf("created event = %+v", ev)
		}
		wantFields := []string{"name", "type", "tenancy", "contacts", "redirects", "authMethod", "scope", "isEnabled", "secrets"}
		if got := fieldNames(ev.Changes); !slices.Equal(got, wantFields) {
			t.Errorf("created changes %v, want %v", got, wantFields)
		}
		for _, c := range ev.Changes {
			if c.Old != nil {
				t.Errorf("created change %s has an old value %v", c.Field, c.Old)
			}
		}
		want := map[string]any{
			"name":      "app ev-create",
			"contacts":  []any{"a@example.com", "b@example.com"},
			"isEnabled": true,
			"secrets":   []any{map[string]any{"secretId": secretA, "hint": "wxyz", "expiresTime": "2025-03-04T06:06:07.999999Z"}},
		}
		for field, v := range want {
			if c, _ := change(ev.Changes, field); !reflect.DeepEqual(c.New, v) {
				t.Errorf("created %s = %#v, want %#v", field, c.New, v)
			}
		}

		msgs := messagesOf(t, s, app.ID)
		if len(msgs) != 1 {
			t.Fatalf("%d messages after create, want 1", len(msgs))
		}
		m := msgs[0]
		if m.Kind != store.ActionCreated || m.EventID != ev.ID || !slices.Equal(m.Recipients, app.Contacts) ||
			m.TenantID != "tenant-a" || m.SentTime != nil || m.ClaimedUntil != nil || m.Attempts != 0 ||
			!m.NextAttemptTime.Equal(app.CreatedTime) || m.ID == "" || m.ID == ev.ID {
			t.Errorf("created message = %+v", m)
		}
		for key, v := range map[string]any{
			"applicationId":   app.ID,
			"applicationName": "app ev-create",
			"tenantId":        "tenant-a",
			"actor":           "alice",
			"eventId":         ev.ID,
			"kind":            "created",
			"time":            "2025-03-04T05:06:07.999999Z",
		} {
			if m.Payload[key] != v {
				t.Errorf("payload %s = %#v, want %#v", key, m.Payload[key], v)
			}
		}
		assertNoHash(t, s)
	})
}

func TestEventPerWrite(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		app := newApp("ev", "tenant-a", t0)
		app.Origins = []string{"https://a.example.com"}
		mustCreate(t, s, app, store.Secret{ID: secretA, Hash: "h$A-" + hashMarker, Hint: "aaaa"})

		base := t0.Add(time.Hour).Truncate(time.Microsecond)
		sched := base.Add(7 * 24 * time.Hour)
		cases := []struct {
			name       string
			fn         func(a *store.Application, now time.Time)
			action     string // "" = no event
			fields     []string
			recipients []string
			payload    func(t *testing.T, p map[string]any)
		}{
			{
				name:   "rename",
				fn:     func(a *store.Application, _ time.Time) { a.Name = "renamed" },
				action: store.ActionUpdated, fields: []string{"name"},
			},
			{
				name:   "contacts: the removed ones are told too",
				fn:     func(a *store.Application, _ time.Time) { a.Contacts = []string{"new@example.com"} },
				action: store.ActionUpdated, fields: []string{"contacts"},
				recipients: []string{"new@example.com", "ops@example.com"},
			},
			{
				name:   "nothing changes: no event",
				fn:     nil,
				action: "",
			},
			{
				name:   "only the audit stamps change",
				fn:     func(a *store.Application, now time.Time) { a.LastModifiedTime = now.Add(time.Second) },
				action: store.ActionUpdated, fields: []string{},
			},
			{
				name:   "disable",
				fn:     func(a *store.Application, _ time.Time) { a.Enabled = false },
				action: store.ActionDisabled, fields: []string{"isEnabled"},
			},
			{
				name:   "enable",
				fn:     func(a *store.Application, _ time.Time) { a.Enabled = true },
				action: store.ActionEnabled, fields: []string{"isEnabled"},
			},
			{
				name: "delete: disable, lock, schedule",
				fn: func(a *store.Application, _ time.Time) {
					a.Enabled = false
					a.ScheduledDeletionTime = &sched
				},
				action: store.ActionDeletionScheduled, fields: []string{"isEnabled", "scheduledDeletionTime"},
				payload: func(t *testing.T, p map[string]any) {
					if p["scheduledDeletionTime"] != sched.Format(time.RFC3339Nano) {
						t.Errorf("payload scheduledDeletionTime = %v", p["scheduledDeletionTime"])
					}
				},
			},
			{
				name: "enable again: unlock, cancel",
				fn: func(a *store.Application, _ time.Time) {
					a.Enabled = true
					a.ScheduledDeletionTime = nil
				},
				action: store.ActionDeletionCancelled, fields: []string{"isEnabled", "scheduledDeletionTime"},
			},
			{
				name: "rotate: add B, A expires tomorrow",
				fn: func(a *store.Application, now time.Time) {
					a.Secrets[0].ExpiresTime = ptr(now.Add(24 * time.Hour))
					a.Secrets = append(a.Secrets, store.Secret{ID: secretB, Hash: "h$B-" + hashMarker, Hint: "bbbb"})
				},
				action: store.ActionSecretIssued, fields: []string{"secrets"},
				payload: func(t *testing.T, p map[string]any) {
					issued, _ := p["secretsIssued"].([]any)
					if len(issued) != 1 || issued[0].(map[string]any)["secretId"] != secretB {
						t.Errorf("payload secretsIssued = %#v", p["secretsIssued"])
					}
				},
			},
			{
				name: "revoke A by deleting it",
				fn: func(a *store.Application, _ time.Time) {
					a.Secrets = slices.DeleteFunc(a.Secrets, func(s store.Secret) bool { return s.ID == secretA })
				},
				action: store.ActionSecretRevoked, fields: []string{"secrets"},
				payload: func(t *testing.T, p map[string]any) {
					revoked, _ := p["secretsRevoked"].([]any)
					if len(revoked) != 1 || revoked[0].(map[string]any)["secretId"] != secretA {
						t.Errorf("payload secretsRevoked = %#v", p["secretsRevoked"])
					}
				},
			},
			{
				name: "B gets a later expiry",
				fn: func(a *store.Application, now time.Time) {
					a.Secrets[0].ExpiresTime = ptr(now.Add(90 * 24 * time.Hour))
				},
				action: store.ActionUpdated, fields: []string{"secrets"},
			},
			{
				name:   "B expires now: revoked without deletion",
				fn:     func(a *store.Application, now time.Time) { a.Secrets[0].ExpiresTime = ptr(now) },
				action: store.ActionSecretRevoked, fields: []string{"secrets"},
			},
			{
				name: "several fields",
				fn: func(a *store.Application, _ time.Time) {
					a.Redirects = append(a.Redirects, "https://app.example.com/cb2")
					a.Origins = nil
					a.Scope = ""
					a.Description = "now described"
				},
				action: store.ActionUpdated, fields: []string{"description", "redirects", "origins", "scope"},
			},
		}
		wantEvents := 1
		for i, tc := range cases {
			now := base.Add(time.Duration(i) * time.Minute)
			actor := fmt.Sprintf("user-%d", i)
			before, err := s.GetApplication(ctx, "", app.ID, now)
			if err != nil {
				t.Fatal(err)
			}
			saved, err := s.UpdateApplication(ctx, "tenant-a", app.ID, now, func(a *store.Application) error {
				if tc.fn != nil {
					tc.fn(a, now)
					a.LastModifiedBy = actor
					if a.LastModifiedTime.Equal(before.LastModifiedTime) {
						a.LastModifiedTime = now
					}
				}
				return nil
			})
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if saved.Version != before.Version+1 {
				t.Errorf("%s: Version %d, want %d", tc.name, saved.Version, before.Version+1)
			}
			if tc.action != "" {
				wantEvents++
			}
			events := eventsOf(t, s, app.ID)
			msgs := messagesOf(t, s, app.ID)
			if len(events) != wantEvents || len(msgs) != wantEvents {
				t.Fatalf("%s: %d events, %d messages; want %d of each", tc.name, len(events), len(msgs), wantEvents)
			}
			if tc.action == "" {
				continue
			}
			ev := events[0]
			if ev.Action != tc.action || ev.Actor != actor || !ev.Time.Equal(now) || ev.TenantID != "tenant-a" {
				t.Errorf("%s: event %s by %s at %v, want %s by %s at %v", tc.name, ev.Action, ev.Actor, ev.Time, tc.action, actor, now)
			}
			if got := fieldNames(ev.Changes); !slices.Equal(got, tc.fields) {
				t.Errorf("%s: changed fields %v, want %v", tc.name, got, tc.fields)
			}
			for _, c := range ev.Changes {
				if reflect.DeepEqual(c.Old, c.New) {
					t.Errorf("%s: change of %s has equal old and new %v", tc.name, c.Field, c.Old)
				}
			}
			m := msgs[len(msgs)-1]
			recipients := tc.recipients
			if recipients == nil {
				recipients = saved.Contacts
			}
			if m.EventID != ev.ID || m.Kind != tc.action || !slices.Equal(m.Recipients, recipients) || !m.CreatedTime.Equal(now) {
				t.Errorf("%s: message %+v; want kind %s, event %s, recipients %v", tc.name, m, tc.action, ev.ID, recipients)
			}
			if names, _ := m.Payload["changedFields"].([]any); len(names) != len(tc.fields) {
				t.Errorf("%s: payload changedFields = %v", tc.name, m.Payload["changedFields"])
			}
			if m.Payload["applicationName"] != saved.Name || m.Payload["actor"] != actor {
				t.Errorf("%s: payload = %v", tc.name, m.Payload)
			}
			if tc.payload != nil {
				tc.payload(t, m.Payload)
			}
		}

		// Values are in API form.
		events := eventsOf(t, s, app.ID)
		byAction := map[string]store.Event{}
		for _, ev := range events {
			if _, seen := byAction[ev.Action]; !seen {
				byAction[ev.Action] = ev // newest of each action
			}
		}
		rename := events[len(events)-2]
		if c := rename.Changes[0]; c.Old != "app ev" || c.New != "renamed" {
			t.Errorf("rename change = %+v", c)
		}
		if c, _ := change(byAction[store.ActionDeletionScheduled].Changes, "scheduledDeletionTime"); c.Old != nil || c.New != sched.Format(time.RFC3339Nano) {
			t.Errorf("scheduledDeletionTime change = %#v", c)
		}
		if c, _ := change(byAction[store.ActionDisabled].Changes, "isEnabled"); c.Old != true || c.New != false {
			t.Errorf("isEnabled change = %#v", c)
		}
		if c, _ := change(byAction[store.ActionUpdated].Changes, "origins"); !reflect.DeepEqual(c.Old, []any{"https://a.example.com"}) || !reflect.DeepEqual(c.New, []any{}) {
			t.Errorf("origins change = %#v", c)
		}
		if c, _ := change(byAction[store.ActionUpdated].Changes, "scope"); c.Old != "openid" || c.New != nil {
			t.Errorf("scope change = %#v", c)
		}
		issued, _ := change(byAction[store.ActionSecretIssued].Changes, "secrets")
		wantOld := []any{map[string]any{"secretId": secretA, "hint": "aaaa"}}
		wantNew := []any{
			map[string]any{"secretId": secretA, "hint": "aaaa", "expiresTime": base.Add(8*time.Minute + 24*time.Hour).Format(time.RFC3339Nano)},
			map[string]any{"secretId": secretB, "hint": "bbbb"},
		}
		if !reflect.DeepEqual(issued.Old, wantOld) || !reflect.DeepEqual(issued.New, wantNew) {
			t.Errorf("secrets change = %#v, want old %#v new %#v", issued, wantOld, wantNew)
		}
		assertNoHash(t, s)
	})
}

func TestTenancyDecisionEvents(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		for _, decision := range []string{"approved", "rejected"} {
			app := newApp("ten-"+decision, "tenant-a", t0)
			app.Tenancy, app.TenancyApproval = "all", "pending"
			mustCreate(t, s, app)
			_, err := s.UpdateApplication(ctx, "", app.ID, t0, func(a *store.Application) error {
				a.TenancyApproval = decision
				a.TenancyDecidedBy, a.TenancyDecidedTime, a.TenancyComment = "operator", ptr(t0), "CHG-1"
				a.LastModifiedBy = "operator"
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			ev := eventsOf(t, s, app.ID)[0]
			if ev.Action != "tenancy_"+decision || ev.Actor != "operator" ||
				!slices.Equal(fieldNames(ev.Changes), []string{"tenancyApproval", "tenancyComment"}) {
				t.Errorf("%s: event %+v", decision, ev)
			}
			if c := ev.Changes[0]; c.Old != "pending" || c.New != decision {
				t.Errorf("%s: change %+v", decision, c)
			}
			msgs := messagesOf(t, s, app.ID)
			if m := msgs[len(msgs)-1]; m.Kind != ev.Action || m.Payload["tenancyComment"] != "CHG-1" || m.Payload["tenancyApproval"] != decision {
				t.Errorf("%s: message %+v", decision, m)
			}
		}
	})
}

// TestConcurrentWritesOneEventEach checks that concurrent updates of one application each
// leave exactly one event and one message.
func TestConcurrentWritesOneEventEach(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		mustCreate(t, s, newApp("hot-ev", "tenant-a", t0))
		const n = 20
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				_, err := s.UpdateApplication(ctx, "", "hot-ev", t0, func(a *store.Application) error {
					a.Redirects = append(a.Redirects, fmt.Sprintf("https://app.example.com/cb%d", i))
					a.LastModifiedBy = fmt.Sprintf("user-%d", i)
					return nil
				})
				if err != nil {
					t.Errorf("UpdateApplication: %v", err)
				}
			})
		}
		wg.Wait()
		events := eventsOf(t, s, "hot-ev")
		if len(events) != n+1 || len(messagesOf(t, s, "hot-ev")) != n+1 {
			t.Fatalf("%d events after %d updates and a create", len(events), n)
		}
		actors := map[string]bool{}
		for _, ev := range events[:n] {
			c, _ := change(ev.Changes, "redirects")
			old, _ := c.Old.([]any)
			nw, _ := c.New.([]any)
			if ev.Action != store.ActionUpdated || len(nw) != len(old)+1 {
				t.Errorf("event %+v", ev)
			}
			actors[ev.Actor] = true
		}
		if len(actors) != n {
			t.Errorf("%d distinct actors, want %d", len(actors), n)
		}
	})
}

func TestEventsSurvivePurge(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		app := newApp("gone", "tenant-a", t0)
		app.Contacts = []string{"x@example.com", "y@example.com"}
		mustCreate(t, s, app, store.Secret{Hash: "h$" + hashMarker})
		sched := t0.Add(time.Hour).Truncate(time.Microsecond)
		if _, err := s.UpdateApplication(ctx, "", app.ID, t0, func(a *store.Application) error {
			a.Enabled, a.ScheduledDeletionTime, a.LastModifiedBy = false, &sched, "bob"
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		purgeTime := sched.Add(time.Minute)
		purged, err := s.PurgeDue(ctx, purgeTime, 0)
		if err != nil || len(purged) != 1 {
			t.Fatalf("PurgeDue = %v, %v", ids(purged), err)
		}
		if _, err := s.GetApplication(ctx, "", app.ID, t0); err == nil {
			t.Fatal("application still there")
		}
		events := eventsOf(t, s, app.ID)
		var actions []string
		for _, ev := range events {
			actions = append(actions, ev.Action)
		}
		if want := []string{"purged", "deletion_scheduled", "created"}; !slices.Equal(actions, want) {
			t.Fatalf("events after purge %v, want %v", actions, want)
		}
		if ev := events[0]; ev.Actor != store.SystemActor || !ev.Time.Equal(purgeTime) || ev.TenantID != "tenant-a" {
			t.Errorf("purged event %+v", ev)
		}
		if got, _, err := s.ListEvents(ctx, "tenant-a", app.ID, nil, 0); err != nil || len(got) != 3 {
			t.Errorf("tenant's trail after purge = %d events, %v", len(got), err)
		}
		msgs := messagesOf(t, s, app.ID)
		if len(msgs) != 3 {
			t.Fatalf("%d messages, want 3", len(msgs))
		}
		m := msgs[2]
		if m.Kind != store.ActionPurged || m.EventID != events[0].ID || !slices.Equal(m.Recipients, app.Contacts) ||
			m.Payload["applicationName"] != "app gone" || m.Payload["scheduledDeletionTime"] != sched.Format(time.RFC3339Nano) {
			t.Errorf("purged message %+v", m)
		}
		assertNoHash(t, s)
	})
}

func TestListEventsPaging(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		mustCreate(t, s, newApp("pg-ev", "tenant-a", t0))
		mustCreate(t, s, newApp("pg-other", "tenant-a", t0))
		// Times out of order and tied: the order is (time desc, id desc) whatever the
		// order of the writes; ties go to the later write (UUIDv7 ids).
		times := []time.Time{t0.Add(time.Second), t0.Add(time.Second), t0.Add(-time.Hour), t0.Add(500 * time.Millisecond), t0.Add(time.Second), t0}
		for i, at := range times {
			if _, err := s.UpdateApplication(ctx, "", "pg-ev", at, func(a *store.Application) error {
				a.Name = fmt.Sprintf("name %d", i)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		all := eventsOf(t, s, "pg-ev")
		if len(all) != len(times)+1 {
			t.Fatalf("%d events, want %d", len(all), len(times)+1)
		}
		sorted := slices.Clone(all)
		slices.SortFunc(sorted, func(a, b store.Event) int {
			if c := b.Time.Compare(a.Time); c != 0 {
				return c
			}
			return cmp.Compare(b.ID, a.ID)
		})
		eventIDs := func(events []store.Event) []string {
			out := make([]string, len(events))
			for i, e := range events {
				out[i] = e.ID
			}
			return out
		}
		if !slices.Equal(eventIDs(all), eventIDs(sorted)) {
			t.Errorf("not newest first")
		}
		// The three writes at t0+1s, newest write first.
		var tied []string
		for _, e := range all {
			if e.Time.Equal(t0.Add(time.Second).Truncate(time.Microsecond)) {
				c, _ := change(e.Changes, "name")
				tied = append(tied, c.New.(string))
			}
		}
		if want := []string{"name 4", "name 1", "name 0"}; !slices.Equal(tied, want) {
			t.Errorf("tied events %v, want %v", tied, want)
		}

		for limit := 1; limit <= len(all)+1; limit++ {
			t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
				var (
					got   []store.Event
					after *store.EventCursor
				)
				for page := 0; ; page++ {
					events, more, err := s.ListEvents(ctx, "tenant-a", "pg-ev", after, limit)
					if err != nil {
						t.Fatal(err)
					}
					if len(events) > limit {
						t.Fatalf("page %d: %d events", page, len(events))
					}
					got = append(got, events...)
					if wantMore := len(got) < len(all); more != wantMore {
						t.Fatalf("page %d: more %v, want %v", page, more, wantMore)
					}
					if !more {
						break
					}
					last := events[len(events)-1]
					after = &store.EventCursor{Time: last.Time, ID: last.ID}
				}
				if !slices.Equal(eventIDs(got), eventIDs(all)) {
					t.Errorf("pages %v, want %v", eventIDs(got), eventIDs(all))
				}
			})
		}

		for _, tc := range []struct {
			tenant, app string
			want        int
		}{
			{"tenant-a", "pg-ev", len(all)},
			{"", "pg-ev", len(all)},
			{"tenant-b", "pg-ev", 0},
			{"tenant-a", "pg-other", 1},
			{"tenant-a", "missing", 0},
		} {
			events, more, err := s.ListEvents(ctx, tc.tenant, tc.app, nil, 0)
			if err != nil || more || events == nil || len(events) != tc.want {
				t.Errorf("ListEvents(%q, %q) = %d events (nil %v), %v, %v; want %d", tc.tenant, tc.app, len(events), events == nil, more, err, tc.want)
			}
		}
	})
}
