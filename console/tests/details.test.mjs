// Screens 4 and 5: details and edit (every field; only changes sent, with
// If-Match; a concurrent change shown, never overwritten; fields the form does
// not show kept), enable and disable, delete with the name typed, restore.
import { after, before, test } from "node:test";
import { api, assert, axe, checkProblems, createApp, fitsWidth, launch, open, shot, tenant, token } from "./lib.mjs";

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test("details show every field; an edit sends only what changed, with If-Match, and keeps the rest", async () => {
  const t = tenant("edit");
  const tok = token({ tenant: t });
  const app = await createApp(tok, {
    name: "Agent desktop", description: "Desktop for agents", contacts: ["it@example.com", "ops@example.com"],
    redirects: ["https://desktop.example.com/callback"], origins: ["https://desktop.example.com"],
    logouts: ["https://desktop.example.com/bye"], jwksEndpoint: "https://desktop.example.com/jwks.json",
    scope: "openid profile", authMethod: "client_secret_post",
  });
  const page = await open(browser, tok, { path: `/applications/${app.id}` });
  await page.getByRole("heading", { name: "Agent desktop", level: 1 }).waitFor();
  for (const text of ["Desktop for agents", "it@example.com", "ops@example.com", "https://desktop.example.com/callback",
    "https://desktop.example.com/bye", "https://desktop.example.com/jwks.json", "openid profile", "client_secret_post", t]) {
    await page.getByRole("main").getByText(text, { exact: true }).first().waitFor();
  }
  await axe(page, "the details");
  await shot(page, "details", { fullPage: true });

  const patches = [];
  page.on("request", (r) => { if (r.method() === "PATCH") patches.push({ body: r.postDataJSON(), ifMatch: r.headers()["if-match"] }); });
  await page.getByRole("button", { name: "Edit" }).click();
  assert.equal(await page.evaluate(() => document.activeElement?.id), "f-name", "focus moves to the first field");
  await page.getByLabel("Name").fill("Agent desktop (EU)");
  await page.getByRole("button", { name: "Add redirect URI" }).click();
  await page.getByLabel("Redirect URI 2", { exact: true }).fill("https://eu.desktop.example.com/callback");
  await axe(page, "the edit form");
  await page.getByRole("button", { name: /Save changes/ }).click();
  await page.getByRole("status").getByText("Changes saved.").waitFor();
  assert.equal(patches.length, 1);
  assert.deepEqual(patches[0].body, { name: "Agent desktop (EU)", redirects: ["https://desktop.example.com/callback", "https://eu.desktop.example.com/callback"] });
  assert.match(patches[0].ifMatch ?? "", /^"?.+"?$/, "If-Match carries the ETag read");
  const now = (await api(tok, "GET", `/applications/${app.id}`)).body;
  assert.equal(now.jwksEndpoint, "https://desktop.example.com/jwks.json");
  assert.equal(now.authMethod, "client_secret_post");
  assert.deepEqual(now.logouts, ["https://desktop.example.com/bye"]);
  assert.equal(now.description, "Desktop for agents");
  await page.getByRole("heading", { name: "Agent desktop (EU)", level: 1 }).waitFor();
  checkProblems(page);
  await page.context().close();
});

test("a field set through the API that the form does not show is never dropped", async () => {
  const t = tenant("hidden");
  const tok = token({ tenant: t });
  // A public application with a JWKS endpoint: the console's form for public applications does not show it.
  const app = await createApp(tok, { name: "Supervisor app", type: "public", redirects: ["com.example.sup:/cb"], jwksEndpoint: "https://sup.example.com/jwks" });
  const page = await open(browser, tok, { path: `/applications/${app.id}` });
  await page.getByRole("main").getByText("https://sup.example.com/jwks").waitFor();
  await page.getByRole("button", { name: "Edit" }).click();
  assert.equal(await page.getByLabel("JWKS endpoint").count(), 0);
  await page.getByLabel("Scope").fill("openid");
  await page.getByRole("button", { name: /Save changes/ }).click();
  await page.getByRole("status").getByText("Changes saved.").waitFor();
  const now = (await api(tok, "GET", `/applications/${app.id}`)).body;
  assert.equal(now.jwksEndpoint, "https://sup.example.com/jwks");
  assert.equal(now.scope, "openid");
  checkProblems(page);
  await page.context().close();
});

test("an If-Match conflict between two sessions is shown with the new values, never overwritten", async () => {
  const t = tenant("conflict");
  const alice = token({ tenant: t, sub: "alice@example.com" });
  const bob = token({ tenant: t, sub: "bob@example.com" });
  const app = await createApp(alice, { name: "Wallboard", scope: "openid" });
  const a = await open(browser, alice, { path: `/applications/${app.id}` });
  const b = await open(browser, bob, { path: `/applications/${app.id}` });
  for (const p of [a, b]) {
    await p.getByRole("button", { name: "Edit" }).click();
    await p.getByLabel("Name").waitFor();
  }
  await a.getByLabel("Name").fill("Wallboard by Alice");
  await a.getByRole("button", { name: /Save changes/ }).click();
  await a.getByRole("status").getByText("Changes saved.").waitFor();

  await b.getByLabel("Name").fill("Wallboard by Bob");
  await b.getByLabel("Scope").fill("openid email");
  await b.getByRole("button", { name: /Save changes/ }).click();
  const conflict = b.getByRole("alert").filter({ hasText: "Someone else changed this application" });
  await conflict.waitFor();
  await conflict.getByText(/alice@example.com saved a change/).waitFor();
  const row = conflict.getByRole("row", { name: /Name/ });
  await row.getByRole("cell", { name: "Wallboard by Bob" }).waitFor();
  await row.getByRole("cell", { name: "Wallboard by Alice" }).waitFor();
  await axe(b, "the edit conflict");
  assert.equal((await api(alice, "GET", `/applications/${app.id}`)).body.name, "Wallboard by Alice", "nothing was overwritten");
  assert.equal(await b.getByLabel("Name").inputValue(), "Wallboard by Bob", "Bob's input is kept");

  await conflict.getByRole("button", { name: "Apply my changes to the current version" }).click();
  await b.getByRole("button", { name: /Save changes/ }).click();
  await b.getByRole("status").getByText("Changes saved.").waitFor();
  const now = (await api(alice, "GET", `/applications/${app.id}`)).body;
  assert.equal(now.name, "Wallboard by Bob");
  assert.equal(now.scope, "openid email");
  assert.equal(now.lastModifiedBy, "bob@example.com");
  checkProblems(a); checkProblems(b);
  await a.context().close();
  await b.context().close();
});

test("disable, enable, delete with the name typed, and restore from the banner", async () => {
  const t = tenant("life");
  const tok = token({ tenant: t });
  const app = await createApp(tok, { name: "Old wallboard" });
  const page = await open(browser, tok, { path: `/applications/${app.id}` });
  await page.getByRole("button", { name: "Disable" }).click();
  await page.getByRole("status").getByText(/Application disabled/).waitFor();
  assert.equal((await api(tok, "GET", `/applications/${app.id}`)).body.isEnabled, false);
  await page.getByRole("button", { name: "Enable" }).click();
  await page.getByRole("status").getByText("Application enabled.").waitFor();
  assert.equal((await api(tok, "GET", `/applications/${app.id}`)).body.isEnabled, true);

  const opener = page.getByRole("button", { name: "Delete…" });
  await opener.click();
  const dialog = page.getByRole("dialog", { name: "Delete Old wallboard?" });
  await dialog.waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.id), "confirm-name", "focus moves into the dialog");
  const confirm = dialog.getByRole("button", { name: "Delete application" });
  assert.equal(await confirm.isDisabled(), true);
  await axe(page, "the delete dialog");
  await page.keyboard.press("Escape");
  await dialog.waitFor({ state: "hidden" });
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), "Delete…", "focus returns to the opener");
  await opener.click();
  await dialog.getByLabel(/Type the application's name/).fill("Old wallboar");
  assert.equal(await confirm.isDisabled(), true);
  await dialog.getByLabel(/Type the application's name/).fill("Old wallboard");
  await confirm.click();
  const banner = page.getByRole("region", { name: "Pending deletion" });
  await banner.waitFor();
  await banner.getByText(/deleted for good on/).waitFor();
  await banner.getByText(/in (6 d 23 h|7 d 0 h)/).waitFor(); // the grace period, 7 days
  const del = (await api(tok, "GET", `/applications/${app.id}`)).body;
  assert.ok(del.scheduledDeletionTime && del.isLocked && !del.isEnabled);
  assert.equal(await page.getByRole("button", { name: "Edit" }).isDisabled(), true, "a locked application cannot be edited");
  await axe(page, "the pending-deletion banner");
  await banner.getByRole("button", { name: "Restore" }).click();
  await page.getByRole("status").getByText("Application restored and enabled.").waitFor();
  await banner.waitFor({ state: "hidden" });
  const back = (await api(tok, "GET", `/applications/${app.id}`)).body;
  assert.equal(back.isEnabled, true);
  assert.equal(back.isLocked, false);
  assert.equal(back.scheduledDeletionTime, undefined);
  checkProblems(page);
  await page.context().close();
});

test("a failed save keeps the edit; at 375 px the details fit", async () => {
  const t = tenant("savefail");
  const tok = token({ tenant: t });
  const app = await createApp(tok, { name: "Agent desktop" });
  const page = await open(browser, tok, { path: `/applications/${app.id}`, width: 375, height: 800 });
  await page.getByRole("heading", { name: "Agent desktop", level: 1 }).waitFor();
  await fitsWidth(page);
  await axe(page, "the details at 375 px");
  await page.getByRole("button", { name: "Edit" }).click();
  await page.getByLabel("Name").fill("Agent desktop 2");
  await page.route(`**/applications/${app.id}`, (r) => r.request().method() === "PATCH" ? r.abort("internetdisconnected") : r.continue());
  await page.getByRole("button", { name: /Save changes/ }).click();
  await page.getByRole("alert").getByText(/could not be reached/).waitFor();
  assert.equal(await page.getByLabel("Name").inputValue(), "Agent desktop 2");
  await page.unroute(`**/applications/${app.id}`);
  await page.getByRole("button", { name: /Save changes/ }).click();
  await page.getByRole("status").getByText("Changes saved.").waitFor();
  await fitsWidth(page);
  checkProblems(page);
  await page.context().close();
});
