"""A read watchpoint on a trace recorded without --reads: LLDB says only "Watchpoint creation
failed"; the server's terminal (LLDB's own under `ttd lldb`) says to record with --reads."""

from __future__ import annotations

from tests.support.cases import get_case
from tests.support.lldb_session import LLDBSession, require_lldb
from tests.support.recording import info_json, record_case
from tests.support.serve import ttd_serve


def test_read_watchpoint_without_reads_says_record_with_reads(tmp_path):
    require_lldb()
    trace = record_case(get_case("wild"), tmp_path / "t.db").trace
    assert info_json(trace)["steps"] > 0
    with ttd_serve(trace) as srv:
        with LLDBSession(get_case("wild").wasm_path, srv.port) as s:
            s.break_name("main")
            s.cont()
            out = s.run_command("watchpoint set expression -w read -s 4 -- 0x1000")
            assert "Watchpoint creation failed" in out, out
            written = s.run_command("watchpoint set expression -w write -s 4 -- 0x1000")
            assert "Watchpoint created" in written, written
    err = srv.proc.stderr.read()
    hints = [ln for ln in err.splitlines() if "record with `ttd record --reads`" in ln]
    assert len(hints) == 1 and hints[0].startswith("ttd: read watchpoint on 4 byte(s) at 0x1000 "), err
