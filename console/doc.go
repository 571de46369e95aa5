// Package console is the web console of appreg (the Application Registration
// page), built from the TypeScript in this folder into build/ and embedded in
// the binary, so that `go build` and `make run` need only Go. The server
// serves it at /console (server/console.go); `make console` rebuilds it and
// scripts/check-console fails when the committed build is stale or its first
// load passes 150 KB of JavaScript and CSS, gzipped.
//
// # Serving
//
// /console and every path below it that is not a built file answer index.html,
// so a deep link or a reload keeps the screen. A path that names a file
// (anything under assets/ or _app/, or a known asset extension) and does not
// exist is 404 in the API's error shape: answering HTML in place of a missing
// script would break the page in a way no one can debug. Hashed assets (their
// name changes with their content) are cached for a year as immutable;
// index.html and unhashed files are revalidated on every load (no-cache), so a
// new release is picked up at once.
//
// # Content Security Policy
//
//	default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;
//	connect-src 'self' [token endpoint origin]; object-src 'none';
//	frame-ancestors 'none'; base-uri 'none'; form-action 'self'
//
// The console handles credentials: a bearer token for the tenant's
// applications, and, once, each new client secret. Self-only scripts with no
// 'unsafe-inline' mean an injected string can never run as script even if a
// rendering bug let markup through; nothing is loaded from another origin, so
// no third party can change the code that sees a secret. frame-ancestors
// 'none' stops clickjacking of the delete and rotate buttons, base-uri 'none'
// stops a <base> tag from redirecting the relative asset and API URLs, and
// form-action 'self' keeps a form from posting a typed value elsewhere.
// connect-src names one more origin, and only in OIDC mode: the issuer's token
// endpoint, which the browser calls to exchange the authorization code. The
// authorization and end-session endpoints are top-level navigations, which
// connect-src does not govern. The discovery document is read by the server
// (GET /console-config, cached for an hour, fetched with a 5 s timeout and
// refused unless it names exactly the configured issuer), so the browser
// needs no cross-origin request for it. Answers also carry nosniff,
// Referrer-Policy no-referrer (the callback URL holds the one-time code) and
// X-Frame-Options DENY for browsers without frame-ancestors.
//
// # Sign-in
//
// Development mode (the service trusts its development key): `appreg serve`
// prints a link /console/#token=<development token> for the administrator of
// tenant demo. The token is in the fragment because browsers never send the
// fragment to a server or in a Referer, so it is in no access log; the
// console reads it and replaces the address at once, so it stays in neither
// the address bar nor the history. The sign-in screen also takes a pasted
// token (`appreg token`).
//
// Production (APPREG_CONSOLE_CLIENT_ID with a JWKS): OpenID Connect
// authorization code flow with PKCE (S256) at APPREG_ISSUER, as a public
// client, redirect URI <origin>/console/callback, with state and nonce
// checked (oauth4webapi, pinned, does the protocol). A public client because
// a page's code is readable by anyone: a client secret in it would be no
// secret (RFC 8252, RFC 9700 section 2.1.1; the OAuth 2.0 for Browser-Based
// Apps BCP). PKCE binds the code to the browser that asked for it, so a code
// leaked through a log or a Referer cannot be redeemed, and state and nonce
// tie the answer and the ID token to this sign-in. The console has no
// back end of its own for a session cookie, and the API takes bearer tokens
// only, so the tokens live in the page.
//
// Tokens are kept in memory only, never in localStorage or sessionStorage:
// storage outlives the tab, is shared by every tab of the origin and is read
// by any script that ever runs on it; memory ends with the tab. The price is
// a sign-in after a reload, which with the issuer's session is one redirect
// without typing. For the redirect round trip only, the PKCE verifier, the
// state and the nonce sit in sessionStorage (this tab only), because the
// page is unloaded while the user is at the issuer; the callback removes
// them before it redeems the code, and they are worthless without the code.
//
// An expired session (a 401 from the API, or the token's expiry, timed from
// the token endpoint's expires_in or the token's exp) does not navigate away:
// the console keeps the screen mounted, shows a "Your session has expired"
// dialog over it, and signs in again in a popup window (OIDC: the verifier,
// state and nonce stay in the page's memory and the popup hands back the
// issuer's answer by postMessage, same origin only, then closes) or with a
// pasted token (development). Everything typed stays in the page; no form
// draft is written to storage. The popup opens from the user's click, so
// browsers allow it; an issuer whose pages send Cross-Origin-Opener-Policy
// would cut the popup off from the console, and the dialog then says the
// window closed before signing in.
package console
