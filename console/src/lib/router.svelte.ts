// A tiny path router under the base /console/ (no hash: deep links and reloads
// keep the screen because the server answers index.html under /console/).
export const BASE = "/console";

export type Route =
  | { name: "list" }
  | { name: "register" }
  | { name: "app"; id: string; tab: "overview" | "secrets" | "activity" | "integration" }
  | { name: "operators" }
  | { name: "adminEvents"; id?: string }
  | { name: "notFound" };

function parse(pathname: string): Route {
  let p = pathname.startsWith(BASE) ? pathname.slice(BASE.length) : pathname;
  p = p.replace(/\/+$/, "");
  const seg = p.split("/").filter(Boolean).map(decodeURIComponent);
  if (seg.length === 0 || (seg.length === 1 && seg[0] === "applications")) return { name: "list" };
  if (seg[0] === "applications" && seg[1] === "new" && seg.length === 2) return { name: "register" };
  if (seg[0] === "applications" && seg.length <= 3 && seg[1]) {
    const tab = (seg[2] ?? "overview") as "overview";
    if (["overview", "secrets", "activity", "integration"].includes(tab)) return { name: "app", id: seg[1], tab };
  }
  if (seg[0] === "operators" && seg.length === 1) return { name: "operators" };
  if (seg[0] === "operators" && seg[1] === "activity" && seg.length <= 3) return { name: "adminEvents", id: seg[2] };
  return { name: "notFound" };
}

export const router = $state<{ route: Route; path: string; query: URLSearchParams }>({
  route: parse(location.pathname),
  path: location.pathname,
  query: new URLSearchParams(location.search),
});

function sync() {
  router.route = parse(location.pathname);
  router.path = location.pathname;
  router.query = new URLSearchParams(location.search);
}

/** href of a console path such as "/applications/new". */
export function href(path: string): string {
  return BASE + (path.startsWith("/") ? path : "/" + path);
}

/** Goes to a console path (pushing history, or replacing it). */
export function navigate(path: string, opts: { replace?: boolean } = {}): void {
  const url = path.startsWith(BASE) ? path : href(path);
  if (opts.replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  sync();
  window.scrollTo(0, 0);
}

addEventListener("popstate", sync);

// Same-origin links under /console/ are handled here, without a page load.
addEventListener("click", (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = (e.target as Element | null)?.closest?.("a");
  if (!a || a.target || a.hasAttribute("download")) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || !url.pathname.startsWith(BASE)) return;
  e.preventDefault();
  navigate(url.pathname + url.search);
});
