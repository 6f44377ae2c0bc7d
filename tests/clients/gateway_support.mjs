// What every edgepipe-gateway end-to-end test file shares: starting redis-server, the demo
// backend and gateways on free ports, devices and signed requests, stock-client transports.
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
import { requireEnv } from "./support.mjs";

export const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(requireEnv("EDGEPIPE_GATEWAY_DESCRIPTORS"))));
export const EdgeGateway = registry.getService("edgepipe.gateway.v1.EdgeGateway");
export const SignedRequest = registry.getMessage("edgepipe.gateway.v1.SignedRequest");
export const GATEWAY = requireEnv("EDGEPIPE_GATEWAY");
export const BACKEND = requireEnv("EDGEPIPE_DEMO_BACKEND");
export const work = mkdtempSync(path.join(tmpdir(), "edgepipe-gateway-test-"));
export const keyFile = path.join(work, "gateway.pem");
spawnSync("openssl", ["genpkey", "-algorithm", "ed25519", "-out", keyFile]);
export const children = [];

// Kills every process started here and removes the scratch folder (call from after()).
export function cleanup() {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  rmSync(work, { recursive: true, force: true });
}

// --- processes ---------------------------------------------------------------------

export function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export function waitForLine(child, pattern, ms = 10000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no line matching ${pattern}`)), ms);
    createInterface({ input: child.stdout }).on("line", (line) => {
      const m = pattern.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    });
    child.on("exit", (code) => reject(new Error(`exited with ${code} before ${pattern}`)));
  });
}

export async function startRedis(extra = []) {
  const port = await freePort();
  const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", ...extra], { stdio: ["ignore", "pipe", "ignore"] });
  children.push(child);
  await waitForLine(child, /Ready to accept connections/);
  return { port, url: `redis://127.0.0.1:${port}`, child };
}

export async function startBackend(rest = "127.0.0.1:0", push = "127.0.0.1:0", args = []) {
  const child = spawn(BACKEND, ["--rest-addr", rest, "--push-addr", push, ...args], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  const m = await waitForLine(child, /listening on ([\d.]+):(\d+) push ([\d.]+):(\d+)/);
  return { url: `http://127.0.0.1:${m[2]}`, rest: `127.0.0.1:${m[2]}`, push: `127.0.0.1:${m[4]}`, child };
}

// `launcher`: a command to start the gateway through (e.g. a shell that sets limits first).
export async function startGateway(backendUrl, redisUrl = "memory", env = {}, pushAddr = "127.0.0.1:1", launcher = []) {
  const [command, ...args] = [...launcher, GATEWAY];
  const child = spawn(command, args, {
    stdio: ["ignore", "pipe", "inherit"],
    env: {
      ...process.env,
      EDGEPIPE_BACKEND_URL: backendUrl,
      EDGEPIPE_BACKEND_PUSH_ADDR: pushAddr,
      EDGEPIPE_REDIS_URL: redisUrl,
      EDGEPIPE_SIGNER_KEY_FILE: keyFile,
      EDGEPIPE_PUBLIC_ADDR: "127.0.0.1:0",
      EDGEPIPE_EDGE_ADDR: "127.0.0.1:0",
      ...env,
    },
  });
  children.push(child);
  const log = [];  // every line it prints, start-up lines included
  createInterface({ input: child.stdout }).on("line", (line) => log.push(line));
  const m = await waitForLine(child, /public [\d.]+:(\d+), edge [\d.]+:(\d+)/);
  return { public: `http://127.0.0.1:${m[1]}`, edge: `http://127.0.0.1:${m[2]}`, child, log };
}

export function runGateway(env) {
  return spawnSync(GATEWAY, [], { env: { PATH: process.env.PATH, ...env }, encoding: "utf8", timeout: 15000 });
}

// --- devices, requests and signatures -----------------------------------------------

export const u32 = (n) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
export const i64 = (n) => { const b = Buffer.alloc(8); b.writeBigInt64BE(BigInt(n)); return b; };
export const lp = (s) => { const b = Buffer.from(s); return Buffer.concat([u32(b.length), b]); };
export const sha256 = (b) => crypto.createHash("sha256").update(b).digest();

export function requestInput(r) {
  return Buffer.concat([Buffer.from("edgepipe.v1.request\0"), lp(r.deviceSessionId), lp(r.messageType), lp(r.requestId), i64(r.timestampMs), Buffer.from(r.payloadSha256)]);
}
export function eventInput(deviceSessionId, e) {
  return Buffer.concat([Buffer.from("edgepipe.v1.event\0"), lp(deviceSessionId), lp(e.subscriptionId), lp(e.eventId), lp(e.eventType), i64(e.timestampMs), Buffer.from(e.payloadSha256)]);
}
export function responseInput(deviceSessionId, r) {
  return Buffer.concat([Buffer.from("edgepipe.v1.response\0"), lp(deviceSessionId), lp(r.requestId), lp(r.resultCode), i64(r.timestampMs), Buffer.from(r.payloadSha256)]);
}

export async function registerDevice(gateway, user = "alice") {
  const { publicKey, privateKey } = crypto.generateKeyPairSync("ed25519");
  const raw = publicKey.export({ format: "der", type: "spki" }).subarray(12);
  const res = await fetch(`${gateway.public}/api/v1/public/auth/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ user_id: user, public_key: raw.toString("base64") }),
  });
  assert.equal(res.status, 201);
  return { id: (await res.json()).device_session_id, privateKey, user };
}

let counter = 0;
export function signedRequest(device, { type = "user.echo", payload = Buffer.from('{"hi":1}'), timestampMs = Date.now(), tamper } = {}) {
  const r = {
    protocolVersion: 1,
    deviceSessionId: device.id,
    messageType: type,
    payload,
    payloadSha256: sha256(payload),
    timestampMs: BigInt(timestampMs),
    requestId: `req-${process.pid}-${Date.now()}-${counter++}`.padEnd(20, "x"),
  };
  tamper?.before?.(r);
  r.signature = crypto.sign(null, requestInput(r), device.privateKey);
  tamper?.after?.(r);
  return create(SignedRequest, r);
}

export async function gatewayKey(gateway) {
  const { keys } = await (await fetch(`${gateway.public}/api/v1/public/keys`)).json();
  assert.equal(keys[0].algorithm, "Ed25519");
  const raw = Buffer.from(keys[0].public_key, "base64");
  return { keyId: keys[0].key_id, key: crypto.createPublicKey({ key: Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), raw]), format: "der", type: "spki" }) };
}

export const transports = {
  "Connect HTTP/1.1": (g) => createConnectTransport({ baseUrl: g.edge, httpVersion: "1.1" }),
  "Connect JSON h2c": (g) => createConnectTransport({ baseUrl: g.edge, httpVersion: "2", useBinaryFormat: false }),
  gRPC: (g) => createGrpcTransport({ baseUrl: g.edge }),
  "gRPC-Web HTTP/1.1": (g) => createGrpcWebTransport({ baseUrl: g.edge, httpVersion: "1.1" }),
};

export const callError = (p) => p.then(() => assert.fail("expected an error"), (e) => ConnectError.from(e));

// --- the shared world ---------------------------------------------------------------

const pause = (ms) => new Promise((r) => setTimeout(r, ms));

export async function readyz(g) {
  const res = await fetch(`${g.public}/readyz`);
  return { status: res.status, body: await res.json() };
}

// Polls /readyz until it answers `status` or `ms` pass; returns the last answer.
export async function readyzUntil(g, status, ms) {
  const deadline = Date.now() + ms;
  let last = await readyz(g);
  while (last.status !== status && Date.now() < deadline) {
    await pause(100);
    last = await readyz(g);
  }
  return last;
}
