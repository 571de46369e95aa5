package lookup_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/cxone/appreg/server/lookup"
	"github.com/cxone/appreg/store"
	"github.com/cxone/appreg/store/storetest"
)

// replica is one appreg process: its own store (connection pool) and its own cache, on the
// shared database.
type replica struct {
	store *store.Store
	cache *lookup.Cache
}

func newReplica(t *testing.T, url string, cfg lookup.Config) *replica {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	c := newCache(t, s, cfg)
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return &replica{store: s, cache: c}
}

// within polls cond until it holds, failing the test if it does not within d. It returns how
// long it took.
func within(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("%s: not seen within %v", what, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// TestReplicasSeeWrites writes through replica A's store (and A's Invalidate, as the server
// does) and checks that replica B's cache, which read the old state first, answers with the
// new state within a second.
func TestReplicasSeeWrites(t *testing.T) {
	t.Parallel()
	url := storetest.PostgresURL(t)
	a := newReplica(t, url, lookup.Config{})
	b := newReplica(t, url, lookup.Config{})
	ctx := context.Background()
	const oldOrigin, newOrigin = "https://old.example.com", "https://new.example.com"

	client := func(id string) (*lookup.Client, bool) {
		cl, err := b.cache.Client(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, false
		}
		if err != nil {
			t.Fatalf("B: Client(%s): %v", id, err)
		}
		return cl, true
	}
	origin := func(o string) []string {
		apps, err := b.cache.OriginApps(ctx, o)
		if err != nil {
			t.Fatalf("B: OriginApps(%s): %v", o, err)
		}
		ids := []string{}
		for _, a := range apps {
			ids = append(ids, a.ID)
		}
		return ids
	}
	update := func(fn func(*store.Application)) {
		t.Helper()
		_, err := a.store.UpdateApplication(ctx, "", "x", time.Time{}, func(app *store.Application) error {
			fn(app)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		a.cache.Invalidate("x")
	}

	var worst time.Duration
	step := func(name string, write func(), seen func() bool) {
		t.Helper()
		if seen() {
			t.Fatalf("%s: B already shows the result before the write", name)
		}
		write()
		d := within(t, time.Second, name, seen)
		worst = max(worst, d)
		t.Logf("%-16s seen by B after %v", name, d.Round(time.Millisecond))
	}

	step("create", func() {
		x := app("x", oldOrigin)
		if err := a.store.CreateApplication(ctx, &x, []store.Secret{{Hash: "h"}}); err != nil {
			t.Fatal(err)
		}
		a.cache.Invalidate("x")
	}, func() bool { _, ok := client("x"); return ok })
	if got := origin(newOrigin); len(got) != 0 { // cached as empty
		t.Fatalf("new origin lists %v", got)
	}

	step("disable", func() { update(func(app *store.Application) { app.Enabled = false }) },
		func() bool { cl, ok := client("x"); return ok && !cl.App.Enabled })
	step("enable", func() { update(func(app *store.Application) { app.Enabled = true }) },
		func() bool { cl, ok := client("x"); return ok && cl.App.Enabled })
	step("origin change", func() { update(func(app *store.Application) { app.Origins = []string{newOrigin} }) },
		func() bool {
			return len(origin(oldOrigin)) == 0 && slices.Equal(origin(newOrigin), []string{"x"})
		})
	due := time.Now().Add(time.Hour).UTC()
	step("delete", func() { update(func(app *store.Application) { app.Enabled, app.ScheduledDeletionTime = false, &due }) },
		func() bool { cl, ok := client("x"); return ok && cl.App.ScheduledDeletionTime != nil })
	step("restore", func() { update(func(app *store.Application) { app.Enabled, app.ScheduledDeletionTime = true, nil }) },
		func() bool { cl, ok := client("x"); return ok && cl.App.ScheduledDeletionTime == nil })
	update(func(app *store.Application) { app.Enabled, app.ScheduledDeletionTime = false, &due })
	within(t, time.Second, "delete again", func() bool { cl, ok := client("x"); return ok && cl.App.ScheduledDeletionTime != nil })
	step("purge", func() {
		purged, err := a.store.PurgeDue(ctx, due, 0)
		if err != nil || len(purged) != 1 {
			t.Fatalf("PurgeDue = %v, %v", purged, err)
		}
	}, func() bool { _, ok := client("x"); return !ok && len(origin(newOrigin)) == 0 })

	if worst > time.Second {
		t.Errorf("slowest write took %v to reach B", worst)
	}
	st := b.cache.Stats()
	t.Logf("B stats: %+v", st)
	if st.PollErrors != 0 || st.Resets != 0 {
		t.Errorf("B: %d poll errors, %d resets", st.PollErrors, st.Resets)
	}
}

// TestReplicasOutOfOrderCommits holds a PostgreSQL transaction that drew a lower change seq
// open while a later one commits: replica B applies the later one at once and the earlier one
// when it commits, never skipping it.
func TestReplicasOutOfOrderCommits(t *testing.T) {
	t.Parallel()
	url := storetest.PostgresURL(t)
	a := newReplica(t, url, lookup.Config{})
	b := newReplica(t, url, lookup.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, id := range []string{"early", "late"} {
		x := app(id)
		if err := a.store.CreateApplication(ctx, &x, nil); err != nil {
			t.Fatal(err)
		}
	}
	within(t, time.Second, "creates", func() bool { return b.cache.Stats().Seq == 2 })
	for _, id := range []string{"early", "late"} {
		if cl := mustClient(t, b.cache, id); !cl.App.Enabled {
			t.Fatalf("%s disabled", id)
		}
	}

	// Transaction 1 disables "early" and draws seq 3, but does not commit yet.
	tx1 := a.store.DB().WithContext(ctx).Begin()
	if tx1.Error != nil {
		t.Fatal(tx1.Error)
	}
	defer tx1.Rollback()
	// What UpdateApplication does, in a transaction the test controls.
	disable := func(tx *gorm.DB, id string) {
		t.Helper()
		if err := tx.Exec("UPDATE applications SET enabled = false, version = version + 1 WHERE id = ?", id).Error; err != nil {
			t.Fatal(err)
		}
		if err := tx.Exec("INSERT INTO application_changes (application_id, changed_time) VALUES (?, now())", id).Error; err != nil {
			t.Fatal(err)
		}
	}
	disable(tx1, "early")
	var seq1 int64
	if err := tx1.Raw("SELECT currval('application_changes_seq_seq')").Scan(&seq1).Error; err != nil || seq1 != 3 {
		t.Fatalf("transaction 1 drew seq %d, %v; want 3", seq1, err)
	}

	// Transaction 2 disables "late", draws seq 4 and commits first.
	tx2 := a.store.DB().WithContext(ctx).Begin()
	disable(tx2, "late")
	if err := tx2.Commit().Error; err != nil {
		t.Fatal(err)
	}
	within(t, time.Second, "seq 4 (committed first)", func() bool { return !mustClient(t, b.cache, "late").App.Enabled })
	time.Sleep(300 * time.Millisecond) // more than a poll: the cursor must still wait below 3
	if got := b.cache.Stats().Seq; got != 2 {
		t.Errorf("B's cursor = %d while seq 3 is uncommitted, want 2", got)
	}
	if !mustClient(t, b.cache, "early").App.Enabled {
		t.Fatal("early disabled before its transaction committed")
	}

	if err := tx1.Commit().Error; err != nil {
		t.Fatal(err)
	}
	d := within(t, time.Second, "seq 3 (committed last)", func() bool { return !mustClient(t, b.cache, "early").App.Enabled })
	t.Logf("seq 3, committed after seq 4, seen by B after %v", d.Round(time.Millisecond))
	within(t, time.Second, "cursor past both", func() bool { return b.cache.Stats().Seq == 4 })
}
