package server

import (
	"errors"
	"strings"
	"testing"

	"github.com/cxone/appreg/gen"
	"github.com/cxone/appreg/store"
)

func ptrOf[T any](v T) *T { return &v }

// TestMapMetadata: how RFC 7591 metadata maps onto an application's type and fields, and
// which metadata the mapping refuses, with which RFC 7591 error.
func TestMapMetadata(t *testing.T) {
	open := &store.RegistrationPolicy{
		AllowedTypes:         []string{"public", "confidential", "backend"},
		AllowedRedirectHosts: []string{"localhost", "127.0.0.1", "app.example.com"},
		DefaultContacts:      []string{"ops@example.com"},
	}
	publicOnly := &store.RegistrationPolicy{AllowedTypes: []string{"public"}, AllowedRedirectHosts: []string{"127.0.0.1"}}
	loop := ptrOf([]gen.RegistrationURI{"http://127.0.0.1:9/cb"})
	grants := func(g ...gen.ClientMetadataGrantTypes) *[]gen.ClientMetadataGrantTypes { return &g }
	auth := func(a gen.ClientMetadataTokenEndpointAuthMethod) *gen.ClientMetadataTokenEndpointAuthMethod {
		return &a
	}
	tests := []struct {
		name     string
		m        gen.ClientMetadata
		policy   *store.RegistrationPolicy
		curType  string
		wantType string // "" = refused
		wantCode string // the refusal's error code
		mention  string // a substring of the refusal, or of the mapped spec's name/contacts
	}{
		{"none is public", gen.ClientMetadata{TokenEndpointAuthMethod: auth(gen.RegAuthNone), RedirectUris: loop}, open, "", "public", "", ""},
		{"absent auth method is client_secret_basic", gen.ClientMetadata{RedirectUris: loop}, open, "", "confidential", "", ""},
		{"client_secret_post with redirects is confidential", gen.ClientMetadata{TokenEndpointAuthMethod: auth(gen.RegAuthClientSecretPost), RedirectUris: loop}, open, "", "confidential", "", ""},
		{"client_credentials only, no redirects: backend", gen.ClientMetadata{TokenEndpointAuthMethod: auth(gen.RegAuthClientSecretBasic), GrantTypes: grants(gen.RegGrantClientCredentials)}, open, "", "backend", "", ""},
		{"client_credentials with redirects: confidential", gen.ClientMetadata{TokenEndpointAuthMethod: auth(gen.RegAuthClientSecretBasic), GrantTypes: grants(gen.RegGrantAuthorizationCode, gen.RegGrantClientCredentials), RedirectUris: loop}, open, "", "confidential", "", ""},
		{"client_credentials only with a redirect", gen.ClientMetadata{GrantTypes: grants(gen.RegGrantClientCredentials), RedirectUris: loop}, open, "", "", "invalid_client_metadata", "authorization_code"},
		{"public client_credentials", gen.ClientMetadata{TokenEndpointAuthMethod: auth(gen.RegAuthNone), GrantTypes: grants(gen.RegGrantClientCredentials), RedirectUris: loop}, open, "", "", "invalid_client_metadata", "grant_types[0]"},
		{"default contacts", gen.ClientMetadata{TokenEndpointAuthMethod: auth(gen.RegAuthNone), RedirectUris: loop}, open, "", "public", "", "ops@example.com"},
		{"no contacts anywhere", gen.ClientMetadata{TokenEndpointAuthMethod: auth(gen.RegAuthNone), RedirectUris: loop}, publicOnly, "", "", "invalid_client_metadata", "contacts"},
		{"made-up name", gen.ClientMetadata{TokenEndpointAuthMethod: auth(gen.RegAuthNone), RedirectUris: loop, Contacts: ptrOf([]string{"a@example.com"})}, publicOnly, "", "public", "", defaultRegistrationName},
		{"type outside the policy", gen.ClientMetadata{RedirectUris: loop, Contacts: ptrOf([]string{"a@example.com"})}, publicOnly, "", "", "access_denied", "confidential"},
		{"host outside the policy", gen.ClientMetadata{TokenEndpointAuthMethod: auth(gen.RegAuthNone), RedirectUris: ptrOf([]gen.RegistrationURI{"https://other.example.com/cb"})}, open, "", "", "access_denied", "other.example.com"},
		{"logout host outside the policy", gen.ClientMetadata{TokenEndpointAuthMethod: auth(gen.RegAuthNone), RedirectUris: loop, PostLogoutRedirectUris: ptrOf([]gen.RegistrationURI{"https://other.example.com/bye"})}, open, "", "", "access_denied", "post_logout_redirect_uris[0]"},
		{"rules apply: fragment", gen.ClientMetadata{TokenEndpointAuthMethod: auth(gen.RegAuthNone), RedirectUris: ptrOf([]gen.RegistrationURI{"http://127.0.0.1/cb#f"})}, open, "", "", "invalid_redirect_uri", "redirect_uris[0]"},
		{"rules apply: jwks_uri", gen.ClientMetadata{TokenEndpointAuthMethod: auth(gen.RegAuthNone), RedirectUris: loop, JWKSURI: ptrOf("ftp://x")}, open, "", "", "invalid_client_metadata", "jwks_uri"},
		{"update keeps the type", gen.ClientMetadata{TokenEndpointAuthMethod: auth(gen.RegAuthNone), RedirectUris: loop}, open, "confidential", "", "invalid_client_metadata", "never changes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			typ, spec, err := mapMetadata(&tc.m, tc.policy, tc.curType)
			if tc.wantType != "" {
				if err != nil || typ != tc.wantType {
					t.Fatalf("= %q, %v; want %s", typ, err, tc.wantType)
				}
				if tc.mention != "" && spec.Name != tc.mention && !strings.Contains(strings.Join(spec.Contacts, " "), tc.mention) {
					t.Errorf("spec %+v does not carry %q", spec, tc.mention)
				}
				return
			}
			var re *regError
			if !errors.As(err, &re) || re.code != tc.wantCode || !strings.Contains(re.desc, tc.mention) {
				t.Fatalf("= %q, %v; want %s mentioning %q", typ, err, tc.wantCode, tc.mention)
			}
		})
	}
}

func TestRedirectHostPolicy(t *testing.T) {
	hosts := []string{"localhost", "127.0.0.1", "::1", "*.agents.example.com", "com.example.app"}
	tests := []struct {
		uri string
		ok  bool
	}{
		{"http://localhost:3000/cb", true},
		{"http://LOCALHOST/cb", true},
		{"http://127.0.0.1:9/cb", true},
		{"http://[::1]:9/cb", true},
		{"https://eu.agents.example.com/cb", true},
		{"https://agents.example.com/cb", false},
		{"https://evilagents.example.com/cb", false},
		{"com.example.app:/cb", true},
		{"com.example.other:/cb", false},
		{"https://127.0.0.2/cb", false},
	}
	for _, tc := range tests {
		if _, ok := allowedHost(tc.uri, hosts); ok != tc.ok {
			t.Errorf("allowedHost(%s) = %v, want %v", tc.uri, ok, tc.ok)
		}
	}
	norm := []struct{ in, out, reason string }{
		{"LocalHost", "localhost", ""},
		{"[::1]", "::1", ""},
		{"*.Example.com", "*.example.com", ""},
		{"com.example.app", "com.example.app", ""},
		{"*.com", "", "host name"},
		{"https://x.example.com", "", "host name"},
		{"*", "", "host name"},
	}
	for _, tc := range norm {
		out, reason := normalizeRedirectHost(tc.in)
		if out != tc.out || (tc.reason == "") != (reason == "") || !strings.Contains(reason, tc.reason) {
			t.Errorf("normalizeRedirectHost(%q) = %q, %q", tc.in, out, reason)
		}
	}
}
