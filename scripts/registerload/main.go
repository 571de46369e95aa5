// Command registerload measures dynamic registration under load against a running appreg:
// registrations/s into one tenant (with an initial access token), and the lookup path's and
// another tenant's management latency, first alone (baseline) and then during the
// registration flood. It exits non-zero when an answer is a 5xx.
//
//	go run ./scripts/registerload -url http://127.0.0.1:18091 -data-dir DIR -appreg bin/appreg -duration 10s
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cxone/appreg/scripts/internal/loadclient"
)

func main() {
	base := flag.String("url", "http://127.0.0.1:18091", "appreg to drive")
	dataDir := flag.String("data-dir", "./data", "appreg's data dir, for development tokens")
	bin := flag.String("appreg", "bin/appreg", "the appreg binary, for `appreg token`")
	duration := flag.Duration("duration", 10*time.Second, "how long each phase runs")
	registrars := flag.Int("registrars", 16, "concurrent registering clients in the flood")
	lookups := flag.Int("lookups", 4, "concurrent lookup clients")
	flag.Parse()

	d := &driver{base: *base, duration: *duration, registrars: *registrars, lookups: *lookups,
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	d.flood, d.steady = token(*bin, *dataDir, "flood"), token(*bin, *dataDir, "steady")
	d.lookupTok = token(*bin, *dataDir, "platform", "appreg.lookup")
	d.prepare()

	base1 := d.phase(false)
	floodRes := d.phase(true)
	secs := duration.Seconds()
	fmt.Printf("| phase | registrations/s | lookup/s | lookup p50 | lookup p99 | other tenant's list p99 |\n|---|---|---|---|---|---|\n")
	for _, r := range []struct {
		name string
		res  result
	}{{"baseline (no registrations)", base1}, {fmt.Sprintf("flood (%d registering clients)", *registrars), floodRes}} {
		fmt.Printf("| %s | %.0f | %.0f | %s | %s | %s |\n", r.name, float64(r.res.registered)/secs,
			float64(len(r.res.lookup))/secs, pct(r.res.lookup, 50), pct(r.res.lookup, 99), pct(r.res.list, 99))
	}
	if len(floodRes.refused) > 0 {
		fmt.Printf("refused registrations by status: %v\n", floodRes.refused)
	}
	if n := d.fivexx.Load(); n > 0 {
		fail("%d answers were 5xx", n)
	}
}

// token is loadclient.Token, exiting on failure.
func token(bin, dataDir, tenant string, roles ...string) string {
	t, err := loadclient.Token(bin, dataDir, tenant, roles...)
	if err != nil {
		fail("%v", err)
	}
	return t
}

// driver is one run: the flooded tenant's initial access token, the steady tenant's
// applications its lookups ask for, and the count of 5xx answers.
type driver struct {
	base                     string
	duration                 time.Duration
	registrars, lookups      int
	client                   *http.Client
	flood, steady, lookupTok string
	iat                      string   // the flooded tenant's initial access token
	ids                      []string // the steady tenant's applications
	fivexx                   atomic.Int64
}

// result is what one phase measured.
type result struct {
	lookup, list []time.Duration
	registered   int
	refused      map[int]int
}

func (d *driver) call(method, path, tok string, body any) (int, map[string]any) {
	status, out, _, err := loadclient.Call(d.client, d.base, method, path, tok, body)
	if err != nil {
		return 0, nil
	}
	if status >= 500 {
		d.fivexx.Add(1)
	}
	return status, out
}

// prepare opens registration in the flooded tenant, takes an initial access token there, and
// creates the steady tenant's 50 applications.
func (d *driver) prepare() {
	if st, _ := d.call("PUT", "/registration-policy", d.flood, map[string]any{
		"enabled": true, "defaultContacts": []string{"ops@example.com"}, "dailyLimit": 100000,
	}); st != 200 {
		fail("policy: %d", st)
	}
	st, tok := d.call("POST", "/registration-tokens", d.flood, map[string]any{"uses": 10000, "expiresIn": 3600})
	if st != 201 {
		fail("initial access token: %d", st)
	}
	d.iat = tok["token"].(string)
	for i := range 50 {
		st, app := d.call("POST", "/applications", d.steady, map[string]any{
			"name": fmt.Sprint("steady ", i), "contacts": []string{"ops@example.com"}, "type": "confidential",
			"redirects": []string{"https://steady.example.com/cb"},
		})
		if st != 201 {
			fail("create: %d", st)
		}
		d.ids = append(d.ids, app["id"].(string))
	}
}

// phase runs the lookups and the steady tenant's listings for the duration, beside the
// registration flood when registering.
func (d *driver) phase(registering bool) result {
	var (
		mu  sync.Mutex
		res = result{refused: map[int]int{}}
		wg  sync.WaitGroup
	)
	deadline := time.Now().Add(d.duration)
	for w := range d.lookups {
		wg.Go(func() {
			for i := w; time.Now().Before(deadline); i++ {
				t0 := time.Now()
				st, _ := d.call("GET", "/internal/clients/"+d.ids[i%len(d.ids)]+"?tenantId=steady", d.lookupTok, nil)
				took := time.Since(t0)
				mu.Lock()
				if st == 200 {
					res.lookup = append(res.lookup, took)
				}
				mu.Unlock()
			}
		})
	}
	wg.Go(func() {
		for time.Now().Before(deadline) {
			t0 := time.Now()
			st, _ := d.call("GET", "/applications", d.steady, nil)
			took := time.Since(t0)
			mu.Lock()
			if st == 200 {
				res.list = append(res.list, took)
			}
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
	})
	if registering {
		for w := range d.registrars {
			wg.Go(func() {
				for i := 0; time.Now().Before(deadline); i++ {
					st, _ := d.call("POST", "/tenants/flood/register", d.iat, map[string]any{
						"client_name": fmt.Sprintf("agent %d-%d", w, i), "token_endpoint_auth_method": "none",
						"redirect_uris": []string{fmt.Sprintf("http://127.0.0.1:%d/callback", 1024+i%60000)},
					})
					mu.Lock()
					if st == 201 {
						res.registered++
					} else {
						res.refused[st]++
					}
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	return res
}

func pct(d []time.Duration, p int) string {
	if len(d) == 0 {
		return "-"
	}
	slices.Sort(d)
	return d[(len(d)-1)*p/100].Round(10 * time.Microsecond).String()
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "registerload: "+format+"\n", args...)
	os.Exit(1)
}
