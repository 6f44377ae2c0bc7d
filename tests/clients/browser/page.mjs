// Runs in headless Chromium, served from another origin than the RPC server: calls the
// test service with @connectrpc/connect-web over Connect and gRPC-Web, then posts what
// happened back to the page server.
import { createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";

const params = new URLSearchParams(location.search);
const baseUrl = params.get("rpc");

async function run() {
  const bytes = new Uint8Array(await (await fetch("/descriptors.binpb")).arrayBuffer());
  const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, bytes));
  const service = registry.getService("edgepipe.test.v1.TestService");
  const errorInfo = registry.getMessage("edgepipe.test.v1.ErrorInfo");
  const results = {};
  const transports = {
    connect_binary: createConnectTransport({ baseUrl }),
    connect_json: createConnectTransport({ baseUrl, useBinaryFormat: false }),
    grpc_web_binary: createGrpcWebTransport({ baseUrl }),
    grpc_web_json: createGrpcWebTransport({ baseUrl, useBinaryFormat: false }),
  };
  for (const [name, transport] of Object.entries(transports)) {
    const client = createClient(service, transport);
    const r = {};
    try {
      r.unary = (await client.echo({ text: `from the browser via ${name}` })).text;
      const indexes = [];
      for await (const m of client.serverStream({ text: "s", count: 5, delayMs: 20 })) indexes.push(m.index);
      r.stream = indexes;
      try {
        await client.fail({ code: "permission_denied", detail: "browser detail" });
        r.error = "no error";
      } catch (e) {
        const err = ConnectError.from(e);
        r.error = { code: Code[err.code], message: err.rawMessage, detail: err.findDetails(errorInfo)[0]?.reason };
      }
    } catch (e) {
      r.failure = String(e);
    }
    results[name] = r;
  }
  return results;
}

run()
  .then((results) => fetch("/result", { method: "POST", body: JSON.stringify(results) }))
  .catch((e) => fetch("/result", { method: "POST", body: JSON.stringify({ failure: String(e) }) }));
