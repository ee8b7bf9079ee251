"""`ttd lldb` (server + LLDB in one command) and ttd as LLDB's wasm platform runtime."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cases import get_case
from tests.support.lldb_session import require_lldb
from tests.support.recording import TTD, record_case


@pytest.fixture(scope="module")
def trace(tmp_path_factory):
    require_lldb()
    return record_case(get_case("fib_arg"), tmp_path_factory.mktemp("fib") / "t.db").trace


def test_ttd_lldb_starts_a_connected_lldb_with_the_commands(trace):
    lldb_bin = Path(sys.executable).with_name("lldb")
    if not lldb_bin.exists():
        pytest.skip("no lldb console script next to this Python")
    cmds = ["breakpoint set -n fib", "continue", "continue", "rc", "frame variable n", "ttd when"]
    args = [x for c in cmds for x in ("-o", c)]
    p = subprocess.run([*TTD, "lldb", str(trace), "--", "--batch", *args],
                       capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    out = p.stdout
    assert "fib(n=11)" in out and out.rindex("(int) n = 12") > out.index("fib(n=11)"), out[-2000:]
    assert "step " in out and " of " in out


def test_ttd_as_the_lldb_wasm_platform_runtime(trace):
    import lldb

    ttd_bin = Path(sys.executable).with_name("ttd")
    if not ttd_bin.exists():
        pytest.skip("ttd is not installed as a console script here")
    dbg = lldb.SBDebugger.Create(False)
    dbg.SetAsync(False)
    ci = dbg.GetCommandInterpreter()

    def run(cmd: str) -> str:
        ret = lldb.SBCommandReturnObject()
        ci.HandleCommand(cmd, ret)
        return (ret.GetOutput() or "") + (ret.GetError() or "")

    try:
        run("platform select wasm")
        run(f"settings set platform.plugin.wasm.runtime-path {ttd_bin}")
        run(f"settings set -- platform.plugin.wasm.runtime-args runtime --trace {trace}")
        run("settings set -- platform.plugin.wasm.port-arg --port=")
        run(f"target create {get_case('fib_arg').wasm_path}")
        run("command script import ttd.lldb")
        run("breakpoint set -n fib")
        out = run("process launch -- 12")
        assert "fib(n=12)" in out, out
        assert "fib(n=11)" in run("continue")
        assert "fib(n=12)" in run("rc")
        run("process kill")
    finally:
        lldb.SBDebugger.Destroy(dbg)
