// The server's input rules, mirrored so a person sees a mistake as they type.
// The server stays the authority: it checks everything again and its errors
// are placed on their fields too. Keep these in step with server/rules.go;
// they are deliberately a subset (the server also checks host names, duplicates
// and lengths).
import type { ApplicationType } from "./api/client";

const EMAIL = /^[^\s@<>()",;:]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/;
const LOOPBACK = new Set(["127.0.0.1", "[::1]", "localhost"]);
const FORBIDDEN = new Set(["javascript", "data", "vbscript", "file", "blob", "about", "ftp", "ws", "wss"]);

export function contactRule(v: string): string {
  if (!v.trim()) return "Enter an e-mail address.";
  if (!EMAIL.test(v.trim())) return "Must be a plain e-mail address such as it-admins@example.com.";
  return "";
}

function common(v: string): { u?: URL; reason: string } {
  const raw = v.trim();
  if (!raw) return { reason: "Enter a URI or remove this row." };
  if (raw.includes("*")) return { reason: "Must not contain a wildcard (*)." };
  if (raw.includes("#")) return { reason: "Must not contain a fragment (#)." };
  if (/\s/.test(raw)) return { reason: "Must not contain spaces." };
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return { reason: "Must be an absolute URI with a scheme, such as https://app.example.com/callback." };
  }
  if (u.username || u.password) return { reason: "Must not contain user information (user@)." };
  return { u, reason: "" };
}

export function redirectRule(v: string, type: ApplicationType): string {
  const { u, reason } = common(v);
  if (!u) return reason;
  const scheme = u.protocol.slice(0, -1).toLowerCase();
  if (scheme === "https") return "";
  if (scheme === "http") return LOOPBACK.has(u.hostname.toLowerCase()) ? "" : "http is only allowed for loopback hosts (127.0.0.1, [::1], localhost); use https.";
  if (FORBIDDEN.has(scheme)) return `The ${scheme} scheme is not allowed.`;
  if (type !== "public") return "Must use https (or http on a loopback host).";
  if (!scheme.includes(".")) return "A private-use scheme must be a reverse domain name such as com.example.app (RFC 8252).";
  return "";
}

export function originRule(v: string): string {
  const { u, reason } = common(v);
  if (!u) return reason;
  const scheme = u.protocol.slice(0, -1).toLowerCase();
  if (scheme !== "https" && scheme !== "http") return "Must be an http or https origin.";
  if ((u.pathname && u.pathname !== "/") || u.search) return "Must be scheme://host[:port] only, without a path or query.";
  return "";
}

export function httpsRule(v: string): string {
  if (!v.trim()) return "";
  const { u, reason } = common(v);
  if (!u) return reason;
  return u.protocol === "https:" ? "" : "Must be an https URL.";
}
