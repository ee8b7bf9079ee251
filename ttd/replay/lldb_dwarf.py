"""What the module's DWARF says, read with LLDB's Python module (when it is installed).

`ttd query` shows source lines and accepts the function names LLDB shows; LLDB already reads
the DWARF of a wasm module, so ttd asks it rather than parsing DWARF itself. Replay and the
recorder never need it: without LLDB, queries answer without lines and DWARF names.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Iterator

CODE = 0x4000000000000000  # LLDB's address of module 0's code, at file offset 0


@contextlib.contextmanager
def lldb_target(wasm: bytes) -> Iterator[object | None]:
    """An LLDB target for the module, loaded at CODE; None without LLDB or a usable module."""
    try:
        import lldb
    except ImportError:
        yield None
        return
    with tempfile.NamedTemporaryFile(suffix=".wasm", delete=False) as f:
        f.write(wasm)
        path = f.name
    dbg = lldb.SBDebugger.Create(False)
    try:
        target = dbg.CreateTarget(path)
        if not target.IsValid() or not target.GetNumModules():
            yield None
            return
        target.SetModuleLoadAddress(target.GetModuleAtIndex(0), CODE)
        yield target
    finally:
        lldb.SBDebugger.Destroy(dbg)
        os.unlink(path)


def source_line(target, pc: int) -> str | None:
    """file:line of the instruction at file offset pc."""
    le = target.ResolveLoadAddress(CODE | pc).GetLineEntry()
    return f"{le.GetFileSpec().GetFilename()}:{le.GetLine()}" if le.IsValid() and le.GetLine() else None


def function_names(target, pc: int) -> list[str]:
    """The names LLDB gives the DWARF function at file offset pc (none without DWARF)."""
    f = target.ResolveLoadAddress(CODE | pc).GetFunction()
    if not f.IsValid():
        return []
    return [n for n in dict.fromkeys((f.GetDisplayName(), f.GetName())) if n]
