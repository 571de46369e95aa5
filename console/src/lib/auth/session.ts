// The console's session: the bearer token, kept in memory only (never in
// localStorage or sessionStorage, so another tab or a later visitor of this
// browser cannot read it). In development mode `make run` prints a link that
// carries a token in the URL fragment (/console/#token=...); it is read once at
// start and removed from the address bar at once.

let token: string | undefined;
const expiredHandlers = new Set<() => void>();

function readFragment(): void {
  if (typeof location === "undefined") return;
  const hash = location.hash.startsWith("#") ? location.hash.slice(1) : location.hash;
  if (!hash) return;
  const params = new URLSearchParams(hash);
  const t = params.get("token");
  if (!t) return;
  token = t;
  params.delete("token");
  const rest = params.toString();
  history.replaceState(history.state, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
}

readFragment();

/** The bearer token of the session, if signed in. */
export function getToken(): string | undefined {
  return token;
}

/** Starts (or renews) the session with a token. */
export function setToken(t: string): void {
  token = t;
}

/** Ends the session. */
export function clearToken(): void {
  token = undefined;
}

/** Registers a handler called when the API answers 401; returns its remover. */
export function onSessionExpired(cb: () => void): () => void {
  expiredHandlers.add(cb);
  return () => expiredHandlers.delete(cb);
}

/** Called by the API client on a 401: the session is over. */
export function sessionExpired(): void {
  for (const cb of [...expiredHandlers]) cb();
}
