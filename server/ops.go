package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"
	"go.yaml.in/yaml/v3"

	"github.com/cxone/appreg/server/lookup"
	"github.com/cxone/appreg/server/notify"
)

// operations holds what the operational endpoints keep between requests:
// the request metrics and the spec as served.
type operations struct {
	mu       sync.RWMutex
	series   map[seriesKey]*series
	specJSON []byte
	specYAML []byte
}

type seriesKey struct{ route, method string }

// series counts the requests of one route and method: answers by status
// and a latency histogram.
type series struct {
	mu       sync.Mutex
	byStatus map[int]uint64
	buckets  [len(latencyBuckets) + 1]atomic.Uint64
	sumNanos atomic.Uint64
}

// latencyBuckets are the histogram's upper bounds, in seconds.
var latencyBuckets = [...]float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}

// observe records each request for /metrics, by echo route (never the raw
// URL, whose ids would make the series unbounded).
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		s.ops.record(route, c.Request().Method, c.Response().Status, time.Since(start))
		return nil
	}
}

func (o *operations) record(route, method string, status int, d time.Duration) {
	k := seriesKey{route, method}
	o.mu.RLock()
	sr := o.series[k]
	o.mu.RUnlock()
	if sr == nil {
		o.mu.Lock()
		if o.series == nil {
			o.series = map[seriesKey]*series{}
		}
		if sr = o.series[k]; sr == nil {
			sr = &series{byStatus: map[int]uint64{}}
			o.series[k] = sr
		}
		o.mu.Unlock()
	}
	sec := d.Seconds()
	i := sort.SearchFloat64s(latencyBuckets[:], sec)
	sr.buckets[i].Add(1)
	sr.sumNanos.Add(uint64(d.Nanoseconds()))
	sr.mu.Lock()
	sr.byStatus[status]++
	sr.mu.Unlock()
}

// registerOps adds the operational endpoints: health, readiness, metrics,
// the spec and its documentation. They are outside the API contract and
// need no token.
func (s *Server) registerOps(e *echo.Echo) {
	e.GET("/healthz", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
	})
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", s.metrics)
	e.GET("/openapi.json", func(c echo.Context) error {
		return c.Blob(http.StatusOK, "application/json", s.ops.specJSON)
	})
	e.GET("/openapi.yaml", func(c echo.Context) error {
		return c.Blob(http.StatusOK, "application/yaml", s.ops.specYAML)
	})
	s.registerDocs(e)
}

// loadServedSpec renders the spec as served to SDK generators and Swagger UI:
// with one relative server, so "Try it out" calls the host that served it.
func (o *operations) loadServedSpec(spec *openapi3.T) error {
	served := *spec
	served.Servers = openapi3.Servers{{URL: "/", Description: "This service"}}
	j, err := json.Marshal(&served)
	if err != nil {
		return fmt.Errorf("marshal spec: %w", err)
	}
	var generic any
	if err := json.Unmarshal(j, &generic); err != nil {
		return err
	}
	y, err := yaml.Marshal(generic)
	if err != nil {
		return fmt.Errorf("marshal spec as YAML: %w", err)
	}
	o.specJSON, o.specYAML = j, y
	return nil
}

// readyz answers 200 when the database answers and its migrations are
// applied, 503 in the error shape otherwise.
func (s *Server) readyz(c echo.Context) error {
	if s.ready != nil {
		ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
		defer cancel()
		if err := s.ready(ctx); err != nil {
			s.log.WarnContext(ctx, "not ready", "error", err.Error())
			return notReady{}
		}
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}

// notReady is a failed readiness check.
type notReady struct{}

func (notReady) Error() string { return "not ready" }

// cacheStats is the part of the lookup cache /metrics reports.
type cacheStats interface{ Stats() lookup.Stats }

// dbStats is the part of the store /metrics reports.
type dbStats interface{ DBStats() sql.DBStats }

// metrics writes the Prometheus text format.
func (s *Server) metrics(c echo.Context) error {
	w := c.Response()
	w.Header().Set(echo.HeaderContentType, "text/plain; version=0.0.4; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	s.ops.writeHTTP(w)
	if cs, ok := s.lookup.(cacheStats); ok {
		st := cs.Stats()
		gauge(w, "appreg_lookup_cache_hits_total", "Lookup cache hits.", "counter", map[string]uint64{`kind="client"`: st.ClientHits, `kind="origin"`: st.OriginHits})
		gauge(w, "appreg_lookup_cache_misses_total", "Lookup cache misses.", "counter", map[string]uint64{`kind="client"`: st.ClientMisses, `kind="origin"`: st.OriginMisses})
		gauge(w, "appreg_lookup_cache_entries", "Entries in the lookup cache.", "gauge", map[string]uint64{`kind="client"`: uint64(st.ClientEntries), `kind="origin"`: uint64(st.OriginEntries)})
		gauge(w, "appreg_lookup_cache_invalidations_total", "Entries dropped after a change.", "counter", map[string]uint64{"": st.Invalidations})
	}
	hits, misses, entries := s.answers.Stats()
	gauge(w, "appreg_list_cache_hits_total", "Applications a listing answered from the list cache.", "counter", map[string]uint64{"": hits})
	gauge(w, "appreg_list_cache_misses_total", "Applications a listing read whole and encoded.", "counter", map[string]uint64{"": misses})
	gauge(w, "appreg_list_cache_entries", "Applications in the list cache.", "gauge", map[string]uint64{"": uint64(entries)})
	if ds, ok := s.store.(dbStats); ok {
		st := ds.DBStats()
		gauge(w, "appreg_db_connections", "Database connections.", "gauge", map[string]uint64{`state="in_use"`: uint64(st.InUse), `state="idle"`: uint64(st.Idle)})
		gauge(w, "appreg_db_wait_total", "Times a query waited for a free connection.", "counter", map[string]uint64{"": uint64(st.WaitCount)})
	}
	sent, failed := notify.Counts()
	gauge(w, "appreg_notifications_total", "Notification deliveries by this process.", "counter", map[string]uint64{`result="sent"`: sent, `result="failed"`: failed})
	gauge(w, "appreg_purged_applications_total", "Applications purged by this process.", "counter", map[string]uint64{"": purgedTotal.Load()})
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	gauge(w, "appreg_goroutines", "Goroutines.", "gauge", map[string]uint64{"": uint64(runtime.NumGoroutine())})
	gauge(w, "appreg_heap_inuse_bytes", "Heap in use.", "gauge", map[string]uint64{"": ms.HeapInuse})
	return nil
}

func gauge(w io.Writer, name, help, kind string, values map[string]uint64) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, kind)
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "" {
			fmt.Fprintf(w, "%s %d\n", name, values[k])
		} else {
			fmt.Fprintf(w, "%s{%s} %d\n", name, k, values[k])
		}
	}
}

func (o *operations) writeHTTP(w io.Writer) {
	o.mu.RLock()
	keys := make([]seriesKey, 0, len(o.series))
	for k := range o.series {
		keys = append(keys, k)
	}
	o.mu.RUnlock()
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].route < keys[j].route || keys[i].route == keys[j].route && keys[i].method < keys[j].method
	})
	fmt.Fprint(w, "# HELP appreg_http_requests_total Requests answered, by route, method and status.\n# TYPE appreg_http_requests_total counter\n")
	for _, k := range keys {
		o.mu.RLock()
		sr := o.series[k]
		o.mu.RUnlock()
		sr.mu.Lock()
		statuses := make([]int, 0, len(sr.byStatus))
		for st := range sr.byStatus {
			statuses = append(statuses, st)
		}
		sort.Ints(statuses)
		for _, st := range statuses {
			fmt.Fprintf(w, "appreg_http_requests_total{route=%q,method=%q,status=\"%d\"} %d\n", k.route, k.method, st, sr.byStatus[st])
		}
		sr.mu.Unlock()
	}
	fmt.Fprint(w, "# HELP appreg_http_request_duration_seconds Time to answer, by route and method.\n# TYPE appreg_http_request_duration_seconds histogram\n")
	for _, k := range keys {
		o.mu.RLock()
		sr := o.series[k]
		o.mu.RUnlock()
		var cum uint64
		labels := fmt.Sprintf("route=%q,method=%q", k.route, k.method)
		for i, le := range latencyBuckets {
			cum += sr.buckets[i].Load()
			fmt.Fprintf(w, "appreg_http_request_duration_seconds_bucket{%s,le=\"%s\"} %d\n", labels, strconv.FormatFloat(le, 'g', -1, 64), cum)
		}
		cum += sr.buckets[len(latencyBuckets)].Load()
		fmt.Fprintf(w, "appreg_http_request_duration_seconds_bucket{%s,le=\"+Inf\"} %d\n", labels, cum)
		fmt.Fprintf(w, "appreg_http_request_duration_seconds_sum{%s} %s\n", labels, strconv.FormatFloat(float64(sr.sumNanos.Load())/1e9, 'g', -1, 64))
		fmt.Fprintf(w, "appreg_http_request_duration_seconds_count{%s} %d\n", labels, cum)
	}
}
