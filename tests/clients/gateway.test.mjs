// edgepipe-gateway end to end, real processes: redis-server, the demo backend and
// gateways on free ports, called by stock clients; signatures checked with Node's crypto.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import crypto from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import http from "node:http";
import http2 from "node:http2";
import { createInterface } from "node:readline";
import { create, createFileRegistry, fromBinary, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import {
  registry,
  EdgeGateway,
  SignedRequest,
  GATEWAY,
  BACKEND,
  keyFile,
  freePort,
  waitForLine,
  startRedis,
  startBackend,
  runGateway,
  u32,
  i64,
  lp,
  sha256,
  requestInput,
  eventInput,
  responseInput,
  registerDevice,
  signedRequest,
  gatewayKey,
  transports,
  callError,
  children, work, cleanup, startGateway as startGatewayProcess,
} from "./gateway_support.mjs";
import { requireEnv } from "./support.mjs";

// Gateways here talk to the shared demo backend's push service unless told otherwise.
const startGateway = (backendUrl, redisUrl = "memory", env = {}, pushAddr = backend?.push ?? "127.0.0.1:1") =>
  startGatewayProcess(backendUrl, redisUrl, env, pushAddr);

// --- the shared world ---------------------------------------------------------------

let redis, backend, gateway;
before(async () => {
  redis = await startRedis();
  backend = await startBackend();
  // Many devices register in quick succession here; the per-IP limit has its own test.
  gateway = await startGateway(backend.url, redis.url, { EDGEPIPE_PUBLIC_RATE: "1000", EDGEPIPE_PUBLIC_BURST: "1000" });
});
after(cleanup);

describe("happy paths", () => {
  for (const [name, make] of Object.entries(transports)) {
    test(`${name}: a signed command gets a response the gateway signed`, async () => {
      const device = await registerDevice(gateway);
      const client = createClient(EdgeGateway, make(gateway));
      const { keyId, key } = await gatewayKey(gateway);
      const req = signedRequest(device, { type: "lobby.join" });
      const res = await client.executeCommand(req);
      assert.equal(res.requestId, req.requestId);
      assert.equal(res.resultCode, "joined");
      assert.deepEqual(JSON.parse(Buffer.from(res.payload)), { joined: true, user_id: "alice" });
      assert.deepEqual(Buffer.from(res.payloadSha256), sha256(res.payload));
      assert.equal(res.keyId, keyId);
      assert.ok(crypto.verify(null, responseInput(device.id, res), key, Buffer.from(res.signature)), "signature verifies");
      assert.ok(Math.abs(Number(res.timestampMs) - Date.now()) < 5000);
    });
  }
});

describe("the contract's failure table, over the wire", () => {
  const rows = [
    ["malformed_envelope", Code.InvalidArgument, (d) => signedRequest(d, { tamper: { after: (r) => (r.protocolVersion = 2) } })],
    ["session_not_found", Code.Unauthenticated, (d) => signedRequest({ ...d, id: "ds_nobody" })],
    ["backend_bad_response", Code.Internal, (d) => signedRequest({ ...d, id: "malformed-session" })],
    ["payload_hash_mismatch", Code.InvalidArgument, (d) => signedRequest(d, { tamper: { after: (r) => (r.payload = Buffer.from("changed")) } })],
    ["signature_invalid", Code.Unauthenticated, (d) => signedRequest(d, { tamper: { after: (r) => (r.signature[0] ^= 1) } })],
    ["stale_request", Code.Unauthenticated, (d) => signedRequest(d, { timestampMs: Date.now() - 61000 })],
    ["route_not_found", Code.NotFound, (d) => signedRequest(d, { type: "billing.charge" })],
    ["route_not_found", Code.NotFound, (d) => signedRequest(d, { type: "gateway.subscribe_events" })],
  ];
  for (const transport of ["Connect HTTP/1.1", "gRPC"]) {
    for (const [reason, code, make] of rows) {
      test(`${transport}: ${reason}`, async () => {
        const device = await registerDevice(gateway);
        const err = await callError(createClient(EdgeGateway, transports[transport](gateway)).executeCommand(make(device)));
        assert.equal(err.code, code);
        assert.match(err.rawMessage, new RegExp(`^${reason}`));
      });
    }

    test(`${transport}: session_revoked`, async () => {
      const device = await registerDevice(gateway);
      await fetch(`${backend.url}/api/v1/demo/revoke`, { method: "POST", body: JSON.stringify({ device_session_id: device.id }) });
      const err = await callError(createClient(EdgeGateway, transports[transport](gateway)).executeCommand(signedRequest(device)));
      assert.equal(err.code, Code.Unauthenticated);
      assert.match(err.rawMessage, /^session_revoked/);
    });

    test(`${transport}: replayed_request`, async () => {
      const device = await registerDevice(gateway);
      const client = createClient(EdgeGateway, transports[transport](gateway));
      const req = signedRequest(device);
      await client.executeCommand(req);
      const err = await callError(client.executeCommand(req));
      assert.equal(err.code, Code.AlreadyExists);
      assert.match(err.rawMessage, /^replayed_request/);
    });

    test(`${transport}: backend statuses map to codes and reasons`, async () => {
      const device = await registerDevice(gateway);
      const client = createClient(EdgeGateway, transports[transport](gateway));
      for (const [http, code, reason] of [
        [400, Code.InvalidArgument, "backend_rejected"], [401, Code.PermissionDenied, "backend_denied"],
        [403, Code.PermissionDenied, "backend_denied"], [404, Code.NotFound, "backend_not_found"],
        [409, Code.Aborted, "backend_conflict"], [429, Code.ResourceExhausted, "backend_throttled"],
        [500, Code.Unavailable, "backend_unavailable"], [503, Code.Unavailable, "backend_unavailable"],
      ]) {
        await fetch(`${backend.url}/api/v1/demo/fail-next`, { method: "POST", body: JSON.stringify({ status: http }) });
        const err = await callError(client.executeCommand(signedRequest(device)));
        assert.equal(err.code, code, `HTTP ${http}`);
        assert.match(err.rawMessage, new RegExp(`^${reason}`), `HTTP ${http}`);
      }
    });
  }

  for (const transport of ["Connect HTTP/1.1", "gRPC"]) {
    test(`${transport}: rate_limited, with a retry hint`, async () => {
      const limited = await startGateway(backend.url, "memory", { EDGEPIPE_SESSION_RATE: "1", EDGEPIPE_SESSION_BURST: "2" });
      const device = await registerDevice(limited);
      const client = createClient(EdgeGateway, transports[transport](limited));
      await client.executeCommand(signedRequest(device));
      await client.executeCommand(signedRequest(device));
      let headers, trailers;
      const err = await callError(client.executeCommand(signedRequest(device), { onHeader: (h) => (headers = h), onTrailer: (t) => (trailers = t) }));
      assert.equal(err.code, Code.ResourceExhausted);
      assert.match(err.rawMessage, /^rate_limited/);
      const hint = transport === "gRPC" ? "grpc-retry-pushback-ms" : "retry-after-ms";
      assert.ok(Number(err.metadata.get(hint) ?? trailers?.get(hint) ?? headers?.get(hint)) > 0, `${hint} present`);
      limited.child.kill("SIGTERM");
    });

    test(`${transport}: backend_unavailable when the backend does not answer`, async () => {
      const orphan = await startGateway(`http://127.0.0.1:${await freePort()}`);
      const device = { id: "ds_any", privateKey: crypto.generateKeyPairSync("ed25519").privateKey };
      const err = await callError(createClient(EdgeGateway, transports[transport](orphan)).executeCommand(signedRequest(device)));
      assert.equal(err.code, Code.Unavailable);
      assert.match(err.rawMessage, /^backend_unavailable/);
      orphan.child.kill("SIGTERM");
    });

    test(`${transport}: replay_store_unavailable while Redis is gone, and readiness follows it`, async () => {
      const own = await startRedis();
      const g = await startGateway(backend.url, own.url);
      const device = await registerDevice(g);
      const client = createClient(EdgeGateway, transports[transport](g));
      await client.executeCommand(signedRequest(device));
      own.child.kill("SIGKILL");
      await new Promise((r) => setTimeout(r, 200));
      const err = await callError(client.executeCommand(signedRequest(device)));
      assert.equal(err.code, Code.Unavailable);
      assert.match(err.rawMessage, /^replay_store_unavailable/);
      const ready = await fetch(`${g.public}/readyz`);
      assert.equal(ready.status, 503);
      assert.equal((await ready.json()).replay_store, "unavailable");
      // Redis back on the same port: the gateway reconnects and is ready again.
      const back = spawn("redis-server", ["--port", String(own.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: ["ignore", "pipe", "ignore"] });
      children.push(back);
      await waitForLine(back, /Ready to accept connections/);
      let status = 0;
      for (let i = 0; i < 200 && status !== 200; i++) {
        status = (await fetch(`${g.public}/readyz`)).status;
        if (status !== 200) await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(status, 200);
      await client.executeCommand(signedRequest(device));
      g.child.kill("SIGTERM");
    });
  }
});

test("two gateways sharing one Redis: a request accepted by one is a replay at the other", async () => {
  const second = await startGateway(backend.url, redis.url);
  const device = await registerDevice(gateway);
  const req = signedRequest(device);
  await createClient(EdgeGateway, transports.gRPC(gateway)).executeCommand(req);
  const err = await callError(createClient(EdgeGateway, transports.gRPC(second)).executeCommand(req));
  assert.equal(err.code, Code.AlreadyExists);
  assert.match(err.rawMessage, /^replayed_request/);
  second.child.kill("SIGTERM");
});

test("a valid incoming traceparent reaches the backend; a malformed one is dropped", async () => {
  const device = await registerDevice(gateway);
  const client = createClient(EdgeGateway, transports.gRPC(gateway));
  const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  // The demo backend's user.echo reports the traceparent it received in the result code.
  const traced = await client.executeCommand(signedRequest(device), { headers: { traceparent } });
  assert.equal(traced.resultCode, `traced.${traceparent}`);
  const bogus = await client.executeCommand(signedRequest(device), { headers: { traceparent: "00-zz-not-a-trace-01" } });
  assert.equal(bogus.resultCode, "ok");
});

test("a client deadline bounds the call, backend included", async () => {
  const device = await registerDevice(gateway);
  const started = Date.now();
  const err = await callError(createClient(EdgeGateway, transports["Connect HTTP/1.1"](gateway))
    .executeCommand(signedRequest(device, { type: "user.slow" }), { timeoutMs: 150 }));
  assert.equal(err.code, Code.DeadlineExceeded);
  assert.ok(Date.now() - started < 450, "answered at the deadline, not when the backend finished");
});

describe("public auth passthrough", () => {
  test("identity headers a client sends never reach the backend; X-Forwarded-For is appended", async () => {
    const res = await fetch(`${gateway.public}/api/v1/public/auth/echo-headers?x=1`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-user-id": "mallory", "x-device-session-id": "ds_forged", "x-forwarded-for": "10.9.8.7" },
      body: '{"a":1}',
    });
    assert.equal(res.status, 200);
    const seen = await res.json();
    const headers = Object.fromEntries(Object.entries(seen.headers).map(([k, v]) => [k.toLowerCase(), v]));
    assert.equal(headers["x-user-id"], undefined);
    assert.equal(headers["x-device-session-id"], undefined);
    assert.equal(headers["x-forwarded-for"], "10.9.8.7, 127.0.0.1");
    assert.equal(headers["content-type"], "application/json");
    assert.equal(seen.target, "/api/v1/public/auth/echo-headers?x=1");
    assert.equal(seen.body, '{"a":1}');
  });

  test("bodies over 64 KiB are 413", async () => {
    const res = await fetch(`${gateway.public}/api/v1/public/auth/register`, { method: "POST", body: "x".repeat(65 * 1024) });
    assert.equal(res.status, 413);
  });

  test("past the per-IP burst: 429 with Retry-After", async () => {
    const g = await startGateway(backend.url, "memory", { EDGEPIPE_PUBLIC_RATE: "1", EDGEPIPE_PUBLIC_BURST: "2" });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await fetch(`${g.public}/api/v1/public/auth/echo-headers`)).status);
    assert.deepEqual(statuses, [200, 200, 429]);
    const last = await fetch(`${g.public}/api/v1/public/auth/echo-headers`);
    assert.ok(Number(last.headers.get("retry-after")) >= 1);
    g.child.kill("SIGTERM");
  });

  test("a backend that does not answer is 502", async () => {
    const g = await startGateway(`http://127.0.0.1:${await freePort()}`);
    assert.equal((await fetch(`${g.public}/api/v1/public/auth/register`, { method: "POST", body: "{}" })).status, 502);
    g.child.kill("SIGTERM");
  });
});

describe("operating it", () => {
  test("healthz is 200; readyz follows the push stream and names each check", { timeout: 60000 }, async () => {
    assert.equal((await fetch(`${gateway.public}/healthz`)).status, 200);
    const own = await startBackend();
    const g = await startGateway(own.url, "memory", {}, own.push);
    const readyz = async () => (await fetch(`${g.public}/readyz`)).status;
    const until = async (status) => {
      for (let i = 0; i < 200 && (await readyz()) !== status; i++) await new Promise((r) => setTimeout(r, 50));
      return readyz();
    };
    assert.equal(await until(200), 200, "ready once the push stream is open");
    own.child.kill("SIGKILL");
    assert.equal(await until(503), 503, "not ready while the push stream is down");
    const body = await (await fetch(`${g.public}/readyz`)).json();
    assert.deepEqual(body, { replay_store: "ok", push_stream: "closed", draining: false });
    await startBackend(own.rest, own.push);  // the same addresses: the gateway reconnects by itself
    assert.equal(await until(200), 200, "ready again after reconnecting");
    g.child.kill("SIGTERM");
  });

  test("--help lists every setting with its default", () => {
    const r = spawnSync(GATEWAY, ["--help"], { encoding: "utf8" });
    assert.equal(r.status, 0);
    for (const flag of ["--backend-url", "--backend-push-addr", "--redis-url", "--signer-key-file", "--signer-key-id",
      "--public-addr", "--edge-addr", "--admin-addr", "--freshness-window-ms", "--session-rate", "--session-burst",
      "--user-rate", "--user-burst", "--public-rate", "--public-burst", "--max-payload-bytes", "--backend-timeout-ms",
      "--cors-origins", "--log-format", "--otlp-endpoint", "--drain-timeout-ms", "--workers", "--backend-max-connections"])
      assert.ok(r.stdout.includes(flag), flag);
    assert.match(r.stdout, /default: 60000/);
  });

  const required = {
    EDGEPIPE_BACKEND_URL: "http://127.0.0.1:1",
    EDGEPIPE_BACKEND_PUSH_ADDR: "127.0.0.1:1",
    EDGEPIPE_REDIS_URL: "memory",
    EDGEPIPE_SIGNER_KEY_FILE: keyFile,
  };
  for (const missing of Object.keys(required)) {
    test(`start-up is refused without ${missing}`, () => {
      const env = { ...required };
      delete env[missing];
      const r = runGateway(env);
      assert.equal(r.status, 2);
      assert.equal(r.stderr.trim().split("\n").length, 1, "one line");
      assert.match(r.stderr, new RegExp(missing));
    });
  }

  test("start-up is refused with a malformed setting, a bad key file, or an unreachable Redis", async () => {
    for (const [env, names] of [
      [{ EDGEPIPE_BACKEND_URL: "ftp://x" }, /EDGEPIPE_BACKEND_URL/],
      [{ EDGEPIPE_FRESHNESS_WINDOW_MS: "-3" }, /EDGEPIPE_FRESHNESS_WINDOW_MS/],
      [{ EDGEPIPE_WORKERS: "0" }, /EDGEPIPE_WORKERS/],
      [{ EDGEPIPE_WORKERS: "257" }, /EDGEPIPE_WORKERS/],
      [{ EDGEPIPE_SIGNER_KEY_FILE: path.join(work, "missing.pem") }, /EDGEPIPE_SIGNER_KEY_FILE/],
      [{ EDGEPIPE_REDIS_URL: `redis://127.0.0.1:${await freePort()}` }, /EDGEPIPE_REDIS_URL.*PING/],
    ]) {
      const r = runGateway({ ...required, ...env });
      assert.equal(r.status, 2, JSON.stringify(env));
      assert.match(r.stderr, names);
      assert.equal(r.stderr.trim().split("\n").length, 1);
    }
    const notEd25519 = path.join(work, "rsa.pem");
    spawnSync("openssl", ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024", "-out", notEd25519]);
    const r = runGateway({ ...required, EDGEPIPE_SIGNER_KEY_FILE: notEd25519 });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /EDGEPIPE_SIGNER_KEY_FILE: the private key is not an Ed25519 key/);
  });

  test("a Redis with an evicting maxmemory-policy is refused", async () => {
    const evicting = await startRedis(["--maxmemory-policy", "allkeys-lru"]);
    const r = runGateway({ ...required, EDGEPIPE_REDIS_URL: evicting.url });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /maxmemory-policy is allkeys-lru/);
  });

  test("GET /metrics on the admin listener has the contract's families", async () => {
    const child = spawn(GATEWAY, [], {
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, EDGEPIPE_BACKEND_URL: backend.url, EDGEPIPE_BACKEND_PUSH_ADDR: backend.push, EDGEPIPE_REDIS_URL: "memory",
        EDGEPIPE_SIGNER_KEY_FILE: keyFile, EDGEPIPE_PUBLIC_ADDR: "127.0.0.1:0", EDGEPIPE_EDGE_ADDR: "127.0.0.1:0", EDGEPIPE_ADMIN_ADDR: "127.0.0.1:0" },
    });
    children.push(child);
    const lines = createInterface({ input: child.stdout });
    const ports = await new Promise((resolve) => {
      const found = {};
      lines.on("line", (line) => {
        let m = /public [\d.]+:(\d+), edge [\d.]+:(\d+)/.exec(line);
        if (m) Object.assign(found, { public: `http://127.0.0.1:${m[1]}`, edge: `http://127.0.0.1:${m[2]}` });
        m = /admin listener on [\d.]+:(\d+)/.exec(line);
        if (m) found.admin = `http://127.0.0.1:${m[1]}`;
        if (found.admin && found.edge) resolve(found);
      });
    });
    const device = await registerDevice(ports);
    const client = createClient(EdgeGateway, transports.gRPC(ports));
    await client.executeCommand(signedRequest(device));
    await callError(client.executeCommand(signedRequest(device, { tamper: { after: (r) => (r.signature[3] ^= 1) } })));
    const res = await fetch(`${ports.admin}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type"), /text\/plain; version=0.0.4/);
    const text = await res.text();
    for (const family of ["edgepipe_requests_total", "edgepipe_request_duration_seconds", "edgepipe_rejections_total",
      "edgepipe_subscriptions_active", "edgepipe_push_events_total", "edgepipe_backend_requests_total", "edgepipe_replay_reservations_total"])
      assert.match(text, new RegExp(`# TYPE ${family} `), family);
    assert.match(text, /edgepipe_requests_total\{procedure="edgepipe.gateway.v1.EdgeGateway\/ExecuteCommand",protocol="grpc",code="ok"\} 1\n/);
    assert.match(text, /edgepipe_requests_total\{procedure="[^"]+",protocol="grpc",code="unauthenticated"\} 1\n/);
    assert.match(text, /edgepipe_rejections_total\{stage="signature",reason="signature_invalid"\} 1\n/);
    assert.match(text, /edgepipe_replay_reservations_total\{result="reserved"\} 1\n/);
    assert.match(text, /edgepipe_backend_requests_total\{endpoint="sessions",code="200"\} 2\n/);
    assert.match(text, /_bucket\{procedure="[^"]+",le="0.0005"\} /);
    assert.match(text, /edgepipe_request_duration_seconds_bucket\{procedure="[^"]+ExecuteCommand",le="\+Inf"\} 2/);
    assert.match(text, /edgepipe_request_duration_seconds_count\{procedure="[^"]+ExecuteCommand"\} 2/);
    child.kill("SIGTERM");
  });

  test("SIGTERM drains and exits 0", async () => {
    const g = await startGateway(backend.url);
    const exited = new Promise((resolve) => g.child.on("exit", (code) => resolve(code)));
    g.child.kill("SIGTERM");
    assert.equal(await exited, 0);
  });
});

describe("subscriptions", () => {
  async function subscribe(g, device, transport = "gRPC") {
    const client = createClient(EdgeGateway, transports[transport](g));
    const req = signedRequest(device, { type: "gateway.subscribe_events", payload: Buffer.alloc(0) });
    const abort = new AbortController();
    const iterator = client.subscribeEvents(req, { signal: abort.signal })[Symbol.asyncIterator]();
    return { req, abort, next: () => iterator.next() };
  }
  const verifyEvent = async (g, device, sub, e) => {
    const { key } = await gatewayKey(g);
    assert.equal(e.subscriptionId, sub.req.requestId);
    assert.deepEqual(Buffer.from(e.payloadSha256), sha256(e.payload));
    assert.ok(crypto.verify(null, eventInput(device.id, e), key, Buffer.from(e.signature)), "event signature verifies");
  };

  for (const transport of ["gRPC", "Connect JSON h2c", "gRPC-Web HTTP/1.1"]) {
    test(`${transport}: subscribed first, then pushed events, all signed`, async () => {
      const device = await registerDevice(gateway, `sub-${transport.replaceAll(" ", "_")}`);
      const sub = await subscribe(gateway, device, transport);
      const first = (await sub.next()).value;
      assert.equal(first.eventType, "gateway.subscribed");
      assert.equal(first.payload.length, 0);
      await verifyEvent(gateway, device, sub, first);

      await fetch(`${backend.url}/api/v1/demo/push`, { method: "POST", body: JSON.stringify({ user_id: device.user, event_type: "chat.message", payload: "hello" }) });
      const pushed = (await sub.next()).value;
      assert.equal(pushed.eventType, "chat.message");
      assert.equal(Buffer.from(pushed.payload).toString(), "hello");
      await verifyEvent(gateway, device, sub, pushed);

      // A command whose handler pushes: lobby.join.
      await createClient(EdgeGateway, transports.gRPC(gateway)).executeCommand(signedRequest(device, { type: "lobby.join" }));
      const joined = (await sub.next()).value;
      assert.equal(joined.eventType, "lobby.joined");
      sub.abort.abort();
    });
  }

  test("events for one device session do not reach the user's other sessions", async () => {
    const a = await registerDevice(gateway, "sharing");
    const b = await registerDevice(gateway, "sharing");
    const subA = await subscribe(gateway, a);
    const subB = await subscribe(gateway, b);
    await subA.next();
    await subB.next();
    await fetch(`${backend.url}/api/v1/demo/push`, { method: "POST", body: JSON.stringify({ user_id: "sharing", device_session_id: b.id, event_type: "only.b", payload: "" }) });
    await fetch(`${backend.url}/api/v1/demo/push`, { method: "POST", body: JSON.stringify({ user_id: "sharing", event_type: "both", payload: "" }) });
    assert.equal((await subA.next()).value.eventType, "both");
    assert.equal((await subB.next()).value.eventType, "only.b");
    assert.equal((await subB.next()).value.eventType, "both");
    subA.abort.abort();
    subB.abort.abort();
  });

  test("SubscribeEvents requires message_type gateway.subscribe_events", async () => {
    const device = await registerDevice(gateway);
    const client = createClient(EdgeGateway, transports.gRPC(gateway));
    const err = await (async () => {
      try {
        for await (const _ of client.subscribeEvents(signedRequest(device))) assert.fail("no event expected");
      } catch (e) {
        return ConnectError.from(e);
      }
    })();
    assert.equal(err.code, Code.InvalidArgument);
    assert.match(err.rawMessage, /^malformed_envelope/);
  });

  test("revocation ends live streams within one second", async () => {
    const device = await registerDevice(gateway, "revoked-user");
    const sub = await subscribe(gateway, device);
    await sub.next();
    const started = Date.now();
    await fetch(`${backend.url}/api/v1/demo/revoke`, { method: "POST", body: JSON.stringify({ device_session_id: device.id }) });
    const err = await sub.next().then(() => assert.fail("the stream should end"), (e) => ConnectError.from(e));
    assert.ok(Date.now() - started < 1000, `ended after ${Date.now() - started} ms`);
    assert.equal(err.code, Code.Unauthenticated);
    assert.match(err.rawMessage, /^session_revoked/);
  });

  test("a dropped push stream reconnects and delivery resumes", async () => {
    const device = await registerDevice(gateway, "resume-user");
    const sub = await subscribe(gateway, device);
    await sub.next();
    await fetch(`${backend.url}/api/v1/demo/drop-push`, { method: "POST" });
    await new Promise((r) => setTimeout(r, 50));
    // Push until one arrives: events sent while the stream is down are not queued by the demo backend.
    let got;
    const pending = sub.next();  // one read, kept across tries: an abandoned next() would swallow the event
    for (let i = 0; i < 100 && !got; i++) {
      await fetch(`${backend.url}/api/v1/demo/push`, { method: "POST", body: JSON.stringify({ user_id: "resume-user", event_type: `after.drop`, payload: "" }) });
      got = await Promise.race([pending.then((r) => r.value), new Promise((r) => setTimeout(() => r(undefined), 100))]);
    }
    assert.equal(got?.eventType, "after.drop");
    sub.abort.abort();
  });

  test("a subscriber that stops reading is ended with slow_consumer; memory stays bounded", { timeout: 60000 }, async () => {
    const device = await registerDevice(gateway, "slow-reader");
    const session = http2.connect(gateway.edge);
    const req = signedRequest(device, { type: "gateway.subscribe_events", payload: Buffer.alloc(0) });
    const body = Buffer.from(toBinary(SignedRequest, req));
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), body]);
    frame.writeUInt32BE(body.length, 1);
    const stream = session.request({ ":method": "POST", ":path": "/edgepipe.gateway.v1.EdgeGateway/SubscribeEvents", "content-type": "application/grpc", te: "trailers" });
    let paused = false;
    let trailers;
    stream.on("trailers", (t) => (trailers = t));
    stream.on("data", () => {
      if (!paused) stream.pause();  // take the first event, then stop reading
      paused = true;
    });
    stream.end(frame);
    await new Promise((r) => setTimeout(r, 300));
    // 64 KiB events: the transport's buffers and the HTTP/2 windows fill, then the hub's queue.
    const payload = "p".repeat(64 * 1024);
    for (let i = 0; i < 400; i++)
      await fetch(`${backend.url}/api/v1/demo/push`, { method: "POST", body: JSON.stringify({ user_id: "slow-reader", event_type: "big", payload }) });
    stream.resume();
    const ended = await new Promise((resolve) => {
      stream.on("end", () => resolve(true));
      stream.on("close", () => resolve(true));
      setTimeout(() => resolve(false), 20000).unref();
    });
    assert.ok(ended, "the stream was ended by the gateway");
    assert.equal(trailers?.["grpc-status"], "8");
    assert.match(decodeURIComponent(trailers?.["grpc-message"] ?? ""), /^slow_consumer/);
    session.close();
  });

  test("SIGTERM with a live stream and a slow call: the call completes, the stream ends with draining, exit 0", async () => {
    const g = await startGateway(backend.url, "memory");
    const device = await registerDevice(g, "drain-user");
    const sub = await subscribe(g, device);
    await sub.next();
    const slow = createClient(EdgeGateway, transports.gRPC(g)).executeCommand(signedRequest(device, { type: "user.slow", payload: Buffer.from("slow") }));
    await new Promise((r) => setTimeout(r, 150));  // the call is in flight at the backend
    const exited = new Promise((resolve) => g.child.on("exit", (code) => resolve(code)));
    g.child.kill("SIGTERM");
    const err = await sub.next().then(() => assert.fail("the stream should end"), (e) => ConnectError.from(e));
    assert.equal(err.code, Code.Unavailable);
    assert.match(err.rawMessage, /^draining/);
    const res = await slow;
    assert.equal(Buffer.from(res.payload).toString(), "slow");
    assert.equal(await exited, 0);
  });
});

// --- telemetry: an in-test OTLP/HTTP receiver ------------------------------------------

const otlp = createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(requireEnv("EDGEPIPE_OTLP_DESCRIPTORS"))));
const ExportTraceServiceRequest = otlp.getMessage("opentelemetry.proto.trace.v1.ExportTraceServiceRequest");
const hex = (b) => Buffer.from(b).toString("hex");
const attr = (span, key) => span.attributes.find((a) => a.key === key)?.value?.value?.value;

// Decodes every POST /v1/traces with the same message definitions the gateway encodes with.
// mode: "ok" answers 200; "fail" answers 500; "hang" never answers.
async function startReceiver() {
  const r = { spans: [], resources: [], posts: 0, mode: "ok", hung: [] };
  r.server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      r.posts++;
      if (r.mode === "hang") return r.hung.push(res);
      if (r.mode === "fail") return res.writeHead(500).end();
      assert.equal(req.url, "/v1/traces");
      assert.equal(req.headers["content-type"], "application/x-protobuf");
      const body = fromBinary(ExportTraceServiceRequest, Buffer.concat(chunks));
      for (const rs of body.resourceSpans) {
        r.resources.push(rs.resource);
        for (const ss of rs.scopeSpans) r.spans.push(...ss.spans);
      }
      res.writeHead(200, { "content-type": "application/x-protobuf" }).end();
    });
  });
  await new Promise((resolve) => r.server.listen(0, "127.0.0.1", resolve));
  r.url = `http://127.0.0.1:${r.server.address().port}`;
  r.trace = async (traceId, atLeast, ms = 8000) => {
    const until = Date.now() + ms;
    for (;;) {
      const spans = r.spans.filter((s) => hex(s.traceId) === traceId);
      if (spans.length >= atLeast || Date.now() > until) return spans;
      await new Promise((res) => setTimeout(res, 100));
    }
  };
  return r;
}

async function startTracedGateway(receiverUrl, env = {}) {
  const admin = `127.0.0.1:${await freePort()}`;
  const lines = [];
  const g = await startGateway(backend.url, redis.url,
    { EDGEPIPE_OTLP_ENDPOINT: receiverUrl, EDGEPIPE_ADMIN_ADDR: admin, EDGEPIPE_LOG_FORMAT: "json", ...env });
  createInterface({ input: g.child.stdout }).on("line", (line) => lines.push(line));
  return { ...g, admin: `http://${admin}`, lines };
}

async function metric(g, name) {
  const text = await (await fetch(`${g.admin}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  return m ? Number(m[1]) : 0;
}

describe("telemetry", () => {
  const stages = ["envelope", "session", "payload_hash", "signature", "freshness", "replay", "rate_limit", "response_signer", "routing"];
  let receiver, g;
  before(async () => {
    receiver = await startReceiver();
    g = await startTracedGateway(receiver.url);
  });
  after(() => {
    g?.child.kill("SIGTERM");
    for (const res of receiver?.hung ?? []) res.destroy();
    receiver?.server.close();
  });

  test("one trace per call: the server span continues the caller's, one child per stage in order, backend calls carry our span", async () => {
    const device = await registerDevice(g);
    const traceId = crypto.randomBytes(16).toString("hex");
    const callerSpan = crypto.randomBytes(8).toString("hex");
    const res = await createClient(EdgeGateway, transports.gRPC(g)).executeCommand(signedRequest(device),
      { headers: { traceparent: `00-${traceId}-${callerSpan}-01`, tracestate: "vendor=abc" } });
    const spans = await receiver.trace(traceId, 1 + stages.length + 3);
    const server = spans.filter((s) => s.name === "edgepipe.gateway.v1.EdgeGateway/ExecuteCommand");
    assert.equal(server.length, 1, "one server span");
    assert.equal(hex(server[0].parentSpanId), callerSpan, "continues the caller's trace");
    assert.equal(server[0].kind, 2 /* SERVER */);
    const children = spans.filter((s) => s.name.startsWith("stage ")).sort((a, b) => (a.startTimeUnixNano < b.startTimeUnixNano ? -1 : 1));
    assert.deepEqual(children.map((s) => attr(s, "edgepipe.stage")), stages);
    for (const s of children) {
      assert.equal(hex(s.parentSpanId), hex(server[0].spanId));
      assert.equal(attr(s, "edgepipe.outcome"), "ok");
    }
    // The backend's user.echo reports the traceparent it got: its parent is one of our spans.
    const got = /^traced\.00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(res.resultCode);
    assert.ok(got, `the backend saw a traceparent (${res.resultCode})`);
    assert.equal(got[1], traceId);
    const command = spans.find((s) => hex(s.spanId) === got[2]);
    assert.ok(command, "the backend's parent span was exported");
    assert.equal(command.kind, 3 /* CLIENT */);
    assert.equal(hex(command.parentSpanId), hex(server[0].spanId));
    assert.ok(spans.some((s) => s.name.startsWith("GET /api/v1/internal/sessions")), "the session lookup has a span");
    assert.ok(spans.some((s) => s.name === "replay store: reserve"), "the replay reservation has a span");
    const service = receiver.resources.flatMap((r) => r.attributes).find((a) => a.key === "service.name");
    assert.equal(service.value.value.value, "edgepipe-gateway");
  });

  test("a rejected call's trace ends at the rejecting stage, with the reason", async () => {
    const device = await registerDevice(g);
    const traceId = crypto.randomBytes(16).toString("hex");
    const req = signedRequest(device, { tamper: { after: (r) => (r.signature[3] ^= 1) } });
    await callError(createClient(EdgeGateway, transports.gRPC(g)).executeCommand(req,
      { headers: { traceparent: `00-${traceId}-${crypto.randomBytes(8).toString("hex")}-01` } }));
    const spans = await receiver.trace(traceId, 1 + 4);
    await new Promise((r) => setTimeout(r, 300));
    const all = receiver.spans.filter((s) => hex(s.traceId) === traceId);
    const ran = all.filter((s) => s.name.startsWith("stage ")).sort((a, b) => (a.startTimeUnixNano < b.startTimeUnixNano ? -1 : 1));
    assert.deepEqual(ran.map((s) => attr(s, "edgepipe.stage")), ["envelope", "session", "payload_hash", "signature"]);
    const last = ran.at(-1);
    assert.equal(last.status.code, 2 /* ERROR */);
    assert.equal(last.status.message, "signature_invalid");
    assert.equal(attr(last, "edgepipe.outcome"), "signature_invalid");
    const server = all.find((s) => s.kind === 2);
    assert.equal(attr(server, "edgepipe.reason"), "signature_invalid");
    assert.ok(spans.length >= 5);
    // The log line about it leads to the trace and the request.
    const line = g.lines.map((l) => { try { return JSON.parse(l); } catch { return null; } })
      .find((j) => j?.message === "call rejected" && j.trace_id === traceId);
    assert.ok(line, "a JSON log line with the trace id");
    assert.equal(line.request_id, req.requestId);
    assert.equal(line.reason, "signature_invalid");
    assert.ok(!JSON.stringify(line).includes(Buffer.from(req.signature).toString("base64")), "no signature in logs");
  });

  test("stage latency histograms and the dropped-spans counter are exported", async () => {
    const text = await (await fetch(`${g.admin}/metrics`)).text();
    for (const stage of stages) assert.match(text, new RegExp(`edgepipe_stage_duration_seconds_count\\{stage="${stage}"\\} [1-9]`), stage);
    assert.match(text, /# TYPE edgepipe_trace_spans_dropped_total counter/);
  });

  for (const mode of ["fail", "hang", "stopped"]) {
    test(`a collector that ${mode === "fail" ? "answers 500" : mode === "hang" ? "never answers" : "is down"}: calls succeed promptly, spans are dropped and counted`, async () => {
      const r = await startReceiver();
      r.mode = mode;
      if (mode === "stopped") await new Promise((res) => r.server.close(res));
      const traced = await startTracedGateway(r.url);
      try {
        const device = await registerDevice(traced);
        const client = createClient(EdgeGateway, transports.gRPC(traced));
        const before = await metric(traced, "edgepipe_trace_spans_dropped_total");
        // Calls while exports fail (or hang until their 2 s timeout): each still answers at once.
        const until = Date.now() + 3000;
        let calls = 0;
        while (Date.now() < until) {
          const started = Date.now();
          const res = await client.executeCommand(signedRequest(device));
          assert.match(res.resultCode, /^(ok|traced\.)/);  // traced.: the backend got our span's traceparent
          assert.ok(Date.now() - started < 1000, "a call never waits for the collector");
          calls++;
          await new Promise((res2) => setTimeout(res2, 50));
        }
        assert.ok(calls > 20);
        // A batch is dropped after its last attempt (three, 2 s each at most when hung).
        let dropped = before;
        for (const until2 = Date.now() + 12000; dropped <= before && Date.now() < until2;) {
          await new Promise((res2) => setTimeout(res2, 250));
          dropped = await metric(traced, "edgepipe_trace_spans_dropped_total");
        }
        assert.ok(dropped > before, `dropped spans counted (${before} -> ${dropped})`);
      } finally {
        traced.child.kill("SIGTERM");
        for (const res of r.hung) res.destroy();
        r.server.close();
      }
    });
  }
});
