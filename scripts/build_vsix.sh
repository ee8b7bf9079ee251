#!/usr/bin/env bash
# Package the VS Code extension (editors/vscode) into dist/ttd-<version>.vsix with @vscode/vsce.
# Needs node and npm; installs the pinned vsce from editors/vscode/package-lock.json if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
ext=editors/vscode
if ! command -v npm >/dev/null 2>&1; then
  echo "build_vsix: npm not found (install node and npm, e.g. apt-get install nodejs npm)" >&2
  exit 1
fi
if [ ! -x "$ext/node_modules/.bin/vsce" ]; then
  (cd "$ext" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
version=$(node -p "require('./$ext/package.json').version")
mkdir -p dist
out="$root/dist/ttd-$version.vsix"
(cd "$ext" && ./node_modules/.bin/vsce package --allow-missing-repository --out "$out" >/dev/null)
echo "$out"
