#!/usr/bin/env bash
# edgepipe-load against a real gateway (demo backend, in-process replay store): every call
# it sends is accounted for and succeeds, over gRPC and Connect, and every subscriber of a
# fan-out receives the pushed event. Keeps bench/run honest; measures nothing.
set -euo pipefail
build=$1
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
rest=127.0.0.1:$(port) push=127.0.0.1:$(port) public=127.0.0.1:$(port) edge=127.0.0.1:$(port)
openssl genpkey -algorithm ed25519 -out "$work/gateway.pem" 2>/dev/null
"$build/reference/edgepipe-demo-backend" --rest-addr "$rest" --push-addr "$push" >"$work/backend.log" 2>&1 &
pids+=($!)
EDGEPIPE_BACKEND_URL=http://$rest EDGEPIPE_BACKEND_PUSH_ADDR=$push EDGEPIPE_REDIS_URL=memory \
  EDGEPIPE_SIGNER_KEY_FILE=$work/gateway.pem EDGEPIPE_PUBLIC_ADDR=$public EDGEPIPE_EDGE_ADDR=$edge \
  EDGEPIPE_SESSION_RATE=100000 EDGEPIPE_SESSION_BURST=100000 EDGEPIPE_USER_RATE=100000 EDGEPIPE_USER_BURST=100000 \
  "$build/reference/edgepipe-gateway" >"$work/gateway.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://$public/readyz" >/dev/null 2>&1 && break; sleep 0.1; done

load="$build/bench/edgepipe-load"
check() {  # check JSON PYTHON-EXPRESSION MESSAGE
  python3 -c "import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if eval(sys.argv[2]) else 1)" "$1" "$2" ||
    { echo "bench load test: $3: $1" >&2; exit 1; }
}
for protocol in grpc connect; do
  out=$("$load" calls --edge "$edge" --public "http://$public" --protocol "$protocol" --requests 400 \
    --connections 2 --streams 8 --sessions 2)
  check "$out" 'd["requests"] == 400 and d["ok"] == 400 and d["outcomes"] == {"ok": 400}' "$protocol: every call succeeds"
  check "$out" 'd["latency_ms"]["p50"] <= d["latency_ms"]["p99"] <= d["latency_ms"]["max"]' "$protocol: percentiles in order"
done
out=$("$load" fanout --edge "$edge" --public "http://$public" --push "http://$rest" --subscribers 120 --events 2 | tail -1)
check "$out" 'd["subscriptions"] == 120 and all(e["reached"] == 120 for e in d["events"])' "every subscriber gets every event"
echo "bench load test: calls and fan-out accounted for"
