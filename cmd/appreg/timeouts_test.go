package main

import (
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// TestHTTPServerBoundsSlowClients: serve's http.Server bounds every phase of a connection
// that a client can stretch: its header (slowloris), its whole request with the body, the
// writing of the answer to a client that stops reading, and the wait between requests.
// Each costs the lookup path some CPU (BenchmarkConnDeadlines); none is to be dropped for it.
func TestHTTPServerBoundsSlowClients(t *testing.T) {
	srv := newHTTPServer(nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for name, d := range map[string]time.Duration{
		"ReadHeaderTimeout": srv.ReadHeaderTimeout,
		"ReadTimeout":       srv.ReadTimeout,
		"WriteTimeout":      srv.WriteTimeout,
		"IdleTimeout":       srv.IdleTimeout,
	} {
		if d <= 0 {
			t.Errorf("%s = %v: unbounded", name, d)
		}
	}
	if srv.ReadHeaderTimeout > srv.ReadTimeout {
		t.Errorf("ReadHeaderTimeout %v > ReadTimeout %v: the header would not have its own, shorter bound", srv.ReadHeaderTimeout, srv.ReadTimeout)
	}
	if srv.MaxHeaderBytes <= 0 {
		t.Errorf("MaxHeaderBytes = %d: net/http's default, not the 431 bound openapi.yaml declares", srv.MaxHeaderBytes)
	}
}

// BenchmarkConnDeadlines measures what serve's http.Server timeouts cost a keep-alive
// request: the connection deadlines net/http (go1.26, conn.readRequest and conn.serve) sets
// for each request under them (the header's and the whole request's read deadlines and the
// write deadline, then the idle read deadline after the answer), against the cleared
// deadlines it sets with no timeouts (bare-echo's server). 64 loopback connections, as make
// bench's loads, in parallel over GOMAXPROCS: the CPU per request is about ns/op times
// GOMAXPROCS. See "The http.Server timeouts" in scripts/BENCHMARKS.md (issue 15, eleventh
// round).
func BenchmarkConnDeadlines(b *testing.B) {
	srv := newHTTPServer(nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	conns := loopbackConns(b, 64)
	for _, bc := range []struct {
		name    string
		request func(c net.Conn)
	}{
		{"serve", func(c net.Conn) {
			now := time.Now()
			_ = c.SetReadDeadline(now.Add(srv.ReadHeaderTimeout))
			if srv.ReadTimeout != srv.ReadHeaderTimeout {
				_ = c.SetReadDeadline(now.Add(srv.ReadTimeout))
			}
			_ = c.SetWriteDeadline(time.Now().Add(srv.WriteTimeout))
			_ = c.SetReadDeadline(time.Now().Add(srv.IdleTimeout))
		}},
		{"none", func(c net.Conn) {
			_ = c.SetReadDeadline(time.Time{})
			_ = c.SetReadDeadline(time.Time{})
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var next atomic.Int64
			b.SetParallelism(len(conns) / 2)
			b.RunParallel(func(pb *testing.PB) {
				c := conns[int(next.Add(1))%len(conns)]
				for pb.Next() {
					bc.request(c)
				}
			})
		})
	}
}

// loopbackConns opens n connections to a listener that accepts them and waits; they are
// closed when b ends.
func loopbackConns(b *testing.B, n int) []net.Conn {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, c); _ = c.Close() }()
		}
	}()
	conns := make([]net.Conn, n)
	for i := range conns {
		if conns[i], err = net.Dial("tcp", ln.Addr().String()); err != nil {
			b.Fatal(err)
		}
		c := conns[i]
		b.Cleanup(func() { _ = c.Close() })
	}
	return conns
}
