// edgepipe-gateway notices what stops answering, end to end with real processes: a push
// service that is silent, stalls or fails at once, a Redis that answers errors or starts
// evicting, and running out of descriptors. The tests run side by side (most of them
// wait on the gateway's own timers).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import http2 from "node:http2";
import net from "node:net";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import {
  EdgeGateway,
  cleanup,
  readyz,
  readyzUntil,
  registerDevice,
  signedRequest,
  startBackend,
  startGateway,
  startRedis,
  waitForLine,
} from "./gateway_support.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(condition, ms) {
  const deadline = Date.now() + ms;
  while (!condition() && Date.now() < deadline) await sleep(50);
  return condition();
}

const redisCli = (redis, ...args) =>
  spawnSync("redis-cli", ["-p", String(redis.port), ...args], { encoding: "utf8" }).stdout.trim();

// A fake push service on a free port: every connection the gateway opens to it (when it
// opened and when it closed); closed with the test, its connections too.
async function fakePush(t, server, event) {
  const seen = [];
  const live = new Set();
  server.on(event, (c) => {
    const entry = { opened: Date.now(), closed: null };
    seen.push(entry);
    live.add(c);
    c.on("close", () => {
      entry.closed = Date.now();
      live.delete(c);
    });
    c.on("error", () => {});
  });
  t.after(() => {
    server.close();
    for (const c of live) c.destroy();
  });
  const addr = await new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(`127.0.0.1:${server.address().port}`)));
  return { addr, seen };
}

// `count` idle TCP connections to `url`'s port, destroyed with the test; `closed()` counts
// those the other side has closed.
async function idleConnections(t, url, count) {
  const port = Number(new URL(url).port);
  const sockets = [];
  let closed = 0;
  t.after(() => sockets.forEach((s) => s.destroy()));
  await Promise.all(Array.from({ length: count }, () => new Promise((resolve, reject) => {
    const s = net.connect(port, "127.0.0.1", () => resolve());
    sockets.push(s);
    s.on("error", reject);
    s.on("end", () => ++closed);
  })));
  return { destroy: () => sockets.forEach((s) => s.destroy()), closed: () => closed };
}

// The CPU time (user + system, in clock ticks) a process has used.
function cpuTicks(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

const hardDescriptorLimit = Number(spawnSync("sh", ["-c", "ulimit -Hn"], { encoding: "utf8" }).stdout);

let backend;
before(async () => {
  backend = await startBackend();
});
after(cleanup);

describe("the gateway notices", { concurrency: true }, () => {
  test("a push service that accepts TCP and never answers: not ready, and reconnecting every few seconds", async (t) => {
    const { addr, seen: connections } = await fakePush(t, net.createServer((s) => s.resume()), "connection");
    const g = await startGateway(backend.url, "memory", {}, addr);
    assert.ok(await until(() => connections.length >= 2, 8000), "the gateway gives up on the silent connection and opens another");
    const first = connections[0];
    assert.ok(first.closed !== null, "the silent connection is closed");
    assert.ok(first.closed - first.opened >= 4000, "after the 5 s the handshake may take, not before");
    const r = await readyz(g);
    assert.equal(r.status, 503);
    assert.equal(r.body.push_stream, "closed");
    g.child.kill("SIGTERM");
  });

  test("a push service that completes HTTP/2 but never answers the stream: reconnecting", async (t) => {
    const server = http2.createServer();
    server.on("stream", (stream) => stream.on("error", () => {}));  // accepted, never answered
    const { addr, seen: sessions } = await fakePush(t, server, "session");
    const g = await startGateway(backend.url, "memory", {}, addr);
    assert.ok(await until(() => sessions.length >= 2, 8000), "a second connection after the handshake deadline");
    assert.ok(sessions[0].closed !== null, "the first connection is closed");
    assert.equal((await readyz(g)).status, 503);
    g.child.kill("SIGTERM");
  });

  test("a push service that stops answering PINGs (SIGSTOP): not ready, and ready again after SIGCONT", { timeout: 90000 }, async () => {
    const own = await startBackend();
    const g = await startGateway(own.url, "memory", {}, own.push);
    assert.equal((await readyzUntil(g, 200, 10000)).status, 200, "ready once the push stream is open");
    own.child.kill("SIGSTOP");
    // A PING goes out every 15 s and may wait 5 s for its answer.
    const down = await readyzUntil(g, 503, 15000 + 5000 + 3000);
    own.child.kill("SIGCONT");
    assert.equal(down.status, 503, "not ready while the push service does not answer");
    assert.equal(down.body.push_stream, "closed");
    assert.equal((await readyzUntil(g, 200, 20000)).status, 200, "ready again once it answers");
    g.child.kill("SIGTERM");
    own.child.kill("SIGTERM");
  });

  test("a push service whose streams fail at once: reopened with a growing backoff, not every 100 ms", async (t) => {
    const server = http2.createServer();
    const streams = [];
    server.on("stream", (stream) => {
      streams.push(Date.now());
      stream.on("error", () => {});
      stream.respond({ ":status": 200, "content-type": "application/grpc" });
      stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    });
    const { addr } = await fakePush(t, server, "session");
    const g = await startGateway(backend.url, "memory", {}, addr);
    assert.ok(await until(() => streams.length >= 1, 5000), "the gateway opens the push stream");
    await sleep(6000);
    const inWindow = streams.filter((t) => t - streams[0] <= 6000).length;
    // 100 ms doubling (±20 %): about 6 in 6 s; a backoff reset on every open makes about 60.
    assert.ok(inWindow <= 10, `${inWindow} attempts in 6 s`);
    assert.ok(inWindow >= 3, `${inWindow} attempts in 6 s: it keeps trying`);
    g.child.kill("SIGTERM");
  });

  test("a soft descriptor limit of 1024: raised to the hard limit, and 1,100 idle connections leave calls working",
    { skip: hardDescriptorLimit < 1500 && `the hard descriptor limit here is ${hardDescriptorLimit}` }, async (t) => {
      const g = await startGateway(backend.url, "memory", {}, backend.push, ["sh", "-c", 'ulimit -Sn 1024; exec "$0" "$@"']);
      const line = g.log.find((l) => l.includes("RLIMIT_NOFILE"));
      assert.ok(line, "the start-up log names the descriptor limit");
      assert.match(line, new RegExp(`RLIMIT_NOFILE 1024 -> ${hardDescriptorLimit} \\(hard ${hardDescriptorLimit}\\)`));
      const device = await registerDevice(g);
      const idle = await idleConnections(t, g.edge, 1100);
      const descriptors = () => readdirSync(`/proc/${g.child.pid}/fd`).length;
      await until(() => descriptors() > 1100, 5000);  // the gateway has accepted them all
      const client = createClient(EdgeGateway, createGrpcTransport({ baseUrl: g.edge }));
      const res = await client.executeCommand(signedRequest(device), { signal: AbortSignal.timeout(5000) });
      assert.equal(res.resultCode, "ok");
      // Not served by waiting for the gateway to close idle connections (after 10 s).
      assert.equal(idle.closed(), 0, "the idle connections are still open");
      idle.destroy();
      g.child.kill("SIGTERM");
    });

  test("the public listener out of descriptors: it waits instead of spinning, and serves again when some close", async (t) => {
    const g = await startGateway(backend.url, "memory", {}, backend.push, ["sh", "-c", 'ulimit -n 64; exec "$0" "$@"']);
    assert.equal((await readyzUntil(g, 200, 10000)).status, 200);
    const idle = await idleConnections(t, g.public, 100);
    await sleep(500);  // the gateway has taken what it can and hit the limit
    const before = cpuTicks(g.child.pid);
    await sleep(2000);
    const used = cpuTicks(g.child.pid) - before;
    // A loop retrying accept at once would use most of a CPU (about 200 ticks in 2 s).
    assert.ok(used < 50, `${used} clock ticks of CPU in 2 s while out of descriptors`);
    idle.destroy();
    assert.equal((await readyzUntil(g, 200, 5000)).status, 200, "serving again");
    g.child.kill("SIGTERM");
  });

  test("a Redis that answers errors (-OOM, -NOAUTH, -READONLY): not ready within 2 s, and ready again", { timeout: 60000 }, async () => {
    const redis = await startRedis();
    const g = await startGateway(backend.url, redis.url, {}, backend.push);
    assert.equal((await readyzUntil(g, 200, 10000)).status, 200);
    const failing = async (what) => {
      const r = await readyzUntil(g, 503, 2500);
      assert.equal(r.status, 503, `not ready while Redis answers ${what}`);
      assert.equal(r.body.replay_store, "unavailable");
      assert.equal(r.body.push_stream, "ok");
    };
    const recovered = async (what) => assert.equal((await readyzUntil(g, 200, 5000)).status, 200, `ready after ${what}`);

    redisCli(redis, "CONFIG", "SET", "maxmemory", "1");
    assert.match(redisCli(redis, "SET", "edgepipe:test", "1", "NX", "PX", "1000"), /^OOM/);
    await failing("-OOM");
    redisCli(redis, "CONFIG", "SET", "maxmemory", "0");
    await recovered("-OOM");

    // Connections made after a password is required are refused every command.
    redisCli(redis, "CONFIG", "SET", "requirepass", "secret");
    redisCli(redis, "-a", "secret", "--no-auth-warning", "CLIENT", "KILL", "TYPE", "normal");
    assert.match(redisCli(redis, "SET", "edgepipe:test", "1"), /^NOAUTH/);
    await failing("-NOAUTH");
    redisCli(redis, "-a", "secret", "--no-auth-warning", "CONFIG", "SET", "requirepass", "");
    await recovered("-NOAUTH");

    const primary = await startRedis();
    redisCli(redis, "REPLICAOF", "127.0.0.1", String(primary.port));
    assert.match(redisCli(redis, "SET", "edgepipe:test", "1"), /^READONLY/);
    await failing("-READONLY");
    redisCli(redis, "REPLICAOF", "NO", "ONE");
    await recovered("-READONLY");
    g.child.kill("SIGTERM");
  });

  test("a Redis switched to an evicting maxmemory-policy at runtime: not ready within 30 s, logged", { timeout: 90000 }, async () => {
    const redis = await startRedis();
    const g = await startGateway(backend.url, redis.url, {}, backend.push);
    const first = await readyzUntil(g, 200, 10000);
    assert.equal(first.status, 200);
    assert.equal(first.body.maxmemory_policy, "ok");
    const logged = waitForLine(g.child, /maxmemory-policy is now allkeys-lru/, 40000);
    redisCli(redis, "CONFIG", "SET", "maxmemory-policy", "allkeys-lru");
    const r = await readyzUntil(g, 503, 30000 + 3000);
    assert.equal(r.status, 503, "not ready once the policy evicts");
    assert.equal(r.body.maxmemory_policy, "evicting");
    assert.equal(r.body.replay_store, "ok");
    await logged;
    redisCli(redis, "CONFIG", "SET", "maxmemory-policy", "noeviction");
    assert.equal((await readyzUntil(g, 200, 30000 + 3000)).status, 200, "ready again under noeviction");
    g.child.kill("SIGTERM");
  });
});
