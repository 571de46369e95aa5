package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestMetricsEscapeLabelValues: a label value with a quote, a backslash, a
// line break, a tab and non-ASCII text is written in the escaped form of the
// Prometheus text format and reads back as it was.
func TestMetricsEscapeLabelValues(t *testing.T) {
	tests := []struct {
		name, route, line string
	}{
		{"quote", `/a"b`, `route="/a\"b"`},
		{"backslash", `/a\b`, `route="/a\\b"`},
		{"line break", "/a\nb", `route="/a\nb"`},
		{"tab and non-ASCII kept", "/a\tb/é/\u2028", "route=\"/a\tb/é/\u2028\""},
	}
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		m.record(tc.route, http.MethodGet, http.StatusTeapot, time.Millisecond)
	}
	rec := httptest.NewRecorder()
	if err := m.handler()(echo.New().NewContext(httptest.NewRequest(http.MethodGet, "/metrics", nil), rec)); err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(rec.Body)
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("the exposition does not parse: %v\n%s", err, body)
	}
	routes := map[string]bool{}
	for _, mt := range families["appreg_http_requests_total"].GetMetric() {
		for _, l := range mt.GetLabel() {
			if l.GetName() == "route" {
				routes[l.GetValue()] = true
			}
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(string(body), tc.line) {
				t.Errorf("exposition lacks %q:\n%s", tc.line, body)
			}
			if !routes[tc.route] {
				t.Errorf("route %q does not read back; have %v", tc.route, routes)
			}
		})
	}
}

// BenchmarkMetricsRecord is what every request pays for the metrics.
func BenchmarkMetricsRecord(b *testing.B) {
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.record("/internal/clients/:clientId", http.MethodGet, http.StatusOK, time.Millisecond)
		}
	})
}
