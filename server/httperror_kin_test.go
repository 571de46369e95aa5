package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// TestKinOpenAPITexts pins the texts of kin-openapi's errors that httperror.go tells apart
// (kinBadContentType, kinBadBody, kinUnknownProperty): each request below makes kin-openapi
// produce one, validating against the real contract, and the mapping must give the answer it
// gives today. A kin-openapi upgrade that changes a text fails here.
func TestKinOpenAPITexts(t *testing.T) {
	spec, err := Spec()
	if err != nil {
		t.Fatal(err)
	}
	router, err := gorillamux.NewRouter(spec)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, contentType, body string
		text                    string
		status                  int
		field                   string
	}{
		{"wrong content type", "text/plain", `{}`, kinBadContentType, http.StatusUnsupportedMediaType, "Content-Type"},
		{"body that does not decode", "application/json", `{"name":`, kinBadBody, http.StatusBadRequest, "body"},
		{"unknown property", "application/json", `{"name":"n","contacts":["a@example.com"],"type":"backend","colour":"red"}`, `property "colour" ` + kinUnknownProperty, http.StatusBadRequest, "colour"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/applications", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", tc.contentType)
			route, params, err := router.FindRoute(req)
			if err != nil {
				t.Fatal(err)
			}
			err = openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{
				Request: req, PathParams: params, Route: route,
				Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true},
			})
			if err == nil || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("kin-openapi said %v; httperror.go expects %q", err, tc.text)
			}
			var ve ValidationError
			status := http.StatusBadRequest
			collectRequestErrors(err, "", &ve, &status)
			if status != tc.status || len(ve.Fields) == 0 || ve.Fields[0].Field != tc.field {
				t.Errorf("mapped to %d %+v, want %d on %s", status, ve.Fields, tc.status, tc.field)
			}
		})
	}
}
