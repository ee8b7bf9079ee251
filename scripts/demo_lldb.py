"""Drive a real LLDB session against `ttd serve`, printing what a user would see.

    python scripts/demo_lldb.py PORT FUNCTION
"""

from __future__ import annotations

import sys

import lldb


def run(ci, cmd: str) -> None:
    ret = lldb.SBCommandReturnObject()
    ci.HandleCommand(cmd, ret)
    print(f"(lldb) {cmd}")
    text = (ret.GetOutput() or "") + (ret.GetError() or "")
    print(text.rstrip())


def main() -> int:
    port, func = int(sys.argv[1]), sys.argv[2]
    lldb.SBDebugger.Initialize()
    dbg = lldb.SBDebugger.Create(False)
    dbg.SetAsync(False)
    ci = dbg.GetCommandInterpreter()
    for cmd in (f"process connect --plugin wasm connect://127.0.0.1:{port}",
                f"breakpoint set -n {func}", "continue", "continue", "bt", "frame variable",
                "process continue -R", "frame variable", "process continue -F",
                "frame variable"):
        run(ci, cmd)
    run(ci, "process detach")
    lldb.SBDebugger.Destroy(dbg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
