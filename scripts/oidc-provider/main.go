// Command oidc-provider is an OpenID provider for the console's sign-in tests:
// zitadel/oidc's op package (the certified provider library) with its example
// in-memory storage and login page, on loopback. It knows one user and one
// client, the console as a public client (authorization code + PKCE, no
// secret) whose redirect URI is <appreg>/console/callback, and issues access
// tokens as JWTs carrying the tenantId and roles claims appreg reads.
//
//	go run . --addr 127.0.0.1:9998 --console http://127.0.0.1:8080
//
// The issuer is http://<addr>; its keys are at http://<addr>/keys, which is
// what APPREG_JWKS_URL names. It is its own module so that its dependencies
// stay out of the service's go.mod.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "oidc-provider:", err)
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("oidc-provider", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9998", "address to listen on (loopback)")
	consoleOrigin := fs.String("console", "", "appreg's origin, e.g. http://127.0.0.1:8080 (required): the redirect URI is <console>/console/callback")
	clientID := fs.String("client-id", "appreg-console", "the console's client id")
	username := fs.String("username", "admin@demo.example.com", "the user's login name and sub")
	password := fs.String("password", "demo-password", "the user's password")
	tenant := fs.String("tenant", "demo", "the tenantId claim of the user's access tokens")
	roles := fs.String("roles", "", "comma-separated roles claim of the user's access tokens")
	ttl := fs.Duration("token-ttl", 10*time.Minute, "lifetime of access tokens")
	shortName := fs.String("short-username", "short@demo.example.com", "a second user (same password, tenant and roles) whose access tokens live --short-ttl, for the expired-session test")
	shortTTL := fs.Duration("short-ttl", 5*time.Second, "lifetime of the second user's access tokens")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *consoleOrigin == "" {
		return errors.New("--console is required")
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	issuer := "http://" + ln.Addr().String()
	origin := strings.TrimSuffix(*consoleOrigin, "/")

	users := users{}
	for _, name := range []string{*username, *shortName} {
		users[name] = &storage.User{
			ID: name, Username: name, Password: *password, FirstName: "Demo", LastName: "Administrator",
			Email: name, EmailVerified: true, PreferredLanguage: language.English,
		}
	}
	st := &providerStorage{
		Storage: storage.NewStorageWithClients(users, map[string]*storage.Client{}),
		client: &publicClient{
			id:          *clientID,
			redirects:   []string{origin + "/console/callback"},
			postLogouts: []string{origin + "/console/"},
		},
		tenant:    *tenant,
		ttl:       *ttl,
		shortUser: *shortName,
		shortTTL:  *shortTTL,
	}
	if *roles != "" {
		st.roles = strings.Split(*roles, ",")
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	router := exampleop.SetupServer(issuer, st, logger, false)
	srv := &http.Server{Handler: router, ReadHeaderTimeout: 5 * time.Second}
	fmt.Printf("oidc-provider: issuer %s, client %s, user %s\n", issuer, *clientID, *username)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// providerStorage is the example storage with the console's client, appreg's
// claims in access tokens and their lifetime.
type providerStorage struct {
	*storage.Storage
	client *publicClient
	tenant string
	roles  []string
	ttl    time.Duration
	// shortUser's tokens live shortTTL.
	shortUser string
	shortTTL  time.Duration
}

// GetClientByClientID answers the console's client; the example's others are not registered.
func (s *providerStorage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	if id == s.client.id {
		return s.client, nil
	}
	return s.Storage.GetClientByClientID(ctx, id)
}

// GetPrivateClaimsFromScopes adds appreg's claims to the JWT access tokens.
func (s *providerStorage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	claims := map[string]any{"tenantId": s.tenant}
	if len(s.roles) > 0 {
		claims["roles"] = s.roles
	}
	return claims, nil
}

// CreateAccessToken is the example's, with --token-ttl (or --short-ttl) as the lifetime.
func (s *providerStorage) CreateAccessToken(ctx context.Context, req op.TokenRequest) (string, time.Time, error) {
	id, _, err := s.Storage.CreateAccessToken(ctx, req)
	ttl := s.ttl
	if req.GetSubject() == s.shortUser {
		ttl = s.shortTTL
	}
	return id, time.Now().Add(ttl), err
}

// users is a user store keyed by login name, which is also the user's id (sub).
type users map[string]*storage.User

func (u users) GetUserByID(id string) *storage.User         { return u[id] }
func (u users) GetUserByUsername(name string) *storage.User { return u[name] }
func (u users) ExampleClientID() string                     { return "service" }

// publicClient is a browser application without a secret: authorization code
// with PKCE, JWT access tokens.
type publicClient struct {
	id                     string
	redirects, postLogouts []string
}

func (c *publicClient) GetID() string                    { return c.id }
func (c *publicClient) RedirectURIs() []string           { return c.redirects }
func (c *publicClient) PostLogoutRedirectURIs() []string { return c.postLogouts }
func (c *publicClient) ApplicationType() op.ApplicationType {
	return op.ApplicationTypeUserAgent
}
func (c *publicClient) AuthMethod() oidc.AuthMethod { return oidc.AuthMethodNone }
func (c *publicClient) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *publicClient) GrantTypes() []oidc.GrantType { return []oidc.GrantType{oidc.GrantTypeCode} }
func (c *publicClient) LoginURL(id string) string {
	return "/login/username?authRequestID=" + id
}
func (c *publicClient) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeJWT }
func (c *publicClient) IDTokenLifetime() time.Duration      { return time.Hour }

// DevMode allows the http (loopback) redirect URI of the test.
func (c *publicClient) DevMode() bool { return true }
func (c *publicClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *publicClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *publicClient) IsScopeAllowed(string) bool           { return false }
func (c *publicClient) IDTokenUserinfoClaimsAssertion() bool { return false }
func (c *publicClient) ClockSkew() time.Duration             { return 0 }
