"""A post-mortem served from a capture's last segment behaves as the whole history does.

The same moves are made on a target over the segment (whose whole history arrives only when
a move waits for it) and on a target over the fully expanded trace: every stop, call stack,
local and memory read must be the same, before and after the segment's start.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.recording import capture_and_expanded_copy
from ttd.gdb.target import Resume, code_addr
from ttd.record.post_mortem import open_post_mortem
from ttd.replay.session import ReplaySession
from ttd.replay.trace import HistoryNotExpanded, Trace
from ttd.server.replay_target import ReplayTarget, Unexpanded
from ttd.store.errors import TraceError
from ttd.store.trace_store import TraceStore

ROOT = Path(__file__).resolve().parents[2]
PROGRAMS = ROOT / "tests" / "programs"


class _Whole:
    """The whole history, handed over only to a caller that waits for it."""

    def __init__(self, trace: Trace):
        self.trace = trace
        self.waited = 0

    def __call__(self, wait: bool):
        if wait:
            self.waited += 1
            return self.trace
        return None


@pytest.fixture(scope="module", params=[("trap", [], 64), ("bench_trap", ["3000"], 256)],
                ids=lambda p: p[0])
def traces(request, tmp_path_factory):
    name, args, blocks = request.param
    tmp = tmp_path_factory.mktemp(name)
    cap, full = capture_and_expanded_copy(PROGRAMS / f"{name}.wasm", tmp, args, chunk_blocks=blocks)
    seg, whole = open_post_mortem(cap, tmp, quiet=True)
    whole.close()  # the test hands the whole history over itself
    full_trace = Trace(TraceStore.open(full))
    yield seg, full_trace
    seg.store.close()
    full_trace.store.close()


def _state(t: ReplayTarget) -> tuple:
    stack = t.call_stack()
    local = [t.read_local(f, i) for f in range(len(stack)) for i in range(3)]
    return t.stop_event(), stack, local, t.read_memory(1 << 10, 64)


def _pair(traces, at: int):
    seg, full = traces
    whole = _Whole(Trace(TraceStore.open(full.store.path)))
    return (ReplayTarget(ReplaySession(seg, at), whole), ReplayTarget(ReplaySession(full, at)),
            whole)


def test_the_segment_is_the_tail_served_at_the_trap(traces):
    seg, full = traces
    assert seg.is_segment and 0 < seg.first_step < full.total_steps
    assert seg.total_steps == full.total_steps
    a, b, _ = _pair(traces, full.total_steps - 1)
    assert _state(a) == _state(b)


@pytest.mark.parametrize("action", [Resume.REVERSE_STEP, Resume.REVERSE_CONTINUE])
def test_moving_back_past_the_segment_waits_for_the_whole_history(traces, action):
    seg, full = traces
    a, b, whole = _pair(traces, seg.first_step + 2)
    for _ in range(5):  # back across the segment's first step, then on in the whole history
        assert a.resume(action) == b.resume(action)
        assert _state(a) == _state(b)
    assert whole.waited == 1 and not a.session.trace.is_segment


def test_a_breakpoint_search_back_from_the_trap_matches(traces):
    seg, full = traces
    a, b, whole = _pair(traces, full.total_steps - 1)
    # a breakpoint on every function's first instruction: hits on both sides of the start
    entries = sorted({blk.pcs[0] for blk in full.schedule.blocks if blk.pcs})[:40]
    for t in (a, b):
        for pc in entries:
            t.add_breakpoint(code_addr(pc))
    after = 0  # hits found in the whole history
    while after < 10 and b.session.cursor.step > 0:
        ea, eb = a.resume(Resume.REVERSE_CONTINUE), b.resume(Resume.REVERSE_CONTINUE)
        assert ea == eb and _state(a) == _state(b)
        after += not a.session.trace.is_segment
    assert whole.waited == 1
    for _ in range(20):  # and forwards again, over the whole history now
        assert a.resume(Resume.CONTINUE) == b.resume(Resume.CONTINUE)
        assert _state(a) == _state(b)


def test_monitor_moves_cross_the_segment_start(traces):
    seg, full = traces
    a, b, whole = _pair(traces, full.total_steps - 1)
    assert a.monitor("goto 0") == b.monitor("goto 0")
    assert a.resume(Resume.CONTINUE) == b.resume(Resume.CONTINUE)
    assert _state(a) == _state(b) and whole.waited == 1


def test_without_the_whole_history_a_move_back_is_an_error_not_a_crash(traces):
    seg, full = traces
    t = ReplayTarget(ReplaySession(seg, seg.first_step))
    with pytest.raises(Unexpanded, match="not expanded"):
        t.resume(Resume.REVERSE_STEP)
    assert t.session.cursor.step == seg.first_step  # still where it was, and still usable
    assert t.resume(Resume.STEP).pc == code_addr(t.session.cursor.pc)
    with pytest.raises(HistoryNotExpanded):
        seg.chunk(seg.first_seq - 1)


def test_a_failed_whole_expansion_leaves_the_segment_served(traces):
    """The background expansion failed: moves within the segment go on, a move back past it
    is an error saying why, and the session stays where it was."""
    seg, full = traces

    def failed(wait: bool):
        raise TraceError("expanding the whole history failed (status 1)")

    t = ReplayTarget(ReplaySession(seg, seg.first_step + 1), failed)
    assert t.resume(Resume.STEP).pc == code_addr(t.session.cursor.pc)
    here = t.session.cursor.step
    t.monitor("goto 0")  # staged: the continue that follows makes the move
    with pytest.raises(Unexpanded, match="failed"):
        t.resume(Resume.CONTINUE)
    assert t.session.cursor.step == here and t.call_stack()
