// OpenID Connect sign-in: authorization code with PKCE (S256) as a public
// client, state and nonce checked, with oauth4webapi (pinned) doing the
// protocol. Why a public client, why PKCE and why tokens stay in memory:
// ../../../doc.go.
//
// Two ways to run it:
// - redirect (the first sign-in): the page goes to the issuer and comes back
//   to /console/callback. The page is unloaded meanwhile, so the PKCE
//   verifier, the state, the nonce and the screen to return to wait in
//   sessionStorage (this tab only); they are removed before the code is
//   redeemed, and are worthless without it. No token is ever stored.
// - popup (signing in again over a screen whose session expired): the
//   verifier, state and nonce stay in this page's memory, the issuer's answer
//   comes back by postMessage from the popup (same origin only), and the
//   screen, with everything typed into it, never leaves.
import * as oauth from "oauth4webapi";
import { api } from "../api/client";
import type { components } from "../api/schema";
import { CALLBACK_PATH, PENDING_KEY, POPUP_MESSAGE, POPUP_NAME, clearToken, getIDToken, setToken, takeCallback } from "./session";

export type ConsoleConfig = components["schemas"]["ConsoleConfig"];

let config: Promise<ConsoleConfig> | undefined;
let known: ConsoleConfig | undefined;

/** The sign-in configuration when it has been read already, so a dialog can render (and focus) its button at once. */
export function knownConfig(): ConsoleConfig | undefined {
  return known;
}

/** How this service signs people in (GET /console-config, asked once per page). */
export function consoleConfig(): Promise<ConsoleConfig> {
  config ??= (async () => {
    const { data, response } = await api.GET("/console-config");
    if (!response.ok || !data) {
      config = undefined;
      throw new Error(response.status === 503
        ? "The sign-in service cannot be reached right now. Try again in a moment."
        : `The console's sign-in settings could not be read (HTTP ${response.status}).`);
    }
    known = data;
    return data;
  })();
  return config;
}

type Issuer = { as: oauth.AuthorizationServer; client: oauth.Client; scope: string; options: oauth.TokenEndpointRequestOptions };

function issuerOf(c: ConsoleConfig): Issuer {
  if (c.mode !== "oidc" || !c.issuer || !c.clientId || !c.authorizationEndpoint || !c.tokenEndpoint) {
    throw new Error("This service has no OpenID Connect sign-in configured.");
  }
  return {
    as: {
      issuer: c.issuer,
      authorization_endpoint: c.authorizationEndpoint,
      token_endpoint: c.tokenEndpoint,
      end_session_endpoint: c.endSessionEndpoint,
    },
    client: { client_id: c.clientId },
    scope: c.scope,
    // The server accepts http issuers on loopback only (development and tests).
    options: { [oauth.allowInsecureRequests]: c.issuer.startsWith("http://") },
  };
}

const redirectURI = () => location.origin + CALLBACK_PATH;

type Round = { verifier: string; state: string; nonce: string };

async function authorizationURL(iss: Issuer, round: Round, popup: boolean): Promise<URL> {
  const url = new URL(iss.as.authorization_endpoint!);
  url.searchParams.set("client_id", iss.client.client_id);
  url.searchParams.set("redirect_uri", redirectURI());
  url.searchParams.set("response_type", "code");
  url.searchParams.set("scope", iss.scope);
  url.searchParams.set("code_challenge", await oauth.calculatePKCECodeChallenge(round.verifier));
  url.searchParams.set("code_challenge_method", "S256");
  url.searchParams.set("state", round.state);
  url.searchParams.set("nonce", round.nonce);
  if (popup) url.searchParams.set("display", "popup");
  return url;
}

function newRound(): Round {
  return { verifier: oauth.generateRandomCodeVerifier(), state: oauth.generateRandomState(), nonce: oauth.generateRandomNonce() };
}

/** Redeems the issuer's answer for tokens and starts the session with them. */
async function redeem(iss: Issuer, round: Round, answer: URL): Promise<void> {
  let params: URLSearchParams;
  try {
    params = oauth.validateAuthResponse(iss.as, iss.client, answer, round.state);
  } catch (e) {
    throw new Error(`The sign-in was refused: ${e instanceof Error ? e.message : String(e)}`);
  }
  const response = await oauth.authorizationCodeGrantRequest(iss.as, iss.client, oauth.None(), params, redirectURI(),
    round.verifier, iss.options);
  const result = await oauth.processAuthorizationCodeResponse(iss.as, iss.client, response,
    { expectedNonce: round.nonce, requireIdToken: true });
  setToken(result.access_token, result.expires_in, result.id_token);
}

/** Starts a sign-in by redirect; the page leaves for the issuer. */
export async function signInWithRedirect(): Promise<void> {
  const iss = issuerOf(await consoleConfig());
  const round = newRound();
  const returnTo = location.pathname.startsWith("/console/") ? location.pathname + location.search : "/console/";
  // sessionStorage, not memory: this page is unloaded until the issuer sends
  // the browser back. Removed by completeRedirect before the code is redeemed.
  sessionStorage.setItem(PENDING_KEY, JSON.stringify({ ...round, returnTo }));
  location.assign((await authorizationURL(iss, round, false)).href);
}

/**
 * Ends a sign-in by redirect when the page was loaded at /console/callback;
 * resolves false when it was not.
 */
export async function completeRedirect(): Promise<boolean> {
  const answer = takeCallback();
  if (!answer) return false;
  const saved = sessionStorage.getItem(PENDING_KEY);
  sessionStorage.removeItem(PENDING_KEY);
  if (!saved) throw new Error("This sign-in was not started here, or was already used. Sign in again.");
  const round = JSON.parse(saved) as Round;
  await redeem(issuerOf(await consoleConfig()), round, answer);
  return true;
}

/**
 * Signs in in a popup window, leaving this page as it is. Rejects when the
 * browser blocks the popup or the user closes it.
 */
export async function signInWithPopup(): Promise<void> {
  const iss = issuerOf(await consoleConfig());
  const round = newRound();
  const url = await authorizationURL(iss, round, true);
  const popup = window.open(url.href, POPUP_NAME, "popup,width=520,height=680");
  if (!popup) throw new Error("The browser blocked the sign-in window. Allow pop-ups for this site and try again.");
  const answer = await new Promise<URL>((resolve, reject) => {
    const closed = setInterval(() => {
      if (popup.closed) {
        cleanup();
        reject(new Error("The sign-in window was closed before signing in."));
      }
    }, 500);
    function onMessage(ev: MessageEvent) {
      if (ev.origin !== location.origin || ev.source !== popup) return;
      const data = ev.data as { type?: unknown; url?: unknown };
      if (data?.type !== POPUP_MESSAGE || typeof data.url !== "string") return;
      cleanup();
      resolve(new URL(data.url));
    }
    function cleanup() {
      clearInterval(closed);
      window.removeEventListener("message", onMessage);
    }
    window.addEventListener("message", onMessage);
  });
  await redeem(iss, round, answer);
}

/** Where to send the browser to end the session at the issuer too; undefined when there is no such place. */
export async function endSessionURL(): Promise<string | undefined> {
  const c = await consoleConfig().catch(() => undefined);
  if (!c || c.mode !== "oidc" || !c.endSessionEndpoint || !c.clientId) return undefined;
  const url = new URL(c.endSessionEndpoint);
  const hint = getIDToken();
  if (hint) url.searchParams.set("id_token_hint", hint);
  url.searchParams.set("client_id", c.clientId);
  url.searchParams.set("post_logout_redirect_uri", location.origin + "/console/");
  return url.href;
}

/**
 * Ends the session here and, after an OpenID Connect sign-in, at the issuer
 * too (the browser goes there and comes back to /console/). Resolves false
 * when the page stays, signed out.
 */
export async function signOut(): Promise<boolean> {
  const url = await endSessionURL();
  clearToken();
  if (!url) return false;
  location.assign(url);
  return true;
}
