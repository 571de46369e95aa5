package server

import (
	"bytes"
	"context"
	"io"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/labstack/echo/v4"
	"github.com/valyala/fastjson"
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
// 15: its parameter validation was a third of the lookup's time in process, and its body
// validation a sixth of a verify's CPU on the wire): when every parameter of an operation is
// a plain string in the path or the query (a length, a pattern, an enum; see plainString),
// the parameters are checked here first, and a request whose parameters all pass goes on;
// its body, if any, is checked here too when it is a plain JSON object (see plainObject:
// verify's {secret, tenantId}), else by kin-openapi. A request that fails any check here is
// validated again by kin-openapi, whose verdict and error are the answer: the shortcut can
// only accept what kin-openapi accepts (TestFastParamsAgreeWithKin and
// TestFastBodyAgreesWithKin check it on every plain parameter and body of the spec;
// FuzzFastParams and FuzzFastBody keep trying), never word an error.
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
	// fastBody, when the operation's body is a plain JSON object (see plainObject), checks
	// it the same way; nil otherwise.
	fastBody *plainObject
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
				r.fastBody = plainJSONBody(op.RequestBody)
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
			if body == nil || route.fastBody != nil && route.fastBody.accepts(c.Request()) {
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

// paramSource is where the shortcut reads a request's parameters: echo's context, or the hot
// path's request (hotRequest), which is also a queryCounter.
type paramSource interface {
	Param(name string) string
	QueryParams() url.Values
}

// queryCounter is a paramSource that reads a query parameter without a url.Values: its first
// value and how many times it was sent, as url.ParseQuery would have them.
type queryCounter interface {
	queryValue(name string) (first string, count int)
}

// fastParamsOK reports whether every parameter of c's request passes the shortcut's checks.
// A query parameter sent more than once is left to the full path: kin-openapi reads its first
// value, the generated binder refuses it (400), and the hot path has no binder.
func (r *validatedRoute) fastParamsOK(c paramSource) bool {
	var query url.Values
	counter, _ := c.(queryCounter)
	for i := range r.fast {
		p := &r.fast[i]
		var (
			value string
			found bool
		)
		if p.inPath {
			value, found = pathParam(c.Param(p.name)), true
		} else {
			var n int
			if counter != nil {
				value, n = counter.queryValue(p.name)
			} else {
				if query == nil {
					query = c.QueryParams()
				}
				value, n = firstValue(query[p.name])
			}
			if n > 1 {
				return false
			}
			found = n > 0
		}
		if !p.accepts(value, found) {
			return false
		}
	}
	return true
}

// firstValue is the first of a query parameter's values (as kin-openapi reads a form-style
// primitive; "" when it was not sent) and how many were sent.
func firstValue(values []string) (first string, count int) {
	if len(values) > 0 {
		first = values[0]
	}
	return first, len(values)
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
// its default style, without content or allowEmptyValue, and with a plain string schema.
func plainParam(ref *openapi3.ParameterRef) (plainString, bool) {
	p := ref.Value
	if p == nil || p.Content != nil || p.Schema == nil || p.AllowEmptyValue || p.Style != "" || p.Explode != nil {
		return plainString{}, false
	}
	if p.In != openapi3.ParameterInPath && p.In != openapi3.ParameterInQuery {
		return plainString{}, false
	}
	check, ok := plainSchema(p.Name, p.Schema.Value)
	check.inPath, check.required = p.In == openapi3.ParameterInPath, p.Required
	return check, ok
}

// plainSchema is the check of a schema that is only a string type, lengths, a pattern
// kin-openapi compiles as Go does, and string enum values (no nullable, readOnly, format...).
func plainSchema(name string, s *openapi3.Schema) (plainString, bool) {
	if s == nil {
		return plainString{}, false
	}
	bare := *s
	bare.Extensions, bare.Description, bare.Example, bare.Title = nil, "", nil, ""
	bare.MinLength, bare.MaxLength, bare.Pattern, bare.Enum = 0, nil, "", nil
	bare.Type = nil
	if !s.Type.Is(openapi3.TypeString) || !bare.IsEmpty() || s.OneOf != nil || s.AnyOf != nil || s.AllOf != nil || s.Not != nil {
		return plainString{}, false
	}
	check := plainString{name: name, min: int(s.MinLength), max: -1}
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

// plainObject is the check of a request body whose schema is a closed JSON object
// (additionalProperties: false) of plain string properties: verify's. The body is parsed by
// fastjson (a maintained parser that does not allocate: encoding/json's parse into raw
// members cost as much as kin-openapi's whole check, BenchmarkVerifyBody); a body is
// accepted here only when it is certain kin-openapi accepts it: valid UTF-8 without a single
// backslash (so each string's bytes are the string kin-openapi decodes, and no name is
// escaped), one object whose members are each a declared name once, each value a string
// without control characters passing its property's check, and every required member
// there. Anything else (escapes, null, numbers, unknown or differently cased names, a name
// twice, a charset parameter on the content type, JSON that fastjson reads more leniently
// than encoding/json) goes to kin-openapi. Like kin-openapi with KeepValidatedValue, it leaves
// the value it validated on the body, and the generated handler binds that value.
type plainObject struct {
	props    []plainString
	required uint64 // a bit for each required property, by index in props
}

// plainJSONBody is the check of an operation's body, or nil unless its only content is
// application/json with a plainObject schema.
func plainJSONBody(ref *openapi3.RequestBodyRef) *plainObject {
	if ref == nil || ref.Value == nil || len(ref.Value.Content) != 1 {
		return nil
	}
	media := ref.Value.Content[jsonMIME]
	if media == nil || media.Schema == nil || media.Schema.Value == nil || len(media.Encoding) != 0 {
		return nil
	}
	s := media.Schema.Value
	if ap := s.AdditionalProperties; !s.Type.Is(openapi3.TypeObject) || ap.Has == nil || *ap.Has || ap.Schema != nil {
		return nil
	}
	bare := *s
	bare.Extensions, bare.Description, bare.Example, bare.Title = nil, "", nil, ""
	bare.Type, bare.Properties, bare.Required, bare.AdditionalProperties = nil, nil, nil, openapi3.AdditionalProperties{}
	if !bare.IsEmpty() || s.OneOf != nil || s.AnyOf != nil || s.AllOf != nil || s.Not != nil || len(s.Properties) > 64 {
		return nil
	}
	o := &plainObject{}
	for _, name := range slices.Sorted(maps.Keys(s.Properties)) {
		prop := s.Properties[name]
		if prop == nil {
			return nil
		}
		check, ok := plainSchema(name, prop.Value)
		if !ok {
			return nil
		}
		if contains(s.Required, name) {
			o.required |= 1 << len(o.props)
		}
		o.props = append(o.props, check)
	}
	for _, name := range s.Required {
		if s.Properties[name] == nil {
			return nil
		}
	}
	return o
}

const jsonMIME = "application/json"

var bodyParsers fastjson.ParserPool

// accepts reports whether kin-openapi certainly accepts req's body. It reads the body and
// leaves in its place one that gives the same bytes, and the same read error if there was
// one, to whoever reads it next (kin-openapi, or the handler's binder).
func (o *plainObject) accepts(req *http.Request) bool {
	if req.Body == nil || req.Body == http.NoBody || req.Header.Get(echo.HeaderContentType) != jsonMIME {
		return false
	}
	data, err := io.ReadAll(req.Body)
	req.Body = &replayedBody{Reader: bytes.NewReader(data), err: err, closer: req.Body}
	if err != nil {
		return false
	}
	req.ContentLength = int64(len(data))
	if bytes.IndexByte(data, '\\') >= 0 || !utf8.Valid(data) {
		return false
	}
	p := bodyParsers.Get()
	defer bodyParsers.Put(p)
	v, err := p.ParseBytes(data)
	if err != nil {
		return false
	}
	obj, err := v.Object()
	if err != nil {
		return false
	}
	var seen uint64
	ok := true
	validated := make(map[string]any, len(o.props))
	obj.Visit(func(name []byte, v *fastjson.Value) {
		i := o.index(name)
		if !ok || i < 0 || seen&(1<<i) != 0 || v.Type() != fastjson.TypeString {
			ok = false
			return
		}
		seen |= 1 << i
		value := v.GetStringBytes()
		for _, c := range value {
			if c < 0x20 {
				ok = false
				return
			}
		}
		str := string(value)
		validated[o.props[i].name] = str
		ok = o.props[i].accepts(str, true)
	})
	if !ok || seen&o.required != o.required {
		return false
	}
	// As kin-openapi's KeepValidatedValue leaves it: the handler binds the members validated
	// (the generated strict handler binds ValidatedValue when the body has it, instead of
	// decoding the bytes again).
	req.Body = &validatedBody{replayedBody: req.Body.(*replayedBody), value: validated}
	return true
}

// index is the position in props of the property called name, or -1.
func (o *plainObject) index(name []byte) int {
	for i := range o.props {
		if o.props[i].name == string(name) {
			return i
		}
	}
	return -1
}

// replayedBody is a request body already read: its bytes, then the error reading stopped
// at (io.EOF when it ended).
type replayedBody struct {
	*bytes.Reader
	err    error
	closer io.Closer
}

func (b *replayedBody) Read(p []byte) (int, error) {
	n, err := b.Reader.Read(p)
	if err == io.EOF && b.err != nil {
		err = b.err
	}
	return n, err
}

func (b *replayedBody) Close() error { return b.closer.Close() }

// validatedBody is a body plainObject accepted, with the value it validated.
type validatedBody struct {
	*replayedBody
	value map[string]any
}

// ValidatedValue is the body's JSON value, as kin-openapi's KeepValidatedValue gives it.
func (b *validatedBody) ValidatedValue() any { return b.value }
