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
from typing import Callable, Iterator

import numpy as np

from ttd.replay.cursor import Cursor
from ttd.replay.trace import Trace


class Why(Enum):
    POSITIONED = "positioned"  # initial stop, a goto
    BREAKPOINT = "breakpoint"
    WATCHPOINT = "watchpoint"  # at a watched access: after it going forward, before it backward
    STEP = "step"
    TRAP = "trap"  # stopped at the instruction that trapped
    BEGIN = "begin"  # ran backwards to the first step
    END = "end"  # ran forwards to the last step


@dataclass(frozen=True)
class Watch:
    addr: int
    length: int
    kind: str = "watch"  # "watch" (writes), "rwatch" (reads), "awatch" (both)
    modify: bool = False  # LLDB's "modify": only writes that change the bytes


@dataclass(frozen=True)
class Stop:
    why: Why
    step: int
    pc: int
    watch_addr: int | None = None
    watch_kind: str = "watch"  # gdb's name: "watch" (write), "rwatch" (read), "awatch"


def _decref(counts: dict, key) -> bool:
    """Drop one reference to `key`; False if it had none."""
    n = counts.get(key)
    if not n:
        return False
    if n == 1:
        del counts[key]
    else:
        counts[key] = n - 1
    return True


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
        self.trap = trace.info.get("trap")
        self.exit_code = trace.info.get("exit_code")
        self.status = trace.info.get("status")
        self.pending: Callable[[], Stop] | None = None
        # (address, length) -> refcount, per kind: "watch" (writes), "rwatch", "awatch"
        self.watch_sets: dict[str, dict[tuple[int, int], int]] = {
            "watch": {}, "rwatch": {}, "awatch": {}}
        self.reads_recorded = bool(trace.info.get("reads"))
        self.move_watches: list[Watch] | None = None  # the debugger's list, during a move
        self.pending_origin = 0
        self.pending_jump = False
        self.pending_watches: list[Watch] | None = None
        self._writes = None
        self._reads = None
        self._depth_cache: dict[int, np.ndarray] = {}
        self.cursor.seek(min(max(at, trace.first_step), self.total - 1))
        self.last_stop = Stop(Why.TRAP if self._at_trap() else Why.POSITIONED,
                              self.cursor.step, self.cursor.pc)

    def rebase(self, trace: Trace) -> None:
        """Go on over `trace`, the whole history whose last segment this session's trace is:
        the same step, breakpoints, watchpoints and staged move; the indexes built anew."""
        step = self.cursor.step
        cursor = Cursor(trace)
        cursor.seek(step)
        self.trace, self.cursor, self.total = trace, cursor, trace.total_steps
        self.where, self.opcodes = _pc_index(trace)
        self._writes = self._reads = None
        self._depth_cache = {}

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
        if not _decref(self.requests, offset):
            return False
        _decref(self.active, self.slip(offset))
        return True

    # ---- motion -------------------------------------------------------------------------

    def ending(self) -> str:
        """How the recorded run ended, for the stop at the last step: the exit status, or why
        the recording stopped there."""
        if self.status == "complete" and isinstance(self.exit_code, int):
            return f"end of the recording: the program exited with status {self.exit_code}"
        if self.status == "interrupted":
            return "end of the recording: interrupted (Ctrl-C) here"
        return f"end of the recording ({self.status or 'unknown'}): the rest was not recorded"

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

    def step_forward(self, watch: bool = True) -> Stop:
        """One instruction forward; one that accesses watched bytes is reported as a
        watchpoint hit, as a hardware watchpoint reports a single step that writes.

        A write to a write watchpoint counts only if it changes the bytes: the watchpoint
        may be LLDB's "modify" one, and LLDB answers a single step's hit it does not want
        by continuing (measured with LLDB 23), where a step that reports no hit costs a
        write watchpoint only the report of a write that changed nothing."""
        here = self.cursor.step
        if here >= self.total - 1:
            return self._stop(Why.END)
        hit = self.find_watch(here, forward=True, limit=here, modify=True) if watch else None
        if hit is not None and hit[0] == here + 1:
            return self._watch_stop(*hit)
        self.cursor.seek(here + 1)
        return self._stop(Why.STEP)

    def step_backward(self, watch: bool = True) -> Stop:
        """One instruction back; un-executing a watched access is a watchpoint hit (a write
        to a write watchpoint only if it changed the bytes, as for `step_forward`)."""
        here = self.cursor.step
        if here <= 0:
            return self._stop(Why.BEGIN)
        hit = self.find_watch(here, forward=False, limit=here - 1, modify=True) \
            if watch else None
        if hit is not None and hit[0] == here - 1:
            return self._watch_stop(*hit)
        self.cursor.seek(here - 1)
        return self._stop(Why.STEP)

    def continue_forward(self) -> Stop:
        here = self.cursor.step
        hit = self.find_breakpoint(here, forward=True)
        watch = self.find_watch(here, forward=True, limit=hit)
        if watch is not None and (hit is None or watch[0] <= hit):
            return self._watch_stop(*watch)
        if hit is None:
            self.cursor.seek(self.total - 1)
            return self._stop(Why.END)
        self.cursor.seek(hit)
        return self._stop(Why.BREAKPOINT)

    def continue_backward(self, breakpoints: set[int] | None = None) -> Stop:
        here = self.cursor.step
        hit = self.find_breakpoint(here, forward=False, breakpoints=breakpoints)
        watch = self.find_watch(here, forward=False, limit=hit)
        if watch is not None and (hit is None or watch[0] >= hit):
            return self._watch_stop(*watch)
        if hit is None:
            self.cursor.seek(0)
            return self._stop(Why.BEGIN)
        self.cursor.seek(hit)
        return self._stop(Why.BREAKPOINT)

    def _watch_stop(self, step: int, addr: int, kind: str = "watch") -> Stop:
        """A watchpoint hit, also on the trapping step: as on hardware, the write before a
        trap is reported first, and the next resume reports the trap."""
        self.cursor.seek(step)
        self.last_stop = Stop(Why.WATCHPOINT, step, self.cursor.pc, addr, kind)
        return self.last_stop

    # ---- watchpoints ----------------------------------------------------------------------

    def add_watchpoint(self, addr: int, length: int, kind: str = "watch") -> bool:
        """A write ("watch"), read ("rwatch") or access ("awatch") watchpoint; reads need a
        trace recorded with `--reads`."""
        if length <= 0 or addr < 0 or kind not in self.watch_sets:
            return False
        if kind != "watch" and not self.reads_recorded:
            return False
        ws = self.watch_sets[kind]
        ws[(addr, length)] = ws.get((addr, length), 0) + 1
        return True

    def remove_watchpoint(self, addr: int, length: int, kind: str = "watch") -> bool:
        return kind in self.watch_sets and _decref(self.watch_sets[kind], (addr, length))

    @property
    def reads(self):
        if self._reads is None:
            from ttd.replay.writes import WriteIndex
            self._reads = WriteIndex(self.trace, reads=True)
        return self._reads

    @property
    def writes(self):
        if self._writes is None:
            from ttd.replay.writes import WriteIndex
            self._writes = WriteIndex(self.trace)
        return self._writes

    def _watches(self, modify: bool) -> list[Watch]:
        """What is watched: the debugger's own list for a move it staged (see `stage`), else
        the inserted watchpoints, whose write ones are taken as "modify" ones if `modify` (a
        gdb-remote write watchpoint cannot say which it is)."""
        if self.move_watches is not None:
            return self.move_watches
        return [Watch(a, n, kind, modify and kind == "watch")
                for kind, ws in self.watch_sets.items() for a, n in ws]

    def find_watch(self, step: int, forward: bool, limit: int | None = None,
                   modify: bool = False) -> tuple[int, int, str] | None:
        """The nearest watched access going forward (or backward) from `step`, as (where to
        stop, watched address, kind). Forward, the instruction at `step` itself counts (it
        is about to execute) and the stop is right after the access, its effect visible;
        backward, the access must be before `step` and the stop is on it, the state before
        it, as rr shows a watchpoint hit going backwards. A "modify" watch (LLDB's default,
        known from a staged move's list, or every write watchpoint with `modify`) skips
        writes that leave its bytes unchanged. `limit` (a breakpoint hit) ends the search;
        the caller compares the result with it. Accesses by the last step have no "after"
        and are never found.
        """
        by_index = []
        watches = self._watches(modify)
        writes = [w for w in watches if w.kind in ("watch", "awatch")]
        reads = [w for w in watches if w.kind in ("rwatch", "awatch")]
        if writes:
            by_index.append((self.writes, writes))
        if reads:
            by_index.append((self.reads, reads))
        if not by_index or (not forward and step <= 0):
            return None
        trace = self.trace
        last = self.total - 1
        seq = trace.chunk_for_step(step if forward else step - 1)
        order = range(seq, len(trace.chunks)) if forward else range(seq, -1, -1)
        for s in order:
            first, n = trace.chunks[s][1], trace.chunks[s][2]
            if limit is not None and (first > limit if forward else first + n <= limit):
                return None
            best = None
            for index, ws in by_index:
                if not any(index.may_write(s, w.addr, w.addr + w.length) for w in ws):
                    continue
                acc = index.writes(s)
                for w in ws:
                    steps = np.unique(acc.step[acc.overlapping(w.addr, w.addr + w.length)])
                    cand = steps[(steps >= step) & (steps < last)] if forward else \
                        steps[steps < step][::-1]
                    at = self._first_access(cand.tolist(), w, index is self.reads)
                    if at is None:
                        continue
                    stop = at + 1 if forward else at
                    if best is None or (stop < best[0] if forward else stop > best[0]):
                        best = (stop, w.addr, w.kind)
            if best is not None:
                return best
        return None

    def _first_access(self, steps: list[int], w: Watch, reads: bool) -> int | None:
        """The first of these accesses (in search order) that the watch stops at: any, or
        for a modify watch a write that changes its bytes. Moves the cursor."""
        if not w.modify or reads:
            return steps[0] if steps else None
        cur = self.cursor

        def changes(at: int) -> bool:
            cur.seek(at)
            before = cur.read_memory(w.addr, w.length)
            cur.seek(at + 1)
            return cur.read_memory(w.addr, w.length) != before

        if len(steps) < 2 or steps[0] < steps[1]:
            return next((at for at in steps if changes(at)), None)
        # backward: the latest first, then the rest in step order (the cursor only has to
        # run forward through the chunk, where going back re-seeks from its checkpoint)
        if changes(steps[0]):
            return steps[0]
        hits = [at for at in reversed(steps[1:]) if changes(at)]
        return hits[-1] if hits else None

    # ---- moves staged by a debugger command, performed on its next resume -----------------

    def stage(self, move: Callable[[], Stop], *, jump: bool = False,
              watches: list[Watch] | None = None) -> None:
        """Remember a move for the next continue: LLDB only refreshes its view after a
        resume, so a command says where to go and the resume that follows goes there. The
        move is computed from the step it was asked at, whatever LLDB does in between.

        A move that runs backwards (not a `jump`) stops at the latest watched access it
        un-executes, as a reverse step under rr does. `watches` is the debugger's list of
        its watchpoints for this move (with which are "modify" ones): LLDB answers a hit
        it does not want by resuming, and it resumes forwards after a staged move."""
        self.pending = move
        self.pending_origin = self.cursor.step
        self.pending_jump = jump
        self.pending_watches = watches

    def take_pending(self) -> Stop | None:
        move, self.pending = self.pending, None
        if move is None:
            return None
        origin = self.pending_origin
        self.cursor.seek(origin)
        self.move_watches = self.pending_watches
        try:
            if self.pending_jump:
                return self._jump(move)
            stop = move()
            if stop.why is Why.WATCHPOINT or stop.step >= origin:
                return stop
            hit = self.find_watch(origin, forward=False, limit=stop.step)
            if hit is not None and hit[0] >= stop.step:
                return self._watch_stop(*hit)
            self.cursor.seek(stop.step)  # a modify watch's checks moved it
            return stop
        finally:
            self.move_watches = None

    def _jump(self, move: Callable[[], Stop]) -> Stop:
        """A jump executes nothing, so it meets no watched access; but a watched value that
        differs where it lands is reported as a watchpoint stop: LLDB keeps the value it
        saw at its last watchpoint stop as the next one's "old value" (and a "modify"
        watchpoint compares with it), and only a watchpoint stop makes it look again. (On
        the trapping step too: the next resume reports the trap.)"""
        watched = [w for w in self._watches(False) if w.kind != "rwatch"]
        before = [self.cursor.read_memory(w.addr, w.length) for w in watched]
        stop = move()
        for w, old in zip(watched, before):
            if self.cursor.read_memory(w.addr, w.length) != old:
                self.last_stop = Stop(Why.WATCHPOINT, stop.step, stop.pc, w.addr, w.kind)
                return self.last_stop
        return stop

    def move_to(self, step: int) -> Stop:
        """Land on `step` as if single-stepped there (reported as a step, or the begin)."""
        if step < 0:
            self.cursor.seek(0)
            return self._stop(Why.BEGIN)
        self.cursor.seek(min(step, self.total - 1))
        return self._stop(Why.STEP)

    @property
    def depth(self) -> int:
        return len(self.cursor.st.frames)

    def _depths(self, seq: int) -> np.ndarray:
        """Call depth (number of frames) of every block of a chunk: a block never spans a
        call or a return, so all its steps share it."""
        cache = self._depth_cache
        got = cache.get(seq)
        if got is None:
            trace = self.trace
            st = trace.state_at_chunk(seq, with_memory=False)
            out = trace.chunk_stack(trace.chunk(seq), st.frames, st.prev_block).depths
            if len(cache) > 64:
                cache.pop(next(iter(cache)))
            got = cache[seq] = out
        return got

    def blocks_back(self, step: int) -> Iterator[tuple[int, int, list[int]]]:
        """(first step, depth, pcs) of each executed block before `step`, latest first; the
        block holding step - 1 is cut at it."""
        if step <= 0:
            return
        trace = self.trace
        blocks = trace.schedule.blocks
        seq = trace.chunk_for_step(step - 1)
        for s in range(seq, -1, -1):
            ch = trace.chunk(s)
            depths = self._depths(s)
            rel = step - 1 - ch.first_step
            k0 = ch.block_at_step(rel) if rel < ch.n_steps else len(ch.ids) - 1
            last = len(ch.ids) - 1
            for k in range(k0, -1, -1):
                base = ch.first_step + int(ch.step_starts[k])
                pcs = blocks[int(ch.ids[k])].pcs
                n = ch.last_steps if k == last else len(pcs)
                n = min(n, step - base)
                yield base, int(depths[k]), pcs[:n]

    def pc_at(self, step: int) -> int:
        """The pc of any step, from the block ids alone (the cursor stays where it is)."""
        trace = self.trace
        ch = trace.chunk(trace.chunk_for_step(step))
        rel = step - ch.first_step
        k = ch.block_at_step(rel)
        return trace.schedule.blocks[int(ch.ids[k])].pcs[rel - int(ch.step_starts[k])]

    def last_write(self, addr: int, size: int, memory: int = 0) -> int | None:
        """The latest step before now whose instruction wrote any of [addr, addr + size)."""
        trace = self.trace
        here = self.cursor.step
        for s in range(trace.chunk_for_step(here), -1, -1):
            if not self.writes.may_write(s, addr, addr + size, memory):
                continue
            w = self.writes.writes(s)
            idx = w.overlapping(addr, addr + size, memory)
            if idx.size:
                steps = w.step[idx]
                steps = steps[steps < here]
                if steps.size:
                    return int(steps[-1])
        return None

    # ---- searching ----------------------------------------------------------------------

    def find_breakpoint(self, step: int, forward: bool,
                        breakpoints: set[int] | None = None) -> int | None:
        """The nearest step strictly after (or before) `step` whose pc has a breakpoint (the
        active ones, or the given pcs)."""
        pcs = self.active if breakpoints is None else breakpoints
        if not pcs:
            return None
        targets: dict[int, list[int]] = {}
        for pc in pcs:
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
            if not trace.chunk_runs_any(s, wanted):
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
