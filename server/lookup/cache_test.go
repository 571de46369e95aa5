package lookup_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cxone/appreg/server/lookup"
	"github.com/cxone/appreg/store"
	"github.com/cxone/appreg/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// newCache is a cache over src that is not started (no polling) unless the test starts it.
func newCache(t *testing.T, src lookup.Source, cfg lookup.Config) *lookup.Cache {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	c := lookup.New(src, cfg)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return c
}

func mustClient(t *testing.T, c *lookup.Cache, id string) *lookup.Client {
	t.Helper()
	cl, err := c.Client(context.Background(), id)
	if err != nil {
		t.Fatalf("Client(%s): %v", id, err)
	}
	return cl
}

func mustNotFound(t *testing.T, c *lookup.Cache, id string) {
	t.Helper()
	if cl, err := c.Client(context.Background(), id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Client(%s) = %v, %v; want ErrNotFound", id, cl, err)
	}
}

func originIDs(t *testing.T, c *lookup.Cache, origin string) []string {
	t.Helper()
	apps, err := c.OriginApps(context.Background(), origin)
	if err != nil {
		t.Fatalf("OriginApps(%s): %v", origin, err)
	}
	ids := []string{}
	for _, a := range apps {
		ids = append(ids, a.ID)
	}
	return ids
}

func TestClientHitMissNegative(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.put(app("a"), store.Secret{ID: "s1", Hash: "h1"}, store.Secret{ID: "s2", Hash: "h2"})
	c := newCache(t, f, lookup.Config{})

	cases := []struct {
		name       string
		id         string
		found      bool
		wantReads  int64
		wantHits   uint64
		wantMisses uint64
	}{
		{"miss reads", "a", true, 1, 0, 1},
		{"hit does not", "a", true, 1, 1, 1},
		{"unknown reads", "nope", false, 2, 1, 2},
		{"unknown is cached", "nope", false, 2, 2, 2},
		{"and stays cached", "nope", false, 2, 3, 2},
	}
	for _, tc := range cases {
		if tc.found {
			cl := mustClient(t, c, tc.id)
			if cl.App.ID != "a" || len(cl.Secrets) != 2 || cl.Secrets[0].Hash != "h1" {
				t.Errorf("%s: client = %+v", tc.name, cl)
			}
		} else {
			mustNotFound(t, c, tc.id)
		}
		st := c.Stats()
		if got := f.getClientCalls.Load(); got != tc.wantReads || st.ClientHits != tc.wantHits || st.ClientMisses != tc.wantMisses {
			t.Errorf("%s: reads %d hits %d misses %d; want %d %d %d", tc.name, got, st.ClientHits, st.ClientMisses,
				tc.wantReads, tc.wantHits, tc.wantMisses)
		}
	}
	if st := c.Stats(); st.ClientEntries != 2 {
		t.Errorf("ClientEntries = %d, want 2 (one negative)", st.ClientEntries)
	}
	if a, b := mustClient(t, c, "a"), mustClient(t, c, "a"); a != b {
		t.Error("two hits returned different snapshots")
	}
}

// TestClientOnStore runs the read-through path over a real store on both dialects.
func TestClientOnStore(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := storetest.Open(t, dialect)
			a := app("on-store", "https://o.example.com")
			if err := s.CreateApplication(ctx, &a, []store.Secret{
				{Hash: "new", CreatedTime: time.Now().Add(time.Second)}, {Hash: "old", CreatedTime: time.Now()},
			}); err != nil {
				t.Fatal(err)
			}
			b := app("no-secret", "https://o.example.com")
			b.ScheduledDeletionTime = ptr(time.Now().Add(time.Hour))
			if err := s.CreateApplication(ctx, &b, nil); err != nil {
				t.Fatal(err)
			}
			c := newCache(t, s, lookup.Config{})
			cl := mustClient(t, c, "on-store")
			if cl.App.TenantID != "tenant-on-store" || len(cl.Secrets) != 2 || cl.Secrets[0].Hash != "old" {
				t.Errorf("client = %+v", cl)
			}
			if cl := mustClient(t, c, "no-secret"); cl.Secrets == nil || len(cl.Secrets) != 0 || cl.App.ScheduledDeletionTime == nil {
				t.Errorf("client without secrets = %+v", cl)
			}
			mustNotFound(t, c, "unknown")
			mustNotFound(t, c, "unknown")
			if got := originIDs(t, c, "https://o.example.com"); !slices.Equal(got, []string{"no-secret", "on-store"}) {
				t.Errorf("OriginApps = %v", got)
			}
			if got := originIDs(t, c, "https://none.example.com"); len(got) != 0 {
				t.Errorf("OriginApps(none) = %v", got)
			}
			st := c.Stats()
			if st.ClientMisses != 3 || st.ClientHits != 1 || st.ClientEntries != 3 || st.OriginEntries != 2 {
				t.Errorf("stats = %+v", st)
			}
		})
	}
}

// TestVisibilityByTime checks that a cached application whose scheduled deletion time passes
// disappears from the answers without any change row.
func TestVisibilityByTime(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	set := func(t time.Time) { mu.Lock(); defer mu.Unlock(); now = t }

	f := newFake()
	due := app("due", "https://o.example.com")
	due.ScheduledDeletionTime = ptr(now.Add(time.Minute))
	f.put(due)
	f.put(app("stays", "https://o.example.com"))
	c := newCache(t, f, lookup.Config{Now: clock})

	mustClient(t, c, "due")
	if got := originIDs(t, c, "https://o.example.com"); !slices.Equal(got, []string{"due", "stays"}) {
		t.Fatalf("OriginApps = %v", got)
	}
	set(now.Add(time.Minute - time.Nanosecond))
	mustClient(t, c, "due")
	originIDs(t, c, "https://o.example.com")
	clientReads, originReads := f.getClientCalls.Load(), f.originCalls.Load()

	set(now.Add(time.Nanosecond)) // exactly the scheduled time
	mustNotFound(t, c, "due")
	if got := f.getClientCalls.Load(); got != clientReads {
		t.Errorf("a due client was read again (%d reads, want %d): the cached entry decides", got, clientReads)
	}
	if got := originIDs(t, c, "https://o.example.com"); !slices.Equal(got, []string{"stays"}) {
		t.Errorf("OriginApps once due = %v, want [stays]", got)
	}
	if got := f.originCalls.Load(); got != originReads+1 {
		t.Errorf("origin reads = %d, want %d: a due answer is read once again", got, originReads+1)
	}
	originIDs(t, c, "https://o.example.com")
	if got := f.originCalls.Load(); got != originReads+1 {
		t.Errorf("origin reads = %d, want %d: the new answer is cached", got, originReads+1)
	}
}

// TestBoundHolds looks up ten times Size distinct ids, known and unknown, and as many
// origins: neither cache ever holds more than Size, and hot ids stay cached.
func TestBoundHolds(t *testing.T) {
	t.Parallel()
	const size = 200
	f := newFake()
	for i := range 5 * size {
		f.put(app(fmt.Sprintf("known-%d", i), fmt.Sprintf("https://o%d.example.com", i%(3*size)), "https://shared.example.com"))
	}
	f.put(app("hot"))
	c := newCache(t, f, lookup.Config{Size: size})
	hotHits := 0
	for i := range 10 * size {
		id := fmt.Sprintf("known-%d", i)
		if i%2 == 1 {
			id = fmt.Sprintf("unknown-%d", i)
		}
		_, _ = c.Client(context.Background(), id)
		before := c.Stats().ClientHits
		mustClient(t, c, "hot")
		if c.Stats().ClientHits > before {
			hotHits++
		}
		originIDs(t, c, fmt.Sprintf("https://o%d.example.com", i))
		if st := c.Stats(); st.ClientEntries > size || st.OriginEntries > size {
			t.Fatalf("after %d ids: %d clients, %d origins; bound %d", i+1, st.ClientEntries, st.OriginEntries, size)
		}
		if w := lookup.OriginWeight(c); w > size {
			t.Fatalf("after %d origins: %d applications cached over origins; bound %d", i+1, w, size)
		}
	}
	if hotHits < 10*size-20 {
		t.Errorf("hot id hit %d times of %d: CLOCK should keep a referenced entry", hotHits, 10*size)
	}
	// An origin listing more applications than a shard holds is answered, not cached.
	if got := originIDs(t, c, "https://shared.example.com"); len(got) != 5*size {
		t.Errorf("shared origin lists %d applications, want %d", len(got), 5*size)
	}
	if w := lookup.OriginWeight(c); w > size {
		t.Errorf("%d applications cached over origins; bound %d", w, size)
	}
}

// TestSingleFlight checks that concurrent misses of one id read the source once.
func TestSingleFlight(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.put(app("a"))
	release := make(chan struct{})
	f.beforeGetClient = func(string) { <-release }
	c := newCache(t, f, lookup.Config{})
	const callers = 50
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			if _, err := c.Client(context.Background(), "a"); err != nil {
				t.Errorf("Client: %v", err)
			}
		})
	}
	for f.getClientCalls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let the others queue on the read
	close(release)
	wg.Wait()
	if got := f.getClientCalls.Load(); got != 1 {
		t.Errorf("%d reads for %d concurrent misses, want 1", got, callers)
	}
}

// TestLeaderCancelled checks that a waiter is not failed by the context of the caller whose
// read it waited for.
func TestLeaderCancelled(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.put(app("a"))
	entered := make(chan struct{}, 2)
	release := make(chan struct{})
	var once sync.Once
	f.beforeGetClient = func(string) {
		entered <- struct{}{}
		once.Do(func() { <-release })
	}
	c := newCache(t, f, lookup.Config{})
	leaderCtx, cancel := context.WithCancel(context.Background())
	leaderDone := make(chan error)
	go func() {
		_, err := c.Client(leaderCtx, "a")
		leaderDone <- err
	}()
	<-entered
	waiterDone := make(chan error)
	go func() {
		_, err := c.Client(context.Background(), "a")
		waiterDone <- err
	}()
	time.Sleep(20 * time.Millisecond)
	cancel()
	close(release)
	// The shared read does not inherit the leader's cancellation: a client
	// that hangs up must not fail the read for those waiting on it.
	if err := <-leaderDone; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("leader err = %v, want success or context.Canceled", err)
	}
	if err := <-waiterDone; err != nil {
		t.Errorf("waiter err = %v, want its own successful read", err)
	}
}

func TestReadErrorsAreNotCached(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.put(app("a", "https://o.example.com"))
	c := newCache(t, f, lookup.Config{})
	f.setFail(errDown)
	if _, err := c.Client(context.Background(), "a"); !errors.Is(err, errDown) || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Client with the source down: %v", err)
	}
	if _, err := c.OriginApps(context.Background(), "https://o.example.com"); !errors.Is(err, errDown) {
		t.Fatalf("OriginApps with the source down: %v", err)
	}
	f.setFail(nil)
	mustClient(t, c, "a")
	if got := originIDs(t, c, "https://o.example.com"); !slices.Equal(got, []string{"a"}) {
		t.Errorf("OriginApps after recovery = %v", got)
	}
}

// holdNext makes the next read of the source for key take its answer and then wait until
// the returned release is called; entered is closed once the answer is taken.
func holdNext(hook *func(string), key string) (entered <-chan struct{}, release func()) {
	in, out := make(chan struct{}), make(chan struct{})
	var once sync.Once
	*hook = func(k string) {
		if k != key {
			return
		}
		held := false
		once.Do(func() { held = true })
		if held {
			close(in)
			<-out
		}
	}
	return in, func() { close(out) }
}

// TestNoStaleClientFill places an invalidation inside a read of the same client: the read's
// stale answer must not be cached, and a caller arriving after the invalidation must not wait
// for that read either.
func TestNoStaleClientFill(t *testing.T) {
	t.Parallel()
	for _, via := range []string{"Invalidate", "poll"} {
		t.Run(via, func(t *testing.T) {
			t.Parallel()
			f := newFake()
			f.put(app("x"))
			c := newCache(t, f, lookup.Config{PollInterval: time.Hour})
			if err := c.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			entered, release := holdNext(&f.beforeGetClient, "x")

			stale := make(chan *lookup.Client)
			go func() {
				cl, _ := c.Client(context.Background(), "x")
				stale <- cl
			}()
			<-entered // the read took x as enabled

			disabled := app("x")
			disabled.Enabled = false
			f.put(disabled)
			switch via {
			case "Invalidate":
				c.Invalidate("x")
			case "poll":
				f.commit(1, "x")
				lookup.PollNow(c)
			}

			// A caller after the invalidation reads for itself, although the old read is
			// still under way (were it to wait for that read, it would time out).
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if cl, err := c.Client(ctx, "x"); err != nil || cl.App.Enabled {
				t.Errorf("a caller after the invalidation got %+v, %v; want x disabled, read anew", cl, err)
			}
			release()
			if cl := <-stale; cl == nil || !cl.App.Enabled {
				t.Fatalf("held read returned %+v", cl)
			}
			if cl := mustClient(t, c, "x"); cl.App.Enabled {
				t.Error("the stale read was cached after the invalidation")
			}
		})
	}
}

// TestNoStaleOriginFill is TestNoStaleClientFill for origins: x leaves the origin while a read
// of it is under way. The reverse index cannot know of an answer not yet stored; the origin
// cache's generation must refuse it.
func TestNoStaleOriginFill(t *testing.T) {
	t.Parallel()
	for _, via := range []string{"Invalidate", "poll"} {
		t.Run(via, func(t *testing.T) {
			t.Parallel()
			const o = "https://o.example.com"
			f := newFake()
			f.put(app("x", o))
			c := newCache(t, f, lookup.Config{PollInterval: time.Hour})
			if err := c.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			originIDs(t, c, "https://other.example.com") // something cached, so origins are read
			entered, release := holdNext(&f.beforeOrigins, o)
			stale := make(chan []string)
			go func() { stale <- originIDs(t, c, o) }()
			<-entered

			f.put(app("x", "https://new.example.com"))
			switch via {
			case "Invalidate":
				c.Invalidate("x")
			case "poll":
				f.commit(1, "x")
				lookup.PollNow(c)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if got, err := c.OriginApps(ctx, o); err != nil || len(got) != 0 {
				t.Errorf("a caller after the invalidation got %v, %v; want [], read anew", got, err)
			}
			release()
			if got := <-stale; !slices.Equal(got, []string{"x"}) {
				t.Fatalf("held read returned %v", got)
			}
			if got := originIDs(t, c, o); len(got) != 0 {
				t.Errorf("the stale read was cached after the invalidation: %v", got)
			}
		})
	}
}

// TestInvalidateOrigins checks which cached origin answers a change of x drops: those that
// list x (the reverse index) and those x lists now (read at invalidation), and no other.
func TestInvalidateOrigins(t *testing.T) {
	t.Parallel()
	sources := map[string]func(*fakeSource) lookup.Source{
		"ApplicationOrigins": func(f *fakeSource) lookup.Source { return withOrigins{f} },
		"GetClient":          func(f *fakeSource) lookup.Source { return f },
	}
	for name, wrap := range sources {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			const o1, o2, o3 = "https://one.example.com", "https://two.example.com", "https://three.example.com"
			f := newFake()
			f.put(app("x", o1))
			f.put(app("y", o1, o2))
			c := newCache(t, wrap(f), lookup.Config{})
			for o, want := range map[string][]string{o1: {"x", "y"}, o2: {"y"}, o3: {}} {
				if got := originIDs(t, c, o); !slices.Equal(got, want) {
					t.Fatalf("OriginApps(%s) = %v, want %v", o, got, want)
				}
			}
			reads := f.originCalls.Load()

			f.put(app("x", o3)) // leaves o1, joins o3
			c.Invalidate("x")
			for o, want := range map[string][]string{o1: {"y"}, o2: {"y"}, o3: {"x"}} {
				if got := originIDs(t, c, o); !slices.Equal(got, want) {
					t.Errorf("OriginApps(%s) after the change = %v, want %v", o, got, want)
				}
			}
			if got := f.originCalls.Load() - reads; got != 2 {
				t.Errorf("%d origins read again, want 2 (o1 and o3; o2 untouched)", got)
			}

			f.del("x") // purged
			c.Invalidate("x")
			if got := originIDs(t, c, o3); len(got) != 0 {
				t.Errorf("OriginApps(o3) after purge = %v", got)
			}
			mustNotFound(t, c, "x")
			if n := lookup.IndexedApps(c); n != 1 {
				t.Errorf("reverse index holds %d applications, want 1 (y)", n)
			}
		})
	}
}

// TestInvalidateWritten checks the writing replica's invalidation: given the origins the
// application lists after its write, it drops the same answers as Invalidate (those listing
// it before, those it lists now) without reading anything from the source.
func TestInvalidateWritten(t *testing.T) {
	t.Parallel()
	const o1, o2, o3 = "https://one.example.com", "https://two.example.com", "https://three.example.com"
	f := newFake()
	f.put(app("x", o1))
	f.put(app("y", o1, o2))
	c := newCache(t, f, lookup.Config{})
	for _, o := range []string{o1, o2, o3} {
		originIDs(t, c, o)
	}
	mustClient(t, c, "x")

	f.put(app("x", o3)) // leaves o1, joins o3
	clientReads := f.getClientCalls.Load()
	f.setFail(errDown) // a read by the invalidation would fail and clear every origin answer
	c.InvalidateWritten("x", []string{o3})
	f.setFail(nil)
	if got := f.getClientCalls.Load() - clientReads; got != 0 {
		t.Errorf("InvalidateWritten read the source %d times, want 0", got)
	}
	if st := c.Stats(); st.OriginEntries != 1 {
		t.Errorf("%d origin answers cached after the write, want 1 (o2)", st.OriginEntries)
	}
	for o, want := range map[string][]string{o1: {"y"}, o2: {"y"}, o3: {"x"}} {
		if got := originIDs(t, c, o); !slices.Equal(got, want) {
			t.Errorf("OriginApps(%s) after the write = %v, want %v", o, got, want)
		}
	}

	f.del("x") // deleted for good: no origins
	c.InvalidateWritten("x", nil)
	if got := originIDs(t, c, o3); len(got) != 0 {
		t.Errorf("OriginApps(o3) after the purge = %v", got)
	}
	mustNotFound(t, c, "x")
}

// TestInvalidateOriginReadFails checks that when the current origins cannot be read, every
// origin answer is dropped rather than one left stale.
func TestInvalidateOriginReadFails(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.put(app("y", "https://y.example.com"))
	c := newCache(t, withOrigins{f}, lookup.Config{})
	originIDs(t, c, "https://y.example.com")
	f.setFail(errDown)
	c.Invalidate("x")
	if st := c.Stats(); st.OriginEntries != 0 {
		t.Errorf("%d origins cached after a failed read of x's origins, want 0", st.OriginEntries)
	}
}

func ptr[T any](v T) *T { return &v }
