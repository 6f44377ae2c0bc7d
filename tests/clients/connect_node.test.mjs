// @connectrpc/connect-node against the edgepipe transport: Connect, gRPC and gRPC-Web,
// over HTTP/1.1 and HTTP/2, binary and JSON, every stream type the HTTP version allows.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import {
  compressionGzip,
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import { requireEnv, startServer, stopServer, testServiceRegistry } from "./support.mjs";

const registry = testServiceRegistry();
const service = registry.getService("edgepipe.test.v1.TestService");
const errorInfo = registry.getMessage("edgepipe.test.v1.ErrorInfo");

let server;
before(async () => {
  server = await startServer(requireEnv("EDGEPIPE_TEST_SERVER"));
});
after(async () => {
  assert.equal(await stopServer(server), 0, "the server drains and exits cleanly on SIGTERM");
});

const base = () => `http://127.0.0.1:${server.port}`;

// Every transport a stock client offers, and what it can carry.
const transports = [
  { name: "Connect binary HTTP/1.1", make: () => createConnectTransport({ baseUrl: base(), httpVersion: "1.1" }), bidi: false },
  { name: "Connect JSON HTTP/1.1", make: () => createConnectTransport({ baseUrl: base(), httpVersion: "1.1", useBinaryFormat: false }), bidi: false },
  { name: "Connect binary HTTP/2", make: () => createConnectTransport({ baseUrl: base(), httpVersion: "2" }), bidi: true },
  { name: "Connect JSON HTTP/2", make: () => createConnectTransport({ baseUrl: base(), httpVersion: "2", useBinaryFormat: false }), bidi: true },
  { name: "gRPC binary", make: () => createGrpcTransport({ baseUrl: base() }), bidi: true },
  { name: "gRPC JSON", make: () => createGrpcTransport({ baseUrl: base(), useBinaryFormat: false }), bidi: true },
  { name: "gRPC-Web binary HTTP/1.1", make: () => createGrpcWebTransport({ baseUrl: base(), httpVersion: "1.1" }), bidi: false },
  { name: "gRPC-Web JSON HTTP/1.1", make: () => createGrpcWebTransport({ baseUrl: base(), httpVersion: "1.1", useBinaryFormat: false }), bidi: false },
  { name: "gRPC-Web binary HTTP/2", make: () => createGrpcWebTransport({ baseUrl: base(), httpVersion: "2" }), bidi: true },
];

async function* messages(...texts) {
  for (const text of texts) yield { text };
}

for (const t of transports) {
  describe(t.name, () => {
    let client;
    before(() => {
      client = createClient(service, t.make());
    });

    test("unary echo", async () => {
      const blob = new Uint8Array([0, 1, 2, 250, 255]);
      const r = await client.echo({ text: "héllo", blob });
      assert.equal(r.text, "héllo");
      assert.deepEqual(r.blob, blob);
    });

    test("an error keeps its code, message and details", async () => {
      for (const code of ["not_found", "permission_denied", "resource_exhausted", "unauthenticated"]) {
        const err = await client.fail({ code, detail: `detail for ${code}` }).then(
          () => assert.fail("expected an error"),
          (e) => ConnectError.from(e),
        );
        assert.equal(Code[err.code], code.replace(/_(\w)/g, (_, c) => c.toUpperCase()).replace(/^\w/, (c) => c.toUpperCase()));
        assert.equal(err.rawMessage, "requested_failure: as requested");
        const details = err.findDetails(errorInfo);
        assert.equal(details.length, 1);
        assert.equal(details[0].reason, `detail for ${code}`);
      }
    });

    test("server streaming delivers every message in order", async () => {
      const got = [];
      for await (const m of client.serverStream({ text: "s", count: 25, delayMs: 1 })) got.push(m.index);
      assert.deepEqual(got, [...Array(25).keys()]);
    });

    test("client streaming collects every message", async () => {
      const r = await client.clientStream(messages("a", "b", "c"));
      assert.equal(r.text, "a,b,c");
      assert.equal(r.index, 3);
    });

    test("bidi streaming answers each message", { skip: !t.bidi && "HTTP/1.1 is half duplex" }, async () => {
      const got = [];
      for await (const m of client.bidi(messages("x", "y", "z"))) got.push(`${m.index}:${m.text}`);
      assert.deepEqual(got, ["0:x", "1:y", "2:z"]);
    });

    test("a deadline ends a slow call with deadline_exceeded", async () => {
      const started = Date.now();
      const err = await client.sleep({ text: "zz", delayMs: 5000 }, { timeoutMs: 200 }).then(
        () => assert.fail("expected a deadline"),
        (e) => ConnectError.from(e),
      );
      assert.equal(err.code, Code.DeadlineExceeded);
      assert.ok(Date.now() - started < 4000, "answered at the deadline, not after the handler");
    });

    test("gzip both ways", async () => {
      const gz = createClient(service, withGzip(t));
      const blob = new Uint8Array(64 * 1024).fill(7);
      const r = await gz.echo({ text: "compressed", blob });
      assert.equal(r.text, "compressed");
      assert.equal(r.blob.length, blob.length);
    });

    test("a message over 4 MiB is resource_exhausted", async () => {
      const blob = new Uint8Array(4 * 1024 * 1024 + 10);
      const err = await client.echo({ text: "big", blob }).then(
        () => assert.fail("expected resource_exhausted"),
        (e) => ConnectError.from(e),
      );
      assert.equal(err.code, Code.ResourceExhausted);
    });

    test("cancelling mid-stream ends the call and the server carries on", async () => {
      const abort = new AbortController();
      const got = [];
      await assert.rejects(
        (async () => {
          for await (const m of client.endless({ text: "e", delayMs: 5 }, { signal: abort.signal })) {
            got.push(m.index);
            if (got.length === 3) abort.abort();
          }
        })(),
        (e) => ConnectError.from(e).code === Code.Canceled,
      );
      assert.deepEqual(got, [0, 1, 2]);
      assert.equal((await client.echo({ text: "still here" })).text, "still here");
    });
  });
}

function withGzip(t) {
  const opts = { baseUrl: base(), sendCompression: compressionGzip, acceptCompression: [compressionGzip] };
  if (t.name.startsWith("gRPC-Web")) return createGrpcWebTransport({ ...opts, httpVersion: t.name.endsWith("1.1") ? "1.1" : "2", useBinaryFormat: !t.name.includes("JSON") });
  if (t.name.startsWith("gRPC")) return createGrpcTransport({ ...opts, useBinaryFormat: !t.name.includes("JSON") });
  return createConnectTransport({ ...opts, httpVersion: t.name.endsWith("1.1") ? "1.1" : "2", useBinaryFormat: !t.name.includes("JSON") });
}

describe("Connect GET", () => {
  for (const httpVersion of ["1.1", "2"]) {
    test(`a side-effect-free method is called with GET over HTTP/${httpVersion}`, async () => {
      const transport = createConnectTransport({ baseUrl: base(), httpVersion, useHttpGet: true });
      const r = await createClient(service, transport).idempotent({ text: "cacheable" });
      assert.equal(r.text, "cacheable");
      // The server reports the method and HTTP version it saw.
      assert.equal(new TextDecoder().decode(r.blob), httpVersion === "1.1" ? "GET http/1.1" : "GET h2");
    });
  }
});
