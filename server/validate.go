package server

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/labstack/echo/v4"
)

// validator checks every API request against the operation of openapi.yaml
// that echo routed it to. Echo has already matched the route when Use
// middleware runs, so the operation is found in a map built once from the
// spec, instead of by a second, regex-based router on every request.
//
// The operations it validates against carry no security requirements: the
// authenticate middleware has already verified the bearer token, so
// kin-openapi's own (no-op) check would only cost time on every call.
type validator struct {
	routes map[string]*routers.Route // "METHOD echo-path"
	opts   *openapi3filter.Options
}

func newValidator(spec *openapi3.T) *validator {
	v := &validator{
		routes: map[string]*routers.Route{},
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
			v.routes[method+" "+echoPath(path)] = &routers.Route{
				Spec: spec, Path: path, PathItem: item, Method: method, Operation: &unsecured,
			}
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

func (v *validator) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		route, ok := v.routes[req.Method+" "+c.Path()]
		if !ok {
			// Not an operation of the spec: echo answers 404 or 405.
			return next(c)
		}
		names, values := c.ParamNames(), c.ParamValues()
		params := make(map[string]string, len(names))
		for i, name := range names {
			val := values[i]
			if u, err := url.PathUnescape(val); err == nil {
				val = u
			}
			params[name] = val
		}
		err := openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{
			Request: req, PathParams: params, Route: route, Options: v.opts,
			// Echo's parse of the query, which the generated binder reads too.
			QueryParams: c.QueryParams(),
		})
		if err != nil {
			return &echo.HTTPError{Code: http.StatusBadRequest, Message: "invalid request", Internal: err}
		}
		return next(c)
	}
}
