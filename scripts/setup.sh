#!/usr/bin/env bash
# Create .venv (once) and install ttd with its test dependencies into it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install --quiet -e '.[test]'
# The DAP tests drive `ttd dap` with VS Code's own client under node (tests/dap/client), and the
# VS Code extension is packaged with @vscode/vsce (editors/vscode): their npm packages, if npm is here.
if command -v npm >/dev/null 2>&1; then
  for d in tests/dap/client editors/vscode; do
    if [ -f "$d/package-lock.json" ]; then
      (cd "$d" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    fi
  done
fi
