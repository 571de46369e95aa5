package lookup_test

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

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

// TestRunAtLowestPriority: a slow hash runs on a thread at nice 19 (Linux), the caller's
// thread keeps its priority, and a panic in it comes back to the caller.
func TestRunAtLowestPriority(t *testing.T) {
	g := lookup.NewSlowHashes(lookup.SlowHashConfig{})
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := threadNice(t)
	var inRun int
	g.Run(func() { inRun = threadNice(t) })
	if runtime.GOOS == "linux" && inRun != 19 {
		t.Errorf("nice in Run: %d, want 19", inRun)
	}
	if after := threadNice(t); after != before {
		t.Errorf("the caller's nice went from %d to %d", before, after)
	}
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want the panic of fn", r)
			}
		}()
		g.Run(func() { panic("boom") })
	}()
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
