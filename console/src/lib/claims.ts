// Reads the token's claims for display only (tenant, user, role): the server
// checks the signature and decides every access; the console never trusts
// these for anything but showing the right screens.
export type Claims = { tenantId?: string; sub?: string; roles: string[]; name?: string; email?: string; exp?: number };

export function readClaims(token: string | undefined): Claims {
  if (!token) return { roles: [] };
  try {
    const part = token.split(".")[1] ?? "";
    const b64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
    const json = new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
    const c = JSON.parse(json) as Record<string, unknown>;
    const roles = Array.isArray(c.roles) ? c.roles.filter((r): r is string => typeof r === "string") : [];
    const str = (v: unknown) => (typeof v === "string" ? v : undefined);
    return { tenantId: str(c.tenantId), sub: str(c.sub), name: str(c.name), email: str(c.email), roles, exp: typeof c.exp === "number" ? c.exp : undefined };
  } catch {
    return { roles: [] };
  }
}

export const ADMIN_ROLE = "appreg.admin";
