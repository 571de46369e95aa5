// The console's session: the bearer token, kept in memory only (never in
// localStorage or sessionStorage: storage outlives the tab, is shared by every
// tab of the origin and is readable by any script that ever runs on it).
// A reload therefore asks to sign in again; with the issuer's own session that
// is one redirect. The design is written out in ../../../doc.go.
//
// Two things arrive in the address bar and are removed from it at once, when
// this module is first imported (before the router reads the address):
// - in development mode, `make run` prints a link carrying a development token
//   in the fragment (/console/#token=...), which browsers never send to a
//   server or in a Referer;
// - after an OpenID Connect sign-in, the issuer redirects to /console/callback
//   with a one-time code and the state; they are kept here for oidc.ts to
//   redeem, and the address goes back to the screen the sign-in started from.
//   When the sign-in ran in a popup (signing in again over a screen), the
//   popup hands the answer to the window that opened it and closes.

let token: string | undefined;
let idToken: string | undefined;
let expiryTimer: ReturnType<typeof setTimeout> | undefined;
const expiredHandlers = new Set<() => void>();

/** The path of the OpenID Connect redirect URI, under the console's base. */
export const CALLBACK_PATH = "/console/callback";
/** The name of the popup window a second sign-in runs in. */
export const POPUP_NAME = "appreg-sign-in";
/** The type of the message the popup posts to its opener. */
export const POPUP_MESSAGE = "appreg-sign-in-callback";
/** sessionStorage key of the redirect round trip (see oidc.ts). */
export const PENDING_KEY = "appreg.sign-in";

let callback: URL | undefined;

function readAddress(): void {
  if (typeof location === "undefined") return;
  if (location.pathname === CALLBACK_PATH) {
    const here = new URL(location.href);
    if (window.opener && window.name === POPUP_NAME) {
      try {
        (window.opener as Window).postMessage({ type: POPUP_MESSAGE, url: here.href }, location.origin);
      } finally {
        window.close();
      }
      return;
    }
    callback = here;
    let back = "/console/";
    try {
      const saved = JSON.parse(sessionStorage.getItem(PENDING_KEY) ?? "{}") as { returnTo?: string };
      if (typeof saved.returnTo === "string" && saved.returnTo.startsWith("/console/")) back = saved.returnTo;
    } catch {
      // no round trip under way: the callback is refused by oidc.ts
    }
    history.replaceState(null, "", back);
    return;
  }
  const hash = location.hash.startsWith("#") ? location.hash.slice(1) : location.hash;
  if (!hash) return;
  const params = new URLSearchParams(hash);
  const t = params.get("token");
  if (!t) return;
  params.delete("token");
  const rest = params.toString();
  history.replaceState(history.state, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
  setToken(t);
}

/** The issuer's answer to a redirect sign-in, once; undefined when there is none. */
export function takeCallback(): URL | undefined {
  const c = callback;
  callback = undefined;
  return c;
}

/** Whether the page was loaded as the end of a redirect sign-in. */
export function hasCallback(): boolean {
  return callback !== undefined;
}

/** The bearer token of the session, if signed in. */
export function getToken(): string | undefined {
  return token;
}

/** The ID token of an OpenID Connect sign-in (for signing out at the issuer). */
export function getIDToken(): string | undefined {
  return idToken;
}

/**
 * Starts (or renews) the session with a token. expiresIn (seconds) is the
 * token endpoint's expires_in; without it the token's exp claim is read. At
 * expiry the session-expired handlers run, so the console asks to sign in
 * again before a request fails.
 */
export function setToken(t: string, expiresIn?: number, id?: string): void {
  token = t;
  idToken = id;
  if (expiryTimer) clearTimeout(expiryTimer);
  expiryTimer = undefined;
  const ms = expiresIn !== undefined ? expiresIn * 1000 : expiryOf(t) - Date.now();
  if (Number.isFinite(ms)) {
    // setTimeout takes at most 2^31-1 ms (24.8 days); a longer token expires later than that anyway.
    expiryTimer = setTimeout(sessionExpired, Math.max(0, Math.min(ms, 2 ** 31 - 1)));
  }
}

/** Ends the session. */
export function clearToken(): void {
  token = undefined;
  idToken = undefined;
  if (expiryTimer) clearTimeout(expiryTimer);
  expiryTimer = undefined;
}

/** Registers a handler called when the session ends (401 or expiry); returns its remover. */
export function onSessionExpired(cb: () => void): () => void {
  expiredHandlers.add(cb);
  return () => expiredHandlers.delete(cb);
}

/** Called by the API client on a 401, and at the token's expiry: the session is over. */
export function sessionExpired(): void {
  if (expiryTimer) clearTimeout(expiryTimer);
  expiryTimer = undefined;
  for (const cb of [...expiredHandlers]) cb();
}

/** The exp claim of a JWT in ms, read for timing only (the server verifies tokens); NaN when absent. */
function expiryOf(jwt: string): number {
  try {
    const part = jwt.split(".")[1] ?? "";
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
    const exp = (JSON.parse(json) as { exp?: unknown }).exp;
    return typeof exp === "number" ? exp * 1000 : NaN;
  } catch {
    return NaN;
  }
}

readAddress();
