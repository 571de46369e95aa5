package main

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// lockedBuffer is stderr as the test reads it while the logger writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Split(strings.TrimSuffix(l.b.String(), "\n"), "\n")
}

// TestBufferedLog: info lines wait for the buffer's flush; a warning is written at once with
// every line before it, in order; a logger with attributes flushes the same way; stop
// writes what is left; every line is whole.
func TestBufferedLog(t *testing.T) {
	var out lockedBuffer
	log, sync, stop := bufferedLog(&out, slog.LevelDebug)
	log.Info("request", slog.Int("n", 1))
	log.Debug("request", slog.Int("n", 2))
	if got := out.lines(); len(got) != 1 || got[0] != "" {
		t.Fatalf("info and debug lines written at once: %q", got)
	}
	log.With(slog.String("part", "store")).Warn("database away")
	got := out.lines()
	if len(got) != 3 || !strings.Contains(got[0], `"n":1`) || !strings.Contains(got[1], `"n":2`) ||
		!strings.Contains(got[2], `"database away"`) || !strings.Contains(got[2], `"part":"store"`) {
		t.Fatalf("after a warning: %q, want the two info lines then it", got)
	}
	log.Info("request", slog.Int("n", 3))
	sync()
	if got := out.lines(); len(got) != 4 || !strings.Contains(got[3], `"n":3`) {
		t.Fatalf("after sync: %q", got)
	}
	log.Error("failed", slog.String("error", "x"))
	log.Info("last")
	stop()
	got = out.lines()
	if len(got) != 6 || !strings.Contains(got[4], `"failed"`) || !strings.Contains(got[5], `"last"`) {
		t.Fatalf("after stop: %q", got)
	}
	for _, l := range got {
		if !strings.HasPrefix(l, "{") || !strings.HasSuffix(l, "}") {
			t.Errorf("not a whole line: %q", l)
		}
	}
}
