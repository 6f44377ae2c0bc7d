// The gateway's ExecuteCommand chain (envelope, session, payload hash, signature, freshness,
// replay, rate limit, routing) on @connectrpc/connect-node, as a
// Node team would write it: the same backend, the same Redis, Node's crypto. It serves
// Connect, gRPC and gRPC-Web over h2c on one port, like the gateway, so edgepipe-load
// drives both with the same requests.
//
//   node server.mjs   (environment: PEER_ADDR host:port, EDGEPIPE_BACKEND_URL,
//                      EDGEPIPE_REDIS_URL, EDGEPIPE_SIGNER_KEY_FILE, EDGEPIPE_DESCRIPTORS)
import http2 from "node:http2";
import crypto from "node:crypto";
import http from "node:http";
import { readFileSync } from "node:fs";
import { create, createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { createClient } from "redis";

const env = (name, fallback) => process.env[name] ?? fallback;
const [host, port] = env("PEER_ADDR", "127.0.0.1:8091").split(":");
const backend = new URL(env("EDGEPIPE_BACKEND_URL", "http://127.0.0.1:9090"));
const freshnessMs = 60000;
const signer = crypto.createPrivateKey(readFileSync(env("EDGEPIPE_SIGNER_KEY_FILE")));
const keyId = env("EDGEPIPE_SIGNER_KEY_ID", "k1");

const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(env("EDGEPIPE_DESCRIPTORS"))));
const service = registry.getService("edgepipe.gateway.v1.EdgeGateway");
const SignedResponse = registry.getMessage("edgepipe.gateway.v1.SignedResponse");

const redis = createClient({ url: env("EDGEPIPE_REDIS_URL", "redis://127.0.0.1:6379") });
await redis.connect();
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

const fail = (code, reason) => new ConnectError(reason, code);
const lp = (s) => {
  const b = Buffer.from(s);
  const n = Buffer.alloc(4);
  n.writeUInt32BE(b.length);
  return [n, b];
};
const i64 = (t) => {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(BigInt(t));
  return b;
};
const spki = Buffer.from("302a300506032b6570032100", "hex");  // Ed25519 SubjectPublicKeyInfo prefix

function backendCall(method, path, headers = {}, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { agent, host: backend.hostname, port: backend.port, method, path, headers, timeout: 5000 },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end(body);
  });
}

// Token buckets per session (20/s, burst 40) and user (50/s, burst 100), as the gateway;
// the rates come from the same variables.
const buckets = new Map();
function take(key, rate, burst, now) {
  let b = buckets.get(key);
  if (!b) buckets.set(key, (b = { tokens: burst, at: now }));
  b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * rate);
  b.at = now;
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}
const sessionRate = Number(env("EDGEPIPE_SESSION_RATE", 20)), sessionBurst = Number(env("EDGEPIPE_SESSION_BURST", 40));
const userRate = Number(env("EDGEPIPE_USER_RATE", 50)), userBurst = Number(env("EDGEPIPE_USER_BURST", 100));

const idPattern = /^[A-Za-z0-9._:-]{1,128}$/;
const typePattern = /^[a-z0-9_]+(\.[a-z0-9_]+)*$/;
const requestIdPattern = /^[A-Za-z0-9_-]{16,64}$/;

async function executeCommand(req) {
  // 1. envelope
  if (req.protocolVersion !== 1) throw fail(Code.InvalidArgument, "unsupported_protocol_version");
  if (!idPattern.test(req.deviceSessionId) || !typePattern.test(req.messageType) || req.messageType.length > 128 ||
      !requestIdPattern.test(req.requestId) || req.payloadSha256.length !== 32 || req.signature.length !== 64 ||
      req.payload.length > 1048576)
    throw fail(Code.InvalidArgument, "malformed_envelope");
  // 2. session
  let session;
  try {
    const r = await backendCall("GET", `/api/v1/internal/sessions/${encodeURIComponent(req.deviceSessionId)}`);
    if (r.status === 404) throw fail(Code.Unauthenticated, "session_not_found");
    if (r.status !== 200) throw fail(Code.Unavailable, "backend_unavailable");
    session = JSON.parse(r.body);
  } catch (e) {
    if (e instanceof ConnectError) throw e;
    throw fail(Code.Unavailable, "backend_unavailable");
  }
  if (session.status !== "active") throw fail(Code.Unauthenticated, "session_revoked");
  // 3. payload hash
  const digest = crypto.createHash("sha256").update(req.payload).digest();
  if (!digest.equals(Buffer.from(req.payloadSha256))) throw fail(Code.InvalidArgument, "payload_hash_mismatch");
  // 4. signature
  const input = Buffer.concat([Buffer.from("edgepipe.v1.request\0"), ...lp(req.deviceSessionId), ...lp(req.messageType),
                               ...lp(req.requestId), i64(req.timestampMs), Buffer.from(req.payloadSha256)]);
  const key = crypto.createPublicKey({ key: Buffer.concat([spki, Buffer.from(session.public_key, "base64")]),
                                      format: "der", type: "spki" });
  if (!crypto.verify(null, input, key, Buffer.from(req.signature))) throw fail(Code.Unauthenticated, "signature_invalid");
  // 5. freshness
  const now = Date.now();
  if (Math.abs(now - Number(req.timestampMs)) > freshnessMs) throw fail(Code.Unauthenticated, "stale_request");
  // 6. replay
  let reserved;
  try {
    reserved = await redis.set(`edgepipe:replay:${req.deviceSessionId}:${req.requestId}`, "1",
                               { NX: true, PX: 2 * freshnessMs });
  } catch {
    throw fail(Code.Unavailable, "replay_store_unavailable");
  }
  if (reserved !== "OK") throw fail(Code.AlreadyExists, "replayed_request");
  // 7. rate limit
  if (!take(`s:${req.deviceSessionId}`, sessionRate, sessionBurst, now) || !take(`u:${session.user_id}`, userRate, userBurst, now))
    throw fail(Code.ResourceExhausted, "rate_limited");
  // 8. routing to the backend
  let answer;
  try {
    answer = await backendCall("POST", `/api/v1/internal/commands/${encodeURIComponent(req.messageType)}`, {
      "content-type": "application/octet-stream",
      "x-user-id": session.user_id,
      "x-device-session-id": req.deviceSessionId,
      "x-request-id": req.requestId,
    }, req.payload);
  } catch {
    throw fail(Code.Unavailable, "backend_unavailable");
  }
  if (answer.status < 200 || answer.status > 299) throw fail(Code.Unavailable, "backend_unavailable");
  // the response, signed
  const resultCode = answer.headers["x-result-code"] ?? "ok";
  const payloadSha256 = crypto.createHash("sha256").update(answer.body).digest();
  const timestampMs = BigInt(Date.now());
  const signed = Buffer.concat([Buffer.from("edgepipe.v1.response\0"), ...lp(req.deviceSessionId), ...lp(req.requestId),
                                ...lp(resultCode), i64(timestampMs), payloadSha256]);
  return create(SignedResponse, {
    requestId: req.requestId, resultCode, payload: answer.body, payloadSha256, timestampMs, keyId,
    signature: crypto.sign(null, signed, signer),
  });
}

const handler = connectNodeAdapter({
  routes: (router) => router.service(service, {
    executeCommand,
    async *subscribeEvents() {
      throw fail(Code.Unimplemented, "not_in_this_peer");
    },
  }),
});
http2.createServer(handler).listen(Number(port), host, () => console.log(`listening on ${host}:${port}`));
