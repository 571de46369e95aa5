package lookup

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"runtime"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/hashicorp/golang-lru/v2/expirable"
	"golang.org/x/time/rate"
)

// Defaults of SlowHashConfig. Each bound is there for one reason, said beside it.
const (
	// DefaultRememberSize is how many (client, secret) pairs verified by a slow hash are
	// remembered: a few per imported client in active use. 64 bytes an entry plus the
	// LRU's own overhead: well under a MiB.
	DefaultRememberSize = 4096
	// DefaultRememberTTL bounds how long a secret verified by a slow hash is answered from
	// memory. Rotation, revocation and disabling drop the entry at once (see Remembered);
	// the TTL only bounds how long a keyed digest of a secret stays in memory.
	DefaultRememberTTL = 5 * time.Minute
	// DefaultThrottledClients is how many clients' failure budgets are kept (an LRU): a
	// flood against more clients than that at once is still bounded by the workers.
	DefaultThrottledClients = 10_000
	// DefaultFailureRate and DefaultFailureBurst are one client's budget of failed slow
	// hashes: 5 at once, then one every 2 s. At about 0.2-0.3 s of a core a hash, a flood
	// of wrong secrets against one client costs at most about an eighth of a core (at one a
	// second it measured a third of the lookups' rate gone on a loaded 2-core machine).
	DefaultFailureRate  = rate.Limit(0.5)
	DefaultFailureBurst = 5
	// DefaultMaxWait is how long `appreg serve` lets a verification wait for its slow hash
	// (0.2-0.3 s of a core, longer when the CPU is shared) before it answers busy: an
	// authorization server's token request must not hang on a replica too loaded to give the
	// hash its CPU.
	DefaultMaxWait = time.Second
)

// SlowHashConfig tunes SlowHashes; zero values take the defaults.
type SlowHashConfig struct {
	// Workers is the most slow hashes computed at once (default max(1, GOMAXPROCS/2)), so
	// that they never take more than half the replica's CPU and the lookup path always
	// keeps the rest.
	Workers          int
	RememberSize     int
	RememberTTL      time.Duration
	ThrottledClients int
	FailureRate      rate.Limit
	FailureBurst     int
	// MaxWait bounds how long a verification waits for its hash (see Run); 0: no bound.
	// `appreg serve` sets DefaultMaxWait (TestServeBoundsTheSlowHashWait).
	MaxWait time.Duration
	// Started, when set, is called on the worker when Acquire succeeds, before the hash;
	// tests hold a worker by blocking in it.
	Started func()
}

// SlowHashStats are SlowHashes' counters, for metrics and tests.
type SlowHashStats struct {
	Hashes     uint64 // slow hashes computed
	Remembered uint64 // verifications answered from memory
	Busy       uint64 // verifications refused because every worker was busy, or their hash late (MaxWait)
	Throttled  uint64 // verifications refused by their client's failure budget
}

// SlowHashes guards the verification of imported secrets, which are stored with a slow hash
// (PBKDF2, see server/secrets.go) costing a fifth of a second of a core or more. Unguarded,
// 16 connections sending wrong secrets for one imported client took every core and the
// lookups of every other client with it. The handler asks, in this order:
//
//  1. Remembered: was this very secret verified for this client recently? Then it is the
//     answer, without a hash.
//  2. Throttled: has this client failed its budget of slow hashes? Then the call is refused
//     at once, without a hash.
//  3. Acquire: is a worker free? If not, the call is refused at once; nobody waits for a
//     worker, so a flood never queues and issued secrets, lookups and CORS checks never wait
//     behind it.
//
// Then it hashes, calls Release, and Remember (a match) or Failed (no match).
type SlowHashes struct {
	slots    chan struct{}
	key      [32]byte // HMAC key of the remembered pairs, random per process
	verified *expirable.LRU[[32]byte, remembered]
	budgets  *lru.Cache[string, *rate.Limiter]
	rate     rate.Limit
	burst    int
	started  func()
	maxWait  time.Duration

	hashes, hits, busy, throttled atomic.Uint64
}

// remembered is a secret verified by a slow hash: which stored secret it matched, in which
// snapshot of the client.
type remembered struct {
	client   *Client
	secretID string
}

// NewSlowHashes returns a guard with cfg's bounds.
func NewSlowHashes(cfg SlowHashConfig) *SlowHashes {
	if cfg.Workers <= 0 {
		cfg.Workers = max(1, runtime.GOMAXPROCS(0)/2)
	}
	if cfg.RememberSize <= 0 {
		cfg.RememberSize = DefaultRememberSize
	}
	if cfg.RememberTTL <= 0 {
		cfg.RememberTTL = DefaultRememberTTL
	}
	if cfg.ThrottledClients <= 0 {
		cfg.ThrottledClients = DefaultThrottledClients
	}
	if cfg.FailureRate <= 0 {
		cfg.FailureRate = DefaultFailureRate
	}
	if cfg.FailureBurst <= 0 {
		cfg.FailureBurst = DefaultFailureBurst
	}
	g := &SlowHashes{
		slots:    make(chan struct{}, cfg.Workers),
		verified: expirable.NewLRU[[32]byte, remembered](cfg.RememberSize, nil, cfg.RememberTTL),
		rate:     cfg.FailureRate,
		burst:    cfg.FailureBurst,
		started:  cfg.Started,
		maxWait:  cfg.MaxWait,
	}
	g.budgets, _ = lru.New[string, *rate.Limiter](cfg.ThrottledClients) // only a size <= 0 fails
	if _, err := rand.Read(g.key[:]); err != nil {
		panic("lookup: no randomness for the remembered secrets' key: " + err.Error())
	}
	return g
}

// digest is the key of a (client, secret) pair: HMAC-SHA-256 under a key that never leaves
// this process, so the memory holds no secret, nor anything to guess one from offline.
func (g *SlowHashes) digest(clientID, secret string) [32]byte {
	m := hmac.New(sha256.New, g.key[:])
	m.Write([]byte(clientID))
	m.Write([]byte{0})
	m.Write([]byte(secret))
	var d [32]byte
	m.Sum(d[:0])
	return d
}

// Remembered returns the id of the stored secret that secret matched when it was verified
// for c within the TTL. The answer holds only while c is the client's current snapshot:
// every change of the application (a rotation, a revoked secret, a disable), on this replica
// or another (through the change log), replaces the snapshot, and with it forgets every
// remembered secret of the client.
func (g *SlowHashes) Remembered(c *Client, secret string) (string, bool) {
	d := g.digest(c.App.ID, secret)
	r, ok := g.verified.Get(d)
	if !ok {
		return "", false
	}
	if r.client != c {
		g.verified.Remove(d)
		return "", false
	}
	g.hits.Add(1)
	return r.secretID, true
}

// Remember records that secret matched the stored secret secretID of c.
func (g *SlowHashes) Remember(c *Client, secret, secretID string) {
	g.verified.Add(g.digest(c.App.ID, secret), remembered{client: c, secretID: secretID})
}

// Throttled reports whether clientID has spent its budget of failed slow hashes.
func (g *SlowHashes) Throttled(clientID string) bool {
	l, ok := g.budgets.Get(clientID)
	if ok && l.Tokens() < 1 {
		g.throttled.Add(1)
		return true
	}
	return false
}

// Failed spends one of clientID's failed slow hashes.
func (g *SlowHashes) Failed(clientID string) {
	l, ok := g.budgets.Get(clientID)
	if !ok {
		l = rate.NewLimiter(g.rate, g.burst)
		if prev, found, _ := g.budgets.PeekOrAdd(clientID, l); found {
			l = prev
		}
	}
	l.Allow()
}

// Acquire takes a worker if one is free, without waiting. A true answer must be followed by
// Release.
func (g *SlowHashes) Acquire() bool {
	select {
	case g.slots <- struct{}{}:
		g.hashes.Add(1)
		if g.started != nil {
			g.started()
		}
		return true
	default:
		g.busy.Add(1)
		return false
	}
}

// Release returns the worker taken by Acquire.
func (g *SlowHashes) Release() { <-g.slots }

// Run computes fn, a slow hash, on a goroutine of its own and returns its result; call it
// after Acquire: the worker is released when fn returns. A panic in fn is raised again in
// the caller, as if fn had run there.
//
// A hash that has not finished within MaxWait (a replica loaded to its limit) is left to
// finish on its own, its worker taken until it does, and Run returns ok false at MaxWait:
// the caller answers busy rather than hang.
func (g *SlowHashes) Run(fn func() int) (result int, ok bool) {
	type outcome struct {
		result   int
		panicked any
	}
	out := make(chan outcome, 1) // the worker never waits for a caller gone at MaxWait
	go func() {
		defer g.Release()
		var o outcome
		defer func() { out <- o }()
		defer func() { o.panicked = recover() }()
		o.result = fn()
	}()
	var late <-chan time.Time
	if g.maxWait > 0 {
		t := time.NewTimer(g.maxWait)
		defer t.Stop()
		late = t.C
	}
	select {
	case o := <-out:
		if o.panicked != nil {
			panic(o.panicked)
		}
		return o.result, true
	case <-late:
		g.busy.Add(1)
		return 0, false
	}
}

// Workers is the bound: the most slow hashes computed at once.
func (g *SlowHashes) Workers() int { return cap(g.slots) }

// Stats returns the counters.
func (g *SlowHashes) Stats() SlowHashStats {
	return SlowHashStats{Hashes: g.hashes.Load(), Remembered: g.hits.Load(), Busy: g.busy.Load(), Throttled: g.throttled.Load()}
}
