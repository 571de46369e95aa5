package server

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/labstack/echo/v4"
)

// validator checks every API request against the operation of openapi.yaml
// that echo routed it to: each operation's route is given its own check at start
// (Server.operation), instead of a second, regex-based router on every request.
//
// The operations it validates against carry no security requirements: the
// authenticate middleware has already verified the bearer token, so
// kin-openapi's own (no-op) check would only cost time on every call.
//
// kin-openapi decides every request, with one shortcut measured on the lookup path (issue
// 15: its parameter validation was a third of the lookup's time in process): when every
// parameter of an operation is a plain string in the path or the query (a length, a
// pattern, an enum; see plainString), the parameters are checked here first, and a request
// whose parameters all pass goes on (its body, if any, still validated by kin-openapi). A
// request that fails any check here is validated again by kin-openapi, whose verdict and
// error are the answer: the shortcut can only accept what kin-openapi accepts
// (TestFastParamsAgreeWithKin checks it on every plain parameter of the spec), never word
// an error.
type validator struct {
	routes map[routeKey]*validatedRoute
	opts   *openapi3filter.Options
}

type routeKey struct{ method, path string }

// validatedRoute is one operation: kin-openapi's route and, when every parameter is plain,
// the shortcut's checks (fast is nil otherwise).
type validatedRoute struct {
	kin  *routers.Route
	fast []plainString
}

func newValidator(spec *openapi3.T) *validator {
	v := &validator{
		routes: map[routeKey]*validatedRoute{},
		opts: &openapi3filter.Options{
			AuthenticationFunc:  openapi3filter.NoopAuthenticationFunc,
			MultiError:          true,
			SkipSettingDefaults: true,
			KeepValidatedValue:  true,
		},
	}
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			unsecured := *op
			unsecured.Security = &openapi3.SecurityRequirements{}
			r := &validatedRoute{kin: &routers.Route{
				Spec: spec, Path: path, PathItem: item, Method: method, Operation: &unsecured,
			}}
			if strings.HasPrefix(spec.OpenAPI, "3.0.") {
				r.fast = plainParams(item.Parameters, op.Parameters)
			}
			v.routes[routeKey{method, echoPath(path)}] = r
		}
	}
	return v
}

// echoPath turns /applications/{applicationId} into echo's /applications/:applicationId.
func echoPath(path string) string {
	var b strings.Builder
	for {
		open := strings.IndexByte(path, '{')
		if open < 0 {
			b.WriteString(path)
			return b.String()
		}
		end := strings.IndexByte(path[open:], '}')
		if end < 0 {
			b.WriteString(path)
			return b.String()
		}
		b.WriteString(path[:open])
		b.WriteByte(':')
		b.WriteString(path[open+1 : open+end])
		path = path[open+end+1:]
	}
}

// check is the validation of route's requests in front of next.
func (v *validator) check(route *validatedRoute, next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if route.fast != nil && route.fastParamsOK(c) {
			body := route.kin.Operation.RequestBody
			if body == nil {
				return next(c)
			}
			err := openapi3filter.ValidateRequestBody(context.Background(), &openapi3filter.RequestValidationInput{
				Request: c.Request(), Route: route.kin, Options: v.opts,
			}, body.Value)
			if err != nil {
				return &echo.HTTPError{Code: http.StatusBadRequest, Message: "invalid request", Internal: openapi3.MultiError{err}}
			}
			return next(c)
		}
		if err := v.validate(c, route.kin); err != nil {
			return &echo.HTTPError{Code: http.StatusBadRequest, Message: "invalid request", Internal: err}
		}
		return next(c)
	}
}

// validate is kin-openapi's verdict on the request of c.
func (v *validator) validate(c echo.Context, route *routers.Route) error {
	names, values := c.ParamNames(), c.ParamValues()
	params := make(map[string]string, len(names))
	for i, name := range names {
		params[name] = pathParam(values[i])
	}
	return openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{
		Request: c.Request(), PathParams: params, Route: route, Options: v.opts,
		// Echo's parse of the query, which the generated binder reads too.
		QueryParams: c.QueryParams(),
	})
}

// pathParam is a path parameter as kin-openapi is given it: unescaped when it can be.
func pathParam(raw string) string {
	if strings.IndexByte(raw, '%') < 0 {
		return raw
	}
	if u, err := url.PathUnescape(raw); err == nil {
		return u
	}
	return raw
}

// fastParamsOK reports whether every parameter of c's request passes the shortcut's checks.
func (r *validatedRoute) fastParamsOK(c echo.Context) bool {
	var query url.Values
	for i := range r.fast {
		p := &r.fast[i]
		var (
			value string
			found bool
		)
		if p.inPath {
			value, found = pathParam(c.Param(p.name)), true
		} else {
			if query == nil {
				query = c.QueryParams()
			}
			var values []string
			values, found = query[p.name]
			if len(values) > 0 {
				value = values[0] // as kin-openapi reads a form-style primitive
			}
		}
		if !p.accepts(value, found) {
			return false
		}
	}
	return true
}

// plainString is the check of a parameter whose schema is a string with at most a length,
// a pattern and an enum: the only schemas whose kin-openapi verdict the shortcut repeats.
type plainString struct {
	name     string
	inPath   bool
	required bool
	min      int // runes
	max      int // runes; -1: no maximum
	pattern  *regexp.Regexp
	// bytes, when the pattern is ^[class]+$ of ASCII characters (the ids' pattern), is that
	// class as a table: a match is a loop over the bytes, without the regexp machine.
	bytes *[256]bool
	enum  []string
}

// accepts reports whether kin-openapi certainly accepts value (found: the parameter was
// sent). An empty value is left to kin-openapi, which has its own rules for it.
func (p *plainString) accepts(value string, found bool) bool {
	if !found {
		return !p.required
	}
	if value == "" {
		return false
	}
	if p.min > 0 || p.max >= 0 {
		n := len(value) // bytes: runes only when there are more bytes than the maximum
		if p.max >= 0 && n > p.max {
			n = utf8.RuneCountInString(value)
		}
		if n < p.min || p.max >= 0 && n > p.max {
			return false
		}
	}
	if p.enum != nil && !contains(p.enum, value) {
		return false
	}
	if p.bytes != nil {
		for i := 0; i < len(value); i++ {
			if !p.bytes[value[i]] {
				return false
			}
		}
		return true
	}
	return p.pattern == nil || p.pattern.MatchString(value)
}

// asciiClassPlus is the table of the pattern ^[class]+$ when class holds ASCII characters
// only, or nil for any other pattern.
func asciiClassPlus(pattern string) *[256]bool {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil
	}
	re = re.Simplify()
	if re.Op != syntax.OpConcat || len(re.Sub) != 3 || re.Sub[0].Op != syntax.OpBeginText ||
		re.Sub[2].Op != syntax.OpEndText || re.Sub[1].Op != syntax.OpPlus || re.Sub[1].Sub[0].Op != syntax.OpCharClass {
		return nil
	}
	var table [256]bool
	ranges := re.Sub[1].Sub[0].Rune
	for i := 0; i+1 < len(ranges); i += 2 {
		if ranges[i+1] >= utf8.RuneSelf {
			return nil
		}
		for r := ranges[i]; r <= ranges[i+1]; r++ {
			table[r] = true
		}
	}
	return &table
}

func contains(l []string, s string) bool {
	for _, e := range l {
		if e == s {
			return true
		}
	}
	return false
}

// plainParams are the shortcut's checks of an operation's parameters (the path item's,
// unless the operation's own override them), or nil when any of them is not plain.
func plainParams(pathItem, op openapi3.Parameters) []plainString {
	var checks []plainString
	add := func(ref *openapi3.ParameterRef) bool {
		p, ok := plainParam(ref)
		if ok {
			checks = append(checks, p)
		}
		return ok
	}
	for _, ref := range pathItem {
		if ref.Value != nil && op.GetByInAndName(ref.Value.In, ref.Value.Name) != nil {
			continue
		}
		if !add(ref) {
			return nil
		}
	}
	for _, ref := range op {
		if !add(ref) {
			return nil
		}
	}
	if checks == nil {
		checks = []plainString{} // no parameters: nothing to check, still the shortcut
	}
	return checks
}

// plainParam is the check of one parameter, if it is plain: in the path or the query, in
// its default style, without content or allowEmptyValue, and with a schema that is only a
// string type, lengths, a pattern kin-openapi compiles as Go does, and string enum values.
func plainParam(ref *openapi3.ParameterRef) (plainString, bool) {
	p := ref.Value
	if p == nil || p.Content != nil || p.Schema == nil || p.Schema.Value == nil || p.AllowEmptyValue ||
		p.Style != "" || p.Explode != nil {
		return plainString{}, false
	}
	if p.In != openapi3.ParameterInPath && p.In != openapi3.ParameterInQuery {
		return plainString{}, false
	}
	s := p.Schema.Value
	bare := *s
	bare.Extensions, bare.Description, bare.Example, bare.Title = nil, "", nil, ""
	bare.MinLength, bare.MaxLength, bare.Pattern, bare.Enum = 0, nil, "", nil
	bare.Type = nil
	if !s.Type.Is(openapi3.TypeString) || !bare.IsEmpty() || s.OneOf != nil || s.AnyOf != nil || s.AllOf != nil {
		return plainString{}, false
	}
	check := plainString{name: p.Name, inPath: p.In == openapi3.ParameterInPath, required: p.Required,
		min: int(s.MinLength), max: -1}
	if s.MaxLength != nil {
		check.max = int(*s.MaxLength)
	}
	if s.Pattern != "" {
		re, err := regexp.Compile(s.Pattern)
		if err != nil || re.String() != s.Pattern || strings.Contains(s.Pattern, `\u`) {
			return plainString{}, false // kin-openapi rewrites \uXXXX: leave such patterns to it
		}
		check.pattern, check.bytes = re, asciiClassPlus(s.Pattern)
	}
	for _, e := range s.Enum {
		str, ok := e.(string)
		if !ok {
			return plainString{}, false
		}
		check.enum = append(check.enum, str)
	}
	return check, true
}
