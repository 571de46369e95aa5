package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeReads is a by-id query over a fixed set of rows whose calls can be held.
type fakeReads struct {
	rows  map[string]Application
	fail  error
	hold  chan struct{} // when not nil, each query waits for a receive from it
	calls atomic.Int64
	mu    sync.Mutex
	seen  [][]string // the ids of each query
}

func (f *fakeReads) query(ctx context.Context, ids []string, now time.Time) ([]Application, error) {
	f.calls.Add(1)
	f.mu.Lock()
	f.seen = append(f.seen, slices.Clone(ids))
	f.mu.Unlock()
	if f.hold != nil {
		<-f.hold
	}
	if f.fail != nil {
		return nil, f.fail
	}
	var out []Application
	for _, id := range ids {
		if a, ok := f.rows[id]; ok && !a.GoneAt(now) {
			a.Contacts = slices.Clone(a.Contacts)
			out = append(out, a)
		}
	}
	return out, nil
}

// queued waits until n reads wait in c's queue.
func queued(t *testing.T, c *readCoalescer, n int) {
	t.Helper()
	settle(t, c, -1, n)
}

// settle waits until c has running lanes (any when running < 0) and queued reads: a lane
// delivers its reads' answers before it looks at the queue again and frees itself.
func settle(t *testing.T, c *readCoalescer, running, queued int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.mu.Lock()
		r, q := c.running, len(c.queue)
		c.mu.Unlock()
		if q == queued && (running < 0 || r == running) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d lanes running, %d reads queued; want %d and %d", r, q, running, queued)
		}
		time.Sleep(time.Millisecond)
	}
}

// inFlight starts a read of id on c and returns once its query is in flight (f has seen it),
// so that, with one lane, the next reads queue; the channel gets the read's error.
func inFlight(c *readCoalescer, f *fakeReads, id string) <-chan error {
	done := make(chan error, 1)
	before := f.calls.Load()
	go func() {
		_, err := c.get(context.Background(), "", id, c0)
		done <- err
	}()
	for f.calls.Load() == before {
		time.Sleep(time.Millisecond)
	}
	return done
}

var (
	c0    = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	later = c0.Add(time.Hour)
)

func coalesceRows() map[string]Application {
	return map[string]Application{
		"a":    {ID: "a", TenantID: "t1", Contacts: []string{"ops@a.example"}},
		"b":    {ID: "b", TenantID: "t2", Contacts: []string{"ops@b.example"}},
		"gone": {ID: "gone", TenantID: "t1", ScheduledDeletionTime: ptrTime(c0.Add(time.Minute))},
	}
}

func ptrTime(t time.Time) *time.Time { return &t }

// TestCoalescedReads holds one query in flight, queues reads behind it and checks that they
// go to the database as one query, each answered by its own rules.
func TestCoalescedReads(t *testing.T) {
	f := &fakeReads{rows: coalesceRows(), hold: make(chan struct{})}
	c := &readCoalescer{lanes: 1, query: f.query}

	first := inFlight(c, f, "a")

	cases := []struct {
		name, tenant, id string
		now              time.Time
		want             bool
	}{
		{"own tenant", "t1", "a", c0, true},
		{"same id again", "t1", "a", c0, true},
		{"any tenant", "", "b", c0, true},
		{"other tenant", "t2", "a", c0, false},
		{"unknown", "t1", "nope", c0, false},
		{"before its deletion time", "t1", "gone", c0, true},
		{"after its deletion time", "t1", "gone", later, false},
	}
	got := make([]*Application, len(cases))
	errs := make([]error, len(cases))
	var wg sync.WaitGroup
	for i, tc := range cases {
		wg.Go(func() { got[i], errs[i] = c.get(context.Background(), tc.tenant, tc.id, tc.now) })
	}
	queued(t, c, len(cases))
	f.hold <- struct{}{} // the first query
	if err := <-first; err != nil {
		t.Fatalf("first read: %v", err)
	}
	f.hold <- struct{}{} // the queued reads' query
	wg.Wait()

	if n := f.calls.Load(); n != 2 {
		t.Errorf("%d queries, want 2 (the first read's, then one for the %d queued)", n, len(cases))
	}
	f.mu.Lock()
	if ids := slices.Sorted(slices.Values(f.seen[1])); !slices.Equal(ids, []string{"a", "b", "gone", "nope"}) {
		t.Errorf("second query read %v, want each distinct id once", f.seen[1])
	}
	f.mu.Unlock()
	for i, tc := range cases {
		switch {
		case tc.want && (errs[i] != nil || got[i] == nil || got[i].ID != tc.id):
			t.Errorf("%s: got %v, %v; want application %s", tc.name, got[i], errs[i], tc.id)
		case !tc.want && !errors.Is(errs[i], ErrNotFound):
			t.Errorf("%s: got %v, %v; want ErrNotFound", tc.name, got[i], errs[i])
		}
	}
	// Two reads of one id in one query get their own lists.
	if got[0] == got[1] || &got[0].Contacts[0] == &got[1].Contacts[0] {
		t.Error("two reads of the same id share one application")
	}
	settle(t, c, 0, 0) // after the load, every lane freed
}

// TestCoalescedReadAlone checks that a read with nothing in flight is one query of its id
// in its caller's goroutine.
func TestCoalescedReadAlone(t *testing.T) {
	f := &fakeReads{rows: coalesceRows()}
	c := &readCoalescer{lanes: 1, query: f.query}
	for i := range 3 {
		a, err := c.get(context.Background(), "t1", "a", c0)
		if err != nil || a.ID != "a" {
			t.Fatalf("read %d: %v, %v", i, a, err)
		}
	}
	if n := f.calls.Load(); n != 3 {
		t.Errorf("%d queries for 3 reads in turn, want 3", n)
	}
}

// TestCoalescedReadFailures: a failed query fails every read it carried, and a read whose
// caller gives up leaves while the others are still answered.
func TestCoalescedReadFailures(t *testing.T) {
	f := &fakeReads{rows: coalesceRows(), hold: make(chan struct{}), fail: errors.New("connection reset")}
	c := &readCoalescer{lanes: 1, query: f.query}
	inFlight(c, f, "a")

	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() {
		_, err := c.get(ctx, "t1", "a", c0)
		gaveUp <- err
	}()
	errs := make(chan error, 2)
	for _, id := range []string{"a", "b"} {
		go func() {
			_, err := c.get(context.Background(), "", id, c0)
			errs <- err
		}()
	}
	queued(t, c, 3)
	cancel()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Errorf("the read that gave up: %v, want context.Canceled", err)
	}
	f.hold <- struct{}{}
	f.hold <- struct{}{}
	for range 2 {
		if err := <-errs; err == nil || !strings.Contains(err.Error(), "connection reset") {
			t.Errorf("a read of the failed query: %v, want its error", err)
		}
	}
}

// TestCoalescedReadBatchesAreBounded queues more reads than one query carries.
func TestCoalescedReadBatchesAreBounded(t *testing.T) {
	rows := map[string]Application{}
	for i := range 2*maxReadBatch + 5 {
		id := fmt.Sprintf("app-%03d", i)
		rows[id] = Application{ID: id, TenantID: "t"}
	}
	f := &fakeReads{rows: rows, hold: make(chan struct{})}
	c := &readCoalescer{lanes: 1, query: f.query}
	inFlight(c, f, "app-000")
	var wg sync.WaitGroup
	var failed atomic.Int64
	for id := range rows {
		wg.Go(func() {
			if a, err := c.get(context.Background(), "t", id, c0); err != nil || a.ID != id {
				failed.Add(1)
			}
		})
	}
	queued(t, c, len(rows))
	go func() {
		for range 4 {
			f.hold <- struct{}{}
		}
	}()
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Errorf("%d reads failed", n)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	sizes := []int{}
	for _, ids := range f.seen[1:] {
		sizes = append(sizes, len(ids))
	}
	if !slices.Equal(sizes, []int{maxReadBatch, maxReadBatch, 5}) {
		t.Errorf("query sizes %v, want %d, %d, 5", sizes, maxReadBatch, maxReadBatch)
	}
}

// TestImpossibleIDsAreNotRead: an id no row can have is not sent, so it cannot fail a query
// that carries other reads.
func TestImpossibleIDsAreNotRead(t *testing.T) {
	f := &fakeReads{rows: coalesceRows()}
	c := &readCoalescer{lanes: 1, query: f.query}
	for _, id := range []string{"", "a\x00b", "\xff\xfe", strings.Repeat("x", 129), strings.Repeat("é", 129)} {
		if _, err := c.get(context.Background(), "", id, c0); !errors.Is(err, ErrNotFound) {
			t.Errorf("%q: %v, want ErrNotFound", id, err)
		}
	}
	if n := f.calls.Load(); n != 0 {
		t.Errorf("%d queries, want none", n)
	}
	if !possibleID(strings.Repeat("é", 128)) {
		t.Error("128 two-byte characters are a possible id")
	}
}

// TestCoalescedReadLanes: with two lanes, two reads run at once, each alone, and a third waits.
func TestCoalescedReadLanes(t *testing.T) {
	f := &fakeReads{rows: coalesceRows(), hold: make(chan struct{})}
	c := &readCoalescer{lanes: 2, query: f.query}
	done := make(chan error, 3)
	read := func(id string) {
		_, err := c.get(context.Background(), "", id, c0)
		done <- err
	}
	go read("a")
	go read("b")
	for f.calls.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	go read("a")
	queued(t, c, 1)
	for range 3 {
		f.hold <- struct{}{}
	}
	for range 3 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	if n := f.calls.Load(); n != 3 {
		t.Errorf("%d queries, want 3", n)
	}
}

// TestCoalescedReadPanics: a query that panics fails the reads it carried, whether it runs in
// a caller's goroutine or in the lane's own, and leaves the lane free.
func TestCoalescedReadPanics(t *testing.T) {
	f := &fakeReads{rows: coalesceRows(), hold: make(chan struct{})}
	c := &readCoalescer{lanes: 1, query: func(ctx context.Context, ids []string, now time.Time) ([]Application, error) {
		if _, err := f.query(ctx, ids, now); err != nil {
			return nil, err
		}
		panic("scan went wrong")
	}}
	first := inFlight(c, f, "a")
	queuedErr := make(chan error, 1)
	go func() {
		_, err := c.get(context.Background(), "", "b", c0)
		queuedErr <- err
	}()
	queued(t, c, 1)
	f.hold <- struct{}{}
	f.hold <- struct{}{}
	for _, ch := range []<-chan error{first, queuedErr} {
		if err := <-ch; err == nil || !strings.Contains(err.Error(), "scan went wrong") {
			t.Errorf("read: %v, want the panic as an error", err)
		}
	}
	settle(t, c, 0, 0) // the lane's goroutine frees the lane after answering
	f.hold = nil
	c.query = f.query
	if a, err := c.get(context.Background(), "", "a", c0); err != nil || a.ID != "a" {
		t.Errorf("after the panics: %v, %v", a, err)
	}
}
