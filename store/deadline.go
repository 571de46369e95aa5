package store

import (
	"context"
	"database/sql"
	"errors"
	"sync/atomic"
	"time"

	"gorm.io/gorm"
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
// ErrUnavailable without touching the database while it is away. It observes nothing itself:
// health learns from each statement op sends (see health.Initialize), since op's error is not
// always the database's (an id no row can hold is ErrNotFound without a query).
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
// answer, queueing on the pool behind the others: once one statement has failed for want of an
// answer, they are refused with ErrUnavailable until a statement gets an answer again.
//
// It learns from every statement sent to the database, whoever sends it (an operation of a
// request, a poll, a ping, background work; in a transaction or not): as a GORM plugin it sees
// the outcome of each statement GORM runs (Initialize), and it is told the outcome of the work
// that bypasses GORM's callbacks: the pgx paths (queryPgx, after its one retry, and insertAll's
// batch), the BEGIN and COMMIT of transactions (Store.transaction) and pings. An operation's own
// error is not observed: it is not always the database's (an id no row can hold is ErrNotFound
// without a query, an updater's refusal is the caller's), and taking it for an answer would end
// an outage that no answer ended.
//
// The probes: the polls of the change log (Changes, LatestChangeSeq) and pings (readiness) are
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
	// stays: the database cannot go away (SQLite, a file in the process; see
	// SetOperationTimeout): a statement that waited past its caller's deadline behind a
	// writer's lock says the machine is busy, and refusing every request until the next poll
	// would only turn that wait into retries. Answers still end an outage.
	stays bool
}

// healthPlugin is the name of health as a GORM plugin.
const healthPlugin = "appreg:health"

// Name is the name of health as a GORM plugin.
func (h *health) Name() string { return healthPlugin }

// Initialize registers h with db as a GORM plugin: h observes the outcome of every statement of
// db, after GORM's own callbacks, so that it sees the error the caller sees (a missing row,
// which Take and First report as an error, is an answer).
func (h *health) Initialize(db *gorm.DB) error {
	cb := db.Callback()
	return errors.Join(
		cb.Create().After("*").Register(healthPlugin, h.statement),
		cb.Query().After("*").Register(healthPlugin, h.statement),
		cb.Update().After("*").Register(healthPlugin, h.statement),
		cb.Delete().After("*").Register(healthPlugin, h.statement),
		cb.Row().After("*").Register(healthPlugin, h.statement),
		cb.Raw().After("*").Register(healthPlugin, h.statement),
	)
}

// statement observes the outcome of a statement GORM ran, unless it was never sent (a dry run,
// as queryPgx builds its statements; one refused before it was built) or its outcome is not
// known yet: Row defers its error to the row's Scan.
func (h *health) statement(db *gorm.DB) {
	if _, row := db.Statement.Dest.(*sql.Row); row || db.DryRun || db.Statement.SQL.Len() == 0 {
		return
	}
	h.observe(db.Error)
}

// observeOn tells the health of db's store (the plugin Initialize registered) the outcome of
// work done on db's connections without GORM's callbacks.
func observeOn(db *gorm.DB, err error) {
	if h, ok := db.Plugins[healthPlugin].(*health); ok {
		h.observe(err)
	}
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

// observe learns from the outcome of a statement, or of other work, that went to the database.
func (h *health) observe(err error) {
	switch {
	case errors.Is(err, ErrUnavailable), errors.Is(err, context.Canceled):
	case IsUnavailable(err):
		if !h.stays {
			h.away.CompareAndSwap(0, time.Now().UnixNano())
		}
	default:
		if h.away.Load() != 0 {
			h.away.Store(0)
		}
	}
}

// Unavailable reports whether the database stopped answering and the operations of requests
// are refused at once (see health), for metrics.
func (s *Store) Unavailable() bool { return s.health.away.Load() != 0 }
