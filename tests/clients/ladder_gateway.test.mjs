// The example ladder's rung 4 (examples/4_signed_gateway.cpp), a signed gateway built from
// the kit, against the demo backend, called by stock clients: connect-node (Connect and
// gRPC) and grpc-js. Signatures are checked with Node's crypto against the key it was given.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import crypto from "node:crypto";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";
import { Code, createClient } from "@connectrpc/connect";
import { requireEnv } from "./support.mjs";
import {
  EdgeGateway,
  keyFile,
  children,
  cleanup,
  waitForLine,
  startBackend,
  eventInput,
  responseInput,
  registerDevice,
  signedRequest,
  sha256,
  transports,
  callError,
} from "./gateway_support.mjs";

const LADDER = requireEnv("EDGEPIPE_LADDER_GATEWAY");
const gatewayKey = crypto.createPublicKey(readFileSync(keyFile));

let backend, gateway, grpcClient;
before(async () => {
  backend = await startBackend();
  const child = spawn(LADDER, ["127.0.0.1:0", backend.url, backend.push, keyFile], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  const log = [];
  createInterface({ input: child.stdout }).on("line", (line) => log.push(line));
  const m = await waitForLine(child, /signed gateway listening on [\d.]+:(\d+)/);
  gateway = { edge: `http://127.0.0.1:${m[1]}`, public: backend.url, child, log };
  const definition = protoLoader.loadSync(requireEnv("EDGEPIPE_GATEWAY_PROTO"), { keepCase: false, longs: String, defaults: true });
  const Service = grpc.loadPackageDefinition(definition).edgepipe.gateway.v1.EdgeGateway;
  grpcClient = new Service(`127.0.0.1:${m[1]}`, grpc.credentials.createInsecure());
});
after(() => {
  grpcClient?.close();
  cleanup();
});

const verifyResponse = (device, res) => {
  assert.deepEqual(Buffer.from(res.payloadSha256), sha256(Buffer.from(res.payload)));
  assert.equal(res.keyId, "k1");
  assert.ok(crypto.verify(null, responseInput(device.id, res), gatewayKey, Buffer.from(res.signature)), "response signature verifies");
};

describe("ExecuteCommand", () => {
  for (const name of ["Connect JSON h2c", "gRPC", "Connect HTTP/1.1"]) {
    test(`${name}: a signed command is executed once and its answer signed`, async () => {
      const device = await registerDevice(gateway, `ladder-${name.replaceAll(" ", "_")}`);
      const client = createClient(EdgeGateway, transports[name](gateway));
      const req = signedRequest(device, { payload: Buffer.from('{"text":"ladder"}') });
      const res = await client.executeCommand(req);
      assert.equal(res.requestId, req.requestId);
      assert.equal(res.resultCode, "ok");
      assert.match(Buffer.from(res.payload).toString(), /ladder/);
      verifyResponse(device, res);
      const again = await callError(client.executeCommand(req));
      assert.equal(again.code, Code.AlreadyExists);
      assert.match(again.rawMessage, /^replayed_request/);
    });
  }

  test("grpc-js: signed command, then a tampered one is unauthenticated · signature_invalid", async () => {
    const device = await registerDevice(gateway, "ladder-grpc-js");
    const call = (req) => new Promise((resolve, reject) => grpcClient.executeCommand(req, (err, res) => (err ? reject(err) : resolve(res))));
    const plain = (r) => ({ ...r, timestampMs: String(r.timestampMs) });
    const req = signedRequest(device, { type: "user.whoami" });
    const res = await call(plain(req));
    assert.equal(res.resultCode, "ok");
    verifyResponse(device, { ...res, timestampMs: BigInt(res.timestampMs) });
    const bad = signedRequest(device, { tamper: { after: (r) => (r.signature[0] ^= 1) } });
    const err = await call(plain(bad)).then(() => assert.fail("expected an error"), (e) => e);
    assert.equal(err.code, grpc.status.UNAUTHENTICATED);
    assert.match(err.details, /^signature_invalid/);
    // Its log line, once the pipe has carried it here.
    const logged = () => gateway.log.some((l) => /rejected edgepipe\.gateway\.v1\.EdgeGateway\/ExecuteCommand .*signature_invalid/.test(l));
    for (let i = 0; i < 50 && !logged(); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(logged(), `a log line names the rejection: ${gateway.log.join("\n")}`);
  });

  test("an unknown session is unauthenticated · session_not_found", async () => {
    const device = { ...(await registerDevice(gateway, "ladder-ghost")), id: "dev-does-not-exist" };
    const err = await callError(createClient(EdgeGateway, transports.gRPC(gateway)).executeCommand(signedRequest(device)));
    assert.equal(err.code, Code.Unauthenticated);
    assert.match(err.rawMessage, /^session_not_found/);
  });
});

describe("SubscribeEvents", () => {
  test("connect-node: subscribed first, then a pushed event, each signed for this stream", async () => {
    const device = await registerDevice(gateway, "ladder-sub");
    const client = createClient(EdgeGateway, transports.gRPC(gateway));
    const req = signedRequest(device, { type: "gateway.subscribe_events", payload: Buffer.alloc(0) });
    const abort = new AbortController();
    const events = client.subscribeEvents(req, { signal: abort.signal })[Symbol.asyncIterator]();
    const verify = (e) => {
      assert.equal(e.subscriptionId, req.requestId);
      assert.ok(crypto.verify(null, eventInput(device.id, e), gatewayKey, Buffer.from(e.signature)), "event signature verifies");
    };
    const first = (await events.next()).value;
    assert.equal(first.eventType, "gateway.subscribed");
    verify(first);
    // The push stream may still be opening: push until the event arrives.
    const pushed = events.next();
    let arrived = false;
    pushed.then(() => (arrived = true));
    for (let i = 0; i < 50 && !arrived; i++) {
      await fetch(`${backend.url}/api/v1/demo/push`, { method: "POST", body: JSON.stringify({ user_id: device.user, event_type: "ladder.hello", payload: "hi" }) });
      await new Promise((r) => setTimeout(r, 100));
    }
    const e = (await pushed).value;
    assert.equal(e.eventType, "ladder.hello");
    assert.equal(Buffer.from(e.payload).toString(), "hi");
    verify(e);
    abort.abort();
  });

  test("grpc-js: a revoked session's stream ends with unauthenticated · session_revoked", async () => {
    const device = await registerDevice(gateway, "ladder-revoke");
    const req = signedRequest(device, { type: "gateway.subscribe_events", payload: Buffer.alloc(0) });
    const stream = grpcClient.subscribeEvents({ ...req, timestampMs: String(req.timestampMs) });
    const first = await new Promise((resolve) => stream.once("data", resolve));
    assert.equal(first.eventType, "gateway.subscribed");
    const ended = new Promise((resolve) => stream.on("error", resolve));
    await fetch(`${backend.url}/api/v1/demo/revoke`, { method: "POST", body: JSON.stringify({ device_session_id: device.id }) });
    const err = await ended;
    assert.equal(err.code, grpc.status.UNAUTHENTICATED);
    assert.match(err.details, /^session_revoked/);
  });
});

test("GET /metrics counts the calls by procedure and code, and rejections by stage", async () => {
  const text = await (await fetch(`${gateway.edge}/metrics`)).text();
  assert.match(text, /edgepipe_requests_total\{procedure="edgepipe.gateway.v1.EdgeGateway\/ExecuteCommand",protocol="grpc",code="ok"\} [1-9]/);
  assert.match(text, /edgepipe_rejections_total\{stage="signature",reason="signature_invalid"\} 1\n/);
  assert.match(text, /edgepipe_replay_reservations_total\{result="replayed"\} 3\n/);
});

test("SIGTERM drains and exits 0", async () => {
  const exited = new Promise((resolve) => gateway.child.on("exit", (code) => resolve(code)));
  gateway.child.kill("SIGTERM");
  assert.equal(await exited, 0);
});
