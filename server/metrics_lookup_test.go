package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"golang.org/x/time/rate"

	"github.com/cxone/appreg/gen"
	"github.com/cxone/appreg/server"
	"github.com/cxone/appreg/server/auth"
	"github.com/cxone/appreg/server/lookup"
	"github.com/cxone/appreg/store"
)

// scrapeMetrics reads GET /metrics and returns every sample of the appreg_ counters as
// `name{label="value"}` (or `name`) to its value.
func scrapeMetrics(t *testing.T, e *testEnv) map[string]float64 {
	t.Helper()
	r, err := http.Get(e.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(r.Body)
	if err != nil {
		t.Fatalf("the exposition does not parse: %v", err)
	}
	out := map[string]float64{}
	for name, f := range families {
		if !strings.HasPrefix(name, "appreg_") {
			continue
		}
		for _, m := range f.GetMetric() {
			key := name
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[key] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

// TestMetricsLookupRefusals: the lookup path's refusals and slow hashes reach /metrics, and
// move with the calls that cause them: an unknown client id, a stale cache failing closed,
// every slow-hash worker busy, a throttled client, a slow hash computed and one remembered.
func TestMetricsLookupRefusals(t *testing.T) {
	var holding atomic.Bool
	started, hold := make(chan struct{}, 8), make(chan struct{})
	var st *store.Store
	e := newEnvWith(t, "sqlite", func(cfg *server.Config) {
		cfg.SlowHashes = lookup.NewSlowHashes(lookup.SlowHashConfig{Workers: 1, FailureBurst: 1, FailureRate: rate.Every(time.Hour),
			Started: func() {
				if holding.Load() {
					started <- struct{}{}
					<-hold
				}
			}})
		// A cache of its own, quick to go stale once the database is gone.
		st = cfg.Store.(*store.Store)
		cache := lookup.New(st, lookup.Config{Now: cfg.Now, PollInterval: 20 * time.Millisecond, MaxStale: 200 * time.Millisecond,
			Logger: quietLogger()})
		if err := cache.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cache.Stop(context.Background()) })
		cfg.Lookup = cache
	})
	ctx := context.Background()
	c := e.client("platform", auth.RoleLookup)
	verify := func(id, secret string) *gen.VerifyClientSecretResponse {
		t.Helper()
		r, err := c.VerifyClientSecretWithResponse(ctx, id, gen.VerifyClientSecretJSONRequestBody{Secret: secret, TenantID: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	e.importClient("metrics-a", importedSecret)
	e.importClient("metrics-b", importedSecret)
	before := scrapeMetrics(t, e)
	want := map[string]string{
		`appreg_lookup_refused_total{reason="unknown"}`:   "a lookup of an unknown id",
		`appreg_lookup_refused_total{reason="stale"}`:     "a lookup failing closed",
		`appreg_lookup_refused_total{reason="busy"}`:      "a verify with every worker busy",
		`appreg_lookup_refused_total{reason="throttled"}`: "a verify of a throttled client",
		`appreg_slow_hash_total{result="hashed"}`:         "a verify of an imported secret",
		`appreg_slow_hash_total{result="remembered"}`:     "the same verify again",
		`appreg_lookup_poll_errors_total`:                 "polls without a database",
	}
	for name := range want {
		if _, ok := before[name]; !ok {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if v, ok := before["appreg_db_unavailable"]; !ok || v != 0 {
		t.Errorf("appreg_db_unavailable is %v (present %v), want 0 while the database answers", v, ok)
	}

	if r, _ := c.LookupClientWithResponse(ctx, "no-such-client", &gen.LookupClientParams{TenantID: "acme"}); r.StatusCode() != http.StatusNotFound {
		t.Fatalf("unknown client: %d %s", r.StatusCode(), r.Body)
	}
	for range 2 { // hashed, then remembered
		if r := verify("metrics-a", importedSecret); r.JSON200 == nil || !r.JSON200.Valid {
			t.Fatalf("the imported secret: %d %s", r.StatusCode(), r.Body)
		}
	}
	verify("metrics-a", "wrong-1") // hashed, and the budget of one failure spent
	if r := verify("metrics-a", "wrong-2"); r.JSON200 == nil || r.JSON200.Reason == nil || *r.JSON200.Reason != gen.VerifyResultReasonThrottled {
		t.Fatalf("over the failure budget: %d %s, want throttled", r.StatusCode(), r.Body)
	}
	holding.Store(true)
	held := make(chan struct{})
	go func() { defer close(held); verify("metrics-b", "wrong-3") }()
	<-started
	if r := verify("metrics-b", "wrong-4"); r.JSON200 == nil || r.JSON200.Reason == nil || *r.JSON200.Reason != gen.VerifyResultReasonBusy {
		t.Fatalf("with the worker held: %d %s, want busy", r.StatusCode(), r.Body)
	}
	holding.Store(false)
	close(hold)
	<-held

	// The database gone, the cache answers from memory for MaxStale, then fails closed.
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, err := c.LookupClientWithResponse(ctx, "metrics-a", &gen.LookupClientParams{TenantID: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		if r.StatusCode() == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cache still answers %d 5 s after the database closed", r.StatusCode())
		}
		time.Sleep(50 * time.Millisecond)
	}

	after := scrapeMetrics(t, e)
	for name, cause := range want {
		if after[name] <= before[name] {
			t.Errorf("%s did not move after %s: %v then %v", name, cause, before[name], after[name])
		}
	}
}
