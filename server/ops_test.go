package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestOperationalEndpoints(t *testing.T) {
	e := newEnv(t, "sqlite")
	// Some traffic for the metrics.
	e.created("acme", confidentialBody())
	e.do(http.MethodGet, "/applications/missing", e.token("acme", "u"), "", nil)
	e.do(http.MethodGet, "/applications", e.token("acme", "u"), "", nil) // a miss, listed once
	e.do(http.MethodGet, "/applications", e.token("acme", "u"), "", nil) // a miss, kept
	e.do(http.MethodGet, "/applications", e.token("acme", "u"), "", nil) // a hit

	tests := []struct {
		path, contentType, contains string
	}{
		{"/healthz", "application/json", `"status":"ok"`},
		{"/readyz", "application/json", `"status":"ready"`},
		{"/openapi.json", "application/json", `"operationId":"createApplication"`},
		{"/openapi.yaml", "application/yaml", "operationId: enableApplication"},
		{"/docs/", "text/html", "swagger-ui-bundle.js"},
		{"/docs/init.js", "javascript", "persistAuthorization: true"},
		{"/docs/swagger-ui-bundle.js", "javascript", "SwaggerUIBundle"},
		{"/metrics", "text/plain", `appreg_http_requests_total{method="POST",route="/applications",status="201"} 1`},
		{"/metrics", "text/plain", `appreg_http_requests_total{method="GET",route="/applications/:applicationId",status="404"} 1`},
		{"/metrics", "text/plain", `appreg_http_request_duration_seconds_bucket{method="POST",route="/applications",le="+Inf"} 1`},
		{"/metrics", "text/plain", "appreg_lookup_cache_entries"},
		{"/metrics", "text/plain", "appreg_list_cache_hits_total 1\n"},
		{"/metrics", "text/plain", "appreg_list_cache_misses_total 2\n"},
		{"/metrics", "text/plain", "appreg_list_cache_entries 1\n"},
		{"/metrics", "text/plain", `appreg_db_connections{state="idle"}`},
		{"/metrics", "text/plain", `appreg_notifications_total{result="sent"}`},
		{"/metrics", "text/plain", "appreg_purged_applications_total"},
		// The standard collectors: Go runtime, process, database pool.
		{"/metrics", "text/plain", "go_goroutines "},
		{"/metrics", "text/plain", "go_memstats_heap_inuse_bytes "},
		{"/metrics", "text/plain", "process_cpu_seconds_total "},
		{"/metrics", "text/plain", "process_resident_memory_bytes "},
		{"/metrics", "text/plain", `go_sql_open_connections{db_name="appreg"} `},
		{"/metrics", "text/plain", `go_sql_wait_count_total{db_name="appreg"} `},
	}
	for _, tc := range tests {
		t.Run(tc.path+" "+tc.contains, func(t *testing.T) {
			resp, body := e.do(http.MethodGet, tc.path, "", "", nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: %d %s", tc.path, resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, tc.contentType) {
				t.Errorf("Content-Type %q, want %q", ct, tc.contentType)
			}
			if !strings.Contains(string(body), tc.contains) {
				t.Fatalf("%s lacks %q:\n%.2000s", tc.path, tc.contains, body)
			}
		})
	}

	t.Run("served spec calls the host that served it", func(t *testing.T) {
		_, body := e.do(http.MethodGet, "/openapi.json", "", "", nil)
		var doc struct {
			Servers []struct{ URL string } `json:"servers"`
		}
		if err := json.Unmarshal(body, &doc); err != nil || len(doc.Servers) != 1 || doc.Servers[0].URL != "/" {
			t.Fatalf("servers: %+v %v", doc.Servers, err)
		}
	})
	t.Run("metrics never carry ids", func(t *testing.T) {
		_, body := e.do(http.MethodGet, "/metrics", "", "", nil)
		if strings.Contains(string(body), "missing") {
			t.Fatal("a raw path reached the metrics")
		}
	})
	t.Run("not ready is 503 in the error shape", func(t *testing.T) {
		e.Store.Close()
		resp, body := e.do(http.MethodGet, "/readyz", "", "", nil)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), `"error":"not_ready"`) {
			t.Fatalf("readyz with the database closed: %d %s", resp.StatusCode, body)
		}
	})
}

// TestClientHangUpIsNotAServerError: a request whose client is gone is
// recorded as 499, not logged as a 500.
func TestClientHangUpIsNotAServerError(t *testing.T) {
	e := newEnv(t, "sqlite")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequest(http.MethodGet, "/applications", nil).WithContext(ctx)
	req.Header.Set("Authorization", "Bearer "+e.token("acme", "u"))
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	if rec.Code >= 500 {
		t.Fatalf("a cancelled request answered %d", rec.Code)
	}
	_, body := e.do(http.MethodGet, "/metrics", "", "", nil)
	if strings.Contains(string(body), `method="GET",route="/applications",status="500"`) {
		t.Fatal("a cancelled request counted as a 500")
	}
}
