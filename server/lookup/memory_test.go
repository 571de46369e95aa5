package lookup_test

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
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

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// TestNegativeFloodBounded looks up a million distinct unknown client ids, as a flood of
// made-up ids would: the cache stays at Size entries and its heap stays flat.
func TestNegativeFloodBounded(t *testing.T) {
	t.Parallel()
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

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// BenchmarkClientHit is the lookup path's common case: a cached client, from many goroutines.
func BenchmarkClientHit(b *testing.B) {
	f := newFake()
	const n = 10_000
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
