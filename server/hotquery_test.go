package server

import (
	"net/url"
	"strings"
	"testing"
)

// TestHotRequestQuery checks the hot path's reading of a query against url.ParseQuery's (which
// echo's QueryParams and the generated binder use): the first value of each name and how many
// times it was sent.
func TestHotRequestQuery(t *testing.T) {
	for _, raw := range hotQuerySamples {
		checkHotQuery(t, raw)
	}
}

var hotQuerySamples = []string{
	"", "tenantId=acme", "tenantId=acme&origin=https://a.example.com", "tenantId=", "tenantId",
	"tenantId=acme&tenantId=globex", "&&tenantId=acme&", "=acme&tenantId=a=b", "tenantid=acme",
	"tenantId=a%20b", "tenantId=a+b", "tenantId=%zz&tenantId=acme", "tenantId=acme;x=1",
	"origin=https%3A%2F%2Fa.example.com&tenantId=acme", "x=1&tenantId=acme&y", "tenantId=日本",
	"tenant%49d=acme",
	// Past the scanned length, and past url.ParseQuery's limit on pairs (which leaves none).
	strings.Repeat("x=1&", maxScannedQuery/4) + "tenantId=acme", strings.Repeat("&", 10_000) + "tenantId=acme",
}

// FuzzHotRequestQuery is TestHotRequestQuery on arbitrary queries.
func FuzzHotRequestQuery(f *testing.F) {
	for _, raw := range hotQuerySamples {
		f.Add(raw)
	}
	f.Fuzz(checkHotQuery)
}

func checkHotQuery(t *testing.T, raw string) {
	want, _ := url.ParseQuery(raw)
	names := []string{"tenantId", "origin", "", "x"}
	for name := range want {
		names = append(names, name)
	}
	q := newHotRequest("id", raw) // every name asked twice of one request: read, then remembered
	for round := range 2 {
		for _, name := range names {
			first, count := q.queryValue(name)
			if count != len(want[name]) || count > 0 && first != want[name][0] || count == 0 && first != "" {
				t.Errorf("%q, %q (asked %d times): read %q and %d values, url.ParseQuery has %q", raw, name, round+1, first, count, want[name])
			}
			if got := q.first(name); got != want.Get(name) {
				t.Errorf("%q, %q: first %q, url.ParseQuery's %q", raw, name, got, want.Get(name))
			}
		}
	}
}
