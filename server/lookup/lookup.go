package lookup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cxone/appreg/store"
)

// Source is what the cache reads; *store.Store implements it.
type Source interface {
	GetClient(ctx context.Context, id string, now time.Time) (*store.Application, []store.Secret, error)
	ApplicationsWithOrigin(ctx context.Context, origin string, now time.Time) ([]store.Application, error)
	Changes(ctx context.Context, afterSeq int64, limit int) ([]store.Change, error)
	LatestChangeSeq(ctx context.Context) (int64, error)
	TouchLastUsed(ctx context.Context, apps map[string]time.Time) error
	TouchSecretsLastUsed(ctx context.Context, secrets map[string]time.Time) error
}

// originLister is an optional Source method (*store.Store has it): the current origins of a
// batch of applications in one query. Without it the cache reads each changed application
// with GetClient to learn which cached origin answers it has just joined.
type originLister interface {
	ApplicationOrigins(ctx context.Context, ids []string) (map[string][]string, error)
}

// changePruner is an optional Source method (*store.Store has it). With it, the cache deletes
// change rows older than Config.ChangeRetention every Config.PruneInterval; every replica
// doing so is harmless.
type changePruner interface {
	PruneChanges(ctx context.Context, before time.Time) (int64, error)
}

// The store is the source, with both optional methods.
var (
	_ Source       = (*store.Store)(nil)
	_ originLister = (*store.Store)(nil)
	_ changePruner = (*store.Store)(nil)
)

// Defaults of Config.
const (
	DefaultSize            = 50_000
	DefaultPollInterval    = 200 * time.Millisecond
	DefaultUsageFlush      = 30 * time.Second
	DefaultGapTimeout      = 10 * time.Second
	DefaultChangeRetention = time.Hour
	DefaultPruneInterval   = 10 * time.Minute
	DefaultMaxStale        = 10 * time.Second
)

// Config tunes a Cache; zero values take the defaults.
type Config struct {
	// Size is the most clients cached, negative entries included (default 50,000). The
	// origin cache holds at most as many applications over all its origins.
	Size int
	// PollInterval is how often the change log is read (default 200ms).
	PollInterval time.Duration
	// UsageFlush is the period of lastUsedTime writes: at most one per application per
	// period (default 30s).
	UsageFlush time.Duration
	// Now is the clock that decides visibility (a scheduled deletion time at or before Now
	// hides the application). Default time.Now. Poll, gap and flush timing use the wall clock.
	Now    func() time.Time
	Logger *slog.Logger

	// GapTimeout is how long the poller waits for a missing seq to commit before giving it
	// up as rolled back (default 10s).
	GapTimeout time.Duration
	// ChangeRetention is the age after which change rows are pruned (default 1h). A replica
	// that could not poll for half of it has no proof it missed nothing: it clears its cache.
	ChangeRetention time.Duration
	// PruneInterval is how often this replica prunes the change log (default 10m).
	PruneInterval time.Duration
	// MaxStale bounds how long a started cache answers from memory after its last successful
	// poll (default 10s). The database away, cached clients and origins keep answering for
	// that long, so that a restart or a short outage of the database is not an outage of
	// every token request; then the cache fails closed: every answer waits for a poll that
	// succeeds, and is an error until one does. A client disabled (on any replica) just
	// before the outage authenticates on this replica for at most PollInterval + MaxStale.
	MaxStale time.Duration
}

// Client is an immutable snapshot of one client's policy and secret hashes, shared by every
// caller that reads it: never modify it.
type Client struct {
	// App is a copy of the application with its policy fields only: Name, Description,
	// Contacts, CreatedBy, LastModifiedBy, TenancyDecidedBy and TenancyComment are empty, so
	// that a full cache fits its memory budget (see policyCopy).
	App store.Application
	// Secrets are copies, oldest first (hashes only).
	Secrets []store.Secret

	// memo is what Memo built of this snapshot.
	memo atomic.Pointer[[]byte]
	// noted is the last use of this snapshot NoteClientUse passed on to NoteUse.
	noted atomic.Pointer[usedMark]
}

// usedMark is a use noted: its second (Unix time) and its secret's id ("" for none).
type usedMark struct {
	second   int64
	secretID string
}

// Memo returns the bytes build makes of c, built at most once or twice per snapshot (two
// first callers at once may both build; either answer is kept): the server keeps there the
// encoded part of its lookup answer, which depends on the snapshot only, so that a lookup
// answered from the cache encodes nothing. It costs a cached client the size of that answer
// (some 300 bytes), only once the client is asked for.
func (c *Client) Memo(build func(*Client) []byte) []byte {
	if b := c.memo.Load(); b != nil {
		return *b
	}
	b := build(c)
	c.memo.Store(&b)
	return b
}

// Stats are the cache's counters, for metrics.
type Stats struct {
	ClientHits, ClientMisses uint64
	OriginHits, OriginMisses uint64
	// Invalidations counts applications invalidated, by InvalidateWritten or by the poller.
	Invalidations uint64
	ClientEntries int64 // cached clients, negative entries included
	OriginEntries int64 // cached origins
	// Resets counts whole-cache clears after the poller lost the proof of continuity.
	Resets     uint64
	PollErrors uint64
	// Seq is the change seq up to which every change is applied (or given up as a gap).
	Seq int64
	// Unknown counts client ids answered unknown by the set of existing ids, without a read.
	Unknown uint64
	// Stale counts answers refused because the cache was more than MaxStale behind.
	Stale uint64
}

// Cache is the lookup path's cache. It is safe for concurrent use; create it with New.
type Cache struct {
	src   Source
	cfg   Config
	now   func() time.Time
	wall  func() time.Time // poll, gap and flush timing; a field so tests can move it
	log   *slog.Logger
	lists originLister // nil when src has no ApplicationOrigins

	clients *table[*Client] // a nil value is a negative entry

	// originMu serialises every write to the origin cache (fills, invalidations, clears) with
	// the reverse index and originGen; hits take only a shard's read lock.
	originMu  sync.Mutex
	origins   *table[*originEntry]
	originGen atomic.Uint64       // grows with every invalidation of any origin entry
	byApp     map[string][]string // application id -> cached origins listing it; under originMu

	invalidations atomic.Uint64
	resets        atomic.Uint64
	pollErrors    atomic.Uint64
	seq           atomic.Int64

	poll  pollState // owned by the poll goroutine once started
	usage usage

	known   knownIDs
	unknown atomic.Uint64
	// lastPoll is the wall time (UnixNano) of the last successful poll while started, 0 when
	// not started: what MaxStale is measured from.
	lastPoll atomic.Int64
	stale    atomic.Uint64
	// syncMu guards nextRound, the poll that callers of awaitPoll wait for; wake asks the
	// poll loop for it.
	syncMu    sync.Mutex
	nextRound *syncRound
	wake      chan struct{}
	// failed is the error of the last poll and failedAt when it ended, nil after a poll that
	// succeeded (see awaitPoll); guarded by syncMu.
	failed   error
	failedAt time.Time

	runMu   sync.Mutex
	started bool
	cancel  context.CancelFunc
	done    sync.WaitGroup
}

// originEntry is the cached answer for one origin: the visible applications listing it.
type originEntry struct {
	apps []store.Application
	// first is the one of apps due for deletion first (nil when none): once it is gone the
	// answer is out of date and is read again.
	first *store.Application
}

// New returns a cache over src. It serves at once, reading through to src; call Start to
// follow the change log (without it only InvalidateWritten drops entries).
func New(src Source, cfg Config) *Cache {
	if cfg.Size <= 0 {
		cfg.Size = DefaultSize
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.UsageFlush <= 0 {
		cfg.UsageFlush = DefaultUsageFlush
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.GapTimeout <= 0 {
		cfg.GapTimeout = DefaultGapTimeout
	}
	if cfg.ChangeRetention <= 0 {
		cfg.ChangeRetention = DefaultChangeRetention
	}
	if cfg.PruneInterval <= 0 {
		cfg.PruneInterval = DefaultPruneInterval
	}
	if cfg.MaxStale <= 0 {
		cfg.MaxStale = DefaultMaxStale
	}
	c := &Cache{
		src:     src,
		cfg:     cfg,
		now:     cfg.Now,
		wall:    time.Now,
		log:     cfg.Logger.With(slog.String("component", "lookup")),
		clients: newTable[*Client](cfg.Size, 64, 64),
		// Fewer, larger origin shards: an origin's weight is its number of applications, and
		// one listed by many (a localhost origin) must still fit a shard.
		origins: newTable[*originEntry](cfg.Size, 8, 1024),
		byApp:   make(map[string][]string),
		wake:    make(chan struct{}, 1),
	}
	c.lists, _ = src.(originLister)
	c.origins.onRemove = c.unindexOrigin
	c.usage.init(cfg.Size)
	return c
}

// Start reads where the change log stands, empties the cache, then follows the log in the
// background until Stop: polling, pruning and flushing lastUsedTime. It fails if the log
// cannot be read. A stopped cache may be started again.
func (c *Cache) Start(ctx context.Context) error {
	c.runMu.Lock()
	defer c.runMu.Unlock()
	if c.started {
		return errors.New("lookup: cache already started")
	}
	c.done.Wait() // the goroutines of an earlier run, if its Stop gave up waiting
	latest, err := c.src.LatestChangeSeq(ctx)
	if err != nil {
		return fmt.Errorf("lookup: start: %w", err)
	}
	// What was cached before (read through, or during an earlier run) may predate changes
	// the poller will not read again.
	c.clearAll()
	c.poll.restart(latest)
	c.poll.failing = false
	c.poll.lastOK = c.wall()
	c.seq.Store(c.poll.cursor)
	c.loadKnown(ctx)
	c.lastPoll.Store(c.poll.lastOK.UnixNano())

	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.cancel = cancel
	c.started = true
	c.done.Add(1)
	go c.pollLoop(bg)
	if p, ok := c.src.(changePruner); ok {
		c.done.Add(1)
		go c.pruneLoop(bg, p)
	}
	c.done.Add(1)
	go c.flushLoop(bg)
	return nil
}

// Stop ends the background work and then writes every pending lastUsedTime, within ctx. The
// cache still answers afterwards, without following the change log.
func (c *Cache) Stop(ctx context.Context) error {
	c.runMu.Lock()
	if c.started {
		c.cancel()
		c.started = false
	}
	// Not following the log any more: no poll will bring the known ids up to date.
	c.known.reset()
	c.runMu.Unlock()

	stopped := make(chan struct{})
	go func() {
		c.done.Wait()
		close(stopped)
	}()
	select {
	case <-stopped:
		c.lastPoll.Store(0) // no poll to wait for: answer from memory, as before Start
	case <-ctx.Done():
		return fmt.Errorf("lookup: stop: %w", ctx.Err())
	}
	if err := c.flushUsage(ctx, true); err != nil {
		return fmt.Errorf("lookup: stop: %w", err)
	}
	return nil
}

// Client returns the client with id, or store.ErrNotFound when no visible application has
// it (unknown, purged, or scheduled for deletion at or before Now). Both answers are cached.
// The result is shared: never modify it.
//
// A started cache answers an id that its set of existing ids does not know (knownIDs) unknown
// without reading the database, and refuses to answer from memory once more than MaxStale
// behind the change log (see Config.MaxStale).
func (c *Cache) Client(ctx context.Context, id string) (*Client, error) {
	if err := c.checkFresh(ctx); err != nil {
		return nil, fmt.Errorf("lookup: client %s: %w", id, err)
	}
	sh := c.clients.shardOf(id)
	if v, held := c.held(sh, id); held {
		return c.visibleClient(v)
	}
	sh.misses.Add(1)
	unknown, err := c.provenUnknown(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("lookup: client %s: bringing the known ids up to date: %w", id, err)
	}
	if unknown {
		c.unknown.Add(1)
		return nil, store.ErrNotFound
	}
	return c.fillClient(ctx, sh, id)
}

// provenUnknown reports whether id is not a client id: not among the known ids as of a poll
// begun after the call, which it waits for only when the last poll does not know id (an id
// created on another replica since must not be answered unknown). false, nil: id may exist.
func (c *Cache) provenUnknown(ctx context.Context, id string) (bool, error) {
	if c.known.mayExist(id) {
		return false, nil
	}
	if err := c.awaitPoll(ctx); err != nil {
		return false, err
	}
	return !c.known.mayExist(id), nil
}

// CachedClient is Client answered from memory alone, for the server's hot path. ok is true
// when the cache may answer from memory (not more than MaxStale behind the change log) and
// holds id: cl is then the client visible now, or nil where Client answers store.ErrNotFound
// (held as not found, or gone now). ok is false for anything else (not held, stale), which
// AbsentClient or Client then decides. It counts a hit only when it answers, so that a lookup
// is counted once either way.
func (c *Cache) CachedClient(id string) (cl *Client, ok bool) {
	if !c.fresh() {
		return nil, false
	}
	v, held := c.held(c.clients.shardOf(id), id)
	if !held {
		return nil, false
	}
	cl, _ = c.visibleClient(v) // its only error is store.ErrNotFound, with cl nil
	return cl, true
}

// held is what sh holds for id (nil: held as not found), counted a hit; ok is false when sh
// does not hold id.
func (c *Cache) held(sh *shard[*Client], id string) (v *Client, ok bool) {
	e := sh.get(id)
	if e == nil {
		return nil, false
	}
	sh.hits.Add(1)
	return e.val, true
}

// AbsentClient is Client's store.ErrNotFound for an id the cache does not hold, decided
// without the database, for the server's hot path after CachedClient: it reports true when
// the cache may answer from memory and the known ids lack id after a poll begun after the
// call, which it waits for as Client does (provenUnknown). false is anything else (an id that
// may exist, a stale cache, a failed poll, ctx done, even as the poll ended), which Client
// then decides. It counts what Client would, and only when it answers.
func (c *Cache) AbsentClient(ctx context.Context, id string) bool {
	if !c.fresh() {
		return false
	}
	if unknown, err := c.provenUnknown(ctx, id); err != nil || !unknown || ctx.Err() != nil {
		return false
	}
	c.clients.shardOf(id).misses.Add(1)
	c.unknown.Add(1)
	return true
}

// CachedOrigin is OriginApps answered from memory alone, as CachedClient is Client.
func (c *Cache) CachedOrigin(origin string) (apps []store.Application, ok bool) {
	if !c.fresh() {
		return nil, false
	}
	sh := c.origins.shardOf(origin)
	e := sh.get(origin)
	if e == nil || !c.current(e.val) {
		return nil, false
	}
	sh.hits.Add(1)
	return e.val.apps, true
}

// ErrStale is the error of an answer refused because the cache is more than MaxStale behind
// the change log and no poll could bring it up to date.
var ErrStale = errors.New("the lookup cache is too far behind the change log, which cannot be read")

// checkFresh fails closed when a started cache's last successful poll is more than MaxStale
// old: it waits for a poll (shared with every other caller, see awaitPoll) and fails if that
// poll fails.
func (c *Cache) checkFresh(ctx context.Context) error {
	if c.fresh() {
		return nil
	}
	if err := c.awaitPoll(ctx); err != nil {
		c.stale.Add(1)
		return fmt.Errorf("%w: %w", ErrStale, err)
	}
	return nil
}

// fresh reports whether the cache may answer from memory: not started, or its last
// successful poll at most MaxStale ago.
func (c *Cache) fresh() bool {
	last := c.lastPoll.Load()
	return last == 0 || c.wall().Sub(time.Unix(0, last)) <= c.cfg.MaxStale
}

// visibleClient is the answer a cached value gives now.
func (c *Cache) visibleClient(cl *Client) (*Client, error) {
	if cl == nil || cl.App.GoneAt(c.now()) {
		return nil, store.ErrNotFound
	}
	return cl, nil
}

// fillClient reads id from the source, or waits for a read of it already under way, and
// caches the answer unless an invalidation of the shard came first.
func (c *Cache) fillClient(ctx context.Context, sh *shard[*Client], id string) (*Client, error) {
	for {
		sh.mu.Lock()
		if e := sh.entries[id]; e != nil {
			sh.mu.Unlock()
			return c.visibleClient(e.val)
		}
		if f := sh.flights[id]; f != nil && f.gen == sh.gen {
			sh.mu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if retryAfter(f.err, ctx) {
				continue
			}
			if f.err != nil {
				return nil, f.err
			}
			return c.visibleClient(f.val)
		}
		f := &flight[*Client]{done: make(chan struct{}), gen: sh.gen}
		sh.flights[id] = f
		sh.mu.Unlock()

		readCtx, cancel := sharedRead(ctx)
		app, secrets, err := c.src.GetClient(readCtx, id, c.now())
		cancel()
		var cl *Client
		switch {
		case err == nil:
			cl = policyCopy(app, secrets)
		case errors.Is(err, store.ErrNotFound):
			err = nil // a negative entry
		default:
			err = fmt.Errorf("lookup: client %s: %w", id, err)
		}

		sh.mu.Lock()
		if sh.flights[id] == f {
			delete(sh.flights, id)
		}
		if err == nil && sh.gen == f.gen {
			key := id
			if cl != nil {
				key = cl.App.ID // the same string: the entry keeps one copy, not two
			}
			c.clients.put(sh, key, cl, 1)
		}
		sh.mu.Unlock()
		f.val, f.err = cl, err
		close(f.done)
		if err != nil {
			return nil, err
		}
		return c.visibleClient(cl)
	}
}

// retryAfter reports whether a waiter should read again itself: the read it waited for was
// ended by its leader's context, not by the source, and the waiter's own context is alive.
// sharedReadTimeout bounds a read that several callers may wait on.
const sharedReadTimeout = 5 * time.Second

// sharedRead is the context of a read that other callers may be waiting on:
// it keeps the first caller's values but not its cancellation, so a client
// that hangs up does not fail the read for everyone waiting on it (the
// driver reports a cancelled read as an i/o error, not as ctx.Err()).
func sharedRead(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), sharedReadTimeout)
}

func retryAfter(err error, ctx context.Context) bool {
	return err != nil && ctx.Err() == nil &&
		(errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded))
}

// OriginApps returns the visible applications that list origin (exact, normalised), enabled or
// not, of every tenant; none is an empty slice. Answers are cached per origin, empty ones
// included. Each application carries what a CORS decision reads: ID, TenantID, Type,
// Tenancy, TenancyApproval, Enabled, ScheduledDeletionTime and the times; its other strings
// and lists are empty (see corsCopy). The slice is shared: never modify it.
func (c *Cache) OriginApps(ctx context.Context, origin string) ([]store.Application, error) {
	if err := c.checkFresh(ctx); err != nil {
		return nil, fmt.Errorf("lookup: origin %s: %w", origin, err)
	}
	sh := c.origins.shardOf(origin)
	if e := sh.get(origin); e != nil && c.current(e.val) {
		sh.hits.Add(1)
		return e.val.apps, nil
	}
	sh.misses.Add(1)
	return c.fillOrigin(ctx, sh, origin)
}

// current reports whether no application of oe is gone.
func (c *Cache) current(oe *originEntry) bool {
	return oe.first == nil || !oe.first.GoneAt(c.now())
}

// fillOrigin is fillClient for origins, where the generation is the origin cache's own.
func (c *Cache) fillOrigin(ctx context.Context, sh *shard[*originEntry], origin string) ([]store.Application, error) {
	for {
		sh.mu.Lock()
		if e := sh.entries[origin]; e != nil && c.current(e.val) {
			sh.mu.Unlock()
			return e.val.apps, nil
		}
		if f := sh.flights[origin]; f != nil && f.gen == c.originGen.Load() {
			sh.mu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if retryAfter(f.err, ctx) {
				continue
			}
			if f.err != nil {
				return nil, f.err
			}
			return f.val.apps, nil
		}
		f := &flight[*originEntry]{done: make(chan struct{}), gen: c.originGen.Load()}
		sh.flights[origin] = f
		sh.mu.Unlock()

		readCtx, cancel := sharedRead(ctx)
		apps, err := c.src.ApplicationsWithOrigin(readCtx, origin, c.now())
		cancel()
		var oe *originEntry
		if err != nil {
			err = fmt.Errorf("lookup: origin %s: %w", origin, err)
		} else {
			oe = &originEntry{apps: make([]store.Application, len(apps))}
			for i := range apps {
				oe.apps[i] = corsCopy(&apps[i])
				if d := oe.apps[i].ScheduledDeletionTime; d != nil && (oe.first == nil || d.Before(*oe.first.ScheduledDeletionTime)) {
					oe.first = &oe.apps[i]
				}
			}
			apps = oe.apps
		}

		c.originMu.Lock()
		sh.mu.Lock()
		if sh.flights[origin] == f {
			delete(sh.flights, origin)
		}
		if err == nil && c.originGen.Load() == f.gen {
			if c.origins.put(sh, origin, oe, max(1, len(apps))) {
				for i := range apps {
					c.byApp[apps[i].ID] = append(c.byApp[apps[i].ID], origin)
				}
			}
		}
		sh.mu.Unlock()
		c.originMu.Unlock()
		f.val, f.err = oe, err
		close(f.done)
		if err != nil {
			return nil, err
		}
		return apps, nil
	}
}

// Stats returns the counters.
func (c *Cache) Stats() Stats {
	var s Stats
	s.ClientHits, s.ClientMisses = c.clients.hitsMisses()
	s.OriginHits, s.OriginMisses = c.origins.hitsMisses()
	s.Invalidations = c.invalidations.Load()
	s.ClientEntries = c.clients.count.Load()
	s.OriginEntries = c.origins.count.Load()
	s.Resets = c.resets.Load()
	s.PollErrors = c.pollErrors.Load()
	s.Seq = c.seq.Load()
	s.Unknown = c.unknown.Load()
	s.Stale = c.stale.Load()
	return s
}
