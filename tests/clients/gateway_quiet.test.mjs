// A subscription is never ended for being quiet: three SubscribeEvents streams (Connect
// over HTTP/2, Connect over HTTP/1.1, gRPC) on one gateway see nothing at all for six
// minutes, longer than any idle limit a server might have, and then still get an event.
// Long by design: the three wait side by side.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { EdgeGateway, cleanup, registerDevice, signedRequest, startBackend, startGateway, transports } from "./gateway_support.mjs";

const QUIET_MS = 6 * 60 * 1000;

let backend, gateway;
before(async () => {
  backend = await startBackend();
  gateway = await startGateway(backend.url, "memory", {}, backend.push);
});
after(cleanup);

const kinds = {
  "Connect h2": (g) => createConnectTransport({ baseUrl: g.edge, httpVersion: "2" }),
  "Connect HTTP/1.1": transports["Connect HTTP/1.1"],
  gRPC: transports.gRPC,
};

test("subscriptions stay open through six quiet minutes, then receive a pushed event", { timeout: QUIET_MS + 120000 }, async () => {
  const user = "quiet-user";
  const subs = await Promise.all(
    Object.entries(kinds).map(async ([name, transport]) => {
      const device = await registerDevice(gateway, user);
      const client = createClient(EdgeGateway, transport(gateway));
      const abort = new AbortController();
      const request = signedRequest(device, { type: "gateway.subscribe_events", payload: Buffer.alloc(0) });
      const events = client.subscribeEvents(request, { signal: abort.signal })[Symbol.asyncIterator]();
      assert.equal((await events.next()).value?.eventType, "gateway.subscribed", name);
      // One read, kept through the quiet time: it settles only when something happens.
      const sub = { name, abort, settled: null };
      sub.next = events.next().then(
        (r) => (sub.settled = { at: Date.now(), event: r.value, done: r.done }),
        (e) => (sub.settled = { at: Date.now(), error: e }),
      );
      return sub;
    }),
  );
  const started = Date.now();
  await new Promise((r) => setTimeout(r, QUIET_MS));
  for (const sub of subs)
    assert.equal(sub.settled, null, `${sub.name}: ended after ${(sub.settled?.at - started) / 1000} s of quiet: ${sub.settled?.error?.message ?? "end of stream"}`);

  const res = await fetch(`${backend.url}/api/v1/demo/push`, { method: "POST", body: JSON.stringify({ user_id: user, event_type: "after.quiet", payload: "still here" }) });
  assert.equal(res.status, 200);
  const timeout = new Promise((r) => setTimeout(r, 10000).unref());
  await Promise.race([Promise.all(subs.map((s) => s.next)), timeout]);
  for (const sub of subs) {
    assert.ok(sub.settled && !sub.settled.error && !sub.settled.done, `${sub.name}: ${sub.settled?.error?.message ?? "no event"}`);
    assert.equal(sub.settled.event.eventType, "after.quiet", sub.name);
    assert.equal(Buffer.from(sub.settled.event.payload).toString(), "still here", sub.name);
    sub.abort.abort();
  }
});
