package server

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

// fastCase is one request to the shortcut and to kin-openapi: a value for each plain
// parameter of a route (absent when missing).
type fastCase struct {
	route   routeKey
	values  map[string]string
	missing map[string]bool
}

// kinAndFast is the shortcut's verdict and kin-openapi's on the parameters of one request
// (kin-openapi without the body: the shortcut leaves the body to it).
func kinAndFast(t testing.TB, v *validator, fc fastCase) (fast bool, kinErr error) {
	t.Helper()
	r := v.routes[fc.route]
	path := fc.route.path
	query := url.Values{}
	var names, values []string
	for _, p := range r.fast {
		val, missing := fc.values[p.name], fc.missing[p.name]
		if p.inPath {
			names = append(names, p.name)
			values = append(values, url.PathEscape(val))
			path = strings.Replace(path, ":"+p.name, url.PathEscape(val), 1)
			continue
		}
		if !missing {
			query.Set(p.name, val)
		}
	}
	req := httptest.NewRequest(fc.route.method, "/", nil)
	req.URL.Path, req.URL.RawQuery = path, query.Encode()
	c := echo.New().NewContext(req, httptest.NewRecorder())
	c.SetPath(fc.route.path)
	c.SetParamNames(names...)
	c.SetParamValues(values...)
	fast = r.fastParamsOK(c)
	opts := *v.opts
	opts.ExcludeRequestBody = true
	kin := &validator{opts: &opts}
	return fast, kin.validate(c, r.kin)
}

// samples are values a parameter is tried with: around its lengths, its pattern and its
// enum, and the characters an attacker sends.
func samples(p *plainString) []string {
	out := []string{"", "a", "A", "0", "a-b_c.d~e", "6f1c8a52-7f0e-4a54-9a43-2b1d0f3c9e11", "a b", "a/b", "a%2Fb",
		"a?b", "é", "日本", "\x00", "a\nb", "\xff", "https://desktop.example.com", "null", "acme", "🙂"}
	for _, n := range []int{p.min - 1, p.min, p.min + 1, p.max - 1, p.max, p.max + 1} {
		if n > 0 {
			out = append(out, strings.Repeat("a", n), strings.Repeat("é", n), "b"+strings.Repeat("é", n-1))
		}
	}
	for _, e := range p.enum {
		out = append(out, e, e+"x", strings.ToUpper(e))
	}
	return out
}

// TestFastParamsAgreeWithKin: whatever the shortcut accepts, kin-openapi accepts, for every
// plain parameter of every operation of the spec, alone and missing. (What the shortcut
// refuses goes to kin-openapi anyway.) It also checks the shortcut is used where it was
// built for: the lookup path's operations.
func TestFastParamsAgreeWithKin(t *testing.T) {
	spec, err := Spec()
	if err != nil {
		t.Fatal(err)
	}
	v := newValidator(spec)
	for _, key := range []routeKey{
		{http.MethodGet, "/internal/clients/:clientId"},
		{http.MethodPost, "/internal/clients/:clientId/verify"},
		{http.MethodGet, "/internal/cors"},
		{http.MethodGet, "/applications/:applicationId"},
	} {
		if r := v.routes[key]; r == nil || r.fast == nil {
			t.Errorf("%v: no shortcut", key)
		}
	}
	var keys []routeKey
	for k, r := range v.routes {
		if r.fast != nil {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].path+keys[i].method < keys[j].path+keys[j].method })
	cases, accepted := 0, 0
	for _, key := range keys {
		r := v.routes[key]
		base := map[string]string{}
		for _, p := range r.fast {
			base[p.name] = validSample(t, p)
		}
		try := func(values map[string]string, missing map[string]bool) {
			cases++
			fast, kinErr := kinAndFast(t, v, fastCase{route: key, values: values, missing: missing})
			if fast {
				accepted++
				if kinErr != nil {
					t.Errorf("%s %s %q (missing %v): the shortcut accepts, kin-openapi refuses: %v", key.method, key.path, values, missing, kinErr)
				}
			}
		}
		try(base, nil)
		for _, p := range r.fast {
			for _, s := range samples(&p) {
				values := map[string]string{}
				for k, val := range base {
					values[k] = val
				}
				values[p.name] = s
				try(values, nil)
			}
			if !p.inPath {
				try(base, map[string]bool{p.name: true})
			}
		}
	}
	if accepted == 0 || accepted == cases {
		t.Errorf("%d of %d cases accepted by the shortcut: the samples do not exercise it", accepted, cases)
	}
	t.Logf("%d operations with the shortcut, %d cases, %d accepted by it", len(keys), cases, accepted)
}

// validSample is a value the parameter's check accepts.
func validSample(t *testing.T, p plainString) string {
	for _, s := range samples(&p) {
		if p.accepts(s, true) {
			return s
		}
	}
	t.Fatalf("no sample accepted for %s", p.name)
	return ""
}

// FuzzFastParams: on the lookup's and the CORS check's parameters, the shortcut never
// accepts what kin-openapi refuses.
func FuzzFastParams(f *testing.F) {
	spec, err := Spec()
	if err != nil {
		f.Fatal(err)
	}
	v := newValidator(spec)
	for _, s := range []string{"6f1c8a52-7f0e-4a54-9a43-2b1d0f3c9e11", "acme", "https://a.example", "", "é", "a b"} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		for _, fc := range []fastCase{
			{route: routeKey{http.MethodGet, "/internal/clients/:clientId"}, values: map[string]string{"clientId": a, "tenantId": b}},
			{route: routeKey{http.MethodGet, "/internal/cors"}, values: map[string]string{"origin": a, "tenantId": b}},
		} {
			if fast, kinErr := kinAndFast(t, v, fc); fast && kinErr != nil {
				t.Errorf("%v %q: the shortcut accepts, kin-openapi refuses: %v", fc.route, fc.values, kinErr)
			}
		}
	})
}

// TestASCIIClassPlus: the table stands for the pattern exactly, and only that shape of
// pattern gets one.
func TestASCIIClassPlus(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		table   bool
	}{
		{`^[A-Za-z0-9._~-]+$`, true},
		{`^[a-z]+$`, true},
		{`^[a-z]*$`, false},
		{`[a-z]+`, false},
		{`^[a-zé]+$`, false},
		{`^[^a-z]+$`, false},
		{`^[a-z]+\z`, true},
		{`^(?m)[a-z]+$`, false},
		{`^https?://`, false},
	} {
		table := asciiClassPlus(tc.pattern)
		if (table != nil) != tc.table {
			t.Errorf("%s: table %v, want %v", tc.pattern, table != nil, tc.table)
			continue
		}
		if table == nil {
			continue
		}
		re := regexp.MustCompile(tc.pattern)
		for _, s := range []string{"", "a", "abc", "A", "Z9", "a.b~c-d_e", "a b", "é", "a\n", "\x00", "a/b", "日", "-"} {
			p := plainString{pattern: re, bytes: table, max: -1}
			got := s != "" && p.accepts(s, true)
			if want := re.MatchString(s); got != want {
				t.Errorf("%s on %q: table says %v, regexp %v", tc.pattern, s, got, want)
			}
		}
	}
}
