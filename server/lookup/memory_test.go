package lookup_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cxone/appreg/server/lookup"
	"github.com/cxone/appreg/store"
)

// notFound is a Source that knows no client and no origin, as fast as possible.
type notFound struct{ *fakeSource }

func (notFound) GetClient(context.Context, string, time.Time) (*store.Application, []store.Secret, error) {
	return nil, nil, store.ErrNotFound
}

// heapLive is the heap's live bytes after a collection.
func heapLive() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// heapInUse is the heap's bytes in spans in use after a collection: live bytes plus the
// fragmentation around them, closer to what the process holds.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// TestNegativeFloodBounded looks up a million distinct unknown client ids, as a flood of
// made-up ids would: the cache stays at Size entries and its heap stays flat.
//
// Not parallel: heap figures are the whole process's.
func TestNegativeFloodBounded(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 200_000
	}
	c := newCache(t, notFound{newFake()}, lookup.Config{})
	ctx := context.Background()
	base := heapInUse()
	var atBound uint64
	buf := make([]byte, 0, 64)
	for i := range n {
		buf = strconv.AppendInt(append(buf[:0], "f81d4fae-7dec-11d0-a765-"...), int64(i), 10)
		if _, err := c.Client(ctx, string(buf)); err == nil {
			t.Fatal("unknown id found")
		}
		if i == 2*lookup.DefaultSize {
			atBound = heapInUse()
		}
	}
	end := heapInUse()
	st := c.Stats()
	t.Logf("%d distinct unknown ids: %d entries (bound %d); heap in use %.1f MiB before, %.1f MiB at 2x bound, %.1f MiB after",
		n, st.ClientEntries, lookup.DefaultSize, mib(base), mib(atBound), mib(end))
	if st.ClientEntries != lookup.DefaultSize {
		t.Errorf("%d entries, want the bound %d", st.ClientEntries, lookup.DefaultSize)
	}
	if st.ClientMisses != uint64(n) {
		t.Errorf("%d misses, want %d", st.ClientMisses, n)
	}
	if end > atBound+8<<20 {
		t.Errorf("heap grew from %.1f MiB to %.1f MiB past the bound", mib(atBound), mib(end))
	}
}

// bulk is a read-only Source of many applications with their own origin, indexed, so that
// filling a cache of 50,000 costs the test nothing but the cache's own work.
type bulk struct {
	*fakeSource
	apps    map[string]*store.Application
	secrets map[string][]store.Secret
	origins map[string]string // origin -> application id
}

func (b *bulk) GetClient(_ context.Context, id string, _ time.Time) (*store.Application, []store.Secret, error) {
	a, ok := b.apps[id]
	if !ok {
		return nil, nil, store.ErrNotFound
	}
	// Fresh strings, as rows read from the database have.
	cp := *a
	for _, p := range []*string{&cp.ID, &cp.TenantID, &cp.Name, &cp.Description, &cp.Type, &cp.Tenancy,
		&cp.AuthMethod, &cp.Scope, &cp.CreatedBy, &cp.LastModifiedBy} {
		*p = strings.Clone(*p)
	}
	for _, l := range []*[]string{&cp.Contacts, &cp.Redirects, &cp.Origins, &cp.Logouts} {
		*l = slices.Clone(*l)
		for i := range *l {
			(*l)[i] = strings.Clone((*l)[i])
		}
	}
	secrets := slices.Clone(b.secrets[id])
	for i := range secrets {
		s := &secrets[i]
		s.ID, s.ApplicationID, s.Hash, s.Hint = strings.Clone(s.ID), strings.Clone(s.ApplicationID), strings.Clone(s.Hash), strings.Clone(s.Hint)
	}
	return &cp, secrets, nil
}

func (b *bulk) ApplicationsWithOrigin(ctx context.Context, origin string, now time.Time) ([]store.Application, error) {
	id, ok := b.origins[origin]
	if !ok {
		return []store.Application{}, nil
	}
	a, _, err := b.GetClient(ctx, id, now)
	if err != nil {
		return nil, err
	}
	return []store.Application{*a}, nil
}

// realistic is application i as a tenant would register it.
func realistic(i int) (store.Application, []store.Secret) {
	id := fmt.Sprintf("3f8a1c2e-0000-4000-8000-%012d", i)
	now := time.Now().UTC()
	a := app(id, fmt.Sprintf("https://app%d.tenant%d.example.com", i, i%10_000))
	a.TenantID = fmt.Sprintf("tenant-%05d", i%10_000)
	a.Name = "Contact center agent desktop " + strconv.Itoa(i)
	a.Description = "Agent desktop of the tenant's contact center, signs agents in with OIDC."
	a.Contacts = []string{"ops@tenant.example.com", "security@tenant.example.com"}
	a.Redirects = []string{"https://app.tenant.example.com/callback", "https://app.tenant.example.com/silent-renew"}
	a.Logouts = []string{"https://app.tenant.example.com/logged-out"}
	a.AuthMethod, a.Scope = "client_secret_basic", "openid profile email agent.read agent.write"
	a.CreatedBy, a.LastModifiedBy = "admin@tenant.example.com", "admin@tenant.example.com"
	a.CreatedTime, a.LastModifiedTime = now, now
	secrets := make([]store.Secret, 2)
	for j := range secrets {
		secrets[j] = store.Secret{
			ID: fmt.Sprintf("6ba7b810-9dad-11d1-80b4-%012d", 2*i+j), ApplicationID: id,
			Hash: "sha256$" + strings.Repeat("ab", 32), Hint: "wxyz", CreatedTime: now,
		}
	}
	return a, secrets
}

// TestFullCacheMemory fills the client and origin caches to their default bound with
// realistic applications, as a database of a million would, and reports the heap they take:
// the figure that must fit a 256 MiB process. Not parallel: heap figures are the whole
// process's.
func TestFullCacheMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("fills 50,000 entries")
	}
	const apps = 2 * lookup.DefaultSize
	src := &bulk{fakeSource: newFake(), apps: map[string]*store.Application{},
		secrets: map[string][]store.Secret{}, origins: map[string]string{}}
	ids := make([]string, apps)
	for i := range apps {
		a, secrets := realistic(i)
		ids[i] = a.ID
		src.apps[a.ID], src.secrets[a.ID], src.origins[a.Origins[0]] = &a, secrets, a.ID
	}
	c := newCache(t, src, lookup.Config{})
	ctx := context.Background()
	base, baseLive := heapInUse(), heapLive()
	for _, id := range ids {
		cl, err := c.Client(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.OriginApps(ctx, cl.App.Origins[0]); err != nil {
			t.Fatal(err)
		}
	}
	used, live := heapInUse()-base, heapLive()-baseLive
	st := c.Stats()
	t.Logf("%d clients and %d origins cached (bound %d each): %.1f MiB live, %.1f MiB of heap in use",
		st.ClientEntries, st.OriginEntries, lookup.DefaultSize, mib(live), mib(used))
	if st.ClientEntries != lookup.DefaultSize || lookup.OriginWeight(c) > lookup.DefaultSize {
		t.Errorf("entries %d, origin weight %d; bound %d", st.ClientEntries, lookup.OriginWeight(c), lookup.DefaultSize)
	}
	if live > 128<<20 {
		t.Errorf("full caches hold %.1f MiB; the process must fit 256 MiB", mib(live))
	}
	runtime.KeepAlive(src)
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// BenchmarkClientHit is the lookup path's common case: a cached client, from many goroutines,
// over a working set that fits the CPU caches (100 clients) and one that does not (10,000).
func BenchmarkClientHit(b *testing.B) {
	for _, n := range []int{100, 10_000} {
		b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) {
			f := newFake()
			ids := make([]string, n)
			for i := range ids {
				ids[i] = fmt.Sprintf("3f8a1c2e-0000-4000-8000-%012d", i)
				f.put(app(ids[i], "https://o.example.com"))
			}
			c := lookup.New(f, lookup.Config{Logger: quiet})
			ctx := context.Background()
			for _, id := range ids {
				if _, err := c.Client(ctx, id); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if _, err := c.Client(ctx, ids[i%n]); err != nil {
						b.Error(err)
						return
					}
					i += 7
				}
			})
		})
	}
}

// BenchmarkClientHitNegative is a flood of one unknown id.
func BenchmarkClientHitNegative(b *testing.B) {
	c := lookup.New(notFound{newFake()}, lookup.Config{Logger: quiet})
	ctx := context.Background()
	_, _ = c.Client(ctx, "unknown")
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Client(ctx, "unknown"); err == nil {
				b.Error("found")
				return
			}
		}
	})
}

// BenchmarkOriginHit is the CORS check's common case.
func BenchmarkOriginHit(b *testing.B) {
	f := newFake()
	for i := range 100 {
		f.put(app(fmt.Sprintf("app-%d", i), fmt.Sprintf("https://o%d.example.com", i%10)))
	}
	c := lookup.New(f, lookup.Config{Logger: quiet})
	ctx := context.Background()
	origins := make([]string, 10)
	for i := range origins {
		origins[i] = fmt.Sprintf("https://o%d.example.com", i)
		if _, err := c.OriginApps(ctx, origins[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := c.OriginApps(ctx, origins[i%10]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// BenchmarkNoteUse is what every successful lookup adds.
func BenchmarkNoteUse(b *testing.B) {
	c := lookup.New(newFake(), lookup.Config{Logger: quiet})
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = fmt.Sprintf("3f8a1c2e-0000-4000-8000-%012d", i)
	}
	at := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			c.NoteUse(ids[i%len(ids)], "", at)
			i++
		}
	})
}

// BenchmarkClientMiss is a miss answered by a source that costs nothing: the cache's own
// cost of reading through and storing, with eviction once full.
func BenchmarkClientMiss(b *testing.B) {
	c := lookup.New(notFound{newFake()}, lookup.Config{Logger: quiet})
	ctx := context.Background()
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = "miss-" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for _, id := range ids {
		_, _ = c.Client(ctx, id)
	}
}
