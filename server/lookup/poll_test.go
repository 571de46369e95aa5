package lookup_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cxone/appreg/server/lookup"
	"github.com/cxone/appreg/store"
)

// fakeWall is a wall clock tests move by hand.
type fakeWall struct {
	mu  sync.Mutex
	now time.Time
}

func newWall() *fakeWall { return &fakeWall{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (w *fakeWall) Now() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.now
}

func (w *fakeWall) Add(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now = w.now.Add(d)
}

// manualCache is a started cache whose poll loop never runs by itself: the test polls with
// lookup.PollNow, on a wall clock it moves.
func manualCache(t *testing.T, src lookup.Source, cfg lookup.Config) (*lookup.Cache, *fakeWall) {
	t.Helper()
	cfg.PollInterval = time.Hour
	cfg.UsageFlush = time.Hour
	cfg.PruneInterval = time.Hour
	if cfg.MaxStale == 0 {
		// These tests move the wall clock by hand: a stale cache would wake the loop to poll.
		cfg.MaxStale = 24 * time.Hour
	}
	c := newCache(t, src, cfg)
	wall := newWall()
	lookup.SetWall(c, wall.Now)
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return c, wall
}

// cached reports whether id is cached, by whether a lookup reads the source.
func cached(t *testing.T, c *lookup.Cache, f *fakeSource, id string) bool {
	t.Helper()
	before := f.getClientCalls.Load()
	_, _ = c.Client(context.Background(), id)
	return f.getClientCalls.Load() == before
}

func TestPollAppliesChanges(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.put(app("a"))
	f.put(app("b"))
	c, _ := manualCache(t, f, lookup.Config{})
	mustClient(t, c, "a")
	mustClient(t, c, "b")
	mustNotFound(t, c, "new")

	f.put(app("new"))
	f.commit(1, "new")
	f.commit(2, "a")
	lookup.PollNow(c)
	mustClient(t, c, "new")
	if cached(t, c, f, "a") {
		t.Error("a not dropped by its change")
	}
	if !cached(t, c, f, "b") {
		t.Error("b was dropped by changes of others")
	}
	if st := c.Stats(); st.Seq != 2 || st.Invalidations != 2 {
		t.Errorf("stats = %+v, want Seq 2, 2 invalidations", st)
	}
}

// TestPollWaitsOnGaps commits seq 4 before seq 3, as two PostgreSQL transactions can: the
// poller applies 4 at once, keeps its cursor below 3, applies 3 when it commits, and never
// applies 4 twice.
func TestPollWaitsOnGaps(t *testing.T) {
	t.Parallel()
	f := newFake()
	for _, id := range []string{"a", "b", "c", "d"} {
		f.put(app(id))
	}
	c, wall := manualCache(t, f, lookup.Config{})
	f.commit(1, "a")
	f.commit(2, "b")
	lookup.PollNow(c)
	if got := lookup.Cursor(c); got != 2 {
		t.Fatalf("cursor = %d, want 2", got)
	}

	mustClient(t, c, "c")
	mustClient(t, c, "d")
	f.commit(4, "d")
	lookup.PollNow(c)
	if got := lookup.Cursor(c); got != 2 {
		t.Errorf("cursor = %d with seq 3 missing, want 2", got)
	}
	if cached(t, c, f, "d") {
		t.Error("seq 4 not applied while seq 3 is missing")
	}
	inv := c.Stats().Invalidations
	wall.Add(time.Second)
	lookup.PollNow(c)
	if got := c.Stats().Invalidations; got != inv {
		t.Errorf("seq 4 applied again when re-read (%d invalidations, want %d)", got, inv)
	}

	f.commit(3, "c")
	lookup.PollNow(c)
	if got := lookup.Cursor(c); got != 4 {
		t.Errorf("cursor = %d once seq 3 committed, want 4", got)
	}
	if cached(t, c, f, "c") {
		t.Error("seq 3, committed late, was not applied")
	}
}

// TestPollGivesUpGaps checks that a seq that never commits (a rolled-back write) holds the
// cursor for GapTimeout, counted from when a later seq was first read, and no longer.
func TestPollGivesUpGaps(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.put(app("a"))
	c, wall := manualCache(t, f, lookup.Config{GapTimeout: 10 * time.Second})
	f.commit(1, "a")
	f.commit(3, "a") // 2 rolled back
	lookup.PollNow(c)
	wall.Add(5 * time.Second)
	f.commit(6, "a") // 4, 5 rolled back, seen 5s later
	lookup.PollNow(c)
	if got := lookup.Cursor(c); got != 1 {
		t.Fatalf("cursor = %d, want 1", got)
	}
	wall.Add(5*time.Second - time.Millisecond)
	lookup.PollNow(c)
	if got := lookup.Cursor(c); got != 1 {
		t.Errorf("cursor = %d before GapTimeout, want 1", got)
	}
	wall.Add(time.Millisecond)
	lookup.PollNow(c)
	if got := lookup.Cursor(c); got != 3 {
		t.Errorf("cursor = %d when the gap at 2 times out, want 3 (4 and 5 seen missing for 5s only)", got)
	}
	wall.Add(5 * time.Second)
	lookup.PollNow(c)
	if got := lookup.Cursor(c); got != 6 {
		t.Errorf("cursor = %d, want 6", got)
	}
}

// TestStartLooksBack checks that a write that drew its seq before Start read the latest seq,
// and commits after, is applied.
func TestStartLooksBack(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.put(app("late"))
	for seq := int64(1); seq <= 10; seq++ {
		if seq != 9 {
			f.commit(seq, "other")
		}
	}
	c, _ := manualCache(t, f, lookup.Config{})
	mustClient(t, c, "late")
	f.commit(9, "late")
	lookup.PollNow(c)
	if cached(t, c, f, "late") {
		t.Error("a seq below the latest one at Start, committed after Start, was not applied")
	}
	if got := lookup.Cursor(c); got != 10 {
		t.Errorf("cursor = %d, want 10", got)
	}
}

// TestOutage checks that while the source is down the cache keeps answering, that after a
// short outage the changes made meanwhile are applied, and that after a long one, or one
// with too many changes, the cache is cleared.
func TestOutage(t *testing.T) {
	t.Parallel()
	t.Run("short outage catches up", func(t *testing.T) {
		t.Parallel()
		f := newFake()
		f.put(app("a"))
		f.put(app("b"))
		c, wall := manualCache(t, f, lookup.Config{ChangeRetention: time.Hour})
		mustClient(t, c, "a")
		mustClient(t, c, "b")
		f.setFail(errDown)
		lookup.PollNow(c)
		wall.Add(time.Minute)
		lookup.PollNow(c)
		if !cached(t, c, f, "a") || !cached(t, c, f, "b") {
			t.Fatal("cache not serving during the outage")
		}
		if st := c.Stats(); st.PollErrors != 2 {
			t.Errorf("PollErrors = %d, want 2", st.PollErrors)
		}
		f.setFail(nil)
		f.commit(1, "a")
		lookup.PollNow(c)
		if cached(t, c, f, "a") {
			t.Error("change made during the outage not applied")
		}
		if !cached(t, c, f, "b") || c.Stats().Resets != 0 {
			t.Errorf("short outage cleared the cache (resets %d)", c.Stats().Resets)
		}
	})
	t.Run("long outage clears", func(t *testing.T) {
		t.Parallel()
		f := newFake()
		f.put(app("a"))
		c, wall := manualCache(t, f, lookup.Config{ChangeRetention: time.Hour})
		mustClient(t, c, "a")
		f.setFail(errDown)
		lookup.PollNow(c)
		wall.Add(31 * time.Minute)
		f.setFail(nil)
		lookup.PollNow(c)
		if cached(t, c, f, "a") || c.Stats().Resets != 1 {
			t.Errorf("after an outage of half the retention the cache was kept (resets %d)", c.Stats().Resets)
		}
	})
	t.Run("large backlog clears", func(t *testing.T) {
		t.Parallel()
		f := newFake()
		f.put(app("a"))
		c, _ := manualCache(t, f, lookup.Config{})
		mustClient(t, c, "a")
		f.setFail(errDown)
		lookup.PollNow(c)
		f.setFail(nil)
		f.commit(1_000_000, "other")
		lookup.PollNow(c)
		if cached(t, c, f, "a") || c.Stats().Resets != 1 {
			t.Errorf("after a million changes the cache was kept (resets %d)", c.Stats().Resets)
		}
		if got := lookup.Cursor(c); got != 1_000_000-1000 {
			t.Errorf("cursor = %d after the reset, want the latest seq less the look-back", got)
		}
	})
}

// panicky panics in Changes once.
type panicky struct {
	*fakeSource
	done atomic.Bool
}

func (p *panicky) Changes(ctx context.Context, after int64, limit int) ([]store.Change, error) {
	if !p.done.Swap(true) {
		panic("boom")
	}
	return p.fakeSource.Changes(ctx, after, limit)
}

// TestPollLoop runs the real loop: it survives a panicking source, keeps polling, and ends
// on Stop.
func TestPollLoop(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.put(app("a"))
	p := &panicky{fakeSource: f}
	c := lookup.New(p, lookup.Config{PollInterval: 5 * time.Millisecond, Logger: quiet})
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustClient(t, c, "a")
	f.commit(1, "a")
	deadline := time.Now().Add(5 * time.Second)
	for cached(t, c, f, "a") {
		if time.Now().After(deadline) {
			t.Fatal("the poll loop stopped after a panic")
		}
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	calls := f.changesCalls.Load()
	time.Sleep(30 * time.Millisecond)
	if got := f.changesCalls.Load(); got != calls {
		t.Errorf("still polling after Stop (%d reads, then %d)", calls, got)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Errorf("Start after Stop: %v", err)
	}
	if err := c.Start(context.Background()); err == nil {
		t.Error("second Start succeeded")
	}
	if err := c.Stop(ctx); err != nil {
		t.Errorf("Stop: %v", err)
	}
}

// pruner records PruneChanges calls.
type pruner struct {
	*fakeSource
	befores chan time.Time
}

func (p pruner) PruneChanges(ctx context.Context, before time.Time) (int64, error) {
	select {
	case p.befores <- before:
	default:
	}
	return 0, nil
}

func TestPrunes(t *testing.T) {
	t.Parallel()
	p := pruner{fakeSource: newFake(), befores: make(chan time.Time, 1)}
	c := newCache(t, p, lookup.Config{PruneInterval: 10 * time.Millisecond, ChangeRetention: time.Hour})
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case before := <-p.befores:
		if d := time.Since(before); d < time.Hour || d > time.Hour+time.Minute {
			t.Errorf("pruned before %v, %v ago; want an hour ago", before, d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("never pruned")
	}
}
