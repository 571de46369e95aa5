package lookup_test

import (
	"testing"
	"time"

	"github.com/cxone/appreg/server/lookup"
)

// TestRunReleases: the worker is released when the hash returns, also when it panics, and
// the panic comes back to the caller.
func TestRunReleases(t *testing.T) {
	g := lookup.NewSlowHashes(lookup.SlowHashConfig{Workers: 1})
	if !g.Acquire() {
		t.Fatal("no worker free")
	}
	if r, ok := g.Run(func() int { return 3 }); !ok || r != 3 {
		t.Fatalf("Run = %d, %v; want 3, true", r, ok)
	}
	if !g.Acquire() {
		t.Fatal("the worker was not released")
	}
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want the panic of fn", r)
			}
		}()
		g.Run(func() int { panic("boom") })
	}()
	if !g.Acquire() {
		t.Fatal("the worker was not released after a panic")
	}
	g.Release()
}

// TestRunMaxWait: a hash not finished within MaxWait leaves Run with ok false (counted busy),
// and keeps its worker until it returns.
func TestRunMaxWait(t *testing.T) {
	g := lookup.NewSlowHashes(lookup.SlowHashConfig{Workers: 1, MaxWait: 20 * time.Millisecond})
	if !g.Acquire() {
		t.Fatal("no worker free")
	}
	finish := make(chan struct{})
	start := time.Now()
	if _, ok := g.Run(func() int { <-finish; return 1 }); ok {
		t.Fatal("a hash past MaxWait answered")
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("Run returned after %v, want about MaxWait", took)
	}
	if g.Stats().Busy != 1 {
		t.Errorf("busy %d, want 1", g.Stats().Busy)
	}
	if g.Acquire() {
		t.Fatal("the worker of a late hash was free before it finished")
	}
	close(finish)
	deadline := time.Now().Add(5 * time.Second)
	for !g.Acquire() {
		if time.Now().After(deadline) {
			t.Fatal("the worker of a late hash was not released when it finished")
		}
		time.Sleep(time.Millisecond)
	}
	if r, ok := g.Run(func() int { return 7 }); !ok || r != 7 {
		t.Fatalf("Run = %d, %v; want 7, true", r, ok)
	}
}
