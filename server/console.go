package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
	echomw "github.com/labstack/echo/v4/middleware"

	"github.com/cxone/appreg/gen"
	"github.com/cxone/appreg/server/auth"
)

// Console sign-in modes, as GET /console-config answers them.
const (
	// ConsoleDevelopment: the service trusts its development key; the console takes a
	// development token from its link's fragment or a pasted one.
	ConsoleDevelopment = "development"
	// ConsoleOIDC: the console signs in at the issuer with authorization code + PKCE.
	ConsoleOIDC = "oidc"
	// ConsoleToken: an issuer's keys are trusted but no console client is configured;
	// a token can only be pasted.
	ConsoleToken = "token"
)

// consoleScope is the scope the console asks the issuer for.
const consoleScope = "openid"

// ConsoleConfig says how the console at /console is served and how it signs
// people in. The design is described in package console's documentation.
type ConsoleConfig struct {
	// Files is the built console, rooted at its index.html (console.Files()).
	// Nil: /console is not served.
	Files fs.FS
	// Mode is ConsoleDevelopment, ConsoleOIDC or ConsoleToken; empty means
	// ConsoleToken.
	Mode string
	// Issuer and ClientID are the OpenID provider and the console's public client
	// at it; both are required in ConsoleOIDC mode.
	Issuer, ClientID string
	// HTTPClient fetches the issuer's discovery document; default: a client
	// with a 5 s timeout.
	HTTPClient *http.Client
}

// consoleSite serves the console and answers what it asks before sign-in.
type consoleSite struct {
	files     fs.FS
	index     []byte
	mode      string
	issuer    string
	clientID  string
	discovery *discovery // ConsoleOIDC only
}

func newConsoleSite(cfg ConsoleConfig) (*consoleSite, error) {
	c := &consoleSite{files: cfg.Files, mode: cfg.Mode, issuer: cfg.Issuer, clientID: cfg.ClientID}
	switch c.mode {
	case "":
		c.mode = ConsoleToken
	case ConsoleDevelopment, ConsoleToken:
	case ConsoleOIDC:
		if c.issuer == "" || c.clientID == "" {
			return nil, errors.New("server: the console's OpenID Connect sign-in needs the issuer and the console's client id")
		}
		d, err := newDiscovery(c.issuer, cfg.HTTPClient)
		if err != nil {
			return nil, err
		}
		c.discovery = d
	default:
		return nil, fmt.Errorf("server: unknown console mode %q", c.mode)
	}
	if c.files != nil {
		index, err := fs.ReadFile(c.files, "index.html")
		if err != nil {
			return nil, fmt.Errorf("server: the built console has no index.html: %w", err)
		}
		c.index = index
	}
	return c, nil
}

// registerConsole serves the console at /console and /console/ and every path
// below: built files as themselves, any other path that does not look like a
// file as the console's page, so that deep links survive a reload.
func (s *Server) registerConsole(e *echo.Echo) {
	if s.console.files == nil {
		return
	}
	zip := echomw.GzipWithConfig(echomw.GzipConfig{MinLength: 1024})
	methods := []string{http.MethodGet, http.MethodHead} // HEAD: monitors, curl -I, link checkers
	e.Match(methods, "/console", s.serveConsole, zip)
	e.Match(methods, "/console/*", s.serveConsole, zip)
}

// cacheImmutable is the caching of files whose names change with their content.
const cacheImmutable = "public, max-age=31536000, immutable"

func (s *Server) serveConsole(c echo.Context) error {
	h := c.Response().Header()
	h.Set("Content-Security-Policy", s.console.contentSecurityPolicy(c.Request().Context()))
	name := strings.TrimPrefix(path.Clean("/"+c.Param("*")), "/")
	if name != "" && name != "index.html" {
		if st, err := fs.Stat(s.console.files, name); err == nil && !st.IsDir() {
			if hashedAsset(name) {
				h.Set("Cache-Control", cacheImmutable)
			} else {
				h.Set("Cache-Control", "no-cache")
			}
			http.ServeFileFS(c.Response(), c.Request(), s.console.files, name)
			return nil
		}
		if looksLikeFile(name) {
			// A missing script or style must not be answered with the page: the
			// browser would fail on HTML in its place, and cache nothing useful.
			return echo.ErrNotFound
		}
	}
	h.Set("Cache-Control", "no-cache")
	return c.HTMLBlob(http.StatusOK, s.console.index)
}

// hashedAsset reports whether name is a build output whose name carries its
// content's hash (Vite's assets/, SvelteKit's _app/immutable/).
func hashedAsset(name string) bool {
	return strings.HasPrefix(name, "assets/") || strings.HasPrefix(name, "_app/immutable/")
}

// looksLikeFile reports whether a path under /console/ names a file rather than
// a screen: anything under the build's asset folders, or a last segment with an
// extension. Screens (applications/6f1c...) have none; client ids may hold dots,
// so only a known asset extension counts.
func looksLikeFile(name string) bool {
	if hashedAsset(name) || strings.HasPrefix(name, "_app/") {
		return true
	}
	ext := strings.ToLower(path.Ext(name))
	return slices.Contains([]string{".js", ".mjs", ".css", ".map", ".json", ".html", ".ico", ".png", ".svg",
		".jpg", ".jpeg", ".webp", ".gif", ".woff", ".woff2", ".ttf", ".txt", ".webmanifest", ".xml"}, ext)
}

// contentSecurityPolicy is the console's policy: everything from this origin
// only, no inline script or style, no framing. In OIDC mode the console also
// calls the issuer's token endpoint (the code exchange), so its origin is
// allowed for fetch; the authorization and end-session endpoints are
// navigations, which connect-src does not govern.
func (c *consoleSite) contentSecurityPolicy(ctx context.Context) string {
	connect := "'self'"
	if c.mode == ConsoleOIDC {
		for _, o := range c.discovery.origins(ctx) {
			connect += " " + o
		}
	}
	return "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src " + connect +
		"; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
}

// ViewMe answers who the caller is, from its verified token.
func (s *Server) ViewMe(ctx context.Context, _ gen.ViewMeRequestObject) (gen.ViewMeResponseObject, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	roles := p.Roles
	if roles == nil {
		roles = []string{}
	}
	return gen.ViewMe200JSONResponse(gen.Me{
		TenantID:    p.TenantID,
		Subject:     p.Subject,
		Roles:       roles,
		IsOperator:  p.HasRole(auth.RoleAdmin),
		ExpiresTime: p.ExpiresAt.UTC(),
	}), nil
}

// ViewConsoleConfig answers how the console signs people in.
func (s *Server) ViewConsoleConfig(ctx context.Context, _ gen.ViewConsoleConfigRequestObject) (gen.ViewConsoleConfigResponseObject, error) {
	answer := gen.ConsoleConfig{Mode: gen.ConsoleConfigMode(s.console.mode), Scope: consoleScope}
	if s.console.mode == ConsoleOIDC {
		m, err := s.console.discovery.get(ctx)
		if err != nil {
			return nil, err
		}
		answer.Issuer = &s.console.issuer
		answer.ClientID = &s.console.clientID
		answer.AuthorizationEndpoint = &m.AuthorizationEndpoint
		answer.TokenEndpoint = &m.TokenEndpoint
		if m.EndSessionEndpoint != "" {
			answer.EndSessionEndpoint = &m.EndSessionEndpoint
		}
	}
	return gen.ViewConsoleConfig200JSONResponse(answer), nil
}

// ViewConsole is declared so that the contract names every answer; the route
// is served by serveConsole (publishedRoutes does not register the generated
// one), so this is never called.
func (s *Server) ViewConsole(context.Context, gen.ViewConsoleRequestObject) (gen.ViewConsoleResponseObject, error) {
	return nil, echo.ErrNotFound
}

// ViewConsolePath is declared so that the contract names every answer; see
// ViewConsole.
func (s *Server) ViewConsolePath(context.Context, gen.ViewConsolePathRequestObject) (gen.ViewConsolePathResponseObject, error) {
	return nil, echo.ErrNotFound
}

// isConsoleRoute reports whether a generated route is one serveConsole answers.
func isConsoleRoute(path string) bool {
	return path == "/console" || strings.HasPrefix(path, "/console/")
}

// originOf is scheme://host[:port] of an absolute URL, or "" for anything else.
func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}
