package server_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/cxone/appreg/gen"
	"github.com/cxone/appreg/server/auth"
)

// bearerTransport adds an initial access token to every request, as a client configured with
// one does, and checks every answer against openapi.yaml.
type bearerTransport struct {
	token string
	next  http.RoundTripper
}

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if b.token != "" {
		r.Header.Set("Authorization", "Bearer "+b.token)
	}
	return b.next.RoundTrip(r)
}

// TestRegisterWithMCPGoSDK registers clients with the MCP Go SDK's RFC 7591 client
// (oauthex.RegisterClient): anonymously, as MCP clients do, and with an initial access token;
// the lookup path then finds them, disabled until an administrator enables them.
func TestRegisterWithMCPGoSDK(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		e.setPolicy("acme", openPolicy(true))
		endpoint := e.URL + "/tenants/acme/register"
		httpClient := func(token string) *http.Client {
			return &http.Client{Transport: bearerTransport{token: token, next: &validatingTransport{env: e}}}
		}

		mcp, err := oauthex.RegisterClient(ctx, endpoint, &oauthex.ClientRegistrationMetadata{
			ClientName: "MCP Inspector", RedirectURIs: []string{"http://localhost:6274/oauth/callback"},
			TokenEndpointAuthMethod: "none", GrantTypes: []string{"authorization_code", "refresh_token"},
			ResponseTypes: []string{"code"}, SoftwareID: "inspector", SoftwareVersion: "0.17",
		}, httpClient(""))
		if err != nil {
			t.Fatalf("anonymous RegisterClient: %v", err)
		}
		if mcp.ClientID == "" || mcp.ClientSecret != "" || mcp.ClientIDIssuedAt.IsZero() || len(mcp.RedirectURIs) != 1 {
			t.Errorf("anonymous registration: %+v", mcp)
		}

		tok := e.issueToken("acme", 1, 3600)
		svc, err := oauthex.RegisterClient(ctx, endpoint, &oauthex.ClientRegistrationMetadata{
			ClientName: "Reporting service", TokenEndpointAuthMethod: "client_secret_basic",
			GrantTypes: []string{"client_credentials"}, Contacts: []string{"reports@example.com"},
		}, httpClient(tok.Token))
		if err != nil {
			t.Fatalf("RegisterClient with an initial access token: %v", err)
		}
		if svc.ClientSecret == "" || !svc.ClientSecretExpiresAt.IsZero() {
			t.Errorf("backend registration: secret %q, expires %v", svc.ClientSecret, svc.ClientSecretExpiresAt)
		}

		_, err = oauthex.RegisterClient(ctx, endpoint, &oauthex.ClientRegistrationMetadata{
			RedirectURIs: []string{"https://app.example.com/cb#frag"}, TokenEndpointAuthMethod: "none",
		}, httpClient(""))
		var regErr *oauthex.ClientRegistrationError
		if !errors.As(err, &regErr) || regErr.ErrorCode != "invalid_redirect_uri" {
			t.Errorf("a fragment: %v, want invalid_redirect_uri", err)
		}

		lk := e.client("platform", auth.RoleLookup)
		for _, id := range []string{mcp.ClientID, svc.ClientID} {
			r, _ := lk.LookupClientWithResponse(ctx, id, &gen.LookupClientParams{TenantID: "acme"})
			if r.JSON200 == nil || r.JSON200.IsEnabled {
				t.Errorf("lookup of %s: %d %s", id, r.StatusCode(), r.Body)
			}
		}
		v, _ := lk.VerifyClientSecretWithResponse(ctx, svc.ClientID, gen.VerifyClientSecretJSONRequestBody{Secret: svc.ClientSecret, TenantID: "acme"})
		if v.JSON200 == nil || v.JSON200.Valid || v.JSON200.Reason == nil || *v.JSON200.Reason != gen.VerifyResultReasonDisabled {
			t.Errorf("verify before enabling: %s", v.Body)
		}
		if r, _ := e.client("acme").EnableApplicationWithResponse(ctx, svc.ClientID, nil); r.StatusCode() != http.StatusNoContent {
			t.Fatalf("enable: %d", r.StatusCode())
		}
		v, _ = lk.VerifyClientSecretWithResponse(ctx, svc.ClientID, gen.VerifyClientSecretJSONRequestBody{Secret: svc.ClientSecret, TenantID: "acme"})
		if v.JSON200 == nil || !v.JSON200.Valid {
			t.Errorf("verify after enabling: %s", v.Body)
		}
	})
}
