package main

import (
	"testing"
	"time"

	"github.com/cxone/appreg/server/lookup"
)

// TestServeBoundsTheSlowHashWait: `appreg serve` lets a verification of an imported secret
// wait at most lookup.DefaultMaxWait for its slow hash, then answers busy (issue 15): a hash
// held far longer leaves Run at DefaultMaxWait, counted busy, not when the hash ends.
func TestServeBoundsTheSlowHashWait(t *testing.T) {
	t.Parallel()
	g := serveSlowHashes()
	if !g.Acquire() {
		t.Fatal("no worker free")
	}
	release := make(chan struct{})
	held := time.AfterFunc(lookup.DefaultMaxWait+5*time.Second, func() { close(release) })
	start := time.Now()
	_, ok := g.Run(func() int { <-release; return 1 })
	took := time.Since(start)
	if held.Stop() {
		close(release)
	}
	if ok {
		t.Fatalf("a hash held for %v answered: serve does not bound the wait", took.Round(time.Millisecond))
	}
	if took < lookup.DefaultMaxWait || took > lookup.DefaultMaxWait+2*time.Second {
		t.Errorf("busy after %v, want about %v", took.Round(time.Millisecond), lookup.DefaultMaxWait)
	}
	if busy := g.Stats().Busy; busy != 1 {
		t.Errorf("busy counted %d times, want 1", busy)
	}
}
