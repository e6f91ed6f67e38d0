#!/usr/bin/env bash
# The OpenAPI document tells the truth (issue 12): schemathesis, from PyPI
# in a virtual environment under target/, fuzzes every /api/v1 operation of
# a live gancho (the debug build, on a fresh SQLite file) from its own
# /api/v1/openapi.json and fails on any answer the document does not list,
# any body that does not fit its schema, and any 5xx but the 503 a
# deactivated inbound URL answers by design (schemathesis.toml).
#   bash tests/openapi/schemathesis.sh [path/to/gancho]
set -euo pipefail
cd "$(dirname "$0")/../.."
bin="${1:-target/debug/gancho}"
venv=target/schemathesis-venv
if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==4.32.5"
fi
dir="$(mktemp -d)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
token="schemathesis-$(date +%s)-token"
GANCHO_DATABASE_URL="sqlite://$dir/gancho.db" GANCHO_LISTEN="127.0.0.1:$port" \
  GANCHO_ADMIN_TOKEN="$token" GANCHO_PUBLIC_URL="http://127.0.0.1:$port" \
  "$bin" serve >"$dir/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 200); do
  curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
"$venv/bin/schemathesis" --config-file tests/openapi/schemathesis.toml \
  run "http://127.0.0.1:$port/api/v1/openapi.json" \
  --url "http://127.0.0.1:$port" \
  -H "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,response_schema_conformance \
  --phases examples,coverage,fuzzing \
  --max-examples 20 \
  --no-color
