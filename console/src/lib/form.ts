// The register and edit form's model: the values a person edits, the client
// checks that mirror the server's, and the server's field errors by path.
import type { Application, ApplicationType, FieldError } from "./api/client";
import { contactRule, httpsRule, originRule, redirectRule } from "./rules";

export type AuthMethod = "client_secret_basic" | "client_secret_post";

export type FormValues = {
  name: string;
  description: string;
  contacts: string[];
  redirects: string[];
  origins: string[];
  logouts: string[];
  authMethod: AuthMethod;
  jwksEndpoint: string;
  scope: string;
  tenancy: "single" | "all";
  secretExpiresIn: string; // seconds, "" for never
};

export function emptyValues(): FormValues {
  return {
    name: "", description: "", contacts: [""], redirects: [""], origins: [], logouts: [],
    authMethod: "client_secret_basic", jwksEndpoint: "", scope: "", tenancy: "single", secretExpiresIn: "",
  };
}

export function valuesOf(a: Application): FormValues {
  return {
    name: a.name, description: a.description ?? "", contacts: [...a.contacts], redirects: [...a.redirects],
    origins: [...a.origins], logouts: [...a.logouts], authMethod: (a.authMethod ?? "client_secret_basic") as AuthMethod,
    jwksEndpoint: a.jwksEndpoint ?? "", scope: a.scope ?? "", tenancy: a.tenancy, secretExpiresIn: "",
  };
}

/** Which fields a type takes. */
export function shows(type: ApplicationType) {
  return {
    redirects: type !== "backend",
    logouts: type !== "backend",
    origins: type !== "backend",
    authMethod: type !== "public",
    jwksEndpoint: type !== "public",
    secret: type !== "public",
  };
}

/** The client-side checks: field path -> reason. */
export function check(v: FormValues, type: ApplicationType): Record<string, string> {
  const e: Record<string, string> = {};
  if (!v.name.trim()) e.name = "Enter a name.";
  else if ([...v.name].length > 128) e.name = "Must be at most 128 characters.";
  if ([...v.description].length > 1024) e.description = "Must be at most 1024 characters.";
  if (v.contacts.length === 0) e.contacts = "Add at least one notification address.";
  v.contacts.forEach((c, i) => { const r = contactRule(c); if (r) e[`contacts[${i}]`] = r; });
  const s = shows(type);
  if (s.redirects) {
    if (v.redirects.length === 0 && type !== "backend") e.redirects = `${type === "public" ? "Public" : "Confidential"} applications need at least one redirect URI.`;
    v.redirects.forEach((x, i) => { const r = redirectRule(x, type); if (r) e[`redirects[${i}]`] = r; });
    v.logouts.forEach((x, i) => { const r = redirectRule(x, type); if (r) e[`logouts[${i}]`] = r; });
    v.origins.forEach((x, i) => { const r = originRule(x); if (r) e[`origins[${i}]`] = r; });
  }
  if (s.jwksEndpoint) { const r = httpsRule(v.jwksEndpoint); if (r) e.jwksEndpoint = r; }
  return e;
}

/** The server's errors by field path; those without a field under "". */
export function serverErrors(fields: FieldError[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of fields) {
    const key = f.field ?? "";
    const reason = f.reason.charAt(0).toUpperCase() + f.reason.slice(1);
    out[key] = out[key] ? `${out[key]} ${reason}` : reason;
  }
  return out;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * The fields of the form that differ from the application as read: an edit
 * sends only these, so a field the form does not show is never touched.
 */
export function changes(v: FormValues, a: Application): Record<string, unknown> {
  const now = valuesOf(a);
  const s = shows(a.type);
  const out: Record<string, unknown> = {};
  if (v.name !== now.name) out.name = v.name;
  if (v.description !== now.description) out.description = v.description;
  if (!same(v.contacts.map((c) => c.trim()), now.contacts)) out.contacts = v.contacts.map((c) => c.trim());
  if (s.redirects) {
    if (!same(v.redirects.map((c) => c.trim()), now.redirects)) out.redirects = v.redirects.map((c) => c.trim());
    if (!same(v.origins.map((c) => c.trim()), now.origins)) out.origins = v.origins.map((c) => c.trim());
    if (!same(v.logouts.map((c) => c.trim()), now.logouts)) out.logouts = v.logouts.map((c) => c.trim());
  }
  if (s.authMethod && a.authMethod && v.authMethod !== a.authMethod) out.authMethod = v.authMethod;
  if (s.jwksEndpoint && v.jwksEndpoint.trim() !== now.jwksEndpoint) out.jwksEndpoint = v.jwksEndpoint.trim();
  if (v.scope.trim() !== now.scope) out.scope = v.scope.trim();
  return out;
}

/** The create body for a type: only the fields that type takes. */
export function createBody(v: FormValues, type: ApplicationType) {
  const s = shows(type);
  const body: Record<string, unknown> = {
    name: v.name, contacts: v.contacts.map((c) => c.trim()), type, tenancy: v.tenancy,
  };
  if (v.description) body.description = v.description;
  if (s.redirects) {
    body.redirects = v.redirects.map((c) => c.trim());
    if (v.origins.length) body.origins = v.origins.map((c) => c.trim());
    if (v.logouts.length) body.logouts = v.logouts.map((c) => c.trim());
  }
  if (s.authMethod) body.authMethod = v.authMethod;
  if (s.jwksEndpoint && v.jwksEndpoint.trim()) body.jwksEndpoint = v.jwksEndpoint.trim();
  if (v.scope.trim()) body.scope = v.scope.trim();
  if (s.secret && v.secretExpiresIn) body.secretExpiresIn = Number(v.secretExpiresIn);
  return body;
}

export const FIELD_LABELS: Record<string, string> = {
  name: "Name", description: "Description", contacts: "Notification contacts", redirects: "Redirect URIs",
  origins: "Allowed origins", logouts: "Post-logout redirect URIs", authMethod: "Client authentication",
  jwksEndpoint: "JWKS endpoint", scope: "Scope", tenancy: "Tenancy", type: "Type", secretExpiresIn: "Secret expiry",
};

/** "redirects[1]" -> "Redirect URIs, item 2" for the error summary. */
export function labelOf(path: string): string {
  const m = /^(\w+)\[(\d+)\]$/.exec(path);
  if (m) return `${FIELD_LABELS[m[1]] ?? m[1]}, item ${Number(m[2]) + 1}`;
  return FIELD_LABELS[path] ?? path;
}

/** The id of the input showing a field path (for the summary's links). */
export function inputId(path: string): string {
  const m = /^(\w+)\[(\d+)\]$/.exec(path);
  if (m) return `${m[1]}-${m[2]}`;
  return `f-${path}`;
}

/** The field path an input shows (inverse of inputId). */
export function pathOf(id: string): string {
  const m = /^(\w+)-(\d+)$/.exec(id);
  if (m) return `${m[1]}[${m[2]}]`;
  return id.startsWith("f-") ? id.slice(2) : id;
}
