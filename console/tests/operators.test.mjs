// Screen 9, operators (role appreg.admin): the tenancy approval queue with
// approve or reject and a comment, and the audit trail of any application.
import { after, before, test } from "node:test";
import { api, assert, axe, checkProblems, createApp, launch, open, tenant, token } from "./lib.mjs";

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test("a tenant administrator sees no operators' pages", async () => {
  const tok = token({ tenant: tenant("plain") });
  const page = await open(browser, tok);
  await page.getByRole("heading", { name: "Applications", level: 1 }).waitFor();
  assert.equal(await page.getByRole("link", { name: "Operators" }).count(), 0);
  await page.goto(`${process.env.CONSOLE_URL}/console/operators#token=${tok}`);
  await page.getByRole("heading", { name: "Operators only" }).waitFor();
  checkProblems(page);
  await page.context().close();
});

test("an operator approves and rejects all-tenant applications with a comment, and reads any audit trail", async () => {
  const t = tenant("owner");
  const owner = token({ tenant: t, sub: "owner@acme.example.com" });
  const wanted = await createApp(owner, { name: `Wallboard ${t}`, tenancy: "all" });
  const unwanted = await createApp(owner, { name: `Scraper ${t}`, tenancy: "all" });
  const operator = token({ tenant: "platform-ops", sub: "operator@platform.example.com", roles: ["appreg.admin"] });
  const page = await open(browser, operator);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Operators" }).click();
  await page.getByRole("heading", { name: "Tenancy approvals" }).waitFor();
  await page.getByText("operator@platform.example.com").waitFor();
  await page.getByText("platform-ops").waitFor();
  const review = page.getByRole("button", { name: `Review Wallboard ${t}` });
  await review.waitFor();
  await axe(page, "the approval queue");

  await review.click();
  const dialog = page.getByRole("dialog", { name: `Review Wallboard ${t}` });
  await dialog.getByText(t).first().waitFor();
  await dialog.getByLabel(/Comment/).fill("Reviewed in CHG-1042.");
  await axe(page, "the review dialog");
  await dialog.getByRole("button", { name: "Approve" }).click();
  await page.getByRole("status").getByText(`Wallboard ${t}: all-tenant use approved.`).waitFor();
  const approved = (await api(owner, "GET", `/applications/${wanted.id}`)).body;
  assert.equal(approved.tenancyApproval, "approved");
  assert.equal(approved.effectiveTenancy, "all");

  await page.getByRole("button", { name: `Review Scraper ${t}` }).click();
  await page.getByRole("dialog", { name: `Review Scraper ${t}` }).getByRole("button", { name: "Reject" }).click();
  await page.getByRole("status").getByText(`Scraper ${t}: all-tenant use rejected.`).waitFor();
  const rejected = (await api(owner, "GET", `/applications/${unwanted.id}`)).body;
  assert.equal(rejected.tenancyApproval, "rejected");
  assert.equal(rejected.effectiveTenancy, "single");
  assert.equal(await page.getByRole("button", { name: `Review Wallboard ${t}` }).count(), 0, "decided applications leave the queue");

  // The audit trail of any application, by client id.
  await page.getByRole("link", { name: "Audit trail of any application" }).click();
  await page.getByLabel("Client id").fill(wanted.id);
  await page.getByRole("button", { name: "Show activity" }).click();
  await page.getByText("Approved all-tenant use").waitFor();
  const decision = page.getByRole("listitem").filter({ hasText: "Approved all-tenant use" });
  await decision.getByText("operator@platform.example.com", { exact: true }).waitFor();
  await decision.getByRole("row", { name: /Decision comment/ }).getByRole("cell", { name: "Reviewed in CHG-1042." }).waitFor();
  await page.getByText("Registered").waitFor();
  await axe(page, "the operators' audit trail");

  // The owner sees the approval on the application.
  const op = await open(browser, owner, { path: `/applications/${wanted.id}` });
  await op.getByText("Approved").first().waitFor();
  checkProblems(page); checkProblems(op);
  await op.context().close();
  await page.context().close();
});
