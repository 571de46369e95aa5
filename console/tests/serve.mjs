// The console as the binary will serve it, for the browser tests until the Go
// serving is in this branch: console/build under /console/ (index.html for
// every other path below it, so deep links work), the API proxied to a real
// appreg at APPREG_URL, and a self-only CSP with no inline script, so a screen
// that needs more fails its test. Prints the port it listens on.
import http from "node:http";
import { readFile } from "node:fs/promises";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../build/", import.meta.url));
const upstream = new URL(process.env.APPREG_URL);
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";
const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png" };

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, "http://x");
  if (url.pathname === "/console") { res.writeHead(308, { Location: "/console/" }); return res.end(); }
  if (url.pathname.startsWith("/console/")) {
    const rel = normalize(decodeURIComponent(url.pathname.slice("/console/".length)));
    let file = rel && !rel.startsWith("..") ? join(root, rel) : join(root, "index.html");
    let body;
    try { body = await readFile(file); } catch { file = join(root, "index.html"); body = await readFile(file); }
    res.writeHead(200, { "Content-Type": TYPES[extname(file)] ?? "application/octet-stream", "Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store" });
    return res.end(body);
  }
  const preq = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (pres) => {
    res.writeHead(pres.statusCode, pres.headers);
    pres.pipe(res);
  });
  preq.on("error", () => { res.writeHead(502); res.end(); });
  req.pipe(preq);
});
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
