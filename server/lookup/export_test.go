package lookup

import (
	"context"
	"time"
)

// PollNow runs one poll in the caller's goroutine, as the poll loop would. Tests that call it
// start the cache with a PollInterval long enough that the loop never polls itself.
func PollNow(c *Cache) { c.pollOnce(context.Background()) }

// SetWall replaces the wall clock of poll, gap and flush timing; call it before Start.
func SetWall(c *Cache, wall func() time.Time) { c.wall = wall }

// Cursor is the poller's cursor.
func Cursor(c *Cache) int64 { return c.poll.cursor }

// OriginWeight is the number of applications over all cached origins.
func OriginWeight(c *Cache) int {
	c.originMu.Lock()
	defer c.originMu.Unlock()
	n := 0
	for i := range c.origins.shards {
		sh := &c.origins.shards[i]
		sh.mu.RLock()
		n += sh.weight
		sh.mu.RUnlock()
	}
	return n
}

// IndexedApps is the number of applications in the origin cache's reverse index.
func IndexedApps(c *Cache) int {
	c.originMu.Lock()
	defer c.originMu.Unlock()
	return len(c.byApp)
}

// Invalidate is the poller's invalidation of one application, at once (the change log's
// path, with the read of its current origins), for tests that drive it by hand.
func (c *Cache) Invalidate(applicationID string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c.invalidate(ctx, []string{applicationID})
}

// FlushUsage writes the uses noted so far, as the flusher would.
func FlushUsage(c *Cache) error { return c.flushUsage(context.Background(), false) }

// SyncGap is the least time between two polls made for ids the known set does not hold.
const SyncGap = syncGap
