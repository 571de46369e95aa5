// Screen 1, Applications: the empty state leads to registering; the list shows
// every column; filters and search; paging with "Load more"; 375 px.
import { after, before, test } from "node:test";
import { api, assert, axe, checkProblems, createApp, fitsWidth, launch, open, shot, tenant, token } from "./lib.mjs";

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test("an empty tenant is led to register its first application", async () => {
  const tok = token({ tenant: tenant("empty") });
  const page = await open(browser, tok);
  await page.getByRole("heading", { name: "No applications yet" }).waitFor();
  await axe(page, "the empty list");
  await page.getByRole("link", { name: "Register your first application" }).click();
  await page.getByRole("heading", { name: "Register an application" }).waitFor();
  assert.match(page.url(), /\/console\/applications\/new$/);
  checkProblems(page);
  await page.context().close();
});

test("the list shows name, client id, type, state, tenancy, last use and secret expiry", async () => {
  const t = tenant("list");
  const tok = token({ tenant: t });
  const web = await createApp(tok, { name: "Agent desktop" });
  assert.equal((await api(tok, "POST", `/applications/${web.id}/secrets`, { previousSecretExpiresIn: 0, expiresIn: 30 * 86400 })).status, 201);
  await createApp(tok, { name: "Reporting exporter", type: "backend", redirects: undefined });
  await createApp(tok, { name: "Supervisor mobile", type: "public", redirects: ["com.example.supervisor:/callback"], tenancy: "all" });
  const gone = await createApp(tok, { name: "Old wallboard" });
  const off = await createApp(tok, { name: "Legacy CRM connector" });
  assert.equal((await api(tok, "DELETE", `/applications/${gone.id}`)).status, 200);
  assert.equal((await api(tok, "POST", `/applications/${off.id}-disable`)).status, 204);

  const page = await open(browser, tok);
  const table = page.getByRole("table");
  await table.getByRole("link", { name: "Agent desktop" }).waitFor();
  const row = page.getByRole("row").filter({ has: page.getByRole("link", { name: "Agent desktop" }) });
  for (const text of [web.id, "Confidential", "Enabled", "This tenant", "Never", "in 30 days"]) {
    await row.getByText(text).first().waitFor();
  }
  const mobile = page.getByRole("row").filter({ has: page.getByRole("link", { name: "Supervisor mobile" }) });
  await mobile.getByText("Awaiting approval").waitFor();
  await mobile.getByText("No secret").waitFor();
  const old = page.getByRole("row").filter({ has: page.getByRole("link", { name: "Old wallboard" }) });
  await old.getByText("Pending deletion").waitFor();
  await old.getByText(/in (6 d 23 h|7 d 0 h)/).waitFor();
  await page.getByRole("row").filter({ has: page.getByRole("link", { name: "Legacy CRM connector" }) }).getByText("Disabled").waitFor();
  await axe(page, "the list");
  await shot(page, "applications");

  // Filters and search go to the server and into the URL.
  await page.getByLabel("Type").selectOption("backend");
  await page.getByRole("link", { name: "Reporting exporter" }).waitFor();
  await assertRows(page, ["Reporting exporter"]);
  assert.match(page.url(), /type=backend/);
  await page.getByRole("button", { name: "Clear filters" }).click();
  await page.getByLabel("State").selectOption("pendingDeletion");
  await assertRows(page, ["Old wallboard"]);
  await page.getByLabel("State").selectOption("disabled");
  await assertRows(page, ["Legacy CRM connector"]);
  await page.getByLabel("State").selectOption("");
  await page.getByLabel("Search").fill("supervisor");
  await page.getByRole("button", { name: "Search", exact: true }).click();
  await assertRows(page, ["Supervisor mobile"]);
  await page.getByLabel("Search").fill(web.id.slice(0, 8));
  await page.getByLabel("Search").press("Enter");
  await assertRows(page, ["Agent desktop"]);
  // A deep link keeps the filters (a reload signs in again: the token is in memory only).
  await page.goto(`${page.url()}#token=${tok}`);
  await assertRows(page, ["Agent desktop"]);
  assert.equal(await page.getByLabel("Search").inputValue(), web.id.slice(0, 8));
  await page.getByLabel("Search").fill("nothing like this");
  await page.getByLabel("Search").press("Enter");
  await page.getByRole("heading", { name: "No matching applications" }).waitFor();
  await axe(page, "the list, nothing matching");
  checkProblems(page);
  await page.context().close();
});

test("the list pages with Load more instead of loading everything", async () => {
  const t = tenant("page");
  const tok = token({ tenant: t });
  for (let i = 1; i <= 30; i++) await createApp(tok, { name: `App ${String(i).padStart(2, "0")}` });
  const page = await open(browser, tok);
  await page.getByRole("link", { name: "App 25" }).waitFor();
  assert.equal(await page.getByRole("link", { name: "App 26" }).count(), 0, "the first page holds 25");
  await page.getByRole("button", { name: "Load more" }).click();
  await page.getByRole("link", { name: "App 30" }).waitFor();
  assert.equal(await page.getByRole("button", { name: "Load more" }).count(), 0);
  checkProblems(page);
  await page.context().close();
});

test("the list works at 375 px", async () => {
  const tok = token({ tenant: tenant("narrow") });
  await createApp(tok, { name: "Agent desktop" });
  const night = await createApp(tok, { name: "Nightly export", type: "backend", redirects: undefined });
  await api(tok, "POST", `/applications/${night.id}/secrets`, { previousSecretExpiresIn: 0, expiresIn: 7 * 86400 });
  const page = await open(browser, tok, { width: 375, height: 800 });
  await page.getByRole("link", { name: "Nightly export" }).waitFor();
  await fitsWidth(page);
  await axe(page, "the list at 375 px");
  await shot(page, "applications-375", { fullPage: true });
  await page.getByRole("link", { name: "Register application" }).click();
  await page.getByLabel("Backend service (backend)").check();
  await fitsWidth(page);
  await axe(page, "the register form at 375 px");
  checkProblems(page);
  await page.context().close();
});

test("a failure to load the list says so and offers to try again", async () => {
  const tok = token({ tenant: tenant("fail") });
  await createApp(tok, { name: "Agent desktop" });
  const page = await open(browser, tok);
  await page.getByRole("link", { name: "Agent desktop" }).waitFor();
  await page.route("**/applications?**", (r) => r.fulfill({ status: 503, contentType: "application/json", body: JSON.stringify({ error: "service_unavailable", errorDescription: "down", type: "x", title: "x", status: 503, detail: "down" }) }));
  await page.getByLabel("Type").selectOption("public");
  await page.getByRole("alert").getByText(/unavailable right now/).waitFor();
  await page.unroute("**/applications?**");
  await page.getByRole("button", { name: "Try again" }).click();
  await page.getByRole("heading", { name: "No matching applications" }).waitFor();
  checkProblems(page);
  await page.context().close();
});

async function assertRows(page, names) {
  let got = [];
  for (let i = 0; i < 50; i++) {
    got = await page.getByRole("table").getByRole("link").allInnerTexts().catch(() => []);
    if (JSON.stringify(got) === JSON.stringify(names)) return;
    await page.waitForTimeout(100);
  }
  assert.deepEqual(got, names);
}
