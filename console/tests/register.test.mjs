// Screens 2 and 3: register (type chooser, fields per type, inline rules, the
// server's errors on their fields, tenancy "all"), and the secret, once.
import { after, before, test } from "node:test";
import { api, assert, axe, checkProblems, launch, open, shot, tenant, token } from "./lib.mjs";

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test("each type shows only its fields, with one sentence on what it means", async () => {
  const page = await open(browser, token({ tenant: tenant("types") }), { path: "/applications/new" });
  await page.getByRole("heading", { name: "Register an application" }).waitFor();
  for (const [label, sentence] of [
    ["Web application (confidential)", /server-side web application/],
    ["Single-page or native app (public)", /PKCE/],
    ["Backend service (backend)", /client credentials/],
  ]) {
    await page.getByRole("radio", { name: label }).waitFor();
    await page.getByText(sentence).waitFor();
  }
  await page.getByRole("radio", { name: "Backend service (backend)" }).check();
  await page.getByLabel("Name").waitFor();
  assert.equal(await page.getByRole("group", { name: "Redirect URIs", exact: true }).count(), 0, "backend has no redirects");
  assert.equal(await page.getByRole("group", { name: "Allowed origins (CORS)" }).count(), 0);
  await page.getByRole("group", { name: "Client authentication" }).waitFor();
  await page.getByRole("radio", { name: "Single-page or native app (public)" }).check();
  await page.getByRole("group", { name: "Redirect URIs", exact: true }).waitFor();
  assert.equal(await page.getByRole("group", { name: "Client authentication" }).count(), 0, "public has no authMethod");
  await page.getByRole("radio", { name: "Every tenant of the platform" }).check();
  await page.getByText(/needs a platform operator's approval/).waitFor();
  await axe(page, "the register form (public, all tenants)");
  checkProblems(page);
  await page.context().close();
});

test("inline rules catch mistakes before sending, and the server's errors land on their fields", async () => {
  const t = tenant("rules");
  const tok = token({ tenant: t });
  const page = await open(browser, tok, { path: "/applications/new" });
  await page.getByRole("radio", { name: "Web application (confidential)" }).check();
  await page.getByLabel("Name").fill("Agent desktop");
  await page.getByLabel("Contact address 1", { exact: true }).fill("not an address");
  await page.getByLabel("Redirect URI 1", { exact: true }).fill("http://desktop.example.com/callback#x");
  await page.getByLabel("Name").focus();
  // Inline: shown once the field is left.
  await page.getByText("Must not contain a wildcard (*).").count();
  await page.getByText("Must not contain a fragment (#).").waitFor();
  let sent = 0;
  page.on("request", (r) => { if (r.method() === "POST" && r.url().endsWith("/applications")) sent++; });
  await page.getByRole("button", { name: "Register application" }).click();
  const summary = page.getByRole("alert").filter({ hasText: "Fix these to continue" });
  await summary.waitFor();
  await summary.getByRole("link", { name: /Notification contacts, item 1/ }).waitFor();
  assert.equal(sent, 0, "nothing is sent while the form breaks a rule");
  assert.equal(await page.getByLabel("Contact address 1", { exact: true }).getAttribute("aria-invalid"), "true");
  await axe(page, "the register form with errors");

  // Fixed inline; the second redirect breaks a rule only the server checks (a host name).
  await page.getByLabel("Contact address 1", { exact: true }).fill("it-admins@example.com");
  await page.getByLabel("Redirect URI 1", { exact: true }).fill("https://desktop.example.com/callback");
  await page.getByRole("button", { name: "Add redirect URI" }).click();
  await page.getByLabel("Redirect URI 2", { exact: true }).fill("https://bad_host.example.com/callback");
  await page.getByRole("button", { name: "Register application" }).click();
  await page.getByRole("alert").filter({ hasText: "The service refused some fields" }).waitFor();
  const second = page.getByLabel("Redirect URI 2", { exact: true });
  assert.equal(await second.getAttribute("aria-invalid"), "true");
  const described = await second.getAttribute("aria-describedby");
  // The accessible description of the input: the element aria-describedby names.
  const reason = await page.locator(`[id="${described}"]`).innerText();
  assert.match(reason, /valid host name/i, "the server's reason for redirects[1] is on the second redirect URI");
  assert.equal(await page.getByLabel("Redirect URI 1", { exact: true }).getAttribute("aria-invalid"), null);
  assert.equal(await second.inputValue(), "https://bad_host.example.com/callback", "what was typed is kept");
  await axe(page, "the register form with a server error");
  await shot(page, "register-error", { fullPage: true });
  checkProblems(page);
  await page.context().close();
});

test("registering shows the secret once; closing needs an acknowledgement", async () => {
  const t = tenant("secret");
  const tok = token({ tenant: t });
  const page = await open(browser, tok, { path: "/applications/new" });
  await page.getByRole("radio", { name: "Web application (confidential)" }).check();
  await page.getByLabel("Name").fill("Agent desktop");
  await page.getByLabel("Description").fill("Browser desktop used by contact-center agents.");
  await page.getByLabel("Contact address 1", { exact: true }).fill("it-admins@example.com");
  await page.getByLabel("Redirect URI 1", { exact: true }).fill("https://desktop.example.com/callback");
  await page.getByRole("button", { name: "Add origin" }).click();
  await page.getByLabel("Origin 1", { exact: true }).fill("https://desktop.example.com");
  await page.getByLabel("Scope").fill("openid profile email");
  await shot(page, "register", { fullPage: true });
  await page.getByRole("button", { name: "Register application" }).click();

  const dialog = page.getByRole("dialog", { name: "Copy the client secret now" });
  await dialog.waitFor();
  await dialog.getByText("This secret will not be shown again.").waitFor();
  const secret = await dialog.getByLabel("Client secret").inputValue();
  assert.ok(secret.length >= 40, "the secret is shown");
  assert.equal(await page.evaluate(() => document.activeElement?.closest("dialog") !== null), true, "focus moved into the dialog");
  await axe(page, "the secret dialog");
  await dialog.getByRole("button", { name: "Copy secret" }).click();
  await dialog.getByRole("status").getByText("Copied").waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret);
  await shot(page, "secret");

  // Neither Escape nor the Close button closes it before the acknowledgement.
  assert.equal(await dialog.getByRole("button", { name: "Close" }).isDisabled(), true);
  await page.keyboard.press("Escape");
  await page.keyboard.press("Escape");
  await dialog.waitFor();
  await dialog.getByLabel("I have copied the secret and stored it safely").check();
  await dialog.getByRole("button", { name: "Close" }).click();
  await dialog.waitFor({ state: "hidden" });
  await page.getByRole("heading", { name: "Agent desktop", level: 1 }).waitFor();

  // Never stored in the browser nor put in a URL.
  const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie + location.href + history.length);
  assert.ok(!stored.includes(secret), "the secret is not in storage, cookies or the URL");
  assert.ok(!(await page.content()).includes(secret), "the secret is gone from the page");
  const apps = (await api(tok, "GET", "/applications")).body.applications;
  assert.equal(apps.length, 1);
  assert.equal(apps[0].description, "Browser desktop used by contact-center agents.");
  assert.deepEqual(apps[0].origins, ["https://desktop.example.com"]);
  checkProblems(page);
  await page.context().close();
});

test("a network failure while registering keeps everything typed, and the retry registers once", async () => {
  const t = tenant("netfail");
  const tok = token({ tenant: t });
  const page = await open(browser, tok, { path: "/applications/new" });
  await page.getByRole("radio", { name: "Backend service (backend)" }).check();
  await page.getByLabel("Name").fill("Nightly export");
  await page.getByLabel("Contact address 1", { exact: true }).fill("data@example.com");
  await page.route("**/applications", (r) => r.abort("internetdisconnected"));
  await page.getByRole("button", { name: "Register application" }).click();
  await page.getByRole("alert").getByText(/could not be reached/).waitFor();
  assert.equal(await page.getByLabel("Name").inputValue(), "Nightly export");
  assert.equal(await page.getByLabel("Contact address 1", { exact: true }).inputValue(), "data@example.com");
  await page.unroute("**/applications");
  // A 5xx: a clear message, nothing lost.
  await page.route("**/applications", (r) => r.fulfill({ status: 500, contentType: "application/json", body: JSON.stringify({ error: "server_error", errorDescription: "x", type: "x", title: "x", status: 500, detail: "x", requestId: "req-42" }) }));
  await page.getByRole("button", { name: "Register application" }).click();
  await page.getByRole("alert").getByText(/failed to answer \(HTTP 500\) \(request req-42\)/).waitFor();
  assert.equal(await page.getByLabel("Name").inputValue(), "Nightly export");
  await page.unroute("**/applications");
  await page.getByRole("button", { name: "Register application" }).click();
  await page.getByRole("dialog", { name: "Copy the client secret now" }).waitFor();
  assert.equal((await api(tok, "GET", "/applications")).body.applications.length, 1);
  checkProblems(page);
  await page.context().close();
});

test("the register form is usable with the keyboard alone", async () => {
  const t = tenant("keys");
  const tok = token({ tenant: t });
  const page = await open(browser, tok, { path: "/applications/new" });
  await page.getByRole("heading", { name: "Register an application" }).waitFor();
  const focused = () => page.evaluate(() => {
    const el = document.activeElement;
    return el && el !== document.body ? (el.getAttribute("aria-label") || el.labels?.[0]?.textContent || el.textContent || "").trim() : "";
  });
  // Tab to the first type, arrows choose among them.
  for (let i = 0; i < 30 && !/Web application/.test(await focused()); i++) await page.keyboard.press("Tab");
  assert.match(await focused(), /Web application/);
  await page.keyboard.press("ArrowDown");
  await page.getByRole("radio", { name: "Single-page or native app (public)", checked: true }).waitFor();
  await page.keyboard.press("ArrowDown");
  await page.getByRole("radio", { name: "Backend service (backend)", checked: true }).waitFor();
  assert.match(await focused(), /Backend service/);
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).boxShadow);
  assert.notEqual(outline, "none", "focus is visible");
  await page.keyboard.press("Tab");
  assert.equal(await focused(), "Name");
  await page.keyboard.type("Keyboard only");
  await page.keyboard.press("Tab");
  assert.equal(await focused(), "Description (optional)");
  await page.keyboard.press("Tab");
  assert.equal(await focused(), "Contact address 1");
  await page.keyboard.type("keys@example.com");
  await page.keyboard.press("Enter");
  const dialog = page.getByRole("dialog", { name: "Copy the client secret now" });
  await dialog.waitFor();
  // Tab to the checkbox, Space ticks it, Tab to Close, Enter closes.
  for (let i = 0; i < 10 && !/I have copied/.test(await focused()); i++) await page.keyboard.press("Tab");
  await page.keyboard.press("Space");
  await page.keyboard.press("Tab");
  assert.equal(await focused(), "Close");
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { name: "Keyboard only", level: 1 }).waitFor();
  checkProblems(page);
  await page.context().close();
});

test("a secret registered with an expiry shows it on the details screen", async () => {
  const t = tenant("expiry");
  const tok = token({ tenant: t });
  const page = await open(browser, tok, { path: "/applications/new" });
  await page.getByRole("radio", { name: "Single-page or native app (public)" }).check();
  await page.getByLabel("Name").waitFor();
  assert.equal(await page.getByRole("combobox", { name: /The client secret expires/ }).count(), 0, "a public application has no secret");
  await page.getByRole("radio", { name: "Web application (confidential)" }).check();
  await page.getByLabel("Name").fill("Expiring desktop");
  await page.getByLabel("Contact address 1", { exact: true }).fill("it-admins@example.com");
  await page.getByLabel("Redirect URI 1", { exact: true }).fill("https://desktop.example.com/callback");
  const expiry = page.getByRole("combobox", { name: /The client secret expires/ });
  assert.equal(await expiry.inputValue(), "", "no expiry unless chosen");
  await expiry.selectOption({ label: "In 30 days" });
  await axe(page, "the register form with a secret expiry");
  await page.getByRole("button", { name: "Register application" }).click();

  const dialog = page.getByRole("dialog", { name: "Copy the client secret now" });
  await dialog.waitFor();
  await dialog.getByLabel("I have copied the secret and stored it safely").check();
  await dialog.getByRole("button", { name: "Close" }).click();
  await page.getByRole("heading", { name: "Expiring desktop", level: 1 }).waitFor();
  const shown = page.getByRole("term").filter({ hasText: "Earliest secret expiry" }).locator("xpath=following-sibling::dd[1]");
  assert.match(await shown.innerText(), /in 30 days/);
  await axe(page, "the details of an application whose secret expires");

  const [app] = (await api(tok, "GET", "/applications")).body.applications;
  const days = (new Date(app.secretExpiresTime).getTime() - Date.now()) / 86400_000;
  assert.ok(days > 29.9 && days <= 30, `the secret expires in ${days} days, want 30`);
  checkProblems(page);
  await page.context().close();
});
