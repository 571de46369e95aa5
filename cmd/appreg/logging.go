package main

import (
	"context"
	"io"
	"log/slog"
	"time"

	"go.uber.org/zap/zapcore"
)

// The service's log lines are written through a buffer (zap's BufferedWriteSyncer, a
// maintained one), flushed every logFlushInterval, when it fills, at once after any line at
// warn or above, and when serve returns. Measured (issue 15, BENCH_PROFILE=1 scripts/bench):
// one write(2) per request line, under slog's handler lock, was 3.6% of viewApplication's
// CPU on a 2-core machine, and every request of the management API logs a line at info.
// Envoy buffers its access logs the same way (flushed every second by default). What a
// crash of the process (not a panic of a request, which is recovered and logged) loses is
// at most the info and debug lines of the last second; warnings and errors are never held.
const (
	logFlushInterval = time.Second
	logBufferSize    = 64 << 10
)

// bufferedLog is serve's logger over w and its buffer; call stop (flushes) when done.
func bufferedLog(w io.Writer, level slog.Level) (log *slog.Logger, sync func(), stop func()) {
	buf := &zapcore.BufferedWriteSyncer{
		WS:            zapcore.AddSync(writerOnly{w}), // no fsync of a pipe or a terminal
		Size:          logBufferSize,
		FlushInterval: logFlushInterval,
	}
	h := flushAtWarn{Handler: slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: level}), out: buf}
	return slog.New(h), func() { _ = buf.Sync() }, func() { _ = buf.Stop() }
}

// writerOnly hides w's Sync, if it has one.
type writerOnly struct{ io.Writer }

// flushAtWarn writes a line at warn or above, and every line before it, at once.
type flushAtWarn struct {
	slog.Handler
	out interface{ Sync() error }
}

func (h flushAtWarn) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		if serr := h.out.Sync(); err == nil {
			err = serr
		}
	}
	return err
}

func (h flushAtWarn) WithAttrs(attrs []slog.Attr) slog.Handler {
	return flushAtWarn{Handler: h.Handler.WithAttrs(attrs), out: h.out}
}

func (h flushAtWarn) WithGroup(name string) slog.Handler {
	return flushAtWarn{Handler: h.Handler.WithGroup(name), out: h.out}
}
