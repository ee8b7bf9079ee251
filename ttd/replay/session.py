"""A replay session: a cursor plus breakpoints, moving forwards and backwards in time.

This is the debuggee a debugger server drives; it knows time (steps) and code (pcs), not
packets. Breakpoint searches look at block ids only: a pc belongs to exactly one block of the
static schedule, and a chunk whose set of executed blocks misses every breakpoint's block is
skipped without decoding its values.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from enum import Enum

import numpy as np

from ttd.replay.cursor import Cursor
from ttd.replay.trace import Trace


class Why(Enum):
    POSITIONED = "positioned"  # initial stop, a goto
    BREAKPOINT = "breakpoint"
    STEP = "step"
    TRAP = "trap"  # stopped at the instruction that trapped
    BEGIN = "begin"  # ran backwards to the first step
    END = "end"  # ran forwards to the last step


@dataclass(frozen=True)
class Stop:
    why: Why
    step: int
    pc: int


def _pc_index(trace: Trace) -> tuple[dict[int, tuple[int, int]], list[int]]:
    """Every instruction's pc -> (block id, index within the block), and the sorted pcs;
    computed once per trace, shared by its sessions."""
    cached = getattr(trace, "_pc_index", None)
    if cached is None:
        where: dict[int, tuple[int, int]] = {}
        for bid, b in enumerate(trace.schedule.blocks):
            for i, pc in enumerate(b.pcs):
                where[pc] = (bid, i)
        cached = trace._pc_index = (where, sorted(where))
    return cached


class ReplaySession:
    def __init__(self, trace: Trace, at: int = 0):
        self.trace = trace
        self.cursor = Cursor(trace)
        self.total = trace.total_steps
        if self.total == 0:
            raise ValueError("the trace has no steps")
        self.where, self.opcodes = _pc_index(trace)
        self.requests: dict[int, int] = {}  # requested address -> refcount
        self.active: dict[int, int] = {}  # effective pc -> number of requests mapping to it
        self._chunk_blocks: dict[int, np.ndarray] = {}
        self.trap = trace.info.get("trap")
        self.cursor.seek(min(max(at, 0), self.total - 1))
        self.last_stop = Stop(Why.TRAP if self._at_trap() else Why.POSITIONED,
                              self.cursor.step, self.cursor.pc)

    # ---- breakpoints --------------------------------------------------------------------

    def slip(self, offset: int) -> int | None:
        """The first opcode at or after `offset` (LLDB asks for function starts, which are
        the locals declaration, not an opcode), as wasmtime's debugger does."""
        i = bisect.bisect_left(self.opcodes, offset)
        return self.opcodes[i] if i < len(self.opcodes) else None

    def add_breakpoint(self, offset: int) -> int | None:
        pc = self.slip(offset)
        if pc is None:
            return None
        self.requests[offset] = self.requests.get(offset, 0) + 1
        self.active[pc] = self.active.get(pc, 0) + 1
        return pc

    def remove_breakpoint(self, offset: int) -> bool:
        n = self.requests.get(offset)
        if not n:
            return False
        pc = self.slip(offset)
        if n == 1:
            del self.requests[offset]
        else:
            self.requests[offset] = n - 1
        left = self.active.get(pc, 0) - 1
        if left > 0:
            self.active[pc] = left
        else:
            self.active.pop(pc, None)
        return True

    # ---- motion -------------------------------------------------------------------------

    def _at_trap(self) -> bool:
        return self.trap is not None and self.cursor.step == self.total - 1

    def _stop(self, why: Why) -> Stop:
        if why in (Why.STEP, Why.BREAKPOINT, Why.END) and self._at_trap():
            why = Why.TRAP
        elif why is Why.STEP and self.cursor.pc in self.active:
            why = Why.BREAKPOINT  # as live wasmtime: a step onto a breakpoint reports it
        self.last_stop = Stop(why, self.cursor.step, self.cursor.pc)
        return self.last_stop

    def goto(self, step: int) -> Stop:
        self.cursor.seek(min(max(step, 0), self.total - 1))
        return self._stop(Why.POSITIONED)

    def step_forward(self) -> Stop:
        if self.cursor.step >= self.total - 1:
            return self._stop(Why.END)
        self.cursor.seek(self.cursor.step + 1)
        return self._stop(Why.STEP)

    def step_backward(self) -> Stop:
        if self.cursor.step <= 0:
            return self._stop(Why.BEGIN)
        self.cursor.seek(self.cursor.step - 1)
        return self._stop(Why.STEP)

    def continue_forward(self) -> Stop:
        hit = self.find_breakpoint(self.cursor.step, forward=True)
        if hit is None:
            self.cursor.seek(self.total - 1)
            return self._stop(Why.END)
        self.cursor.seek(hit)
        return self._stop(Why.BREAKPOINT)

    def continue_backward(self) -> Stop:
        hit = self.find_breakpoint(self.cursor.step, forward=False)
        if hit is None:
            self.cursor.seek(0)
            return self._stop(Why.BEGIN)
        self.cursor.seek(hit)
        return self._stop(Why.BREAKPOINT)

    # ---- searching ----------------------------------------------------------------------

    def _blocks_of(self, seq: int) -> np.ndarray:
        got = self._chunk_blocks.get(seq)
        if got is None:
            got = self._chunk_blocks[seq] = np.unique(self.trace.chunk(seq).ids)
        return got

    def find_breakpoint(self, step: int, forward: bool) -> int | None:
        """The nearest step strictly after (or before) `step` whose pc has a breakpoint."""
        if not self.active:
            return None
        targets: dict[int, list[int]] = {}
        for pc in self.active:
            bid, idx = self.where[pc]
            targets.setdefault(bid, []).append(idx)
        for v in targets.values():
            v.sort()
        wanted = np.fromiter(targets, dtype=np.int64)
        trace = self.trace
        n_chunks = len(trace.chunks)
        seq = trace.chunk_for_step(step)
        order = range(seq, n_chunks) if forward else range(seq, -1, -1)
        for s in order:
            blocks = self._blocks_of(s)
            if not np.isin(wanted, blocks, assume_unique=True).any():
                continue
            hit = self._search_chunk(s, step, forward, targets, wanted)
            if hit is not None:
                return hit
        return None

    def _search_chunk(self, seq: int, step: int, forward: bool, targets, wanted) -> int | None:
        ch = self.trace.chunk(seq)
        rel = step - ch.first_step
        n = len(ch.ids)
        mask = np.isin(ch.ids, wanted)
        ks = np.flatnonzero(mask)
        if not ks.size:
            return None
        last = n - 1

        def steps_in(k: int) -> int:
            length = int(self.trace.block_steps[ch.ids[k]])
            return ch.last_steps if k == last else length

        if forward:
            start = int(np.searchsorted(ks, max(ch.block_at_step(rel), 0) if 0 <= rel < ch.n_steps
                                        else (0 if rel < 0 else n)))
            for k in ks[start:].tolist():
                base = int(ch.step_starts[k])
                for idx in targets[int(ch.ids[k])]:
                    s = base + idx
                    if s > rel and idx < steps_in(k):
                        return ch.first_step + s
            return None
        end = int(np.searchsorted(ks, ch.block_at_step(rel) if 0 <= rel < ch.n_steps
                                  else (n if rel >= ch.n_steps else -1), side="right"))
        for k in reversed(ks[:end].tolist()):
            base = int(ch.step_starts[k])
            for idx in reversed(targets[int(ch.ids[k])]):
                s = base + idx
                if s < rel and idx < steps_in(k):
                    return ch.first_step + s
        return None
