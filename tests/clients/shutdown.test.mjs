// Graceful shutdown: SIGTERM stops accepting and sends GOAWAY; a call in flight
// completes; a stream still open at the drain timeout ends with unavailable; exit 0.
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { requireEnv, startServer, stopServer, testServiceRegistry } from "./support.mjs";

const service = testServiceRegistry().getService("edgepipe.test.v1.TestService");

test("SIGTERM drains: calls finish, streams end with draining, exit status 0", { timeout: 30000 }, async () => {
  const server = await startServer(requireEnv("EDGEPIPE_TEST_SERVER"), ["--drain-ms", "1500"]);
  const client = createClient(service, createGrpcTransport({ baseUrl: `http://127.0.0.1:${server.port}` }));

  const seen = [];
  const stream = (async () => {
    try {
      for await (const m of client.endless({ text: "e", delayMs: 50 })) seen.push(m.index);
      return "ended without error";
    } catch (e) {
      return ConnectError.from(e);
    }
  })();
  while (seen.length < 2) await new Promise((r) => setTimeout(r, 10));
  const slow = client.sleep({ text: "slow", delayMs: 600 });
  // Let the call reach the server: one sent after the GOAWAY is refused, rightly.
  await new Promise((r) => setTimeout(r, 150));

  const exited = stopServer(server); // SIGTERM
  await new Promise((r) => setTimeout(r, 100));
  const refused = await new Promise((resolve) => {
    const s = net.connect(server.port, "127.0.0.1");
    s.on("connect", () => { s.destroy(); resolve(false); });
    s.on("error", () => resolve(true));
  });
  assert.ok(refused, "no new connections once draining");

  assert.equal((await slow).text, "slow", "the call in flight completes");
  const err = await stream;
  assert.ok(err instanceof ConnectError, String(err));
  assert.equal(err.code, Code.Unavailable);
  assert.match(err.rawMessage, /^draining/);
  assert.equal(await exited, 0);
});
