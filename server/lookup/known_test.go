package lookup_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cxone/appreg/server/lookup"
	"github.com/cxone/appreg/store"
)

// listing is a fakeSource that lists its application ids, as *store.Store does: a started
// cache over it knows every existing client id.
type listing struct{ *fakeSource }

func (l listing) EachApplicationID(ctx context.Context, count func(int), fn func(string)) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return l.fail
	}
	count(len(l.apps))
	for id := range l.apps {
		fn(id)
	}
	return nil
}

// startedCache is a started cache over l whose loop polls only when asked (awaitPoll).
func startedCache(t *testing.T, l listing, cfg lookup.Config) *lookup.Cache {
	t.Helper()
	cfg.PollInterval = time.Hour
	cfg.UsageFlush = time.Hour
	cfg.PruneInterval = time.Hour
	c := newCache(t, l, cfg)
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestUnknownIDsAreNotRead: a flood of never-repeated made-up ids is answered unknown without
// one read of the database per id: a few polls of the change log, shared by every caller.
func TestUnknownIDsAreNotRead(t *testing.T) {
	t.Parallel()
	f := newFake()
	for i := range 50 {
		f.put(app(fmt.Sprintf("app-%d", i)))
	}
	c := startedCache(t, listing{f}, lookup.Config{})
	mustClient(t, c, "app-7")
	reads, polls := f.getClientCalls.Load(), f.changesCalls.Load()

	const flood = 500
	var wg sync.WaitGroup
	errs := make(chan error, flood)
	for i := range flood {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("made-up-%d", i)
			if _, err := c.Client(context.Background(), id); !errors.Is(err, store.ErrNotFound) {
				errs <- fmt.Errorf("Client(%s) = %v, want ErrNotFound", id, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// The Bloom filter's false positives (1% when full, far fewer here) may still be read.
	if got := f.getClientCalls.Load() - reads; got > flood/20 {
		t.Errorf("%d database reads for %d unknown ids", got, flood)
	}
	if got := c.Stats().Unknown; got < flood-flood/20 {
		t.Errorf("Unknown = %d, want about %d", got, flood)
	}
	if got := f.changesCalls.Load() - polls; got == 0 || got > flood/5 {
		t.Errorf("%d polls of the change log for %d unknown ids: want a few, shared", got, flood)
	}
	// Known ids still answer.
	mustClient(t, c, "app-8")
}

// TestIDCreatedElsewhereIsNotUnknown: an application created on another replica after this
// one's last poll is found at once, not answered unknown until the next poll.
func TestIDCreatedElsewhereIsNotUnknown(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.put(app("old"))
	c := startedCache(t, listing{f}, lookup.Config{})
	mustNotFound(t, c, "fresh")
	// Another replica commits the create; this replica's loop will not poll for an hour.
	f.put(app("fresh"))
	f.commit(f.latest()+1, "fresh")
	if cl := mustClient(t, c, "fresh"); cl.App.ID != "fresh" {
		t.Fatalf("got %s", cl.App.ID)
	}
	// A create on this replica is known at once, without a poll.
	f.put(app("mine"))
	c.InvalidateWritten("mine", nil)
	polls := f.changesCalls.Load()
	mustClient(t, c, "mine")
	if f.changesCalls.Load() != polls {
		t.Error("this replica's own create needed a poll")
	}
}

// TestKnownIDsDegrade: when the change log cannot be read, an id not known is an error, never
// a wrong "unknown"; when the ids cannot be read at start, every id goes to the source.
func TestKnownIDsDegrade(t *testing.T) {
	t.Parallel()
	t.Run("poll fails", func(t *testing.T) {
		t.Parallel()
		f := newFake()
		f.put(app("a"))
		c := startedCache(t, listing{f}, lookup.Config{})
		f.setFail(errDown)
		if _, err := c.Client(context.Background(), "unknown"); err == nil || errors.Is(err, store.ErrNotFound) {
			t.Fatalf("with the change log unreadable: %v, want an error other than ErrNotFound", err)
		}
	})
	t.Run("load fails", func(t *testing.T) {
		t.Parallel()
		f := newFake()
		f.put(app("a"))
		l := listing{f}
		c := newCache(t, failingList{l}, lookup.Config{PollInterval: time.Hour})
		if err := c.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		before := f.getClientCalls.Load()
		mustNotFound(t, c, "unknown")
		if f.getClientCalls.Load() != before+1 {
			t.Error("without the known ids, an unknown id was not read from the source")
		}
	})
}

type failingList struct{ listing }

func (failingList) EachApplicationID(context.Context, func(int), func(string)) error { return errDown }

// staleableCache is a started cache over f, with MaxStale 10 s on a wall clock of the test's,
// whose loop polls only when asked.
func staleableCache(t *testing.T, f *fakeSource) (*lookup.Cache, *fakeWall) {
	t.Helper()
	c := newCache(t, listing{f}, lookup.Config{PollInterval: time.Hour, UsageFlush: time.Hour, PruneInterval: time.Hour,
		MaxStale: 10 * time.Second})
	wall := newWall()
	lookup.SetWall(c, wall.Now)
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return c, wall
}

// TestStaleCacheFailsClosed: with the change log unreadable, cached clients answer for
// MaxStale after the last successful poll, then fail closed until a poll succeeds again.
func TestStaleCacheFailsClosed(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.put(app("a", "https://a.example"))
	c, wall := staleableCache(t, f)
	mustClient(t, c, "a")
	originIDs(t, c, "https://a.example")
	f.setFail(errDown)

	wall.Add(9 * time.Second)
	mustClient(t, c, "a") // within the bound: from memory
	originIDs(t, c, "https://a.example")

	wall.Add(2 * time.Second)
	if _, err := c.Client(context.Background(), "a"); !errors.Is(err, lookup.ErrStale) {
		t.Fatalf("past MaxStale with the log unreadable: %v, want ErrStale", err)
	}
	if _, err := c.OriginApps(context.Background(), "https://a.example"); !errors.Is(err, lookup.ErrStale) {
		t.Fatalf("origins past MaxStale: %v, want ErrStale", err)
	}
	if c.Stats().Stale != 2 {
		t.Errorf("Stale = %d, want 2", c.Stats().Stale)
	}

	f.setFail(nil) // the database is back: the next answer polls, and is current again
	// (after SyncGap: a poll failed less than that ago answers its error, see awaitPoll)
	time.Sleep(lookup.SyncGap)
	mustClient(t, c, "a")
	mustClient(t, c, "a")
}

// TestAbsentClient: between them, CachedClient and AbsentClient give Client's answer
// without a read exactly where Client would: a held client, a held not-found, an id the known
// set lacks after a poll; and nothing where Client must decide (an id that may exist, a
// stale cache, a failed poll, a caller gone). They count as Client would.
func TestAbsentClient(t *testing.T) {
	t.Parallel()
	f := newFake()
	for _, id := range []string{"cached", "uncached", "deleted"} {
		f.put(app(id))
	}
	c := startedCache(t, listing{f}, lookup.Config{})
	mustClient(t, c, "cached")
	f.del("deleted") // deleted ids stay in the known set; Client reads it once, and holds it as not found
	mustNotFound(t, c, "deleted")
	f.put(app("elsewhere")) // created on another replica after this one's last poll
	f.commit(f.latest()+1, "elsewhere")
	reads, hits := f.getClientCalls.Load(), c.Stats().ClientHits

	tests := []struct {
		id           string
		held, client bool // CachedClient's ok, and a client (not nil)
		absent       bool // AbsentClient, asked when not held
	}{
		{"cached", true, true, false},
		{"deleted", true, false, false},
		{"uncached", false, false, false}, // may exist: Client reads it
		{"never-created", false, false, true},
		{"elsewhere", false, false, false}, // known after the poll AbsentClient waits for
	}
	for _, tc := range tests {
		cl, held := c.CachedClient(tc.id)
		if held != tc.held || (cl != nil) != tc.client {
			t.Errorf("CachedClient(%s) = %v, %v; want a client %v, held %v", tc.id, cl, held, tc.client, tc.held)
		}
		if held {
			continue
		}
		if got := c.AbsentClient(context.Background(), tc.id); got != tc.absent {
			t.Errorf("AbsentClient(%s) = %v, want %v", tc.id, got, tc.absent)
		}
	}
	if got := f.getClientCalls.Load() - reads; got != 0 {
		t.Errorf("CachedClient and AbsentClient read %d clients from the source", got)
	}
	if st := c.Stats(); st.Unknown != 1 || st.ClientHits-hits != 2 {
		t.Errorf("Unknown = %d, want 1 (never-created); hits %d, want 2 (cached, deleted)", st.Unknown, st.ClientHits-hits)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if c.AbsentClient(ctx, "gone-caller") {
		t.Error("a caller gone before the poll was told unknown")
	}
	// Gone as the poll ended: the poll answers (goneAsPolled's Done never fires), and the
	// caller is gone all the same. Not unknown, and not counted: the full path decides it.
	before := c.Stats()
	if c.AbsentClient(goneAsPolled{context.Background()}, "gone-as-polled") {
		t.Error("a caller gone as its poll ended was told unknown")
	}
	if after := c.Stats(); after.Unknown != before.Unknown || after.ClientMisses != before.ClientMisses {
		t.Errorf("a caller gone as its poll ended was counted: unknown %d→%d, misses %d→%d",
			before.Unknown, after.Unknown, before.ClientMisses, after.ClientMisses)
	}

	// A failed poll is no "unknown", and Client, asked at once after it, answers its error
	// without polling again (awaitPoll), as the full path does after the hot path.
	f.setFail(errDown)
	polls := f.changesCalls.Load()
	if c.AbsentClient(context.Background(), "another-never-created") {
		t.Fatal("with the change log unreadable: unknown")
	}
	asked := time.Now()
	_, err := c.Client(context.Background(), "another-never-created")
	if err == nil || errors.Is(err, store.ErrNotFound) || !errors.Is(err, errDown) {
		t.Fatalf("Client after the failed poll: %v, want the poll's error", err)
	}
	if time.Since(asked) < lookup.SyncGap/2 { // else the loop may rightly have polled again
		if got := f.changesCalls.Load() - polls; got != 1 {
			t.Errorf("%d polls for the failed one and the Client after it, want 1", got)
		}
	}
}

// TestAbsentClientStale: a cache past MaxStale says nothing, without waiting for a poll.
func TestAbsentClientStale(t *testing.T) {
	t.Parallel()
	f := newFake()
	c, wall := staleableCache(t, f)
	if !c.AbsentClient(context.Background(), "never-created") {
		t.Fatal("fresh: not absent")
	}
	wall.Add(11 * time.Second)
	polls := f.changesCalls.Load()
	if c.AbsentClient(context.Background(), "never-created") {
		t.Error("past MaxStale: absent")
	}
	if f.changesCalls.Load() != polls {
		t.Error("past MaxStale, AbsentClient waited for a poll")
	}
}

// goneAsPolled is a context whose caller has gone (Err) but whose Done never fires, so that a
// wait on it ends with the poll: the two at once, deterministically.
type goneAsPolled struct{ context.Context }

func (goneAsPolled) Done() <-chan struct{} { return nil }
func (goneAsPolled) Err() error            { return context.Canceled }
