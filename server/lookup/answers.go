package lookup

import "github.com/cxone/appreg/store"

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
// It lives here, beside the lookup path's caches, for the bounded table they share.
type Answers struct {
	t *table[answer]
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
// 64 KiB).
func NewAnswers(size int) *Answers {
	return &Answers{t: newTable[answer](max(size, 64<<10), 64, 64<<10)}
}

// Get returns the answer kept for the application in state s, if any. The bytes are shared:
// never modify them.
func (a *Answers) Get(s store.Listed) ([]byte, bool) {
	sh := a.t.shardOf(s.ID)
	if e := sh.get(s.ID); e != nil && e.val.state.Same(s) {
		sh.hits.Add(1)
		return e.val.json, true
	}
	sh.misses.Add(1)
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
	a.t.put(sh, s.ID, answer{state: s, json: json}, len(s.ID)+len(s.TenantID)+cap(json)+answerOverhead)
}

// answerOverhead is what an answer costs beyond its strings and bytes: the entry, the map's slot,
// the ring's pointer.
const answerOverhead = 160

// Stats returns the answers served from memory and not, and how many are kept.
func (a *Answers) Stats() (hits, misses uint64, entries int64) {
	hits, misses = a.t.hitsMisses()
	return hits, misses, a.t.count.Load()
}
