package server_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestUnmatchedRouteMetrics: with echo v4 a request no route matches has an empty c.Path(), so
// observe's route == "" branch is reachable: such requests are counted under route="unmatched",
// never under their raw path or an empty label. A method a route does not take (405) has the
// route's path and is counted under it.
func TestUnmatchedRouteMetrics(t *testing.T) {
	e := newEnv(t, "sqlite")
	token := e.token("acme", "u")
	for _, r := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/no-such-route", http.StatusNotFound},
		{http.MethodGet, "/applicationsx", http.StatusNotFound},
		{http.MethodPut, "/healthz", http.StatusMethodNotAllowed},
		{http.MethodPut, "/applications", http.StatusMethodNotAllowed},
	} {
		if resp, body := e.do(r.method, r.path, token, "", nil); resp.StatusCode != r.status {
			t.Fatalf("%s %s: %d %s, want %d", r.method, r.path, resp.StatusCode, body, r.status)
		}
	}
	_, body := e.do(http.MethodGet, "/metrics", "", "", nil)
	for _, want := range []string{
		`appreg_http_requests_total{method="GET",route="unmatched",status="404"} 2`,
		`appreg_http_requests_total{method="PUT",route="/healthz",status="405"} 1`,
		`appreg_http_requests_total{method="PUT",route="/applications",status="405"} 1`,
	} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, never := range []string{`route=""`, "no-such-route", "applicationsx"} {
		if strings.Contains(string(body), never) {
			t.Errorf("/metrics has %s", never)
		}
	}
}
