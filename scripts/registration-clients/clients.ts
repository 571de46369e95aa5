// Third-party RFC 7591 / 7592 clients against a live appreg: oauth4webapi registers with an
// initial access token, then reads, updates and deletes the registration with its
// registration access token; the MCP TypeScript SDK's registerClient registers anonymously
// with a loopback redirect, as MCP clients do. Each client is then found by the lookup path,
// disabled until an administrator enables it, and a confidential client's secret verifies.
import * as oauth from "oauth4webapi";
import { registerClient } from "@modelcontextprotocol/sdk/client/auth.js";

const base = process.env.APPREG_URL!;
const tenant = process.env.APPREG_TENANT!;
const admin = process.env.APPREG_TOKEN!;
const lookup = process.env.APPREG_LOOKUP_TOKEN!;
const registrationEndpoint = `${base}/tenants/${tenant}/register`;

let passed = 0;
let failed = 0;
function check(cond: unknown, what: string) {
  if (cond) {
    passed++;
  } else {
    failed++;
    console.error(`FAIL: ${what}`);
  }
}

async function api(method: string, path: string, token: string, body?: unknown) {
  const res = await fetch(base + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : undefined };
}

async function lookupClient(id: string) {
  return api("GET", `/internal/clients/${id}?tenantId=${tenant}`, lookup);
}

try {
  const policy = await api("PUT", "/registration-policy", admin, {
    enabled: true,
    anonymous: true,
    defaultContacts: ["it-admins@example.com"],
    allowedTypes: ["public", "confidential"],
  });
  check(policy.status === 200 && policy.json.enabled === true, `policy: ${policy.status}`);
  const issued = await api("POST", "/registration-tokens", admin, { uses: 1, expiresIn: 600, description: "oauth4webapi" });
  check(issued.status === 201 && issued.json.token, `initial access token: ${issued.status}`);

  // oauth4webapi, with the initial access token.
  const as: oauth.AuthorizationServer = { issuer: base, registration_endpoint: registrationEndpoint };
  const metadata = {
    client_name: "oauth4webapi web app",
    redirect_uris: ["http://127.0.0.1:8765/callback"],
    token_endpoint_auth_method: "client_secret_basic",
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    contacts: ["web-team@example.com"],
  };
  const registered = await oauth.processDynamicClientRegistrationResponse(
    await oauth.dynamicClientRegistrationRequest(as, metadata, {
      initialAccessToken: issued.json.token,
      [oauth.allowInsecureRequests]: true,
    }),
  );
  const id = registered.client_id as string;
  const secret = registered.client_secret as string;
  const rat = registered.registration_access_token as string;
  const uri = registered.registration_client_uri as string;
  check(id && secret && rat && uri?.endsWith(`/register/${id}`), "oauth4webapi: registration answer");
  check(registered.client_secret_expires_at === 0, "oauth4webapi: client_secret_expires_at is 0 (never)");

  const again = await oauth.dynamicClientRegistrationRequest(as, metadata, {
    initialAccessToken: issued.json.token,
    [oauth.allowInsecureRequests]: true,
  });
  check(again.status === 401 && again.headers.get("www-authenticate")?.startsWith("Bearer"), `used-up token: ${again.status}`);
  try {
    await oauth.processDynamicClientRegistrationResponse(again);
    check(false, "oauth4webapi accepted a refused registration");
  } catch (e) {
    check(e instanceof oauth.WWWAuthenticateChallengeError, `oauth4webapi: refusal is a challenge (${e})`);
  }

  const read = await fetch(uri, { headers: { Authorization: `Bearer ${rat}` } });
  const readBody = await read.json();
  check(read.status === 200 && readBody.client_name === metadata.client_name && !readBody.client_secret, `read: ${read.status}`);

  const put = await fetch(uri, {
    method: "PUT",
    headers: { Authorization: `Bearer ${rat}`, "Content-Type": "application/json" },
    body: JSON.stringify({ ...readBody, client_name: "oauth4webapi web app, renamed" }),
  });
  const putBody = await put.json();
  check(put.status === 200 && putBody.client_name.endsWith("renamed"), `update: ${put.status} ${JSON.stringify(putBody)}`);
  check(putBody.registration_access_token && putBody.registration_access_token !== rat, "update rotates the registration access token");
  const stale = await fetch(uri, { headers: { Authorization: `Bearer ${rat}` } });
  check(stale.status === 401, `the rotated-out token: ${stale.status}`);

  let found = await lookupClient(id);
  check(found.status === 200 && found.json.isEnabled === false && found.json.type === "confidential", `lookup: ${found.status}`);
  let verified = await api("POST", `/internal/clients/${id}/verify`, lookup, { secret, tenantId: tenant });
  check(verified.json?.valid === false && verified.json?.reason === "disabled", `verify before enabling: ${JSON.stringify(verified.json)}`);
  const enabled = await api("POST", `/applications/${id}-enable`, admin);
  check(enabled.status === 204, `enable: ${enabled.status}`);
  verified = await api("POST", `/internal/clients/${id}/verify`, lookup, { secret, tenantId: tenant });
  check(verified.json?.valid === true, `verify after enabling: ${JSON.stringify(verified.json)}`);

  const del = await fetch(uri, { method: "DELETE", headers: { Authorization: `Bearer ${putBody.registration_access_token}` } });
  check(del.status === 204, `delete: ${del.status}`);
  const gone = await fetch(uri, { headers: { Authorization: `Bearer ${putBody.registration_access_token}` } });
  check(gone.status === 401, `read after delete: ${gone.status}`);
  const app = await api("GET", `/applications/${id}`, admin);
  check(app.json?.isLocked === true && app.json?.registration?.method === "initialAccessToken", `application after delete: ${JSON.stringify(app.json)}`);

  // The MCP TypeScript SDK, anonymously, with a loopback redirect.
  const asMetadata = {
    issuer: base,
    authorization_endpoint: `${base}/authorize`,
    token_endpoint: `${base}/token`,
    registration_endpoint: registrationEndpoint,
    response_types_supported: ["code"],
  };
  const mcp = await registerClient(base, {
    metadata: asMetadata,
    clientMetadata: {
      client_name: "MCP TypeScript client",
      redirect_uris: ["http://localhost:33418/oauth/callback"],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    },
  });
  check(mcp.client_id && !mcp.client_secret, "MCP SDK: anonymous registration");
  found = await lookupClient(mcp.client_id);
  check(found.status === 200 && found.json.isEnabled === false && found.json.pkceRequired === true, `MCP client lookup: ${JSON.stringify(found.json)}`);

  try {
    await registerClient(base, {
      metadata: asMetadata,
      clientMetadata: { redirect_uris: ["http://localhost:33418/cb#x"], token_endpoint_auth_method: "none" },
    });
    check(false, "MCP SDK: a fragment was accepted");
  } catch (e: any) {
    check(String(e?.message).includes("fragment"), `MCP SDK: the refusal says why (${e})`);
  }
} catch (e) {
  failed++;
  console.error("FAIL:", e);
}

console.log(`registration-clients: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
