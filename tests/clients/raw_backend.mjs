// A scriptable backend for the gateway's REST client, written at the byte level so a test
// can answer exactly as a careless or hostile backend would: interim 1xx answers, answers
// that run past their framing, closes at any point, session records with anything in them.
//
//   const backend = await startRawBackend();
//   backend.addSession({ id, userId, publicKey });       // what GET sessions/{id} returns
//   backend.onCommand = (req, conn) => conn.answer(200, payload, { "X-Result-Code": "ok" });
//   backend.requests   // every request received: { method, path, headers, body, conn }
import net from "node:net";

export function httpAnswer(status, body = "", headers = {}, reason = "OK") {
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body);
  let head = `HTTP/1.1 ${status} ${reason}\r\n`;
  const all = { "Content-Length": String(b.length), ...headers };
  for (const [k, v] of Object.entries(all)) if (v !== undefined) head += `${k}: ${v}\r\n`;
  return Buffer.concat([Buffer.from(head + "\r\n", "latin1"), b]);
}

export async function startRawBackend() {
  const backend = {
    sessions: new Map(),
    requests: [],
    connections: [],
    open: 0,
    maxOpen: 0,
    // Closes each connection this long after its last answer (0: never), without saying so.
    idleCloseMs: 0,
    // Headers added to every answer (e.g. { "Keep-Alive": "timeout=1" }).
    extraHeaders: {},
    // Delay before each answer, in ms.
    delayMs: 0,
    onSession: null,  // (req, conn, record) => boolean: true when it answered itself
    onCommand: (req, conn) => conn.answer(200, req.body, { "X-Result-Code": "ok" }),
    addSession({ id, userId, publicKey, status = "active", echoId = id }) {
      backend.sessions.set(id, { device_session_id: echoId, user_id: userId, status, public_key: publicKey });
    },
    commands(requestId) {
      return backend.requests.filter((r) => r.path.startsWith("/api/v1/internal/commands/") &&
        (requestId === undefined || r.headers["x-request-id"] === requestId));
    },
  };

  const server = net.createServer((socket) => {
    const conn = { id: backend.connections.length, socket, served: 0, closed: false, idleTimer: null };
    backend.connections.push(conn);
    backend.open++;
    backend.maxOpen = Math.max(backend.maxOpen, backend.open);
    socket.on("close", () => {
      conn.closed = true;
      backend.open--;
      clearTimeout(conn.idleTimer);
    });
    socket.on("error", () => {});
    conn.write = (bytes) => { if (!conn.closed) socket.write(bytes); };
    conn.answer = (status, body = "", headers = {}) => {
      const send = () => {
        conn.write(httpAnswer(status, body, { ...backend.extraHeaders, ...headers }));
        conn.served++;
        if (backend.idleCloseMs > 0) {
          clearTimeout(conn.idleTimer);
          conn.idleTimer = setTimeout(() => socket.destroy(), backend.idleCloseMs);
        }
      };
      if (backend.delayMs > 0) setTimeout(send, backend.delayMs);
      else send();
    };
    conn.destroy = () => socket.destroy();

    let buffered = Buffer.alloc(0);
    socket.on("data", (chunk) => {
      clearTimeout(conn.idleTimer);
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        const end = buffered.indexOf("\r\n\r\n");
        if (end < 0) return;
        const lines = buffered.subarray(0, end).toString("latin1").split("\r\n");
        const [method, path] = lines[0].split(" ");
        const headers = {};
        for (const line of lines.slice(1)) {
          const colon = line.indexOf(":");
          headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
        }
        const length = Number(headers["content-length"] ?? 0);
        if (buffered.length < end + 4 + length) return;
        const body = buffered.subarray(end + 4, end + 4 + length);
        buffered = buffered.subarray(end + 4 + length);
        const req = { method, path, headers, body, conn: conn.id, index: conn.served };
        backend.requests.push(req);
        handle(req, conn);
      }
    });
  });

  function handle(req, conn) {
    const m = /^\/api\/v1\/internal\/sessions\/(.+)$/.exec(req.path);
    if (m && req.method === "GET") {
      const record = backend.sessions.get(decodeURIComponent(m[1]));
      if (backend.onSession?.(req, conn, record)) return;
      if (!record) return conn.answer(404, '{"error":"not_found"}', { "Content-Type": "application/json" });
      return conn.answer(200, JSON.stringify(record), { "Content-Type": "application/json" });
    }
    if (req.path.startsWith("/api/v1/internal/commands/") && req.method === "POST") return backend.onCommand(req, conn);
    conn.answer(404, "not found");
  }

  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  backend.url = `http://127.0.0.1:${server.address().port}`;
  backend.close = () => new Promise((resolve) => {
    for (const c of backend.connections) c.socket.destroy();
    server.close(resolve);
  });
  return backend;
}
