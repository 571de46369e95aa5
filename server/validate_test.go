package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/getkin/kin-openapi/openapi3filter"
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

// bodyCase is one request body to the shortcut and to kin-openapi.
type bodyCase struct {
	contentType string
	body        string
	readErr     error // the body's reader fails with it after the bytes (a body over the limit)
}

func (bc bodyCase) request() *http.Request {
	var body io.Reader = strings.NewReader(bc.body)
	if bc.readErr != nil {
		body = io.MultiReader(body, iotest.ErrReader(bc.readErr))
	}
	req := httptest.NewRequest(http.MethodPost, "/", body)
	if bc.body == "" && bc.readErr == nil {
		req.Body = http.NoBody
	}
	if bc.contentType != "" {
		req.Header.Set(echo.HeaderContentType, bc.contentType)
	}
	return req
}

// kinBody is kin-openapi's verdict on req's body for route.
func kinBody(v *validator, r *validatedRoute, req *http.Request) error {
	return openapi3filter.ValidateRequestBody(context.Background(), &openapi3filter.RequestValidationInput{
		Request: req, Route: r.kin, Options: v.opts,
	}, r.kin.Operation.RequestBody.Value)
}

// fastAndKinBody is the shortcut's verdict on bc, and kin-openapi's on the request the
// shortcut left behind and on a fresh one (the two must be the same: the body left behind
// replays the bytes and the read error). When the shortcut accepts, left is what the
// handler's binder would read, and same tells whether the value it validated is kin-openapi's.
func fastAndKinBody(v *validator, r *validatedRoute, bc bodyCase) (fast bool, left []byte, same bool, after, fresh error) {
	req := bc.request()
	fast = r.fastBody.accepts(req)
	var value any
	if fast {
		value = req.Body.(interface{ ValidatedValue() any }).ValidatedValue()
		left, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(left))
	}
	after = kinBody(v, r, req)
	freshReq := bc.request()
	fresh = kinBody(v, r, freshReq)
	if vb, ok := freshReq.Body.(interface{ ValidatedValue() any }); ok && fast {
		same = reflect.DeepEqual(value, vb.ValidatedValue())
	}
	return fast, left, same, after, fresh
}

// bodySamples are the bodies a plain JSON object is tried with, around valid (a valid
// member for each property).
func bodySamples(o *plainObject, valid map[string]string) []bodyCase {
	enc := func(m map[string]any) string {
		b, _ := json.Marshal(m)
		return string(b)
	}
	with := func(name string, value any) string {
		m := map[string]any{}
		for k, v := range valid {
			m[k] = v
		}
		if value == nil {
			delete(m, name)
		} else {
			m[name] = value
		}
		return enc(m)
	}
	base := enc(map[string]any{})
	if len(valid) > 0 {
		base = with("", nil)
	}
	out := []bodyCase{
		{jsonMIME, base, nil},
		{jsonMIME + "; charset=utf-8", base, nil},
		{"text/plain", base, nil},
		{"", base, nil},
		{jsonMIME, "", nil},
		{jsonMIME, "null", nil},
		{jsonMIME, "[]", nil},
		{jsonMIME, "{}", nil},
		{jsonMIME, base + " ", nil},
		{jsonMIME, " \n" + base, nil},
		{jsonMIME, base + "x", nil},
		{jsonMIME, base + base, nil},
		{jsonMIME, base[:len(base)-1], nil},
		{jsonMIME, base, errors.New("request body too large")},
		{jsonMIME, with("unknown", "x"), nil},
		{jsonMIME, with("", nil)[:1] + `"\u00e9":"x",` + with("", nil)[1:], nil},
	}
	for i := range o.props {
		p, name := &o.props[i], o.props[i].name
		out = append(out,
			bodyCase{jsonMIME, with(name, nil), nil},
			bodyCase{jsonMIME, with(strings.ToUpper(name), valid[name]), nil},
			bodyCase{jsonMIME, with(name, 1), nil},
			bodyCase{jsonMIME, with(name, true), nil},
			bodyCase{jsonMIME, with(name, []string{valid[name]}), nil},
			bodyCase{jsonMIME, with(name, map[string]string{}), nil},
			bodyCase{jsonMIME, strings.Replace(with(name, "\x01"), `\u0001`, "\x01", 1), nil},
			bodyCase{jsonMIME, strings.Replace(with(name, "Z\xffZ"), `Z\ufffdZ`, "Z\xffZ", 1), nil},
			bodyCase{jsonMIME, strings.Replace(with(name, "é"), "é", `\u00e9`, 1), nil},
			bodyCase{jsonMIME, base[:1] + `"` + name + `":"x",` + base[1:], nil},        // the name twice, the first one short
			bodyCase{jsonMIME, base[:len(base)-1] + `,"` + name + `":""}`, nil},         // the name twice, the last one empty
			bodyCase{jsonMIME, base[:len(base)-1] + `,"` + name + `":null}`, nil},       // the name twice, the last one null
			bodyCase{jsonMIME, strings.Replace(with(name, "€"), "€", "\u20ac", 1), nil}, // not escaped
			bodyCase{jsonMIME, strings.Replace(with(name, "a\tb"), `\t`, "\t", 1), nil}, // a raw tab in the string
			bodyCase{jsonMIME, strings.Replace(with(name, "a b"), `"a b"`, `'a b'`, 1), nil},
			bodyCase{jsonMIME, strings.Replace(base, ",", " ", 1), nil}, // no comma
			bodyCase{jsonMIME, strings.Replace(base, ",", ",,", 1), nil},
			bodyCase{jsonMIME, strings.Replace(base, "}", ",}", 1), nil},
			bodyCase{jsonMIME, strings.Replace(base, ":", " : ", 1), nil},
			bodyCase{jsonMIME, "\f" + base, nil},
			bodyCase{jsonMIME, "\ufeff" + base, nil},
		)
		for _, s := range samples(p) {
			out = append(out, bodyCase{jsonMIME, with(name, s), nil})
		}
	}
	return out
}

// TestFastBodyAgreesWithKin: whatever the shortcut accepts of a body, kin-openapi accepts,
// for every operation whose body is a plain JSON object; what it does not accept reaches
// kin-openapi unchanged (the same verdict as on a fresh request, read error included); and
// what it accepts reaches the handler unchanged. It also checks the shortcut is used where it
// was built for: verify.
func TestFastBodyAgreesWithKin(t *testing.T) {
	spec, err := Spec()
	if err != nil {
		t.Fatal(err)
	}
	v := newValidator(spec)
	if r := v.routes[routeKey{http.MethodPost, "/internal/clients/:clientId/verify"}]; r == nil || r.fastBody == nil {
		t.Fatal("verify: no shortcut for its body")
	}
	cases, accepted := 0, 0
	for key, r := range v.routes {
		if r.fastBody == nil {
			continue
		}
		valid := map[string]string{}
		for _, p := range r.fastBody.props {
			valid[p.name] = validSample(t, p)
		}
		for i, bc := range bodySamples(r.fastBody, valid) {
			cases++
			fast, left, same, after, fresh := fastAndKinBody(v, r, bc)
			if fast {
				accepted++
				if after != nil || fresh != nil {
					t.Errorf("%v case %d %q: the shortcut accepts, kin-openapi refuses: %v", key, i, bc.body, fresh)
				}
				if string(left) != bc.body {
					t.Errorf("%v case %d: the handler would read %q, not %q", key, i, left, bc.body)
				}
				if !same {
					t.Errorf("%v case %d %q: the value the shortcut validated is not kin-openapi's", key, i, bc.body)
				}
				continue
			}
			if (after == nil) != (fresh == nil) || after != nil && after.Error() != fresh.Error() {
				t.Errorf("%v case %d %q: kin-openapi after the shortcut says %v, on the request as sent %v", key, i, bc.body, after, fresh)
			}
		}
		if fast, _, _, _, _ := fastAndKinBody(v, r, bodySamples(r.fastBody, valid)[0]); !fast {
			t.Errorf("%v: the shortcut refuses a valid body", key)
		}
	}
	if accepted == 0 || accepted == cases {
		t.Errorf("%d of %d bodies accepted by the shortcut: the samples do not exercise it", accepted, cases)
	}
	t.Logf("%d bodies, %d accepted by the shortcut", cases, accepted)
}

// FuzzFastBody: on verify's body, the shortcut never accepts what kin-openapi refuses, and
// what it refuses reaches kin-openapi as sent.
func FuzzFastBody(f *testing.F) {
	spec, err := Spec()
	if err != nil {
		f.Fatal(err)
	}
	v := newValidator(spec)
	r := v.routes[routeKey{http.MethodPost, "/internal/clients/:clientId/verify"}]
	for _, s := range []string{`{"secret":"s3cret","tenantId":"acme"}`, `{"secret":"a"}`, `{"secret":"é","tenantId":"t","x":1}`, `null`, `{"Secret":"a","tenantId":"b"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		fast, left, same, after, fresh := fastAndKinBody(v, r, bodyCase{contentType: jsonMIME, body: body})
		switch {
		case fast && (after != nil || fresh != nil):
			t.Errorf("%q: the shortcut accepts, kin-openapi refuses: %v", body, fresh)
		case fast && string(left) != body:
			t.Errorf("%q: the handler would read %q", body, left)
		case fast && !same:
			t.Errorf("%q: the value the shortcut validated is not kin-openapi's", body)
		case !fast && ((after == nil) != (fresh == nil) || after != nil && after.Error() != fresh.Error()):
			t.Errorf("%q: kin-openapi after the shortcut says %v, on the body as sent %v", body, after, fresh)
		}
	})
}

// BenchmarkVerifyBody: verify's body through the shortcut and through kin-openapi.
func BenchmarkVerifyBody(b *testing.B) {
	spec, err := Spec()
	if err != nil {
		b.Fatal(err)
	}
	v := newValidator(spec)
	r := v.routes[routeKey{http.MethodPost, "/internal/clients/:clientId/verify"}]
	bc := bodyCase{contentType: jsonMIME, body: `{"secret":"Xq2mJ4c0d9vQ7pL1sT8wY3eR6uI5oA0bN2kH4gF7jZc","tenantId":"11eb-tenant-acme"}`}
	req := bc.request()
	next := func() *http.Request {
		req.Body = io.NopCloser(strings.NewReader(bc.body))
		return req
	}
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !r.fastBody.accepts(next()) {
				b.Fatal("refused")
			}
		}
	})
	b.Run("kin", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := kinBody(v, r, next()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
