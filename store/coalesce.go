package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// The reads of one application by id (viewApplication, the lookup caches' misses, the
// rotation endpoints' checks) are the store's most frequent query, and on PostgreSQL each one
// costs a round trip: a write and a read on the client's socket, a wake-up of a server
// process, and the server's per-statement work, which together cost several times the
// reading of the row itself. Under load, reads that arrive while another is in flight are
// therefore coalesced: they wait for it, then go to the database together, as one query of
// every id they ask for.
//
// Nothing is read earlier than it would be alone: a read's query starts after the read was
// asked for, so it sees every write committed before, on any replica. While a lane is free a
// read runs at once, in its caller's goroutine, so an idle or lightly loaded service pays
// nothing; only when every lane has a query in flight do reads queue, and the busier the
// database, the more each query carries.
//
// This is not golang.org/x/sync/singleflight, which shares one call among the callers of one
// key: here reads of different ids share one query, which is what saves the round trips.

const (
	// readLanes is the most by-id queries in flight at once. More lanes answer sooner under
	// moderate load but coalesce less: with one, every read that arrives during a query joins
	// the next one. One and two measured the same on 2 cores; two, so that one slow query
	// does not hold every read.
	readLanes = 2
	// maxReadBatch bounds the ids of one query.
	maxReadBatch = 100
	// readBatchTimeout bounds a coalesced query whose callers set no deadline.
	readBatchTimeout = 30 * time.Second
)

// appRead is one caller's read of application id, owned by tenantID ("" = any tenant) and
// visible at now.
type appRead struct {
	ctx      context.Context
	id       string
	tenantID string
	now      time.Time
	done     chan struct{} // closed when app and err are set
	app      *Application
	err      error
}

// readCoalescer queues by-id reads while every lane has a query in flight.
type readCoalescer struct {
	lanes   int // readLanes, or fewer in tests
	mu      sync.Mutex
	running int // queries in flight, or goroutines about to send one
	queue   []*appRead
	// query reads the visible applications of ids (distinct), in any order.
	query func(ctx context.Context, ids []string, now time.Time) ([]Application, error)
}

// get reads one application through the coalescer.
func (c *readCoalescer) get(ctx context.Context, tenantID, id string, now time.Time) (*Application, error) {
	if !possibleID(id) {
		// Not a value the id column can hold: in a batch, the database would refuse the
		// whole query for it.
		return nil, ErrNotFound
	}
	r := &appRead{ctx: ctx, id: id, tenantID: tenantID, now: now, done: make(chan struct{})}
	c.mu.Lock()
	if c.running < c.lanes {
		c.running++
		c.mu.Unlock()
		c.run(ctx, []*appRead{r})
		c.next()
		return r.app, r.err
	}
	c.queue = append(c.queue, r)
	c.mu.Unlock()
	select {
	case <-r.done:
		return r.app, r.err
	case <-ctx.Done():
		// The query goes on for the others; its answer to this read is dropped.
		return nil, ctx.Err()
	}
}

// next is called by a lane that has finished its query: it serves the queue in a goroutine of
// its own, so that the caller whose read it ran returns at once, or frees the lane.
func (c *readCoalescer) next() {
	c.mu.Lock()
	if len(c.queue) == 0 {
		c.running--
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	go c.drain()
}

// drain sends the queued reads, maxReadBatch at a time, until none is left, then frees its
// lane.
func (c *readCoalescer) drain() {
	for {
		c.mu.Lock()
		n := min(len(c.queue), maxReadBatch)
		if n == 0 {
			c.running--
			c.mu.Unlock()
			return
		}
		batch := slices.Clone(c.queue[:n])
		c.queue = slices.Delete(c.queue, 0, n)
		c.mu.Unlock()

		ctx, cancel := batchContext(batch)
		c.run(ctx, batch)
		cancel()
	}
}

// batchContext is the context of a coalesced query: the values of its first read's, never
// cancelled by one caller going away (the others still wait), and with the latest of the
// callers' deadlines, or readBatchTimeout if one of them has none.
func batchContext(batch []*appRead) (context.Context, context.CancelFunc) {
	var latest time.Time
	for _, r := range batch {
		d, ok := r.ctx.Deadline()
		if !ok {
			latest = time.Now().Add(readBatchTimeout)
			break
		}
		if d.After(latest) {
			latest = d
		}
	}
	return context.WithDeadline(context.WithoutCancel(batch[0].ctx), latest)
}

// run reads the applications of batch in one query and answers each read: its own copy, or
// ErrNotFound when the id is unknown, of another tenant, or not visible at the read's time.
func (c *readCoalescer) run(ctx context.Context, batch []*appRead) {
	ids := make([]string, 0, len(batch))
	oldest := batch[0].now
	for _, r := range batch {
		if !slices.Contains(ids, r.id) {
			ids = append(ids, r.id)
		}
		if r.now.Before(oldest) {
			oldest = r.now
		}
	}
	// Visibility is checked below for each read at its own time; the query keeps every row
	// visible at the earliest of them.
	apps, err := c.safeQuery(ctx, ids, oldest)
	byID := make(map[string]*Application, len(apps))
	for i := range apps {
		byID[apps[i].ID] = &apps[i]
	}
	given := make(map[string]bool, len(apps))
	for _, r := range batch {
		r.app, r.err = nil, err
		if err == nil {
			r.err = ErrNotFound
			if a := byID[r.id]; a != nil && (r.tenantID == "" || a.TenantID == r.tenantID) && !a.GoneAt(r.now) {
				r.app, r.err = ownCopy(a, given[a.ID]), nil
				given[a.ID] = true
			}
		}
		close(r.done)
	}
}

// possibleID reports whether id could be stored: 1 to 128 characters of valid UTF-8 without
// NUL (the column is varchar(128) on PostgreSQL, and text is UTF-8 there).
func possibleID(id string) bool {
	return id != "" && utf8.ValidString(id) && utf8.RuneCountInString(id) <= 128 && !strings.ContainsRune(id, 0)
}

// safeQuery is c.query with a panic turned into the error of the reads: in drain no request's
// recovery is above it, and a panic there would end the process.
func (c *readCoalescer) safeQuery(ctx context.Context, ids []string, now time.Time) (apps []Application, err error) {
	defer func() {
		if p := recover(); p != nil {
			apps, err = nil, fmt.Errorf("store: reading %d applications by id: panic: %v", len(ids), p)
		}
	}()
	return c.query(ctx, ids, now)
}

// ownCopy is a, or, when another read of the batch was already given a, a deep copy of it,
// so that no two callers share a list.
func ownCopy(a *Application, shared bool) *Application {
	if !shared {
		return a
	}
	return a.clonePtr()
}
