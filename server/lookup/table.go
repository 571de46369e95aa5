package lookup

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// entry is one cached value. Only ref changes after the entry is published, and only as a hint
// for eviction, so readers need nothing but the shard's read lock.
type entry[V any] struct {
	key    string
	val    V
	weight int
	slot   int         // index in shard.ring; guarded by the shard's write lock
	ref    atomic.Bool // referenced since the clock hand last passed
}

// flight is one read of the source in progress for a key; callers missing the same key at
// the same generation wait for it instead of reading too. It is kept rather than
// golang.org/x/sync/singleflight because it lives in the shard, under the lock that found
// the entry missing: registering it and reading the shard's generation is one critical
// section, so a read begun before an invalidation is never joined after it, and a miss takes
// no second, process-wide lock (singleflight.Group has one mutex for every key).
type flight[V any] struct {
	done chan struct{}
	gen  uint64
	val  V
	err  error
}

// shard is one lock's worth of a table: a map for lookups and a ring of the same entries that
// a CLOCK hand sweeps to evict. CLOCK rather than a linked LRU list because a hit must not
// write shared structure: it sets a bit, so hits share the read lock.
type shard[V any] struct {
	mu      sync.RWMutex
	entries map[string]*entry[V]
	ring    []*entry[V]
	hand    int
	weight  int // sum of the entries' weights
	budget  int // the most weight the shard holds
	// gen grows with every invalidation of a key of the shard (and every clear): a read of
	// the source that began at another gen may be stale, so its result is not stored.
	gen     uint64
	flights map[string]*flight[V]

	hits   atomic.Uint64
	misses atomic.Uint64
	_      [64]byte // keeps the hot counters of neighbouring shards off one cache line
}

// table is a bounded map from string keys to V, split in shards by key hash.
type table[V any] struct {
	shards []shard[V]
	mask   uint64
	seed   maphash.Seed
	count  atomic.Int64 // entries, for Stats
	// onRemove is called, with the shard's write lock held, for every entry that leaves the
	// table (evicted, removed or cleared). May be nil.
	onRemove func(e *entry[V])
}

// newTable splits budget (a total weight) over shards, at most maxShards and a power of two,
// so that each shard holds at least minShardBudget: the sum of the shard budgets is exactly
// budget, so the table never holds more.
func newTable[V any](budget, maxShards, minShardBudget int) *table[V] {
	n := 1
	for n*2 <= maxShards && budget/(n*2) >= minShardBudget {
		n *= 2
	}
	t := &table[V]{shards: make([]shard[V], n), mask: uint64(n - 1), seed: maphash.MakeSeed()}
	for i := range t.shards {
		sh := &t.shards[i]
		sh.budget = budget / n
		if i < budget%n {
			sh.budget++
		}
		sh.entries = make(map[string]*entry[V])
		sh.flights = make(map[string]*flight[V])
	}
	return t
}

// shardOf is the shard of key.
func (t *table[V]) shardOf(key string) *shard[V] {
	return &t.shards[maphash.String(t.seed, key)&t.mask]
}

// get returns the entry of key, marking it referenced, or nil. It takes only the read lock.
func (sh *shard[V]) get(key string) *entry[V] {
	sh.mu.RLock()
	e := sh.entries[key]
	sh.mu.RUnlock()
	if e != nil && !e.ref.Load() {
		e.ref.Store(true)
	}
	return e
}

// put stores val under key with weight, replacing any entry of key and evicting others as the
// budget requires. A value heavier than the whole shard is not stored (put reports false).
// The caller holds sh.mu for writing.
func (t *table[V]) put(sh *shard[V], key string, val V, weight int) bool {
	if old := sh.entries[key]; old != nil {
		t.remove(sh, old)
	}
	if weight > sh.budget {
		return false
	}
	for sh.weight+weight > sh.budget {
		t.evictOne(sh)
	}
	e := &entry[V]{key: key, val: val, weight: weight, slot: len(sh.ring)}
	sh.entries[key] = e
	sh.ring = append(sh.ring, e)
	sh.weight += weight
	t.count.Add(1)
	return true
}

// evictOne advances the clock hand to the first entry not referenced since the hand's last
// pass, clearing the bits it passes, and removes it. The shard is not empty.
func (t *table[V]) evictOne(sh *shard[V]) {
	for {
		if sh.hand >= len(sh.ring) {
			sh.hand = 0
		}
		e := sh.ring[sh.hand]
		if e.ref.Load() {
			e.ref.Store(false)
			sh.hand++
			continue
		}
		t.remove(sh, e) // moves the ring's last entry into the hand's slot
		return
	}
}

// remove takes e out of the shard. The caller holds sh.mu for writing.
func (t *table[V]) remove(sh *shard[V], e *entry[V]) {
	delete(sh.entries, e.key)
	last := len(sh.ring) - 1
	moved := sh.ring[last]
	sh.ring[e.slot] = moved
	moved.slot = e.slot
	sh.ring[last] = nil
	sh.ring = sh.ring[:last]
	sh.weight -= e.weight
	t.count.Add(-1)
	if t.onRemove != nil {
		t.onRemove(e)
	}
}

// invalidate removes key, if cached, and makes every read of key's shard already under way
// unfit to store. It reports whether an entry was removed.
func (t *table[V]) invalidate(key string) bool {
	sh := t.shardOf(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.gen++
	if e := sh.entries[key]; e != nil {
		t.remove(sh, e)
		return true
	}
	return false
}

// clear empties every shard and makes every read under way unfit to store.
func (t *table[V]) clear() {
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		sh.gen++
		for len(sh.ring) > 0 {
			t.remove(sh, sh.ring[len(sh.ring)-1])
		}
		sh.hand = 0
		sh.ring = nil
		sh.mu.Unlock()
	}
}

// hitsMisses sums the shards' counters.
func (t *table[V]) hitsMisses() (hits, misses uint64) {
	for i := range t.shards {
		hits += t.shards[i].hits.Load()
		misses += t.shards[i].misses.Load()
	}
	return hits, misses
}
