// Screens 7 and 8: the activity (who, what, old and new values, paged) and the
// integration (client id, allowed flow, a first call to copy); and an expired
// session asks to sign in again without losing input.
import { after, before, test } from "node:test";
import { api, assert, axe, checkProblems, createApp, launch, open, tenant, token } from "./lib.mjs";

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test("the activity shows who changed what, with old and new values, paged", async () => {
  const t = tenant("act");
  const alice = token({ tenant: t, sub: "alice@example.com" });
  const app = await createApp(alice, { name: "Agent desktop" });
  assert.equal((await api(alice, "PATCH", `/applications/${app.id}`, { name: "Agent desktop EU", redirects: ["https://eu.example.com/cb"] })).status, 200);
  for (let i = 0; i < 22; i++) assert.equal((await api(alice, "PATCH", `/applications/${app.id}`, { scope: `s${i}` })).status, 200);
  const page = await open(browser, alice, { path: `/applications/${app.id}/activity` });
  const first = page.getByRole("listitem").filter({ hasText: "s21" }).first();
  await first.waitFor();
  await first.getByText("Changed settings").waitFor();
  await first.getByText("alice@example.com", { exact: true }).waitFor();
  await first.getByRole("row", { name: /Scope/ }).getByRole("cell", { name: "s20" }).waitFor();
  await first.getByRole("row", { name: /Scope/ }).getByRole("cell", { name: "s21" }).waitFor();
  await axe(page, "the activity");
  assert.equal(await page.getByText("Registered", { exact: true }).count(), 0, "the first page holds 20 events");
  await page.getByRole("button", { name: "Load older activity" }).click();
  const rename = page.getByRole("listitem").filter({ has: page.getByRole("cell", { name: "Agent desktop EU" }) });
  await rename.getByRole("row", { name: /Name/ }).getByRole("cell", { name: "Agent desktop", exact: true }).waitFor();
  await rename.getByRole("cell", { name: "https://eu.example.com/cb" }).waitFor();
  await page.getByText("Registered", { exact: true }).waitFor();
  checkProblems(page);
  await page.context().close();
});

test("the integration shows the client id, the allowed flow and a first call to copy", async () => {
  const t = tenant("integ");
  const tok = token({ tenant: t });
  const backend = await createApp(tok, { name: "Nightly export", type: "backend", redirects: undefined, scope: "reports.read" });
  const page = await open(browser, tok, { path: `/applications/${backend.id}/integration` });
  await page.getByText("Client credentials", { exact: true }).waitFor();
  const example = page.getByText(/grant_type=client_credentials|response_type=code/);
  assert.match(await example.innerText(), new RegExp(`-u "${backend.id}:\\$CLIENT_SECRET"[\\s\\S]*grant_type=client_credentials`));
  await page.getByRole("button", { name: "Copy example" }).click();
  assert.match(await page.evaluate(() => navigator.clipboard.readText()), /grant_type=client_credentials/);
  await axe(page, "the integration (backend)");

  const web = await createApp(tok, { name: "Agent desktop" });
  await page.goto(`${process.env.CONSOLE_URL}/console/applications/${web.id}/integration#token=${tok}`);
  await page.getByText("Authorization code", { exact: true }).waitFor();
  assert.match(await example.innerText(), /response_type=code&client_id=/);
  checkProblems(page);
  await page.context().close();
});

test("an expired session asks to sign in again and keeps what was typed", async () => {
  const t = tenant("expiry");
  const tok = token({ tenant: t });
  const app = await createApp(tok, { name: "Agent desktop" });
  const page = await open(browser, tok, { path: `/applications/${app.id}` });
  await page.getByRole("button", { name: "Edit" }).click();
  await page.getByLabel("Name").fill("Typed before expiry");
  await page.route(`**/applications/${app.id}`, (r) => r.request().method() === "PATCH"
    ? r.fulfill({ status: 401, contentType: "application/json", body: JSON.stringify({ error: "invalid_token", errorDescription: "The token has expired; get a new one.", type: "x", title: "x", status: 401, detail: "x" }) })
    : r.continue());
  await page.getByRole("button", { name: /Save changes/ }).click();
  const dialog = page.getByRole("dialog", { name: "Your session has expired" });
  await dialog.waitFor();
  await axe(page, "the session-expired dialog");
  await page.unroute(`**/applications/${app.id}`);
  await dialog.getByLabel("Access token").fill(tok);
  await dialog.getByRole("button", { name: "Sign in again" }).click();
  await dialog.waitFor({ state: "hidden" });
  assert.equal(await page.getByLabel("Name").inputValue(), "Typed before expiry");
  await page.getByRole("button", { name: /Save changes/ }).click();
  await page.getByRole("status").getByText("Changes saved.").waitFor();
  checkProblems(page);
  await page.context().close();
});
