// The console's sign-in, end to end (scripts/console-signin-test starts the
// servers): development links and pasted tokens, OpenID Connect authorization
// code + PKCE through a real provider's login page (zitadel/oidc's op), and
// signing in again in a popup when the session expires, keeping what was
// typed. Elements are found by role and accessible name; axe-core must find
// no WCAG 2.1 AA violation on the sign-in screens.
import { chromium } from "playwright-core";
import AxeBuilder from "@axe-core/playwright";

const env = process.env;
for (const k of ["DEV_URL", "DEV_LINK", "DEV_TOKEN", "OIDC_URL", "ISSUER", "USERNAME", "SHORT_USERNAME", "PASSWORD"]) {
  if (!env[k]) throw new Error(`${k} is not set: run scripts/console-signin-test`);
}

const browser = await chromium.launch({
  executablePath: env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

const cases = [];
const test = (name, fn) => cases.push({ name, fn });

class Failure extends Error {}
function check(ok, what) {
  if (!ok) throw new Failure(what);
}

/** A fresh browser context (nothing shared between cases) and a page that records CSP violations. */
async function open() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const csp = [];
  const watch = (p) => p.on("console", (m) => {
    if (/Content Security Policy/i.test(m.text())) csp.push(m.text());
  });
  watch(page);
  context.on("page", watch);
  return { context, page, csp };
}

async function axe(page, what) {
  const r = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).analyze();
  check(r.violations.length === 0,
    `${what}: axe-core found ${r.violations.map((v) => `${v.id} (${v.nodes.length}: ${v.nodes.map((n) => n.target).join(", ")})`).join("; ")}`);
}

/** Everything the page keeps in web storage, and its address. */
async function traces(page) {
  return page.evaluate(() => {
    const dump = (s) => Object.fromEntries(Array.from({ length: s.length }, (_, i) => [s.key(i), s.getItem(s.key(i))]));
    return { local: dump(localStorage), session: dump(sessionStorage), url: location.href };
  });
}

async function noTokenLeft(page, token) {
  const t = await traces(page);
  const where = Object.entries(t).filter(([, v]) => JSON.stringify(v).includes(token)).map(([k]) => k);
  check(where.length === 0, `the token is in ${where.join(", ")}`);
  check(!/[#?&](token|code|state)=/.test(t.url), `the address still carries a credential: ${t.url}`);
  return t;
}

const signedIn = (page) => page.getByRole("heading", { name: "Applications", level: 1 }).waitFor({ timeout: 15000 });

/** The provider's login page (zitadel/oidc's example login). */
async function providerLogin(page, username) {
  await page.getByRole("textbox", { name: "Username:" }).waitFor({ timeout: 15000 });
  check(page.url().startsWith(env.ISSUER), `the login page is not the provider's: ${page.url()}`);
  await page.getByRole("textbox", { name: "Username:" }).fill(username);
  // A password field has no ARIA role; its label is its accessible name.
  await page.getByLabel("Password:").fill(env.PASSWORD);
  await page.getByRole("button", { name: "Login" }).click();
}

/** The access token the provider's token endpoint hands the console. */
function tokenFrom(page) {
  return page.waitForResponse((r) => r.url().startsWith(env.ISSUER) && r.url().includes("/token") && r.request().method() === "POST",
    { timeout: 30000 }).then(async (r) => {
    check(r.status() === 200, `the token endpoint answered ${r.status()}: ${await r.text()}`);
    const body = await r.json();
    check(typeof body.access_token === "string" && typeof body.id_token === "string", "the token answer lacks a token");
    return body.access_token;
  });
}

test("development: the printed console link signs in and its token leaves the address bar", async ({ page, csp }) => {
  await page.goto(env.DEV_LINK);
  await signedIn(page);
  const token = env.DEV_LINK.split("#token=")[1];
  await noTokenLeft(page, token);
  check(page.url() === `${env.DEV_URL}/console/`, `address ${page.url()}`);
  check(csp.length === 0, `CSP violations: ${csp.join("; ")}`);
});

test("development: the sign-in screen takes a pasted token, refuses a malformed one, and passes axe", async ({ page, csp }) => {
  await page.goto(`${env.DEV_URL}/console/`);
  await page.getByRole("heading", { name: "Sign in", level: 1 }).waitFor();
  await page.getByText("make run").first().waitFor();
  await axe(page, "the development sign-in screen");
  const field = page.getByRole("textbox", { name: "Access token" });
  await field.fill("not a token");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByText("That is not an access token").waitFor();
  await axe(page, "the sign-in screen with an error");
  await field.fill(env.DEV_TOKEN);
  await page.getByRole("button", { name: "Sign in" }).click();
  await signedIn(page);
  await noTokenLeft(page, env.DEV_TOKEN);
  check(csp.length === 0, `CSP violations: ${csp.join("; ")}`);
});

test("oidc: code + PKCE through the provider's login page lands on the applications; no token in storage or the address", async ({ page, csp }) => {
  await page.goto(`${env.OIDC_URL}/console/applications`);
  await page.getByRole("heading", { name: "Sign in", level: 1 }).waitFor();
  await axe(page, "the OIDC sign-in screen");
  const token = tokenFrom(page);
  await page.getByRole("button", { name: "Sign in with your organization" }).click();
  const authorize = new URL(await page.waitForURL((u) => u.href.startsWith(env.ISSUER), { timeout: 15000 }).then(() => page.url()));
  await providerLogin(page, env.USERNAME);
  await signedIn(page);
  const accessToken = await token;
  check(page.url() === `${env.OIDC_URL}/console/applications`, `the sign-in did not return to the screen it started from: ${page.url()}`);
  const t = await noTokenLeft(page, accessToken);
  check(Object.keys(t.session).length === 0 && Object.keys(t.local).length === 0,
    `web storage is not empty after sign-in: ${JSON.stringify(t)}`);
  check(authorize.href.length > 0, "no authorization request");
  // The provider's access token is what appreg trusts (JWKS, iss, aud, tenantId).
  const me = await fetch(`${env.OIDC_URL}/me`, { headers: { Authorization: `Bearer ${accessToken}` } });
  check(me.status === 200, `GET /me with the console's token answered ${me.status}`);
  const who = await me.json();
  check(who.tenantId === "demo" && who.subject === env.USERNAME && who.isOperator === false, `GET /me: ${JSON.stringify(who)}`);
  check(csp.length === 0, `CSP violations: ${csp.join("; ")}`);
});

test("oidc: the authorization request uses PKCE S256, state and nonce", async ({ page }) => {
  await page.goto(`${env.OIDC_URL}/console/`);
  const request = page.waitForRequest((r) => r.url().startsWith(env.ISSUER) && r.isNavigationRequest());
  await page.getByRole("button", { name: "Sign in with your organization" }).click();
  const u = new URL((await request).url());
  const p = u.searchParams;
  check(p.get("response_type") === "code" && p.get("client_id") === "appreg-console", `request ${u}`);
  check(p.get("code_challenge_method") === "S256" && (p.get("code_challenge") ?? "").length === 43, `PKCE: ${u}`);
  check((p.get("state") ?? "").length >= 32 && (p.get("nonce") ?? "").length >= 32, `state and nonce: ${u}`);
  check(p.get("redirect_uri") === `${env.OIDC_URL}/console/callback`, `redirect_uri ${p.get("redirect_uri")}`);
});

test("oidc: a callback this tab did not start is refused and leaves the address", async ({ page }) => {
  await page.goto(`${env.OIDC_URL}/console/callback?code=stolen-code&state=forged`);
  await page.getByRole("alert").filter({ hasText: "not started here" }).waitFor();
  check(!page.url().includes("stolen-code"), `the code is still in the address: ${page.url()}`);
  await page.getByRole("heading", { name: "Sign in", level: 1 }).waitFor();
});

test("oidc: an expired session signs in again in a popup and keeps what was typed", async ({ page, csp }) => {
  await page.goto(`${env.OIDC_URL}/console/`);
  const first = tokenFrom(page);
  await page.getByRole("button", { name: "Sign in with your organization" }).click();
  await providerLogin(page, env.SHORT_USERNAME);
  await signedIn(page);
  await first;
  const typed = "typed before the session expired";
  const search = page.getByRole("searchbox").first();
  await search.fill(typed);
  const dialog = page.getByRole("dialog", { name: "Your session has expired" });
  await dialog.waitFor({ timeout: 20000 });
  const again = dialog.getByRole("button", { name: "Sign in again" });
  await page.waitForFunction(() => document.activeElement?.textContent?.trim() === "Sign in again", null, { timeout: 5000 })
    .catch(() => { throw new Failure("focus did not move to the dialog's Sign in again button"); });
  await axe(page, "the session-expired dialog");
  const second = tokenFrom(page);
  const popupOpened = page.waitForEvent("popup");
  await again.press("Enter");
  const popup = await popupOpened;
  await providerLogin(popup, env.SHORT_USERNAME);
  await popup.waitForEvent("close", { timeout: 15000 });
  const renewed = await second;
  await dialog.waitFor({ state: "hidden", timeout: 15000 });
  check(await search.inputValue() === typed, `the typed text was lost: ${await search.inputValue()}`);
  check(page.url() === `${env.OIDC_URL}/console/`, `the page moved: ${page.url()}`);
  await noTokenLeft(page, renewed);
  check(csp.length === 0, `CSP violations: ${csp.join("; ")}`);
});

test("oidc: a token the service refuses (401) opens the sign-in-again dialog, and signing in again closes it", async ({ page }) => {
  await page.goto(`${env.OIDC_URL}/console/`);
  await page.getByText("Use an access token instead").click();
  // A development token: well formed, but not signed by this service's issuer.
  await page.getByRole("textbox", { name: "Access token" }).fill(env.DEV_TOKEN);
  await page.getByRole("button", { name: "Sign in with this token" }).click();
  const dialog = page.getByRole("dialog", { name: "Your session has expired" });
  await dialog.waitFor({ timeout: 15000 });
  const renewed = tokenFrom(page);
  const popupOpened = page.waitForEvent("popup");
  await dialog.getByRole("button", { name: "Sign in again" }).click();
  await providerLogin(await popupOpened, env.USERNAME);
  await dialog.waitFor({ state: "hidden", timeout: 15000 });
  await noTokenLeft(page, await renewed);
});

let failed = 0;
for (const c of cases) {
  const ctx = await open();
  try {
    await c.fn(ctx);
    console.log(`ok   ${c.name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${c.name}\n     ${e instanceof Failure ? e.message : e.stack}`);
  } finally {
    await ctx.context.close();
  }
}
await browser.close();
console.log(`console sign-in: ${cases.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
