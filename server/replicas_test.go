package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cxone/appreg/gen"
	"github.com/cxone/appreg/server"
	"github.com/cxone/appreg/server/auth"
	"github.com/cxone/appreg/server/lookup"
	"github.com/cxone/appreg/store"
	"github.com/cxone/appreg/store/storetest"
)

// TestThreeReplicas runs three servers, each with its own store pool and
// lookup cache, on one PostgreSQL database. Writers on all three patch with
// If-Match (retrying on 412), disable, enable and rotate at once: no update
// is lost, and every replica's lookup agrees with the database within a
// second of the last write.
func TestThreeReplicas(t *testing.T) {
	if !contains(storetest.Dialects(t), "postgres") {
		t.Skip("PostgreSQL not reachable: skipping")
	}
	ctx := context.Background()
	dbURL := storetest.PostgresURL(t)
	base := newEnv(t, "sqlite") // key, clock and client plumbing
	quiet := quietLogger()

	replicas := make([]*testEnv, 3)
	for i := range replicas {
		st, err := store.Open(ctx, dbURL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		cache := lookup.New(st, lookup.Config{PollInterval: 100 * time.Millisecond, Logger: quiet})
		if err := cache.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cache.Stop(ctx) })
		srv, err := server.New(server.Config{Store: st, Auth: mustVerifier(t, base), Lookup: cache, Logger: quiet, DeletionGrace: 300 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(srv.Handler())
		t.Cleanup(ts.Close)
		r := *base
		r.URL = ts.URL
		r.Store = st
		replicas[i] = &r
	}

	const apps = 4
	ids := make([]string, apps)
	for i := range ids {
		ids[i] = replicas[i%3].created("acme", confidentialBody()).ID
	}

	// Each writer owns one field value per (app, writer): at the end every
	// app must carry the last value each writer saw accepted.
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := map[string]int{} // app -> patches that answered 200
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := replicas[w%3].client("acme")
			for i := 0; i < 8; i++ {
				id := ids[(w+i)%apps]
				for attempt := 0; attempt < 50; attempt++ {
					v, err := c.ViewApplicationWithResponse(ctx, id)
					if err != nil || v.JSON200 == nil {
						t.Errorf("view: %v", err)
						return
					}
					etag := v.HTTPResponse.Header.Get("ETag")
					desc := fmt.Sprintf("%s|w%d-%d", v.JSON200.Description, w, i)
					p, err := c.PatchApplicationWithResponse(ctx, id, &gen.PatchApplicationParams{IfMatch: &etag},
						gen.PatchApplicationJSONRequestBody{Description: &desc})
					if err != nil {
						t.Errorf("patch: %v", err)
						return
					}
					if p.StatusCode() == http.StatusOK {
						mu.Lock()
						accepted[id]++
						mu.Unlock()
						break
					}
					if p.StatusCode() != http.StatusPreconditionFailed {
						t.Errorf("patch: %d %s", p.StatusCode(), p.Body)
						return
					}
				}
				switch i % 4 {
				case 1:
					c.DisableApplicationWithResponse(ctx, id, nil)
				case 2:
					c.EnableApplicationWithResponse(ctx, id, nil)
				case 3:
					c.RotateSecretWithResponse(ctx, id, &gen.RotateSecretParams{}, gen.RotateSecretJSONRequestBody{PreviousSecretExpiresIn: ptr(0)})
				}
			}
		}(w)
	}
	wg.Wait()

	// No lost update: each accepted PATCH appended its mark to what it read,
	// so the final description holds exactly as many marks as were accepted.
	for _, id := range ids {
		v, _ := replicas[0].client("acme").ViewApplicationWithResponse(ctx, id)
		marks := 0
		for _, c := range v.JSON200.Description {
			if c == '|' {
				marks++
			}
		}
		if marks != accepted[id] {
			t.Fatalf("%s: %d marks for %d accepted PATCHes: an update was lost (%q)", id, marks, accepted[id], v.JSON200.Description)
		}
	}

	// Deletes on two replicas, then three purgers racing, one per replica:
	// each deleted application is purged exactly once.
	for i, id := range ids[:2] {
		if r, _ := replicas[i].client("acme").DeleteApplicationWithResponse(ctx, id, nil); r.StatusCode() != http.StatusOK {
			t.Fatalf("delete on replica %d: %d", i, r.StatusCode())
		}
	}
	time.Sleep(400 * time.Millisecond)
	var purged sync.WaitGroup
	counts := make([]int, len(replicas))
	counters := make([]prometheus.Counter, len(replicas))
	for i, r := range replicas {
		purged.Add(1)
		counters[i] = prometheus.NewCounter(prometheus.CounterOpts{Name: "purged"})
		go func(i int, st *store.Store) {
			defer purged.Done()
			n, err := (&server.Purger{Store: st, Purged: counters[i]}).RunOnce(ctx)
			if err != nil {
				t.Errorf("purger %d: %v", i, err)
			}
			counts[i] = n
		}(i, r.Store)
	}
	purged.Wait()
	if total := counts[0] + counts[1] + counts[2]; total != 2 {
		t.Fatalf("purged %v: %d in all, want exactly 2", counts, total)
	}
	for i, c := range counters {
		if got := testutil.ToFloat64(c); got != float64(counts[i]) {
			t.Errorf("purger %d counted %v, purged %d", i, got, counts[i])
		}
	}
	for _, r := range replicas {
		for _, id := range ids[:2] {
			deadline := time.Now().Add(time.Second)
			for {
				p, _ := r.client("gw", auth.RoleLookup).LookupClientWithResponse(ctx, id, &gen.LookupClientParams{TenantID: "acme"})
				if p.StatusCode() == http.StatusNotFound {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("purged %s still known to a replica after 1 s", id)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	ids = ids[2:]

	// Every replica's lookup converges on the database within a second.
	deadline := time.Now().Add(time.Second)
	for _, id := range ids {
		want, err := replicas[0].Store.GetApplication(ctx, "acme", id, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		for ri, r := range replicas {
			for {
				p, _ := r.client("gw", auth.RoleLookup).LookupClientWithResponse(ctx, id, &gen.LookupClientParams{TenantID: "acme"})
				if p.JSON200 != nil && p.JSON200.IsEnabled == want.Enabled {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("replica %d: lookup of %s not converged within 1 s of the last write", ri, id)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
}
