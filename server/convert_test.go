package server

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/cxone/appreg/gen"
	"github.com/cxone/appreg/store"
)

// TestWithSecretKeepsEveryField guards the hand-written copy in withSecret:
// a field added to Application in openapi.yaml must reach the create answer.
func TestWithSecretKeepsEveryField(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	app := &store.Application{
		ID: "id", TenantID: "t", Name: "n", Description: "d", Contacts: []string{"a@b.co"},
		Type: "confidential", Tenancy: "all", TenancyApproval: "pending",
		Redirects: []string{"https://a.example/cb"}, Origins: []string{"https://a.example"},
		Logouts: []string{"https://a.example/out"}, AuthMethod: "client_secret_post",
		JWKSEndpoint: "https://a.example/jwks", Scope: "openid", Enabled: true,
		CreatedBy: "c", CreatedTime: now, LastModifiedBy: "m", LastModifiedTime: now,
		LastUsedTime: &now, ScheduledDeletionTime: &now,
	}
	want, _ := json.Marshal(toAPI(app))
	got, _ := json.Marshal(withSecret(toAPI(app), ""))
	if string(got) != string(want) {
		t.Fatalf("withSecret lost fields:\n got %s\nwant %s", got, want)
	}
	if n, m := reflect.TypeOf(gen.Application{}).NumField(), reflect.TypeOf(gen.ApplicationWithSecret{}).NumField(); m != n+1 {
		t.Fatalf("ApplicationWithSecret has %d fields, want Application's %d plus secret", m, n)
	}
}

func TestSecrets(t *testing.T) {
	s, err := newSecret()
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 43 {
		t.Fatalf("secret %q: want 43 base64url characters (256 bits)", s)
	}
	if s2, _ := newSecret(); s2 == s {
		t.Fatal("two secrets are equal")
	}
	imported, err := hashImportedSecret("legacy-secret")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, secret, encoded string
		want                  bool
	}{
		{"issued, right", s, hashIssuedSecret(s), true},
		{"issued, wrong", s + "x", hashIssuedSecret(s), false},
		{"issued, empty", "", hashIssuedSecret(s), false},
		{"imported, right", "legacy-secret", imported, true},
		{"imported, wrong", "legacy-secreT", imported, false},
		{"unknown scheme", s, "md5$abc", false},
		{"malformed sha256", s, "sha256$!!!", false},
		{"malformed pbkdf2", s, "pbkdf2-sha256$x$y", false},
		{"absurd iterations", s, "pbkdf2-sha256$999999999$AAAA$AAAA", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := secretMatches(tc.secret, tc.encoded); got != tc.want {
				t.Fatalf("secretMatches = %v, want %v", got, tc.want)
			}
		})
	}
	if h := secretHint(s); h != s[len(s)-4:] {
		t.Fatalf("hint %q", h)
	}
}
