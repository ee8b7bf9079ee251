"""A session that meets a damaged chunk fails that move and stays exactly where it was.

A seek reuses the memory buffers of the state it leaves, and stepping changes the state in
place; a ReplayError half way must not leave the debugger looking at a mixture. Checked
against a fresh session on the same trace at the same step.
"""

from __future__ import annotations

import shutil
import sqlite3

import pytest

from tests.fuzz.mutators import fix_checksums
from ttd.replay.machine import ReplayError
from ttd.replay.session import ReplaySession
from ttd.replay.trace import Trace
from ttd.store import codec
from ttd.store.trace_store import TraceStore

BAD = 5  # the chunk whose recorded values are all 0xff: every store lands outside memory


@pytest.fixture(scope="module")
def damaged(seed_traces, tmp_path_factory):
    path = tmp_path_factory.mktemp("damaged") / "fib.db"
    shutil.copyfile(seed_traces["fib"], path)
    conn = sqlite3.connect(str(path), isolation_level=None)
    vals = codec.decompress(conn.execute("SELECT vals FROM chunks WHERE seq=?", (BAD,)).fetchone()[0],
                            1 << 30)
    conn.execute("UPDATE chunks SET vals=? WHERE seq=?", (codec.compress(b"\xff" * len(vals)), BAD))
    fix_checksums(conn)
    conn.close()
    store = TraceStore.open(path)
    yield Trace(store)
    store.close()


def _state(s: ReplaySession):
    st = s.cursor.st
    return (s.cursor.step, s.cursor.pc, [bytes(m) for m in st.memories], list(st.globals),
            [(f.func, list(f.locals), f.pc, f.ret_pc) for f in st.frames])


def _fresh(trace: Trace, step: int):
    return _state(ReplaySession(trace, step))


def test_a_failed_seek_leaves_the_session_where_it_was(damaged):
    first = damaged.chunks[BAD][1]
    s = ReplaySession(damaged, damaged.chunks[2][1] + 100)
    before = _state(s)
    for target in (first + damaged.chunks[BAD][2] - 5, first + 2000):
        with pytest.raises(ReplayError):
            s.goto(target)
        assert _state(s) == before
    s.step_forward()
    assert _state(s) == _fresh(damaged, before[0] + 1)


def test_a_failed_step_leaves_the_session_at_the_last_good_step(damaged):
    s = ReplaySession(damaged, damaged.chunks[BAD][1])
    with pytest.raises(ReplayError):
        for _ in range(damaged.chunks[BAD][2]):
            s.step_forward()
    assert _state(s) == _fresh(damaged, s.cursor.step)
    s.step_backward()
    assert _state(s) == _fresh(damaged, s.cursor.step)
