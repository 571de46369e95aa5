package auth

import (
	"sync"
	"sync/atomic"
	"time"
)

// cacheShards spreads a large verified-token cache over independently locked
// shards so concurrent requests rarely wait on one another; a cache smaller
// than minShardedSize has one shard, so its bound is exact.
const (
	cacheShards    = 16
	minShardedSize = 1024
)

// evictionSamples is how many entries a full shard looks at to choose the one
// to evict: the one that expires first, which is also the least useful.
const evictionSamples = 8

// tokenCache remembers verified tokens, keyed by the SHA-256 of the token,
// until they expire. It holds at most its capacity of entries.
type tokenCache struct {
	shards []cacheShard
	// generation counts purges: a token verified against a key set that was
	// replaced while it was being verified is not added.
	generation atomic.Uint64
}

type cacheShard struct {
	mu       sync.RWMutex
	capacity int
	entries  map[[32]byte]Principal
}

func newTokenCache(size int) *tokenCache {
	n := 1
	if size >= minShardedSize {
		n = cacheShards
	}
	c := &tokenCache{shards: make([]cacheShard, n)}
	for i := range c.shards {
		capacity := size / n
		if i < size%n {
			capacity++
		}
		c.shards[i] = cacheShard{capacity: capacity, entries: make(map[[32]byte]Principal)}
	}
	return c
}

func (c *tokenCache) shard(key [32]byte) *cacheShard {
	return &c.shards[int(key[0])%len(c.shards)]
}

// get returns the principal of a verified token. The caller checks the
// expiry; the principal's roles are the cache's own and must not be changed.
func (c *tokenCache) get(key [32]byte) (Principal, bool) {
	s := c.shard(key)
	s.mu.RLock()
	p, ok := s.entries[key]
	s.mu.RUnlock()
	return p, ok
}

// add remembers a token verified in generation gen; when the shard is full it
// evicts, among a few entries picked at random (map order), the one that
// expires first.
func (c *tokenCache) add(key [32]byte, p Principal, gen uint64) {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.generation.Load() != gen {
		return
	}
	if _, ok := s.entries[key]; !ok && len(s.entries) >= s.capacity {
		var victim [32]byte
		var victimExp time.Time
		n := 0
		for k, e := range s.entries {
			if n == 0 || e.ExpiresAt.Before(victimExp) {
				victim, victimExp = k, e.ExpiresAt
			}
			if n++; n == evictionSamples {
				break
			}
		}
		delete(s.entries, victim)
	}
	s.entries[key] = p
}

func (c *tokenCache) remove(key [32]byte) {
	s := c.shard(key)
	s.mu.Lock()
	delete(s.entries, key)
	s.mu.Unlock()
}

// purge forgets every token, as when a signing key leaves the key set.
func (c *tokenCache) purge() {
	c.generation.Add(1)
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		clear(s.entries)
		s.mu.Unlock()
	}
}
