"""The memory view, watch expressions and the disassembly view through `ttd dap` show what LLDB
shows on the same trace served by `ttd serve` (wild.wasm, stopped in main at wild.c:39)."""

from __future__ import annotations

import base64
import re

import pytest

from tests.dap.conftest import src
from tests.support.cases import get_case
from tests.support.dap_client import DAPClient
from tests.support.lldb_session import LLDBSession, require_lldb
from tests.support.serve import ttd_serve


@pytest.fixture(scope="module")
def stopped(dap_traces):
    """(DAP client, LLDB session), both stopped at the first hit of wild.c:39."""
    require_lldb()
    trace = dap_traces["wild"]
    with DAPClient() as c, ttd_serve(trace) as srv, \
            LLDBSession(get_case("wild").wasm_path, srv.port) as s:
        c.launch(trace=str(trace), breakpoints={src("wild.c"): [39]}, stop_reason="entry")
        assert c.stopped_after("continue")["body"]["reason"] == "breakpoint"
        s.break_line("wild.c", 39)
        assert s.cont().reason == "breakpoint"
        yield c, s


def _stats(c: DAPClient) -> dict:
    frame = c.stack(1)[0]["id"]
    (v,) = [v for sc in c.scopes(frame) for v in c.children(sc["variablesReference"])
            if v["name"] == "stats"]
    return v


def test_read_memory_matches_lldb(stopped):
    c, s = stopped
    ref = _stats(c)["memoryReference"]
    body = c.request("readMemory", {"memoryReference": ref, "count": 40})
    data = base64.b64decode(body["data"])
    assert int(body["address"], 16) == int(ref, 16) and len(data) == 40
    assert data == s.read_memory(int(ref, 16), 40)
    # samples[] are the scaled values, then total (clobbered: 360 * 3) and count
    words = [int.from_bytes(data[i:i + 4], "little", signed=True) for i in range(0, 40, 4)]
    assert words == [30, 60, 90, 120, 150, 180, 210, 240, 1080, 8]
    body = c.request("readMemory", {"memoryReference": ref, "offset": 32, "count": 4})
    assert base64.b64decode(body["data"]) == data[32:36]


def test_watch_expression_matches_lldb(stopped):
    c, s = stopped
    frame = c.stack(1)[0]["id"]
    got = c.request("evaluate", {"expression": "stats.total * 2 + 1", "frameId": frame,
                                 "context": "watch"})
    out = s.run_command("expression -- stats.total * 2 + 1")
    want = re.search(r"= (-?\d+)", out)
    assert want, out
    assert got["result"] == want.group(1) == "2161"


def test_disassembly_matches_lldb_and_points_at_the_source(stopped):
    c, s = stopped
    top = c.stack(1)[0]
    pc = top["instructionPointerReference"]
    body = c.request("disassemble", {"memoryReference": pc, "instructionCount": 4})
    ins = body["instructions"]
    assert int(ins[0]["address"], 16) == int(pc, 16)
    lldb_text = s.run_command(f"disassemble -s {int(pc, 16):#x} -c 4")
    for i in ins:
        assert i["instruction"] in lldb_text, (i, lldb_text)
    assert ins[0]["line"] == 39
    # the disassembly view opens the source it names: the same path the stack shows
    assert ins[0]["location"]["path"] == top["source"]["path"]
