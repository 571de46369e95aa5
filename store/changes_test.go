package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cxone/appreg/store"
)

// changesAfter returns the application ids of the change rows above seq, in seq order, and
// the highest seq read.
func changesAfter(t *testing.T, s *store.Store, seq int64) ([]string, int64) {
	t.Helper()
	changes, err := s.Changes(context.Background(), seq, 0)
	if err != nil {
		t.Fatalf("Changes: %v", err)
	}
	got := []string{}
	for _, c := range changes {
		if c.Seq <= seq {
			t.Fatalf("Changes(%d) returned seq %d", seq, c.Seq)
		}
		seq = c.Seq
		got = append(got, c.ApplicationID)
	}
	return got, seq
}

func TestChangesRecordedPerWrite(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if seq, err := s.LatestChangeSeq(ctx); err != nil || seq != 0 {
			t.Fatalf("LatestChangeSeq on an empty log = %d, %v; want 0", seq, err)
		}
		var seq int64
		expect := func(name string, want ...string) {
			t.Helper()
			got, last := changesAfter(t, s, seq)
			if want == nil {
				want = []string{}
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s: changes %v, want %v", name, got, want)
			}
			latest, err := s.LatestChangeSeq(ctx)
			if err != nil || latest != last {
				t.Errorf("%s: LatestChangeSeq = %d, %v; want %d", name, latest, err, last)
			}
			seq = last
		}
		before := time.Now().Add(-time.Second)

		a := newApp("ch-a", "tenant-a", t0)
		a.Origins = []string{"https://a.example.com"}
		mustCreate(t, s, a, store.Secret{Hash: "h"})
		mustCreate(t, s, newApp("ch-b", "tenant-b", t0))
		expect("create", "ch-a", "ch-b")

		if err := s.CreateApplication(ctx, newApp("ch-a", "tenant-a", t0), nil); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate create: %v", err)
		}
		expect("failed create")

		for _, fn := range []func(*store.Application){
			func(a *store.Application) { a.Enabled = false },
			func(a *store.Application) { a.Origins = []string{"https://new.example.com"} },
			func(a *store.Application) { a.ScheduledDeletionTime = ptr(t0.Add(time.Hour)) },
		} {
			if _, err := s.UpdateApplication(ctx, "", "ch-a", t0, func(a *store.Application) error { fn(a); return nil }); err != nil {
				t.Fatal(err)
			}
		}
		expect("updates", "ch-a", "ch-a", "ch-a")

		if _, err := s.UpdateApplication(ctx, "", "missing", t0, func(*store.Application) error { return nil }); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("update missing: %v", err)
		}
		if _, err := s.UpdateApplication(ctx, "tenant-b", "ch-a", t0, func(*store.Application) error { return nil }); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("update of another tenant's: %v", err)
		}
		expect("refused updates")

		for i := range 3 {
			app := newApp(fmt.Sprintf("ch-due-%d", i), "tenant-a", t0)
			app.ScheduledDeletionTime = ptr(t0.Add(time.Duration(3-i) * time.Minute))
			mustCreate(t, s, app)
		}
		expect("creates", "ch-due-0", "ch-due-1", "ch-due-2")
		purged, err := s.PurgeDue(ctx, t0.Add(2*time.Hour), 2)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"ch-due-2", "ch-due-1", "ch-due-0", "ch-a"}; !slices.Equal(ids(purged), want) {
			t.Fatalf("purged %v, want %v", ids(purged), want)
		}
		expect("purge", ids(purged)...)

		changes, err := s.Changes(ctx, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range changes {
			if c.Time.Before(before) || c.Time.After(time.Now().Add(time.Second)) || c.Time.Location() != time.UTC {
				t.Errorf("change %d stamped %v: want the wall clock in UTC", c.Seq, c.Time)
			}
		}
	})
}

// TestRolledBackUpdateRecordsNothing checks that the change row belongs to the write's
// transaction: an updater's error, or a write that fails after the row would have been
// written, leaves no change behind.
func TestRolledBackUpdateRecordsNothing(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		mustCreate(t, s, newApp("rb", "tenant-a", t0))
		_, seq := changesAfter(t, s, 0)

		errVeto := errors.New("veto")
		_, err := s.UpdateApplication(ctx, "", "rb", t0, func(a *store.Application) error {
			a.Enabled = false
			return errVeto
		})
		if !errors.Is(err, errVeto) {
			t.Fatalf("err = %v, want errVeto", err)
		}
		// A write the database refuses (a CHECK constraint) rolls back too.
		_, err = s.UpdateApplication(ctx, "", "rb", t0, func(a *store.Application) error {
			a.Origins = []string{"https://x.example.com"}
			a.Tenancy = "bogus"
			return nil
		})
		if err == nil {
			t.Fatal("update refused by a CHECK constraint succeeded")
		}
		// So does one whose context ends inside the transaction.
		cctx, cancel := context.WithCancel(ctx)
		_, err = s.UpdateApplication(cctx, "", "rb", t0, func(a *store.Application) error {
			a.Enabled = false
			cancel()
			return nil
		})
		if err == nil {
			t.Fatal("update whose context was cancelled succeeded")
		}
		got, err := s.GetApplication(ctx, "", "rb", t0)
		if err != nil || !got.Enabled || got.Version != 1 || len(got.Origins) != 0 {
			t.Fatalf("after rolled-back updates: %+v, %v", got, err)
		}
		if got, _ := changesAfter(t, s, seq); len(got) != 0 {
			t.Errorf("rolled-back updates recorded changes %v", got)
		}
	})
}

func TestChangesPaging(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		var want []string
		for i := range 7 {
			id := fmt.Sprintf("pg-%d", i)
			mustCreate(t, s, newApp(id, "tenant-a", t0))
			want = append(want, id)
		}
		var (
			got   []string
			after int64
		)
		for {
			page, err := s.Changes(ctx, after, 3)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) > 3 {
				t.Fatalf("page of %d, limit 3", len(page))
			}
			for _, c := range page {
				got = append(got, c.ApplicationID)
				after = c.Seq
			}
			if len(page) < 3 {
				break
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("pages = %v, want %v", got, want)
		}
		if none, err := s.Changes(ctx, after, 3); err != nil || none == nil || len(none) != 0 {
			t.Errorf("Changes past the end = %#v, %v; want empty", none, err)
		}
	})
}

func TestPruneChanges(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		for i := range 5 {
			mustCreate(t, s, newApp(fmt.Sprintf("pr-%d", i), "tenant-a", t0))
		}
		// Age the first four rows by two hours.
		old := time.Now().Add(-2 * time.Hour).UTC().Truncate(time.Microsecond)
		changes, err := s.Changes(ctx, 0, 0)
		if err != nil || len(changes) != 5 {
			t.Fatalf("Changes = %v, %v", changes, err)
		}
		err = s.DB().WithContext(ctx).Model(&store.Change{}).Where("seq <= ?", changes[3].Seq).
			Update("changed_time", old).Error
		if err != nil {
			t.Fatal(err)
		}
		n, err := s.PruneChanges(ctx, time.Now().Add(-time.Hour))
		if err != nil || n != 4 {
			t.Fatalf("PruneChanges = %d, %v; want 4", n, err)
		}
		if got, _ := changesAfter(t, s, 0); !slices.Equal(got, []string{"pr-4"}) {
			t.Errorf("left %v, want [pr-4]", got)
		}

		// The newest row is kept however old, so LatestChangeSeq survives a quiet log.
		n, err = s.PruneChanges(ctx, time.Now().Add(time.Hour))
		if err != nil || n != 0 {
			t.Errorf("PruneChanges of the last row = %d, %v; want 0", n, err)
		}
		if latest, err := s.LatestChangeSeq(ctx); err != nil || latest != changes[4].Seq {
			t.Errorf("LatestChangeSeq = %d, %v; want %d", latest, err, changes[4].Seq)
		}

		// Seqs are never reused after pruning.
		mustCreate(t, s, newApp("pr-5", "tenant-a", t0))
		if next, err := s.LatestChangeSeq(ctx); err != nil || next <= changes[4].Seq {
			t.Errorf("seq after prune = %d, %v; want above %d", next, err, changes[4].Seq)
		}
	})
}

// TestEachApplicationID: every stored id once, after their count.
func TestEachApplicationID(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		want := []string{"a", "b", "c"}
		for i, id := range want {
			mustCreate(t, s, newApp(id, fmt.Sprint("t", i%2), t0))
		}
		count := -1
		var got []string
		if err := s.EachApplicationID(ctx, func(n int) { count = n }, func(id string) { got = append(got, id) }); err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		if count != 3 || !slices.Equal(got, want) {
			t.Fatalf("count %d, ids %v; want 3, %v", count, got, want)
		}
	})
}
