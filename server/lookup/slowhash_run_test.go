package lookup_test

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cxone/appreg/server/lookup"
)

// threadNice is the nice value of the calling OS thread, from /proc (Linux).
func threadNice(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/thread-self/stat")
	if err != nil {
		t.Skip("no /proc/thread-self/stat: ", err)
	}
	// The fields after the command's closing parenthesis start at the third (state); nice
	// is the nineteenth.
	rest := string(b[strings.LastIndexByte(string(b), ')')+2:])
	f := strings.Fields(rest)
	n, err := strconv.Atoi(f[19-3])
	if err != nil {
		t.Fatalf("nice in %q: %v", b, err)
	}
	return n
}

// TestRunAtLowestPriority: with LowestPriority a slow hash runs on a thread at nice 19
// (Linux), the caller's thread keeps its priority, the worker is released when the hash
// returns, and a panic in it comes back to the caller. Without it, the hash's thread keeps
// the process's priority.
func TestRunAtLowestPriority(t *testing.T) {
	g := lookup.NewSlowHashes(lookup.SlowHashConfig{Workers: 1, LowestPriority: true})
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := threadNice(t)
	if !g.Acquire() {
		t.Fatal("no worker free")
	}
	nice, ok := g.Run(func() int { return threadNice(t) })
	if !ok || runtime.GOOS == "linux" && nice != 19 {
		t.Errorf("nice in Run: %d (%v), want 19", nice, ok)
	}
	if after := threadNice(t); after != before {
		t.Errorf("the caller's nice went from %d to %d", before, after)
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

	plain := lookup.NewSlowHashes(lookup.SlowHashConfig{Workers: 1})
	plain.Acquire()
	if nice, _ := plain.Run(func() int { return threadNice(t) }); nice != before {
		t.Errorf("nice without LowestPriority: %d, want %d", nice, before)
	}
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

// TestSlowHashProcs: a P for each worker beside the CPUs', and half the CPUs' workers.
func TestSlowHashProcs(t *testing.T) {
	for _, tc := range []struct{ cpus, workers, procs int }{{1, 1, 2}, {2, 1, 3}, {4, 2, 6}, {16, 8, 24}} {
		if w := lookup.DefaultWorkers(tc.cpus); w != tc.workers {
			t.Errorf("DefaultWorkers(%d) = %d, want %d", tc.cpus, w, tc.workers)
		}
		if p := lookup.SlowHashProcs(tc.cpus, tc.workers); p != tc.procs {
			t.Errorf("SlowHashProcs(%d, %d) = %d, want %d", tc.cpus, tc.workers, p, tc.procs)
		}
	}
}
