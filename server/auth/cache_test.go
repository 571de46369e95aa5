package auth

import (
	"context"
	"crypto"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestCacheSkipsVerification(t *testing.T) {
	v := newTestVerifier(t, Config{})
	tok := mustSign(t, rsaKey(), "rsa-1", validClaims())
	first, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	second, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if got := v.verifications.Load(); got != 1 {
		t.Errorf("signature checks for two calls = %d, want 1", got)
	}
	if first.TenantID != second.TenantID || first.Subject != second.Subject || !first.ExpiresAt.Equal(second.ExpiresAt) {
		t.Errorf("cached principal %+v differs from %+v", second, first)
	}
}

func TestCacheRespectsExpiry(t *testing.T) {
	clock := newClock()
	v := newTestVerifier(t, Config{Now: clock.Now})
	tok := mustSign(t, ecKey(), "ec-1", validClaims()) // exp t0+1h
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	clock.Add(time.Hour + 20*time.Second) // within the leeway
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("within the leeway: %v", err)
	}
	clock.Add(10 * time.Second)
	_, err := v.Verify(context.Background(), tok)
	wantReason(t, err, reasonExpired)
	if got := v.verifications.Load(); got != 1 {
		t.Errorf("signature checks = %d, want 1 (the expiry is the cache's own)", got)
	}
	if got := v.cache.len(); got != 0 {
		t.Errorf("cache holds %d entries after the token expired, want 0", got)
	}
}

func TestCacheKeepsFailuresOut(t *testing.T) {
	v := newTestVerifier(t, Config{})
	tok := mustSign(t, rsaKey(), "rsa-1", claimsWith(map[string]any{"tenantId": nil}))
	for range 2 {
		_, err := v.Verify(context.Background(), tok)
		wantReason(t, err, reasonNoTenant)
	}
	if got := v.verifications.Load(); got != 2 {
		t.Errorf("signature checks = %d, want 2", got)
	}
}

func TestCacheRolesAreCopies(t *testing.T) {
	v := newTestVerifier(t, Config{})
	tok := mustSign(t, rsaKey(), "rsa-1", validClaims())
	for range 3 {
		p, err := v.Verify(context.Background(), tok)
		if err != nil {
			t.Fatal(err)
		}
		if p.Roles[0] != RoleAdmin {
			t.Fatalf("roles = %q: a caller's change leaked into the cache", p.Roles)
		}
		p.Roles[0] = "mutated"
	}
}

func TestCacheDisabled(t *testing.T) {
	v := newTestVerifier(t, Config{CacheSize: -1})
	tok := mustSign(t, rsaKey(), "rsa-1", validClaims())
	for range 2 {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if got := v.verifications.Load(); got != 2 {
		t.Errorf("signature checks = %d, want 2", got)
	}
}

func TestCacheBounded(t *testing.T) {
	for _, size := range []int{1, 5, minShardedSize, 3000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			c := newTokenCache(size)
			for i := range 3 * size {
				var key [32]byte
				rand.Read(key[:])
				c.add(key, Principal{ExpiresAt: t0.Add(time.Duration(i) * time.Second)}, 0)
			}
			if got := c.len(); got != size {
				t.Errorf("entries = %d, want %d", got, size)
			}
		})
	}
}

func TestCacheEvictsSoonestExpiry(t *testing.T) {
	c := newTokenCache(evictionSamples) // one shard, all of it sampled
	key := func(i int) [32]byte { return [32]byte{byte(i)} }
	for i := range evictionSamples {
		c.add(key(i), Principal{ExpiresAt: t0.Add(time.Duration(evictionSamples-i) * time.Hour)}, 0)
	}
	c.add(key(100), Principal{ExpiresAt: t0.Add(time.Hour)}, 0)
	if _, ok := c.get(key(evictionSamples - 1)); ok {
		t.Error("the entry expiring first was kept")
	}
	for i := range evictionSamples - 1 {
		if _, ok := c.get(key(i)); !ok {
			t.Errorf("entry %d was evicted", i)
		}
	}
}

func TestCacheIgnoresAddsFromBeforeAPurge(t *testing.T) {
	c := newTokenCache(10)
	gen := c.generation.Load()
	c.purge()
	c.add([32]byte{1}, Principal{ExpiresAt: t0}, gen)
	if c.len() != 0 {
		t.Error("a token verified against the old keys was cached after the purge")
	}
}

func TestCacheConcurrent(t *testing.T) {
	clock := newClock()
	v := newTestVerifier(t, Config{CacheSize: 4, Now: clock.Now})
	var tokens []string
	for i := range 12 {
		key, kid := trustedKey(i)
		tokens = append(tokens, mustSign(t, key, kid, claimsWith(map[string]any{"sub": fmt.Sprint("user-", i)})))
	}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 50 {
				n := (g + i) % len(tokens)
				p, err := v.Verify(context.Background(), tokens[n])
				if err != nil {
					t.Error(err)
					return
				}
				if want := fmt.Sprint("user-", n); p.Subject != want {
					t.Errorf("subject = %q, want %q", p.Subject, want)
					return
				}
				if i%10 == 0 {
					clock.Add(time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	if got := v.cache.len(); got > 4 {
		t.Errorf("cache holds %d entries, want at most 4", got)
	}
}

// trustedKey alternates the two keys newTestVerifier trusts.
func trustedKey(i int) (crypto.Signer, string) {
	if i%2 == 0 {
		return rsaKey(), "rsa-1"
	}
	return ecKey(), "ec-1"
}

// len counts the tokens the cache holds.
func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.entries)
		s.mu.RUnlock()
	}
	return n
}
