package lookup

import (
	"context"
	"errors"
	"log/slog"
	"slices"

	"github.com/cxone/appreg/store"
)

// maxOriginReads is the most changed applications whose current origins are read to find the
// origin answers they joined; beyond it (a bulk purge, an import) the origin cache is simply
// cleared, which is cheaper than the reads.
const maxOriginReads = 1000

// maxOriginGets is maxOriginReads when the source has no ApplicationOrigins and each read is
// a GetClient.
const maxOriginGets = 32

// InvalidateWritten drops everything cached about application id, on this replica, at once:
// its client entry (or negative entry) and every cached origin answer it is, or now should be,
// part of. The other replicas learn of a write from the change log; the writing replica calls
// InvalidateWritten after its own commit, so that it reads its own write at once. It passes the
// origins the application lists after its committed write (none when it is gone), so no read
// of them is needed; an answer listing one of its former origins is found through the cache's
// own index.
func (c *Cache) InvalidateWritten(applicationID string, origins []string) {
	ids := []string{applicationID}
	c.known.add(applicationID) // its own create: known here at once
	c.dropClients(ids)
	c.dropOrigins(ids, map[string][]string{applicationID: origins}, false)
}

// invalidate drops everything cached about a batch of distinct application ids, read in the
// change log. When origin answers are cached it reads the applications' current origins (one
// indexed query), because an origin an application has just started to list is not yet linked
// to it. If that read fails, the whole origin cache is dropped instead.
func (c *Cache) invalidate(ctx context.Context, ids []string) {
	if len(ids) == 0 {
		return
	}
	c.dropClients(ids)

	// An origin answer that lists one of ids is found through byApp. One that should now list
	// it is not: learn which origins the applications list now, unless nothing is cached.
	var (
		current  map[string][]string
		clearAll bool
	)
	if c.origins.count.Load() > 0 {
		var err error
		current, err = c.currentOrigins(ctx, ids)
		if err != nil {
			c.log.Warn("reading the origins of changed applications failed; dropping every cached origin",
				slog.Int("applications", len(ids)), slog.String("error", err.Error()))
			clearAll = true
		} else if current == nil {
			clearAll = true
		}
	}
	c.dropOrigins(ids, current, clearAll)
}

// dropClients removes the client entries of ids.
func (c *Cache) dropClients(ids []string) {
	for _, id := range ids {
		c.clients.invalidate(id)
	}
	c.invalidations.Add(uint64(len(ids)))
}

// dropOrigins removes every cached origin answer that lists one of ids, or that one of them
// lists now (current), or every origin answer when clearAll.
func (c *Cache) dropOrigins(ids []string, current map[string][]string, clearAll bool) {
	c.originMu.Lock()
	defer c.originMu.Unlock()
	c.originGen.Add(1) // whatever happens below, no origin read under way may store its answer
	if clearAll {
		c.origins.clear()
		return
	}
	for _, id := range ids {
		for _, origin := range slices.Concat(c.byApp[id], current[id]) {
			c.origins.invalidate(origin) // its onRemove updates byApp
		}
	}
}

// currentOrigins reads the origins ids list now. nil, nil means "too many to read: clear".
func (c *Cache) currentOrigins(ctx context.Context, ids []string) (map[string][]string, error) {
	if c.lists != nil {
		if len(ids) > maxOriginReads {
			return nil, nil
		}
		return c.lists.ApplicationOrigins(ctx, ids)
	}
	if len(ids) > maxOriginGets {
		return nil, nil
	}
	out := make(map[string][]string, len(ids))
	for _, id := range ids {
		app, _, err := c.src.GetClient(ctx, id, c.now())
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[id] = app.Origins
	}
	return out, nil
}

// unindexOrigin is the origin table's onRemove: it unlinks the origin from the applications
// of its answer. Called with originMu held, as every write to the origin table is.
func (c *Cache) unindexOrigin(e *entry[*originEntry]) {
	for i := range e.val.apps {
		id := e.val.apps[i].ID
		origins := slices.DeleteFunc(c.byApp[id], func(o string) bool { return o == e.key })
		if len(origins) == 0 {
			delete(c.byApp, id)
		} else {
			c.byApp[id] = origins
		}
	}
}

// clearAll drops every cached answer, and every read under way, when the change log can no
// longer prove the cache current.
func (c *Cache) clearAll() {
	c.clients.clear()
	c.originMu.Lock()
	c.originGen.Add(1)
	c.origins.clear()
	c.originMu.Unlock()
}
