package lookup

import (
	"context"
	"errors"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// usageShards splits NoteUse's lock.
const usageShards = 16

// usage holds the latest time of use of each application and secret since the last flush.
type usage struct {
	seed   maphash.Seed
	shards [usageShards]usageShard
	// pending counts the distinct ids held; past limit a flush is asked for early, so memory
	// stays bounded when more applications are used per period than the cache holds. Past
	// twice the limit (no flusher running, or the database refusing writes) new ids are
	// dropped: lastUsedTime is worth less than the process's memory.
	pending atomic.Int64
	limit   int64
	kick    chan struct{}
}

type usageShard struct {
	mu      sync.Mutex
	apps    map[string]time.Time
	secrets map[string]time.Time
	_       [64]byte
}

func (u *usage) init(limit int) {
	u.seed = maphash.MakeSeed()
	u.limit = int64(max(limit, 1))
	u.kick = make(chan struct{}, 1)
	for i := range u.shards {
		u.shards[i].apps = make(map[string]time.Time)
		u.shards[i].secrets = make(map[string]time.Time)
	}
}

// NoteUse records that application applicationID, and its secret secretID unless it is "",
// were used at at. It only updates memory: a flusher writes each application's and secret's
// latest time at most once per UsageFlush, and Stop writes what is left, so the request path
// never waits on the database.
func (c *Cache) NoteUse(applicationID, secretID string, at time.Time) {
	u := &c.usage
	sh := &u.shards[maphash.String(u.seed, applicationID)%usageShards]
	room := u.pending.Load() < 2*u.limit
	var added int64
	sh.mu.Lock()
	if old, ok := sh.apps[applicationID]; !ok {
		if room {
			sh.apps[applicationID] = at
			added++
		}
	} else if at.After(old) {
		sh.apps[applicationID] = at
	}
	if secretID != "" {
		if old, ok := sh.secrets[secretID]; !ok {
			if room {
				sh.secrets[secretID] = at
				added++
			}
		} else if at.After(old) {
			sh.secrets[secretID] = at
		}
	}
	sh.mu.Unlock()
	if added > 0 && u.pending.Add(added) >= u.limit {
		select {
		case u.kick <- struct{}{}:
		default:
		}
	}
}

// NoteClientUse is NoteUse for a cached client cl (and its secret secretID unless ""), passed
// on at most once per second of at for each snapshot and secret: a client looked up ten
// thousand times a second takes NoteUse's lock once a second, not at every lookup. The time
// written is then that second's first use; lastUsedTime is written every UsageFlush anyway.
func (c *Cache) NoteClientUse(cl *Client, secretID string, at time.Time) {
	second := at.Unix()
	if m := cl.noted.Load(); m != nil && m.second == second && m.secretID == secretID {
		return
	}
	cl.noted.Store(&usedMark{second: second, secretID: secretID})
	c.NoteUse(cl.App.ID, secretID, at)
}

// flushLoop writes the recorded uses every UsageFlush, or sooner when too many are held,
// until ctx ends (Stop then writes the rest).
func (c *Cache) flushLoop(ctx context.Context) {
	defer c.done.Done()
	ticker := time.NewTicker(c.cfg.UsageFlush)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-c.usage.kick:
		}
		if err := c.flushUsage(ctx, false); err != nil && ctx.Err() == nil {
			c.log.Warn("writing lastUsedTime failed; keeping it for the next flush", slog.String("error", err.Error()))
		}
	}
}

// flushUsage takes every recorded use and writes it. On failure the uses go back to be tried
// at the next flush, unless final (Stop) or that would exceed the bound.
func (c *Cache) flushUsage(ctx context.Context, final bool) error {
	u := &c.usage
	apps := make(map[string]time.Time)
	secrets := make(map[string]time.Time)
	for i := range u.shards {
		sh := &u.shards[i]
		sh.mu.Lock()
		var a, s map[string]time.Time // taken: no NoteUse writes them any more
		if len(sh.apps) > 0 || len(sh.secrets) > 0 {
			a, s = sh.apps, sh.secrets
			sh.apps, sh.secrets = make(map[string]time.Time), make(map[string]time.Time)
		}
		sh.mu.Unlock()
		for id, t := range a {
			apps[id] = t
		}
		for id, t := range s {
			secrets[id] = t
		}
	}
	u.pending.Add(-int64(len(apps) + len(secrets)))
	if len(apps) == 0 && len(secrets) == 0 {
		return nil
	}
	var errApps, errSecrets error
	if len(apps) > 0 {
		errApps = c.src.TouchLastUsed(ctx, apps)
	}
	if len(secrets) > 0 {
		errSecrets = c.src.TouchSecretsLastUsed(ctx, secrets)
	}
	if !final && u.pending.Load()+int64(len(apps)+len(secrets)) < u.limit {
		if errApps != nil {
			c.requeue(apps, nil)
		}
		if errSecrets != nil {
			c.requeue(nil, secrets)
		}
	}
	return errors.Join(errApps, errSecrets)
}

// requeue puts back uses a failed flush took, keeping any later time recorded meanwhile.
func (c *Cache) requeue(apps, secrets map[string]time.Time) {
	for id, t := range apps {
		c.NoteUse(id, "", t)
	}
	u := &c.usage
	for id, t := range secrets {
		sh := &u.shards[maphash.String(u.seed, id)%usageShards]
		sh.mu.Lock()
		if old, ok := sh.secrets[id]; !ok {
			sh.secrets[id] = t
			u.pending.Add(1)
		} else if t.After(old) {
			sh.secrets[id] = t
		}
		sh.mu.Unlock()
	}
}
