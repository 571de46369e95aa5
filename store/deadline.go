package store

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// DefaultOperationTimeout is how long one operation of a PostgreSQL store may take unless
// SetOperationTimeout changes it.
const DefaultOperationTimeout = 3 * time.Second

// SetOperationTimeout bounds every operation a request or the lookup path runs on the store (a
// read, a write's transaction or batch, a ping, a poll of the change log), from the moment it
// is called, waiting for a pooled connection included. A database that stops answering without
// refusing (a network that no longer delivers, a server paused or swamped) then fails each
// operation after d with an error IsUnavailable recognises, instead of holding the request
// until its own timeout; the API answers 503 with Retry-After. After that, the operations of
// requests are refused at once until the database answers again (see health). Zero or negative
// removes the bound. Set it before the store is used. Background work (migrations, purges, the
// outbox, the usage flush, pruning) keeps its callers' deadlines: it may rightly take longer,
// and nobody waits on it.
//
// It does nothing on SQLite, a file in the process, which does not go away: an operation is
// slow there because the machine is busy or a writer holds the lock (busy_timeout), and a
// 503 would only turn that wait into a retry.
func (s *Store) SetOperationTimeout(d time.Duration) {
	if s.dialect == DialectPostgres {
		s.opTimeout = d
	}
}

// OperationTimeout is the bound SetOperationTimeout set; 0 on SQLite.
func (s *Store) OperationTimeout() time.Duration { return s.opTimeout }

// bound limits ctx to the operation timeout, unless ctx ends sooner already. The bound starts
// where the store's work starts: what the caller did before (hashing an imported secret with
// PBKDF2, which takes most of a second on a loaded machine) does not count against it.
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.opTimeout <= 0 {
		return ctx, func() {}
	}
	if d, ok := ctx.Deadline(); ok && time.Until(d) <= s.opTimeout {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, s.opTimeout)
}

// admittedKey marks a context whose operation health admitted: the operations it calls in
// turn (GetClient reads through GetApplication) are not asked again.
type admittedKey struct{}

// begin starts an operation of a request: bound, and admitted unless the database is away
// (see health). An operation not admitted must return ErrUnavailable without touching the
// database.
func (s *Store) begin(ctx context.Context) (context.Context, context.CancelFunc, bool) {
	if ctx.Value(admittedKey{}) == nil {
		if !s.health.admit() {
			return ctx, func() {}, false
		}
		ctx = context.WithValue(ctx, admittedKey{}, true)
	}
	ctx, cancel := s.bound(ctx)
	return ctx, cancel, true
}

// run runs op, an operation of a request, through begin: bounded, or refused with
// ErrUnavailable without touching the database while it is away. It observes nothing
// itself (see health).
func run[T any](s *Store, ctx context.Context, op func(ctx context.Context) (T, error)) (T, error) {
	ctx, cancel, admitted := s.begin(ctx)
	defer cancel()
	if !admitted {
		var zero T
		return zero, ErrUnavailable
	}
	return op(ctx)
}

// exec is run for an operation that returns only its error.
func (s *Store) exec(ctx context.Context, op func(ctx context.Context) error) error {
	_, err := run(s, ctx, func(ctx context.Context) (struct{}, error) { return struct{}{}, op(ctx) })
	return err
}

// ErrUnavailable is the error of an operation refused at once because the database stopped
// answering (see health); IsUnavailable recognises it.
var ErrUnavailable = errors.New("store: the database is not answering; operations are refused until it answers again")

// probeEvery is how often one operation of a request is let through to the database while it
// is away and nothing else probes (no poll of the change log, no ping, for that long), so
// that a store whose change log nobody polls still finds out that it is back.
const probeEvery = time.Second

// health remembers whether the database stopped answering, so that the operations of requests
// fail at once instead of each waiting for the operation bound on a connection that will not
// answer, queueing on the pool behind the others: once one operation has failed for want of an
// answer, they are refused with ErrUnavailable until an operation gets an answer again. The
// probes: the polls of the change log (Changes, LatestChangeSeq) and pings (readiness) are
// never refused, and the lookup caches poll every 200 ms by default, so a returning database is
// seen within a poll, well under the 5 s the service promises. When no such probe is in flight
// or started within probeEvery, one operation of a request a second goes through instead: a
// request is a probe only when nothing else is, since a probe holds its caller (and whoever
// shares its read) for the bound. Any answer of the database, an error of its own included (a
// conflict, a missing row), ends the outage; an operation cancelled by its caller says nothing
// either way. The lookup caches keep answering their cached clients from memory meanwhile (for
// their MaxStale); a miss is refused like any read.
type health struct {
	away  atomic.Int64 // unix nanoseconds of the failure that began the outage; 0: answering
	probe atomic.Int64 // unix nanoseconds of the last operation let through during the outage
	// probes counts the polls and pings in flight; lastProbe is when the last one started.
	probes    atomic.Int32
	lastProbe atomic.Int64
}

// probing records a poll or ping that goes to the database whatever its health; call the
// function it returns when it is done.
func (h *health) probing() func() {
	h.probes.Add(1)
	h.lastProbe.Store(time.Now().UnixNano())
	return func() { h.probes.Add(-1) }
}

// admit reports whether an operation of a request may go to the database now.
func (h *health) admit() bool {
	if h.away.Load() == 0 {
		return true
	}
	now, last := time.Now().UnixNano(), h.probe.Load()
	if h.probes.Load() > 0 || now-h.lastProbe.Load() < int64(probeEvery) {
		return false // a poll or a ping finds out
	}
	return now-last >= int64(probeEvery) && h.probe.CompareAndSwap(last, now)
}

// observe learns from the outcome of an operation that went to the database.
func (h *health) observe(err error) {
	switch {
	case errors.Is(err, ErrUnavailable), errors.Is(err, context.Canceled):
	case IsUnavailable(err):
		h.away.CompareAndSwap(0, time.Now().UnixNano())
	default:
		if h.away.Load() != 0 {
			h.away.Store(0)
		}
	}
}

// Unavailable reports whether the database stopped answering and the operations of requests
// are refused at once (see health), for metrics.
func (s *Store) Unavailable() bool { return s.health.away.Load() != 0 }
