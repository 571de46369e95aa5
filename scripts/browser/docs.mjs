// A newcomer's first minutes in Swagger UI: open /docs, authorize with a
// development token, "Try it out" on createApplication and listApplication,
// and check what the page shows. Saves a screenshot for the README.
import { chromium } from "playwright-core";

const base = process.env.APPREG_URL;
const token = process.env.APPREG_TOKEN;
const shot = process.env.SCREENSHOT;
const fail = (what) => { console.error(`FAIL: ${what}`); process.exit(1); };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
const external = [];
page.on("request", (r) => { if (!r.url().startsWith(base)) external.push(r.url()); });
try {
  await page.goto(`${base}/docs/`);
  await page.getByText("App Registration API").first().waitFor({ timeout: 15000 });

  await page.getByRole("button", { name: /Authorize/ }).first().click();
  // The management API's scheme; the registration endpoints have schemes of their own.
  const bearer = page.locator("form").filter({ hasText: "bearerAuth (http, Bearer)" });
  await bearer.getByRole("textbox").fill(token);
  await bearer.getByRole("button", { name: "Apply credentials" }).click();
  await page.getByRole("button", { name: "Close" }).first().click();

  // createApplication
  const create = page.locator("#operations-Applications-createApplication");
  await create.locator(".opblock-summary").click();
  await create.getByRole("button", { name: "Try it out" }).click();
  await create.locator("textarea.body-param__text").fill(JSON.stringify({
    name: "Made in Swagger UI", contacts: ["docs@example.com"], type: "confidential",
    redirects: ["https://docs.example.com/callback"],
  }));
  await create.getByRole("button", { name: "Execute" }).click();
  const status = create.locator(".live-responses-table .response .response-col_status").first();
  await status.waitFor({ timeout: 15000 });
  if ((await status.innerText()).trim() !== "201") fail(`create answered ${await status.innerText()}`);
  const created = await create.locator(".live-responses-table .response-col_description pre").first().innerText();
  if (!created.includes("Made in Swagger UI") || !created.includes('"secret"')) fail("the created application is not shown");

  // listApplication
  const list = page.locator("#operations-Applications-listApplication");
  await list.locator(".opblock-summary").click();
  await list.getByRole("button", { name: "Try it out" }).click();
  // Swagger UI fills parameters from the schemas' examples: list everything, as a newcomer would.
  await list.locator('tr[data-param-name="type"]').getByRole("combobox").selectOption("--");
  await list.locator('tr[data-param-name="cursor"]').getByRole("textbox").fill("");
  await list.getByRole("button", { name: "Execute" }).click();
  const lstatus = list.locator(".live-responses-table .response .response-col_status").first();
  await lstatus.waitFor({ timeout: 15000 });
  if ((await lstatus.innerText()).trim() !== "200") fail(`list answered ${await lstatus.innerText()}`);
  const listed = await list.locator(".live-responses-table .response-col_description pre").first().innerText();
  if (!listed.includes("Made in Swagger UI")) fail("the list does not show the created application");

  if (external.length) fail(`requests left the machine: ${external.join(", ")}`);
  if (shot) {
    const answer = create.locator(".live-responses-table").first();
    await answer.evaluate((el) => el.scrollIntoView({ block: "center" }));
    await page.screenshot({ path: shot });
  }
  console.log("browser: 3 passed, 0 failed");
} finally {
  await browser.close();
}
