// edgepipe-gateway on several workers, end to end: nothing a client or operator sees
// depends on how many there are. Each case spreads its calls over many connections (a
// transport each), which the kernel spreads over the workers' listeners.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import {
  EdgeGateway,
  cleanup,
  freePort,
  registerDevice,
  signedRequest,
  startBackend,
  startGateway,
} from "./gateway_support.mjs";

after(cleanup);

const settle = (p) => p.then((v) => ({ ok: true, v }), (e) => ({ ok: false, e: ConnectError.from(e) }));
// One client per connection: connect-node keeps one HTTP/2 session per transport.
const clients = (g, n) => Array.from({ length: n }, () => createClient(EdgeGateway, createGrpcTransport({ baseUrl: g.edge })));

async function scrape(g) {
  const text = await (await fetch(`${g.admin}/metrics`)).text();
  const sum = (name, labelPattern = /.*/) =>
    text
      .split("\n")
      .filter((l) => l.startsWith(name) && labelPattern.test(l))
      .reduce((acc, l) => acc + Number(l.split(" ").pop()), 0);
  return { text, sum };
}

async function subscribeAll(g, devices) {
  const subs = devices.map((device, i) => {
    const client = clients(g, 1)[0];
    const abort = new AbortController();
    const it = client
      .subscribeEvents(signedRequest(device, { type: "gateway.subscribe_events", payload: Buffer.alloc(0) }), { signal: abort.signal })
      [Symbol.asyncIterator]();
    return { device, abort, next: () => it.next(), index: i };
  });
  for (const s of subs) assert.equal((await s.next()).value.eventType, "gateway.subscribed");
  return subs;
}

for (const workers of [2, 4]) {
  describe(`EDGEPIPE_WORKERS=${workers}`, { concurrency: false }, () => {
    let backend, gateway;
    let executeCalls = 0;  // every ExecuteCommand this describe makes, for /metrics
    let subscribeCalls = 0;

    test("starts with that many workers and the push stream open", async () => {
      backend = await startBackend();
      const admin = `127.0.0.1:${await freePort()}`;
      gateway = await startGateway(backend.url, "memory", {
        EDGEPIPE_WORKERS: String(workers),
        EDGEPIPE_ADMIN_ADDR: admin,
        EDGEPIPE_SESSION_RATE: "0.5",
        EDGEPIPE_SESSION_BURST: "40",
        EDGEPIPE_PUBLIC_RATE: "1000",  // registrations: dozens of devices
        EDGEPIPE_PUBLIC_BURST: "1000",
      }, backend.push);
      gateway.admin = `http://${admin}`;
      assert.ok(gateway.log.some((l) => l.includes(`${workers} workers`)), gateway.log.join("\n"));
      for (let i = 0; (await fetch(`${gateway.public}/readyz`)).status !== 200; i++) {
        assert.ok(i < 100, "ready");
        await new Promise((r) => setTimeout(r, 100));
      }
    });

    test("50 copies of one request over 50 connections execute once", async () => {
      const device = await registerDevice(gateway, `replay-${workers}`);
      const req = signedRequest(device, { type: "user.echo" });
      const results = await Promise.all(clients(gateway, 50).map((c) => settle(c.executeCommand(req))));
      executeCalls += 50;
      const ok = results.filter((r) => r.ok);
      assert.equal(ok.length, 1, "exactly one copy executes");
      for (const r of results.filter((r) => !r.ok)) {
        assert.equal(r.e.code, Code.AlreadyExists, r.e.message);
        assert.match(r.e.rawMessage, /^replayed_request/);
      }
    });

    test("a session burst of 40 over 16 connections gives 40 successes", async () => {
      const device = await registerDevice(gateway, `burst-${workers}`);
      const cs = clients(gateway, 16);
      const calls = Array.from({ length: 64 }, (_, i) => settle(cs[i % 16].executeCommand(signedRequest(device))));
      const results = await Promise.all(calls);
      executeCalls += 64;
      const ok = results.filter((r) => r.ok).length;
      // The refill (0.5/s) may add one token while the 64 calls run.
      assert.ok(ok >= 40 && ok <= 41, `${ok} successes`);
      for (const r of results.filter((r) => !r.ok)) {
        assert.equal(r.e.code, Code.ResourceExhausted, r.e.message);
        assert.match(r.e.rawMessage, /^rate_limited/);
      }
    });

    test("one pushed event reaches 16 subscriptions on 16 connections; one user-wide revocation ends them all within 1 s", async () => {
      const user = `fan-${workers}`;
      const devices = [];
      for (let i = 0; i < 16; i++) devices.push(await registerDevice(gateway, user));
      const subs = await subscribeAll(gateway, devices);
      subscribeCalls += 16;

      await fetch(`${backend.url}/api/v1/demo/push`, { method: "POST", body: JSON.stringify({ user_id: user, event_type: "to.all", payload: "x" }) });
      for (const s of subs) assert.equal((await s.next()).value.eventType, "to.all", `subscription ${s.index}`);

      const started = Date.now();
      const revoked = await fetch(`${backend.url}/api/v1/demo/revoke`, { method: "POST", body: JSON.stringify({ user_id: user }) });
      assert.equal(revoked.status, 200);
      const ends = await Promise.all(subs.map((s) => s.next().then(() => assert.fail(`subscription ${s.index} goes on`), (e) => ConnectError.from(e))));
      const took = Date.now() - started;
      assert.ok(took < 1000, `all ended after ${took} ms`);
      for (const e of ends) {
        assert.equal(e.code, Code.Unauthenticated);
        assert.match(e.rawMessage, /^session_revoked/);
      }
      const { sum } = await scrape(gateway);
      assert.equal(sum("edgepipe_push_events_total", /kind="session_invalidation",result="delivered"/), 1, "one invalidation, counted once");
      assert.equal(sum("edgepipe_push_events_total", /kind="client_event",result="delivered"/), 1, "one event, counted once");
    });

    test("/metrics counts every worker's calls", async () => {
      const device = await registerDevice(gateway, `metrics-${workers}`);
      const cs = clients(gateway, 8);
      const results = await Promise.all(cs.map((c) => settle(c.executeCommand(signedRequest(device)))));
      executeCalls += 8;
      assert.ok(results.every((r) => r.ok));
      const { sum } = await scrape(gateway);
      assert.equal(sum("edgepipe_requests_total", /ExecuteCommand/), executeCalls);
      assert.equal(sum("edgepipe_requests_total", /SubscribeEvents/), subscribeCalls);
      assert.equal(sum("edgepipe_replay_reservations_total", /result="replayed"/), 49);
      assert.equal(sum("edgepipe_subscriptions_active"), 0);
    });

    test("SIGTERM drains every worker: 16 streams end with draining, exit 0", async () => {
      const devices = [];
      for (let i = 0; i < 16; i++) devices.push(await registerDevice(gateway, `drain-${workers}`));
      const subs = await subscribeAll(gateway, devices);
      const { sum } = await scrape(gateway);
      assert.equal(sum("edgepipe_subscriptions_active"), 16, "/metrics sees the subscriptions of every worker");
      const exited = new Promise((resolve) => gateway.child.once("exit", (code) => resolve(code)));
      gateway.child.kill("SIGTERM");
      const ends = await Promise.all(subs.map((s) => s.next().then(() => assert.fail("goes on"), (e) => ConnectError.from(e))));
      for (const e of ends) {
        assert.equal(e.code, Code.Unavailable);
        assert.match(e.rawMessage, /^draining/);
      }
      assert.equal(await exited, 0);
    });
  });
}
