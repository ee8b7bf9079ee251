"""Source-level reverse moves (reverse-next, reverse-step, reverse-finish) on a replay session.

LLDB owns the DWARF, the server owns time. The moves walk back through the trace one
executed step at a time (callee frames skipped by their call depth) and need, for each pc
they look at, what LLDB knows of it: its line, whether it starts a line-table entry, and the
inlined blocks around it. The server does not read DWARF: it asks. A move that meets a pc it
has no facts about raises `NeedPcs` with that pc and the other unknown pcs just behind it in
the same frame; the LLDB command answers with `ttd pcs` and repeats the move. Only the pcs a
move walks over are ever looked up, never a whole compile unit's line table.

The semantics mirror LLDB's forward step plans, inline frames included:

- A *context* is a concrete wasm frame (its call depth) and an inline level in it: the
  inlined block whose frame LLDB shows (0: the function's own body). Steps in blocks inlined
  deeper than the context belong to the line of their call site, as LLDB's `next` steps over
  them; they are a place to stop only at a pc where every such block starts (LLDB then shows
  the context's frame at the call site, and `step` enters the inlined frame without moving).
- A line is a stop for `next` and `step` only where a line-table entry starts; line 0 and a
  function's prologue (before the arguments are stored) are never one, except for `step`
  the function's first instruction: LLDB skips the prologue only when it arrives at the
  function's start address, which in wasm is its locals declaration, never executed; so
  `step` into a function stops at its first instruction (at -O0 the arguments read 0).
- `rnext` goes back to the first stop of the previous line run of the context: the
  inverse of `next`. Out of the context's entry it goes to the start of the caller's line
  (an inlined frame: its call site, the same pc shown one level up). In the middle of a
  line right after a call returned (where `next` from the callee's last line stopped), it
  goes back to the first stop of that last line.
- `rstep` is the same, but enters the calls and inlined blocks met on the way, at the first
  stop of their last line (the inverse of `step`, which enters them); if a line ran a call
  before, it stops right after that call returned, where `step` out of it stopped.
- `rfinish` goes back to where the context was entered: the call instruction in the caller,
  or for an inlined frame its first pc, shown at its caller's level.

Every move ends with `Landing(step, block)`: where to go and which inline level LLDB should
show there (the LLDB command reveals hidden inlined frames with LLDB's own virtual step-in).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

MAX_ASK = 256  # pcs asked for at once
MAX_FACTS = 1 << 22  # pcs remembered per connection (a module has fewer instructions)
PREFETCH_STEPS = 50_000  # how far behind an unknown pc the others are looked for


@dataclass(frozen=True)
class PcFacts:
    key: int  # the line (an id LLDB's command gives each file and line); 0: none
    start: bool  # a line-table entry starts at this pc
    lines: bool  # the pc has a line-table entry (its function has debug info): `step` enters
    chain: tuple[tuple[int, bool], ...]  # inlined blocks around it, innermost first:
    # (block id, whether one of its ranges starts at this pc)
    entry: bool = False  # a function's first instruction: `step` into it stops here


@dataclass(frozen=True)
class Landing:
    step: int
    block: int  # the inline level to show: an inlined block's id, 0 for the function's body


class NeedPcs(Exception):
    def __init__(self, pcs: list[int]):
        super().__init__(f"need {len(pcs)} pc(s)")
        self.pcs = pcs


class SourceFacts:
    """What LLDB said of the pcs and blocks asked about (per connection)."""

    def __init__(self) -> None:
        self.pcs: dict[int, PcFacts] = {}
        self.callsite: dict[int, int] = {}  # block id -> line key of its call site

    def parse(self, pcs_text: str, blocks_text: str = "") -> int:
        """`PC:KEY:FLAGS:CHAIN,...` (hex pc; FLAGS: 1 a line-table entry starts here, 2 the
        pc has a line-table entry, 4 the function's first instruction; CHAIN: `ID+ID-...`, + where the block starts at the pc)
        and `ID:KEY,...` (each block's call site); returns how many pcs."""
        n = 0
        for part in filter(None, blocks_text.split(",")):
            bid, _, key = part.partition(":")
            self.callsite[int(bid)] = int(key)
        for part in filter(None, pcs_text.split(",")):
            fields = part.split(":")
            if len(fields) != 4:
                raise ValueError(f"bad pc facts {part!r}")
            pc, key, chain_text = int(fields[0], 16), int(fields[1]), fields[3]
            flags = int(fields[2] or "0")
            chain = []
            num = ""
            for ch in chain_text:
                if ch in "+-":
                    if not num:
                        raise ValueError(f"bad block chain {chain_text!r}")
                    chain.append((int(num), ch == "+"))
                    num = ""
                elif ch.isdigit():
                    num += ch
                else:
                    raise ValueError(f"bad block chain {chain_text!r}")
            if num:
                raise ValueError(f"bad block chain {chain_text!r}")
            if pc not in self.pcs and len(self.pcs) >= MAX_FACTS:
                raise ValueError("too many pc facts for one connection")
            self.pcs[pc] = PcFacts(key, bool(flags & 1), bool(flags & 3), tuple(chain),
                                   bool(flags & 4))
            n += 1
        return n


@dataclass(frozen=True)
class _View:
    inside: bool  # the pc is in the context
    key: int  # the line shown at the context's level
    stop: bool  # a step/next may stop here at that level


class SourceMoves:
    def __init__(self, session, facts: SourceFacts):
        self.s = session
        self.facts = facts

    # ---- facts -----------------------------------------------------------------------------

    def facts_at(self, step: int, depth: int, pc: int, walk: bool = True) -> PcFacts:
        """What LLDB said of `pc`; else ask, with the unknown pcs just behind it when the
        move `walk`s on from there."""
        f = self.facts.pcs.get(pc)
        if f is None:
            raise NeedPcs(self._unknown_behind(step, depth, pc) if walk else [pc])
        return f

    def _unknown_behind(self, step: int, depth: int, pc: int) -> list[int]:
        """`pc` and the other unknown pcs of the same frame depth just before `step`."""
        out = [pc]
        seen = {pc}
        walked = 0
        for base, d, pcs in self.s.blocks_back(step):
            walked += len(pcs)
            if walked > PREFETCH_STEPS or len(out) >= MAX_ASK:
                break
            if d != depth:
                continue
            for p in pcs:
                if p not in seen and p not in self.facts.pcs:
                    seen.add(p)
                    out.append(p)
        return out[:MAX_ASK]

    def view(self, f: PcFacts, block: int, entering: bool = False) -> _View:
        """`entering`: for `step`, which also stops at a function's first instruction."""
        chain = f.chain
        if block == 0:
            idx = len(chain)
        else:
            for idx, (bid, _) in enumerate(chain):
                if bid == block:
                    break
            else:
                return _View(False, 0, False)
        if idx:
            key = self.facts.callsite.get(chain[idx - 1][0], 0)
            return _View(True, key, bool(key) and all(st for _, st in chain[:idx]))
        return _View(True, f.key, (f.start or (entering and f.entry)) and f.key != 0)

    @staticmethod
    def innermost(f: PcFacts) -> int:
        return f.chain[0][0] if f.chain else 0

    @staticmethod
    def parent_of(f: PcFacts, block: int) -> int | None:
        """The level just outside `block` at this pc (0: the function's body)."""
        ids = [b for b, _ in f.chain]
        if block not in ids:
            return None
        i = ids.index(block)
        return ids[i + 1] if i + 1 < len(ids) else 0

    # ---- walking ---------------------------------------------------------------------------

    def steps_back(self, step: int, depth: int) -> Iterator[tuple[int, int, int]]:
        """(step, depth, pc) of the steps before `step`, latest first, in the frame at
        `depth` and its callers; a call made from it shows only as its last step (the
        callee's steps are jumped over, chunk arrays at a time, never walked)."""
        if step <= 0:
            return
        trace = self.s.trace
        blocks = trace.schedule.blocks
        deep = False
        here = trace.chunk_for_step(step - 1)
        for seq in range(here, -1, -1):
            if seq < here:
                low = trace.checkpoint(seq).get("min_depth")
                if low is not None and low > depth:  # all of it deeper: a call's inside
                    if not deep:
                        last = trace.chunks[seq + 1][1] - 1
                        yield last, len(trace.checkpoint(seq + 1)["frames"]), self.s.pc_at(last)
                        deep = True
                    continue
            ch = trace.chunk(seq)
            depths = self.s._depths(seq)
            rel = step - 1 - ch.first_step
            last = len(ch.ids) - 1
            k = ch.block_at_step(rel) if rel < ch.n_steps else last
            while k >= 0:
                base = ch.first_step + int(ch.step_starts[k])
                d = int(depths[k])
                if d > depth:
                    if not deep:
                        n = ch.last_steps if k == last else len(blocks[int(ch.ids[k])].pcs)
                        n = min(n, step - base)
                        yield base + n - 1, d, blocks[int(ch.ids[k])].pcs[n - 1]
                        deep = True
                    k = int(self._shallow_before(seq, depths, depth)[k])
                    continue
                deep = False
                pcs = blocks[int(ch.ids[k])].pcs
                n = ch.last_steps if k == last else len(pcs)
                for i in range(min(n, step - base) - 1, -1, -1):
                    yield base + i, d, pcs[i]
                k -= 1

    def _shallow_before(self, seq: int, depths, depth: int):
        """For each block of chunk `seq`: the latest block at or before it no deeper than
        `depth` (-1: none), computed once per chunk and depth."""
        cache = self.s.__dict__.setdefault("_shallow_cache", {})
        key = (seq, depth)
        got = cache.get(key)
        if got is None:
            idx = np.where(depths <= depth, np.arange(len(depths)), -1)
            got = np.maximum.accumulate(idx) if len(idx) else idx
            if len(cache) > 32:
                cache.pop(next(iter(cache)))
            cache[key] = got
        return got

    def frame_depth(self, frame: int) -> int:
        d = self.s.depth - frame
        if frame < 0 or d < 1:
            raise ValueError(f"no wasm frame {frame} here (the stack has {self.s.depth})")
        return d

    def call_of(self, depth: int, origin: int) -> int:
        """The step that made the call running at `depth + 1` at `origin`: the last step
        before it at `depth` (or shallower)."""
        for step, d, _ in self.steps_back(origin + 1, depth):
            if d <= depth:
                return step
        return -1

    def entry_of(self, depth: int, block: int, origin: int) -> tuple[int, int | None]:
        """(first step of the current instance of inlined `block` in the frame at `depth`,
        the step just before it at that depth or None)."""
        entry, before = origin, None
        for step, d, pc in self.steps_back(origin, depth):
            if d > depth:
                continue
            if d < depth:
                return entry, before
            f = self.facts_at(step, d, pc)
            if self.view(f, block).inside:
                entry, before = step, None
                continue
            if before is None:
                before = step
            if not self._between_ranges(f, entry, depth, block):
                return entry, before
        return entry, before

    def _between_ranges(self, f: PcFacts, entry: int, depth: int, block: int) -> bool:
        """Whether the caller's code at `f`, just before `entry`, lies between two ranges
        of one run of inlined `block`: the run began in the middle of the block (not at its
        start), and this code is on the block's call-site line (an argument computed late)."""
        fe = self.facts_at(entry, depth, self.s.pc_at(entry), walk=False)
        if dict(fe.chain).get(block, True):
            return False  # the run began at the block's start
        parent = self.parent_of(fe, block)
        if parent is None:
            return False
        v = self.view(f, parent)
        return v.inside and v.key != 0 and v.key == self.facts.callsite.get(block)

    def _inline_exit(self, depth: int, block: int, entry: int, before: int | None) -> Landing:
        """Out of inlined `block` entered at `entry`: its call site, the same pc one level up
        when LLDB can show that there; else the step before the entry."""
        pc = self.s.pc_at(entry)
        f = self.facts_at(entry, depth, pc)
        parent = self.parent_of(f, block)
        if parent is not None:
            ids = [b for b, _ in f.chain]
            upto = ids.index(block) + 1
            if all(st for _, st in f.chain[:upto]):
                return Landing(entry, parent)
        if before is None:
            return Landing(entry, parent if parent is not None else self.innermost(f))
        fb = self.facts_at(before, depth, self.s.pc_at(before))
        if parent is not None and self.view(fb, parent).inside:
            return Landing(before, parent)
        return Landing(before, self.innermost(fb))

    def line_start(self, step: int, depth: int, block: int,
                   stop_at_calls: bool) -> Landing | None:
        """The first stop of the line run that holds `step` in the context (depth, block)
        (for a step without a line: of the last line before it); with `stop_at_calls`, no
        earlier than right after a call made from the run returned (or an inlined call in
        it ended). None: no stop there."""
        f0 = self.facts_at(step, depth, self.s.pc_at(step))
        v0 = self.view(f0, block, stop_at_calls)
        if not v0.inside:
            return None
        key = v0.key
        best = step if (v0.stop and key) else None
        earliest = step
        for s, d, pc in self.steps_back(step, depth):
            if d > depth:
                if stop_at_calls and key and self.facts_at(s, d, pc, walk=False).lines:
                    return Landing(earliest, block)  # where `step` out of that call stopped
                continue
            if d < depth:
                break
            f = self.facts_at(s, d, pc)
            v = self.view(f, block, stop_at_calls)
            if not v.inside:
                break
            if stop_at_calls and key and v.key == key and self._nested(f, block):
                return Landing(earliest, block)  # where `step` out of that inlined call stopped
            if not key and v.key:
                key = v.key
            if v.key == key or not v.key:
                if v.stop and v.key == key:
                    best = s
                earliest = s
                continue
            if best is not None:
                break
            # jumped into the middle of that line: `next` went on through it
            key, earliest = v.key, s
            best = s if v.stop else None
        return Landing(best, block) if best is not None else None

    # ---- the moves -------------------------------------------------------------------------

    def _start(self, frame: int, inner: tuple[int, int] | None) -> tuple[int, int]:
        """(depth of the context, step to walk back from): with a selected frame above the
        innermost one, from where the frame just below it (`inner`: its wasm frame and
        block) began, since that frame's run is part of the selected frame's line."""
        depth = self.frame_depth(frame)
        origin = self.s.cursor.step
        if inner is None:
            return depth, origin
        iframe, iblock = inner
        if iblock:  # an inlined frame: in the same wasm frame as the one above it
            return depth, self.entry_of(self.frame_depth(iframe), iblock, origin)[0]
        return depth, max(self.call_of(depth, origin), 0)

    def reverse_next(self, frame: int, block: int, key: int,
                     inner: tuple[int, int] | None = None, into: bool = False) -> Landing:
        depth, origin = self._start(frame, inner)
        if not into and inner is None:
            got = self._stepped_out(depth, block, origin)
            if got is not None:
                return got
        cur = key  # the line being left
        run_key = 0  # the previous line, once found
        best = None  # its earliest stop so far
        earliest = None  # its earliest step so far
        last_in = origin  # the earliest step of the context seen
        skipping = False  # inside a call that `step` would not enter
        for s, d, pc in self.steps_back(origin, depth):
            if d > depth:
                if into and not skipping:
                    got = self._enter(s, d)
                    if got is not None:
                        if run_key:
                            # `step` from the line's start entered this call; out of it,
                            # `step` stopped right after it returned
                            return Landing(earliest, block)
                        return got
                    skipping = True
                continue
            skipping = False
            if d < depth:
                if best is not None:
                    return Landing(best, block)
                return self._out_of_frame(s, d, into)
            f = self.facts_at(s, d, pc)
            v = self.view(f, block, into)
            if not v.inside:
                if best is not None:
                    return Landing(best, block)
                return self._out_of_inline(depth, block, last_in, s, into)
            if into and self._nested(f, block):
                if run_key:
                    return Landing(earliest, block)
                got = self.line_start(s, depth, self.innermost(f), stop_at_calls=True)
                if got is not None:
                    return got
            last_in = s
            if not run_key:
                if v.key and v.key != cur:
                    run_key, earliest = v.key, s
                    best = s if v.stop else None
                continue
            if v.key == run_key or not v.key:
                if v.stop and v.key == run_key:
                    best = s
                earliest = s
                continue
            if best is not None:
                return Landing(best, block)
            # that run had no stop (entered in the middle of its line): `next` went on
            # through it, from the line before
            cur, run_key, earliest = run_key, v.key, s
            best = s if v.stop else None
        return Landing(best if best is not None else 0, block)

    def _stepped_out(self, depth: int, block: int, origin: int) -> Landing | None:
        """Right after a call returned, still on the line that made the call: `next` through
        that line would not stop there (its range covers the whole line), only `next` out
        of the callee's last line did; its inverse goes back to the first stop of that
        last line."""
        if origin <= 0:
            return None
        walk = self.steps_back(origin, depth)
        last, d, pc = next(walk)
        if d <= depth or last != origin - 1:
            return None
        v = self.view(self.facts_at(origin, depth, self.s.pc_at(origin)), block)
        if not v.inside or not v.key:
            return None
        for s, ds, ps in walk:
            if ds < depth:
                return None
            if ds == depth:
                if self.view(self.facts_at(s, ds, ps), block).key != v.key:
                    return None  # the call ended its line: `next` may have come from there
                break
        else:
            return None
        f = self.facts_at(last, d, pc, walk=False)
        if not f.lines:
            return None  # no line information there: `next` would not have stopped in it
        got = self.line_start(last, d, self.innermost(f), stop_at_calls=False)
        if got is None and f.chain:
            got = self.line_start(last, d, 0, stop_at_calls=False)
        return got

    def reverse_step(self, frame: int, block: int, key: int,
                     inner: tuple[int, int] | None = None) -> Landing:
        return self.reverse_next(frame, block, key, inner, into=True)

    def _nested(self, f: PcFacts, block: int) -> bool:
        ids = [b for b, _ in f.chain]
        return bool(ids) and (block == 0 or (block in ids and ids[0] != block))

    def _enter(self, last: int, depth: int) -> Landing | None:
        """Into a call whose last step is `last`: the first stop of its last line, at its
        innermost inline level there."""
        f = self.facts_at(last, depth, self.s.pc_at(last))
        got = self.line_start(last, depth, self.innermost(f), stop_at_calls=True)
        if got is None and f.chain:
            got = self.line_start(last, depth, 0, stop_at_calls=True)
        return got

    def _out_of_inline(self, depth: int, block: int, entry: int, before: int,
                       into: bool) -> Landing:
        """Out of inlined `block`'s entry, backwards: its call site where LLDB shows one
        (the block's start); else the instance began in a later range of the block, which
        `step` entered straight from the caller's line: the first stop of that line."""
        out = self._inline_exit(depth, block, entry, before)
        if out.step == entry:
            return out
        got = self.line_start(before, depth, out.block, stop_at_calls=into)
        return got if got is not None else out

    def _out_of_frame(self, call: int, depth: int, into: bool) -> Landing:
        """Out of a function's entry: the first stop of the caller's line that made the
        call (`step` from there entered it), else the call itself."""
        f = self.facts_at(call, depth, self.s.pc_at(call))
        block = self.innermost(f)
        got = self.line_start(call, depth, block, stop_at_calls=into)
        return got if got is not None else Landing(call, block)

    def reverse_finish(self, frame: int, block: int) -> Landing:
        depth = self.frame_depth(frame)
        origin = self.s.cursor.step
        if block == 0:
            call = self.call_of(depth - 1, origin)
            if call < 0:
                return Landing(0, 0)
            f = self.facts_at(call, depth - 1, self.s.pc_at(call), walk=False)
            return Landing(call, self.innermost(f))
        entry, before = self.entry_of(depth, block, origin)
        return self._inline_exit(depth, block, entry, before)
