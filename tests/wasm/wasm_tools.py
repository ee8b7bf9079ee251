"""Helpers that compare our decoder with ``wasm-tools print --print-offsets``.

wasm-tools is an independent, well-tested decoder, so agreeing with it on
every instruction offset and name is strong evidence the opcode table and
immediate readers are right. Tests skip when it is not installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

_LINE = re.compile(r"^\(;@([0-9a-f]+)\s*;\)(\s*)(.*)$")


def wasm_tools_path() -> str | None:
    """Locate wasm-tools next to the running interpreter or on PATH."""
    cand = Path(sys.executable).with_name("wasm-tools")
    if cand.exists() and os.access(cand, os.X_OK):
        return str(cand)
    return shutil.which("wasm-tools")


def reference_offsets(wasm: bytes, tool: str) -> dict[int, list[tuple[int, str]]]:
    """Map body_start (first byte after the size LEB) -> [(instruction offset, name)] as wasm-tools sees them.

    The function's final ``end`` is printed as a closing ")" at its offset; it
    is reported here as "end".
    """
    with tempfile.NamedTemporaryFile(suffix=".wasm", delete=False) as f:
        f.write(wasm)
        path = f.name
    try:
        out = subprocess.run(
            [tool, "print", "--print-offsets", path], check=True, capture_output=True, text=True
        ).stdout
    finally:
        os.unlink(path)
    funcs: dict[int, list[tuple[int, str]]] = {}
    cur: list[tuple[int, str]] | None = None
    for line in out.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        off = int(m.group(1), 16)
        indent = len(m.group(2))
        text = m.group(3)
        if cur is None:
            if indent == 2 and text.startswith("(func "):
                cur = funcs.setdefault(off, [])
            continue
        if indent == 2 and text == ")":
            cur.append((off, "end"))
            cur = None
            continue
        if text.startswith("("):  # (local ...) declarations
            continue
        cur.append((off, text.split()[0]))
    return funcs
