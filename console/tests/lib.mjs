// Shared by the console's browser tests: tokens and API calls against the real
// appreg the runner started, a browser per test file, axe-core at WCAG 2.1 AA,
// screenshots. Elements are found by role and accessible name only.
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import AxeBuilder from "@axe-core/playwright";

export const CONSOLE = process.env.CONSOLE_URL;
export const APPREG = process.env.APPREG_URL;
const SHOTS = process.env.SCREENSHOTS;

/** A tenant of its own for a test, so tests never see each other's data. */
export function tenant(prefix = "t") {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** A development token from `appreg token`. */
export function token({ tenant, sub = "admin@acme.example.com", roles = [] }) {
  const args = ["token", "--data-dir", process.env.APPREG_DATA_DIR, "--tenant", tenant, "--sub", sub];
  for (const r of roles) args.push("--role", r);
  return execFileSync(process.env.APPREG_BIN, args, { encoding: "utf8" }).trim();
}

/** Calls appreg directly (seeding and checking what the console did). */
export async function api(tok, method, path, body, headers = {}) {
  const res = await fetch(APPREG + path, {
    method,
    headers: { Authorization: `Bearer ${tok}`, ...(body ? { "Content-Type": "application/json" } : {}), ...headers },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

export async function createApp(tok, fields = {}) {
  const r = await api(tok, "POST", "/applications", {
    name: "Agent desktop", contacts: ["it-admins@example.com"], type: "confidential",
    redirects: ["https://desktop.example.com/callback"], ...fields,
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-dev-shm-usage",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

/**
 * A signed-in console page (the development link, /console/#token=...) in a
 * context of its own. Any CSP violation, page error or request leaving the
 * test's origins fails the test at close.
 */
export async function open(browser, tok, { path = "/", width = 1280, height = 900 } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, locale: "en-US", timezoneId: "UTC" });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: CONSOLE });
  const page = await context.newPage();
  page.setDefaultTimeout(8000);
  const problems = [];
  page.on("console", (m) => { if (m.type() === "error" && /Content Security Policy|Refused to/i.test(m.text())) problems.push(m.text()); });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("request", (r) => { const u = r.url(); if (!u.startsWith(CONSOLE) && !u.startsWith("data:")) problems.push(`request left the console's origin: ${u}`); });
  page.problems = problems;
  await page.goto(`${CONSOLE}/console${path}#token=${tok}`);
  return page;
}

export function checkProblems(page) {
  assert.deepEqual(page.problems, [], "the page reported problems");
}

/** axe-core at WCAG 2.1 AA: any violation fails the test, listed by rule and node. */
export async function axe(page, screen) {
  // Legacy mode runs axe in the page itself (the console has no frames), about
  // twice as fast as the default, which opens a page of its own per run.
  const r = await new AxeBuilder({ page }).setLegacyMode(true).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).analyze();
  const list = r.violations.map((v) => `${v.id} (${v.impact}): ${v.help}\n    ${v.nodes.slice(0, 4).map((n) => n.target.join(" ")).join("\n    ")}`);
  assert.equal(list.length, 0, `axe on ${screen}:\n  ${list.join("\n  ")}`);
}

/** A screenshot for the README (SQLite run only). */
export async function shot(page, name, opts = {}) {
  if (!SHOTS) return;
  await page.screenshot({ path: `${SHOTS}/${name}.png`, ...opts });
}

/** The page is no wider than its viewport (no sideways scrolling at 375 px). */
export async function fitsWidth(page) {
  const [sw, vw] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  assert.ok(sw <= vw, `the page is ${sw} px wide in a ${vw} px viewport`);
}

export { assert };
