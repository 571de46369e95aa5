// Command mixedload drives every operation of a running appreg, from
// several tenants at once, for a bounded time, and reports what it did and
// any 5xx. It exits non-zero when an answer is a 5xx.
//
//	go run ./scripts/mixedload -url http://127.0.0.1:18080 -data-dir DIR -appreg bin/appreg -duration 60s
//
// With -proxy LISTEN=TARGET it first opens a TCP proxy from LISTEN to the
// database at TARGET (appreg is then started on LISTEN), waits for appreg, and
// injects two faults during the load (issue 15): at a quarter of the duration
// every database connection is dropped and new ones refused for 2 s; at half
// of it the proxy stops forwarding for 5 s. Then 503 (with Retry-After) is an
// expected answer, anything else 5xx is a failure, and it reports how long
// writes took to succeed again after each fault, and whether any application
// answered 201 is missing at the end.
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cxone/appreg/scripts/internal/loadclient"
	"github.com/cxone/appreg/store/storetest"
)

func main() {
	base := flag.String("url", "http://127.0.0.1:18080", "appreg to drive")
	dataDir := flag.String("data-dir", "./data", "appreg's data dir, for development tokens")
	bin := flag.String("appreg", "bin/appreg", "the appreg binary, for `appreg token`")
	duration := flag.Duration("duration", 60*time.Second, "how long")
	workers := flag.Int("workers", 16, "concurrent clients")
	tenants := flag.Int("tenants", 8, "tenants")
	proxySpec := flag.String("proxy", "", "LISTEN=TARGET: forward LISTEN to the database at TARGET and inject faults")
	flag.Parse()

	l := &load{base: *base, tenants: *tenants, counts: map[string]map[int]int{},
		client: &http.Client{Timeout: 10 * time.Second}}
	if *proxySpec != "" {
		listen, target, ok := strings.Cut(*proxySpec, "=")
		if !ok {
			fmt.Fprintln(os.Stderr, "mixedload: -proxy wants LISTEN=TARGET")
			os.Exit(2)
		}
		var err error
		if l.proxy, err = storetest.NewFaultProxy(listen, target); err != nil {
			fmt.Fprintln(os.Stderr, "mixedload: proxy:", err)
			os.Exit(2)
		}
		if !waitHealthy(*base, 60*time.Second) {
			fmt.Fprintln(os.Stderr, "mixedload: appreg did not answer /healthz within 60 s")
			os.Exit(2)
		}
	}
	l.tokens = make([]string, *tenants)
	for i := range l.tokens {
		l.tokens[i] = token(*bin, *dataDir, fmt.Sprintf("mixed-%d", i))
	}
	l.lookupTok = token(*bin, *dataDir, "platform", "appreg.lookup")

	deadline := time.Now().Add(*duration)
	var wg sync.WaitGroup
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			l.work(w, deadline)
		}(w)
	}
	if l.proxy != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.injectFaults(*duration)
		}()
	}
	wg.Wait()
	if !l.report(*duration, *workers) {
		os.Exit(1)
	}
}

// token is loadclient.Token, exiting on failure.
func token(bin, dataDir, tenant string, roles ...string) string {
	t, err := loadclient.Token(bin, dataDir, tenant, roles...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mixedload:", err)
		os.Exit(2)
	}
	return t
}

// load is one run: its clients' tokens and what they were answered.
type load struct {
	base      string
	tenants   int
	tokens    []string // per tenant
	lookupTok string
	client    *http.Client
	proxy     *storetest.FaultProxy // nil: no faults

	mu                   sync.Mutex
	counts               map[string]map[int]int // by operation, by status
	fivexx, noRetryAfter int
	// lastWriteOK is when a write last succeeded: after a fault ends, the first success
	// tells how long the service took to recover.
	lastWriteOK time.Time
	created     []createdApp
	recoveries  []string
}

type createdApp struct{ id, tok string }

// readOnly are the operations that are no write.
var readOnly = map[string]bool{"lookup": true, "verify": true, "cors": true, "view": true, "list": true, "events": true}

func (l *load) record(op string, status int, h http.Header) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.counts[op] == nil {
		l.counts[op] = map[int]int{}
	}
	l.counts[op][status]++
	switch {
	case status == http.StatusServiceUnavailable && l.proxy != nil:
		if h.Get("Retry-After") == "" {
			l.noRetryAfter++
		}
	case status >= 500:
		l.fivexx++
	case status >= 200 && status < 300 && !readOnly[op]:
		l.lastWriteOK = time.Now()
	}
}

func (l *load) call(op, method, path, tok string, body any) (int, map[string]any) {
	status, out, h, err := loadclient.Call(l.client, l.base, method, path, tok, body)
	if err != nil {
		l.record(op+" (transport error)", 0, nil)
		return 0, nil
	}
	l.record(op, status, h)
	return status, out
}

// work is client w until deadline: it creates an application now and then and otherwise
// sends one of the other operations on one of its own.
func (l *load) work(w int, deadline time.Time) {
	r := rand.New(rand.NewPCG(uint64(w), 7))
	tenant := w % l.tenants
	tok := l.tokens[tenant]
	var mine []string
	secrets := map[string]string{}
	for time.Now().Before(deadline) {
		if len(mine) == 0 || r.IntN(10) == 0 {
			st, a := l.call("create", "POST", "/applications", tok, map[string]any{
				"name": fmt.Sprintf("mixed %d", r.Int()), "contacts": []string{"ops@example.com"},
				"type": "confidential", "redirects": []string{"https://mixed.example.com/cb"},
				"origins": []string{fmt.Sprintf("https://m%d.example.com", tenant)}})
			if st == 201 {
				id := a["id"].(string)
				l.mu.Lock()
				l.created = append(l.created, createdApp{id, tok})
				l.mu.Unlock()
				mine = append(mine, id)
				secrets[id], _ = a["secret"].(string)
			}
			continue
		}
		id := mine[r.IntN(len(mine))]
		switch r.IntN(12) {
		case 0, 1:
			l.call("view", "GET", "/applications/"+id, tok, nil)
		case 2:
			l.call("list", "GET", "/applications?limit=20", tok, nil)
		case 3:
			l.call("patch", "PATCH", "/applications/"+id, tok, map[string]any{"description": fmt.Sprint(r.Int())})
		case 4:
			l.call("disable", "POST", "/applications/"+id+"-disable", tok, nil)
		case 5:
			l.call("enable", "POST", "/applications/"+id+"-enable", tok, nil)
		case 6:
			if st, a := l.call("rotate", "POST", "/applications/"+id+"/secrets", tok, map[string]any{"previousSecretExpiresIn": 0}); st == 201 {
				secrets[id], _ = a["secret"].(string)
			}
		case 7:
			l.call("events", "GET", "/applications/"+id+"/events?limit=10", tok, nil)
		case 8:
			l.call("lookup", "GET", fmt.Sprintf("/internal/clients/%s?tenantId=mixed-%d", id, tenant), l.lookupTok, nil)
		case 9:
			l.call("verify", "POST", "/internal/clients/"+id+"/verify", l.lookupTok, map[string]any{"secret": secrets[id], "tenantId": fmt.Sprintf("mixed-%d", tenant)})
		case 10:
			l.call("cors", "GET", fmt.Sprintf("/internal/cors?origin=https%%3A%%2F%%2Fm%d.example.com&tenantId=mixed-%d", tenant, tenant), l.lookupTok, nil)
		case 11:
			if r.IntN(4) == 0 {
				l.call("delete", "DELETE", "/applications/"+id, tok, nil)
				l.call("cancel", "POST", "/applications/"+id+"-enable", tok, nil)
			}
		}
	}
}

// injectFaults cuts every database connection for 2 s at a quarter of the run, and stops
// forwarding for 5 s at half of it, and notes how long writes took to succeed again.
func (l *load) injectFaults(duration time.Duration) {
	start := time.Now()
	fault := func(at time.Duration, name string, down time.Duration, begin, end func()) {
		time.Sleep(time.Until(start.Add(at)))
		begin()
		time.Sleep(down)
		end()
		back := time.Now()
		for time.Since(back) < 30*time.Second {
			l.mu.Lock()
			ok := l.lastWriteOK.After(back)
			l.mu.Unlock()
			if ok {
				l.recoveries = append(l.recoveries, fmt.Sprintf("%s for %s: writes succeed again %s after the database returned",
					name, down, time.Since(back).Round(10*time.Millisecond)))
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		l.recoveries = append(l.recoveries, fmt.Sprintf("%s for %s: **no write succeeded within 30 s** after the database returned", name, down))
	}
	restore := func() {
		if err := l.proxy.Restore(); err != nil {
			fmt.Fprintln(os.Stderr, "mixedload: the proxy could not listen again:", err)
		}
	}
	fault(duration/4, "every connection dropped, new ones refused", 2*time.Second, l.proxy.Cut, restore)
	fault(duration/2, "the proxy stops forwarding", 5*time.Second, l.proxy.Pause, l.proxy.Resume)
}

// report prints the answers by operation and status and, with faults, the counts the
// issue asks for and whether any application answered 201 is gone. It reports whether
// the run passed.
func (l *load) report(duration time.Duration, workers int) bool {
	ops := make([]string, 0, len(l.counts))
	total := 0
	for op, byStatus := range l.counts {
		ops = append(ops, op)
		for _, n := range byStatus {
			total += n
		}
	}
	sort.Strings(ops)
	fmt.Printf("| operation | requests | answers by status |\n|---|---:|---|\n")
	for _, op := range ops {
		n, parts := 0, []string{}
		for st, c := range l.counts[op] {
			n += c
			parts = append(parts, fmt.Sprintf("%d×%d", c, st))
		}
		sort.Strings(parts)
		fmt.Printf("| %s | %d | %s |\n", op, n, strings.Join(parts, ", "))
	}
	fivexx := "5xx"
	if l.proxy != nil {
		fivexx = "5xx other than 503" // the faults make 503s, counted below
	}
	fmt.Printf("\nmixed load: %d requests in %s from %d clients in %d tenants (%.0f/s), %d answered %s\n",
		total, duration, workers, l.tenants, float64(total)/duration.Seconds(), l.fivexx, fivexx)
	failed := l.fivexx > 0
	if l.proxy != nil {
		ok, unavailable, other := 0, 0, 0
		for _, byStatus := range l.counts {
			for st, n := range byStatus {
				switch {
				case st >= 200 && st < 300:
					ok += n
				case st == http.StatusServiceUnavailable:
					unavailable += n
				default:
					other += n
				}
			}
		}
		lost := 0
		for _, a := range l.created {
			if st, _ := l.call("check", "GET", "/applications/"+a.id, a.tok, nil); st != http.StatusOK {
				lost++
			}
		}
		fmt.Printf("\nfaults: %s\n", strings.Join(l.recoveries, "; "))
		fmt.Printf("requests %d, 2xx %d, 503 %d (of which %d without Retry-After), other %d (4xx from the load's own rules, 5xx but 503: %d), lost %d of %d answered 201\n",
			total, ok, unavailable, l.noRetryAfter, other, l.fivexx, lost, len(l.created))
		failed = failed || lost > 0 || l.noRetryAfter > 0
	}
	return !failed
}

// waitHealthy polls base/healthz until it answers 200, for at most d.
func waitHealthy(base string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}
