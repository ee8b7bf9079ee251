#!/usr/bin/env bash
# Set up, record the bundled example (a recursive C program with DWARF), show what the trace
# holds, verify it, then serve it and debug it with LLDB: forwards, and backwards.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
TTD=.venv/bin/ttd
mkdir -p traces
TRACE=traces/demo-fib.db
$TTD record --force --out "$TRACE" tests/programs/fib.wasm -- 12
$TTD info "$TRACE"
$TTD verify "$TRACE"

# Serve the trace on a free loopback port and connect LLDB to it.
LOG=$(mktemp)
$TTD serve --port 0 "$TRACE" > "$LOG" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; rm -f "$LOG"' EXIT
for _ in $(seq 100); do grep -q "connect://" "$LOG" && break; sleep 0.1; done
cat "$LOG"
PORT=$(sed -n 's/.*connect:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$LOG" | head -1)
echo
echo "An LLDB session against it (lldb tests/programs/fib.wasm, then the line above):"
.venv/bin/python scripts/demo_lldb.py "$PORT" fib
