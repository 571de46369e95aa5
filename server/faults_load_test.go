package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cxone/appreg/gen"
	"github.com/cxone/appreg/server"
	"github.com/cxone/appreg/server/auth"
	"github.com/cxone/appreg/server/lookup"
	"github.com/cxone/appreg/store"
	"github.com/cxone/appreg/store/storetest"
)

// faultOpTimeout is the store's bound on each database operation in these tests
// (store.SetOperationTimeout): a write sent while the database is away answers 503 within it.
const faultOpTimeout = 2 * time.Second

// faultLoad is a mixed load of creates, patches, rotations, lookups, verifies and CORS checks
// against one server whose database is reached through a proxy a test can cut or pause.
type faultLoad struct {
	t      *testing.T
	env    *testEnv
	proxy  *storetest.FaultProxy
	store  *store.Store
	owner  *gen.ClientWithResponses
	lookup *gen.ClientWithResponses

	// stable are clients created and looked up before the fault, and never written during
	// the load: their lookups must answer from memory through the fault.
	stable []*gen.ApplicationWithSecret
	// direct is the database's URL without the proxy.
	direct string
	// writable are the clients the load patches and rotates.
	writable []string

	mu      sync.Mutex
	counts  map[string]map[int]int // op -> status -> answers
	slowest map[string]time.Duration
	created []string // ids answered 201
	bad     []string // answers that break a promise
	phase   string   // "before", "fault", "after"

	// faultStart is when the fault began; firstUnavailable is when the first 503 to a write
	// arrived during it, and slowestFaultWrite the longest a write sent during it took.
	faultStart        time.Time
	firstUnavailable  time.Time
	slowestFaultWrite time.Duration
	// faultWrite503 are the times writes sent during the fault took to answer 503.
	faultWrite503 []time.Duration
	// retry holds the creates answered 503, by Idempotency-Key: sent again once the database
	// is back, each must answer 201 and leave exactly one application.
	retry map[string]gen.CreateApplicationJSONRequestBody
}

func newFaultLoad(t *testing.T, maxStale time.Duration) *faultLoad {
	t.Helper()
	if !contains(storetest.Dialects(t), "postgres") {
		t.Skip("PostgreSQL not reachable: skipping")
	}
	direct := storetest.PostgresURL(t)
	dbURL, err := url.Parse(direct)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCutProxy(t, dbURL.Host)
	dbURL.Host = proxy.Addr()
	ctx := context.Background()
	st, err := store.Open(ctx, dbURL.String())
	if err != nil {
		t.Fatal(err)
	}
	st.SetOperationTimeout(faultOpTimeout)
	t.Cleanup(func() { st.Close() })

	env := newEnv(t, "sqlite") // for its key, clock and client plumbing
	cache := lookup.New(st, lookup.Config{Now: env.Clock.Now, PollInterval: 50 * time.Millisecond, MaxStale: maxStale,
		Logger: quietLogger()})
	if err := cache.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cache.Stop(context.Background()) })
	srv, err := server.New(server.Config{Store: st, Auth: mustVerifier(t, env), Lookup: cache, Now: env.Clock.Now,
		Ready: st.Ping, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	env.URL = ts.URL

	l := &faultLoad{t: t, env: env, proxy: proxy, store: st, owner: env.client("acme"),
		lookup: env.client("platform", auth.RoleLookup), counts: map[string]map[int]int{}, slowest: map[string]time.Duration{}, phase: "before", direct: direct,
		retry: map[string]gen.CreateApplicationJSONRequestBody{}}
	// Cleanups run last first: forward again before the server and store stop, whose last
	// writes would otherwise wait on a paused connection.
	t.Cleanup(proxy.Resume)
	for range 4 {
		l.stable = append(l.stable, env.created("acme", confidentialBody()))
	}
	for range 4 {
		l.writable = append(l.writable, env.created("acme", confidentialBody()).ID)
	}
	// The poller applies the creates' own change rows (dropping what is cached of them):
	// warm the stable clients only once it has read past them.
	latest, err := st.LatestChangeSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); cache.Stats().Seq < latest; {
		if time.Now().After(deadline) {
			t.Fatalf("the poller did not reach seq %d", latest)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, a := range l.stable {
		if !l.lookupOK(a) {
			t.Fatalf("warming %s failed", a.ID)
		}
	}
	return l
}

// lookupOK looks a up and verifies its secret: both must say it is usable.
func (l *faultLoad) lookupOK(a *gen.ApplicationWithSecret) bool {
	ctx := context.Background()
	r, err := l.lookup.LookupClientWithResponse(ctx, a.ID, &gen.LookupClientParams{TenantID: "acme"})
	if err != nil || r.JSON200 == nil || !r.JSON200.IsEnabled {
		return false
	}
	v, err := l.lookup.VerifyClientSecretWithResponse(ctx, a.ID, gen.VerifyClientSecretJSONRequestBody{Secret: *a.Secret, TenantID: "acme"})
	return err == nil && v.JSON200 != nil && v.JSON200.Valid
}

// isWrite reports whether op writes to the database.
func isWrite(op string) bool { return op == "create" || op == "patch" || op == "rotate" }

// record counts one answer and checks the promises every answer keeps: no 500 (nor any
// 5xx but 503), a 503 carries Retry-After, the stable clients' lookups answer from
// memory during the fault, and a write sent during the fault answers (503, or 2xx once the
// database is back) within the store's operation bound and a second.
func (l *faultLoad) record(op string, status int, h http.Header, stable bool, start time.Time, startPhase string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	took := time.Since(start)
	l.slowest[op] = max(l.slowest[op], took)
	if startPhase == "fault" && isWrite(op) {
		l.slowestFaultWrite = max(l.slowestFaultWrite, took)
		if status == http.StatusServiceUnavailable {
			l.faultWrite503 = append(l.faultWrite503, took)
		}
		if took > faultOpTimeout+time.Second {
			l.bad = append(l.bad, fmt.Sprintf("%s sent during the fault answered %d after %s, over the bound %s + 1s",
				op, status, took.Round(time.Millisecond), faultOpTimeout))
		}
	}
	if isWrite(op) && l.phase == "fault" && status == http.StatusServiceUnavailable && l.firstUnavailable.IsZero() {
		l.firstUnavailable = time.Now()
	}
	if l.counts[op] == nil {
		l.counts[op] = map[int]int{}
	}
	l.counts[op][status]++
	switch {
	case status == 0:
		l.bad = append(l.bad, fmt.Sprintf("%s (%s): no answer", op, l.phase))
	case status >= 500 && status != http.StatusServiceUnavailable:
		l.bad = append(l.bad, fmt.Sprintf("%s (%s): %d", op, l.phase, status))
	case status == http.StatusServiceUnavailable && h.Get("Retry-After") == "":
		l.bad = append(l.bad, fmt.Sprintf("%s (%s): 503 without Retry-After", op, l.phase))
	case stable && l.phase == "fault" && status != http.StatusOK:
		l.bad = append(l.bad, fmt.Sprintf("%s of a cached client during the fault: %d", op, status))
	}
}

func (l *faultLoad) setPhase(p string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.phase = p
	if p == "fault" {
		l.faultStart = time.Now()
	}
}

func (l *faultLoad) currentPhase() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.phase
}

// run drives workers until stop is closed.
func (l *faultLoad) run(workers int, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			for i := w; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				start, phase := time.Now(), l.currentPhase()
				a := l.stable[i%len(l.stable)]
				id := l.writable[i%len(l.writable)]
				switch i % 6 {
				case 0:
					key := uuid.NewString()
					body := confidentialBody()
					body.Name = "load " + key
					r, err := l.owner.CreateApplicationWithResponse(ctx, &gen.CreateApplicationParams{IdempotencyKey: &key}, body)
					if err != nil {
						l.record("create", 0, nil, false, start, phase)
						continue
					}
					l.mu.Lock()
					switch {
					case r.JSON201 != nil:
						l.created = append(l.created, r.JSON201.ID)
					case r.StatusCode() == http.StatusServiceUnavailable:
						l.retry[key] = body
					}
					l.mu.Unlock()
					l.record("create", r.StatusCode(), r.HTTPResponse.Header, false, start, phase)
				case 1:
					r, err := l.owner.PatchApplicationWithResponse(ctx, id, nil, gen.PatchApplicationJSONRequestBody{Description: ptr(fmt.Sprint("d", i))})
					if err != nil {
						l.record("patch", 0, nil, false, start, phase)
						continue
					}
					l.record("patch", r.StatusCode(), r.HTTPResponse.Header, false, start, phase)
				case 2:
					r, err := l.owner.RotateSecretWithResponse(ctx, id, &gen.RotateSecretParams{},
						gen.RotateSecretJSONRequestBody{PreviousSecretExpiresIn: ptr(0)})
					if err != nil {
						l.record("rotate", 0, nil, false, start, phase)
						continue
					}
					l.record("rotate", r.StatusCode(), r.HTTPResponse.Header, false, start, phase)
				case 3:
					r, err := l.lookup.LookupClientWithResponse(ctx, a.ID, &gen.LookupClientParams{TenantID: "acme"})
					if err != nil {
						l.record("lookup", 0, nil, true, start, phase)
						continue
					}
					l.record("lookup", r.StatusCode(), r.HTTPResponse.Header, true, start, phase)
				case 4:
					r, err := l.lookup.VerifyClientSecretWithResponse(ctx, a.ID, gen.VerifyClientSecretJSONRequestBody{Secret: *a.Secret, TenantID: "acme"})
					if err != nil {
						l.record("verify", 0, nil, true, start, phase)
						continue
					}
					if r.JSON200 != nil && !r.JSON200.Valid {
						l.record("verify (refused)", r.StatusCode(), r.HTTPResponse.Header, true, start, phase)
						continue
					}
					l.record("verify", r.StatusCode(), r.HTTPResponse.Header, true, start, phase)
				case 5:
					r, err := l.lookup.CheckCORSOriginWithResponse(ctx, &gen.CheckCORSOriginParams{Origin: "https://desktop.example.com", TenantID: "acme"})
					if err != nil {
						l.record("cors", 0, nil, false, start, phase)
						continue
					}
					l.record("cors", r.StatusCode(), r.HTTPResponse.Header, false, start, phase)
				}
			}
		}()
	}
	return &wg
}

// recovered waits until a create, a patch and a lookup of a client not cached all succeed,
// and returns how long that took.
func (l *faultLoad) recovered(within time.Duration) time.Duration {
	l.t.Helper()
	ctx := context.Background()
	start := time.Now()
	for {
		c, _ := l.owner.CreateApplicationWithResponse(ctx, nil, confidentialBody())
		if c != nil && c.JSON201 != nil {
			l.mu.Lock()
			l.created = append(l.created, c.JSON201.ID)
			l.mu.Unlock()
			p, _ := l.owner.PatchApplicationWithResponse(ctx, l.writable[0], nil, gen.PatchApplicationJSONRequestBody{Name: ptr("recovered")})
			if p != nil && p.JSON200 != nil && l.lookupOK(c.JSON201) {
				return time.Since(start)
			}
		}
		if time.Since(start) > within {
			l.t.Fatalf("no recovery within %s of the database's return", within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// retryUnavailableCreates sends every create answered 503 again with its Idempotency-Key, as a
// client should, and checks the rule of store.SetOperationTimeout: each answers 201, and
// leaves exactly one application, whether the first attempt committed after all (a replay)
// or not (created now). It returns how many of the first attempts had committed.
func (l *faultLoad) retryUnavailableCreates() (committed int) {
	l.t.Helper()
	ctx := context.Background()
	l.mu.Lock()
	retry := l.retry
	l.retry = nil
	l.mu.Unlock()
	ids := map[string]string{} // name -> id answered
	for key, body := range retry {
		r, err := l.owner.CreateApplicationWithResponse(ctx, &gen.CreateApplicationParams{IdempotencyKey: &key}, body)
		if err != nil {
			l.t.Errorf("create %s sent again after the fault: %v", key, err)
			continue
		}
		if r.JSON201 == nil {
			l.t.Errorf("create %s sent again after the fault: %d %s", key, r.StatusCode(), r.Body)
			continue
		}
		if r.JSON201.Secret == nil {
			committed++ // a replay never shows the secret again
		}
		ids[body.Name] = r.JSON201.ID
		l.mu.Lock()
		l.created = append(l.created, r.JSON201.ID)
		l.mu.Unlock()
	}
	all, err := l.owner.ListApplicationWithResponse(ctx, &gen.ListApplicationParams{})
	if err != nil || all.JSON200 == nil {
		l.t.Fatalf("listing after the fault: %v %d", err, all.StatusCode())
	}
	byName := map[string][]string{}
	for _, a := range all.JSON200.Applications {
		byName[a.Name] = append(byName[a.Name], a.ID)
	}
	for name, id := range ids {
		if got := byName[name]; len(got) != 1 || got[0] != id {
			l.t.Errorf("create %q answered 503, then 201 with %s when sent again: stored as %v, want exactly that one", name, id, got)
		}
	}
	return committed
}

// report checks that every application answered 201 exists, that no answer broke a
// promise, and logs the counts: requests, 2xx, 503, other, lost.
func (l *faultLoad) report() {
	l.t.Helper()
	ctx := context.Background()
	retried := len(l.retry)
	committed := l.retryUnavailableCreates()
	l.mu.Lock()
	defer l.mu.Unlock()
	lost := 0
	for _, id := range l.created {
		if _, err := l.store.GetApplication(ctx, "acme", id, time.Now()); err != nil {
			lost++
			l.t.Errorf("application %s was answered 201 but is not stored: %v", id, err)
		}
	}
	var requests, ok, unavailable, other int
	ops := make([]string, 0, len(l.counts))
	for op := range l.counts {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	var lines []string
	for _, op := range ops {
		var parts []string
		for st, n := range l.counts[op] {
			requests += n
			switch {
			case st >= 200 && st < 300:
				ok += n
			case st == http.StatusServiceUnavailable:
				unavailable += n
			default:
				other += n
			}
			parts = append(parts, fmt.Sprintf("%d×%d", n, st))
		}
		sort.Strings(parts)
		lines = append(lines, fmt.Sprintf("%s: %s (slowest %s)", op, strings.Join(parts, ", "), l.slowest[op].Round(time.Millisecond)))
	}
	firstUnavailable := "none"
	if !l.firstUnavailable.IsZero() {
		firstUnavailable = l.firstUnavailable.Sub(l.faultStart).Round(time.Millisecond).String()
	}
	median := time.Duration(0)
	if n := len(l.faultWrite503); n > 0 {
		slices.Sort(l.faultWrite503)
		median = l.faultWrite503[n/2]
	}
	l.t.Logf("requests %d, 2xx %d, 503 %d, other %d, lost %d (created %d; creates answered 503 and sent again %d, of which had committed %d)\n"+
		"writes: first 503 %s after the fault began; sent during it, %d answered 503 in %s (median), the slowest answer took %s (bound %s + 1s)\n%s",
		requests, ok, unavailable, other, lost, len(l.created), retried, committed,
		firstUnavailable, len(l.faultWrite503), median.Round(time.Millisecond), l.slowestFaultWrite.Round(time.Millisecond),
		faultOpTimeout, strings.Join(lines, "\n"))
	for _, b := range l.bad[:min(len(l.bad), 20)] {
		l.t.Error(b)
	}
	if len(l.bad) > 20 {
		l.t.Errorf("... and %d more", len(l.bad)-20)
	}
	if other > 0 {
		l.t.Errorf("%d answers neither 2xx nor 503", other)
	}
}

// TestDatabaseCutUnderLoad: every PostgreSQL connection is dropped, and new ones refused for
// 2 s, in the middle of a mixed load. No 500; every 503 has Retry-After; cached clients keep
// answering; no application answered 201 is lost; recovery by itself within 5 s.
func TestDatabaseCutUnderLoad(t *testing.T) {
	l := newFaultLoad(t, 10*time.Second)
	stop := make(chan struct{})
	wg := l.run(8, stop)
	time.Sleep(700 * time.Millisecond)

	l.setPhase("fault")
	l.proxy.Cut()
	time.Sleep(2 * time.Second)
	restoreProxy(t, l.proxy)
	l.setPhase("after")
	took := l.recovered(5 * time.Second)
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	t.Logf("recovered %s after the database returned", took.Round(time.Millisecond))
	l.report()
}

// TestDatabasePauseUnderLoad: the proxy stops forwarding for 5 s under load (the database
// neither answers nor refuses). Same promises as the cut, and the writes sent during the
// pause answer 503 with Retry-After within the store's operation bound (plus a second),
// instead of waiting on the paused connections; a create answered 503 and sent again with its
// Idempotency-Key leaves exactly one application.
func TestDatabasePauseUnderLoad(t *testing.T) {
	l := newFaultLoad(t, 10*time.Second)
	stop := make(chan struct{})
	wg := l.run(8, stop)
	time.Sleep(700 * time.Millisecond)

	l.setPhase("fault")
	l.proxy.Pause()
	time.Sleep(5 * time.Second)
	if v := scrapeMetrics(t, l.env)["appreg_db_unavailable"]; v != 1 {
		t.Errorf("appreg_db_unavailable is %v at the end of the pause, want 1", v)
	}
	l.proxy.Resume()
	l.setPhase("after")
	took := l.recovered(5 * time.Second)
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	t.Logf("recovered %s after the database returned", took.Round(time.Millisecond))
	if v := scrapeMetrics(t, l.env)["appreg_db_unavailable"]; v != 0 {
		t.Errorf("appreg_db_unavailable is %v after the recovery, want 0", v)
	}
	l.report()
	// The writes sent during the pause answered 503 (with Retry-After, checked by record)
	// within the bound, rather than waiting on the paused connections for the request timeout.
	if l.firstUnavailable.IsZero() {
		t.Error("no write sent during the pause answered 503")
	} else if d := l.firstUnavailable.Sub(l.faultStart); d > faultOpTimeout+time.Second {
		t.Errorf("the first 503 to a write came %s after the pause began, over the bound %s + 1s", d.Round(time.Millisecond), faultOpTimeout)
	}
}

// TestStaleLookupFailsClosed: a client disabled on another replica while this replica cannot
// read the database keeps authenticating here for at most MaxStale (plus a poll), then this
// replica fails closed (503), and once the database is back it says disabled.
func TestStaleLookupFailsClosed(t *testing.T) {
	const maxStale = time.Second
	l := newFaultLoad(t, maxStale)
	ctx := context.Background()
	a := l.stable[0]

	// Another replica, straight to the database.
	st2, err := store.Open(ctx, l.direct)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st2.Close() })
	cache2 := lookup.New(st2, lookup.Config{Now: l.env.Clock.Now, Logger: quietLogger()})
	srv2, err := server.New(server.Config{Store: st2, Auth: mustVerifier(t, l.env), Lookup: cache2, Now: l.env.Clock.Now, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	e2 := l.env.withHandler(srv2.Handler())

	l.proxy.Pause()
	if r, _ := e2.client("acme").DisableApplicationWithResponse(ctx, a.ID, &gen.DisableApplicationParams{}); r.StatusCode() != http.StatusNoContent {
		t.Fatalf("disable on replica 2: %d %s", r.StatusCode(), r.Body)
	}
	disabled := time.Now()
	// Until the bound, this replica may still answer from memory; never after it.
	for {
		r, err := l.lookup.VerifyClientSecretWithResponse(ctx, a.ID, gen.VerifyClientSecretJSONRequestBody{Secret: *a.Secret, TenantID: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		if r.JSON200 != nil && r.JSON200.Valid {
			if time.Since(disabled) > maxStale+500*time.Millisecond {
				t.Fatalf("the disabled client still authenticates %s after the disable (bound %s)", time.Since(disabled), maxStale)
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if r.StatusCode() != http.StatusServiceUnavailable || r.HTTPResponse.Header.Get("Retry-After") == "" {
			t.Fatalf("past the bound: %d %s, want 503 with Retry-After", r.StatusCode(), r.Body)
		}
		break
	}
	l.proxy.Resume()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, err := l.lookup.VerifyClientSecretWithResponse(ctx, a.ID, gen.VerifyClientSecretJSONRequestBody{Secret: *a.Secret, TenantID: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		if r.JSON200 != nil && r.JSON200.Reason != nil && *r.JSON200.Reason == gen.VerifyResultReasonDisabled {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("5 s after the database returned: %d %s, want disabled", r.StatusCode(), r.Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestUnknownIDDuringPause: while the database does not answer, an id this replica does not
// know cannot be answered unknown (it may have been created on another replica a moment ago):
// the hot path, whose poll fails, hands it on to echo, which answers 503 with Retry-After at
// once (awaitPoll gives it that poll's error), never 404 and never a 500. Cached clients keep
// answering from memory meanwhile. The wait is the poll's: the one under way when the lookup
// came, then the one begun after it, each up to the store's operation bound while paused.
func TestUnknownIDDuringPause(t *testing.T) {
	l := newFaultLoad(t, 30*time.Second)
	ctx := context.Background()
	l.proxy.Pause()
	start := time.Now()
	r, err := l.lookup.LookupClientWithResponse(ctx, "made-up-during-the-pause", &gen.LookupClientParams{TenantID: "acme"})
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if r.StatusCode() != http.StatusServiceUnavailable || r.HTTPResponse.Header.Get("Retry-After") == "" {
		t.Fatalf("an unknown id during the pause: %d %s, want 503 with Retry-After", r.StatusCode(), r.Body)
	}
	if bound := 2*faultOpTimeout + time.Second; took > bound {
		t.Errorf("answered after %s, over two polls' bound %s", took.Round(time.Millisecond), bound)
	}
	if !l.lookupOK(l.stable[0]) {
		t.Error("a cached client did not answer from memory during the pause")
	}
	t.Logf("an unknown id answered 503 after %s", took.Round(time.Millisecond))
}
