"""At a breakpoint hit, `ttd dap` shows the frames and variables LLDB's `bt` and `frame variable`
show on the same trace served by `ttd serve` (LLDB 23's wasm plugin is the reference)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.dap.conftest import src
from tests.support.cases import get_case
from tests.support.dap_client import DAPClient
from tests.support.lldb_session import LLDBSession, require_lldb
from tests.support.serve import ttd_serve

HITS = 4


def _number(text: str) -> int | None:
    """An integer or pointer value as LLDB or a DAP client shows it, else None."""
    text = text.strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    m = re.fullmatch(r"(?:\([^)]*\)\s*)?(0x[0-9a-fA-F]+)", text)
    return int(m.group(1), 16) if m else None


def _lldb_hits(trace: Path, line: int) -> list[list[tuple]]:
    out = []
    with ttd_serve(trace) as srv, LLDBSession(get_case("fib_arg").wasm_path, srv.port) as s:
        s.break_line("fib.c", line)
        for _ in range(HITS):
            stop = s.cont()
            assert stop.reason == "breakpoint", stop
            frames = []
            for i, f in enumerate(stop.frames):
                # a frame without line information: LLDB has no line, DAP says line 0
                frames.append((f.function, Path(f.file).name if f.file else None,
                               f.line or 0, s.variables(i)))
            out.append(frames)
    return out


def _dap_hits(trace: Path, line: int) -> list[list[tuple]]:
    out = []
    with DAPClient() as c:
        c.launch(trace=str(trace), stopAt="start", breakpoints={src("fib.c"): [line]},
                 stop_reason="entry")
        for _ in range(HITS):
            ev = c.stopped_after("continue")
            assert ev["body"]["reason"] == "breakpoint", ev
            frames = []
            for f in c.stack():
                path = (f.get("source") or {}).get("path")
                frames.append((f["name"], Path(path).name if path else None, f.get("line"),
                               c.all_variables(f["id"])))
            out.append(frames)
    return out


@pytest.fixture(scope="module")
def both(dap_traces):
    require_lldb()
    trace = dap_traces["fib_arg"]
    return _lldb_hits(trace, 18), _dap_hits(trace, 18)


def test_frames_match_lldb_bt(both):
    lldb_hits, dap_hits = both
    for lf, df in zip(lldb_hits, dap_hits):
        assert [(fn, file, line) for fn, file, line, _v in df] == \
            [(fn, file, line) for fn, file, line, _v in lf]
    # the hits are fib(12), fib(11), ... recursing: one more fib frame each time
    assert [sum(1 for f in h if f[0] == "fib") for h in dap_hits] == [1, 2, 3, 4]


def test_variables_match_lldb_frame_variable(both):
    lldb_hits, dap_hits = both
    compared = 0
    for lf, df in zip(lldb_hits, dap_hits):
        for (fn, _file, _line, lv), (_fn, _f, _l, dv) in zip(lf, df):
            if fn not in ("fib", "main"):
                continue
            assert set(dv) == set(lv), (fn, dv, lv)
            for name, value in lv.items():
                want = _number(value)
                if want is not None:
                    assert _number(dv[name]) == want, (fn, name, dv[name], value)
                    compared += 1
    assert compared >= 4 * 3  # n, a, b in every fib frame at least
    assert [h[0][3]["n"] for h in dap_hits] == ["12", "11", "10", "9"]
