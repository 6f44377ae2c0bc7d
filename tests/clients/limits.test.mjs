// The server's memory and liveness limits, against real peers: a client that never
// opens its flow-control window, one that never answers PINGs, one that leaves a quiet
// HTTP/1.1 stream, a process out of descriptors, and handler values that are no headers.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { requireEnv, startServer, stopServer, testServiceRegistry } from "./support.mjs";

const SERVER = requireEnv("EDGEPIPE_TEST_SERVER");
const registry = testServiceRegistry();
const service = registry.getService("edgepipe.test.v1.TestService");
const EchoRequest = registry.getMessage("edgepipe.test.v1.EchoRequest");
const StreamRequest = registry.getMessage("edgepipe.test.v1.StreamRequest");
const MiB = 1024 * 1024;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Servers a failed test left running are killed at the end, so the file still ends.
const running = [];
async function start(args = [], binary = SERVER) {
  const server = await startServer(binary, args);
  running.push(server);
  return server;
}
after(() => {
  for (const s of running) if (s.process.exitCode === null) s.process.kill("SIGKILL");
});

const grpcFrame = (bytes) => {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(bytes.length, 1);
  return Buffer.concat([head, Buffer.from(bytes)]);
};
const sanitized = process.env.EDGEPIPE_SANITIZED === "1";
const rssBytes = (pid) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))[1]) * 1024;
const openDescriptors = (pid) => readdirSync(`/proc/${pid}/fd`).length;
const cpuSeconds = (pid) => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks of 10 ms
};
async function until(check, ms, step = 50) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (check()) return true;
    await sleep(step);
  }
  return check();
}

// One gRPC Echo of `blob` on `session`; resolves at the response headers with
// { headers, stream } (a refusal is Trailers-Only: grpc-status in the headers).
function echoHeaders(session, blob) {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ":method": "POST", ":path": "/edgepipe.test.v1.TestService/Echo", "content-type": "application/grpc", te: "trailers" });
    stream.on("response", (headers) => resolve({ headers, stream }));
    stream.on("error", reject);
    stream.end(grpcFrame(toBinary(EchoRequest, create(EchoRequest, { blob }))));
  });
}
const readAll = (stream) =>
  new Promise((resolve, reject) => {
    const chunks = [];
    let trailers = {};
    stream.on("trailers", (t) => (trailers = t));
    stream.on("data", (d) => chunks.push(d));
    stream.on("end", () => resolve({ body: Buffer.concat(chunks), trailers }));
    stream.on("error", reject);
  });

describe("a client that never reads", () => {
  const blob = Buffer.alloc(3 * MiB, 7);
  const answerBytes = blob.length + 10; // gRPC frame header, field tag, length
  const backlog = 16 * MiB;
  // Calls are admitted while no more than 16 MiB wait, each adding one answer.
  const admittedBeforeRefusal = Math.floor(backlog / answerBytes) + 1;

  test("calls past 16 MiB of waiting answers are refused with connection_backlog; admitted answers arrive whole", { timeout: 60000 }, async () => {
    const server = await start(["--flow-stall-ms", "20000"]);
    const session = http2.connect(`http://127.0.0.1:${server.port}`, { settings: { initialWindowSize: 0 } });
    try {
      const admitted = [];
      const refused = [];
      for (let i = 0; i < admittedBeforeRefusal + 3; i++) {
        const r = await echoHeaders(session, blob);
        if (r.headers["grpc-status"] === undefined) admitted.push(r.stream);
        else refused.push(r.headers);
      }
      assert.equal(admitted.length, admittedBeforeRefusal, "admitted while at most 16 MiB wait");
      assert.equal(refused.length, 3);
      for (const h of refused) {
        assert.equal(h["grpc-status"], String(Code.ResourceExhausted));
        assert.match(decodeURIComponent(h["grpc-message"]), /^connection_backlog/);
      }
      // The client opens its window: every admitted answer arrives, whole, past 16 MiB in all.
      const answers = admitted.map(readAll);
      session.settings({ initialWindowSize: 1 * MiB });
      for (const a of await Promise.all(answers)) {
        assert.equal(a.trailers["grpc-status"], "0");
        assert.equal(a.body.length, answerBytes);
        assert.ok(a.body.subarray(10).equals(blob));
      }
      // Drained: calls are admitted again.
      const again = await echoHeaders(session, Buffer.from("small"));
      assert.equal(again.headers["grpc-status"], undefined);
      assert.equal((await readAll(again.stream)).trailers["grpc-status"], "0");
    } finally {
      session.destroy();
      assert.equal(await stopServer(server), 0);
    }
  });

  test("a connection that gives no window while answers wait is closed at the stall limit, and its memory is released", { timeout: 60000 }, async () => {
    const stallMs = 2000;
    const server = await start(["--flow-stall-ms", String(stallMs)]);
    const pid = server.process.pid;
    // Warm up (allocator arenas, first-call paths) with a normal client and the same sizes.
    const warm = http2.connect(`http://127.0.0.1:${server.port}`);
    await Promise.all(Array.from({ length: 4 }, async () => readAll((await echoHeaders(warm, blob)).stream)));
    warm.close();
    await sleep(200);
    const baseline = rssBytes(pid);

    const session = http2.connect(`http://127.0.0.1:${server.port}`, { settings: { initialWindowSize: 0 } });
    const closed = new Promise((resolve) => session.on("close", () => resolve(Date.now())));
    session.on("error", () => {});
    let queuedAt;
    for (let i = 0; i < admittedBeforeRefusal; i++) {
      const r = await echoHeaders(session, blob);
      r.stream.on("error", () => {});
      queuedAt ??= Date.now();
    }
    const held = rssBytes(pid);
    assert.ok(held - baseline > 16 * MiB, `the answers are held (${((held - baseline) / MiB).toFixed(1)} MiB above the baseline)`);

    const at = await Promise.race([closed, sleep(stallMs + 5000).then(() => null)]);
    assert.ok(at !== null, "the server closed the connection");
    assert.ok(at - queuedAt >= stallMs - 100, `not before the stall limit (after ${at - queuedAt} ms)`);
    // Most of it, not all: the allocator may keep some freed pages (more so under MALLOC_PERTURB_).
    // Under AddressSanitizer freed memory waits in its quarantine, so RSS cannot show the
    // release there; the ordinary build checks it.
    if (!sanitized)
      assert.ok(
        await until(() => rssBytes(pid) - baseline < (held - baseline) / 3, 3000),
        `memory released (${((rssBytes(pid) - baseline) / MiB).toFixed(1)} of ${((held - baseline) / MiB).toFixed(1)} MiB still held)`,
      );
    assert.equal(await stopServer(server), 0);
  });
});

// A raw HTTP/2 client: the preface, SETTINGS, one Endless stream that stays quiet, and
// frames parsed as they come; it answers PINGs only when told to.
function rawQuietStream(port, { answerPings }) {
  const socket = net.connect(port, "127.0.0.1");
  const frame = (type, flags, streamId, payload = Buffer.alloc(0)) => {
    const head = Buffer.alloc(9);
    head.writeUIntBE(payload.length, 0, 3);
    head[3] = type;
    head[4] = flags;
    head.writeUInt32BE(streamId, 5);
    return Buffer.concat([head, payload]);
  };
  // HPACK literals without indexing, new names, no Huffman.
  const literal = (name, value) => Buffer.concat([Buffer.from([0, name.length]), Buffer.from(name), Buffer.from([value.length]), Buffer.from(value)]);
  const headers = Buffer.concat([
    literal(":method", "POST"), literal(":scheme", "http"), literal(":authority", "raw"),
    literal(":path", "/edgepipe.test.v1.TestService/Endless"), literal("content-type", "application/grpc"), literal("te", "trailers"),
  ]);
  const body = grpcFrame(toBinary(StreamRequest, create(StreamRequest, { text: "quiet", delayMs: 3600000 })));
  const state = { pings: 0, streamEnded: false, closed: false, closedAt: 0 };
  socket.on("connect", () => {
    socket.write(Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), frame(4, 0, 0), frame(1, 4, 1, headers), frame(0, 1, 1, body)]));
  });
  let pending = Buffer.alloc(0);
  socket.on("data", (d) => {
    pending = Buffer.concat([pending, d]);
    while (pending.length >= 9) {
      const length = pending.readUIntBE(0, 3);
      if (pending.length < 9 + length) break;
      const [type, flags] = [pending[3], pending[4]];
      const streamId = pending.readUInt32BE(5) & 0x7fffffff;
      const payload = pending.subarray(9, 9 + length);
      pending = pending.subarray(9 + length);
      if (type === 4 && !(flags & 1)) socket.write(frame(4, 1, 0)); // SETTINGS ACK
      if (type === 6 && !(flags & 1)) {
        state.pings++;
        if (answerPings) socket.write(frame(6, 1, 0, payload));
      }
      if (streamId === 1 && (type === 3 || ((type === 1 || type === 0) && flags & 1))) state.streamEnded = true;
    }
  });
  socket.on("error", () => {});
  socket.on("close", () => {
    state.closed = true;
    state.closedAt = Date.now();
  });
  return { socket, state };
}

describe("quiet streams", () => {
  const intervalMs = 300;
  const ackMs = 300;
  const args = ["--ping-interval-ms", String(intervalMs), "--ping-ack-timeout-ms", String(ackMs)];

  test("a peer that does not answer PINGs is closed within interval + ACK timeout", { timeout: 30000 }, async () => {
    const server = await start(args);
    const started = Date.now();
    const { state } = rawQuietStream(server.port, { answerPings: false });
    assert.ok(await until(() => state.closed, 5000), "the server closed the connection");
    assert.ok(state.pings >= 1, "after sending a PING");
    // The first PING within an interval of the stream, the ACK timeout, and the watch's steps.
    assert.ok(state.closedAt - started < intervalMs + ackMs + 1500, `closed after ${state.closedAt - started} ms`);
    assert.equal(await stopServer(server), 0);
  });

  test("a peer that answers PINGs keeps a quiet stream open past many intervals", { timeout: 30000 }, async () => {
    const server = await start(args);
    const { socket, state } = rawQuietStream(server.port, { answerPings: true });
    await sleep(10 * intervalMs);
    assert.ok(state.pings >= 5, `PINGed every interval (${state.pings} PINGs)`);
    assert.ok(!state.closed && !state.streamEnded, "the connection and its quiet stream stay open");
    socket.destroy();
    assert.equal(await stopServer(server), 0);
  });

  test("stock clients' quiet calls and streams are not cut, over HTTP/2 and HTTP/1.1", { timeout: 30000 }, async () => {
    const server = await start(args);
    const baseUrl = `http://127.0.0.1:${server.port}`;
    const quietMs = 10 * intervalMs;
    for (const transport of [createGrpcTransport({ baseUrl }), createConnectTransport({ baseUrl, httpVersion: "2" }), createConnectTransport({ baseUrl, httpVersion: "1.1" })]) {
      const client = createClient(service, transport);
      const [slept, streamed] = await Promise.all([
        client.sleep({ text: "late", delayMs: quietMs }),
        (async () => {
          const seen = [];
          for await (const m of client.serverStream({ text: "s", count: 2, delayMs: quietMs / 2 })) seen.push(m.index);
          return seen;
        })(),
      ]);
      assert.equal(slept.text, "late");
      assert.deepEqual(streamed, [0, 1]);
    }
    assert.equal(await stopServer(server), 0);
  });

  test("a client that leaves a quiet HTTP/1.1 stream frees it at once", { timeout: 30000 }, async () => {
    const server = await start();
    const pid = server.process.pid;
    // One call first: the server is then fully set up (it prints its port a little early).
    const warm = createClient(service, createConnectTransport({ baseUrl: `http://127.0.0.1:${server.port}`, httpVersion: "1.1" }));
    assert.equal((await warm.echo({ text: "warm" })).text, "warm");
    await sleep(100);
    const baseline = openDescriptors(pid);
    const body = grpcFrame(toBinary(StreamRequest, create(StreamRequest, { text: "q", delayMs: 3600000 })));
    const requests = [];
    for (let i = 0; i < 10; i++) {
      const req = http.request({
        host: "127.0.0.1", port: server.port, method: "POST", path: "/edgepipe.test.v1.TestService/Endless", agent: false,
        headers: { "content-type": "application/connect+proto", "connect-protocol-version": "1" },
      });
      req.on("error", () => {});
      req.end(body);
      requests.push(req);
    }
    assert.ok(await until(() => openDescriptors(pid) >= baseline + 10, 5000), "the streams are open");
    for (const req of requests) req.destroy();
    assert.ok(await until(() => openDescriptors(pid) <= baseline, 3000), `connections released (${openDescriptors(pid) - baseline} left)`);
    assert.equal(await stopServer(server), 0);
  });
});

describe("out of descriptors", () => {
  // Under AddressSanitizer, at a limit of 40 descriptors, the established connection is
  // reset; not yet understood (the sanitizer runtime's own descriptors are the suspect), so
  // this runs in the ordinary build only.
  test("the listener pauses instead of spinning, serves its connections, and accepts again once descriptors free up",
    { timeout: 30000, skip: sanitized && "connection reset under AddressSanitizer at 40 descriptors: not yet understood" }, async () => {
    // A low descriptor limit for the server alone.
    const server = await start(["-c", 'ulimit -n 40 && exec "$0"', SERVER], "/bin/sh");
    const pid = server.process.pid;
    const client = createClient(service, createGrpcTransport({ baseUrl: `http://127.0.0.1:${server.port}` }));
    assert.equal((await client.echo({ text: "before" })).text, "before");
    const sockets = [];
    for (let i = 0; i < 60; i++) {
      const s = net.connect(server.port, "127.0.0.1");
      s.on("error", () => {});
      sockets.push(s);
    }
    assert.ok(await until(() => openDescriptors(pid) >= 39, 5000), "the server ran out of descriptors");
    const cpu = cpuSeconds(pid);
    await sleep(1500);
    const used = cpuSeconds(pid) - cpu;
    assert.ok(used < 0.5, `the server did not spin (${used.toFixed(2)} s of CPU in 1.5 s)`);
    assert.equal((await client.echo({ text: "during" })).text, "during", "an open connection is still served");
    for (const s of sockets) s.destroy();
    const fresh = createClient(service, createGrpcTransport({ baseUrl: `http://127.0.0.1:${server.port}` }));
    assert.equal((await fresh.echo({ text: "after" })).text, "after", "a new connection is accepted");
    assert.equal(await stopServer(server), 0);
  });
});

describe("response headers from handlers", () => {
  const injected = "header:ok\r\nx-injected: yes";

  test("HTTP/2: a value that is no header value is dropped; the call succeeds", { timeout: 15000 }, async () => {
    const server = await start();
    const session = http2.connect(`http://127.0.0.1:${server.port}`);
    try {
      const call = (text) =>
        new Promise((resolve, reject) => {
          const stream = session.request({ ":method": "POST", ":path": "/edgepipe.test.v1.TestService/Echo", "content-type": "application/grpc", te: "trailers" });
          let headers;
          stream.on("response", (h) => (headers = h));
          readAll(stream).then(({ trailers }) => resolve({ headers, trailers }), reject);
          stream.end(grpcFrame(toBinary(EchoRequest, create(EchoRequest, { text }))));
        });
      const dropped = await call(injected);
      assert.equal(dropped.trailers["grpc-status"], "0");
      assert.equal(dropped.headers["x-echo"], undefined);
      assert.equal(dropped.headers["x-injected"], undefined);
      assert.equal(dropped.trailers["x-echo-trailer-text"], undefined);
      assert.equal(dropped.trailers["x-echo-trailer"], "yes", "the other trailers are kept");
      const kept = await call("header:fine");
      assert.equal(kept.headers["x-echo"], "fine");
      assert.equal(kept.trailers["x-echo-trailer-text"], "fine");
    } finally {
      session.close();
      assert.equal(await stopServer(server), 0);
    }
  });

  test("HTTP/1.1: a value that is no header value is dropped; nothing is injected", { timeout: 15000 }, async () => {
    const server = await start();
    const call = (text) =>
      new Promise((resolve, reject) => {
        const req = http.request(
          { host: "127.0.0.1", port: server.port, method: "POST", path: "/edgepipe.test.v1.TestService/Echo", agent: false, headers: { "content-type": "application/json" } },
          (res) => {
            const chunks = [];
            res.on("data", (d) => chunks.push(d));
            res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: JSON.parse(Buffer.concat(chunks)) }));
          },
        );
        req.on("error", reject);
        req.end(JSON.stringify({ text }));
      });
    const dropped = await call(injected);
    assert.equal(dropped.status, 200);
    assert.equal(dropped.body.text, injected);
    assert.equal(dropped.headers["x-injected"], undefined);
    assert.equal(dropped.headers["x-echo"], undefined);
    assert.equal(dropped.headers["trailer-x-echo-trailer-text"], undefined);
    assert.equal(dropped.headers["trailer-x-echo-trailer"], "yes");
    const kept = await call("header:fine");
    assert.equal(kept.headers["x-echo"], "fine");
    assert.equal(kept.headers["trailer-x-echo-trailer-text"], "fine");
    assert.equal(await stopServer(server), 0);
  });
});
