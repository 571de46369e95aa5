package server_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/cxone/appreg/gen"
	"github.com/cxone/appreg/server"
	"github.com/cxone/appreg/server/auth"
	"github.com/cxone/appreg/server/lookup"
	"github.com/cxone/appreg/store/storetest"
)

const importedSecret = "an-imported-secret-from-the-old-system-0001"

// importClient imports a confidential client of tenant acme with its own id and secret, as an
// operator does (stored with the slow hash).
func (e *testEnv) importClient(id, secret string) {
	e.t.Helper()
	b := confidentialBody()
	b.ID, b.TenantID, b.Secret = ptr(id), ptr("acme"), ptr(secret)
	r, err := e.client("ops", auth.RoleAdmin).CreateApplicationWithResponse(context.Background(), nil, b)
	if err != nil || r.JSON201 == nil {
		e.t.Fatalf("import %s: %v %d %s", id, err, r.StatusCode(), r.Body)
	}
}

// slowGuard is the guard a test's server was given, for its counters.
type slowGuard struct{ g *lookup.SlowHashes }

func (s *slowGuard) tune(cfg lookup.SlowHashConfig) func(*server.Config) {
	return func(c *server.Config) {
		s.g = lookup.NewSlowHashes(cfg)
		c.SlowHashes = s.g
	}
}

// TestImportedSecretFlood: 16 wrong secrets at once for one imported client, with the one
// worker held in its hash. Exactly one hash starts (the bound); the other 15 answer at once
// `busy` while it is held; and meanwhile the fast path answers: a lookup, an issued secret's
// verify, a CORS check. Released, the held call answers wrong_secret.
func TestImportedSecretFlood(t *testing.T) {
	for _, d := range storetest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			started := make(chan struct{}, 64)
			hold := make(chan struct{})
			var holding atomic.Bool
			g := &slowGuard{}
			e := newEnvWith(t, d, g.tune(lookup.SlowHashConfig{Workers: 1, Started: func() {
				if holding.Load() {
					started <- struct{}{}
					<-hold
				}
			}}))
			ctx := context.Background()
			e.importClient("legacy-client", importedSecret)
			e.importClient("legacy-other", importedSecret)
			issued := e.created("acme", confidentialBody())
			lookupClient := e.client("platform", auth.RoleLookup)

			holding.Store(true)
			type answer struct {
				status int
				reason string
			}
			answers := make(chan answer, 16)
			for range 16 {
				go func() {
					r, err := lookupClient.VerifyClientSecretWithResponse(ctx, "legacy-client",
						gen.VerifyClientSecretJSONRequestBody{Secret: "wrong-secret-of-an-attacker", TenantID: "acme"})
					if err != nil || r.JSON200 == nil {
						answers <- answer{status: r.StatusCode()}
						return
					}
					a := answer{status: http.StatusOK}
					if r.JSON200.Reason != nil {
						a.reason = string(*r.JSON200.Reason)
					}
					answers <- a
				}()
			}
			<-started // the one worker is held in a hash
			busy := 0
			for range 15 {
				a := <-answers // answered while the worker is still held
				if a.status != http.StatusOK || a.reason != "busy" {
					t.Fatalf("a flood call while the worker is held: %d %q, want 200 busy", a.status, a.reason)
				}
				busy++
			}

			// The fast path, while the bound is saturated.
			if r, _ := lookupClient.LookupClientWithResponse(ctx, issued.ID, &gen.LookupClientParams{TenantID: "acme"}); r.JSON200 == nil {
				t.Fatalf("lookup while saturated: %d %s", r.StatusCode(), r.Body)
			}
			if ok, why := e.verify(issued.ID, *issued.Secret); !ok {
				t.Fatalf("issued secret while saturated: %s", why)
			}
			if r, _ := lookupClient.CheckCORSOriginWithResponse(ctx, &gen.CheckCORSOriginParams{Origin: "https://app.example.com", TenantID: "acme"}); r.JSON200 == nil {
				t.Fatalf("CORS while saturated: %d %s", r.StatusCode(), r.Body)
			}
			if ok, why := e.verify("legacy-other", importedSecret); ok || why != "busy" {
				t.Fatalf("another imported client while saturated: valid=%v %q, want busy", ok, why)
			}
			if got := g.g.Stats().Hashes; got != 1 {
				t.Fatalf("slow hashes started while the worker is held: %d, want 1 (the bound)", got)
			}

			holding.Store(false)
			close(hold)
			if a := <-answers; a.status != http.StatusOK || a.reason != "wrong_secret" {
				t.Fatalf("the held call: %d %q, want wrong_secret", a.status, a.reason)
			}
			if busy != 15 || g.g.Stats().Busy != 16 {
				t.Fatalf("busy answers %d, counted %d", busy, g.g.Stats().Busy)
			}
			// The worker is free again.
			if ok, why := e.verify("legacy-other", importedSecret); !ok {
				t.Fatalf("after the flood: %s", why)
			}
		})
	}
}

// TestImportedSecretThrottle: a client that fails its budget of slow hashes is answered
// `throttled` without a hash, except for a secret remembered as verified; another imported
// client keeps its own budget.
func TestImportedSecretThrottle(t *testing.T) {
	for _, d := range storetest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			g := &slowGuard{}
			e := newEnvWith(t, d, g.tune(lookup.SlowHashConfig{FailureBurst: 2, FailureRate: rate.Every(time.Hour)}))
			e.importClient("legacy-a", importedSecret)
			e.importClient("legacy-b", importedSecret)

			steps := []struct {
				name, id, secret string
				valid            bool
				reason           string
				hashes           uint64 // slow hashes so far
			}{
				{"right secret, hashed", "legacy-a", importedSecret, true, "", 1},
				{"first failure", "legacy-a", "wrong-1", false, "wrong_secret", 2},
				{"second failure", "legacy-a", "wrong-2", false, "wrong_secret", 3},
				{"over the budget", "legacy-a", "wrong-3", false, "throttled", 3},
				{"over the budget, unverified right secret is also refused", "legacy-a", importedSecret + "x", false, "throttled", 3},
				{"the remembered right secret still works", "legacy-a", importedSecret, true, "", 3},
				{"another client has its own budget", "legacy-b", "wrong-1", false, "wrong_secret", 4},
				{"and its right secret", "legacy-b", importedSecret, true, "", 5},
			}
			for _, s := range steps {
				valid, reason := e.verify(s.id, s.secret)
				if valid != s.valid || reason != s.reason {
					t.Fatalf("%s: valid=%v %q, want %v %q", s.name, valid, reason, s.valid, s.reason)
				}
				if got := g.g.Stats().Hashes; got != s.hashes {
					t.Fatalf("%s: %d slow hashes, want %d", s.name, got, s.hashes)
				}
			}
		})
	}
}

// TestImportedSecretRemembered: a right imported secret is hashed once and then answered from
// memory; a rotation that revokes it, a disable, and a write on another replica each drop
// what was remembered.
func TestImportedSecretRemembered(t *testing.T) {
	for _, d := range storetest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			g := &slowGuard{}
			e := newEnvWith(t, d, g.tune(lookup.SlowHashConfig{}))
			ctx := context.Background()
			owner := e.client("acme")
			e.importClient("legacy-r", importedSecret)
			e.importClient("legacy-d", importedSecret)

			// Another replica on the same database, with its own cache and guard.
			cache2 := lookup.New(e.Store, lookup.Config{Now: e.Clock.Now, PollInterval: 20 * time.Millisecond, Logger: quietLogger()})
			if err := cache2.Start(ctx); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cache2.Stop(ctx) })
			g2 := lookup.NewSlowHashes(lookup.SlowHashConfig{})
			srv2, err := server.New(server.Config{Store: e.Store, Auth: mustVerifier(t, e), Lookup: cache2, SlowHashes: g2,
				Now: e.Clock.Now, Logger: quietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			e2 := e.withHandler(srv2.Handler())

			hashes := func(want uint64, what string) {
				t.Helper()
				if got := g.g.Stats().Hashes; got != want {
					t.Fatalf("%s: %d slow hashes, want %d", what, got, want)
				}
			}
			for i := range 3 {
				if ok, why := e.verify("legacy-r", importedSecret); !ok {
					t.Fatalf("verify %d: %s", i, why)
				}
			}
			hashes(1, "three right verifies")
			if ok, _ := e2.verify("legacy-r", importedSecret); !ok || g2.Stats().Hashes != 1 {
				t.Fatalf("replica 2: valid=%v, hashes %d", ok, g2.Stats().Hashes)
			}

			// Rotation on replica 2 that ends the imported secret now: replica 1 forgets it
			// once its poller reads the change.
			rot, err := e2.client("acme").RotateSecretWithResponse(ctx, "legacy-r", &gen.RotateSecretParams{},
				gen.RotateSecretJSONRequestBody{PreviousSecretExpiresIn: ptr(0)})
			if err != nil || rot.JSON201 == nil {
				t.Fatalf("rotate: %v %s", err, rot.Body)
			}
			deadline := time.Now().Add(5 * time.Second)
			for {
				ok, why := e.verify("legacy-r", importedSecret)
				if !ok && why == "wrong_secret" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the revoked imported secret still answers valid=%v %q on replica 1", ok, why)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if ok, why := e.verify("legacy-r", *rot.JSON201.Secret); !ok {
				t.Fatalf("the issued secret after rotation: %s", why)
			}

			// Disable on this replica: the remembered secret answers disabled, not valid.
			if ok, _ := e.verify("legacy-d", importedSecret); !ok {
				t.Fatal("legacy-d refused")
			}
			before := g.g.Stats().Hashes
			if ok, _ := e.verify("legacy-d", importedSecret); !ok || g.g.Stats().Hashes != before {
				t.Fatal("legacy-d not remembered")
			}
			if r, _ := owner.DisableApplicationWithResponse(ctx, "legacy-d", &gen.DisableApplicationParams{}); r.StatusCode() != http.StatusNoContent {
				t.Fatalf("disable: %d %s", r.StatusCode(), r.Body)
			}
			if ok, why := e.verify("legacy-d", importedSecret); ok || why != "disabled" {
				t.Fatalf("disabled: valid=%v %q", ok, why)
			}
			if g.g.Stats().Hashes != before+1 {
				t.Fatalf("the disable did not drop the remembered secret: %d hashes, want %d", g.g.Stats().Hashes, before+1)
			}
		})
	}
}

// TestSlowHashPastMaxWait: a verification whose slow hash does not finish within MaxWait
// answers busy at MaxWait, and the hash's worker is taken until the hash ends (the next one
// then answers busy at once); once it has, a verification is checked again.
func TestSlowHashPastMaxWait(t *testing.T) {
	g := &slowGuard{}
	e := newEnvWith(t, "sqlite", g.tune(lookup.SlowHashConfig{Workers: 1, MaxWait: time.Millisecond}))
	e.importClient("legacy-late", importedSecret)
	lk := e.client("platform", auth.RoleLookup)
	verify := func() *gen.VerifyResult {
		t.Helper()
		r, err := lk.VerifyClientSecretWithResponse(context.Background(), "legacy-late",
			gen.VerifyClientSecretJSONRequestBody{Secret: importedSecret, TenantID: "acme"})
		if err != nil || r.JSON200 == nil {
			t.Fatalf("verify: %v %d %s", err, r.StatusCode(), r.Body)
		}
		return r.JSON200
	}
	if v := verify(); v.Valid || v.Reason == nil || *v.Reason != gen.VerifyResultReasonBusy {
		t.Fatalf("a hash past MaxWait: %+v, want busy", v)
	}
	hashes := g.g.Stats().Hashes
	deadline := time.Now().Add(time.Minute)
	for g.g.Stats().Hashes == hashes { // until a worker is free and a second hash starts
		if time.Now().After(deadline) {
			t.Fatal("the late hash's worker was never released")
		}
		if v := verify(); v.Valid || *v.Reason != gen.VerifyResultReasonBusy {
			t.Fatalf("while a late hash runs: %+v, want busy", v)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
