#!/usr/bin/env bash
# The README's main job, run once on free ports: it must walk through the whole story.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
out=$(EDGEPIPE_DEMO_ONCE=1 EDGEPIPE_BUILD_DIR="$1" \
  EDGEPIPE_DEMO_PUBLIC=127.0.0.1:$(port) EDGEPIPE_DEMO_EDGE=127.0.0.1:$(port) \
  EDGEPIPE_DEMO_BACKEND=127.0.0.1:$(port) EDGEPIPE_DEMO_PUSH=127.0.0.1:$(port) \
  timeout 120 "$root/scripts/demo" 2>&1)
echo "$out"
expect() {
  if ! grep -qF -- "$1" <<<"$out"; then
    echo "demo test: the output lacks: $1" >&2
    exit 1
  fi
}
expect '"result_code":"ok","verified":true'
expect '"result_code":"joined","verified":true'
expect '{"code":"not_found","message":"route_not_found"}'
expect '{"code":"unauthenticated","message":"signature_invalid"}'
expect '"event_type":"gateway.subscribed","payload":"","verified":true'
expect '"event_type":"chat.message"'
expect '"event_type":"lobby.joined"'
expect '{"stream_ended":{"error":{"code":"unauthenticated","message":"session_revoked"}}}'
expect 'Press Ctrl-C to stop.'
echo "demo test: the main job ran end to end"
