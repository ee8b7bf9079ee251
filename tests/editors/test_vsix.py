"""The VS Code extension builds into a .vsix (scripts/build_vsix.sh, @vscode/vsce) holding the
`ttd` debug type, its launch schema and snippets, and a factory that starts `ttd dap`."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.support.dap_client import REQUIRE_ENV

ROOT = Path(__file__).resolve().parents[2]
EXT = ROOT / "editors" / "vscode"
# The launch arguments `ttd dap` reads (README, "Debugging in VS Code").
LAUNCH_KEYS = {"trace", "stopAt", "stopOnEntry", "sourceMap", "program", "args", "env", "dirs", "stdin", "out"}


@pytest.fixture(scope="module")
def vsix() -> Path:
    import os
    import shutil
    if shutil.which("npm") is None or shutil.which("node") is None:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"node/npm missing ({REQUIRE_ENV}=1)")
        pytest.skip("node/npm missing")
    p = subprocess.run(["bash", str(ROOT / "scripts" / "build_vsix.sh")], capture_output=True,
                       text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    out = Path(p.stdout.strip().splitlines()[-1])
    version = json.loads((EXT / "package.json").read_text())["version"]
    assert out == ROOT / "dist" / f"ttd-{version}.vsix"
    assert out.is_file()
    return out


def test_vsix_contributes_the_ttd_debug_type(vsix):
    with zipfile.ZipFile(vsix) as z:
        names = z.namelist()
        pkg = json.loads(z.read("extension/package.json"))
        assert b"function activate" in z.read("extension/extension.js")
    assert {"extension/package.json", "extension/extension.js", "extension.vsixmanifest",
            "extension/LICENSE.txt", "extension/readme.md"} <= set(names)
    # no node_modules, lockfile or nested package: the extension has no runtime dependency
    assert not [n for n in names if "node_modules" in n or n.endswith((".vsix", "-lock.json"))]
    assert sum(z.file_size for z in zipfile.ZipFile(vsix).infolist()) < 100_000
    assert pkg["license"] == "MIT" and pkg["engines"]["vscode"]
    assert pkg["main"] == "./extension.js"
    assert "onDebugResolve:ttd" in pkg["activationEvents"]
    setting = pkg["contributes"]["configuration"]["properties"]["ttd.path"]
    assert setting["default"] == "ttd" and setting["type"] == "string"

    (dbg,) = pkg["contributes"]["debuggers"]
    assert dbg["type"] == "ttd" and dbg["label"]
    props = dbg["configurationAttributes"]["launch"]["properties"]
    assert set(props) == LAUNCH_KEYS
    assert all(p.get("description") for p in props.values())
    assert props["stopAt"]["anyOf"][0]["enum"] == ["start", "end"]
    assert props["stopAt"]["anyOf"][1]["type"] == "integer"

    labels = [s["label"] for s in dbg["configurationSnippets"]]
    assert labels == ["ttd: debug a trace", "ttd: post-mortem (stop at end)",
                      "ttd: record and debug a program"]
    bodies = {s["label"]: s["body"] for s in dbg["configurationSnippets"]}
    for body in bodies.values():
        assert body["type"] == "ttd" and body["request"] == "launch"
        assert set(body) - {"type", "request", "name"} <= LAUNCH_KEYS
    assert bodies["ttd: post-mortem (stop at end)"]["stopAt"] == "end"
    assert "program" in bodies["ttd: record and debug a program"]
    assert "trace" not in bodies["ttd: record and debug a program"]
    (initial,) = dbg["initialConfigurations"]
    assert initial["type"] == "ttd" and "trace" in initial


# Load the packaged extension.js under node with a stand-in `vscode` module and ask its factory
# for the adapter: VS Code would run exactly this command.
FACTORY_PROBE = r"""
const Module = require('module');
const registered = {};
let setting;
const vscode = {
  DebugAdapterExecutable: class { constructor(command, args) { this.command = command; this.args = args; } },
  workspace: { getConfiguration: (s) => ({ get: (k) => (s === 'ttd' && k === 'path') ? setting : undefined }) },
  debug: { registerDebugAdapterDescriptorFactory: (type, f) => { registered[type] = f; return { dispose() {} }; } },
};
const load = Module._load;
Module._load = function (request, ...rest) { return request === 'vscode' ? vscode : load.call(this, request, ...rest); };
const ext = require(process.argv[1]);
const context = { subscriptions: [] };
ext.activate(context);
const out = [];
for (const s of [undefined, '/opt/venv/bin/ttd']) {
  setting = s;
  const d = registered.ttd.createDebugAdapterDescriptor({}, undefined);
  out.push({ command: d.command, args: d.args, isExecutable: d instanceof vscode.DebugAdapterExecutable });
}
console.log(JSON.stringify({ types: Object.keys(registered), subscriptions: context.subscriptions.length, out }));
"""


def test_packaged_factory_starts_ttd_dap(vsix, tmp_path):
    with zipfile.ZipFile(vsix) as z:
        z.extract("extension/extension.js", tmp_path)
    p = subprocess.run(["node", "-e", FACTORY_PROBE, str(tmp_path / "extension" / "extension.js")],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    assert got["types"] == ["ttd"] and got["subscriptions"] == 1
    assert got["out"] == [
        {"command": "ttd", "args": ["dap"], "isExecutable": True},
        {"command": "/opt/venv/bin/ttd", "args": ["dap"], "isExecutable": True},
    ]
