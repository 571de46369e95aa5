package main

import (
	"context"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/cxone/appreg/server"
	"github.com/cxone/appreg/server/auth"
)

// TestConsoleLink: the link `appreg serve` prints in development mode carries,
// in its fragment, a token the service trusts for the administrator of tenant
// demo, valid for 12 hours.
func TestConsoleLink(t *testing.T) {
	key, err := auth.LoadOrCreateDevKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	link, err := consoleLink("http://127.0.0.1:8080", key)
	if err != nil {
		t.Fatal(err)
	}
	tok, ok := strings.CutPrefix(link, "http://127.0.0.1:8080/console/#token=")
	if !ok || tok == "" {
		t.Fatalf("link %q", link)
	}
	v, err := auth.NewVerifier(context.Background(), auth.Config{JWKS: key.JWKS(), Issuer: key.Issuer()})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	p, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("the link's token is refused: %v", err)
	}
	if p.TenantID != "demo" || p.Subject != "admin@demo.example.com" || len(p.Roles) != 0 {
		t.Errorf("principal %+v", p)
	}
	if left := time.Until(p.ExpiresAt); left < 11*time.Hour || left > 12*time.Hour+time.Minute {
		t.Errorf("the token expires in %s, want 12h", left)
	}
}

func TestConsoleMode(t *testing.T) {
	cases := []struct {
		name        string
		development bool
		args        []string
		mode        string
	}{
		{"development key", true, nil, server.ConsoleDevelopment},
		{"development key wins over a client id", true, []string{"--console-client-id", "c", "--issuer", "https://i"}, server.ConsoleDevelopment},
		{"issuer keys and a console client", false, []string{"--console-client-id", "c", "--issuer", "https://i"}, server.ConsoleOIDC},
		{"issuer keys, no console client", false, []string{"--issuer", "https://i"}, server.ConsoleToken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			cfg := bind(fs, serveFlags...)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			c := consoleConfig(cfg, tc.development)
			if c.Mode != tc.mode || c.Files == nil {
				t.Fatalf("mode %q (files %v), want %q", c.Mode, c.Files != nil, tc.mode)
			}
			if c.Mode == server.ConsoleOIDC && (c.ClientID != "c" || c.Issuer != "https://i") {
				t.Errorf("client %q issuer %q", c.ClientID, c.Issuer)
			}
		})
	}
}
