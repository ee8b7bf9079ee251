"""Watchpoint searches against the trace's memory walked step by step, in both directions.

For a "modify" watch the truth needs nothing of the search: the watched bytes at every step.
Forward, a hit is the first step k at or after the start whose instruction changes them, and
the stop is k + 1; backward, the last such k before the start, and the stop is k (the state
before the write, as rr shows it).
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from tests.support.cases import get_case
from tests.support.recording import record_case


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    return {name: record_case(get_case(name), tmp_path_factory.mktemp(name) / "t.db").trace
            for name in ("wild", "trap")}


def _open(path):
    from ttd.replay.session import ReplaySession
    from ttd.replay.trace import Trace
    from ttd.store.trace_store import TraceStore

    return ReplaySession(Trace(TraceStore.open(path)))


def _ranges(s, cur, rng, n):
    """Some 4-byte words, there from the start, that the program writes more than once
    (chosen with the write index; the truth below does not use it)."""
    counts: dict[int, int] = {}
    for seq in range(len(s.trace.chunks)):
        w = s.writes.writes(seq)
        for a in (w.addr[w.size <= 8] & ~3).tolist():
            counts[a] = counts.get(a, 0) + 1
    many = sorted(a for a, c in counts.items() if c > 2 and cur.read_memory(a, 4) is not None)
    return rng.sample(many, min(n, len(many)))


@pytest.mark.parametrize("name", ["wild", "trap"])
def test_modify_watch_search_matches_the_memory_walk(traces, name):
    from ttd.replay.cursor import Cursor
    from ttd.replay.session import Why

    s = _open(traces[name])
    rng = random.Random(15)
    cur = Cursor(s.trace)
    addrs = _ranges(s, cur, rng, 3)
    assert addrs
    vals = np.zeros((s.total, len(addrs)), dtype=np.uint32)
    for step in range(s.total):
        cur.seek(step)
        vals[step] = [int.from_bytes(cur.read_memory(a, 4), "little") for a in addrs]
    last = s.total - 1
    for i, a in enumerate(addrs):
        changed = np.flatnonzero(vals[1:, i] != vals[:-1, i])  # k: step k changes the word
        change_set = set(changed.tolist())
        s.add_watchpoint(a, 4)
        for start in sorted(rng.sample(range(s.total), 15)) + [0, last]:
            fwd = changed[changed >= start]
            back = changed[changed < start]
            want_f = int(fwd[0]) + 1 if fwd.size and fwd[0] < last else None
            want_b = int(back[-1]) if back.size else None
            got_f = s.find_watch(start, forward=True, modify=True)
            got_b = s.find_watch(start, forward=False, modify=True)
            assert (got_f and got_f[0]) == want_f, (a, start)
            assert (got_b and got_b[0]) == want_b, (a, start)
            # a single step reports exactly the change it makes or undoes
            s.goto(start)
            stop = s.step_forward()
            assert (stop.why is Why.WATCHPOINT) == (start < last and start in change_set)
            s.goto(start)
            stop = s.step_backward()
            assert (stop.why is Why.WATCHPOINT) == (start > 0 and start - 1 in change_set)
        s.remove_watchpoint(a, 4)


def test_a_write_watch_stops_at_every_write_both_ways(traces):
    """Write ("watch") watchpoints stop at every write, changing or not: forward right after
    it, backward on it; from either stop the other direction finds the same write."""
    from ttd.replay.session import Why

    s = _open(traces["wild"])
    addr = 0xFFFFF0  # stats.total (see tests/programs/src/wild.c)
    writes = [int(x) for seq in range(len(s.trace.chunks))
              for x in s.writes.writes(seq).step[s.writes.writes(seq).overlapping(addr, addr + 4)]]
    assert len(writes) >= 10
    s.add_watchpoint(addr, 4)
    s.goto(0)
    fwd = []
    while (stop := s.continue_forward()).why is Why.WATCHPOINT:
        fwd.append(stop.step)
    assert fwd == [k + 1 for k in writes if k + 1 < s.total]
    back = []
    while (stop := s.continue_backward()).why is Why.WATCHPOINT:
        back.append(stop.step)
        assert s.find_watch(stop.step, forward=True)[0] == stop.step + 1
    assert back == [k for k in reversed(writes) if k + 1 < s.total]
    assert stop.why is Why.BEGIN


def test_staged_moves_stop_before_a_watched_write(traces):
    """ttd.lldb's moves (monitor commands): back over a write, rc with LLDB's kinds (a modify
    watchpoint passes the zeroing of `stats`, a write one stops there), a goto that lands on
    another value; a crafted list is refused and stages nothing."""
    from ttd.replay.session import Why
    from ttd.server.monitor import run_monitor

    s = _open(traces["wild"])
    total = 0xFFFFF0  # stats.total: written at steps 60 (0 over 0), 132, 204, ...
    s.add_watchpoint(total, 4)
    modify, write = f"--watch=m:{total:x}:4", f"--watch=w:{total:x}:4"

    def move(command):
        assert not run_monitor(s, command).startswith("error")
        return s.take_pending()

    s.goto(205)
    assert (stop := move(f"ttd rsi 3 {modify}")).why is Why.WATCHPOINT and stop.step == 204
    assert (stop := move(f"ttd rc {modify}")).why is Why.WATCHPOINT and stop.step == 132
    assert move(f"ttd rc {modify}").why is Why.BEGIN
    s.goto(132)
    assert (stop := move(f"ttd rc {write}")).why is Why.WATCHPOINT and stop.step == 60
    assert (stop := move(f"ttd rsi 2 {write}")).why is Why.STEP and stop.step == 58
    s.goto(133)
    assert move(f"ttd goto 134 {modify}").why is Why.STEP  # the same value: a plain jump
    assert (stop := move(f"ttd goto 300 {modify}")).why is Why.WATCHPOINT and stop.step == 300
    assert move(f"ttd rc {modify}").step == 276  # the write of 60, before it
    for crafted in ("m:-1:4", "q:0:4", "m:0", "m:0:0", ",".join(["w:0:4"] * 65)):
        assert run_monitor(s, f"ttd rc --watch={crafted}").startswith("error")
        assert s.pending is None
