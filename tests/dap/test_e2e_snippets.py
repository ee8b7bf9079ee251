"""Every launch configuration the VS Code extension offers (editors/vscode/package.json:
initialConfigurations and configurationSnippets) launches `ttd dap` as VS Code would fill it in."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.support.cases import get_case
from tests.support.dap_client import DAPClient

PACKAGE = Path(__file__).resolve().parents[2] / "editors" / "vscode" / "package.json"
DEBUGGER = json.loads(PACKAGE.read_text())["contributes"]["debuggers"][0]


def _fill(value, folder: Path):
    """What VS Code makes of a snippet value: `^"..."` strings unquoted, `${N:default}`
    placeholders at their default, `${workspaceFolder}` resolved."""
    if isinstance(value, dict):
        return {k: _fill(v, folder) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, folder) for v in value]
    if not isinstance(value, str):
        return value
    raw = value.startswith("^")  # `^"..."`: snippet text inserted as is, a JSON literal
    text = value[1:] if raw else value
    text = re.sub(r"(?<!\\)\$\{\d+:([^}]*)\}", r"\1", text).replace("\\$", "$")
    if raw:
        text = json.loads(text)
    return text.replace("${workspaceFolder}", str(folder))


CONFIGS = [("initial", DEBUGGER["initialConfigurations"][0])] + \
    [(s["label"], s["body"]) for s in DEBUGGER["configurationSnippets"]]


@pytest.mark.parametrize("label,config", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_offered_configuration_launches(dap_traces, tmp_path, label, config):
    post_mortem = config.get("stopAt") == "end"
    filled = _fill(config, tmp_path)
    assert "$" not in json.dumps(filled), filled
    if "trace" in filled:
        shutil.copy(dap_traces["trap" if post_mortem else "fib_arg"], filled["trace"])
    else:
        shutil.copy(get_case("fib").wasm_path, filled["program"])
    with DAPClient() as c:
        c.launch(**filled, stop_reason="exception" if post_mortem else "entry")
        assert c.stack(), "a stop has a stack"
        if post_mortem:
            assert c.where() == ("trap.c", 34)
    if "out" in filled:
        assert Path(filled["out"]).is_file()
