// Dates as people read them, in the browser's locale and time zone, with the
// exact UTC time in the title for support.
const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const rel = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

export function when(iso: string | undefined | null): string {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : dateTime.format(d);
}

export function ago(iso: string | undefined | null, now = Date.now()): string {
  if (!iso) return "";
  const s = Math.round((new Date(iso).getTime() - now) / 1000);
  const abs = Math.abs(s);
  if (abs < 60) return rel.format(Math.round(s), "second");
  if (abs < 3600) return rel.format(Math.round(s / 60), "minute");
  if (abs < 86400) return rel.format(Math.round(s / 3600), "hour");
  if (abs < 86400 * 45) return rel.format(Math.round(s / 86400), "day");
  if (abs < 86400 * 365) return rel.format(Math.round(s / (86400 * 30)), "month");
  return rel.format(Math.round(s / (86400 * 365)), "year");
}

/** "6 d 23 h", "3 h 12 min", "45 s": the time left until iso. */
export function countdown(iso: string | undefined | null, now = Date.now()): string {
  if (!iso) return "";
  let s = Math.max(0, Math.floor((new Date(iso).getTime() - now) / 1000));
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  if (d > 0) return `${d} d ${h} h`;
  if (h > 0) return `${h} h ${m} min`;
  if (m > 0) return `${m} min`;
  return `${s} s`;
}

export function typeLabel(t: string): string {
  return t === "confidential" ? "Confidential" : t === "public" ? "Public" : t === "backend" ? "Backend" : t;
}

/** A ticking clock for countdowns, one per page. */
export const clock = $state({ now: Date.now() });
setInterval(() => (clock.now = Date.now()), 15_000);
