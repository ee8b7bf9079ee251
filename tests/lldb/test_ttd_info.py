"""`ttd info` inside LLDB prints what `ttd info TRACE` prints on the command line."""

from __future__ import annotations

from tests.support.cases import get_case
from tests.support.lldb_session import LLDBSession, require_lldb
from tests.support.recording import record_case, ttd
from tests.support.serve import ttd_serve


def test_ttd_info_in_lldb_is_the_command_line_text(tmp_path):
    require_lldb()
    trace = record_case(get_case("envargs"), tmp_path / "t.db").trace
    cli = ttd("info", str(trace))
    assert cli.returncode == 0, cli.stderr.decode()
    with ttd_serve(trace) as srv, LLDBSession(get_case("envargs").wasm_path, srv.port) as s:
        assert "error" not in s.run_command("command script import ttd.lldb").lower()
        shown = s.run_command("ttd info")
    assert "args:      one 'two words'" in shown
    assert shown.strip() == cli.stdout.decode().strip()
