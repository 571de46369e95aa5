package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cxone/appreg/store"
)

// BenchmarkFilteredListing measures the console's filtered listing through the whole HTTP
// stack, in process: the first page of 50 of a tenant with 10,000 applications (beside
// 90,000 of other tenants), searched by q and filtered by state. On PostgreSQL unless
// BENCH_DIALECT says otherwise; with BENCH_EXPLAIN set it logs each query's plan.
//
//	go test ./server -run '^$' -bench BenchmarkFilteredListing -benchtime 200x
func BenchmarkFilteredListing(b *testing.B) {
	dialect := store.DialectPostgres
	if d := os.Getenv("BENCH_DIALECT"); d != "" {
		dialect = d
	}
	e := newEnv(b, dialect)
	seedListing(b, e, "bench", 10_000, 0)
	seedListing(b, e, "others", 90_000, 10_000)
	if dialect == store.DialectPostgres {
		if err := e.Store.DB().Exec("ANALYZE applications").Error; err != nil {
			b.Fatal(err)
		}
	}
	tok := e.token("bench", "console")
	h := e.handler
	cases := []struct{ name, query string }{
		// One name in ten holds "desktop": the page fills after about 500 rows.
		{"q common, enabled", "q=DeskTop&state=enabled"},
		// Ten names hold "needle": every application of the tenant is read.
		{"q rare, enabled", "q=needle&state=enabled"},
		// No name holds it: every application of the tenant is read, none answered.
		{"q none, enabled", "q=nothing-like-it&state=enabled"},
		// Two in a hundred are pending deletion: read through the partial index.
		{"q common, pendingDeletion", "q=desktop&state=pendingDeletion"},
		{"q client id prefix, enabled", "q=0000&state=enabled"},
		{"type public, disabled", "type=public&state=disabled"},
		{"no filter", ""},
	}
	for _, tc := range cases {
		path := "/applications?limit=50"
		if tc.query != "" {
			path += "&" + tc.query
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, path, nil).WithContext(context.Background())
				req.Header.Set("Authorization", "Bearer "+tok)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
				}
			}
		})
		if os.Getenv("BENCH_EXPLAIN") != "" && dialect == store.DialectPostgres && tc.query != "" {
			explain(b, e, tc.query)
		}
	}
}

// seedListing inserts n applications of tenant in one statement (the API's creates, with
// their events and outbox rows, would take minutes): one name in ten holds "desktop", ten hold
// "needle"; types in turn; 90% enabled, 8% disabled, 2% pending deletion. Ids are
// md5-derived UUIDs, so some start with "0000".
func seedListing(b *testing.B, e *testEnv, tenant string, n, from int) {
	b.Helper()
	now := e.Clock.Now()
	var q string
	switch e.Store.Dialect() {
	case store.DialectPostgres:
		q = `INSERT INTO applications (id, tenant_id, name, contacts, type, tenancy, redirects, auth_method, scope,
    enabled, created_by, created_time, last_modified_by, last_modified_time, scheduled_deletion_time)
SELECT md5('app' || i)::uuid::text, ?,
    'Application ' || i || CASE WHEN i % 10 = 0 THEN ' Desktop' WHEN i % 1000 = 7 THEN ' needle' ELSE '' END,
    '["it@example.com"]', (ARRAY['confidential','public','backend'])[i % 3 + 1], 'single',
    '["https://app.example.com/cb"]', '', 'openid',
    i % 50 >= 5, 'seed', ?::timestamptz - (?::int - i) * interval '1 second', 'seed', ?::timestamptz,
    CASE WHEN i % 50 = 0 THEN ?::timestamptz + interval '7 days' END
FROM generate_series(?::int, ?::int) AS i`
	default:
		b.Skip("seedListing: PostgreSQL only")
	}
	err := e.Store.DB().Exec(q, tenant, now, from+n, now, now, from+1, from+n).Error
	if err != nil {
		b.Fatal(err)
	}
}

// explain logs PostgreSQL's plan of the listing query of one case, as the store builds it.
func explain(b *testing.B, e *testEnv, query string) {
	b.Helper()
	where := []string{"tenant_id = 'bench'",
		"(scheduled_deletion_time IS NULL OR scheduled_deletion_time > '" + e.Clock.Now().Format(time.RFC3339Nano) + "')"}
	for _, kv := range strings.Split(query, "&") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "q":
			where = append(where, fmt.Sprintf(`(lower(name) LIKE lower('%%%s%%') ESCAPE '\' OR lower(id) LIKE lower('%s%%') ESCAPE '\')`, v, v))
		case "state":
			where = append(where, map[string]string{"enabled": "enabled AND scheduled_deletion_time IS NULL",
				"disabled": "NOT enabled AND scheduled_deletion_time IS NULL", "pendingDeletion": "scheduled_deletion_time IS NOT NULL"}[v])
		case "type":
			where = append(where, "type = '"+v+"'")
		}
	}
	sql := "EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM applications WHERE " + strings.Join(where, " AND ") + " ORDER BY created_time, id LIMIT 51"
	var plan []string
	if err := e.Store.DB().Raw(sql).Scan(&plan).Error; err != nil {
		b.Fatal(err)
	}
	b.Logf("%s\n%s", query, strings.Join(plan, "\n"))
}
