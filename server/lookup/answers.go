package lookup

import (
	"sync"
	"sync/atomic"

	"github.com/cxone/appreg/store"
)

// Answers keeps the encoded answers of applications, each for one state of its application
// (store.Listed), so that listApplication encodes an application once per change instead of on
// every listing. A tenant's full list at a hundred applications is 2,500 columns to read,
// decode and encode again, 70 KB of JSON; with its answers kept, a listing reads five columns
// a row and copies bytes.
//
// Nothing has to invalidate an answer, on this replica or any other: a listing reads every
// application's current state from the database, and an answer kept for another state is
// simply not used, then replaced. So answers are as current as the listing's own read, on
// every replica at once. Memory is bounded by the bytes kept (CLOCK eviction, as the client
// cache).
//
// Answers also decides which tenants' answers to keep and guesses whether they are kept
// (Admit), from the tenants listed lately, the answers it keeps for each tenant, and the
// number of applications the tenant's last whole listing listed.
//
// It lives here, beside the lookup path's caches, for the bounded table they share.
type Answers struct {
	t *table[answer]

	budget int // bytes

	mu      sync.Mutex // guards what follows; taken after a shard's lock, never before
	tenants map[string]*coverage
	// listedNow and listedBefore are the tenants listed lately (see Admit): when listedNow
	// holds window() tenants, it becomes listedBefore and a new one begins.
	listedNow, listedBefore map[string]struct{}
	// answerSize and listingSize are moving averages of the bytes of an answer kept and of
	// the applications of a whole listing, for window.
	answerSize, listingSize float64

	missed atomic.Uint64
}

// coverage is what Answers knows of one tenant's applications; there is one while it keeps
// an answer of the tenant.
type coverage struct {
	kept   int // answers kept
	listed int // applications of the tenant's last whole listing; 0: none yet
}

// answer is one application's encoded answer and the state it was encoded from.
type answer struct {
	state store.Listed
	json  []byte
}

// DefaultAnswersSize is the default budget of Answers, in bytes: about 20,000 applications'
// answers of the usual size.
const DefaultAnswersSize = 16 << 20

// NewAnswers returns an empty Answers that keeps at most size bytes of answers (at least
// 4 KiB).
func NewAnswers(size int) *Answers {
	size = max(size, 4<<10)
	a := &Answers{t: newTable[answer](size, 64, 64<<10), budget: size, tenants: map[string]*coverage{},
		listedNow: map[string]struct{}{}, listedBefore: map[string]struct{}{}, answerSize: 1024, listingSize: 10}
	a.t.onRemove = a.removed
	return a
}

// window is how many tenants the budget holds the answers of, for a listing of the average
// size (at least 16, at most 65,536): a tenant listed again within about that many other
// tenants' listings still finds its answers kept. The caller holds a.mu.
func (a *Answers) window() int {
	return int(min(max(float64(a.budget)/(a.answerSize*a.listingSize), 16), 1<<16))
}

// average moves a moving average toward a new value, by 1/16 of the difference.
func average(avg *float64, v int) { *avg += (float64(v) - *avg) / 16 }

// Get returns the answer kept for the application in state s, if any. The bytes are shared:
// never modify them.
func (a *Answers) Get(s store.Listed) ([]byte, bool) {
	sh := a.t.shardOf(s.ID)
	if e := sh.get(s.ID); e != nil && e.val.state.Same(s) {
		sh.hits.Add(1)
		return e.val.json, true
	}
	return nil, false
}

// Put keeps json as the answer of the application in state s, in place of any it kept. The
// caller must not modify json afterwards. An answer for an older version than the one kept
// (two listings racing a write) is not kept.
func (a *Answers) Put(s store.Listed, json []byte) {
	sh := a.t.shardOf(s.ID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e := sh.entries[s.ID]; e != nil && e.val.state.CreatedTime.Equal(s.CreatedTime) && e.val.state.Version > s.Version {
		return
	}
	if a.t.put(sh, s.ID, answer{state: s, json: json}, len(s.ID)+len(s.TenantID)+cap(json)+answerOverhead) {
		a.mu.Lock()
		c := a.tenants[s.TenantID]
		if c == nil {
			c = &coverage{}
			a.tenants[s.TenantID] = c
		}
		c.kept++
		average(&a.answerSize, len(json))
		a.mu.Unlock()
	}
}

// removed is the table's onRemove: one answer fewer for its tenant.
func (a *Answers) removed(e *entry[answer]) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c := a.tenants[e.val.state.TenantID]; c != nil {
		if c.kept--; c.kept <= 0 {
			delete(a.tenants, e.val.state.TenantID)
		}
	}
}

// Admit records a listing of tenant and reports whether its answers should be kept, and
// whether they likely are, for most of its applications.
//
// Answers are kept once the tenant is listed again soon enough to find them still kept: when
// it was among the last window() tenants listed or so. A listing made once (an operator's
// look, a tenant's occasional visit), or the listings of more tenants in turn than the budget
// holds the answers of, then cost no more than before answers were kept (keeping answers that
// are evicted before they serve costs more) and take no room from the answers of tenants
// listed again and again (an open console, automation reading its configuration).
//
// They are likely kept (covered) when at least three quarters of the applications of the
// tenant's last whole listing have one, or some when it was not listed whole yet (but by
// pages). It is a guess, which a listing confirms by reading the states; when it is false,
// the listing is better read whole at once.
func (a *Answers) Admit(tenant string) (keep, covered bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, now := a.listedNow[tenant]
	_, before := a.listedBefore[tenant]
	if !now {
		if len(a.listedNow) >= a.window() {
			a.listedBefore, a.listedNow = a.listedNow, make(map[string]struct{})
		}
		a.listedNow[tenant] = struct{}{}
	}
	c := a.tenants[tenant]
	return now || before, c != nil && 4*c.kept >= 3*c.listed
}

// Listed records that a whole listing of tenant (no page, no cursor) listed n applications,
// after its answers were put.
func (a *Answers) Listed(tenant string, n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	average(&a.listingSize, max(n, 1))
	if c := a.tenants[tenant]; c != nil {
		c.listed = n
	}
}

// answerOverhead is what an answer costs beyond its strings and bytes: the entry, the map's slot,
// the ring's pointer.
const answerOverhead = 160

// Missed counts n applications listed without an answer kept for them.
func (a *Answers) Missed(n int) { a.missed.Add(uint64(n)) }

// Stats returns the answers served from memory (Get's hits), the applications listed without
// one (Missed), and how many answers are kept.
func (a *Answers) Stats() (hits, misses uint64, entries int64) {
	hits, _ = a.t.hitsMisses()
	return hits, a.missed.Load(), a.t.count.Load()
}
