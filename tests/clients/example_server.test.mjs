// The ladder's server (examples/3_server.cpp) called as its reader would call it: stock
// clients, Connect and gRPC, a unary method and a stream, and the chain's refusals.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { createInterface } from "node:readline";
import { readFileSync } from "node:fs";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";
import { requireEnv, startServer, stopServer } from "./support.mjs";

const binary = requireEnv("EDGEPIPE_EXAMPLE_SERVER");
const descriptors = readFileSync(requireEnv("EDGEPIPE_EXAMPLE_DESCRIPTORS"));
const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, descriptors));
const service = registry.getService("edgepipe.examples.ladder.v1.Greeter");

const alice = { authorization: "Bearer s3cret" };
const bob = { authorization: "Bearer hunter2" };

let server;
before(async () => {
  server = await startServer(binary, ["0"]);
});
after(async () => {
  assert.equal(await stopServer(server), 0, "the example drains and exits cleanly on SIGTERM");
});

const base = () => `http://127.0.0.1:${server.port}`;
const failure = (promise) =>
  promise.then(
    () => assert.fail("expected the call to fail"),
    (e) => ConnectError.from(e),
  );
async function collect(stream) {
  const got = [];
  for await (const m of stream) got.push(m);
  return got;
}

const transports = [
  { name: "Connect binary HTTP/2", make: () => createConnectTransport({ baseUrl: base(), httpVersion: "2" }) },
  { name: "Connect JSON HTTP/1.1", make: () => createConnectTransport({ baseUrl: base(), httpVersion: "1.1", useBinaryFormat: false }) },
  { name: "gRPC HTTP/2 (connect-node)", make: () => createGrpcTransport({ baseUrl: base() }) },
];

for (const t of transports) {
  describe(t.name, () => {
    let client;
    before(() => {
      client = createClient(service, t.make());
    });

    test("Greet answers a caller the chain lets through, by the user its token names", async () => {
      assert.equal((await client.greet({ name: "Ada" }, { headers: alice })).text, "hello, Ada (signed in as alice)");
      assert.equal((await client.greet({ name: "Lin" }, { headers: bob })).text, "hello, Lin (signed in as bob)");
    });

    test("Countdown streams every number, each message for the caller", async () => {
      const got = await collect(client.countdown({ from: 4, intervalMs: 5 }, { headers: bob }));
      assert.deepEqual(got.map((m) => m.value), [4, 3, 2, 1]);
      assert.deepEqual(new Set(got.map((m) => m.user)), new Set(["bob"]));
    });

    test("no bearer token: the chain's first stage refuses, with its code and reason", async () => {
      for (const headers of [{}, { authorization: "Basic czNjcmV0" }]) {
        const err = await failure(client.greet({ name: "Ada" }, { headers }));
        assert.equal(err.code, Code.Unauthenticated);
        assert.equal(err.rawMessage, "token_missing");
      }
    });

    test("an unknown token: refused on both methods, and the stream sends nothing", async () => {
      const headers = { authorization: "Bearer guess" };
      const unary = await failure(client.greet({ name: "Ada" }, { headers }));
      assert.equal(unary.code, Code.Unauthenticated);
      assert.equal(unary.rawMessage, "token_invalid");
      const got = [];
      const streamed = await failure(
        (async () => {
          for await (const m of client.countdown({ from: 3, intervalMs: 1 }, { headers })) got.push(m);
        })(),
      );
      assert.equal(streamed.code, Code.Unauthenticated);
      assert.equal(streamed.rawMessage, "token_invalid");
      assert.deepEqual(got, []);
    });

    test("the handler's own check comes after the chain's", async () => {
      const err = await failure(collect(client.countdown({ from: 101 }, { headers: alice })));
      assert.equal(err.code, Code.InvalidArgument);
      assert.equal(err.rawMessage, "from_too_large: at most 100");
      const refused = await failure(collect(client.countdown({ from: 101 }, { headers: {} })));
      assert.equal(refused.code, Code.Unauthenticated, "an unauthenticated caller learns nothing of the limit");
    });
  });
}

describe("@grpc/grpc-js", () => {
  let client;
  before(() => {
    const definition = protoLoader.loadSync(requireEnv("EDGEPIPE_EXAMPLE_PROTO"), { defaults: true });
    const Greeter = grpc.loadPackageDefinition(definition).edgepipe.examples.ladder.v1.Greeter;
    client = new Greeter(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
  });
  after(() => client.close());

  const metadata = (headers) => {
    const m = new grpc.Metadata();
    for (const [k, v] of Object.entries(headers)) m.set(k, v);
    return m;
  };
  const greet = (req, headers) =>
    new Promise((resolve, reject) => client.greet(req, metadata(headers), (err, res) => (err ? reject(err) : resolve(res))));
  const countdown = (req, headers) =>
    new Promise((resolve, reject) => {
      const got = [];
      const call = client.countdown(req, metadata(headers));
      call.on("data", (m) => got.push(m));
      call.on("error", (err) => reject(Object.assign(err, { got })));
      call.on("end", () => resolve(got));
    });

  test("Greet and Countdown for a caller the chain lets through", async () => {
    assert.equal((await greet({ name: "Ada" }, alice)).text, "hello, Ada (signed in as alice)");
    const got = await countdown({ from: 3, intervalMs: 5 }, alice);
    assert.deepEqual(got.map((m) => [m.value, m.user]), [[3, "alice"], [2, "alice"], [1, "alice"]]);
  });

  test("the chain's refusals arrive as grpc-status and grpc-message", async () => {
    const missing = await greet({ name: "Ada" }, {}).then(() => assert.fail("expected an error"), (e) => e);
    assert.equal(missing.code, grpc.status.UNAUTHENTICATED);
    assert.equal(missing.details, "token_missing");
    const invalid = await countdown({ from: 3 }, { authorization: "Bearer guess" }).then(() => assert.fail("expected an error"), (e) => e);
    assert.equal(invalid.code, grpc.status.UNAUTHENTICATED);
    assert.equal(invalid.details, "token_invalid");
    assert.deepEqual(invalid.got, []);
  });
});

test("the port comes from $PORT when argv names none", async () => {
  const port = await new Promise((resolve, reject) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
    probe.on("error", reject);
  });
  const second = await startServer(binary, [], { ...process.env, PORT: String(port) });
  try {
    assert.equal(second.port, port);
    const client = createClient(service, createConnectTransport({ baseUrl: `http://127.0.0.1:${port}`, httpVersion: "2" }));
    assert.equal((await client.greet({ name: "Env" }, { headers: alice })).text, "hello, Env (signed in as alice)");
  } finally {
    assert.equal(await stopServer(second), 0);
  }
});

test("on 4 workers ($WORKERS): 32 connections served, and SIGTERM drains every worker's streams", async () => {
  const child = spawn(binary, ["0"], { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, WORKERS: "4" } });
  const line = await new Promise((resolve, reject) => {
    child.on("error", reject);
    createInterface({ input: child.stdout }).once("line", resolve);
  });
  const m = /listening on [\d.]+:(\d+) \((\d+) workers\)/.exec(line);
  assert.ok(m, line);
  assert.equal(m[2], "4");
  const base = `http://127.0.0.1:${m[1]}`;
  // A transport each: one HTTP/2 connection each, spread over the workers by the kernel.
  const clients = Array.from({ length: 32 }, () => createClient(service, createGrpcTransport({ baseUrl: base })));
  const greeted = await Promise.all(clients.map((c, i) => c.greet({ name: `n${i}` }, { headers: alice })));
  greeted.forEach((g, i) => assert.equal(g.text, `hello, n${i} (signed in as alice)`));

  // Long countdowns on every connection; SIGTERM lets them run to the drain's end, then exit 0.
  const streams = clients.map(async (c) => {
    const got = [];
    for await (const r of c.countdown({ from: 3, intervalMs: 100 }, { headers: bob })) got.push(r.value);
    return got;
  });
  await new Promise((r) => setTimeout(r, 50));
  const exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
  child.kill("SIGTERM");
  for (const got of await Promise.all(streams)) assert.deepEqual(got, [3, 2, 1], "a call in flight completes");
  assert.equal(await exited, 0);
});
