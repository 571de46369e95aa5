package main

import (
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkConnDeadlines measures what serve's http.Server timeouts cost a keep-alive
// request: the connection deadlines net/http sets for each request under them (the
// header's and the whole request's read deadlines and the write deadline in readRequest,
// the idle read deadline after the answer), against the cleared deadlines it sets with no
// timeouts (bare-echo's server). 64 loopback connections, as make bench's loads, in
// parallel over GOMAXPROCS: the CPU per request is about ns/op times GOMAXPROCS. See
// "The http.Server timeouts" in scripts/BENCHMARKS.md (issue 15, eleventh round).
func BenchmarkConnDeadlines(b *testing.B) {
	srv := newHTTPServer(nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	conns := loopbackConns(b, 64)
	perRequest := map[string]func(c net.Conn){
		"serve": func(c net.Conn) {
			now := time.Now()
			_ = c.SetReadDeadline(now.Add(srv.ReadHeaderTimeout))
			if srv.ReadTimeout != srv.ReadHeaderTimeout {
				_ = c.SetReadDeadline(now.Add(srv.ReadTimeout))
			}
			_ = c.SetWriteDeadline(time.Now().Add(srv.WriteTimeout))
			_ = c.SetReadDeadline(time.Now().Add(srv.IdleTimeout))
		},
		"none": func(c net.Conn) {
			_ = c.SetReadDeadline(time.Time{})
			_ = c.SetReadDeadline(time.Time{})
		},
	}
	for _, name := range []string{"serve", "none"} {
		request := perRequest[name]
		b.Run(name, func(b *testing.B) {
			var next atomic.Int64
			b.SetParallelism(len(conns) / 2)
			b.RunParallel(func(pb *testing.PB) {
				c := conns[int(next.Add(1))%len(conns)]
				for pb.Next() {
					request(c)
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
