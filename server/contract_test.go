package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/cxone/appreg/gen"
	"github.com/cxone/appreg/server/auth"
)

func TestImportForm(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		body := func(mod func(*gen.CreateApplicationJSONRequestBody)) gen.CreateApplicationJSONRequestBody {
			b := confidentialBody()
			b.ID, b.TenantID, b.Secret = ptr("legacy-app-1"), ptr("acme"), ptr("s3cr3t-from-the-old-system")
			if mod != nil {
				mod(&b)
			}
			return b
		}
		if r, _ := e.client("ops").CreateApplicationWithResponse(ctx, nil, body(nil)); r.StatusCode() != http.StatusForbidden {
			t.Fatalf("import without appreg.admin: %d %s", r.StatusCode(), r.Body)
		}
		admin := e.client("ops", auth.RoleAdmin)
		r, _ := admin.CreateApplicationWithResponse(ctx, nil, body(nil))
		if r.JSON201 == nil || r.JSON201.ID != "legacy-app-1" || r.JSON201.TenantID != "acme" || r.JSON201.Secret != nil {
			t.Fatalf("import: %d %s", r.StatusCode(), r.Body)
		}
		if ok, why := e.verify("legacy-app-1", "s3cr3t-from-the-old-system"); !ok {
			t.Fatalf("imported secret refused: %s", why)
		}
		// The suffix paths find an imported id with hyphens.
		if resp, b := e.do(http.MethodPost, "/applications/legacy-app-1-disable", e.token("acme", "u"), "", nil); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("disable legacy-app-1: %d %s", resp.StatusCode, b)
		}
		if v, _ := e.client("acme").ViewApplicationWithResponse(ctx, "legacy-app-1"); v.JSON200 == nil || v.JSON200.IsEnabled {
			t.Fatalf("after -disable: %s", v.Body)
		}
		if r, _ := admin.CreateApplicationWithResponse(ctx, nil, body(nil)); r.StatusCode() != http.StatusConflict || r.JSON409.Error != "conflict" {
			t.Fatalf("duplicate id: %d %s", r.StatusCode(), r.Body)
		}
		refused := []struct {
			name, field string
			mod         func(*gen.CreateApplicationJSONRequestBody)
		}{
			{"id ending -enable", "id", func(b *gen.CreateApplicationJSONRequestBody) { b.ID = ptr("app-enable") }},
			{"id ending -disable", "id", func(b *gen.CreateApplicationJSONRequestBody) { b.ID = ptr("app-disable") }},
			{"dots only", "id", func(b *gen.CreateApplicationJSONRequestBody) { b.ID = ptr("..") }},
			{"slash", "id", func(b *gen.CreateApplicationJSONRequestBody) { b.ID = ptr("a/b") }},
			{"no tenant", "tenantId", func(b *gen.CreateApplicationJSONRequestBody) { b.TenantID = nil }},
			{"confidential without secret", "secret", func(b *gen.CreateApplicationJSONRequestBody) { b.Secret = nil; b.ID = ptr("x1") }},
			{"public with secret", "secret", func(b *gen.CreateApplicationJSONRequestBody) { b.Type = gen.Public; b.ID = ptr("x2") }},
		}
		for _, tc := range refused {
			t.Run(tc.name, func(t *testing.T) {
				r, _ := admin.CreateApplicationWithResponse(ctx, nil, body(tc.mod))
				if r.StatusCode() != http.StatusBadRequest || r.JSON400 == nil || r.JSON400.Errors == nil || !hasField(*r.JSON400.Errors, tc.field) {
					t.Fatalf("%d %s, want 400 naming %s", r.StatusCode(), r.Body, tc.field)
				}
			})
		}
	})
}

func hasField(errs []gen.FieldError, field string) bool {
	for _, f := range errs {
		if f.Field == field {
			return true
		}
	}
	return false
}

func TestTenancyApprovalFlow(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		all := confidentialBody()
		all.Tenancy = ptr(gen.All)
		a := e.created("acme", all)
		b := e.created("globex", all)
		single := e.created("acme", confidentialBody())
		if a.TenancyApproval == nil || *a.TenancyApproval != gen.Pending || a.EffectiveTenancy != gen.Single {
			t.Fatalf("new all-tenant app: %+v", a)
		}
		user := e.client("acme")
		if r, _ := user.ListTenancyRequestsWithResponse(ctx, &gen.ListTenancyRequestsParams{}); r.StatusCode() != http.StatusForbidden {
			t.Fatalf("list without the role: %d", r.StatusCode())
		}
		if r, _ := user.DecideTenancyWithResponse(ctx, a.ID, gen.DecideTenancyJSONRequestBody{Decision: gen.Approve}); r.StatusCode() != http.StatusForbidden {
			t.Fatalf("decide without the role: %d", r.StatusCode())
		}
		admin := e.client("ops", auth.RoleAdmin)
		l, _ := admin.ListTenancyRequestsWithResponse(ctx, &gen.ListTenancyRequestsParams{})
		if l.JSON200 == nil || len(l.JSON200.Applications) != 2 {
			t.Fatalf("pending of every tenant: %s", l.Body)
		}
		r, _ := admin.DecideTenancyWithResponse(ctx, a.ID, gen.DecideTenancyJSONRequestBody{Decision: gen.Approve, Comment: ptr("CHG-1")})
		if r.JSON200 == nil || *r.JSON200.TenancyApproval != gen.Approved || r.JSON200.EffectiveTenancy != gen.All {
			t.Fatalf("approve: %s", r.Body)
		}
		r, _ = admin.DecideTenancyWithResponse(ctx, b.ID, gen.DecideTenancyJSONRequestBody{Decision: gen.Reject})
		if r.JSON200 == nil || *r.JSON200.TenancyApproval != gen.Rejected || r.JSON200.EffectiveTenancy != gen.Single {
			t.Fatalf("reject: %s", r.Body)
		}
		for _, id := range []string{a.ID, single.ID} {
			if r, _ := admin.DecideTenancyWithResponse(ctx, id, gen.DecideTenancyJSONRequestBody{Decision: gen.Approve}); r.StatusCode() != http.StatusConflict || r.JSON409.Error != "tenancy_not_pending" {
				t.Fatalf("decide on %s: %d %s", id, r.StatusCode(), r.Body)
			}
		}
		if r, _ := admin.DecideTenancyWithResponse(ctx, "no-such-app", gen.DecideTenancyJSONRequestBody{Decision: gen.Approve}); r.StatusCode() != http.StatusNotFound {
			t.Fatalf("unknown id: %d", r.StatusCode())
		}
		resp, _ := e.do(http.MethodPost, "/admin/applications/"+a.ID+"/tenancy-approval", e.token("ops", "op", auth.RoleAdmin), "application/json", []byte(`{"decision":"maybe"}`))
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("bad decision: %d", resp.StatusCode)
		}
		if l, _ = admin.ListTenancyRequestsWithResponse(ctx, &gen.ListTenancyRequestsParams{}); len(l.JSON200.Applications) != 0 {
			t.Fatalf("still pending: %s", l.Body)
		}
	})
}

func TestPaging(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		want := map[string]bool{}
		for i := 0; i < 25; i++ {
			b := confidentialBody()
			b.Name = fmt.Sprintf("App %02d", i)
			want[e.created("acme", b).ID] = true
			e.Clock.Advance(1) // distinct or equal times both page correctly
		}
		c := e.client("acme")
		seen, pages := map[string]bool{}, 0
		var cursor *string
		for {
			r, err := c.ListApplicationWithResponse(ctx, &gen.ListApplicationParams{Limit: ptr(10), Cursor: cursor})
			if err != nil || r.JSON200 == nil {
				t.Fatalf("page: %v %s", err, r.Body)
			}
			pages++
			for _, a := range r.JSON200.Applications {
				if seen[a.ID] {
					t.Fatalf("%s twice", a.ID)
				}
				seen[a.ID] = true
			}
			if cursor = r.JSON200.NextCursor; cursor == nil {
				break
			}
		}
		if pages != 3 || len(seen) != 25 {
			t.Fatalf("%d pages, %d applications", pages, len(seen))
		}
		all, _ := c.ListApplicationWithResponse(ctx, &gen.ListApplicationParams{})
		if len(all.JSON200.Applications) != 25 || all.JSON200.NextCursor != nil {
			t.Fatalf("without limit: %d", len(all.JSON200.Applications))
		}
		for _, bad := range []string{"?limit=0", "?limit=1001", "?limit=x", "?cursor=bm90LWEtY3Vyc29y", "?cursor="} {
			resp, body := e.do(http.MethodGet, "/applications"+bad, e.token("acme", "u"), "", nil)
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%s: %d %s", bad, resp.StatusCode, body)
			}
		}
	})
}

// TestBadInputChangesNothing sends malformed requests of every kind; each is
// a 4xx in the error shape (the harness checks the shape) and the stored
// state is the same afterwards.
func TestBadInputChangesNothing(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		app := e.created("acme", confidentialBody())
		tok := e.token("acme", "u")
		snapshot := func() string {
			l, _ := e.client("acme").ListApplicationWithResponse(ctx, &gen.ListApplicationParams{})
			s, _ := e.Store.ListSecrets(ctx, app.ID)
			b, _ := json.Marshal(s)
			return string(l.Body) + string(b)
		}
		before := snapshot()
		huge := strings.Repeat("a", 2<<20)
		cases := []struct {
			name, method, path, ct, body string
			status                       int
		}{
			{"malformed JSON", "POST", "/applications", "application/json", `{"name":`, 400},
			{"array body", "POST", "/applications", "application/json", `[]`, 400},
			{"wrong type", "POST", "/applications", "application/json", `{"name":5,"contacts":["a@example.com"],"type":"public"}`, 400},
			{"unknown field", "POST", "/applications", "application/json", `{"name":"a","contacts":["a@example.com"],"type":"backend","colour":"red"}`, 400},
			{"wrong content type", "POST", "/applications", "text/plain", `{"name":"a"}`, 415},
			{"form content type", "PATCH", "/applications/" + app.ID, "application/x-www-form-urlencoded", `name=a`, 415},
			{"no body", "POST", "/applications", "application/json", ``, 400},
			{"oversized body", "POST", "/applications", "application/json", `{"name":"` + huge + `"}`, 413},
			{"NUL in name", "PATCH", "/applications/" + app.ID, "application/json", "{\"name\":\"a\\u0000b\"}", 400},
			{"SQL in name", "PATCH", "/applications/" + app.ID, "application/json", `{"name":"'; DROP TABLE applications; --","redirects":["https://x.example.com/'--"],"contacts":["x@example.com"],"type":"public"}`, 400},
			{"path traversal redirect", "PATCH", "/applications/" + app.ID, "application/json", `{"redirects":["../../etc/passwd"]}`, 400},
			{"huge array", "PATCH", "/applications/" + app.ID, "application/json", `{"origins":[` + strings.Repeat(`"https://a.example.com",`, 500) + `"https://b.example.com"]}`, 400},
			{"changed type", "PATCH", "/applications/" + app.ID, "application/json", `{"type":"public"}`, 400},
			{"id not an id", "GET", "/applications/" + strings.Repeat("x", 200), "", "", 400},
			{"encoded slash id", "GET", "/applications/a%2Fb", "", "", 400},
			{"bad secret id", "DELETE", "/applications/" + app.ID + "/secrets/not-a-uuid", "", "", 400},
			{"empty object", "POST", "/applications", "application/json", `{}`, 400},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				resp, body := e.do(tc.method, tc.path, tok, tc.ct, []byte(tc.body))
				if resp.StatusCode != tc.status {
					t.Fatalf("%d, want %d: %.300s", resp.StatusCode, tc.status, body)
				}
			})
		}
		if after := snapshot(); after != before {
			t.Fatalf("bad input changed the stored state:\n%s\n%s", before, after)
		}
	})
}

// TestPatchWholeObjectRoundTrip: an SDK sends back the whole application it
// read. Unchanged read-only fields are accepted and ignored; each one that
// differs is a 400 naming it.
func TestPatchWholeObjectRoundTrip(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		all := confidentialBody()
		all.Tenancy = ptr(gen.All)
		app := e.created("acme", all)
		c := e.client("acme")
		v, _ := c.ViewApplicationWithResponse(ctx, app.ID)
		var whole map[string]any
		if err := json.Unmarshal(v.Body, &whole); err != nil {
			t.Fatal(err)
		}
		whole["name"] = "Renamed by an SDK"
		body, _ := json.Marshal(whole)
		tok := e.token("acme", "sdk")
		resp, b := e.do(http.MethodPatch, "/applications/"+app.ID, tok, "application/json", body)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "Renamed by an SDK") {
			t.Fatalf("whole-object PATCH: %d %s", resp.StatusCode, b)
		}
		v, _ = c.ViewApplicationWithResponse(ctx, app.ID)
		if err := json.Unmarshal(v.Body, &whole); err != nil {
			t.Fatal(err)
		}
		changed := map[string]any{
			"id": "other-id", "tenantId": "globex", "type": "public", "tenancy": "single",
			"effectiveTenancy": "all", "tenancyApproval": "approved", "isEnabled": false, "isLocked": true,
			"createdBy": "mallory", "createdTime": "2020-01-01T00:00:00Z", "lastModifiedBy": "mallory",
			"lastModifiedTime": "2020-01-01T00:00:00Z", "scheduledDeletionTime": "2030-01-01T00:00:00Z",
		}
		for field, value := range changed {
			t.Run(field, func(t *testing.T) {
				w := map[string]any{}
				for k, x := range whole {
					w[k] = x
				}
				w[field] = value
				body, _ := json.Marshal(w)
				resp, b := e.do(http.MethodPatch, "/applications/"+app.ID, tok, "application/json", body)
				if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), `"field":"`+field+`"`) {
					t.Fatalf("changed %s: %d %s", field, resp.StatusCode, b)
				}
			})
		}
		after, _ := c.ViewApplicationWithResponse(ctx, app.ID)
		if string(after.Body) != string(v.Body) {
			t.Fatal("a refused PATCH changed the application")
		}
	})
}
