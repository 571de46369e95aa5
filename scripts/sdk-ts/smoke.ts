// A TypeScript developer's first session: a client generated from the live
// service's /openapi.json, then create, view, patch, disable (the published
// suffix path), enable and delete.
import createClient from "openapi-fetch";
import type { paths } from "./schema";

const base = process.env.APPREG_URL!;
const token = process.env.APPREG_TOKEN!;
const client = createClient<paths>({ baseUrl: base, headers: { Authorization: `Bearer ${token}` } });

function check(cond: unknown, what: string): asserts cond {
  if (!cond) {
    console.error(`FAIL: ${what}`);
    process.exit(1);
  }
}

const created = await client.POST("/applications", {
  body: {
    name: "TS smoke",
    contacts: ["ts@example.com"],
    type: "confidential",
    redirects: ["https://ts.example.com/callback"],
  },
});
check(created.response.status === 201 && created.data?.secret, `create: ${created.response.status}`);
const id = created.data.id;
const path = { params: { path: { applicationId: id } } };

const viewed = await client.GET("/applications/{applicationId}", path);
check(viewed.data?.id === id && !("secret" in viewed.data), "view");

const patched = await client.PATCH("/applications/{applicationId}", { ...path, body: { description: "from TypeScript" } });
check(patched.data?.description === "from TypeScript", `patch: ${patched.response.status}`);

const disabled = await client.POST("/applications/{applicationId}-disable", path);
check(disabled.response.status === 204, `disable: ${disabled.response.status}`);
check((await client.GET("/applications/{applicationId}", path)).data?.isEnabled === false, "disabled state");

const enabled = await client.POST("/applications/{applicationId}-enable", path);
check(enabled.response.status === 204, `enable: ${enabled.response.status}`);

const deleted = await client.DELETE("/applications/{applicationId}", path);
check(deleted.data?.isLocked === true && deleted.data.scheduledDeletionTime, `delete: ${deleted.response.status}`);

const missing = await client.GET("/applications/{applicationId}", { params: { path: { applicationId: "nope" } } });
check(missing.response.status === 404 && missing.error?.error === "not_found", "error shape");

console.log("sdk-ts: 6 passed, 0 failed");
