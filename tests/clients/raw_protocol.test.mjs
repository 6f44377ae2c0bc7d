// What stock clients never send: raw HTTP/2 and HTTP/1.1 requests with bad frames, bad
// timeouts, unknown encodings, wrong methods and types, oversized headers, CORS.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import zlib from "node:zlib";
import { requireEnv, startServer, stopServer } from "./support.mjs";

const ECHO = "/edgepipe.test.v1.TestService/Echo";
const BIDI = "/edgepipe.test.v1.TestService/Bidi";
const ORIGIN = "http://app.example";

let server, session;
before(async () => {
  server = await startServer(requireEnv("EDGEPIPE_TEST_SERVER"), ["--cors", ORIGIN]);
  session = http2.connect(`http://127.0.0.1:${server.port}`);
});
after(async () => {
  session.close();
  assert.equal(await stopServer(server), 0);
});

const frame = (flags, payload, claimedLength = payload.length) => {
  const head = Buffer.alloc(5);
  head[0] = flags;
  head.writeUInt32BE(claimedLength, 1);
  return Buffer.concat([head, payload]);
};

// EchoRequest{text: s} in protobuf binary.
const echoRequest = (s) => Buffer.concat([Buffer.from([0x0a, Buffer.byteLength(s)]), Buffer.from(s)]);

// One HTTP/2 request; resolves with headers, trailers, body and whether DATA came.
function h2request(headers, body = Buffer.alloc(0)) {
  return new Promise((resolve, reject) => {
    const req = session.request({ ":method": "POST", ...headers });
    const out = { headers: null, trailers: null, body: [], error: null };
    req.on("response", (h) => (out.headers = h));
    req.on("trailers", (t) => (out.trailers = t));
    req.on("data", (d) => out.body.push(d));
    req.on("error", (e) => {
      out.error = e;
      resolve(out);
    });
    req.on("end", () => resolve({ ...out, body: Buffer.concat(out.body) }));
    req.end(body);
    setTimeout(() => reject(new Error("no answer")), 5000).unref();
  });
}

function h1request(method, path, headers = {}, body = "") {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port: server.port, method, path, headers, agent: false }, (res) => {
      const chunks = [];
      res.on("data", (d) => chunks.push(d));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("gRPC over raw HTTP/2", () => {
  const grpc = (extra = {}) => ({ ":path": ECHO, "content-type": "application/grpc", te: "trailers", ...extra });

  test("a well-formed request gets DATA and grpc-status 0 in trailers", async () => {
    const r = await h2request(grpc(), frame(0, echoRequest("ok")));
    assert.equal(r.headers[":status"], 200);
    assert.equal(r.trailers["grpc-status"], "0");
    assert.ok(r.body.length > 5);
  });

  test("unknown frame flags are internal", async () => {
    const r = await h2request(grpc(), frame(0x04, echoRequest("x")));
    assert.equal(statusOf(r), "13");
  });

  test("a compressed frame without grpc-encoding is internal", async () => {
    const r = await h2request(grpc(), frame(0x01, echoRequest("x")));
    assert.equal(statusOf(r), "13");
  });

  test("a truncated frame is invalid_argument", async () => {
    const r = await h2request(grpc(), frame(0, Buffer.from([0x0a]), 10));
    assert.equal(statusOf(r), "3");
  });

  test("a length prefix over 4 MiB is resource_exhausted before the body arrives", async () => {
    const r = await h2request(grpc(), frame(0, Buffer.alloc(0), 64 * 1024 * 1024));
    assert.equal(statusOf(r), "8");
  });

  test("a zip bomb is refused once it inflates past the limit", async () => {
    const bomb = zlib.gzipSync(Buffer.alloc(50 * 1024 * 1024));
    assert.ok(bomb.length < 100 * 1024);
    const r = await h2request(grpc({ "grpc-encoding": "gzip" }), frame(0x01, bomb));
    assert.equal(statusOf(r), "8");
  });

  test("an unknown grpc-encoding is unimplemented and names what is supported", async () => {
    const r = await h2request(grpc({ "grpc-encoding": "br" }), frame(0, echoRequest("x")));
    assert.equal(statusOf(r), "12");
    assert.match(decodeURIComponent(r.headers["grpc-message"] ?? r.trailers?.["grpc-message"]), /gzip, identity/);
  });

  test("a malformed grpc-timeout is invalid_argument, in a Trailers-Only response", async () => {
    // No unit, nine digits, an unknown unit, a sign: connect-go answers each the same way.
    for (const t of ["300", "123456789S", "10x", "-5m", "12parsecs"]) {
      const r = await h2request(grpc({ "grpc-timeout": t }), frame(0, echoRequest("x")));
      assert.equal(r.headers["grpc-status"], "3", `${t}: the status is in the one HEADERS frame`);
      assert.match(decodeURIComponent(r.headers["grpc-message"]), /^protocol_error/, t);
      assert.equal(r.body.length, 0, t);
      assert.equal(r.trailers, null, t);
    }
  });

  test("every grpc-timeout unit is understood", async () => {
    for (const t of ["1H", "1M", "30S", "5000m", "5000000u", "50000000n"]) {
      const r = await h2request(grpc({ "grpc-timeout": t }), frame(0, echoRequest("x")));
      assert.equal(statusOf(r), "0", t);
    }
  });

  test("an unknown procedure is unimplemented, Trailers-Only", async () => {
    const r = await h2request(grpc({ ":path": "/nope.v1.Nope/Nope" }), frame(0, echoRequest("x")));
    assert.equal(r.headers[":status"], 200);
    assert.equal(r.headers["grpc-status"], "12");
  });

  test("zero or two messages on a unary call are unimplemented", async () => {
    assert.equal(statusOf(await h2request(grpc(), Buffer.alloc(0))), "12");
    const two = Buffer.concat([frame(0, echoRequest("a")), frame(0, echoRequest("b"))]);
    assert.equal(statusOf(await h2request(grpc(), two)), "12");
  });
});

describe("Connect over raw HTTP/2", () => {
  test("a malformed connect-timeout-ms is 400 invalid_argument", async () => {
    const r = await h2request({ ":path": ECHO, "content-type": "application/json", "connect-timeout-ms": "soon" }, Buffer.from("{}"));
    assert.equal(r.headers[":status"], 400);
    assert.equal(JSON.parse(r.body).code, "invalid_argument");
  });

  test("a connect-protocol-version other than 1 is invalid_argument on unary calls and streams alike", async () => {
    const unary = await h2request({ ":path": ECHO, "content-type": "application/json", "connect-protocol-version": "2" }, Buffer.from("{}"));
    assert.equal(unary.headers[":status"], 400);
    assert.equal(JSON.parse(unary.body).code, "invalid_argument");
    const stream = await h2request(
      { ":path": "/edgepipe.test.v1.TestService/ServerStream", "content-type": "application/connect+json", "connect-protocol-version": "2" },
      frame(0, Buffer.from("{}")),
    );
    assert.equal(stream.headers[":status"], 200, "a stream's error travels in its end-of-stream message");
    const end = stream.body.subarray(5);
    assert.equal(stream.body[0], 0x02, "the only frame is the end-of-stream frame");
    assert.equal(JSON.parse(end).error.code, "invalid_argument");
    const fine = await h2request({ ":path": ECHO, "content-type": "application/json", "connect-protocol-version": "1" }, Buffer.from("{}"));
    assert.equal(fine.headers[":status"], 200);
  });

  test("an unknown content-encoding is 501 unimplemented", async () => {
    const r = await h2request({ ":path": ECHO, "content-type": "application/json", "content-encoding": "zstd" }, Buffer.from("{}"));
    assert.equal(r.headers[":status"], 501);
    assert.equal(JSON.parse(r.body).code, "unimplemented");
  });

  test("large responses are gzipped when the client accepts gzip", async () => {
    const text = "z".repeat(5000);
    const r = await h2request({ ":path": ECHO, "content-type": "application/json", "accept-encoding": "gzip" }, Buffer.from(JSON.stringify({ text })));
    assert.equal(r.headers["content-encoding"], "gzip");
    assert.equal(JSON.parse(zlib.gunzipSync(r.body)).text, text);
  });

  test("an empty gzip body is an empty message, not an error", async () => {
    const r = await h2request({ ":path": ECHO, "content-type": "application/proto", "content-encoding": "gzip" });
    assert.equal(r.headers[":status"], 200);
  });

  test("the first SETTINGS announce 100 streams and a 16 KiB header list", async () => {
    const s = http2.connect(`http://127.0.0.1:${server.port}`);
    const settings = await new Promise((resolve) => s.once("remoteSettings", resolve));
    s.close();
    assert.equal(settings.maxConcurrentStreams, 100);
    assert.equal(settings.maxHeaderListSize, 16384);
  });

  test("more than 100 header fields resets the stream, and the connection lives on", async () => {
    const many = {};
    for (let i = 0; i < 120; i++) many[`x-h${i}`] = "v";
    const r = await h2request({ ":path": ECHO, "content-type": "application/json", ...many }, Buffer.from("{}"));
    assert.ok(r.error, "the stream is reset");
    const ok = await h2request({ ":path": ECHO, "content-type": "application/json" }, Buffer.from('{"text":"after"}'));
    assert.equal(JSON.parse(ok.body).text, "after");
  });
});

describe("HTTP/1.1", () => {
  test("unknown procedure is 404", async () => {
    const r = await h1request("POST", "/nope.v1.Nope/Nope", { "content-type": "application/json" }, "{}");
    assert.equal(r.status, 404);
  });

  test("a wrong method is 405 with Allow", async () => {
    const r = await h1request("PUT", ECHO, { "content-type": "application/json" }, "{}");
    assert.equal(r.status, 405);
    assert.equal(r.headers.allow, "POST");
  });

  test("an unsupported content type is 415 with Accept-Post", async () => {
    const r = await h1request("POST", ECHO, { "content-type": "text/plain" }, "hi");
    assert.equal(r.status, 415);
    assert.match(r.headers["accept-post"], /application\/grpc-web-text/);
  });

  test("bidi over HTTP/1.1 is 505 with Connection: close", async () => {
    const r = await h1request("POST", BIDI, { "content-type": "application/connect+proto" }, "");
    assert.equal(r.status, 505);
    assert.equal(r.headers.connection, "close");
  });

  test("Upgrade: h2c is ignored: the call is served over HTTP/1.1 (h2c is prior knowledge only)", async () => {
    const r = await h1request(
      "POST",
      ECHO,
      { "content-type": "application/json", connection: "Upgrade, HTTP2-Settings", upgrade: "h2c", "http2-settings": "AAMAAABkAARAAAAAAAIAAAAA" },
      JSON.stringify({ text: "upgrade?" }),
    );
    assert.equal(r.status, 200);
    assert.equal(r.headers.upgrade, undefined);
    assert.match(r.body, /upgrade\?/);
  });

  test("gRPC over HTTP/1.1 is 505", async () => {
    const r = await h1request("POST", ECHO, { "content-type": "application/grpc" }, frame(0, echoRequest("x")));
    assert.equal(r.status, 505);
  });

  test("more than 100 header fields is 431", async () => {
    const headers = { "content-type": "application/json" };
    for (let i = 0; i < 120; i++) headers[`x-h${i}`] = "v";
    const r = await h1request("POST", ECHO, headers, "{}");
    assert.equal(r.status, 431);
  });

  test("headers over 16 KiB are 431", async () => {
    const r = await h1request("POST", ECHO, { "content-type": "application/json", "x-big": "b".repeat(17 * 1024) }, "{}");
    assert.equal(r.status, 431);
  });

  test("grpc-web-text: base64 bodies in padded segments, trailers in the body", async () => {
    // The request as two separately padded base64 segments, as a streaming client sends them.
    const bytes = frame(0, echoRequest("texts"));
    const body = bytes.subarray(0, 4).toString("base64") + bytes.subarray(4).toString("base64");
    assert.match(body, /=[A-Za-z0-9]/, "a padded segment followed by another");
    const r = await h1request("POST", ECHO, { "content-type": "application/grpc-web-text" }, body);
    assert.equal(r.status, 200);
    assert.equal(r.headers["content-type"], "application/grpc-web-text+proto");
    const decoded = Buffer.concat(r.body.match(/[A-Za-z0-9+/]+={0,2}/g).map((seg) => Buffer.from(seg, "base64")));
    assert.equal(decoded[0], 0, "a message frame first");
    assert.match(decoded.toString("latin1"), /texts/);
    assert.match(decoded.toString("latin1"), /grpc-status:0\r\n/);
  });

  test("a connection that never finishes its headers is closed", async () => {
    const socket = net.connect(server.port, "127.0.0.1");
    socket.write("POST / HTTP/1.1\r\nHost: x\r\n");
    const closed = await new Promise((resolve) => {
      socket.on("close", () => resolve(true));
      setTimeout(() => resolve(false), 15000).unref();
    });
    assert.ok(closed, "closed within the 10 s header timeout");
  });
});

describe("CORS", () => {
  test("a preflight from an allowed origin is answered", async () => {
    const r = await h1request("OPTIONS", ECHO, {
      origin: ORIGIN,
      "access-control-request-method": "POST",
      "access-control-request-headers": "content-type,connect-protocol-version",
    });
    assert.equal(r.status, 204);
    assert.equal(r.headers["access-control-allow-origin"], ORIGIN);
    assert.match(r.headers["access-control-allow-headers"], /Connect-Protocol-Version/);
    assert.match(r.headers["access-control-allow-headers"], /X-Grpc-Web/);
  });

  test("a preflight from another origin is refused", async () => {
    const r = await h1request("OPTIONS", ECHO, { origin: "http://evil.example", "access-control-request-method": "POST" });
    assert.equal(r.status, 403);
    assert.equal(r.headers["access-control-allow-origin"], undefined);
  });

  test("responses to an allowed origin expose the gRPC headers", async () => {
    const r = await h1request("POST", ECHO, { origin: ORIGIN, "content-type": "application/json" }, '{"text":"c"}');
    assert.equal(r.headers["access-control-allow-origin"], ORIGIN);
    assert.match(r.headers["access-control-expose-headers"], /Grpc-Status-Details-Bin/);
  });
});

function statusOf(r) {
  return r.trailers?.["grpc-status"] ?? r.headers?.["grpc-status"];
}
