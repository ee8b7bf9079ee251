"""Breakpoint searches and stepping agree with walking every step, in both directions."""

from __future__ import annotations

import random

import pytest

from tests.support.cases import get_case
from tests.support.recording import record_case


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    out = {}
    for name in ("fib_arg", "trap", "heap"):
        out[name] = record_case(get_case(name), tmp_path_factory.mktemp(name) / "t.db").trace
    return out


def _open(path, at=0):
    from ttd.replay.session import ReplaySession
    from ttd.replay.trace import Trace
    from ttd.store.trace_store import TraceStore

    return ReplaySession(Trace(TraceStore.open(path)), at)


def _all_pcs(session) -> list[int]:
    cur = session.cursor
    pcs = []
    for step in range(session.total):
        cur.seek(step)
        pcs.append(cur.pc)
    return pcs


@pytest.mark.parametrize("name", ["fib_arg", "heap", "trap"])
def test_search_matches_brute_force(traces, name):
    s = _open(traces[name])
    pcs = _all_pcs(s)
    rng = random.Random(7)
    executed = sorted(set(pcs))
    for _ in range(25):
        bps = set(rng.sample(executed, rng.randint(1, 4)))
        for pc in bps:
            s.add_breakpoint(pc)
        for _ in range(6):
            start = rng.randrange(len(pcs))
            fwd = next((i for i in range(start + 1, len(pcs)) if pcs[i] in bps), None)
            back = next((i for i in range(start - 1, -1, -1) if pcs[i] in bps), None)
            assert s.find_breakpoint(start, forward=True) == fwd
            assert s.find_breakpoint(start, forward=False) == back
        for pc in bps:
            assert s.remove_breakpoint(pc)
    assert not s.active


def test_continue_both_ways_visits_every_hit(traces):
    from ttd.replay.session import Why

    s = _open(traces["fib_arg"])
    pcs = _all_pcs(s)
    fib = s.trace.schedule.funcs[next(i for i, f in s.trace.schedule.funcs.items() if f.name == "fib")]
    s.add_breakpoint(fib.start)
    hits = [i for i, pc in enumerate(pcs) if pc == fib.start]
    s.goto(0)
    seen = []
    while True:
        stop = s.continue_forward()
        if stop.why is not Why.BREAKPOINT:
            break
        seen.append(stop.step)
    assert seen == hits and stop.why is Why.END and stop.step == s.total - 1
    back = []
    while True:
        stop = s.continue_backward()
        if stop.why is not Why.BREAKPOINT:
            break
        back.append(stop.step)
    assert back == hits[::-1] and stop.why is Why.BEGIN and stop.step == 0


def test_slip_forward_and_refcounts(traces):
    s = _open(traces["fib_arg"])
    fib = next(f for f in s.trace.schedule.funcs.values() if f.name == "fib")
    body_start = fib.start - 3  # inside the locals declaration: not an opcode
    assert s.slip(body_start) == fib.start
    assert s.add_breakpoint(body_start) == fib.start
    assert s.add_breakpoint(fib.start) == fib.start
    assert s.remove_breakpoint(body_start)
    assert fib.start in s.active  # the other request still wants it
    assert not s.remove_breakpoint(body_start)  # already gone
    assert s.remove_breakpoint(fib.start)
    assert not s.active


def test_trap_is_the_last_step_and_steps_retrace(traces):
    from ttd.replay.session import Why

    s = _open(traces["trap"], at=0)
    assert s.continue_forward().why is Why.TRAP
    end = s.cursor.step
    assert end == s.total - 1
    stacks = []
    for _ in range(300):
        stacks.append((s.cursor.step, tuple(s.cursor.call_stack())))
        s.step_backward()
    assert s.cursor.step == end - 300
    for step, stack in reversed(stacks):
        s.step_forward()
        assert s.cursor.step == step and tuple(s.cursor.call_stack()) == stack
    assert s.step_forward().why is Why.TRAP  # at the end: stays on the trapping step
