package lookup_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cxone/appreg/server/lookup"
	"github.com/cxone/appreg/store"
	"github.com/cxone/appreg/store/storetest"
)

var use0 = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

// TestNoteUseBatches notes many uses of a few applications from several goroutines for a
// while: each flush writes each application at most once, flushes are a UsageFlush apart, and
// the latest use of each application is written.
func TestNoteUseBatches(t *testing.T) {
	t.Parallel()
	const period = 100 * time.Millisecond
	f := newFake()
	c := newCache(t, f, lookup.Config{UsageFlush: period, PollInterval: time.Hour})
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		latest = map[string]time.Time{}
	)
	start := time.Now()
	for g := range 4 {
		wg.Go(func() {
			for i := 0; time.Since(start) < 5*period; i++ {
				id := fmt.Sprintf("app-%d", i%3)
				at := use0.Add(time.Duration(g*1_000_000+i) * time.Microsecond)
				c.NoteUse(id, "secret-"+id, at)
				mu.Lock()
				if at.After(latest[id]) {
					latest[id] = at
				}
				mu.Unlock()
				if i%100 == 0 {
					time.Sleep(time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	touches := f.appTouches()
	if n := len(touches); n < 3 || n > 7 {
		t.Errorf("%d writes over %v of use with a %v period, want about 5 (one per period, plus Stop's)", n, 5*period, period)
	}
	final := map[string]time.Time{}
	for i, batch := range touches {
		if len(batch) == 0 || len(batch) > 3 {
			t.Errorf("write %d carries %d applications", i, len(batch))
		}
		// A write may carry an earlier time than a previous one (uses noted late by a slow
		// goroutine): the store keeps the later (TestTouchLastUsed in package store).
		for id, at := range batch {
			if at.After(final[id]) {
				final[id] = at
			}
		}
	}
	for id, want := range latest {
		if !final[id].Equal(want) {
			t.Errorf("%s: last written %v, want its latest use %v", id, final[id], want)
		}
	}
	f.touchMu.Lock()
	secretWrites := len(f.secretTouches)
	f.touchMu.Unlock()
	if secretWrites != len(touches) {
		t.Errorf("%d secret writes, %d application writes: want one each per flush", secretWrites, len(touches))
	}
}

// TestStopFlushes checks that Stop writes what is pending, and that nothing is written on the
// request path before.
func TestStopFlushes(t *testing.T) {
	t.Parallel()
	f := newFake()
	c := newCache(t, f, lookup.Config{UsageFlush: time.Hour})
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		c.NoteUse("a", "", use0.Add(time.Duration(i)*time.Second))
		c.NoteUse("b", "", use0.Add(-time.Duration(i)*time.Second))
	}
	if n := len(f.appTouches()); n != 0 {
		t.Fatalf("%d writes before the period ended", n)
	}
	if err := c.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	touches := f.appTouches()
	want := map[string]time.Time{"a": use0.Add(999 * time.Second), "b": use0}
	if len(touches) != 1 || len(touches[0]) != 2 || !touches[0]["a"].Equal(want["a"]) || !touches[0]["b"].Equal(want["b"]) {
		t.Errorf("writes = %v, want one: %v", touches, want)
	}
}

// TestNoteUseBound checks that more distinct applications than Size in one period make the
// flusher write early rather than hold them all until the period ends.
func TestNoteUseBound(t *testing.T) {
	t.Parallel()
	f := newFake()
	c := newCache(t, f, lookup.Config{Size: 100, UsageFlush: time.Hour})
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	written := func() int {
		n := map[string]bool{}
		for _, batch := range f.appTouches() {
			for id := range batch {
				n[id] = true
			}
		}
		return len(n)
	}
	// Batches of Size: each reaches the early-flush mark, and with the fewer than Size uses
	// left waiting for the period stays under the hard bound (twice Size).
	for batch := range 9 {
		for i := range 100 {
			c.NoteUse(fmt.Sprintf("app-%d-%d", batch, i), "", use0)
		}
		within(t, 5*time.Second, "an early flush", func() bool { return written() > 100*(batch+1)-100 })
	}
	if err := c.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := written(); n != 900 {
		t.Errorf("%d applications written after Stop, want 900", n)
	}
}

// TestFlushFailureKeepsUses checks that uses a failed write took are written by the next one.
func TestFlushFailureKeepsUses(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.touchErr = errDown
	c := newCache(t, f, lookup.Config{UsageFlush: 20 * time.Millisecond})
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.NoteUse("a", "", use0)
	within(t, 5*time.Second, "the write after the failed one", func() bool { return len(f.appTouches()) == 1 })
	if got := f.appTouches()[0]["a"]; !got.Equal(use0) {
		t.Errorf("written %v, want %v", got, use0)
	}
}

// TestLastUsedOnStore runs NoteUse through to the database on both dialects.
func TestLastUsedOnStore(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := storetest.Open(t, dialect)
			a := app("used")
			if err := s.CreateApplication(ctx, &a, []store.Secret{{Hash: "h"}}); err != nil {
				t.Fatal(err)
			}
			latest, err := s.LatestChangeSeq(ctx)
			if err != nil {
				t.Fatal(err)
			}
			c := newCache(t, s, lookup.Config{UsageFlush: time.Hour})
			if err := c.Start(ctx); err != nil {
				t.Fatal(err)
			}
			cl := mustClient(t, c, "used")
			for i := range 100 {
				c.NoteUse("used", cl.Secrets[0].ID, use0.Add(time.Duration(i)*time.Millisecond))
			}
			if err := c.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			got, err := s.GetApplication(ctx, "", "used", time.Time{})
			want := use0.Add(99 * time.Millisecond)
			if err != nil || got.LastUsedTime == nil || !got.LastUsedTime.Equal(want) || got.Version != 1 {
				t.Errorf("application after Stop: %+v, %v; want last used %v, version 1", got, err, want)
			}
			secrets, err := s.ListSecrets(ctx, "used")
			if err != nil || secrets[0].LastUsedTime == nil || !secrets[0].LastUsedTime.Equal(want) {
				t.Errorf("secret after Stop: %+v, %v", secrets, err)
			}
			if now, err := s.LatestChangeSeq(ctx); err != nil || now != latest {
				t.Errorf("usage recorded changes: latest seq %d, was %d", now, latest)
			}
		})
	}
}

// TestNoteUseHardBound notes ten times Size distinct applications with no flusher running:
// at most twice Size are held, and Stop writes them.
func TestNoteUseHardBound(t *testing.T) {
	t.Parallel()
	f := newFake()
	c := newCache(t, f, lookup.Config{Size: 100})
	for i := range 1000 {
		c.NoteUse(fmt.Sprintf("app-%d", i), "", use0)
	}
	if err := c.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	touches := f.appTouches()
	if len(touches) != 1 || len(touches[0]) != 200 {
		t.Errorf("Stop wrote %d batches (first of %d); want one of 200", len(touches), len(touches[0]))
	}
}

// TestNoteClientUse checks that a cached client's uses reach NoteUse once per second of use,
// per snapshot and per secret: the write is that second's first use, and a later second,
// another secret or a new snapshot (after a change) is noted again.
func TestNoteClientUse(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.put(app("a"))
	c := newCache(t, f, lookup.Config{UsageFlush: time.Hour, PollInterval: time.Hour})
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	cl, err := c.Client(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	// flush writes what was noted and returns what it wrote (nil: nothing).
	flush := func() (apps, secrets map[string]time.Time) {
		t.Helper()
		f.touchMu.Lock()
		nApps, nSecrets := len(f.touches), len(f.secretTouches)
		f.touchMu.Unlock()
		if err := lookup.FlushUsage(c); err != nil {
			t.Fatal(err)
		}
		f.touchMu.Lock()
		defer f.touchMu.Unlock()
		if len(f.touches) > nApps {
			apps = f.touches[nApps]
		}
		if len(f.secretTouches) > nSecrets {
			secrets = f.secretTouches[nSecrets]
		}
		return apps, secrets
	}

	for _, ms := range []int{100, 400, 999} {
		c.NoteClientUse(cl, "", use0.Add(time.Duration(ms)*time.Millisecond))
	}
	if apps, _ := flush(); !apps["a"].Equal(use0.Add(100 * time.Millisecond)) {
		t.Errorf("three uses in one second: written %v, want the first, %v", apps, use0.Add(100*time.Millisecond))
	}
	c.NoteClientUse(cl, "", use0.Add(999*time.Millisecond))
	if apps, _ := flush(); apps != nil {
		t.Errorf("a use in a second already noted: written %v, want nothing", apps)
	}
	c.NoteClientUse(cl, "s1", use0.Add(999*time.Millisecond))
	if apps, secrets := flush(); !apps["a"].Equal(use0.Add(999*time.Millisecond)) || !secrets["s1"].Equal(use0.Add(999*time.Millisecond)) {
		t.Errorf("another secret in the same second: written %v and %v, want both", apps, secrets)
	}
	c.NoteClientUse(cl, "", use0.Add(time.Second))
	if apps, _ := flush(); !apps["a"].Equal(use0.Add(time.Second)) {
		t.Errorf("the next second: written %v, want %v", apps, use0.Add(time.Second))
	}
	c.InvalidateWritten("a", nil)
	fresh, err := c.Client(context.Background(), "a")
	if err != nil || fresh == cl {
		t.Fatalf("after a change: %p (%v), want a new snapshot of %p", fresh, err, cl)
	}
	c.NoteClientUse(fresh, "", use0.Add(time.Second+time.Millisecond))
	if apps, _ := flush(); !apps["a"].Equal(use0.Add(time.Second + time.Millisecond)) {
		t.Errorf("a new snapshot in a second noted on the old one: written %v, want it noted", apps)
	}
}
