// The gateway against backends that misbehave at the byte level (tests/clients/raw_backend.mjs):
// what a backend sends is data. Every answer a caller gets is checked against the caller's
// own request: payload, request id and the gateway's signature.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { Code, createClient } from "@connectrpc/connect";
import {
  EdgeGateway, cleanup, startGateway, signedRequest, gatewayKey, responseInput, sha256, transports, callError,
} from "./gateway_support.mjs";
import { httpAnswer, startRawBackend } from "./raw_backend.mjs";

const backends = [];
after(async () => {
  cleanup();
  await Promise.all(backends.map((b) => b.close()));
});

let deviceCounter = 0;
function newDevice(backend, userId = `user-${deviceCounter}`) {
  const { publicKey, privateKey } = crypto.generateKeyPairSync("ed25519");
  const raw = publicKey.export({ format: "der", type: "spki" }).subarray(12);
  const id = `ds_raw_${process.pid}_${deviceCounter++}`;
  backend.addSession({ id, userId, publicKey: raw.toString("base64") });
  return { id, privateKey, user: userId };
}

async function world(env = {}) {
  const backend = await startRawBackend();
  backends.push(backend);
  const gateway = await startGateway(backend.url, "memory", { EDGEPIPE_BACKEND_TIMEOUT_MS: "3000", ...env });
  const key = await gatewayKey(gateway);
  const client = createClient(EdgeGateway, transports.gRPC(gateway));
  return { backend, gateway, key, client };
}

// The answer is the caller's own: its payload, its request id, signed by the gateway for it.
function assertOwnAnswer(key, device, req, res, expectedPayload) {
  assert.equal(res.requestId, req.requestId);
  assert.deepEqual(Buffer.from(res.payload), Buffer.from(expectedPayload));
  assert.deepEqual(Buffer.from(res.payloadSha256), sha256(Buffer.from(expectedPayload)));
  assert.ok(crypto.verify(null, responseInput(device.id, res), key.key, Buffer.from(res.signature)), "signature verifies");
}

// A payload that names its caller, so a mix-up cannot go unseen.
const payloadFor = (device, i) => Buffer.from(`${device.user}:${device.id}:${i}`);

describe("answers belong to the request they answer", () => {
  test("interim 103 Early Hints before every answer: 40 calls across 4 users each get their own", async () => {
    const { backend, key, client } = await world();
    const earlyHints = "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n";
    backend.onSession = (req, conn, record) => {
      if (!record) return false;
      conn.write(earlyHints);
      conn.answer(200, JSON.stringify(record), { "Content-Type": "application/json" });
      return true;
    };
    backend.onCommand = (req, conn) => {
      conn.write(earlyHints);
      conn.answer(200, req.body, { "X-Result-Code": "ok" });
    };
    const devices = [0, 1, 2, 3].map((u) => newDevice(backend, `early-${u}`));
    const calls = [];
    for (let i = 0; i < 40; i++) {
      const device = devices[i % 4];
      const req = signedRequest(device, { payload: payloadFor(device, i) });
      calls.push(client.executeCommand(req).then((res) => assertOwnAnswer(key, device, req, res, payloadFor(device, i))));
    }
    await Promise.all(calls);
    // The backend also saw each command once: nothing was sent twice to get these answers.
    assert.equal(backend.commands().length, 40);
  });

  test("an answer that runs past its framing closes the connection: the extra bytes never answer a later call", async () => {
    const { backend, key, client } = await world();
    const victim = newDevice(backend, "victim");
    let first = true;
    backend.onCommand = (req, conn) => {
      conn.answer(200, req.body, { "X-Result-Code": "ok" });
      if (first) {
        first = false;
        // A second answer nobody asked for, a moment later: a desynchronised backend.
        setTimeout(() => conn.write(httpAnswer(200, "forged", { "X-Result-Code": "ok" })), 100);
      }
    };
    const attacker = newDevice(backend, "attacker");
    const a = signedRequest(attacker, { payload: payloadFor(attacker, 0) });
    assertOwnAnswer(key, attacker, a, await client.executeCommand(a), payloadFor(attacker, 0));
    await sleep(300);
    for (let i = 0; i < 5; i++) {
      const req = signedRequest(victim, { payload: payloadFor(victim, i) });
      assertOwnAnswer(key, victim, req, await client.executeCommand(req), payloadFor(victim, i));
    }
  });

  test("a Content-Length shorter than the body: the rest is not read as the next answer", async () => {
    const { backend, key, client } = await world();
    const device = newDevice(backend, "short");
    let n = 0;
    backend.onCommand = (req, conn) => {
      if (n++ === 0) conn.write(Buffer.concat([httpAnswer(200, "ab", { "X-Result-Code": "ok" }), httpAnswer(200, "forged")]));
      else conn.answer(200, req.body, { "X-Result-Code": "ok" });
    };
    const first = signedRequest(device, { payload: Buffer.from("ab") });
    assertOwnAnswer(key, device, first, await client.executeCommand(first), "ab");
    for (let i = 0; i < 3; i++) {
      const req = signedRequest(device, { payload: payloadFor(device, i) });
      assertOwnAnswer(key, device, req, await client.executeCommand(req), payloadFor(device, i));
    }
  });
});

describe("session records are data", () => {
  test("CR/LF in a session's user_id never reaches a header: the call fails and no second command is sent", async () => {
    const { backend, client } = await world();
    const device = newDevice(backend, "x");
    const smuggled = "alice\r\nContent-Length: 0\r\n\r\nPOST /api/v1/internal/commands/user.transfer HTTP/1.1\r\nX-User-Id: bob\r\nContent-Length: 0\r\n\r\n";
    backend.sessions.get(device.id).user_id = smuggled;
    const err = await callError(client.executeCommand(signedRequest(device)));
    assert.equal(err.code, Code.Internal);
    assert.match(err.rawMessage, /^backend_bad_response/);
    await sleep(200);
    assert.equal(backend.commands().length, 0, "no command reached the backend");
    assert.equal(backend.requests.filter((r) => r.path.includes("user.transfer")).length, 0);
  });

  for (const [what, userId] of [["a space", "alice bob"], ["an empty user_id", ""], ["129 bytes", "u".repeat(129)], ["a non-ASCII byte", "alicé"]]) {
    test(`a user_id with ${what} is internal · backend_bad_response`, async () => {
      const { backend, client } = await world();
      const device = newDevice(backend, "placeholder");
      backend.sessions.get(device.id).user_id = userId;
      const err = await callError(client.executeCommand(signedRequest(device)));
      assert.equal(err.code, Code.Internal);
      assert.match(err.rawMessage, /^backend_bad_response/);
      assert.equal(backend.commands().length, 0);
    });
  }

  test("a record for another session than the one asked for is internal · backend_bad_response", async () => {
    const { backend, client } = await world();
    const device = newDevice(backend, "alice");
    backend.sessions.get(device.id).device_session_id = "ds_someone_else";
    const err = await callError(client.executeCommand(signedRequest(device)));
    assert.equal(err.code, Code.Internal);
    assert.match(err.rawMessage, /^backend_bad_response/);
  });
});

describe("result codes", () => {
  for (const [what, value] of [["upper case", "OK"], ["a byte that is not UTF-8", "\xff"], ["65 bytes", "a".repeat(65)], ["a space", "not ok"]]) {
    test(`X-Result-Code with ${what} is internal · backend_bad_response, over gRPC and Connect JSON`, async () => {
      const { backend, gateway } = await world();
      const device = newDevice(backend, "rc");
      backend.onCommand = (req, conn) => conn.write(Buffer.concat([
        Buffer.from("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Result-Code: ", "latin1"), Buffer.from(value, "latin1"),
        Buffer.from("\r\n\r\nhi", "latin1")]));
      for (const t of ["gRPC", "Connect JSON h2c"]) {
        const err = await callError(createClient(EdgeGateway, transports[t](gateway)).executeCommand(signedRequest(device)));
        assert.equal(err.code, Code.Internal, t);
        assert.match(err.rawMessage, /^backend_bad_response/);
      }
    });
  }

  test("a valid X-Result-Code is signed as sent; an empty one is ok", async () => {
    const { backend, key, client } = await world();
    const device = newDevice(backend, "rc-ok");
    let code = "done.v2_x-1";
    backend.onCommand = (req, conn) => conn.answer(200, req.body, { "X-Result-Code": code });
    let req = signedRequest(device);
    let res = await client.executeCommand(req);
    assert.equal(res.resultCode, "done.v2_x-1");
    assertOwnAnswer(key, device, req, res, req.payload);
    code = "";
    req = signedRequest(device);
    res = await client.executeCommand(req);
    assert.equal(res.resultCode, "ok");
  });
});

describe("connections the backend closes", () => {
  test("a command whose connection dies after it was written is received once and fails unavailable", async () => {
    const { backend, client } = await world();
    const device = newDevice(backend, "once");
    // A first call leaves a kept-alive connection in the pool; the second is sent on it.
    let calls = 0;
    backend.onCommand = (req, conn) => {
      if (calls++ === 0) return conn.answer(200, req.body, { "X-Result-Code": "ok" });
      conn.destroy();  // it ran, then the connection went
    };
    await client.executeCommand(signedRequest(device));
    const doomed = signedRequest(device);
    const err = await callError(client.executeCommand(doomed));
    assert.equal(err.code, Code.Unavailable);
    assert.match(err.rawMessage, /^backend_unavailable/);
    await sleep(500);
    assert.equal(backend.commands(doomed.requestId).length, 1, "the command was not sent twice");
  });

  test("a session lookup whose reused connection closes before any answer is retried once, on a new connection", async () => {
    const { backend, key, client } = await world();
    const device = newDevice(backend, "retry");
    // The first lookup sent on a reused connection is read and dropped unanswered: what a
    // backend closing an idle connection as the request arrives looks like.
    let dropped = false;
    backend.onSession = (req, conn) => {
      if (req.index === 0 || dropped) return false;
      dropped = true;
      conn.destroy();
      return true;
    };
    const first = signedRequest(device);
    await client.executeCommand(first);
    const req = signedRequest(device, { payload: Buffer.from("after the drop") });
    const res = await client.executeCommand(req);
    assertOwnAnswer(key, device, req, res, "after the drop");
    const lookups = backend.requests.filter((r) => r.path.startsWith("/api/v1/internal/sessions/"));
    assert.equal(lookups.length, 3, "two lookups for two calls, one of them sent again");
    assert.notEqual(lookups[1].conn, lookups[2].conn, "the retry went on a new connection");
  });

  for (const [what, headers] of [["without saying so", {}], ["announcing Keep-Alive: timeout=1", { "Keep-Alive": "timeout=1" }]]) {
    test(`a backend that closes idle connections after 1 s ${what}: calls after quiet periods succeed`, async () => {
      const { backend, key, client } = await world();
      backend.idleCloseMs = 1000;
      backend.extraHeaders = headers;
      const devices = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => newDevice(backend, `idle-${i}`));
      // Several connections in the pool, all closed by the backend while they idle; the
      // first call after each quiet period comes alone, facing all of them.
      for (let round = 0; round < 3; round++) {
        const alone = signedRequest(devices[0], { payload: payloadFor(devices[0], 100 + round) });
        assertOwnAnswer(key, devices[0], alone, await client.executeCommand(alone), payloadFor(devices[0], 100 + round));
        await Promise.all(devices.map(async (device, i) => {
          const req = signedRequest(device, { payload: payloadFor(device, round * 10 + i) });
          assertOwnAnswer(key, device, req, await client.executeCommand(req), payloadFor(device, round * 10 + i));
        }));
        await sleep(1500);
      }
      // Every command was received once: none was sent on a connection seen closed.
      assert.equal(backend.commands().length, 27);
    });
  }
});

describe("the connection bound", () => {
  test("EDGEPIPE_BACKEND_MAX_CONNECTIONS=2: 12 concurrent calls share two connections and all succeed", async () => {
    const { backend, key, client } = await world({ EDGEPIPE_BACKEND_MAX_CONNECTIONS: "2" });
    backend.delayMs = 100;
    const devices = [0, 1, 2, 3, 4, 5].map((i) => newDevice(backend, `bound-${i}`));
    await Promise.all(Array.from({ length: 12 }, async (_, i) => {
      const device = devices[i % 6];
      const req = signedRequest(device, { payload: payloadFor(device, i) });
      assertOwnAnswer(key, device, req, await client.executeCommand(req), payloadFor(device, i));
    }));
    assert.ok(backend.maxOpen <= 2, `at most 2 connections were open at once (saw ${backend.maxOpen})`);
    assert.ok(backend.connections.length <= 2, `the two were reused (opened ${backend.connections.length})`);
  });

  test("a call that waits for a connection longer than the backend timeout fails unavailable", async () => {
    const { backend, client } = await world({ EDGEPIPE_BACKEND_MAX_CONNECTIONS: "1", EDGEPIPE_BACKEND_TIMEOUT_MS: "500" });
    const device = newDevice(backend, "starved");
    let hold = true;
    backend.onCommand = (req, conn) => { if (!hold) conn.answer(200, req.body, { "X-Result-Code": "ok" }); };
    const first = callError(client.executeCommand(signedRequest(device)));  // holds the only connection
    const second = await callError(client.executeCommand(signedRequest(device)));
    assert.equal(second.code, Code.Unavailable);
    assert.match(second.rawMessage, /^backend_unavailable/);
    hold = false;
    assert.equal((await first).code, Code.Unavailable);
  });
});
