package server

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"time"

	"github.com/cxone/appreg/server/lookup"
	"github.com/cxone/appreg/store"
)

// lister answers a listing query; the handlers call nothing else of the list cache.
type lister interface {
	list(ctx context.Context, q store.ListQuery) (listing, error)
}

// listStore is what the list cache reads: listings whole, their states, applications by id.
type listStore interface {
	ListApplications(ctx context.Context, q store.ListQuery) ([]store.Application, bool, error)
	ListApplicationStates(ctx context.Context, q store.ListQuery) ([]store.Listed, bool, error)
	ApplicationsByID(ctx context.Context, tenantID string, ids []string, now time.Time) ([]store.Application, error)
}

// listCache answers listings from the answers it keeps: the whole protocol of lookup.Answers
// (Admit, Get, Put, Missed, Listed) is called here and nowhere else.
//
// A listing's answer is made of the answers of the listed applications, which answers keeps, each
// for one state of its application (store.Listed), once the tenant is listed again soon after
// (lookup.Answers.Admit): a listing made once is read and encoded as it is sent, and keeps nothing.
// When the answers of most of the listed applications are likely kept (Admit's covered), it
// reads only the state of each listed application (listStates): a tenant's applications
// unchanged since the last listing are five columns a row to read instead of twenty-five, and
// nothing to encode. Otherwise, and when the guess proves wrong, it reads the listing whole
// (listWhole): the first listing of a tenant costs one query, not two.
type listCache struct {
	store   listStore
	answers *lookup.Answers
}

var _ lister = (*listCache)(nil)

// newListCache returns a list cache over st that keeps at most size bytes of answers
// (size <= 0: lookup.DefaultAnswersSize).
func newListCache(st listStore, size int64) *listCache {
	if size <= 0 {
		size = lookup.DefaultAnswersSize
	}
	return &listCache{store: st, answers: lookup.NewAnswers(int(min(size, math.MaxInt)))}
}

// listStats is the part of the list cache /metrics reports.
type listStats interface {
	Stats() (hits, misses uint64, entries int64)
}

// Stats reports the applications listings answered from the cache, those they read whole and
// encoded, and how many the cache holds.
func (c *listCache) Stats() (hits, misses uint64, entries int64) { return c.answers.Stats() }

// list answers q, then records the listing for the next ones.
func (c *listCache) list(ctx context.Context, q store.ListQuery) (listing, error) {
	if q.Filtered() {
		// A filtered listing is read whole in one query and encoded as it is sent; it neither
		// uses nor keeps answers, nor counts as a listing of the tenant for Admit and Listed.
		// The state path would be correct for the rows it reads, but its second read (by id)
		// does not check the filters again: an application changed in between could be
		// answered in a listing it no longer belongs to. A filtered page is small, and a
		// console's search-as-you-type would otherwise count as the tenant listed again and
		// again.
		return c.listWhole(ctx, q, listing{}, false)
	}
	var (
		l   listing
		err error
	)
	keep, covered := c.answers.Admit(q.TenantID)
	if keep && covered {
		l, err = c.listStates(ctx, q)
	} else {
		l, err = c.listWhole(ctx, q, listing{}, keep)
	}
	if err != nil {
		return listing{}, err
	}
	c.answers.Missed(l.encoded)
	if q.Limit == 0 && q.After == nil {
		c.answers.Listed(q.TenantID, len(l.apps))
	}
	return l, nil
}

// listing is a listing being answered: the states of its applications as read, in order;
// their answers (json nil: none found yet), without those gone before they were read whole;
// whether more follow the last state read; and how many were not found.
type listing struct {
	rows    []store.Listed
	apps    []listedApp
	more    bool
	encoded int
}

// listStates reads the states of the applications q lists and answers with the answers kept
// for them. Those without one are then read whole by id, encoded and kept; when more than a
// quarter are, the listing is read whole instead (listWhole), as one query costs less than a
// read of each by id.
//
// The two reads are not one snapshot: an application changed in between is answered as it
// is after the change, and one gone by then (purged, or past its deletion time) is left out.
func (c *listCache) listStates(ctx context.Context, q store.ListQuery) (listing, error) {
	rows, more, err := c.store.ListApplicationStates(ctx, q)
	if err != nil {
		return listing{}, err
	}
	l := listing{rows: rows, apps: make([]listedApp, len(rows)), more: more}
	var missing []string
	for i, row := range rows {
		if l.apps[i].json, _ = c.answers.Get(row); l.apps[i].json == nil {
			missing = append(missing, row.ID)
		}
	}
	if len(missing) > len(rows)/4 {
		return c.listWhole(ctx, q, l, true)
	}
	if len(missing) == 0 {
		return l, nil
	}
	apps, err := c.store.ApplicationsByID(ctx, q.TenantID, missing, q.Now)
	if err != nil {
		return listing{}, err
	}
	read := make(map[string][]byte, len(apps))
	for i := range apps {
		if read[apps[i].ID], err = c.keepAnswer(&apps[i]); err != nil {
			return listing{}, err
		}
	}
	l.encoded = len(apps)
	kept := l.apps[:0] // l.rows stay as read: the next page starts after the last of them
	for i, row := range rows {
		if l.apps[i].json == nil {
			l.apps[i].json = read[row.ID] // nil: gone since the states were read
		}
		if l.apps[i].json != nil {
			kept = append(kept, l.apps[i])
		}
	}
	l.apps = kept
	return l, nil
}

// listWhole reads the listing q whole and answers with it: the answers found in known serve
// the applications still in the states known has them in; the others are encoded, and kept
// if keep.
func (c *listCache) listWhole(ctx context.Context, q store.ListQuery, known listing, keep bool) (listing, error) {
	apps, more, err := c.store.ListApplications(ctx, q)
	if err != nil {
		return listing{}, err
	}
	found := make(map[string]int) // id -> index in known of a found answer
	for i := range known.rows {
		if known.apps[i].json != nil {
			found[known.rows[i].ID] = i
		}
	}
	l := listing{rows: make([]store.Listed, len(apps)), apps: make([]listedApp, len(apps)), more: more}
	for i := range apps {
		l.rows[i] = apps[i].State()
		switch j, ok := found[apps[i].ID]; {
		case ok && known.rows[j].Same(l.rows[i]):
			l.apps[i] = known.apps[j]
		case keep:
			if l.apps[i].json, err = c.keepAnswer(&apps[i]); err != nil {
				return listing{}, err
			}
			l.encoded++
		default:
			l.apps[i].app = &apps[i] // encoded as it is sent
			l.encoded++
		}
	}
	return l, nil
}

// keepAnswer encodes a as a listing answers it, and keeps it for a's state.
func (c *listCache) keepAnswer(a *store.Application) ([]byte, error) {
	api := toAPI(a)
	var kept []byte
	err := withAnswerBuffer(func(b []byte) ([]byte, error) { return appendApplication(b, &api) },
		func(b []byte) error {
			kept = bytes.Clone(b) // exactly its size: it stays in memory
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("application %s: %w", a.ID, err)
	}
	c.answers.Put(a.State(), kept)
	return kept, nil
}
