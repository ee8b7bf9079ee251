"""Running off the end of a recording: LLDB's stop says how the program ended (the exit
status live wasmtime reports), and the process stays alive to go backwards."""

from __future__ import annotations

import pytest

from tests.support.cases import get_case, run_case_cli
from tests.support.live import live_case
from tests.support.lldb_session import LLDBSession, require_lldb
from tests.support.recording import record_case
from tests.support.serve import ttd_serve
from tests.support.wasmtime_cli import require_wasmtime


@pytest.mark.parametrize("name", ["exit3", "fib"])
def test_the_end_of_a_run_says_its_exit_status(tmp_path, name):
    require_lldb()
    require_wasmtime()
    case = get_case(name)
    status = run_case_cli(case).returncode  # what `wasmtime run` exits with
    assert status == case.expected_exit_code
    if status == 0:  # live, a program returning from _start is an exit LLDB reports (one
        # that calls proc_exit stops with SIGSEGV and the connection is lost)
        with live_case(case) as live, LLDBSession(case.wasm_path, live) as s:
            ended = s.cont()
        assert ended.state == "exited" and ended.exit_status == status
    trace = record_case(case, tmp_path / "t.db").trace
    with ttd_serve(trace) as srv, LLDBSession(case.wasm_path, srv.port) as s:
        stop = s.cont()
        assert stop.alive and stop.reason == "history_boundary", stop
        assert stop.description == (f"end of the recording: the program exited with status "
                                    f"{status}")
        assert f"stop reason = {stop.description}" in s.run_command("thread info")
        s.break_name("main")
        s.run_command("process continue -R")
        assert s.stop().function == "main"  # still a process: backwards from the end
