package server

import (
	"database/sql"
	"maps"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cxone/appreg/server/lookup"
)

// latencyBuckets are the request histogram's upper bounds, in seconds.
var latencyBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}

// Metrics are the Prometheus collectors of one process, registered once on
// the registry that GET /metrics serves: the Go runtime and process
// collectors, the HTTP requests, and the counters of the background work,
// which the purger and the notification dispatcher are handed (none is a
// package global, so two servers in one test binary count apart).
//
// github.com/prometheus/client_golang writes the exposition (text or
// protobuf, as the scraper asks) and escapes label values; the caches' and
// the pool's figures are read at scrape time by a collector (stateCollector)
// and the pool also by client_golang's database/sql collector (go_sql_*).
// What stays ours is the per-request lookup of the pre-resolved children
// (series): WithLabelValues hashes the values and takes the vector's lock,
// which a request should not pay; see BenchmarkMetricsRecord.
type Metrics struct {
	registry  *prometheus.Registry
	requests  *prometheus.CounterVec
	durations *prometheus.HistogramVec

	// Purged counts the applications this process purged (Purger.Purged).
	Purged prometheus.Counter
	// NotificationsSent and NotificationsFailed count this process's
	// deliveries (notify.Dispatcher.Sent and Failed).
	NotificationsSent, NotificationsFailed prometheus.Counter

	mu     sync.Mutex                            // serialises adding series
	series atomic.Pointer[map[seriesKey]*series] // copied on write: requests read it without a lock
}

type seriesKey struct{ route, method string }

// series is one route and method's children of the request metrics,
// resolved once (WithLabelValues hashes the label values and takes a lock),
// so a request only finds its series and counts. Requests of every core read
// the maps without writing to shared memory; a new route or status, rare,
// copies the map.
type series struct {
	duration prometheus.Observer
	mu       sync.Mutex
	byStatus atomic.Pointer[map[int]prometheus.Counter]
}

// NewMetrics registers appreg's collectors on reg.
func NewMetrics(reg *prometheus.Registry) (*Metrics, error) {
	notifications := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "appreg_notifications_total", Help: "Notification deliveries by this process.",
	}, []string{"result"})
	m := &Metrics{
		registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "appreg_http_requests_total", Help: "Requests answered, by route, method and status.",
		}, []string{"route", "method", "status"}),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "appreg_http_request_duration_seconds", Help: "Time to answer, by route and method.",
			Buckets: latencyBuckets,
		}, []string{"route", "method"}),
		Purged: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "appreg_purged_applications_total", Help: "Applications purged by this process.",
		}),
		NotificationsSent:   notifications.WithLabelValues("sent"),
		NotificationsFailed: notifications.WithLabelValues("failed"),
	}
	m.series.Store(&map[seriesKey]*series{})
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.durations, m.Purged, notifications,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "appreg_goroutines", Help: "Goroutines."},
			func() float64 { return float64(runtime.NumGoroutine()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "appreg_heap_inuse_bytes", Help: "Heap in use."},
			func() float64 {
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				return float64(ms.HeapInuse)
			}),
	} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// sqlPool is the part of the store whose connection pool is reported with
// client_golang's database/sql collector (go_sql_* metrics).
type sqlPool interface{ SQLDB() *sql.DB }

// registerServer adds what s keeps itself: its caches and its database pool.
func (m *Metrics) registerServer(s *Server) error {
	if err := m.registry.Register(stateCollector{s}); err != nil {
		return err
	}
	if p, ok := s.store.(sqlPool); ok {
		if db := p.SQLDB(); db != nil {
			return m.registry.Register(collectors.NewDBStatsCollector(db, "appreg"))
		}
	}
	return nil
}

// handler serves the registry in the format the scraper asks for.
func (m *Metrics) handler() echo.HandlerFunc {
	return echo.WrapHandler(promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{}))
}

// record counts a request of route and method answered with status in d.
func (m *Metrics) record(route, method string, status int, d time.Duration) {
	sr := (*m.series.Load())[seriesKey{route, method}]
	if sr == nil {
		sr = m.addSeries(route, method)
	}
	sr.duration.Observe(d.Seconds())
	c := (*sr.byStatus.Load())[status]
	if c == nil {
		c = sr.addStatus(m.requests, route, method, status)
	}
	c.Inc()
}

func (m *Metrics) addSeries(route, method string) *series {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := seriesKey{route, method}
	old := *m.series.Load()
	if sr := old[k]; sr != nil {
		return sr
	}
	sr := &series{duration: m.durations.WithLabelValues(route, method)}
	sr.byStatus.Store(&map[int]prometheus.Counter{})
	next := maps.Clone(old)
	next[k] = sr
	m.series.Store(&next)
	return sr
}

func (sr *series) addStatus(requests *prometheus.CounterVec, route, method string, status int) prometheus.Counter {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	old := *sr.byStatus.Load()
	if c := old[status]; c != nil {
		return c
	}
	c := requests.WithLabelValues(route, method, strconv.Itoa(status))
	next := maps.Clone(old)
	next[status] = c
	sr.byStatus.Store(&next)
	return c
}

// stateCollector reports, at each scrape, the state the server's parts keep
// themselves: the lookup cache (and its poller), the guard of slow hashes, the
// list cache and the database pool.
type stateCollector struct{ s *Server }

var (
	descLookupHits = prometheus.NewDesc("appreg_lookup_cache_hits_total", "Lookup cache hits.", []string{"kind"}, nil)
	descLookupMiss = prometheus.NewDesc("appreg_lookup_cache_misses_total", "Lookup cache misses.", []string{"kind"}, nil)
	descLookupSize = prometheus.NewDesc("appreg_lookup_cache_entries", "Entries in the lookup cache.", []string{"kind"}, nil)
	descLookupInv  = prometheus.NewDesc("appreg_lookup_cache_invalidations_total", "Entries dropped after a change.", nil, nil)
	descListHits   = prometheus.NewDesc("appreg_list_cache_hits_total", "Applications a listing answered from the list cache.", nil, nil)
	descListMiss   = prometheus.NewDesc("appreg_list_cache_misses_total", "Applications a listing read whole and encoded.", nil, nil)
	descListSize   = prometheus.NewDesc("appreg_list_cache_entries", "Applications in the list cache.", nil, nil)
	descDBConns    = prometheus.NewDesc("appreg_db_connections", "Database connections.", []string{"state"}, nil)
	descDBWait     = prometheus.NewDesc("appreg_db_wait_total", "Times a query waited for a free connection.", nil, nil)
	// The lookup path's answers that neither the cache nor the database gave: why each was
	// refused or cut short, so an operator sees a flood or an outage at work.
	descLookupRefused = prometheus.NewDesc("appreg_lookup_refused_total",
		"Lookup-path calls answered without a database read or a slow hash, by reason: unknown (client id not in the known-id set), "+
			"stale (the cache could not be brought within its max staleness: fail closed), busy (every slow-hash worker taken), "+
			"throttled (the client spent its budget of failed slow hashes).", []string{"reason"}, nil)
	descSlowHash = prometheus.NewDesc("appreg_slow_hash_total",
		"Verifications of imported (slow-hashed) secrets, by result: hashed (a worker computed the hash) or remembered (answered from memory).",
		[]string{"result"}, nil)
	descDBAway     = prometheus.NewDesc("appreg_db_unavailable", "1 while the database does not answer and requests' operations are refused at once (503), else 0.", nil, nil)
	descPollErrors = prometheus.NewDesc("appreg_lookup_poll_errors_total", "Failed polls of the change log.", nil, nil)
	descResets     = prometheus.NewDesc("appreg_lookup_cache_resets_total", "Whole-cache clears after the poller lost the proof of continuity.", nil, nil)
	descHot        = prometheus.NewDesc("appreg_lookup_hot_answers_total",
		"Lookup-path calls answered from memory in front of the router (the hot path), by kind: client (lookups, the 404s of unknown ids among them), "+
			"secret (verifications) or origin (CORS checks); the others of appreg_http_requests_total went the full path.", []string{"kind"}, nil)
)

// cacheStats is the part of the lookup cache /metrics reports.
type cacheStats interface{ Stats() lookup.Stats }

// dbStats is the part of the store /metrics reports.
type dbStats interface{ DBStats() sql.DBStats }

// dbHealth is the store's knowledge that the database stopped answering.
type dbHealth interface{ Unavailable() bool }

func (c stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLookupHits, descLookupMiss, descLookupSize, descLookupInv,
		descListHits, descListMiss, descListSize, descDBConns, descDBWait, descLookupRefused, descSlowHash,
		descPollErrors, descResets, descDBAway, descHot} {
		ch <- d
	}
}

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	metric := func(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, t, v, labels...)
	}
	if cs, ok := c.s.lookup.(cacheStats); ok {
		st := cs.Stats()
		metric(descLookupHits, prometheus.CounterValue, float64(st.ClientHits), "client")
		metric(descLookupHits, prometheus.CounterValue, float64(st.OriginHits), "origin")
		metric(descLookupMiss, prometheus.CounterValue, float64(st.ClientMisses), "client")
		metric(descLookupMiss, prometheus.CounterValue, float64(st.OriginMisses), "origin")
		metric(descLookupSize, prometheus.GaugeValue, float64(st.ClientEntries), "client")
		metric(descLookupSize, prometheus.GaugeValue, float64(st.OriginEntries), "origin")
		metric(descLookupInv, prometheus.CounterValue, float64(st.Invalidations))
		metric(descLookupRefused, prometheus.CounterValue, float64(st.Unknown), "unknown")
		metric(descLookupRefused, prometheus.CounterValue, float64(st.Stale), "stale")
		metric(descPollErrors, prometheus.CounterValue, float64(st.PollErrors))
		metric(descResets, prometheus.CounterValue, float64(st.Resets))
	}
	if h := c.s.hot; h != nil {
		metric(descHot, prometheus.CounterValue, float64(h.clients.Load()), "client")
		metric(descHot, prometheus.CounterValue, float64(h.secrets.Load()), "secret")
		metric(descHot, prometheus.CounterValue, float64(h.origins.Load()), "origin")
	}
	sh := c.s.slow.Stats()
	metric(descLookupRefused, prometheus.CounterValue, float64(sh.Busy), "busy")
	metric(descLookupRefused, prometheus.CounterValue, float64(sh.Throttled), "throttled")
	metric(descSlowHash, prometheus.CounterValue, float64(sh.Hashes), "hashed")
	metric(descSlowHash, prometheus.CounterValue, float64(sh.Remembered), "remembered")
	if ls, ok := c.s.lists.(listStats); ok {
		hits, misses, entries := ls.Stats()
		metric(descListHits, prometheus.CounterValue, float64(hits))
		metric(descListMiss, prometheus.CounterValue, float64(misses))
		metric(descListSize, prometheus.GaugeValue, float64(entries))
	}
	if ds, ok := c.s.store.(dbStats); ok {
		st := ds.DBStats()
		metric(descDBConns, prometheus.GaugeValue, float64(st.InUse), "in_use")
		metric(descDBConns, prometheus.GaugeValue, float64(st.Idle), "idle")
		metric(descDBWait, prometheus.CounterValue, float64(st.WaitCount))
	}
	if h, ok := c.s.store.(dbHealth); ok {
		away := 0.0
		if h.Unavailable() {
			away = 1
		}
		metric(descDBAway, prometheus.GaugeValue, away)
	}
}
