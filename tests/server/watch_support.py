"""Ground truth for watchpoint tests, and an LLDB session that reads what LLDB prints at a
watchpoint hit.

The truth comes from walking every step of a trace with a cursor (pc, opcode at the pc, the
watched bytes): nothing of the server's watchpoint search (the write index, the stop rules)
is used. Positions follow rr's rule: going forward a hit stops right after the access (step
k + 1), going backward on it (step k, the state before it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

STORES = frozenset(range(0x36, 0x3F))  # i32.store .. i64.store32
LOADS = frozenset(range(0x28, 0x36))  # i32.load .. i64.load32_u


@dataclass(frozen=True)
class Walk:
    pcs: list[int]
    ops: list[int]  # opcode byte at each step's pc
    values: list[bytes]  # the watched bytes before each step

    @property
    def total(self) -> int:
        return len(self.pcs)

    def value(self, step: int) -> int:
        return int.from_bytes(self.values[step], "little")


def walk(trace: Path, addr: int, size: int) -> Walk:
    from ttd.replay.cursor import Cursor
    from ttd.replay.trace import Trace
    from ttd.store.trace_store import TraceStore

    t = Trace(TraceStore.open(trace))
    wasm = bytes(t.wasm)
    cur = Cursor(t)
    pcs, ops, values = [], [], []
    for step in range(t.total_steps):
        cur.seek(step)
        pcs.append(cur.pc)
        ops.append(wasm[cur.pc])
        values.append(cur.read_memory(addr, size))
    return Walk(pcs, ops, values)


def changes(w: Walk) -> list[int]:
    """Steps whose instruction changed the watched bytes (what a "modify" watchpoint sees)."""
    return [k for k in range(w.total - 1) if w.values[k + 1] != w.values[k]]


@dataclass(frozen=True)
class Hit:
    step: int
    pc: int
    reason: str
    printed: tuple[int, int] | None  # (old, new) LLDB printed, None if nothing


_NUM = r"(0x[0-9a-f]+|-?\d+)"  # pointers, ints
_HIT = re.compile(rf"Watchpoint \d+ hit:\n(?:\s*old value: {_NUM}\n)?\s*new value: {_NUM}")


class Watching:
    """An LLDBSession whose output (where LLDB prints watchpoint hits) goes to a file."""

    def __init__(self, session, out: Path):
        import lldb

        self.s = session
        self.f = open(out, "w+")
        session.debugger.SetOutputFile(lldb.SBFile.Create(self.f, borrow=True))
        self.seen = 0
        session.run_command("command script import ttd.lldb")

    def close(self) -> None:
        self.f.close()

    def output(self) -> str:
        self.f.flush()
        self.f.seek(self.seen)
        text = self.f.read()
        self.seen = self.f.tell()
        return text

    def step(self) -> int:
        m = re.search(r"step (\d+) of", self.s.run_command("ttd when"))
        assert m
        return int(m.group(1))

    def do(self, command: str) -> Hit:
        """Run a command that moves; where it stopped and what LLDB printed of the hit."""
        self.output()
        out = self.s.run_command(command)
        printed = self.output()
        found = _HIT.findall(printed + out)
        assert len(found) <= 1, printed + out  # one hit a move: LLDB passed none silently
        stop = self.s.stop()
        values = None
        if found:
            old, new = found[0]
            values = (int(old, 0) if old else None, int(new, 0))
        return Hit(self.step(), stop.offset, stop.reason, values)


def expected_forward(w: Walk, events: list[int], start: int, printed: bool) -> list[Hit]:
    """Continuing forward from `start` through `events` (access steps): the stop after each
    one, with old value before it and new value after it."""
    out = []
    for k in events:
        if k >= start and k + 1 < w.total:
            vals = (w.value(k), w.value(k + 1)) if printed else None
            out.append(Hit(k + 1, w.pcs[k + 1], "watchpoint", vals))
    return out


def expected_backward(w: Walk, events: list[int], start: int, printed: bool) -> list[Hit]:
    """Continuing backward from `start`: a stop on each access, the state before it; LLDB
    prints the value it had (after the access) as old and the one there as new, as gdb does
    under rr."""
    out = []
    for k in reversed(events):
        if k < start and k + 1 < w.total:
            vals = (w.value(k + 1), w.value(k)) if printed else None
            out.append(Hit(k, w.pcs[k], "watchpoint", vals))
    return out
