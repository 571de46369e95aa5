package lookup_test

import (
	"context"
	"errors"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cxone/appreg/store"
)

// fakeSource is an in-memory Source whose change log can be made to commit out of order, to
// fail, and whose reads can be held, so tests can place an invalidation inside a read.
type fakeSource struct {
	mu      sync.Mutex
	apps    map[string]store.Application
	secrets map[string][]store.Secret
	changes []store.Change // committed rows, in seq order
	fail    error          // every call fails with it when set

	// beforeGetClient and beforeOrigins, when set, run at the start of the read, after the
	// state to answer with has been taken: a hook that blocks holds a stale answer.
	beforeGetClient func(id string)
	beforeOrigins   func(origin string)
	onChanges       func() // runs at the start of Changes

	getClientCalls atomic.Int64
	originCalls    atomic.Int64
	changesCalls   atomic.Int64

	touchMu       sync.Mutex
	touches       []map[string]time.Time
	secretTouches []map[string]time.Time
	touchErr      error // the next TouchLastUsed fails with it, once
}

func newFake() *fakeSource {
	return &fakeSource{apps: map[string]store.Application{}, secrets: map[string][]store.Secret{}}
}

// put stores app (and its secrets) without recording a change.
func (f *fakeSource) put(app store.Application, secrets ...store.Secret) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if app.Origins == nil {
		app.Origins = []string{}
	}
	f.apps[app.ID] = app
	f.secrets[app.ID] = secrets
}

// del removes application id without recording a change.
func (f *fakeSource) del(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.apps, id)
	delete(f.secrets, id)
}

// commit makes change seq of id visible; seqs may commit in any order.
func (f *fakeSource) commit(seq int64, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.changes = append(f.changes, store.Change{Seq: seq, ApplicationID: id, Time: time.Now().UTC()})
	sort.Slice(f.changes, func(i, j int) bool { return f.changes[i].Seq < f.changes[j].Seq })
}

// latest is the highest committed seq.
func (f *fakeSource) latest() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.changes) == 0 {
		return 0
	}
	return f.changes[len(f.changes)-1].Seq
}

func (f *fakeSource) setFail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = err
}

func visibleAt(a *store.Application, now time.Time) bool { return !a.GoneAt(now) }

func (f *fakeSource) GetClient(ctx context.Context, id string, now time.Time) (*store.Application, []store.Secret, error) {
	f.getClientCalls.Add(1)
	f.mu.Lock()
	err, hook := f.fail, f.beforeGetClient
	app, ok := f.apps[id]
	secrets := slices.Clone(f.secrets[id])
	f.mu.Unlock()
	if hook != nil {
		hook(id)
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if err != nil {
		return nil, nil, err
	}
	if !ok || !visibleAt(&app, now) {
		return nil, nil, store.ErrNotFound
	}
	return &app, secrets, nil
}

func (f *fakeSource) ApplicationsWithOrigin(ctx context.Context, origin string, now time.Time) ([]store.Application, error) {
	f.originCalls.Add(1)
	f.mu.Lock()
	err, hook := f.fail, f.beforeOrigins
	apps := []store.Application{}
	for _, a := range f.apps {
		if slices.Contains(a.Origins, origin) && visibleAt(&a, now) {
			apps = append(apps, a)
		}
	}
	f.mu.Unlock()
	if hook != nil {
		hook(origin)
	}
	if err != nil {
		return nil, err
	}
	sort.Slice(apps, func(i, j int) bool { return apps[i].ID < apps[j].ID })
	return apps, nil
}

func (f *fakeSource) Changes(ctx context.Context, afterSeq int64, limit int) ([]store.Change, error) {
	f.changesCalls.Add(1)
	f.mu.Lock()
	hook := f.onChanges
	f.mu.Unlock()
	if hook != nil {
		hook()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	out := []store.Change{}
	for _, c := range f.changes {
		if c.Seq > afterSeq && len(out) < limit {
			out = append(out, c)
		}
	}
	return out, nil
}

func (f *fakeSource) LatestChangeSeq(ctx context.Context) (int64, error) {
	f.mu.Lock()
	err := f.fail
	f.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return f.latest(), nil
}

func (f *fakeSource) TouchLastUsed(ctx context.Context, apps map[string]time.Time) error {
	f.touchMu.Lock()
	defer f.touchMu.Unlock()
	if err := f.touchErr; err != nil {
		f.touchErr = nil
		return err
	}
	f.touches = append(f.touches, apps)
	return nil
}

func (f *fakeSource) TouchSecretsLastUsed(ctx context.Context, secrets map[string]time.Time) error {
	f.touchMu.Lock()
	defer f.touchMu.Unlock()
	f.secretTouches = append(f.secretTouches, secrets)
	return nil
}

// appTouches returns the TouchLastUsed calls so far.
func (f *fakeSource) appTouches() []map[string]time.Time {
	f.touchMu.Lock()
	defer f.touchMu.Unlock()
	return slices.Clone(f.touches)
}

// withOrigins is a fakeSource that also has the optional ApplicationOrigins.
type withOrigins struct{ *fakeSource }

func (f withOrigins) ApplicationOrigins(ctx context.Context, ids []string) (map[string][]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	out := map[string][]string{}
	for _, id := range ids {
		if a, ok := f.apps[id]; ok && len(a.Origins) > 0 {
			out[id] = slices.Clone(a.Origins)
		}
	}
	return out, nil
}

var errDown = errors.New("database down")

func app(id string, origins ...string) store.Application {
	return store.Application{
		ID: id, TenantID: "tenant-" + id, Name: "app " + id, Type: "confidential", Tenancy: "single",
		Enabled: true, Origins: origins, Contacts: []string{}, Redirects: []string{}, Logouts: []string{},
	}
}
