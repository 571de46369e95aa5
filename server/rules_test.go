package server

import (
	"errors"
	"strings"
	"testing"
)

func TestRedirectRules(t *testing.T) {
	tests := []struct {
		name   string
		uri    string
		public bool
		reason string // "" = accepted; else a substring of the reason
	}{
		{"https", "https://app.example.com/cb", false, ""},
		{"https with port and query", "https://app.example.com:8443/cb?x=1", false, ""},
		{"loopback ip http", "http://127.0.0.1/cb", false, ""},
		{"loopback ip other port", "http://127.0.0.1:51004/cb", true, ""},
		{"loopback ipv6 http", "http://[::1]:8080/cb", true, ""},
		{"localhost http", "http://localhost:3000/cb", false, ""},
		{"private-use scheme, public", "com.example.app:/oauth2redirect", true, ""},
		{"private-use scheme, confidential", "com.example.app:/oauth2redirect", false, "https"},
		{"scheme without dot", "myapp:/cb", true, "reverse domain"},
		{"http non-loopback", "http://app.example.com/cb", false, "loopback"},
		{"fragment", "https://app.example.com/cb#x", false, "fragment"},
		{"empty fragment", "https://app.example.com/cb#", false, "fragment"},
		{"wildcard host", "https://*.example.com/cb", false, "wildcard"},
		{"wildcard path", "https://app.example.com/*", false, "wildcard"},
		{"relative", "/cb", false, "absolute"},
		{"no scheme", "app.example.com/cb", false, "absolute"},
		{"user info", "https://user:pw@app.example.com/cb", false, "user information"},
		{"javascript", "javascript:alert(1)", true, "not allowed"},
		{"data", "data:text/html,x", true, "not allowed"},
		{"file", "file:///etc/passwd", true, "not allowed"},
		{"space", "https://app.example.com/c b", false, "ASCII"},
		{"NUL", "https://app.example.com/\x00", false, "ASCII"},
		{"unicode host", "https://exämple.com/cb", false, "punycode"},
		{"empty", "", false, "empty"},
		{"no host", "https:///cb", false, "host"},
		{"bad port", "https://app.example.com:99999/cb", false, "port"},
		{"too long", "https://app.example.com/" + strings.Repeat("a", 2100), false, "at most"},
		{"ipv6 zone", "http://[fe80::1%25eth0]/cb", false, "zone"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := redirectReason(tc.uri, tc.public)
			if tc.reason == "" && got != "" {
				t.Fatalf("refused %q: %s", tc.uri, got)
			}
			if tc.reason != "" && !strings.Contains(got, tc.reason) {
				t.Fatalf("%q: reason %q, want one with %q", tc.uri, got, tc.reason)
			}
		})
	}
}

func TestOriginRules(t *testing.T) {
	tests := []struct {
		name, origin, want, reason string
	}{
		{"plain", "https://app.example.com", "https://app.example.com", ""},
		{"case", "HTTPS://App.Example.COM", "https://app.example.com", ""},
		{"default port", "https://app.example.com:443", "https://app.example.com", ""},
		{"other port kept", "https://app.example.com:8443", "https://app.example.com:8443", ""},
		{"trailing slash", "https://app.example.com/", "https://app.example.com", ""},
		{"loopback http", "http://localhost:3000", "http://localhost:3000", ""},
		{"loopback http default port", "http://127.0.0.1:80", "http://127.0.0.1", ""},
		{"ipv6", "https://[::1]:8443", "https://[::1]:8443", ""},
		{"leading zeros in port", "https://app.example.com:0443", "https://app.example.com", ""},
		{"path", "https://app.example.com/app", "", "without a path"},
		{"query", "https://app.example.com?x", "", "without a path or query"},
		{"fragment", "https://app.example.com#x", "", "fragment"},
		{"wildcard", "https://*.example.com", "", "wildcard"},
		{"http non-loopback", "http://app.example.com", "", "loopback"},
		{"other scheme", "ftp://app.example.com", "", "https"},
		{"null", "null", "", "absolute"},
		{"user info", "https://u@app.example.com", "", "user information"},
		{"empty", "", "", "empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, reason := normalizeOrigin(tc.origin)
			if tc.reason != "" {
				if !strings.Contains(reason, tc.reason) {
					t.Fatalf("%q: reason %q, want one with %q", tc.origin, reason, tc.reason)
				}
				return
			}
			if reason != "" || got != tc.want {
				t.Fatalf("%q: got %q (%s), want %q", tc.origin, got, reason, tc.want)
			}
			if again, r := normalizeOrigin(got); again != got || r != "" {
				t.Fatalf("not idempotent: %q → %q (%s)", got, again, r)
			}
		})
	}
}

func TestContactRules(t *testing.T) {
	tests := []struct {
		name, in, want string
		ok             bool
	}{
		{"plain", "it@example.com", "it@example.com", true},
		{"domain lower-cased", "It@Example.COM", "It@example.com", true},
		{"plus", "it+apps@example.co.uk", "it+apps@example.co.uk", true},
		{"display name", "IT <it@example.com>", "", false},
		{"angle brackets", "<it@example.com>", "", false},
		{"no domain dot", "it@localhost", "", false},
		{"no at", "example.com", "", false},
		{"space", "i t@example.com", "", false},
		{"hyphen label edge", "it@-example.com", "", false},
		{"unicode", "ït@example.com", "", false},
		{"too long", strings.Repeat("a", 250) + "@example.com", "", false},
		{"empty", "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, reason := normalizeContact(tc.in)
			if tc.ok != (reason == "") || (tc.ok && got != tc.want) {
				t.Fatalf("%q: got %q reason %q; want ok=%v %q", tc.in, got, reason, tc.ok, tc.want)
			}
		})
	}
}

func TestScopeAndText(t *testing.T) {
	if got, r := normalizeScope("  openid  profile openid email "); r != "" || got != "openid profile email" {
		t.Fatalf("scope: %q %q", got, r)
	}
	if _, r := normalizeScope(`bad"scope`); r == "" {
		t.Fatal(`a scope with " was accepted`)
	}
	for _, bad := range []string{"a\x00b", "a\u202eb", "a\nb", string([]byte{0xff})} {
		if _, r := cleanText(bad, 100, false); r == "" {
			t.Errorf("cleanText accepted %q", bad)
		}
	}
	if v, r := cleanText("  line one\nline two  ", 100, true); r != "" || v != "line one\nline two" {
		t.Fatalf("multiline: %q %q", v, r)
	}
	if _, r := cleanText(strings.Repeat("é", 129), 128, false); r == "" {
		t.Fatal("129 runes accepted for 128")
	}
}

func TestImportedIDRules(t *testing.T) {
	tests := []struct {
		id string
		ok bool
	}{
		{"legacy-app-1", true},
		{"a.b_c~d", true},
		{"x", true},
		{strings.Repeat("a", 128), true},
		{strings.Repeat("a", 129), false},
		{"", false},
		{"app-enable", false},
		{"app-disable", false},
		{"enable", true},
		{".", false},
		{"..", false},
		{"...", false},
		{"a/b", false},
		{"a b", false},
		{"ä", false},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			if got := validImportedID(tc.id); (got == "") != tc.ok {
				t.Fatalf("validImportedID(%q) = %q, want ok=%v", tc.id, got, tc.ok)
			}
		})
	}
}

func TestCheckSpecTypeRules(t *testing.T) {
	valid := func() appSpec {
		return appSpec{Name: "App", Contacts: []string{"a@example.com"}, Redirects: []string{"https://a.example.com/cb"}}
	}
	tests := []struct {
		name    string
		appType string
		mutate  func(*appSpec)
		fields  []string // nil = accepted
	}{
		{"confidential ok", "confidential", func(*appSpec) {}, nil},
		{"confidential needs redirects", "confidential", func(s *appSpec) { s.Redirects = nil }, []string{"redirects"}},
		{"public ok", "public", func(*appSpec) {}, nil},
		{"public refuses authMethod", "public", func(s *appSpec) { s.AuthMethod = "client_secret_post" }, []string{"authMethod"}},
		{"public needs redirects", "public", func(s *appSpec) { s.Redirects = []string{} }, []string{"redirects"}},
		{"backend refuses redirects", "backend", func(*appSpec) {}, []string{"redirects"}},
		{"backend refuses origins and logouts", "backend", func(s *appSpec) {
			s.Redirects = nil
			s.Origins = []string{"https://a.example.com"}
			s.Logouts = []string{"https://a.example.com/out"}
		}, []string{"logouts", "origins"}},
		{"backend with empty lists", "backend", func(s *appSpec) { s.Redirects = []string{} }, nil},
		{"contacts required", "confidential", func(s *appSpec) { s.Contacts = nil }, []string{"contacts"}},
		{"eleven contacts", "confidential", func(s *appSpec) {
			s.Contacts = strings.Split(strings.Repeat("a@example.com ", 11), " ")[:11]
		}, []string{"contacts"}},
		{"duplicate contact", "confidential", func(s *appSpec) { s.Contacts = []string{"a@example.com", "a@EXAMPLE.com"} }, []string{"contacts[1]"}},
		{"duplicate origin after normalisation", "confidential", func(s *appSpec) {
			s.Origins = []string{"https://a.example.com", "HTTPS://a.example.com:443"}
		}, []string{"origins[1]"}},
		{"several at once", "confidential", func(s *appSpec) {
			s.Name = ""
			s.Redirects = []string{"https://a.example.com/cb", "http://evil.example.com/cb#x"}
			s.JWKSEndpoint = "http://a.example.com/jwks"
		}, []string{"jwksEndpoint", "name", "redirects[1]"}},
		{"bad authMethod", "backend", func(s *appSpec) { s.Redirects = nil; s.AuthMethod = "private_key_jwt" }, []string{"authMethod"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := valid()
			tc.mutate(&s)
			err := checkSpec(tc.appType, &s)
			if tc.fields == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if tc.appType != "public" && s.AuthMethod != "client_secret_basic" {
					t.Fatalf("authMethod default: %q", s.AuthMethod)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("want a ValidationError, got %v", err)
			}
			var got []string
			for _, f := range ve.Fields {
				got = append(got, f.Field)
			}
			if strings.Join(got, ",") != strings.Join(tc.fields, ",") {
				t.Fatalf("fields %v, want %v (%v)", got, tc.fields, err)
			}
		})
	}
}

// FuzzOrigin checks that origin normalisation never panics, is idempotent,
// yields only scheme://host[:port], and that its shortcut for origins already
// normalised (canonicalOrigin) answers as parsing them does.
func FuzzOrigin(f *testing.F) {
	for _, s := range []string{"https://a.example.com", "HTTP://LOCALHOST:80/", "https://[::1]:443", "null", "https://a.example.com/x",
		"https://a.example.com:8443", "https://a.example.com:443", "https://a.example.com:0443", "https://a.example.com:65536", "https://1.2.3.4", "https://a-.example.com",
		"https://A.example.com", "https://a.example.com:", "https://localhost", "https://a..b", "https://a.example.com."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, reason := normalizeOrigin(raw)
		if slow, slowReason := parseOrigin(raw); slow != got || slowReason != reason {
			t.Fatalf("%q: normalizeOrigin gives %q (%s), parseOrigin %q (%s)", raw, got, reason, slow, slowReason)
		}
		if reason != "" {
			return
		}
		again, r := parseOrigin(got)
		if r != "" || again != got {
			t.Fatalf("not idempotent: %q → %q → %q (%s)", raw, got, again, r)
		}
		rest := strings.SplitN(got, "://", 2)
		if len(rest) != 2 || strings.ContainsAny(rest[1], "/?#@*") {
			t.Fatalf("not an origin: %q from %q", got, raw)
		}
	})
}

// FuzzRedirectURI checks that the redirect rules never panic and never
// accept a fragment, a wildcard or a non-ASCII byte.
func FuzzRedirectURI(f *testing.F) {
	for _, s := range []string{"https://a.example.com/cb", "com.example.app:/cb", "http://127.0.0.1:8080/cb", "javascript:x"} {
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, raw string, public bool) {
		if redirectReason(raw, public) != "" {
			return
		}
		if strings.ContainsAny(raw, "#* ") || !printableASCII(raw) {
			t.Fatalf("accepted %q", raw)
		}
	})
}

// FuzzContact checks that accepted contacts are stable under normalisation.
func FuzzContact(f *testing.F) {
	for _, s := range []string{"a@example.com", "A@EXAMPLE.COM", "a <a@example.com>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, reason := normalizeContact(raw)
		if reason != "" {
			return
		}
		if again, r := normalizeContact(got); r != "" || again != got {
			t.Fatalf("not idempotent: %q → %q → %q", raw, got, again)
		}
	})
}
