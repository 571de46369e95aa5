package store_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cxone/appreg/store"
	"github.com/cxone/appreg/store/storetest"
)

func messageIDs(msgs []store.OutboxMessage) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.ID
	}
	return out
}

func mustClaim(t *testing.T, s *store.Store, now time.Time, lease time.Duration, limit int) []store.OutboxMessage {
	t.Helper()
	msgs, err := s.ClaimOutbox(context.Background(), now, lease, limit)
	if err != nil {
		t.Fatalf("ClaimOutbox: %v", err)
	}
	if msgs == nil {
		t.Fatal("ClaimOutbox returned nil")
	}
	return msgs
}

func TestOutboxClaimAndMark(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := t0.Truncate(time.Microsecond)
		var created []string // message ids, oldest first
		for i := range 3 {
			app := newApp(fmt.Sprintf("ob-%d", i), "tenant-a", now.Add(time.Duration(i)*time.Second))
			mustCreate(t, s, app)
			created = append(created, messagesOf(t, s, app.ID)[0].ID)
		}
		const lease = time.Minute

		got := mustClaim(t, s, now.Add(time.Second), lease, 10)
		if !slices.Equal(messageIDs(got), created[:2]) {
			t.Fatalf("first claim %v, want the two due %v", messageIDs(got), created[:2])
		}
		for _, m := range got {
			if m.ClaimedUntil == nil || !m.ClaimedUntil.Equal(now.Add(time.Second+lease)) || m.Kind != store.ActionCreated {
				t.Errorf("claimed %+v", m)
			}
		}
		if again := mustClaim(t, s, now.Add(time.Second), lease, 10); len(again) != 0 {
			t.Errorf("leased messages claimed again: %v", messageIDs(again))
		}
		if got := mustClaim(t, s, now.Add(2*time.Second), lease, 1); !slices.Equal(messageIDs(got), created[2:]) {
			t.Errorf("limit 1 claim %v, want %v", messageIDs(got), created[2:])
		}

		// Sent: never claimed again.
		sentAt := now.Add(10 * time.Second)
		if err := s.MarkSent(ctx, created[0], sentAt); err != nil {
			t.Fatalf("MarkSent: %v", err)
		}
		if err := s.MarkSent(ctx, created[0], sentAt.Add(time.Hour)); err != nil {
			t.Errorf("MarkSent twice: %v", err)
		}
		// Leases end: the unsent ones come back.
		later := now.Add(2 * time.Minute)
		if got := mustClaim(t, s, later, lease, 10); !slices.Equal(messageIDs(got), created[1:]) {
			t.Errorf("claim after the leases ended %v, want %v", messageIDs(got), created[1:])
		}

		// Failure: attempts, error, backoff, lease cleared.
		if err := s.MarkFailed(ctx, created[1], later, "451 try again later", later.Add(5*time.Minute)); err != nil {
			t.Fatalf("MarkFailed: %v", err)
		}
		// Just before the retry time only created[2] is claimable (its lease ended at later+1m);
		// at the retry time only created[1] (created[2] is leased again).
		if got := mustClaim(t, s, later.Add(5*time.Minute-time.Microsecond), lease, 10); !slices.Equal(messageIDs(got), created[2:]) {
			t.Errorf("claim before the retry time %v, want only %v", messageIDs(got), created[2:])
		}
		got = mustClaim(t, s, later.Add(5*time.Minute), lease, 10)
		if !slices.Equal(messageIDs(got), created[1:2]) {
			t.Fatalf("claim at the retry time %v, want %v", messageIDs(got), created[1:2])
		}
		if m := got[0]; m.Attempts != 1 || m.LastError != "451 try again later" || !m.NextAttemptTime.Equal(later.Add(5*time.Minute)) {
			t.Errorf("after MarkFailed: %+v", m)
		}
		// A retry time in the past is now.
		failAt := later.Add(6 * time.Minute)
		if err := s.MarkFailed(ctx, created[1], failAt, "again", t0.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
		got = mustClaim(t, s, failAt, lease, 10)
		if !slices.Contains(messageIDs(got), created[1]) {
			t.Fatalf("message not due at once after a retry time in the past: %v", messageIDs(got))
		}
		for _, m := range got {
			if m.ID == created[1] && (m.Attempts != 2 || m.LastError != "again" || !m.NextAttemptTime.Equal(failAt)) {
				t.Errorf("after the second failure: %+v", m)
			}
		}

		// A sent message is left alone by MarkFailed.
		if err := s.MarkFailed(ctx, created[0], failAt, "late", failAt); err != nil {
			t.Errorf("MarkFailed of a sent message: %v", err)
		}
		var first store.OutboxMessage
		if err := s.DB().WithContext(ctx).Where("id = ?", created[0]).Take(&first).Error; err != nil {
			t.Fatal(err)
		}
		if first.SentTime == nil || !first.SentTime.Equal(sentAt) || first.Attempts != 0 || first.ClaimedUntil != nil {
			t.Errorf("sent message after late marks: %+v", first)
		}

		for name, err := range map[string]error{
			"MarkSent":   s.MarkSent(ctx, "missing", now),
			"MarkFailed": s.MarkFailed(ctx, "missing", now, "x", now),
		} {
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s of an unknown id: %v, want ErrNotFound", name, err)
			}
		}
		if _, err := s.ClaimOutbox(ctx, now, 0, 10); err == nil {
			t.Error("ClaimOutbox with a zero lease succeeded")
		}
	})
}

// openReplicas opens n stores on one fresh, migrated database of dialect, as n replicas of the
// service would.
func openReplicas(t *testing.T, dialect string, n int) []*store.Store {
	t.Helper()
	ctx := context.Background()
	var url string
	switch dialect {
	case store.DialectSQLite:
		url = "sqlite:" + filepath.Join(t.TempDir(), "replicas.db")
	case store.DialectPostgres:
		url = storetest.PostgresURL(t)
	}
	stores := make([]*store.Store, n)
	for i := range stores {
		s, err := store.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		stores[i] = s
	}
	if err := stores[0].Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return stores
}

// TestConcurrentClaimersNeverShare runs dispatchers on two replicas at once: no message is
// handed to two of them while its lease lasts, and none is missed.
func TestConcurrentClaimersNeverShare(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			replicas := openReplicas(t, dialect, 2)
			const apps = 150
			for i := range apps {
				mustCreate(t, replicas[0], newApp(fmt.Sprintf("cc-%03d", i), "tenant-a", t0))
			}
			now := t0.Add(time.Minute)
			var (
				wg    sync.WaitGroup
				mu    sync.Mutex
				count = map[string]int{}
			)
			start := make(chan struct{})
			for i := range 6 {
				s := replicas[i%2]
				wg.Go(func() {
					<-start
					for {
						msgs, err := s.ClaimOutbox(ctx, now, time.Hour, 7)
						if err != nil {
							t.Errorf("ClaimOutbox: %v", err)
							return
						}
						if len(msgs) == 0 {
							return
						}
						mu.Lock()
						for _, m := range msgs {
							count[m.ID]++
						}
						mu.Unlock()
						// Half are sent, half fail with a retry after the lease: neither
						// comes back within this run.
						for j, m := range msgs {
							if j%2 == 0 {
								err = s.MarkSent(ctx, m.ID, now)
							} else {
								err = s.MarkFailed(ctx, m.ID, now, "busy", now.Add(2*time.Hour))
							}
							if err != nil {
								t.Errorf("mark: %v", err)
							}
						}
					}
				})
			}
			close(start)
			wg.Wait()
			if len(count) != apps {
				t.Errorf("claimed %d distinct messages, want %d", len(count), apps)
			}
			for id, n := range count {
				if n != 1 {
					t.Errorf("message %s claimed %d times", id, n)
				}
			}
		})
	}
}

// TestClaimSkipsLockedRows holds some messages in another transaction: ClaimOutbox must take
// the others at once instead of waiting. PostgreSQL only: SQLite has no row locks.
func TestClaimSkipsLockedRows(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		if s.Dialect() != store.DialectPostgres {
			t.Skip("row locks are PostgreSQL's")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		for i := range 4 {
			mustCreate(t, s, newApp(fmt.Sprintf("sk-%d", i), "tenant-a", t0.Add(time.Duration(i)*time.Second)))
		}
		holder := s.DB().WithContext(ctx).Begin()
		defer holder.Rollback()
		var held []string
		if err := holder.Raw("SELECT id FROM outbox_messages WHERE application_id IN ('sk-0', 'sk-2') FOR UPDATE").Scan(&held).Error; err != nil || len(held) != 2 {
			t.Fatalf("lock rows: %v %v", held, err)
		}
		got, err := s.ClaimOutbox(ctx, t0.Add(time.Hour), time.Minute, 10)
		if err != nil {
			t.Fatal(err)
		}
		var apps []string
		for _, m := range got {
			apps = append(apps, m.ApplicationID)
		}
		if want := []string{"sk-1", "sk-3"}; !slices.Equal(apps, want) {
			t.Errorf("claimed messages of %v, want %v", apps, want)
		}
	})
}

// reminders are the reminder messages stored.
func reminders(t *testing.T, s *store.Store) []store.OutboxMessage {
	t.Helper()
	var msgs []store.OutboxMessage
	err := s.DB().WithContext(context.Background()).Where("event_id = ''").Order("kind, application_id, ref").Find(&msgs).Error
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func TestScheduleReminders(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := t0.Truncate(time.Microsecond)
		const day = 24 * time.Hour
		sid := func(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }
		expiring := []struct {
			id      int
			expires *time.Time
		}{
			{1, ptr(now.Add(30 * time.Minute))},         // 1d
			{2, ptr(now.Add(day))},                      // 1d
			{3, ptr(now.Add(day + time.Microsecond))},   // 7d
			{4, ptr(now.Add(7 * day))},                  // 7d
			{5, ptr(now.Add(7*day + time.Microsecond))}, // too far
			{6, ptr(now.Add(-time.Minute))},             // expired
			{7, ptr(now)},                               // expired
			{8, nil},                                    // never expires
		}
		app := newApp("rm", "tenant-a", t0)
		app.Contacts = []string{"r1@example.com", "r2@example.com"}
		var secrets []store.Secret
		for _, e := range expiring {
			secrets = append(secrets, store.Secret{ID: sid(e.id), Hash: "h$" + hashMarker, Hint: fmt.Sprintf("h%03d", e.id), ExpiresTime: e.expires})
		}
		mustCreate(t, s, app, secrets...)
		locked := newApp("rm-locked", "tenant-a", t0)
		locked.Enabled, locked.ScheduledDeletionTime = false, ptr(now.Add(12*time.Hour))
		mustCreate(t, s, locked, store.Secret{ID: sid(9), Hash: "h$" + hashMarker, ExpiresTime: ptr(now.Add(time.Hour))})
		exact := newApp("rm-exact", "tenant-a", t0)
		exact.ScheduledDeletionTime = ptr(now.Add(day))
		mustCreate(t, s, exact)
		later := newApp("rm-later", "tenant-a", t0)
		later.ScheduledDeletionTime = ptr(now.Add(day + time.Microsecond))
		mustCreate(t, s, later)

		n, err := s.ScheduleReminders(ctx, now)
		if err != nil || n != 6 {
			t.Fatalf("ScheduleReminders = %d, %v; want 6", n, err)
		}
		want := []reminderKey{
			{store.KindPurgeComing1d, "rm-exact", ""},
			{store.KindPurgeComing1d, "rm-locked", ""},
			{store.KindSecretExpiring1d, "rm", sid(1)},
			{store.KindSecretExpiring1d, "rm", sid(2)},
			{store.KindSecretExpiring7d, "rm", sid(3)},
			{store.KindSecretExpiring7d, "rm", sid(4)},
		}
		check := func(name string, want []reminderKey) {
			t.Helper()
			got := reminderKeys(t, s)
			slices.SortFunc(want, compareReminderKeys)
			if !slices.Equal(got, want) {
				t.Errorf("%s: reminders %v, want %v", name, got, want)
			}
		}
		check("first pass", want)
		for _, m := range reminders(t, s) {
			if !m.CreatedTime.Equal(now) || !m.NextAttemptTime.Equal(now) || m.RefTime == nil || m.Ref == "" {
				t.Errorf("reminder %+v", m)
			}
			switch m.Kind {
			case store.KindPurgeComing1d:
				if m.Payload["scheduledDeletionTime"] != m.RefTime.Format(time.RFC3339Nano) || len(m.Recipients) != 1 {
					t.Errorf("purge reminder %+v", m)
				}
			default:
				if !slices.Equal(m.Recipients, app.Contacts) || m.Payload["hint"] == "" ||
					m.Payload["expiresTime"] != m.RefTime.Format(time.RFC3339Nano) || m.Payload["applicationName"] != "app rm" {
					t.Errorf("secret reminder %+v", m)
				}
			}
		}

		// Again, and from several replicas at once: nothing new.
		if n, err := s.ScheduleReminders(ctx, now); err != nil || n != 0 {
			t.Errorf("second pass = %d, %v; want 0", n, err)
		}
		concurrently := func(at time.Time) int {
			var (
				wg    sync.WaitGroup
				mu    sync.Mutex
				total int
			)
			for range 4 {
				wg.Go(func() {
					n, err := s.ScheduleReminders(ctx, at)
					if err != nil {
						t.Errorf("ScheduleReminders: %v", err)
					}
					mu.Lock()
					total += n
					mu.Unlock()
				})
			}
			wg.Wait()
			return total
		}
		if n := concurrently(now); n != 0 {
			t.Errorf("concurrent passes inserted %d, want 0", n)
		}
		check("after repeated passes", want)

		// A changed expiry is a new reminder, inserted once whatever the number of replicas.
		if _, err := s.UpdateApplication(ctx, "", "rm", now, func(a *store.Application) error {
			a.Secrets[2].ExpiresTime = ptr(now.Add(2 * day)) // secret 3
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if n := concurrently(now); n != 1 {
			t.Errorf("concurrent passes after an expiry change inserted %d, want 1", n)
		}
		// Six days on, secrets 4 and 5 expire within a day.
		if n, err := s.ScheduleReminders(ctx, now.Add(6*day+time.Hour)); err != nil || n != 2 {
			t.Errorf("pass six days on = %d, %v; want 2", n, err)
		}
		want = append(want, reminderKey{store.KindSecretExpiring1d, "rm", sid(4)}, reminderKey{store.KindSecretExpiring1d, "rm", sid(5)}, reminderKey{store.KindSecretExpiring7d, "rm", sid(3)})
		check("six days on", want)
		assertNoHash(t, s)
	})
}

// reminderKey names a reminder: its kind, application and secret ("" for purge reminders).
type reminderKey struct{ kind, app, secret string }

func compareReminderKeys(a, b reminderKey) int {
	return cmp.Or(cmp.Compare(a.kind, b.kind), cmp.Compare(a.app, b.app), cmp.Compare(a.secret, b.secret))
}

// reminderKeys are the stored reminders, sorted.
func reminderKeys(t *testing.T, s *store.Store) []reminderKey {
	t.Helper()
	var keys []reminderKey
	for _, m := range reminders(t, s) {
		sec, _ := m.Payload["secretId"].(string)
		keys = append(keys, reminderKey{m.Kind, m.ApplicationID, sec})
	}
	slices.SortFunc(keys, compareReminderKeys)
	return keys
}

func TestPruneOutbox(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := t0.Truncate(time.Microsecond)
		mustCreate(t, s, newApp("pr-a", "tenant-a", now), store.Secret{Hash: "h", ExpiresTime: ptr(now.Add(time.Hour))})
		mustCreate(t, s, newApp("pr-b", "tenant-a", now))
		if n, err := s.ScheduleReminders(ctx, now); err != nil || n != 1 {
			t.Fatalf("ScheduleReminders = %d, %v", n, err)
		}
		for _, m := range mustClaim(t, s, now, time.Minute, 0) {
			if err := s.MarkSent(ctx, m.ID, now); err != nil {
				t.Fatal(err)
			}
		}
		mustCreate(t, s, newApp("pr-unsent", "tenant-a", now))

		count := func() int64 {
			var n int64
			if err := s.DB().WithContext(ctx).Model(&store.OutboxMessage{}).Count(&n).Error; err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n, err := s.PruneOutbox(ctx, now); err != nil || n != 0 {
			t.Errorf("PruneOutbox(sent time) = %d, %v; want 0 (strictly before)", n, err)
		}
		// The two event messages go; the reminder stays while its secret has not expired.
		if n, err := s.PruneOutbox(ctx, now.Add(time.Minute)); err != nil || n != 2 || count() != 2 {
			t.Errorf("PruneOutbox = %d, %v, %d left; want 2 deleted, 2 left", n, err, count())
		}
		if n, err := s.ScheduleReminders(ctx, now.Add(time.Minute)); err != nil || n != 0 {
			t.Errorf("reminder scheduled again after a prune: %d, %v", n, err)
		}
		if n, err := s.PruneOutbox(ctx, now.Add(2*time.Hour)); err != nil || n != 1 || count() != 1 {
			t.Errorf("PruneOutbox after the expiry = %d, %v, %d left; want 1 deleted, the unsent one left", n, err, count())
		}
	})
}

// TestClaimOutboxWalksTheIndex pins the plan of the claim query on PostgreSQL: it reads the
// pending messages in index order and stops at the limit, rather than sorting the backlog.
func TestClaimOutboxWalksTheIndex(t *testing.T) {
	t.Parallel()
	s := storetest.Open(t, store.DialectPostgres)
	ctx := context.Background()
	db := s.DB().WithContext(ctx)
	// A backlog large enough that the planner prefers an index to a scan of the table.
	if err := db.Exec(`INSERT INTO outbox_messages (id, event_id, application_id, tenant_id, kind, ref, recipients, payload, created_time, next_attempt_time)
		SELECT gen_random_uuid()::text, '', 'app', 't', 'created', '', '[]', '{}', now() - i * interval '1 second', now() - interval '1 day'
		FROM generate_series(1, 20000) AS i`).Error; err != nil {
		t.Fatalf("seed backlog: %v", err)
	}
	if err := db.Exec("ANALYZE outbox_messages").Error; err != nil {
		t.Fatal(err)
	}
	var plan []string
	if err := db.Raw(`EXPLAIN SELECT * FROM outbox_messages WHERE sent_time IS NULL AND next_attempt_time <= now() AND (claimed_until IS NULL OR claimed_until <= now()) ORDER BY created_time, id LIMIT 100 FOR UPDATE SKIP LOCKED`).Scan(&plan).Error; err != nil {
		t.Fatal(err)
	}
	text := strings.Join(plan, "\n")
	if !strings.Contains(text, "outbox_messages_pending_idx") || strings.Contains(text, "Sort") {
		t.Errorf("the claim query does not walk outbox_messages_pending_idx:\n%s", text)
	}
	msgs, err := s.ClaimOutbox(ctx, time.Time{}, time.Minute, 100)
	if err != nil || len(msgs) != 100 {
		t.Fatalf("ClaimOutbox: %d messages, %v", len(msgs), err)
	}
}

// TestImportedSecretNotice: every valid imported secret of an application not scheduled for
// deletion is told of to its contacts once, however often ScheduleReminders runs, and even
// after the sent message's pruning window.
func TestImportedSecretNotice(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := t0.Truncate(time.Microsecond)
		imported := store.ImportedSecretScheme + "$600000$c2FsdA$" + hashMarker
		cases := []struct {
			name    string
			hash    string
			expires *time.Time
			locked  bool
			told    bool
		}{
			{"imported", imported, nil, false, true},
			{"imported, expiring later", imported, ptr(now.Add(time.Hour)), false, true},
			{"imported, expired", imported, ptr(now.Add(-time.Hour)), false, false},
			{"imported, scheduled for deletion", imported, nil, true, false},
			{"issued", "sha256$" + hashMarker, nil, false, false},
		}
		want := map[string]bool{}
		for i, tc := range cases {
			app := newApp(fmt.Sprintf("imp-%d", i), "tenant-a", t0)
			if tc.locked {
				app.Enabled, app.ScheduledDeletionTime = false, ptr(now.Add(time.Hour))
			}
			mustCreate(t, s, app, store.Secret{Hash: tc.hash, Hint: "abcd", ExpiresTime: tc.expires})
			if tc.told {
				want[app.ID] = true
			}
		}
		for run := range 2 {
			if _, err := s.ScheduleReminders(ctx, now.Add(time.Duration(run)*time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		msgs, err := s.ClaimOutbox(ctx, now.Add(2*time.Hour), time.Minute, 100)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for _, m := range msgs {
			if m.Kind == store.KindImportedSecret {
				got[m.ApplicationID]++
				if m.Payload["hint"] != "abcd" || len(m.Recipients) == 0 {
					t.Errorf("message %+v", m)
				}
				if err := s.MarkSent(ctx, m.ID, now.Add(2*time.Hour)); err != nil {
					t.Fatal(err)
				}
			}
		}
		for id := range want {
			if got[id] != 1 {
				t.Errorf("%s told %d times, want once", id, got[id])
			}
		}
		if len(got) != len(want) {
			t.Errorf("told %v, want %v", got, want)
		}
		// Sent and pruned a year later: still never told again.
		if _, err := s.PruneOutbox(ctx, now.Add(365*24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if n, err := s.ScheduleReminders(ctx, now.Add(3*time.Hour)); err != nil || n != 0 {
			t.Fatalf("after sending: ScheduleReminders = %d, %v; want 0", n, err)
		}
	})
}
