"""Hypothesis: valid-looking gdb-remote conversations with a real replay never raise.

tests/gdb/test_fuzz.py fuzzes the sans-I/O protocol against a FakeTarget. Here the target is
a ReplayTarget over a real trace: random sequences of the packets LLDB sends (memory reads
anywhere, breakpoints and watchpoints of every kind at random addresses, resumes both ways,
qWasm* queries with random frames and indices, monitor commands with random arguments).
Every reply must be well-formed, every resume must answer with a stop, and the target must
never raise: on a sound trace an exception is a bug, whatever the debugger asked.
Derandomized, so the same examples run every time.
"""

from __future__ import annotations

import logging
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.gdb.wire import check_output, frame
from ttd.gdb.parse import parse_resume
from ttd.gdb.protocol import GdbConnection
from ttd.gdb.target import code_addr

SCALE = float(os.environ.get("TTD_FUZZ_SCALE", "1"))
CODE = 1 << 62
GLOBAL = 2 << 62


@pytest.fixture(scope="module")
def trace(seed_traces):
    from ttd.replay.trace import Trace
    from ttd.store.trace_store import TraceStore

    store = TraceStore.open(seed_traces["fib"])
    yield Trace(store)
    store.close()


def _hex(n: int) -> bytes:
    return b"%x" % n


@st.composite
def address(draw, wasm_len: int = 1 << 20) -> int:
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return CODE | draw(st.integers(0, wasm_len + 16))
    if kind == 1:
        return draw(st.integers(0, 1 << 24))  # linear memory
    if kind == 2:
        return draw(st.sampled_from([0, 0xFFFFFFFF, CODE | 0xFFFFFFFF, GLOBAL | 4,
                                     (1 << 64) - 1, CODE | (5 << 32) | 3, 1 << 32]))
    if kind == 3:
        return CODE | draw(st.integers(0, 0x6000))  # where fib's code is
    return draw(st.integers(0, (1 << 64) - 1))


@st.composite
def pc_facts(draw) -> str:
    """`pcs` facts as LLDB's commands send them, and damaged ones."""
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        chain = "".join(f"{draw(st.integers(-1, 5))}{draw(st.sampled_from('+-x'))}"
                        for _ in range(draw(st.integers(0, 3))))
        parts.append(f"{draw(st.integers(0, 0x6000)):x}:{draw(st.integers(-1, 50))}:"
                     f"{draw(st.sampled_from(['0', '1', '2', '3', '', 'z']))}:{chain}")
    blocks = ",".join(f"{draw(st.integers(-1, 5))}:{draw(st.integers(-1, 50))}"
                      for _ in range(draw(st.integers(0, 2))))
    return ",".join(parts) + (" " + blocks if blocks else "")


@st.composite
def monitor(draw) -> bytes:
    n = draw(st.one_of(st.integers(-5, 50_000), st.sampled_from([2**63, -(2**63), 10**30])))
    cmd = draw(st.sampled_from([
        "when", "info", "help", "goto start", "goto end", f"goto {n}", f"goto +{abs(n)}",
        f"goto -{abs(n)}", f"rsi {n}", "rsi", "rfinish", "rc", f"last-write {n} 4",
        f"last-write 0x{abs(n):x} {n}", "goto", "rsi x", "frobnicate", "goto 1e5", "'",
    ]))
    if draw(st.booleans()):
        nums = " ".join(str(draw(st.integers(-2, 6))) for _ in range(draw(st.integers(0, 6))))
        cmd = draw(st.sampled_from(["rnext", "rstep", "rfinish"])) + " " + nums
    elif draw(st.booleans()):
        cmd = "pcs " + draw(pc_facts())
    return b"qRcmd," + cmd.encode().hex().encode()


@st.composite
def packet(draw) -> bytes:
    kind = draw(st.integers(0, 13))
    if kind == 0:
        return b"m%s,%s" % (_hex(draw(address())), _hex(draw(st.integers(0, 0x2000))))
    if kind == 1:
        return b"M%s,4:00000000" % _hex(draw(address()))
    if kind in (2, 3):
        z = b"Z" if kind == 2 else b"z"
        return z + b"%d,%s,%s" % (draw(st.integers(0, 5)), _hex(draw(address())),
                                  _hex(draw(st.integers(0, 64))))
    if kind == 4:
        return draw(st.sampled_from([b"c", b"s", b"bc", b"bs", b"vCont;c", b"vCont;s:1",
                                     b"vCont;s", b"vCont;c:-1", b"C05", b"S05"]))
    if kind == 5:
        return b"%s:%d;%d" % (draw(st.sampled_from([b"qWasmLocal", b"qWasmGlobal",
                                                    b"qWasmStackValue"])),
                              draw(st.integers(0, 40)), draw(st.integers(0, 70)))
    if kind == 6:
        return b"qWasmCallStack:1"
    if kind == 7:
        return b"qMemoryRegionInfo:%s" % _hex(draw(address()))
    if kind == 8:
        return b"qXfer:%s:read::%s,%s" % (draw(st.sampled_from([b"libraries", b"memory-map"])),
                                          _hex(draw(st.integers(0, 5000))),
                                          _hex(draw(st.integers(0, 0x10000))))
    if kind == 9:
        return draw(st.sampled_from([b"?", b"g", b"p0", b"p1", b"qThreadStopInfo1", b"qC",
                                     b"qWatchpointSupportInfo"]))
    return draw(monitor())


SETTINGS = settings(max_examples=round(250 * SCALE), deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


class _Errors(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        if record.exc_info:
            self.records.append(record)


@SETTINGS
@given(st.lists(packet(), min_size=1, max_size=14), st.integers(0, 40_000))
def test_random_conversations_with_a_real_replay(trace, packets, at):
    from ttd.replay.session import ReplaySession
    from ttd.server.replay_target import ReplayTarget

    errors = _Errors()
    log = logging.getLogger("ttd")
    log.addHandler(errors)
    try:
        target = ReplayTarget(ReplaySession(trace, min(at, trace.total_steps - 1)))
        conn = GdbConnection(target)
        conn.feed(frame(b"QStartNoAckMode"))
        for p in packets:
            replies = check_output(conn.feed(frame(p)))
            if p.startswith(b"qRcmd,"):
                assert replies and replies[-1] in (b"OK", b"E02"), (p, replies)
                assert all(r.startswith(b"O") for r in replies[:-1]), (p, replies)
            elif parse_resume(p) is not None:
                assert len(replies) == 1 and replies[0].startswith(b"T05thread:1;"), (p, replies)
            else:
                assert len(replies) == 1, (p, replies)
            cur = target.session.cursor
            assert 0 <= cur.step < trace.total_steps
            assert target.call_stack()[0] == code_addr(cur.pc)
        assert not errors.records, [
            (r.getMessage(), repr(r.exc_info[1])) for r in errors.records]
    finally:
        log.removeHandler(errors)
