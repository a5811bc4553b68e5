#!/usr/bin/env bash
# `npm run demo`: installs whatever is missing, starts the local stack and the whole platform
# (`npm start`, one process), runs a short demo against it, then keeps the platform running until
# Ctrl-C. `npm run demo -- --exit` stops the platform after the demo instead.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/env.sh"
cd "$ROOT_DIR"
mkdir -p "$STACK_DIR/logs" "$STACK_DIR/run"

ensure_node_deps
bash scripts/stack.sh up

port="${PORT:-3000}"
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  die "port $port is already in use (an earlier demo still running?); stop it or set PORT"
fi
platform_log="$STACK_DIR/logs/platform.log"
log "starting the platform (npm start) on port $port; logs: $platform_log"
: >"$platform_log"
# The demo's own settings: a first admin, and webhooks to a receiver on loopback over plain http.
export ADMIN_EMAIL="${ADMIN_EMAIL:-admin@hookline.local}"
export ADMIN_PASSWORD="${ADMIN_PASSWORD:-hookline-demo-admin}"
export WEBHOOK_ALLOW_HTTP="${WEBHOOK_ALLOW_HTTP:-true}"
export WEBHOOK_ALLOWED_CIDRS="${WEBHOOK_ALLOWED_CIDRS:-127.0.0.0/8}"
# Every demo request comes from 127.0.0.1: room for many runs within one limit window.
export REGISTER_MAX_PER_IP="${REGISTER_MAX_PER_IP:-1000}"
export JWT_SECRET="${JWT_SECRET:-$(head -c 48 /dev/urandom | base64 | tr -d '\n/+=')}"
node --import tsx workers/all.ts >>"$platform_log" 2>&1 &
platform=$!
stop_platform() {
  kill -TERM "$platform" 2>/dev/null || true
  wait "$platform" 2>/dev/null || true
}
trap 'stop_platform; exit 130' INT TERM

deadline=$((SECONDS + 90))
until curl -fsS -m 2 "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do
  if ! kill -0 "$platform" 2>/dev/null; then tail -n 30 "$platform_log" >&2; die "the platform exited during start-up"; fi
  [ $SECONDS -ge $deadline ] && { tail -n 30 "$platform_log" >&2; stop_platform; die "the platform was not ready in 90s"; }
  sleep 0.5
done

PORT="$port" npx --no-install tsx scripts/demo.ts || { stop_platform; die "the demo failed"; }

if [ "${1:-}" = "--exit" ]; then
  stop_platform
  log "demo done; platform stopped (the stack keeps running: npm run stack:down)"
else
  log "demo done; the platform keeps running on http://127.0.0.1:$port (Ctrl-C stops it; npm run stack:down stops the stack)"
  wait "$platform"
fi
