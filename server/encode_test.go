package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/cxone/appreg/gen"
	"github.com/cxone/appreg/server/lookup"
	"github.com/cxone/appreg/store"
)

// awkwardStrings are strings whose JSON encoding has a special case.
var awkwardStrings = []string{
	"", "plain", "https://app.example.com/cb?a=1&b=<2>", `quote " and \ backslash`,
	"\b\f\n\r\t\x00\x01\x1f\x7f", "é ü 日本 🙂", "\u2028 \u2029", "\xff\xfe bad \xc3", "a\xe2\x80",
	"ops@example.com", strings.Repeat("x", 300),
}

var awkwardTimes = []time.Time{
	time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC),
	time.Date(2025, 3, 4, 5, 6, 7, 123_456_000, time.UTC),
	time.Date(1999, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
	time.Date(2025, 3, 4, 5, 6, 7, 1, time.FixedZone("X", -7*3600-30*60)),
	{},
}

// fill sets every field of the value v points to, recursively, from r: strings from
// awkwardStrings, pointers and lists sometimes nil. A field of a kind it does not know fails
// the test, so a new kind of field in the contract is noticed here.
func fill(t *testing.T, r *rand.Rand, v reflect.Value) {
	t.Helper()
	switch {
	case v.Type() == reflect.TypeFor[time.Time]():
		v.Set(reflect.ValueOf(awkwardTimes[r.IntN(len(awkwardTimes))]))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(awkwardStrings[r.IntN(len(awkwardStrings))])
	case reflect.Bool:
		v.SetBool(r.IntN(2) == 1)
	case reflect.Int:
		v.SetInt([]int64{0, 200, 404, 503, -1, 1 << 40}[r.IntN(6)])
	case reflect.Pointer:
		if r.IntN(3) == 0 {
			v.SetZero()
			return
		}
		v.Set(reflect.New(v.Type().Elem()))
		fill(t, r, v.Elem())
	case reflect.Slice:
		switch n := r.IntN(5); n {
		case 0:
			v.SetZero()
		default:
			v.Set(reflect.MakeSlice(v.Type(), n-1, n-1))
			for i := range n - 1 {
				fill(t, r, v.Index(i))
			}
		}
	case reflect.Struct:
		for i := range v.NumField() {
			fill(t, r, v.Field(i))
		}
	default:
		t.Fatalf("fill: a field of kind %s (%s): teach appendApplication and this test", v.Kind(), v.Type())
	}
}

// TestAppendIsEncodingJSON encodes each type with every field set, unset and awkward, and
// checks the bytes equal encoding/json's.
func TestAppendIsEncodingJSON(t *testing.T) {
	cases := []struct {
		name   string
		value  func() any // a pointer to a new zero value
		append func(v any) ([]byte, error)
	}{
		{"Application", func() any { return new(gen.Application) },
			func(v any) ([]byte, error) { return appendApplication(nil, v.(*gen.Application)) }},
		{"ApplicationList", func() any { return new(gen.ApplicationList) },
			func(v any) ([]byte, error) {
				l, err := encodeList(v.(*gen.ApplicationList))
				if err != nil {
					return nil, err
				}
				return l.appendJSON(nil)
			}},
		{"ClientPolicy", func() any { return new(gen.ClientPolicy) },
			func(v any) ([]byte, error) { return appendClientPolicy(nil, v.(*gen.ClientPolicy)), nil }},
		{"VerifyResult", func() any { return new(gen.VerifyResult) },
			func(v any) ([]byte, error) { return appendVerifyResult(nil, v.(*gen.VerifyResult)), nil }},
		{"Error", func() any { return new(gen.Error) },
			func(v any) ([]byte, error) { return appendProblem(nil, v.(*gen.Error)), nil }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			for i := range 2000 {
				v := tc.value()
				fill(t, r, reflect.ValueOf(v).Elem())
				want, err := json.Marshal(v)
				if err != nil {
					t.Fatal(err)
				}
				got, err := tc.append(v)
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("case %d: ours =\n%s, %v\nencoding/json =\n%s", i, got, err, want)
				}
			}
		})
	}
}

// encodeList is l as Server.list answers it: each application encoded by appendApplication.
func encodeList(l *gen.ApplicationList) (applicationList, error) {
	out := applicationList{nextCursor: l.NextCursor}
	if l.Applications != nil {
		out.apps = make([]listedApp, len(l.Applications))
	}
	for i := range l.Applications {
		var err error
		if out.apps[i].json, err = appendApplication(nil, &l.Applications[i]); err != nil {
			return applicationList{}, err
		}
	}
	return out, nil
}

// TestAppendApplicationOutOfRangeTime: a time encoding/json refuses is refused here too.
func TestAppendApplicationOutOfRangeTime(t *testing.T) {
	for _, tm := range []time.Time{time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)} {
		a := gen.Application{CreatedTime: tm}
		if _, err := json.Marshal(a); err == nil {
			t.Fatalf("encoding/json accepts %v", tm)
		}
		if _, err := appendApplication(nil, &a); err == nil {
			t.Errorf("appendApplication accepts %v", tm)
		}
	}
}

// TestVisitMatchesGenerated: the answers write the same status, headers and body as the
// generated response types they replace, and a Content-Length.
func TestVisitMatchesGenerated(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var a gen.Application
	fill(t, r, reflect.ValueOf(&a).Elem())
	a.CreatedTime, a.LastModifiedTime = awkwardTimes[1], awkwardTimes[2]
	a.LastUsedTime, a.ScheduledDeletionTime = nil, nil
	etag := `"7"`
	cursor := "next"
	list := gen.ApplicationList{Applications: []gen.Application{a, a}, NextCursor: &cursor}

	cases := []struct {
		name      string
		ours, gen func(w *httptest.ResponseRecorder) error
	}{
		{"view",
			func(w *httptest.ResponseRecorder) error {
				return viewApplicationResponse{app: a, etag: etag}.VisitViewApplicationResponse(w)
			},
			func(w *httptest.ResponseRecorder) error {
				return gen.ViewApplication200JSONResponse{Body: a, Headers: gen.ViewApplication200ResponseHeaders{ETag: &etag}}.VisitViewApplicationResponse(w)
			}},
		{"list",
			func(w *httptest.ResponseRecorder) error {
				l, err := encodeList(&list)
				if err != nil {
					return err
				}
				return l.VisitListApplicationResponse(w)
			},
			func(w *httptest.ResponseRecorder) error {
				return gen.ListApplication200JSONResponse(list).VisitListApplicationResponse(w)
			}},
	}
	var p gen.ClientPolicy
	fill(t, r, reflect.ValueOf(&p).Elem())
	reason := gen.VerifyResultReasonWrongSecret
	maxAge := "max-age=7"
	cases = append(cases, []struct {
		name      string
		ours, gen func(w *httptest.ResponseRecorder) error
	}{
		{"verify",
			func(w *httptest.ResponseRecorder) error {
				return verifyClientSecretResponse{Valid: true, Policy: &p}.VisitVerifyClientSecretResponse(w)
			},
			func(w *httptest.ResponseRecorder) error {
				return gen.VerifyClientSecret200JSONResponse{Valid: true, Policy: &p}.VisitVerifyClientSecretResponse(w)
			}},
		{"cors allowed",
			func(w *httptest.ResponseRecorder) error {
				return corsAnswer{allowed: true, cacheControl: []string{"max-age=7"}}.VisitCheckCORSOriginResponse(w)
			},
			func(w *httptest.ResponseRecorder) error {
				return gen.CheckCORSOrigin200JSONResponse{Body: gen.CORSResult{Allowed: true}, Headers: gen.CheckCORSOrigin200ResponseHeaders{CacheControl: &maxAge}}.VisitCheckCORSOriginResponse(w)
			}},
		{"cors refused",
			func(w *httptest.ResponseRecorder) error {
				return corsAnswer{allowed: false, cacheControl: []string{"max-age=7"}}.VisitCheckCORSOriginResponse(w)
			},
			func(w *httptest.ResponseRecorder) error {
				return gen.CheckCORSOrigin200JSONResponse{Body: gen.CORSResult{Allowed: false}, Headers: gen.CheckCORSOrigin200ResponseHeaders{CacheControl: &maxAge}}.VisitCheckCORSOriginResponse(w)
			}},
		{"verify refused",
			func(w *httptest.ResponseRecorder) error {
				return verifyClientSecretResponse{Reason: &reason}.VisitVerifyClientSecretResponse(w)
			},
			func(w *httptest.ResponseRecorder) error {
				return gen.VerifyClientSecret200JSONResponse{Reason: &reason}.VisitVerifyClientSecretResponse(w)
			}},
	}...)
	for _, tc := range cases {
		sameAnswer(t, tc.name, tc.ours, tc.gen)
	}
}

// sameAnswer checks that ours writes what the generated code writes, with a right
// Content-Length besides.
func sameAnswer(t *testing.T, name string, ours, gen func(w *httptest.ResponseRecorder) error) {
	t.Helper()
	o, g := httptest.NewRecorder(), httptest.NewRecorder()
	if err := ours(o); err != nil {
		t.Fatal(err)
	}
	if err := gen(g); err != nil {
		t.Fatal(err)
	}
	if got, want := o.Header().Get("Content-Length"), strconv.Itoa(o.Body.Len()); got != want {
		t.Errorf("%s: Content-Length %q, want %s", name, got, want)
	}
	o.Header().Del("Content-Length") // the one header the generated types leave out
	if o.Code != g.Code || !reflect.DeepEqual(o.Header(), g.Header()) || !bytes.Equal(o.Body.Bytes(), g.Body.Bytes()) {
		t.Errorf("%s: ours %d %v\n%s\ngenerated %d %v\n%s", name, o.Code, o.Header(), o.Body, g.Code, g.Header(), g.Body)
	}
}

// TestCachedPolicyIsPolicyOf: the lookup's and a valid verify's answers from a cached
// client's memo are, byte for byte, what the generated code writes of policyOf, for every
// kind of client, the owner tenant and another asking, the memo cold and warm.
func TestCachedPolicyIsPolicyOf(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	pick := func(l ...string) string { return l[r.IntN(len(l))] }
	list := func() []string {
		switch r.IntN(3) {
		case 0:
			return nil
		case 1:
			return []string{}
		}
		return []string{pick(awkwardStrings...), pick(awkwardStrings...)}
	}
	for i := range 400 {
		a := store.Application{
			ID: pick(awkwardStrings...), TenantID: pick("acme", "globex", awkwardStrings[3]),
			Type:    pick(string(gen.Public), string(gen.Confidential), string(gen.Backend)),
			Tenancy: pick(string(gen.Single), string(gen.All)), TenancyApproval: pick("", "pending", "approved", "rejected"),
			Redirects: list(), Origins: list(), Logouts: list(),
			AuthMethod:   pick("", "client_secret_basic", "client_secret_post", "private_key_jwt", "none"),
			JWKSEndpoint: pick("", "https://keys.example.com/jwks", awkwardStrings[4]), Scope: pick(awkwardStrings...),
			Enabled: r.IntN(2) == 0,
		}
		if r.IntN(4) == 0 {
			at := awkwardTimes[0]
			a.ScheduledDeletionTime = &at
		}
		c := &lookup.Client{App: a}
		for _, tenant := range []string{"acme", "globex"} {
			want := policyOf(&a, tenant)
			for _, memo := range []string{"cold", "warm"} {
				name := fmt.Sprintf("client %d asked by %s, memo %s", i, tenant, memo)
				sameAnswer(t, "lookup: "+name,
					func(w *httptest.ResponseRecorder) error {
						return cachedPolicy{client: c, allowed: allowedForTenant(&a, tenant)}.VisitLookupClientResponse(w)
					},
					func(w *httptest.ResponseRecorder) error {
						return gen.LookupClient200JSONResponse(want).VisitLookupClientResponse(w)
					})
				if !want.AllowedForTenant {
					continue
				}
				sameAnswer(t, "verify: "+name,
					func(w *httptest.ResponseRecorder) error {
						return cachedPolicy{client: c, allowed: true}.VisitVerifyClientSecretResponse(w)
					},
					func(w *httptest.ResponseRecorder) error {
						return gen.VerifyClientSecret200JSONResponse{Valid: true, Policy: &want}.VisitVerifyClientSecretResponse(w)
					})
			}
		}
	}
}

// FuzzAppendJSONString checks appendJSONString against encoding/json on any string.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range awkwardStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Errorf("appendJSONString(%q) = %s, encoding/json %s", s, got, want)
		}
	})
}

// TestAppendSecretExpiresTime: secretExpiresTime, absent or with each kind of time, is
// encoded as encoding/json encodes it, in its place among the fields.
func TestAppendSecretExpiresTime(t *testing.T) {
	cases := []struct {
		name string
		at   *time.Time
	}{{"absent", nil}}
	for i, tm := range awkwardTimes {
		cases = append(cases, struct {
			name string
			at   *time.Time
		}{fmt.Sprintf("time %d", i), &tm})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := gen.Application{Name: "n", Scope: "openid", Tenancy: gen.Single, SecretExpiresTime: tc.at,
				ScheduledDeletionTime: tc.at}
			want, err := json.Marshal(&a)
			if err != nil {
				t.Fatal(err)
			}
			got, err := appendApplication(nil, &a)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("ours =\n%s, %v\nencoding/json =\n%s", got, err, want)
			}
			if has := bytes.Contains(got, []byte(`"secretExpiresTime":`)); has != (tc.at != nil) {
				t.Errorf("secretExpiresTime present %v, want %v", has, tc.at != nil)
			}
		})
	}
}

// TestProblemAnswerIsEchoJSON: an error answer written by writeProblemJSON is, headers and
// bytes, what echo's c.JSON writes of it (the path every error took before).
func TestProblemAnswerIsEchoJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	e := echo.New()
	for i := range 300 {
		var p gen.Error
		fill(t, r, reflect.ValueOf(&p).Elem())
		ours, theirs := httptest.NewRecorder(), httptest.NewRecorder()
		code := 400 + i%104
		if err := writeProblemJSON(ours, code, &p); err != nil {
			t.Fatal(err)
		}
		c := e.NewContext(httptest.NewRequest(http.MethodGet, "/", nil), theirs)
		if err := c.JSON(code, p); err != nil {
			t.Fatal(err)
		}
		if got, want := ours.Header().Get("Content-Length"), strconv.Itoa(ours.Body.Len()); got != want {
			t.Errorf("case %d: Content-Length %q, want %s", i, got, want)
		}
		ours.Header().Del("Content-Length")
		if ours.Code != theirs.Code || !reflect.DeepEqual(ours.Header(), theirs.Header()) || !bytes.Equal(ours.Body.Bytes(), theirs.Body.Bytes()) {
			t.Fatalf("case %d: ours %d %v\n%s\necho %d %v\n%s", i, ours.Code, ours.Header(), ours.Body, theirs.Code, theirs.Header(), theirs.Body)
		}
	}
}
