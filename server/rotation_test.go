package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cxone/appreg/gen"
	"github.com/cxone/appreg/server"
	"github.com/cxone/appreg/server/auth"
)

func (e *testEnv) verify(id, secret string) (bool, string) {
	e.t.Helper()
	r, err := e.client("platform", auth.RoleLookup).VerifyClientSecretWithResponse(context.Background(), id,
		gen.VerifyClientSecretJSONRequestBody{Secret: secret, TenantID: "acme"})
	if err != nil || r.JSON200 == nil {
		e.t.Fatalf("verify: %v %s", err, r.Body)
	}
	if r.JSON200.Reason != nil {
		return r.JSON200.Valid, string(*r.JSON200.Reason)
	}
	return r.JSON200.Valid, ""
}

func TestSecretRotation(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		c := e.client("acme")
		app := e.created("acme", confidentialBody())
		first := *app.Secret

		rot, err := c.RotateSecretWithResponse(ctx, app.ID, &gen.RotateSecretParams{},
			gen.RotateSecretJSONRequestBody{PreviousSecretExpiresIn: ptr(3600)})
		if err != nil || rot.JSON201 == nil || rot.JSON201.Secret == nil {
			t.Fatalf("rotate: %v %d %s", err, rot.StatusCode(), rot.Body)
		}
		second := *rot.JSON201.Secret
		if second == first || len(second) != 43 || rot.JSON201.Hint != second[len(second)-4:] {
			t.Fatalf("new secret %q (hint %q)", second, rot.JSON201.Hint)
		}

		// Both work during the overlap; the old one stops at its expiry.
		for _, s := range []string{first, second} {
			if ok, why := e.verify(app.ID, s); !ok {
				t.Fatalf("during overlap: %s", why)
			}
		}
		list, _ := c.ListSecretsWithResponse(ctx, app.ID)
		if list.JSON200 == nil || len(list.JSON200.Secrets) != 2 || strings.Contains(string(list.Body), first) || strings.Contains(string(list.Body), second) {
			t.Fatalf("list: %s", list.Body)
		}
		e.Clock.Advance(time.Hour)
		if ok, why := e.verify(app.ID, first); ok || why != "wrong_secret" {
			t.Fatalf("old secret after its expiry: valid=%v %s", ok, why)
		}
		if ok, _ := e.verify(app.ID, second); !ok {
			t.Fatal("new secret refused")
		}

		// At most three valid secrets.
		for i := 0; i < 2; i++ {
			if r, _ := c.RotateSecretWithResponse(ctx, app.ID, &gen.RotateSecretParams{}, gen.RotateSecretJSONRequestBody{}); r.StatusCode() != http.StatusCreated {
				t.Fatalf("rotation %d: %d %s", i, r.StatusCode(), r.Body)
			}
		}
		r, _ := c.RotateSecretWithResponse(ctx, app.ID, &gen.RotateSecretParams{}, gen.RotateSecretJSONRequestBody{})
		if r.StatusCode() != http.StatusConflict || r.JSON409.Error != "too_many_secrets" {
			t.Fatalf("fourth secret: %d %s", r.StatusCode(), r.Body)
		}

		// Revoke: not the last valid one.
		list, _ = c.ListSecretsWithResponse(ctx, app.ID)
		secrets := list.JSON200.Secrets
		for i, s := range secrets {
			rv, _ := c.RevokeSecretWithResponse(ctx, app.ID, s.SecretID, &gen.RevokeSecretParams{})
			want := http.StatusNoContent
			if i == len(secrets)-1 {
				want = http.StatusConflict
			}
			if rv.StatusCode() != want {
				t.Fatalf("revoke %d of %d: %d %s", i+1, len(secrets), rv.StatusCode(), rv.Body)
			}
		}
		rv, _ := c.RevokeSecretWithResponse(ctx, app.ID, secrets[0].SecretID, &gen.RevokeSecretParams{})
		if rv.StatusCode() != http.StatusNotFound {
			t.Fatalf("revoked twice: %d", rv.StatusCode())
		}

		// previousSecretExpiresIn 0 revokes at once.
		r, _ = c.RotateSecretWithResponse(ctx, app.ID, &gen.RotateSecretParams{}, gen.RotateSecretJSONRequestBody{PreviousSecretExpiresIn: ptr(0)})
		if r.JSON201 == nil {
			t.Fatalf("rotate 0: %s", r.Body)
		}
		if ok, _ := e.verify(app.ID, second); ok {
			t.Fatal("previous secret still valid after previousSecretExpiresIn 0")
		}

		// Public applications have none; locked ones refuse.
		pub := e.created("acme", gen.CreateApplicationJSONRequestBody{Name: "SPA", Contacts: []string{"a@example.com"},
			Type: gen.Public, Redirects: ptr([]string{"https://spa.example.com/cb"})})
		if r, _ := c.RotateSecretWithResponse(ctx, pub.ID, &gen.RotateSecretParams{}, gen.RotateSecretJSONRequestBody{}); r.StatusCode() != http.StatusBadRequest {
			t.Fatalf("public rotation: %d %s", r.StatusCode(), r.Body)
		}
		c.DeleteApplicationWithResponse(ctx, app.ID, nil)
		if r, _ := c.RotateSecretWithResponse(ctx, app.ID, &gen.RotateSecretParams{}, gen.RotateSecretJSONRequestBody{}); r.StatusCode() != http.StatusConflict || r.JSON409.Error != "application_locked" {
			t.Fatalf("locked rotation: %d %s", r.StatusCode(), r.Body)
		}
		// Another tenant sees nothing.
		if r, _ := e.client("globex").ListSecretsWithResponse(ctx, app.ID); r.StatusCode() != http.StatusNotFound {
			t.Fatalf("cross-tenant secrets: %d", r.StatusCode())
		}
	})
}

func TestAuditTrail(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		c := e.client("acme")
		app := e.created("acme", confidentialBody())
		c.PatchApplicationWithResponse(ctx, app.ID, nil, gen.PatchApplicationJSONRequestBody{Name: ptr("Renamed")})
		c.DisableApplicationWithResponse(ctx, app.ID, nil)
		c.EnableApplicationWithResponse(ctx, app.ID, nil)
		c.RotateSecretWithResponse(ctx, app.ID, &gen.RotateSecretParams{}, gen.RotateSecretJSONRequestBody{})
		c.DeleteApplicationWithResponse(ctx, app.ID, nil)
		c.EnableApplicationWithResponse(ctx, app.ID, nil)

		r, err := c.ListApplicationEventsWithResponse(ctx, app.ID, &gen.ListApplicationEventsParams{})
		if err != nil || r.JSON200 == nil {
			t.Fatalf("events: %v %s", err, r.Body)
		}
		var got []string
		for _, ev := range r.JSON200.Events {
			got = append(got, string(ev.Action))
			if ev.Actor != "user@acme" || ev.TenantID != "acme" {
				t.Errorf("event %s: actor %q tenant %q", ev.Action, ev.Actor, ev.TenantID)
			}
		}
		want := "deletion_cancelled,deletion_scheduled,secret_issued,enabled,disabled,updated,created"
		if strings.Join(got, ",") != want {
			t.Fatalf("actions newest first: %s, want %s", strings.Join(got, ","), want)
		}
		if strings.Contains(string(r.Body), *app.Secret) || strings.Contains(string(r.Body), "sha256$") {
			t.Fatal("the audit trail shows a secret or its hash")
		}
		upd := r.JSON200.Events[5]
		if len(upd.Changes) != 1 || upd.Changes[0].Field != "name" || upd.Changes[0].Old != "Agent desktop" || upd.Changes[0].New != "Renamed" {
			t.Fatalf("update changes: %+v", upd.Changes)
		}
		page, _ := c.ListApplicationEventsWithResponse(ctx, app.ID, &gen.ListApplicationEventsParams{Limit: ptr(3)})
		if page.JSON200 == nil || len(page.JSON200.Events) != 3 || page.JSON200.NextCursor == nil {
			t.Fatalf("page: %s", page.Body)
		}
		rest, _ := c.ListApplicationEventsWithResponse(ctx, app.ID, &gen.ListApplicationEventsParams{Limit: ptr(10), Cursor: page.JSON200.NextCursor})
		if rest.JSON200 == nil || len(rest.JSON200.Events) != 4 || rest.JSON200.NextCursor != nil {
			t.Fatalf("second page: %s", rest.Body)
		}
		if x, _ := e.client("globex").ListApplicationEventsWithResponse(ctx, app.ID, &gen.ListApplicationEventsParams{}); x.StatusCode() != http.StatusNotFound {
			t.Fatalf("cross-tenant events: %d", x.StatusCode())
		}

		// The trail outlives the application, for operators.
		c.DeleteApplicationWithResponse(ctx, app.ID, nil)
		e.Clock.Advance(e.Grace)
		if _, err := (&purgerFor{e}).run(); err != nil {
			t.Fatal(err)
		}
		if x, _ := c.ListApplicationEventsWithResponse(ctx, app.ID, &gen.ListApplicationEventsParams{}); x.StatusCode() != http.StatusNotFound {
			t.Fatalf("tenant events after purge: %d", x.StatusCode())
		}
		admin := e.client("ops", auth.RoleAdmin)
		a, _ := admin.ListApplicationEventsAdminWithResponse(ctx, app.ID, &gen.ListApplicationEventsAdminParams{})
		if a.JSON200 == nil || len(a.JSON200.Events) != 9 || a.JSON200.Events[0].Action != gen.EventActionPurged || a.JSON200.Events[0].Actor != "appreg" {
			t.Fatalf("admin events after purge: %s", a.Body)
		}
		if x, _ := c.ListApplicationEventsAdminWithResponse(ctx, app.ID, &gen.ListApplicationEventsAdminParams{}); x.StatusCode() != http.StatusForbidden {
			t.Fatalf("admin events without the role: %d", x.StatusCode())
		}
		if x, _ := admin.ListApplicationEventsAdminWithResponse(ctx, "never-existed", &gen.ListApplicationEventsAdminParams{}); x.StatusCode() != http.StatusNotFound {
			t.Fatalf("admin events of an unknown id: %d", x.StatusCode())
		}
	})
}

func TestIfMatch(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		c := e.client("acme")
		app := e.created("acme", confidentialBody())
		v, _ := c.ViewApplicationWithResponse(ctx, app.ID)
		etag := v.HTTPResponse.Header.Get("ETag")
		if etag == "" {
			t.Fatal("no ETag on view")
		}
		p1, _ := c.PatchApplicationWithResponse(ctx, app.ID, &gen.PatchApplicationParams{IfMatch: &etag}, gen.PatchApplicationJSONRequestBody{Name: ptr("One")})
		if p1.StatusCode() != http.StatusOK || p1.HTTPResponse.Header.Get("ETag") == etag {
			t.Fatalf("patch with the current ETag: %d, ETag %q", p1.StatusCode(), p1.HTTPResponse.Header.Get("ETag"))
		}
		p2, _ := c.PatchApplicationWithResponse(ctx, app.ID, &gen.PatchApplicationParams{IfMatch: &etag}, gen.PatchApplicationJSONRequestBody{Name: ptr("Two")})
		if p2.StatusCode() != http.StatusPreconditionFailed || p2.JSON412.Error != "precondition_failed" {
			t.Fatalf("patch with a stale ETag: %d %s", p2.StatusCode(), p2.Body)
		}
		for _, h := range []string{"*", `W/"2"`, "garbage"} {
			r, _ := c.DisableApplicationWithResponse(ctx, app.ID, &gen.DisableApplicationParams{IfMatch: ptr(h)})
			want := http.StatusPreconditionFailed
			if h == "*" {
				want = http.StatusNoContent
			}
			if r.StatusCode() != want {
				t.Fatalf("If-Match %s: %d, want %d", h, r.StatusCode(), want)
			}
		}
		v, _ = c.ViewApplicationWithResponse(ctx, app.ID)
		if v.JSON200.Name != "One" {
			t.Fatalf("name %q", v.JSON200.Name)
		}
	})
}

func TestConcurrentPatchesOfDifferentFieldsBothLand(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		app := e.created("acme", confidentialBody())
		const n = 10
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(2)
			go func(i int) {
				defer wg.Done()
				r, err := e.client("acme").PatchApplicationWithResponse(ctx, app.ID, nil, gen.PatchApplicationJSONRequestBody{Description: ptr(fmt.Sprintf("d%d", i))})
				if err != nil || r.StatusCode() != http.StatusOK {
					t.Errorf("patch description: %v %d", err, r.StatusCode())
				}
			}(i)
			go func(i int) {
				defer wg.Done()
				r, err := e.client("acme").PatchApplicationWithResponse(ctx, app.ID, nil, gen.PatchApplicationJSONRequestBody{Scope: ptr(fmt.Sprintf("s%d", i))})
				if err != nil || r.StatusCode() != http.StatusOK {
					t.Errorf("patch scope: %v %d", err, r.StatusCode())
				}
			}(i)
		}
		wg.Wait()
		v, _ := e.client("acme").ViewApplicationWithResponse(ctx, app.ID)
		b := v.JSON200
		if !strings.HasPrefix(b.Description, "d") || !strings.HasPrefix(b.Scope, "s") {
			t.Fatalf("a PATCH was lost: description %q scope %q", b.Description, b.Scope)
		}
		if etag := v.HTTPResponse.Header.Get("ETag"); etag != fmt.Sprintf(`"%d"`, 1+2*n) {
			t.Fatalf("ETag %s after %d writes", etag, 2*n)
		}
	})
}

func TestIdempotentCreateAndRotate(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		c := e.client("acme")
		key := "create-7f0e"
		first, _ := c.CreateApplicationWithResponse(ctx, &gen.CreateApplicationParams{IdempotencyKey: &key}, confidentialBody())
		if first.JSON201 == nil || first.JSON201.Secret == nil || first.HTTPResponse.Header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("first: %d %s", first.StatusCode(), first.Body)
		}
		again, _ := c.CreateApplicationWithResponse(ctx, &gen.CreateApplicationParams{IdempotencyKey: &key}, confidentialBody())
		if again.StatusCode() != http.StatusCreated || again.HTTPResponse.Header.Get("Idempotent-Replayed") != "true" ||
			again.JSON201.ID != first.JSON201.ID || again.JSON201.Secret != nil {
			t.Fatalf("replay: %d %s", again.StatusCode(), again.Body)
		}
		other := confidentialBody()
		other.Name = "Another"
		clash, _ := c.CreateApplicationWithResponse(ctx, &gen.CreateApplicationParams{IdempotencyKey: &key}, other)
		if clash.StatusCode() != http.StatusConflict || clash.JSON409.Error != "idempotency_key_reused" {
			t.Fatalf("same key, other body: %d %s", clash.StatusCode(), clash.Body)
		}
		list, _ := c.ListApplicationWithResponse(ctx, &gen.ListApplicationParams{})
		if n := len(list.JSON200.Applications); n != 1 {
			t.Fatalf("%d applications after a replay, want 1", n)
		}
		// Another tenant's key space is its own.
		if r, _ := e.client("globex").CreateApplicationWithResponse(ctx, &gen.CreateApplicationParams{IdempotencyKey: &key}, confidentialBody()); r.JSON201 == nil || r.JSON201.ID == first.JSON201.ID {
			t.Fatalf("other tenant, same key: %s", r.Body)
		}

		// Concurrent twins create one application.
		twin := "twin-1"
		var wg sync.WaitGroup
		ids := make(chan string, 8)
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := e.client("initech").CreateApplicationWithResponse(ctx, &gen.CreateApplicationParams{IdempotencyKey: &twin}, confidentialBody())
				if err == nil && r.JSON201 != nil {
					ids <- r.JSON201.ID
				} else if err != nil || r.StatusCode() != http.StatusConflict {
					t.Errorf("twin: %v %d %s", err, r.StatusCode(), r.Body)
				}
			}()
		}
		wg.Wait()
		close(ids)
		seen := map[string]bool{}
		for id := range ids {
			seen[id] = true
		}
		list, _ = e.client("initech").ListApplicationWithResponse(ctx, &gen.ListApplicationParams{})
		if len(seen) != 1 || len(list.JSON200.Applications) != 1 {
			t.Fatalf("twins made %d distinct answers and %d applications, want 1 and 1", len(seen), len(list.JSON200.Applications))
		}

		rk := "rotate-1"
		r1, _ := c.RotateSecretWithResponse(ctx, first.JSON201.ID, &gen.RotateSecretParams{IdempotencyKey: &rk}, gen.RotateSecretJSONRequestBody{})
		r2, _ := c.RotateSecretWithResponse(ctx, first.JSON201.ID, &gen.RotateSecretParams{IdempotencyKey: &rk}, gen.RotateSecretJSONRequestBody{})
		if r1.JSON201 == nil || r1.JSON201.Secret == nil || r2.JSON201 == nil || r2.JSON201.Secret != nil ||
			r2.JSON201.SecretID != r1.JSON201.SecretID || r2.HTTPResponse.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("rotation replay: %s / %s", r1.Body, r2.Body)
		}
		s, _ := c.ListSecretsWithResponse(ctx, first.JSON201.ID)
		if len(s.JSON200.Secrets) != 2 {
			t.Fatalf("%d secrets after a replayed rotation, want 2", len(s.JSON200.Secrets))
		}
	})
}

// purgerFor runs one purge pass at the test clock's time.
type purgerFor struct{ e *testEnv }

func (p *purgerFor) run() (int, error) {
	return (&server.Purger{Store: p.e.Store, Now: p.e.Clock.Now}).RunOnce(context.Background())
}
