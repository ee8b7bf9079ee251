#!/usr/bin/env bash
# Set up, then record the bundled example (a recursive C program with DWARF), show what the
# trace holds, and check it replays to the exact final state.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
TTD=.venv/bin/ttd
mkdir -p traces
TRACE=traces/demo-fib.db
$TTD record --force --out "$TRACE" tests/programs/fib.wasm -- 12
$TTD info "$TRACE"
$TTD verify "$TRACE"
