package lookup

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/bits-and-blooms/bloom/v3"
)

// idLister is an optional Source method (*store.Store has it): every stored application id.
// With it, a started cache knows which client ids exist, and answers the others unknown
// without reading the database (see knownIDs).
type idLister interface {
	EachApplicationID(ctx context.Context, count func(n int), fn func(id string)) error
}

const (
	// knownFalsePositives is the Bloom filter's false-positive rate when full: the share of
	// never-seen ids that still go to the database (and are then cached as negative entries).
	knownFalsePositives = 0.01
	// knownMinCapacity is the least number of ids the filter is sized for: 100,000 ids at 1%
	// are 120 KB. It is sized for twice the ids at load, and loaded again past its capacity
	// (so 1,000,000 applications take 2.4 MB).
	knownMinCapacity = 100_000
	// syncGap is the least time between two polls of the change log made for ids the filter
	// does not know: a flood of made-up ids costs at most 1/syncGap small indexed reads a
	// second, however fast it comes, and each of its answers waits at most about syncGap.
	syncGap = 10 * time.Millisecond
	// syncTimeout bounds the wait of one caller for such a poll (a database that does not
	// answer): past it the caller gets an error, not a wrong "unknown".
	syncTimeout = 5 * time.Second
	// loadTimeout bounds the reading of every id at start or reload.
	loadTimeout = 2 * time.Minute
)

// knownIDs is the set of client ids that exist, as a Bloom filter: no false negatives, and
// about 1.2 bytes an id whatever its length (a Go map of a million UUIDs would take ~100 MB).
// It is loaded by Start and kept current from the change log: every application the poller
// reads a change of is added, and the writing replica adds its own creates
// (InvalidateWritten). Deleted ids stay in it: they go to the database, as false positives
// do, and are cached as negative entries.
//
// It is only ever as current as the last poll, and an id created on another replica after
// that poll is not in it yet. So "not in the filter" is answered unknown only after a poll
// of the change log that began after the question was asked (Cache.awaitPoll): every create
// committed before the question is then in the filter. Such polls are shared by every caller
// waiting and spaced by syncGap. While the filter is not loaded (a cache not started, a
// failed load, a reload after the poller lost track of the log), every id may exist.
type knownIDs struct {
	mu       sync.RWMutex
	f        *bloom.BloomFilter // nil: not loaded
	n        uint               // ids added
	capacity uint
}

// mayExist reports whether id may be an existing client id.
func (k *knownIDs) mayExist(id string) bool {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.f == nil || k.f.TestString(id)
}

// add records ids as existing; it reports whether the filter is past its capacity.
func (k *knownIDs) add(ids ...string) (full bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.f == nil {
		return false
	}
	for _, id := range ids {
		k.f.AddString(id)
	}
	k.n += uint(len(ids))
	return k.n > k.capacity
}

// reset forgets the filter: every id may exist until the next load.
func (k *knownIDs) reset() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.f, k.n, k.capacity = nil, 0, 0
}

// loadKnown reads every application id into a new filter and puts it in use. Without an
// idLister source, or when the read fails, the filter stays unused (logged): lookups then
// read unknown ids from the database, as before.
func (c *Cache) loadKnown(ctx context.Context) {
	c.known.reset()
	l, ok := c.src.(idLister)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, loadTimeout)
	defer cancel()
	start := c.wall()
	var (
		f        *bloom.BloomFilter
		n        uint
		capacity uint
	)
	err := l.EachApplicationID(ctx, func(count int) {
		capacity = uint(max(knownMinCapacity, 2*count))
		f = bloom.NewWithEstimates(capacity, knownFalsePositives)
	}, func(id string) {
		f.AddString(id)
		n++
	})
	if err != nil {
		c.log.Warn("reading every client id failed; unknown ids are read from the database",
			slog.String("error", err.Error()))
		return
	}
	c.known.mu.Lock()
	c.known.f, c.known.n, c.known.capacity = f, n, capacity
	c.known.mu.Unlock()
	c.log.Debug("loaded the client ids", slog.Uint64("ids", uint64(n)),
		slog.Uint64("filter_bytes", uint64(f.Cap()/8)), slog.Duration("took", c.wall().Sub(start)))
}

// syncRound is one poll that callers wait on: every caller that joined it did so before it
// began.
type syncRound struct {
	done chan struct{}
	err  error
}

// awaitPoll waits for a poll of the change log that begins after the call, and returns its
// error. The poll loop runs it, at most one per syncGap.
//
// A caller that comes less than syncGap after a poll failed gets that poll's error at once.
// Only a "not found" needs a poll begun after the question; an error is answered as an error
// either way, and the next poll, which the loop would not begin before syncGap, would most
// likely fail too against the database that just failed, after as long again (a database
// that does not answer: pollTimeout). So a request handed on after its poll failed (the
// server's hot path to its full path) does not wait twice.
func (c *Cache) awaitPoll(ctx context.Context) error {
	c.syncMu.Lock()
	if c.failed != nil && time.Since(c.failedAt) < syncGap {
		err := c.failed
		c.syncMu.Unlock()
		return err
	}
	r := c.nextRound
	if r == nil {
		r = &syncRound{done: make(chan struct{})}
		c.nextRound = r
	}
	c.syncMu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	t := time.NewTimer(syncTimeout)
	defer t.Stop()
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("no poll of the change log within %s: %w", syncTimeout, context.DeadlineExceeded)
	}
}

// notePoll records the outcome of a poll that just ended, for awaitPoll.
func (c *Cache) notePoll(err error) {
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	c.failed, c.failedAt = err, time.Now()
}

// takeRound hands the poll about to begin the callers waiting for one.
func (c *Cache) takeRound() *syncRound {
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	r := c.nextRound
	c.nextRound = nil
	return r
}

// endRound tells r's callers the outcome of their poll.
func endRound(r *syncRound, err error) {
	if r != nil {
		r.err = err
		close(r.done)
	}
}
