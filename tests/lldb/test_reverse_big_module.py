"""Source-level reverse steps in a big module (sqlite_driver.wasm: SQLite at -O2, one
compile unit of ~174,000 line-table entries): the moves retrace LLDB's forward ones and read
only the facts of the pcs they walk over, never a compile unit's whole line table."""

from __future__ import annotations

import sys

import pytest

from tests.support.cases import get_case
from tests.support.lldb_session import LLDBSession, require_lldb
from tests.support.recording import record
from tests.support.serve import ttd_serve


@pytest.fixture(scope="module")
def sqlite_trace(tmp_path_factory):
    require_lldb()
    case = get_case("sqlite_driver")
    # 5 orders: ~4.7 million steps, a few seconds to record
    rec = record(case.wasm_path.resolve(), tmp_path_factory.mktemp("sqlite") / "t.db", ["5"])
    assert rec.returncode == 0, rec.stderr
    return rec.trace


def _frames(s):
    return [(f.function, f.line, f.inlined, f.offset) for f in s.stop().frames]


@pytest.mark.parametrize("how,rev,n", [("next", "rn", 10), ("step", "rs", 10)])
def test_reverse_moves_in_sqlite_read_only_the_pcs_they_meet(sqlite_trace, monkeypatch,
                                                            how, rev, n):
    import lldb

    reads = []
    for name in ("GetLineEntryAtIndex", "GetNumLineEntries", "FindLineEntryIndex"):
        orig = getattr(lldb.SBCompileUnit, name)
        monkeypatch.setattr(lldb.SBCompileUnit, name,
                            lambda *a, _o=orig, _n=name: reads.append(_n) or _o(*a))
    with ttd_serve(sqlite_trace) as srv, \
            LLDBSession(get_case("sqlite_driver").wasm_path, srv.port) as s:
        assert "error" not in s.run_command("command script import ttd.lldb").lower()
        commands = sys.modules["ttd.lldb"]
        s.break_name("sqlite3VdbeExec")  # ~7,900 line entries of its own, 600 blocks
        for _ in range(3):
            s.cont()
        s.delete_all_breakpoints()
        forward = [_frames(s)]
        for _ in range(n):
            getattr(s, how)()
            forward.append(_frames(s))
        before = commands.STATS["pcs_resolved"]
        backward = []
        for _ in range(n):
            out = s.run_command(rev)
            assert "error" not in out.lower(), out
            backward.append(_frames(s))
        assert backward == forward[-2::-1]
        assert reads == []  # no compile unit's line table was walked
        assert commands.STATS["pcs_resolved"] - before < 1000
