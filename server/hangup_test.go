package server_test

import (
	"context"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cxone/appreg/gen"
	"github.com/cxone/appreg/store"
)

// TestHangUpsDoNotFailOthers has many clients hang up mid-request, as a load balancer
// draining or a retry storm does, while other clients call on: every one of those must be
// answered as usual, and the hang-ups must not cost database connections. (Client
// cancellation used to reach the database driver, which closes the connection of a
// cancelled query; the pool reconnected all the time, and under a storm of hang-ups
// healthy requests failed with "bad connection" or an i/o timeout.)
func TestHangUpsDoNotFailOthers(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *testEnv) {
		var ids []string
		for range 20 {
			ids = append(ids, e.created("acme", confidentialBody()).ID)
		}
		token := e.token("acme", "user@acme")
		live := e.clientWithToken(token)
		hangUps := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
		defer hangUps.CloseIdleConnections()

		var started time.Time
		if e.Store.Dialect() == store.DialectPostgres {
			if err := e.Store.DB().Raw("SELECT now()").Scan(&started).Error; err != nil {
				t.Fatal(err)
			}
		}
		var (
			wg       sync.WaitGroup
			failures atomic.Int64
			first    atomic.Value
			stop     = time.Now().Add(3 * time.Second)
		)
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(stop) {
					ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rand.IntN(3000))*time.Microsecond)
					req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.URL+"/applications", nil)
					req.Header.Set("Authorization", "Bearer "+token)
					if resp, err := hangUps.Do(req); err == nil {
						resp.Body.Close()
					}
					cancel()
				}
			}()
		}
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx := context.Background()
				for i := 0; time.Now().Before(stop); i++ {
					var status int
					if i%2 == 0 {
						r, err := live.ListApplicationWithResponse(ctx, &gen.ListApplicationParams{})
						if err == nil {
							status = r.StatusCode()
						}
					} else {
						r, err := live.ViewApplicationWithResponse(ctx, ids[(g+i)%len(ids)])
						if err == nil {
							status = r.StatusCode()
						}
					}
					if status != http.StatusOK {
						failures.Add(1)
						first.CompareAndSwap(nil, status)
					}
				}
			}()
		}
		wg.Wait()
		if n := failures.Load(); n > 0 {
			t.Fatalf("%d calls of clients that stayed failed; first status %v", n, first.Load())
		}
		if !started.IsZero() {
			var opened int
			if err := e.Store.DB().Raw("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND backend_start > ?", started).Scan(&opened).Error; err != nil {
				t.Fatal(err)
			}
			// The pool may still open the connections it had not needed before the storm.
			if opened > 20 {
				t.Errorf("%d database connections opened during the hang-ups: cancelled clients cost connections", opened)
			}
		}
	})
}
