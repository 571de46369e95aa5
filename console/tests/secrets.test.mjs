// Screen 6, secrets: the list (hint, created, expiry, last use); a rotation
// whose previous secret still verifies through the lookup path until it
// expires or is revoked; revoke, never the last valid secret.
import { after, before, test } from "node:test";
import { api, assert, axe, checkProblems, createApp, launch, open, tenant, token } from "./lib.mjs";

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const lookup = token({ tenant: "platform", sub: "authorization-server", roles: ["appreg.lookup"] });
async function verifies(id, secret, tenantId) {
  const r = await api(lookup, "POST", `/internal/clients/${encodeURIComponent(id)}/verify`, { secret, tenantId });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.valid;
}

async function readSecretAndClose(page) {
  const dialog = page.getByRole("dialog", { name: "Copy the client secret now" });
  await dialog.waitFor();
  const secret = await dialog.getByLabel("Client secret").inputValue();
  await dialog.getByLabel("I have copied the secret and stored it safely").check();
  await dialog.getByRole("button", { name: "Close" }).click();
  await dialog.waitFor({ state: "hidden" });
  return secret;
}

test("rotation with an overlap: the old secret verifies until revoked, the last one cannot be revoked", async () => {
  const t = tenant("rotate");
  const tok = token({ tenant: t });
  const app = await createApp(tok, { name: "Nightly export", type: "backend", redirects: undefined });
  const s0 = app.secret;
  const page = await open(browser, tok, { path: `/applications/${app.id}/secrets` });
  const table = page.getByRole("region", { name: "Secrets" });
  await table.getByText(`…${s0.slice(-4)}`).waitFor();
  // the only valid secret cannot be revoked
  await page.getByRole("button", { name: `Revoke secret …${s0.slice(-4)}`, disabled: true }).waitFor();
  await page.getByText(/The only valid secret cannot be revoked/).waitFor();
  await axe(page, "the secrets");

  const rotate = page.getByRole("button", { name: "Rotate secret…" });
  await rotate.click();
  const dialog = page.getByRole("dialog", { name: "Rotate the client secret" });
  await dialog.waitFor();
  assert.equal(await dialog.getByRole("radio", { name: "1 day (default)" }).isChecked(), true);
  await dialog.getByLabel("The new secret expires").selectOption({ label: "In 90 days" });
  await axe(page, "the rotate dialog");
  await dialog.getByRole("button", { name: "Rotate secret" }).click();
  const s1 = await readSecretAndClose(page);
  assert.notEqual(s1, s0);
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), "Rotate secret…", "focus returns to the opener");
  await page.getByRole("status").getByText(/previous secrets keep working until/).waitFor();

  // Both work through the lookup path during the overlap.
  assert.equal(await verifies(app.id, s0, t), true, "the previous secret still verifies");
  assert.equal(await verifies(app.id, s1, t), true, "the new secret verifies");
  const oldRow = page.getByRole("row").filter({ hasText: `…${s0.slice(-4)}` });
  await oldRow.getByText("tomorrow").waitFor();
  const newRow = page.getByRole("row").filter({ hasText: `…${s1.slice(-4)}` });
  await newRow.getByText("in 3 months").waitFor();

  // Revoke the previous one: it stops verifying at once.
  await page.getByRole("button", { name: `Revoke secret …${s0.slice(-4)}` }).click();
  const confirm = page.getByRole("dialog", { name: "Revoke this secret?" });
  // The list read after the revocation is slow (a busy network): the announcement must still
  // come over a list that shows the revocation, never over the one read before it.
  const secretsURL = `**/applications/${app.id}/secrets`;
  await page.route(secretsURL, async (r) => {
    if (r.request().method() === "GET") await new Promise((done) => setTimeout(done, 1500));
    await r.continue();
  });
  await confirm.getByRole("button", { name: "Revoke secret" }).click();
  await page.getByRole("status").getByText(`Secret …${s0.slice(-4)} revoked.`).waitFor();
  await page.unroute(secretsURL);
  // Announced over the list that shows it: the revoked secret is gone and the last one's
  // Revoke is already disabled (before, the list was read again after the announcement).
  assert.equal(await page.getByRole("row").filter({ hasText: `…${s0.slice(-4)}` }).count(), 0, "the revoked secret left the list");
  assert.equal(await page.getByRole("button", { name: `Revoke secret …${s1.slice(-4)}` }).isDisabled(), true,
    "the last valid secret cannot be revoked once the revocation is announced");
  assert.equal(await verifies(app.id, s0, t), false, "a revoked secret no longer verifies");
  assert.equal(await verifies(app.id, s1, t), true);
  // The server refuses too.
  const list = (await api(tok, "GET", `/applications/${app.id}/secrets`)).body.secrets;
  const refused = await api(tok, "DELETE", `/applications/${app.id}/secrets/${list[0].secretId}`);
  assert.equal(refused.status, 409);
  assert.equal(refused.body.error, "last_secret");

  // A rotation with no overlap: the previous secret stops at once.
  await rotate.click();
  await dialog.getByRole("radio", { name: "Stop working now" }).check();
  await dialog.getByRole("button", { name: "Rotate secret" }).click();
  const s2 = await readSecretAndClose(page);
  assert.equal(await verifies(app.id, s1, t), false, "with no overlap the previous secret expired at once");
  assert.equal(await verifies(app.id, s2, t), true);
  const after = (await api(tok, "GET", `/applications/${app.id}`)).body;
  assert.ok(after.secretExpiresTime, "the application shows its earliest secret expiry");
  checkProblems(page);
  await page.context().close();
});

test("a public application has no secrets section", async () => {
  const t = tenant("pub");
  const tok = token({ tenant: t });
  const app = await createApp(tok, { name: "Mobile", type: "public", redirects: ["com.example.m:/cb"] });
  const page = await open(browser, tok, { path: `/applications/${app.id}` });
  await page.getByRole("navigation", { name: "Application sections" }).getByRole("link", { name: "Integration" }).waitFor();
  assert.equal(await page.getByRole("link", { name: "Secrets" }).count(), 0);
  checkProblems(page);
  await page.context().close();
});
