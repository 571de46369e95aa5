package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/cxone/appreg/server/auth"
)

// BenchmarkLookupStack measures the lookup path through the whole HTTP stack
// (request id, auth, validation, routing, handler, cache hit), in process, and
// viewApplication beside it (BENCH_DIALECT=postgres: on PostgreSQL). cpu-ns/op is the
// process's CPU per request, the collector's included.
func BenchmarkLookupStack(b *testing.B) {
	dialect := "sqlite"
	if d := os.Getenv("BENCH_DIALECT"); d != "" {
		dialect = d
	}
	e := newEnv(b, dialect)
	app := e.created("acme", confidentialBody())
	tok := e.token("platform", "gw", auth.RoleLookup)
	h := e.handler
	paths := map[string]string{
		"client": "/internal/clients/" + app.ID + "?tenantId=acme",
		"cors":   "/internal/cors?origin=https%3A%2F%2Fdesktop.example.com&tenantId=acme",
		"view":   "/applications/" + app.ID,
		"verify": "/internal/clients/" + app.ID + "/verify",
	}
	verify := `{"secret":"` + *app.Secret + `","tenantId":"acme"}`
	for name, path := range paths {
		token := tok
		if name == "view" {
			token = e.token("acme", "u")
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			before := cpuTime(b)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest(http.MethodGet, path, nil).WithContext(context.Background())
					if name == "verify" {
						req = httptest.NewRequest(http.MethodPost, path, strings.NewReader(verify)).WithContext(context.Background())
						req.Header.Set("Content-Type", "application/json")
					}
					req.Header.Set("Authorization", "Bearer "+token)
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
					}
				}
			})
			b.ReportMetric(float64(cpuTime(b)-before)/float64(b.N), "cpu-ns/op")
		})
	}
}

// BenchmarkUnknownIDs measures what a lookup of a never-repeated unknown client id costs the
// process (its CPU per lookup, cpu-ns/op: the request, the answer and the share of the poll
// of the change log each waits for), through the whole stack and through echo alone
// (FullPath): the flood of made-up ids of issue 15. ns/op is mostly the wait for a poll.
func BenchmarkUnknownIDs(b *testing.B) {
	e := newEnv(b, "sqlite")
	tok := "Bearer " + e.token("platform", "gw", auth.RoleLookup)
	for _, stack := range []struct {
		name string
		h    http.Handler
	}{{"whole", e.handler}, {"echo", e.Server.FullPath()}} {
		b.Run(stack.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(64) // many waiting for one poll, as in a flood
			var n atomic.Int64
			before := cpuTime(b)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					path := "/internal/clients/made-up-" + stack.name + "-" + strconv.FormatInt(n.Add(1), 10) + "?tenantId=acme"
					req := httptest.NewRequest(http.MethodGet, path, nil).WithContext(context.Background())
					req.Header.Set("Authorization", tok)
					rec := httptest.NewRecorder()
					stack.h.ServeHTTP(rec, req)
					if rec.Code != http.StatusNotFound {
						b.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
					}
				}
			})
			b.ReportMetric(float64(cpuTime(b)-before)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime is the CPU time the process has used so far, user and system, in nanoseconds.
func cpuTime(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
