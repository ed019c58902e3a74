#!/usr/bin/env bash
# `make serve-demo`: the served plugin (examples/serve-plugin, wasi:http +
# wasi:keyvalue only; or `make wasmcloud-demo`'s examples/wasmcloud-plugin)
# composed with the datawal component, under `wasmtime serve`, which makes
# a fresh instance per request, many at once, all on one store. The load
# generator (host-tests/src/bin/load.rs) sends C concurrent clients x R
# requests for C = 1, 4, 16, prints requests/s, p50 and p99, and checks the
# plugin's counters equal the acknowledged requests exactly.
# Usage: serve-demo.sh WASMTIME COMPOSED LOAD DATA_DIR [REQUESTS]
# With SERVE_DEMO_RESULTS=FILE the load lines also go to FILE (make bench).
# With SERVE_DEMO_PRELOAD=PRELOAD (host-tests' `preload` binary), the store
# is first filled natively with SERVE_DEMO_PRELOAD_KEYS keys (default 1 M;
# `make bench`'s second run, issue 28); its line goes to FILE first.
# SERVE_DEMO_CLIENTS lists the Cs (default "1 4 16"; `make bench`: 1 4 16
# 64). SERVE_DEMO_BUCKET names the plugin's bucket (default `served`, the serve
# plugin's; the wasmCloud-style plugin's is `wasmcloud`).
set -euo pipefail
wasmtime="$1" composed="$2" load="$3" data="$4" requests="${5:-1600}"
addr="127.0.0.1:${SERVE_DEMO_PORT:-8371}"
rm -rf "$data" && mkdir -p "$data"
results="${SERVE_DEMO_RESULTS:-/dev/null}"
bucket="${SERVE_DEMO_BUCKET:-served}"
: >"$results"
if [ -n "${SERVE_DEMO_PRELOAD:-}" ]; then
  "$SERVE_DEMO_PRELOAD" "$data/$bucket" "${SERVE_DEMO_PRELOAD_KEYS:-1000000}" | tee -a "$results"
fi
"$wasmtime" serve -S cli --dir "$data::." --addr "$addr" "$composed" >"$data.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
echo "serve-demo: wasmtime serve on $addr, store in $data/$bucket (server log: $data.log)"
for c in ${SERVE_DEMO_CLIENTS:-1 4 16}; do
  "$load" "$addr" "$c" $((requests / c)) | tee -a "$results"
done
