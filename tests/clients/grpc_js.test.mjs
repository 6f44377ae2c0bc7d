// @grpc/grpc-js, an independent gRPC implementation, against the edgepipe transport.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";
import { fromBinary } from "@bufbuild/protobuf";
import { requireEnv, startServer, stopServer, testServiceRegistry } from "./support.mjs";

const definition = protoLoader.loadSync(requireEnv("EDGEPIPE_TEST_PROTO"), { keepCase: false, defaults: true });
const TestService = grpc.loadPackageDefinition(definition).edgepipe.test.v1.TestService;
const registry = testServiceRegistry();

let server, client, gzipClient;
before(async () => {
  server = await startServer(requireEnv("EDGEPIPE_TEST_SERVER"));
  const address = `127.0.0.1:${server.port}`;
  client = new TestService(address, grpc.credentials.createInsecure());
  gzipClient = new TestService(address, grpc.credentials.createInsecure(), {
    "grpc.default_compression_algorithm": 2, // gzip
    "grpc.default_compression_level": 2,
  });
});
after(async () => {
  client.close();
  gzipClient.close();
  assert.equal(await stopServer(server), 0);
});

const unary = (c, method, req, options = {}) =>
  new Promise((resolve, reject) => {
    const metadataSeen = {};
    const call = c[method](req, new grpc.Metadata(), options, (err, res) => (err ? reject(err) : resolve({ res, metadataSeen })));
    call.on("status", (s) => (metadataSeen.trailers = s.metadata.getMap()));
  });

test("unary echo with trailers", async () => {
  const { res, metadataSeen } = await unary(client, "echo", { text: "grpc-js", blob: Buffer.from([1, 2, 3]) });
  assert.equal(res.text, "grpc-js");
  assert.deepEqual([...res.blob], [1, 2, 3]);
  assert.equal(metadataSeen.trailers["x-echo-trailer"], "yes");
});

test("status code, message and grpc-status-details-bin", async () => {
  const err = await unary(client, "fail", { code: "permission_denied", detail: "nope" }).then(
    () => assert.fail("expected an error"),
    (e) => e,
  );
  assert.equal(err.code, grpc.status.PERMISSION_DENIED);
  assert.equal(err.details, "requested_failure: as requested");
  const bin = err.metadata.get("grpc-status-details-bin")[0];
  assert.ok(Buffer.isBuffer(bin), "details travel as a binary trailer");
  // google.rpc.Status { code = 1; message = 2; details = 3 (Any) }: decode by hand.
  const statusType = registry.getMessage("edgepipe.test.v1.ErrorInfo");
  const any = readField(bin, 3);
  assert.equal(readField(any, 1).toString(), "type.googleapis.com/edgepipe.test.v1.ErrorInfo");
  assert.equal(fromBinary(statusType, readField(any, 2)).reason, "nope");
});

test("server streaming", async () => {
  const got = [];
  await new Promise((resolve, reject) => {
    const call = client.serverStream({ text: "s", count: 10, delayMs: 1 });
    call.on("data", (m) => got.push(m.index));
    call.on("error", reject);
    call.on("end", resolve);
  });
  assert.deepEqual(got, [...Array(10).keys()]);
});

test("client streaming", async () => {
  const res = await new Promise((resolve, reject) => {
    const call = client.clientStream((err, r) => (err ? reject(err) : resolve(r)));
    for (const text of ["p", "q", "r", "s"]) call.write({ text });
    call.end();
  });
  assert.equal(res.text, "p,q,r,s");
  assert.equal(res.index, 4);
});

test("bidi streaming, interleaved", async () => {
  const call = client.bidi();
  const got = [];
  const done = new Promise((resolve, reject) => {
    call.on("data", (m) => {
      got.push(m.text);
      if (got.length < 5) call.write({ text: `m${got.length}` });
      else call.end();
    });
    call.on("error", reject);
    call.on("end", resolve);
  });
  call.write({ text: "m0" });
  await done;
  assert.deepEqual(got, ["m0", "m1", "m2", "m3", "m4"]);
});

test("deadline", async () => {
  const err = await unary(client, "sleep", { delayMs: 3000 }, { deadline: Date.now() + 150 }).then(
    () => assert.fail("expected a deadline"),
    (e) => e,
  );
  assert.equal(err.code, grpc.status.DEADLINE_EXCEEDED);
});

test("gzip both ways", async () => {
  const blob = Buffer.alloc(100 * 1024, 9);
  const { res } = await unary(gzipClient, "echo", { text: "gz", blob });
  assert.equal(res.blob.length, blob.length);
});

test("unknown method is unimplemented", async () => {
  const Unknown = grpc.makeGenericClientConstructor({
    nope: {
      path: "/edgepipe.test.v1.TestService/Nope",
      requestStream: false,
      responseStream: false,
      requestSerialize: (x) => x,
      requestDeserialize: (x) => x,
      responseSerialize: (x) => x,
      responseDeserialize: (x) => x,
    },
  });
  const c = new Unknown(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
  const err = await new Promise((resolve) => c.nope(Buffer.alloc(0), (e) => resolve(e)));
  c.close();
  assert.equal(err.code, grpc.status.UNIMPLEMENTED);
});

// The bytes of the first occurrence of a length-delimited field in a protobuf message.
function readField(buf, field) {
  let i = 0;
  const varint = () => {
    let v = 0, shift = 0, b;
    do {
      b = buf[i++];
      v += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80);
    return v;
  };
  while (i < buf.length) {
    const key = varint();
    const type = key & 7, num = key >>> 3;
    if (type === 0) varint();
    else if (type === 2) {
      const len = varint();
      if (num === field) return buf.subarray(i, i + len);
      i += len;
    } else throw new Error(`unexpected wire type ${type}`);
  }
  throw new Error(`field ${field} not found`);
}
