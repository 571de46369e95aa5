package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cxone/appreg/gen"
)

// listFiltered lists with params through the generated client, following nextCursor with the
// same params until the end, and returns the names listed.
func listFiltered(t *testing.T, c *gen.ClientWithResponses, params gen.ListApplicationParams) []string {
	t.Helper()
	var names []string
	for page := 0; page < 100; page++ {
		r, err := c.ListApplicationWithResponse(context.Background(), &params)
		if err != nil || r.JSON200 == nil {
			t.Fatalf("list %+v: %v %d %s", params, err, r.StatusCode(), r.Body)
		}
		for _, a := range r.JSON200.Applications {
			names = append(names, a.Name)
		}
		if r.JSON200.NextCursor == nil {
			return names
		}
		if params.Limit == nil {
			t.Fatal("a listing without limit has a nextCursor")
		}
		params.Cursor = r.JSON200.NextCursor
	}
	t.Fatal("more than 100 pages")
	return nil
}

// TestListApplicationFilters: type, state and q through the HTTP API, alone, together, whole
// and paged, each listed application answered exactly as viewApplication answers it, never
// another tenant's; a cursor works only with the filters it was issued for.
func TestListApplicationFilters(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		c := e.client("acme")
		token := e.token("acme", "user@acme")
		create := func(name string, typ gen.ApplicationType) string {
			t.Helper()
			e.Clock.Advance(time.Second) // listed in creation order
			body := confidentialBody()
			body.Name, body.Type = name, typ
			switch typ {
			case gen.Backend:
				body.Redirects, body.Origins = nil, nil
			case gen.Public:
				body.Origins = nil
			}
			return e.created("acme", body).ID
		}
		create("Desktop App", gen.Confidential)
		create("desktop_tool", gen.Public)
		pure := create("100% Pure", gen.Backend)
		mobile := create("Mobile", gen.Public)
		admin := create("DESKTOP Admin", gen.Backend)
		plain := create("Plain", gen.Confidential)
		e.created("other", confidentialBody()) // "Agent desktop", never listed for acme
		for _, id := range []string{pure, admin} {
			if r, err := c.DisableApplicationWithResponse(ctx, id, nil); err != nil || r.StatusCode() != http.StatusNoContent {
				t.Fatalf("disable: %v", err)
			}
		}
		if r, err := c.DeleteApplicationWithResponse(ctx, mobile, nil); err != nil || r.StatusCode() != http.StatusOK {
			t.Fatalf("delete: %v", err)
		}

		typ := func(v gen.ApplicationType) *gen.TypeFilter { return &v }
		state := func(v gen.ListApplicationParamsState) *gen.ListApplicationParamsState { return &v }
		cases := []struct {
			name   string
			params gen.ListApplicationParams
			want   []string
		}{
			{"none", gen.ListApplicationParams{}, []string{"Desktop App", "desktop_tool", "100% Pure", "Mobile", "DESKTOP Admin", "Plain"}},
			{"type", gen.ListApplicationParams{Type: typ(gen.Backend)}, []string{"100% Pure", "DESKTOP Admin"}},
			{"state enabled", gen.ListApplicationParams{State: state(gen.ListApplicationParamsStateEnabled)}, []string{"Desktop App", "desktop_tool", "Plain"}},
			{"state disabled", gen.ListApplicationParams{State: state(gen.ListApplicationParamsStateDisabled)}, []string{"100% Pure", "DESKTOP Admin"}},
			{"state pendingDeletion", gen.ListApplicationParams{State: state(gen.ListApplicationParamsStatePendingDeletion)}, []string{"Mobile"}},
			{"q in a name, any case", gen.ListApplicationParams{Q: ptr("deskTOP")}, []string{"Desktop App", "desktop_tool", "DESKTOP Admin"}},
			{"q a client id prefix, any case", gen.ListApplicationParams{Q: ptr(strings.ToUpper(plain[:8]))}, []string{"Plain"}},
			{"q with % literally", gen.ListApplicationParams{Q: ptr("%")}, []string{"100% Pure"}},
			{"q with _ literally", gen.ListApplicationParams{Q: ptr("p_t")}, []string{"desktop_tool"}},
			{"q with a backslash", gen.ListApplicationParams{Q: ptr(`\`)}, nil},
			{"type and state", gen.ListApplicationParams{Type: typ(gen.Public), State: state(gen.ListApplicationParamsStateEnabled)}, []string{"desktop_tool"}},
			{"all three", gen.ListApplicationParams{Type: typ(gen.Backend), State: state(gen.ListApplicationParamsStateDisabled), Q: ptr("desk")}, []string{"DESKTOP Admin"}},
			{"all three, none", gen.ListApplicationParams{Type: typ(gen.Confidential), State: state(gen.ListApplicationParamsStateDisabled), Q: ptr("desk")}, nil},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				if got := listFiltered(t, c, tc.params); !slices.Equal(got, tc.want) {
					t.Errorf("listed %v, want %v", got, tc.want)
				}
				for _, limit := range []int{1, 2} {
					p := tc.params
					p.Limit = &limit
					if got := listFiltered(t, c, p); !slices.Equal(got, tc.want) {
						t.Errorf("pages of %d listed %v, want %v", limit, got, tc.want)
					}
				}
				// Each listed answer is byte for byte viewApplication's.
				v := url.Values{}
				if tc.params.Type != nil {
					v.Set("type", string(*tc.params.Type))
				}
				if tc.params.State != nil {
					v.Set("state", string(*tc.params.State))
				}
				if tc.params.Q != nil {
					v.Set("q", *tc.params.Q)
				}
				raw, _ := e.listRaw("/applications?"+v.Encode(), token)
				for _, r := range raw {
					var a struct{ ID string }
					if err := json.Unmarshal(r, &a); err != nil {
						t.Fatal(err)
					}
					if view := e.viewRaw(a.ID, token); string(view) != string(r) {
						t.Errorf("listed %s as\n%s\nviewApplication answers\n%s", a.ID, r, view)
					}
				}
			})
		}

		t.Run("cursor of other filters", func(t *testing.T) {
			one := 1
			first, err := c.ListApplicationWithResponse(ctx, &gen.ListApplicationParams{Limit: &one, Q: ptr("desk")})
			if err != nil || first.JSON200 == nil || first.JSON200.NextCursor == nil {
				t.Fatalf("first page: %v %s", err, first.Body)
			}
			filtered := first.JSON200.NextCursor
			whole, err := c.ListApplicationWithResponse(ctx, &gen.ListApplicationParams{Limit: &one})
			if err != nil || whole.JSON200 == nil || whole.JSON200.NextCursor == nil {
				t.Fatalf("first page: %v %s", err, whole.Body)
			}
			unfiltered := whole.JSON200.NextCursor
			bad := []struct {
				name   string
				params gen.ListApplicationParams
			}{
				{"another q", gen.ListApplicationParams{Limit: &one, Cursor: filtered, Q: ptr("desktop")}},
				{"q and a type", gen.ListApplicationParams{Limit: &one, Cursor: filtered, Q: ptr("desk"), Type: typ(gen.Backend)}},
				{"q and a state", gen.ListApplicationParams{Limit: &one, Cursor: filtered, Q: ptr("desk"), State: state(gen.ListApplicationParamsStateEnabled)}},
				{"no filter", gen.ListApplicationParams{Limit: &one, Cursor: filtered}},
				{"an unfiltered cursor with a filter", gen.ListApplicationParams{Limit: &one, Cursor: unfiltered, Type: typ(gen.Public)}},
			}
			for _, b := range bad {
				r, err := c.ListApplicationWithResponse(ctx, &b.params)
				if err != nil || r.StatusCode() != http.StatusBadRequest || r.JSON400 == nil || r.JSON400.Errors == nil || !hasField(*r.JSON400.Errors, "cursor") {
					t.Errorf("%s: %v %d %s, want 400 naming cursor", b.name, err, r.StatusCode(), r.Body)
				}
			}
			for name, p := range map[string]gen.ListApplicationParams{
				"the same filters":             {Limit: &one, Cursor: filtered, Q: ptr("desk")},
				"no filter, unfiltered cursor": {Limit: &one, Cursor: unfiltered},
			} {
				if r, err := c.ListApplicationWithResponse(ctx, &p); err != nil || r.StatusCode() != http.StatusOK {
					t.Errorf("%s: %v %d %s", name, err, r.StatusCode(), r.Body)
				}
			}
		})

		t.Run("unfiltered cursors are as before", func(t *testing.T) {
			one := 1
			r, err := c.ListApplicationWithResponse(ctx, &gen.ListApplicationParams{Limit: &one})
			if err != nil || r.JSON200 == nil || r.JSON200.NextCursor == nil {
				t.Fatalf("first page: %v", err)
			}
			raw, err := base64.RawURLEncoding.DecodeString(*r.JSON200.NextCursor)
			if err != nil {
				t.Fatal(err)
			}
			first := r.JSON200.Applications[0]
			want, _ := json.Marshal(struct {
				T time.Time `json:"t"`
				I string    `json:"i"`
			}{first.CreatedTime.UTC(), first.ID})
			if string(raw) != string(want) {
				t.Errorf("an unfiltered cursor holds %s, want %s", raw, want)
			}
		})
	})
}

// TestListFilterErrorsNameTheField: a bad filter is a 400 in the contract's error shape that
// names the parameter.
func TestListFilterErrorsNameTheField(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *testEnv) {
		token := e.token("acme", "user@acme")
		cases := []struct {
			name, query, field string
		}{
			{"unknown type", "type=spa", "type"},
			{"type in another case", "type=Public", "type"},
			{"empty type", "type=", "type"},
			{"unknown state", "state=deleted", "state"},
			{"state in another case", "state=Enabled", "state"},
			{"empty state", "state=", "state"},
			{"empty q", "q=", "q"},
			{"q too long", "q=" + strings.Repeat("a", 129), "q"},
			{"q of 129 characters, fewer bytes allowed", "q=" + strings.Repeat("%C3%A9", 129), "q"},
			{"q with NUL", "q=a%00b", "q"},
			{"q not UTF-8", "q=%FF%FE", "q"},
			{"a good q with a bad state", "q=desk&state=gone", "state"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				resp, body := e.do(http.MethodGet, "/applications?"+tc.query, token, "", nil)
				var got gen.Error
				if err := json.Unmarshal(body, &got); err != nil || resp.StatusCode != http.StatusBadRequest || got.Errors == nil || !hasField(*got.Errors, tc.field) {
					t.Errorf("%d %s, want 400 naming %s", resp.StatusCode, body, tc.field)
				}
			})
		}
		// The longest q allowed, in characters.
		if resp, body := e.do(http.MethodGet, "/applications?q="+strings.Repeat("%C3%A9", 128), token, "", nil); resp.StatusCode != http.StatusOK {
			t.Errorf("q of 128 characters: %d %s", resp.StatusCode, body)
		}
	})
}

// TestSecretExpiresTimeAnswers: secretExpiresTime, the earliest expiry of the secrets not
// revoked, in the create, view, list and patch answers; a rotation sets it, a revocation
// clears it; PATCH accepts it unchanged and refuses another value, naming it.
func TestSecretExpiresTimeAnswers(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		c := e.client("acme")
		token := e.token("acme", "user@acme")
		created := e.created("acme", confidentialBody())
		if created.SecretExpiresTime != nil {
			t.Errorf("create: secretExpiresTime %v, want absent (the first secret does not expire)", created.SecretExpiresTime)
		}
		id := created.ID
		expires := func(what string) *time.Time {
			t.Helper()
			view, err := c.ViewApplicationWithResponse(ctx, id)
			if err != nil || view.JSON200 == nil {
				t.Fatalf("%s: view: %v", what, err)
			}
			e.checkList(token, []string{id}) // listed exactly as viewed, whole and paged
			for _, q := range []string{"?q=" + id[:6], "?state=enabled&limit=1", "?type=confidential"} {
				raw, _ := e.listRaw("/applications"+q, token)
				if len(raw) != 1 || string(raw[0]) != string(e.viewRaw(id, token)) {
					t.Errorf("%s: listed with %s as %s", what, q, raw)
				}
			}
			return view.JSON200.SecretExpiresTime
		}
		if got := expires("created"); got != nil {
			t.Errorf("created: secretExpiresTime %v, want absent", got)
		}

		rot, err := c.RotateSecretWithResponse(ctx, id, &gen.RotateSecretParams{}, gen.RotateSecretJSONRequestBody{PreviousSecretExpiresIn: ptr(3600)})
		if err != nil || rot.StatusCode() != http.StatusCreated {
			t.Fatalf("rotate: %v %s", err, rot.Body)
		}
		want := e.Clock.Now().Add(time.Hour)
		got := expires("rotated")
		if got == nil || !got.Equal(want) {
			t.Fatalf("rotated: secretExpiresTime %v, want %v (the previous secret's expiry)", got, want)
		}

		patched, err := c.PatchApplicationWithResponse(ctx, id, nil, gen.PatchApplicationJSONRequestBody{Description: ptr("sent back"), SecretExpiresTime: got})
		if err != nil || patched.JSON200 == nil {
			t.Fatalf("patch with the current secretExpiresTime: %v %d %s", err, patched.StatusCode(), patched.Body)
		}
		if p := patched.JSON200.SecretExpiresTime; p == nil || !p.Equal(want) {
			t.Errorf("patch answer: secretExpiresTime %v, want %v", p, want)
		}
		other := want.Add(time.Minute)
		bad, err := c.PatchApplicationWithResponse(ctx, id, nil, gen.PatchApplicationJSONRequestBody{SecretExpiresTime: &other})
		if err != nil || bad.StatusCode() != http.StatusBadRequest || bad.JSON400 == nil || bad.JSON400.Errors == nil || !hasField(*bad.JSON400.Errors, "secretExpiresTime") {
			t.Errorf("patch with another secretExpiresTime: %v %d %s, want 400 naming secretExpiresTime", err, bad.StatusCode(), bad.Body)
		}

		// A new secret with its own, earlier expiry.
		rot2, err := c.RotateSecretWithResponse(ctx, id, &gen.RotateSecretParams{}, gen.RotateSecretJSONRequestBody{ExpiresIn: ptr(600), PreviousSecretExpiresIn: ptr(7200)})
		if err != nil || rot2.StatusCode() != http.StatusCreated {
			t.Fatalf("rotate: %v %s", err, rot2.Body)
		}
		if got, want := expires("rotated with an expiring secret"), e.Clock.Now().Add(10*time.Minute); got == nil || !got.Equal(want) {
			t.Errorf("rotated with an expiring secret: secretExpiresTime %v, want %v", got, want)
		}

		secrets, err := c.ListSecretsWithResponse(ctx, id)
		if err != nil || secrets.JSON200 == nil {
			t.Fatalf("list secrets: %v", err)
		}
		for _, s := range secrets.JSON200.Secrets {
			if s.ExpiresTime != nil && s.SecretID != rot2.JSON201.SecretID {
				if r, err := c.RevokeSecretWithResponse(ctx, id, s.SecretID, nil); err != nil || r.StatusCode() != http.StatusNoContent {
					t.Fatalf("revoke: %v %d %s", err, r.StatusCode(), r.Body)
				}
			}
		}
		if got, want := expires("the older ones revoked"), e.Clock.Now().Add(10*time.Minute); got == nil || !got.Equal(want) {
			t.Errorf("the older ones revoked: secretExpiresTime %v, want %v", got, want)
		}
		rot3, err := c.RotateSecretWithResponse(ctx, id, &gen.RotateSecretParams{}, gen.RotateSecretJSONRequestBody{PreviousSecretExpiresIn: ptr(0)})
		if err != nil || rot3.StatusCode() != http.StatusCreated {
			t.Fatalf("rotate: %v %s", err, rot3.Body)
		}
		if got := expires("rotated, the previous revoked at once"); got != nil {
			t.Errorf("rotated, the previous revoked at once: secretExpiresTime %v, want absent", got)
		}

		public := e.created("acme", gen.CreateApplicationJSONRequestBody{Name: "SPA", Contacts: []string{"a@example.com"}, Type: gen.Public,
			Redirects: ptr([]string{"https://spa.example.com/cb"})})
		if public.SecretExpiresTime != nil {
			t.Errorf("public: secretExpiresTime %v, want absent", public.SecretExpiresTime)
		}
	})
}

// TestCreateWithSecretExpiry: createApplication's secretExpiresIn gives the issued secret
// its expiry (secretExpiresTime, listSecrets); a public application has no secret to expire.
func TestCreateWithSecretExpiry(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		c := e.client("acme")
		body := confidentialBody()
		body.SecretExpiresIn = ptr(3600)
		r, err := c.CreateApplicationWithResponse(ctx, nil, body)
		if err != nil || r.StatusCode() != http.StatusCreated {
			t.Fatalf("create: %v %s", err, r.Body)
		}
		want := e.Clock.Now().Add(time.Hour)
		if got := r.JSON201.SecretExpiresTime; got == nil || !got.Equal(want) {
			t.Errorf("create: secretExpiresTime %v, want %v", got, want)
		}
		secrets, err := c.ListSecretsWithResponse(ctx, r.JSON201.ID)
		if err != nil || secrets.JSON200 == nil || len(secrets.JSON200.Secrets) != 1 {
			t.Fatalf("list secrets: %v %s", err, secrets.Body)
		}
		if got := secrets.JSON200.Secrets[0].ExpiresTime; got == nil || !got.Equal(want) {
			t.Errorf("listSecrets: expiresTime %v, want %v", got, want)
		}

		public := gen.CreateApplicationJSONRequestBody{Name: "SPA", Contacts: []string{"it@example.com"}, Type: gen.Public,
			Redirects: ptr([]string{"https://spa.example.com/callback"}), SecretExpiresIn: ptr(3600)}
		bad, err := c.CreateApplicationWithResponse(ctx, nil, public)
		if err != nil || bad.StatusCode() != http.StatusBadRequest || bad.JSON400 == nil || bad.JSON400.Errors == nil || !hasField(*bad.JSON400.Errors, "secretExpiresIn") {
			t.Fatalf("public with secretExpiresIn: want 400 on secretExpiresIn, got %v %d %s", err, bad.StatusCode(), bad.Body)
		}
	})
}
