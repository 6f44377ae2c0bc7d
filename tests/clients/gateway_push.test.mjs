// The push adapter notices a backend that stops answering, end to end: the demo backend
// is stopped (SIGSTOP) under a live push stream, the gateway turns not ready within the
// documented bound (a PING every 15 s, 5 s for its answer), and once the backend runs
// again the stream is reopened, the gateway is ready, and a pushed event reaches a
// subscription that stayed open throughout.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createClient } from "@connectrpc/connect";
import {
  EdgeGateway,
  cleanup,
  readyzUntil,
  registerDevice,
  signedRequest,
  startBackend,
  startGateway,
  transports,
} from "./gateway_support.mjs";

after(cleanup);

describe("push stream liveness", () => {
  test("a stopped backend: /readyz 503 within 15 s + 5 s, then ready again and events flow after SIGCONT", { timeout: 120000 }, async () => {
    const backend = await startBackend();
    const g = await startGateway(backend.url, "memory", {}, backend.push);
    assert.equal((await readyzUntil(g, 200, 10000)).status, 200, "ready once the push stream is open");

    const device = await registerDevice(g, "push-liveness");
    const abort = new AbortController();
    const req = signedRequest(device, { type: "gateway.subscribe_events", payload: Buffer.alloc(0) });
    const events = createClient(EdgeGateway, transports.gRPC(g)).subscribeEvents(req, { signal: abort.signal })[Symbol.asyncIterator]();
    assert.equal((await events.next()).value.eventType, "gateway.subscribed");

    const stopped = Date.now();
    backend.child.kill("SIGSTOP");
    let down;
    try {
      // The bound: the next PING within 15 s, its answer awaited 5 s (and a poll's slack).
      down = await readyzUntil(g, 503, 15000 + 5000 + 1500);
    } finally {
      backend.child.kill("SIGCONT");
    }
    assert.equal(down.status, 503, "not ready while the backend does not answer");
    assert.equal(down.body.push_stream, "closed");
    assert.ok(Date.now() - stopped <= 15000 + 5000 + 1500, "within the documented bound");

    // Reopened with the backoff (at most 5 s between tries once it has grown).
    assert.equal((await readyzUntil(g, 200, 15000)).status, 200, "ready again once the backend answers");
    await fetch(`${backend.url}/api/v1/demo/push`, {
      method: "POST",
      body: JSON.stringify({ user_id: device.user, event_type: "after.recovery", payload: "back" }),
    });
    const pushed = (await events.next()).value;
    assert.equal(pushed.eventType, "after.recovery");
    assert.equal(Buffer.from(pushed.payload).toString(), "back");
    abort.abort();
    g.child.kill("SIGTERM");
    backend.child.kill("SIGTERM");
  });
});
