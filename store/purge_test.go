package store_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cxone/appreg/store"
)

// countRows counts the rows of table that belong to applicationID ("id" for applications).
func countRows(t *testing.T, s *store.Store, table, column, applicationID string) int64 {
	t.Helper()
	var n int64
	err := s.DB().WithContext(context.Background()).Table(table).Where(column+" = ?", applicationID).Count(&n).Error
	if err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

func TestPurgeDue(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := t0.Add(time.Hour)
		scheduled := map[string]*time.Time{
			"due-1":       ptr(now.Add(-time.Hour)),
			"due-2":       ptr(now.Add(-time.Microsecond)),
			"due-exact":   ptr(now),
			"due-3":       ptr(now.Add(-2 * time.Hour)),
			"later":       ptr(now.Add(time.Microsecond)),
			"not-locked":  nil,
			"later-today": ptr(now.Add(500 * time.Millisecond)),
		}
		for id, sched := range scheduled {
			app := newApp(id, "tenant-a", t0)
			app.Origins = []string{"https://" + id + ".example.com", "https://shared.example.com"}
			app.ScheduledDeletionTime = sched
			mustCreate(t, s, app, store.Secret{Hash: "h-" + id}, store.Secret{Hash: "h2-" + id})
		}

		purged, err := s.PurgeDue(ctx, now, 2) // several batches
		if err != nil {
			t.Fatalf("PurgeDue: %v", err)
		}
		// Oldest schedule first.
		if want := []string{"due-3", "due-1", "due-2", "due-exact"}; !slices.Equal(ids(purged), want) {
			t.Errorf("purged %v, want %v", ids(purged), want)
		}
		for _, app := range purged {
			if app.ScheduledDeletionTime == nil || app.Name != "app "+app.ID || len(app.Origins) != 2 {
				t.Errorf("returned application incomplete: %+v", app)
			}
		}
		for id := range scheduled {
			gone := slices.Contains(ids(purged), id)
			want := int64(1)
			if gone {
				want = 0
			}
			if n := countRows(t, s, "applications", "id", id); n != want {
				t.Errorf("%s: %d applications rows, want %d", id, n, want)
			}
			if n := countRows(t, s, "application_secrets", "application_id", id); n != 2*want {
				t.Errorf("%s: %d secrets, want %d", id, n, 2*want)
			}
			if n := countRows(t, s, "application_origins", "application_id", id); n != 2*want {
				t.Errorf("%s: %d origin rows, want %d", id, n, 2*want)
			}
		}

		again, err := s.PurgeDue(ctx, now, 2)
		if err != nil || len(again) != 0 || again == nil {
			t.Errorf("second PurgeDue = %v, %v; want nothing", ids(again), err)
		}
	})
}

func TestConcurrentPurgeDeletesEachOnce(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		const apps, purgers = 200, 6
		now := t0.Add(time.Hour)
		for i := range apps {
			app := newApp(fmt.Sprintf("p%03d", i), "tenant-a", t0)
			app.Origins = []string{fmt.Sprintf("https://p%03d.example.com", i)}
			app.ScheduledDeletionTime = ptr(t0.Add(time.Duration(i%7) * time.Second))
			mustCreate(t, s, app, store.Secret{Hash: "h"})
		}
		mustCreate(t, s, newApp("survivor", "tenant-a", t0))

		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			count = map[string]int{}
		)
		start := make(chan struct{})
		for range purgers {
			wg.Go(func() {
				<-start
				purged, err := s.PurgeDue(ctx, now, 7)
				if err != nil {
					t.Errorf("PurgeDue: %v", err)
				}
				mu.Lock()
				defer mu.Unlock()
				for _, a := range purged {
					count[a.ID]++
				}
			})
		}
		close(start)
		wg.Wait()

		if len(count) != apps {
			t.Errorf("purged %d distinct applications, want %d", len(count), apps)
		}
		for id, n := range count {
			if n != 1 {
				t.Errorf("%s purged %d times", id, n)
			}
		}
		var left int64
		if err := s.DB().WithContext(ctx).Table("applications").Count(&left).Error; err != nil {
			t.Fatal(err)
		}
		if left != 1 {
			t.Errorf("%d applications left, want 1 (the survivor)", left)
		}
		for _, table := range []string{"application_secrets", "application_origins"} {
			var n int64
			if err := s.DB().WithContext(ctx).Table(table).Count(&n).Error; err != nil || n != 0 {
				t.Errorf("%s: %d rows left, %v", table, n, err)
			}
		}
	})
}

// TestPurgeSkipsLockedRows holds some due rows in another transaction, as a purger that
// crashed mid-batch or is still working would: PurgeDue must take the others without
// waiting, and a later pass must finish once the lock is gone. PostgreSQL only: SQLite has
// no row locks.
func TestPurgeSkipsLockedRows(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		if s.Dialect() != store.DialectPostgres {
			t.Skip("row locks are PostgreSQL's")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		now := t0.Add(time.Hour)
		for i := range 10 {
			app := newApp(fmt.Sprintf("l%d", i), "tenant-a", t0)
			app.ScheduledDeletionTime = ptr(t0.Add(time.Duration(i) * time.Second))
			mustCreate(t, s, app, store.Secret{Hash: "h"})
		}

		holder := s.DB().WithContext(ctx).Begin()
		if holder.Error != nil {
			t.Fatal(holder.Error)
		}
		defer holder.Rollback()
		var held []string
		if err := holder.Raw("SELECT id FROM applications WHERE id IN ('l2', 'l5') FOR UPDATE").Scan(&held).Error; err != nil || len(held) != 2 {
			t.Fatalf("lock rows: %v %v", held, err)
		}

		purged, err := s.PurgeDue(ctx, now, 3)
		if err != nil {
			t.Fatalf("PurgeDue with locked rows: %v", err)
		}
		if want := []string{"l0", "l1", "l3", "l4", "l6", "l7", "l8", "l9"}; !slices.Equal(ids(purged), want) {
			t.Errorf("purged %v, want %v", ids(purged), want)
		}

		// The holder "crashes": its transaction rolls back and the next pass finishes.
		if err := holder.Rollback().Error; err != nil {
			t.Fatal(err)
		}
		purged, err = s.PurgeDue(ctx, now, 3)
		if err != nil || !slices.Equal(ids(purged), []string{"l2", "l5"}) {
			t.Errorf("second pass purged %v, %v; want [l2 l5]", ids(purged), err)
		}
	})
}
