package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/cxone/appreg/server/auth"
)

// BenchmarkLookupStack measures the lookup path through the whole HTTP stack
// (request id, auth, validation, routing, handler, cache hit), in process.
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
		})
	}
}
