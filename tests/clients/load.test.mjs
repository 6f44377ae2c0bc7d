// Load and backpressure: h2load drives unary gRPC at high concurrency; a client that
// stops reading a fast stream must not make the server buffer without bound.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http2 from "node:http2";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { requireEnv, startServer, stopServer, testServiceRegistry } from "./support.mjs";

const run = promisify(execFile);
const registry = testServiceRegistry();
const service = registry.getService("edgepipe.test.v1.TestService");

let server, work;
before(async () => {
  server = await startServer(requireEnv("EDGEPIPE_TEST_SERVER"));
  work = mkdtempSync(path.join(tmpdir(), "edgepipe-load-"));
});
after(async () => {
  rmSync(work, { recursive: true, force: true });
  assert.equal(await stopServer(server), 0);
});

// Under AddressSanitizer freed memory sits in quarantine on purpose: memory bounds mean nothing there.
const sanitized = Boolean(process.env.EDGEPIPE_SANITIZED);
const rssKiB = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${server.process.pid}/status`, "utf8"))[1]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function h2load(requests) {
  // EchoRequest{text: "load"} as one gRPC frame.
  const message = Buffer.from([0x0a, 4, ...Buffer.from("load")]);
  const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, message.length]), message]);
  const body = path.join(work, "request.bin");
  writeFileSync(body, frame);
  const { stdout } = await run("h2load", [
    "-n", String(requests), "-c", "16", "-m", "32",
    "-H", "content-type: application/grpc", "-H", "te: trailers", "-d", body,
    `http://127.0.0.1:${server.port}/edgepipe.test.v1.TestService/Echo`,
  ], { maxBuffer: 1 << 20 });
  return stdout;
}

test("h2load: every unary gRPC call at 16 connections x 32 streams succeeds, and memory settles", { timeout: 120000 }, async () => {
  const client = createClient(service, createGrpcTransport({ baseUrl: `http://127.0.0.1:${server.port}` }));
  await h2load(2000); // warm up allocator pools
  await sleep(300);
  const baseline = rssKiB();
  const before = (await client.stats({})).index;

  const requests = 50000;
  const out = await h2load(requests);
  assert.match(out, new RegExp(`requests: ${requests} total, ${requests} started, ${requests} done, ${requests} succeeded, 0 failed, 0 errored`));
  assert.match(out, new RegExp(`status codes: ${requests} 2xx, 0 3xx, 0 4xx, 0 5xx`));
  // Every request reached the handler and was answered by it.
  assert.equal((await client.stats({})).index - before, requests);

  await sleep(500);
  const after = rssKiB();
  if (!sanitized) assert.ok(after - baseline < 16 * 1024, `RSS went from ${baseline} KiB to ${after} KiB after ${requests} calls`);
});

test("a client that stops reading a fast stream does not grow the server's memory", { timeout: 60000 }, async () => {
  const before = rssKiB();
  const session = http2.connect(`http://127.0.0.1:${server.port}`);
  // StreamRequest{text: 64 KiB, delay_ms: 0}: the server writes as fast as it may.
  const text = Buffer.alloc(64 * 1024, 0x61);
  const message = Buffer.concat([Buffer.from([0x0a, 0x80, 0x80, 0x04]), text]);
  const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), message]);
  frame.writeUInt32BE(message.length, 1);
  const stream = session.request({
    ":method": "POST",
    ":path": "/edgepipe.test.v1.TestService/Endless",
    "content-type": "application/grpc",
    te: "trailers",
  });
  let received = 0;
  stream.on("data", (d) => {
    received += d.length;
    if (received > 1 << 20) stream.pause(); // read a little, then stop reading
  });
  stream.on("error", () => {});
  stream.end(frame);
  await sleep(3000);
  const stalled = rssKiB();
  // Unbounded, 3 s of 64 KiB writes would be gigabytes; bounded, the stream's high-water
  // mark plus the HTTP/2 windows.
  if (!sanitized) assert.ok(stalled - before < 48 * 1024, `RSS grew by ${stalled - before} KiB while the client did not read`);
  assert.ok(received < 32 << 20, "the client was not sent more than flow control allows");
  stream.close(http2.constants.NGHTTP2_CANCEL);
  session.close();
});
