package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cxone/appreg/gen"
	"github.com/cxone/appreg/server"
	"github.com/cxone/appreg/server/auth"
	"github.com/cxone/appreg/server/lookup"
	"github.com/cxone/appreg/store"
	"github.com/cxone/appreg/store/storetest"
)

// listRaw lists path with token and returns each application of the answer as the bytes it
// was sent as, and nextCursor.
func (e *testEnv) listRaw(path, token string) ([]json.RawMessage, *string) {
	e.t.Helper()
	resp, body := e.do(http.MethodGet, path, token, "", nil)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	var l struct {
		Applications []json.RawMessage `json:"applications"`
		NextCursor   *string           `json:"nextCursor"`
	}
	if err := json.Unmarshal(body, &l); err != nil {
		e.t.Fatalf("GET %s: %v: %s", path, err, body)
	}
	return l.Applications, l.NextCursor
}

// viewRaw is viewApplication's answer for id, without the newline that ends it.
func (e *testEnv) viewRaw(id, token string) []byte {
	e.t.Helper()
	resp, body := e.do(http.MethodGet, "/applications/"+id, token, "", nil)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("view %s: %d %s", id, resp.StatusCode, body)
	}
	return bytes.TrimSuffix(body, []byte("\n"))
}

// checkList lists the tenant of token whole and in pages of 3, and checks that it lists want,
// in order, each application exactly as viewApplication answers it at this moment.
func (e *testEnv) checkList(token string, want []string) {
	e.t.Helper()
	all, next := e.listRaw("/applications", token)
	if next != nil {
		e.t.Errorf("a listing without limit has a nextCursor")
	}
	var paged []json.RawMessage
	for cursor, pages := "", 0; ; pages++ {
		path := "/applications?limit=3"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		page, next := e.listRaw(path, token)
		paged = append(paged, page...)
		if next == nil || pages > len(want) {
			break
		}
		cursor = *next
	}
	for _, got := range [][]json.RawMessage{all, paged} {
		ids := make([]string, len(got))
		for i, raw := range got {
			var a struct{ ID string }
			if err := json.Unmarshal(raw, &a); err != nil {
				e.t.Fatal(err)
			}
			ids[i] = a.ID
			if view := e.viewRaw(a.ID, token); !bytes.Equal(raw, view) {
				e.t.Errorf("listed %s as\n%s\nviewApplication answers\n%s", a.ID, raw, view)
			}
		}
		if !slices.Equal(ids, want) {
			e.t.Errorf("listed %v, want %v", ids, want)
		}
	}
}

// TestListFollowsEveryWrite: after each kind of write, and across the visibility and purge
// of an application, a listing answers each application exactly as viewApplication does,
// whether one, several or all of the tenant's applications changed since the last listing,
// with the list cache at its default size and with one too small for a tenant.
func TestListFollowsEveryWrite(t *testing.T) {
	sizes := []struct {
		name string
		size int
	}{{"default cache", lookup.DefaultAnswersSize}, {"tiny cache", 1}}
	for _, d := range storetest.Dialects(t) {
		for _, sz := range sizes {
			t.Run(d+"/"+sz.name, func(t *testing.T) {
				t.Parallel()
				e := newEnvWith(t, d, func(c *server.Config) { c.ListCacheSize = int64(sz.size) })
				testListFollowsEveryWrite(t, e, sz.size == lookup.DefaultAnswersSize)
			})
		}
	}
}

// testListFollowsEveryWrite: with roomy, the answers of the tenant all stay in memory, and the
// test checks that each listing encodes only the applications changed since the one before.
func testListFollowsEveryWrite(t *testing.T, e *testEnv, roomy bool) {
	ctx := context.Background()
	encoded := func() uint64 {
		t.Helper()
		return e.counter("appreg_list_cache_misses_total")
	}
	checkList := func(token string, want []string, changed uint64) {
		t.Helper()
		before := encoded()
		e.checkList(token, want)
		if n := encoded() - before; roomy && n != changed {
			t.Errorf("the listings encoded %d applications, want %d (those changed)", n, changed)
		}
	}
	c := e.client("acme")
	admin := e.client("ops", auth.RoleAdmin)
	token := e.token("acme", "user@acme")
	var ids []string
	secrets := map[string]string{}
	var allTenants string
	for i := range 8 {
		body := confidentialBody()
		body.Name = fmt.Sprintf("app %d", i)
		if i == 7 {
			body.Tenancy = ptr(gen.All)
		}
		if i == 3 { // a redirect with characters JSON escapes
			body.Redirects = ptr([]string{"https://desktop.example.com/cb?a=1&b=<2>"})
		}
		a := e.created("acme", body)
		ids, secrets[a.ID] = append(ids, a.ID), *a.Secret
		if i == 7 {
			allTenants = a.ID
		}
	}
	other := e.created("other", confidentialBody())
	slices.Sort(ids)        // created at one time of the test clock: listed in id order
	e.checkList(token, ids) // listed again and again: admitted, its answers kept
	checkList(token, ids, 0)

	patch := func(id, description string) {
		t.Helper()
		r, err := c.PatchApplicationWithResponse(ctx, id, nil, gen.PatchApplicationJSONRequestBody{Description: &description})
		if err != nil || r.StatusCode() != http.StatusOK {
			t.Fatalf("patch %s: %v %s", id, err, r.Body)
		}
	}
	ok := func(code int, err error, what string) {
		t.Helper()
		if err != nil || code/100 != 2 {
			t.Fatalf("%s: %d %v", what, code, err)
		}
	}

	patch(ids[0], "one changed")
	checkList(token, ids, 1) // read by id
	for _, id := range ids[1:4] {
		patch(id, "three changed")
	}
	checkList(token, ids, 3) // read whole; the five unchanged answers serve
	for _, id := range ids {
		patch(id, "all changed")
	}
	checkList(token, ids, 8)

	r, err := c.DisableApplicationWithResponse(ctx, ids[4], nil)
	ok(r.StatusCode(), err, "disable")
	checkList(token, ids, 1)
	re, err := c.EnableApplicationWithResponse(ctx, ids[4], nil)
	ok(re.StatusCode(), err, "enable")
	checkList(token, ids, 1)

	// A rotation gives the previous secret an expiry, and its revocation takes it away: both
	// move secretExpiresTime, which listings answer.
	hasExpiry := func(id string) bool { return bytes.Contains(e.viewRaw(id, token), []byte(`"secretExpiresTime":`)) }
	rot, err := c.RotateSecretWithResponse(ctx, ids[5], &gen.RotateSecretParams{}, gen.RotateSecretJSONRequestBody{})
	ok(rot.StatusCode(), err, "rotate")
	checkList(token, ids, 1)
	if !hasExpiry(ids[5]) {
		t.Error("after a rotation, no secretExpiresTime")
	}
	secs, err := c.ListSecretsWithResponse(ctx, ids[5])
	ok(secs.StatusCode(), err, "list secrets")
	for _, sec := range secs.JSON200.Secrets {
		if sec.SecretID != rot.JSON201.SecretID {
			rev, err := c.RevokeSecretWithResponse(ctx, ids[5], sec.SecretID, nil)
			ok(rev.StatusCode(), err, "revoke")
		}
	}
	checkList(token, ids, 1)
	if hasExpiry(ids[5]) {
		t.Error("after the revocation of the expiring secret, a secretExpiresTime")
	}

	// The lookup path's use of an application, written by its batched flush.
	if valid, reason := e.verify(ids[6], secrets[ids[6]]); !valid {
		t.Fatalf("verify: %s", reason)
	}
	if err := e.Store.TouchLastUsed(ctx, map[string]time.Time{ids[6]: e.Clock.Now()}); err != nil {
		t.Fatal(err)
	}
	checkList(token, ids, 1)

	dec, err := admin.DecideTenancyWithResponse(ctx, allTenants, gen.DecideTenancyJSONRequestBody{Decision: gen.Approve})
	ok(dec.StatusCode(), err, "approve")
	checkList(token, ids, 1)

	del, err := c.DeleteApplicationWithResponse(ctx, ids[0], nil)
	ok(del.StatusCode(), err, "delete")
	checkList(token, ids, 1) // locked, scheduled, still listed
	e.Clock.Advance(e.Grace + time.Second)
	checkList(token, ids[1:], 0) // past its deletion time: gone before any purge
	if n, err := (&purgerFor{e}).run(); err != nil || n != 1 {
		t.Fatalf("purge: %d, %v", n, err)
	}
	checkList(token, ids[1:], 0)

	e.checkList(e.token("other", "user@other"), []string{other.ID})
}

// TestListAfterReimport: an application listed, purged, then imported again under its id, with
// its first version number, is listed as the new one, in its own tenant or in another;
// nothing of the one kept for the listing before is shown.
func TestListAfterReimport(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		const id = "legacy-client-1"
		imp := func(tenant, name string) {
			t.Helper()
			body := confidentialBody()
			body.ID, body.TenantID, body.Secret, body.Name = ptr(id), ptr(tenant), ptr("an-imported-secret-of-enough-length-0001"), name
			r, err := e.client("ops", auth.RoleAdmin).CreateApplicationWithResponse(ctx, nil, body)
			if err != nil {
				t.Fatalf("import: %v", err)
			}
			if r.StatusCode() != http.StatusCreated {
				t.Fatalf("import: %d %s", r.StatusCode(), r.Body)
			}
		}
		purge := func(tenant string) {
			t.Helper()
			r, err := e.client(tenant).DeleteApplicationWithResponse(ctx, id, nil)
			if err != nil {
				t.Fatalf("delete: %v", err)
			}
			if r.StatusCode() != http.StatusOK {
				t.Fatalf("delete: %d %s", r.StatusCode(), r.Body)
			}
			e.Clock.Advance(e.Grace + time.Second)
			if n, err := (&purgerFor{e}).run(); err != nil || n != 1 {
				t.Fatalf("purge: %d, %v", n, err)
			}
		}
		listed := func(tenant, name string) {
			t.Helper()
			token := e.token(tenant, "user@"+tenant)
			e.checkList(token, []string{id})
			if all, _ := e.listRaw("/applications", token); !bytes.Contains(all[0], []byte(`"name":"`+name+`"`)) {
				t.Errorf("listed %s, want the application named %q", all[0], name)
			}
		}

		imp("acme", "the first")
		listed("acme", "the first")
		purge("acme")
		imp("acme", "the second")
		listed("acme", "the second")
		purge("acme")
		imp("globex", "the third")
		e.checkList(e.token("acme", "user@acme"), []string{})
		listed("globex", "the third")
	})
}

// TestListOnAnotherReplica: a replica lists the writes of another at once, though its own
// caches have not heard of them: each listing reads the applications' states from the
// database.
func TestListOnAnotherReplica(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		other, err := server.New(server.Config{Store: e.Store, Auth: mustVerifier(t, e), Lookup: e.Cache,
			Now: e.Clock.Now, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		b := e.withHandler(other.Handler())
		token := e.token("acme", "user@acme")
		a1, a2 := e.created("acme", confidentialBody()), e.created("acme", confidentialBody())
		e.Clock.Advance(time.Second) // a3, created later, is listed last
		if a1.ID > a2.ID {
			a1, a2 = a2, a1 // created at one time: listed in id order
		}
		e.checkList(token, []string{a1.ID, a2.ID})
		b.checkList(token, []string{a1.ID, a2.ID})

		if r, err := b.client("acme").DisableApplicationWithResponse(ctx, a1.ID, nil); err != nil || r.StatusCode() != http.StatusNoContent {
			t.Fatalf("disable on b: %v", err)
		}
		a3 := b.created("acme", confidentialBody())
		e.checkList(token, []string{a1.ID, a2.ID, a3.ID})
		listed, _ := e.listRaw("/applications", token)
		if !bytes.Contains(listed[0], []byte(`"isEnabled":false`)) {
			t.Errorf("replica a lists %s after replica b disabled it", listed[0])
		}
	})
}

// racingStore runs before in ApplicationsByID, between a listing's read of the states and its
// read of the applications it has no answer for.
type racingStore struct {
	*store.Store
	before func()
}

func (s *racingStore) ApplicationsByID(ctx context.Context, tenantID string, ids []string, now time.Time) ([]store.Application, error) {
	if s.before != nil {
		s.before()
		s.before = nil
	}
	return s.Store.ApplicationsByID(ctx, tenantID, ids, now)
}

// TestListRacingWrites: an application written between the two reads of a listing is listed
// as it is after the write, and one gone by then is left out; the next listing is right too.
func TestListRacingWrites(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		rs := &racingStore{Store: e.Store}
		srv, err := server.New(server.Config{Store: rs, Auth: mustVerifier(t, e), Lookup: e.Cache,
			Now: e.Clock.Now, DeletionGrace: e.Grace, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		r := e.withHandler(srv.Handler())
		token := e.token("acme", "user@acme")
		var ids []string
		for range 8 {
			ids = append(ids, e.created("acme", confidentialBody()).ID)
		}
		slices.Sort(ids)        // created at one time of the test clock: listed in id order
		r.checkList(token, ids) // every answer kept

		// One changed: read by id, and changed again in between.
		desc := "changed"
		if p, err := e.client("acme").PatchApplicationWithResponse(ctx, ids[2], nil, gen.PatchApplicationJSONRequestBody{Description: &desc}); err != nil || p.StatusCode() != http.StatusOK {
			t.Fatal("patch", err)
		}
		rs.before = func() {
			d := "changed again"
			if _, err := e.Store.UpdateApplication(ctx, "acme", ids[2], e.Clock.Now(), func(a *store.Application) error {
				a.Description = d
				return nil
			}); err != nil {
				t.Error(err)
			}
		}
		listed, _ := r.listRaw("/applications", token)
		if len(listed) != 8 || !bytes.Contains(listed[2], []byte(`"changed again"`)) {
			t.Errorf("listed %d, the changed one as %s", len(listed), listed[2])
		}
		r.checkList(token, ids)

		// One changed, then gone in between: left out.
		if p, err := e.client("acme").PatchApplicationWithResponse(ctx, ids[5], nil, gen.PatchApplicationJSONRequestBody{Description: &desc}); err != nil || p.StatusCode() != http.StatusOK {
			t.Fatal("patch", err)
		}
		rs.before = func() {
			if _, err := e.Store.UpdateApplication(ctx, "acme", ids[5], e.Clock.Now(), func(a *store.Application) error {
				a.ScheduledDeletionTime = ptr(e.Clock.Now().Add(-time.Second))
				return nil
			}); err != nil {
				t.Error(err)
			}
		}
		listed, _ = r.listRaw("/applications", token)
		if len(listed) != 7 {
			t.Errorf("listed %d applications, want 7: the one gone in between left out", len(listed))
		}
		r.checkList(token, slices.Delete(slices.Clone(ids), 5, 6))
	})
}

// counter reads the value of an unlabelled counter from GET /metrics.
func (e *testEnv) counter(name string) uint64 {
	e.t.Helper()
	_, body := e.do(http.MethodGet, "/metrics", "", "", nil)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				e.t.Fatalf("%s: %v", line, err)
			}
			return uint64(n)
		}
	}
	e.t.Fatalf("/metrics has no %s", name)
	return 0
}
