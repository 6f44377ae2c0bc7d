// A real browser: headless Chromium loads a page from one origin that calls the RPC
// server on another with @connectrpc/connect-web (Connect and gRPC-Web, unary and server
// streaming). CORS preflights must pass for any of it to work.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { requireEnv, startServer, stopServer } from "./support.mjs";

const here = path.dirname(new URL(import.meta.url).pathname);
const modules = path.join(here, "node_modules");

// An import map from each package's "exports" (the "import" condition, recursively).
function importMap(packages) {
  const imports = {};
  const pick = (target) =>
    typeof target === "string" ? target : target?.import ? pick(target.import) : target?.default ? pick(target.default) : null;
  for (const name of packages) {
    const pkg = JSON.parse(readFileSync(path.join(modules, name, "package.json"), "utf8"));
    for (const [sub, target] of Object.entries(pkg.exports ?? {})) {
      const file = pick(target);
      if (file && !sub.includes("*")) imports[path.posix.join(name, sub)] = `/node_modules/${name}/${file.replace(/^\.\//, "")}`;
    }
  }
  return { imports };
}

let rpc, pages, pagePort, browser, profile;
let resolveResult;
const result = new Promise((resolve) => (resolveResult = resolve));

before(async () => {
  pages = http.createServer((req, res) => {
    const url = new URL(req.url, "http://x");
    if (req.method === "POST" && url.pathname === "/result") {
      let body = "";
      req.on("data", (d) => (body += d));
      req.on("end", () => {
        res.end("ok");
        resolveResult(JSON.parse(body));
      });
      return;
    }
    const send = (type, data) => {
      res.writeHead(200, { "content-type": type });
      res.end(data);
    };
    if (url.pathname === "/") {
      const map = importMap(["@bufbuild/protobuf", "@connectrpc/connect", "@connectrpc/connect-web"]);
      return send("text/html", `<!doctype html><script type="importmap">${JSON.stringify(map)}</script>
<script type="module" src="/page.mjs"></script>`);
    }
    if (url.pathname === "/page.mjs") return send("text/javascript", readFileSync(path.join(here, "browser", "page.mjs")));
    if (url.pathname === "/descriptors.binpb") return send("application/octet-stream", readFileSync(requireEnv("EDGEPIPE_TEST_DESCRIPTORS")));
    if (url.pathname.startsWith("/node_modules/")) {
      const file = path.join(here, path.normalize(url.pathname));
      if (!file.startsWith(modules)) return res.writeHead(403).end();
      try {
        return send("text/javascript", readFileSync(file));
      } catch {
        return res.writeHead(404).end();
      }
    }
    res.writeHead(404).end();
  });
  await new Promise((r) => pages.listen(0, "127.0.0.1", r));
  pagePort = pages.address().port;
  // The page's origin is allowed; the RPC server listens elsewhere.
  rpc = await startServer(requireEnv("EDGEPIPE_TEST_SERVER"), ["--cors", `http://127.0.0.1:${pagePort}`]);
});

after(async () => {
  await stopServer(rpc);
  if (browser && browser.exitCode === null && browser.signalCode === null) {
    const gone = new Promise((resolve) => browser.once("exit", resolve));
    try {
      process.kill(-browser.pid, "SIGKILL");  // the whole group: renderers and helpers too
    } catch {}
    await gone;
    await new Promise((r) => setTimeout(r, 100));  // helpers reaped
  }
  pages?.close();
  if (profile) rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
});

test("connect-web in headless Chromium calls unary and server streaming over Connect and gRPC-Web", { timeout: 120000 }, async () => {
  profile = mkdtempSync(path.join(tmpdir(), "edgepipe-chromium-"));
  const url = `http://127.0.0.1:${pagePort}/?rpc=${encodeURIComponent(`http://127.0.0.1:${rpc.port}`)}`;
  browser = spawn(process.env.CHROMIUM ?? "chromium", [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", `--user-data-dir=${profile}`, "--remote-debugging-port=0", url,
  ], { stdio: "ignore", detached: true });  // its own process group, to end it whole
  const results = await result;
  assert.equal(results.failure, undefined, results.failure);
  for (const name of ["connect_binary", "connect_json", "grpc_web_binary", "grpc_web_json"]) {
    const r = results[name];
    assert.equal(r.failure, undefined, `${name}: ${r.failure}`);
    assert.equal(r.unary, `from the browser via ${name}`);
    assert.deepEqual(r.stream, [0, 1, 2, 3, 4], name);
    assert.deepEqual(r.error, { code: "PermissionDenied", message: "requested_failure: as requested", detail: "browser detail" }, name);
  }
});
