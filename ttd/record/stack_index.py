"""The indexer's work done while recording: the call stack at every chunk boundary.

After recording, `indexer.index_trace` reads every chunk back, decompresses it and walks its
blocks to store the frames at each chunk start. Here the same walk runs on the writer thread
on the raw block ids and values as they are written, before compression: nothing is read back,
and the walk overlaps the program, which runs in wasmtime without holding the GIL. The
checkpoints come out as the indexer makes them (same fields, same order).
"""

from __future__ import annotations

import struct

import numpy as np

from ttd.record.instrument import SHADOW_HEADER
from ttd.record.schedule import (
    EXIT_CALL, EXIT_CALL_INDIRECT, EXIT_HOSTCALL, EXIT_TAILCALL, EXIT_THROW, VT_REF, VT_SIZE,
    Schedule,
)
from ttd.replay.machine import Frame, Machine, read_value
from ttd.replay.stackwalk import StackTables, block_bitmap, stack_after


class StackIndex:
    """The call stack of a run being recorded from its start, chunk by chunk."""

    def __init__(self, schedule: Schedule, data_segments: list[bytes], wasi_memory: int):
        self.tables = StackTables(schedule)
        self.machine = Machine(schedule, data_segments, wasi_memory)
        self.n_globals = len(schedule.globals)
        self.block_steps = np.array([len(b.pcs) for b in schedule.blocks], dtype=np.int64)
        self.block_vsize = np.array([b.vsize for b in schedule.blocks], dtype=np.int64)
        self.frames: list = []
        self.prev = -1
        self.min_depth: int | None = None  # of the chunk walked last
        self._shadow: tuple[int, int, bytes, int] | None = None
        self.schedule = schedule

    def start_from_shadow(self, depth: int, prev: int | None, shadow: bytes, stride: int) -> None:
        """A segment starts here: the run's call depth, its last block, and the shadow stack
        (instrument(shadow=True)); the frames follow from the segment's first block."""
        self._shadow = (depth, -1 if prev is None else prev, shadow, stride)

    def start_pending(self) -> bool:
        return self._shadow is not None

    def resolve_start(self, first: int) -> None:
        """The frames the walk from the run's start would have before block `first`."""
        depth, prev, shadow, stride = self._shadow
        self._shadow = None
        self.frames, self.prev = frames_from_shadow(self.schedule, self.tables, depth, prev,
                                                   first, shadow, stride), prev

    def state(self) -> dict:
        """What the indexer adds to the checkpoint at this boundary."""
        return {"frames": [f.to_wire() for f in self.frames], "prev": self.prev}

    def chunk(self, ids: bytes, vals: bytes, last_steps: int | None) -> bytes:
        """Walk one chunk (last_steps: of its final block, when a trap cut it short); returns
        the bitmap of the blocks it runs."""
        arr = np.frombuffer(ids, dtype="<u4")
        voffs = np.zeros(arr.size, dtype=np.int64)
        if arr.size:
            np.cumsum(self.block_vsize[arr[:-1]], out=voffs[1:])
        full_steps = int(self.block_steps[arr[-1]]) if arr.size else 0
        if last_steps is None:
            last_steps = full_steps
        walked = stack_after(self.tables, self.machine, self.n_globals, arr, voffs, vals,
                             self.frames, self.prev, last_steps, last_steps == full_steps)
        self.frames = walked.frames
        # the least depth its blocks run at: a backward walk skips a chunk run wholly deeper
        self.min_depth = int(walked.depths.min()) if arr.size else None
        if arr.size:
            self.prev = int(arr[-1])
        return block_bitmap(self.block_steps.shape[0], arr)

    def last_pc(self) -> int | None:
        return self.frames[-1].pc if self.frames else None


class ShadowUnusable(Exception):
    """The shadow stack cannot say what the frames are at this boundary."""


def _header(shadow: bytes, level: int, stride: int, before: bool = False) -> int:
    """The block of the last call made at this level (before: of the call before it)."""
    return struct.unpack_from("<i", shadow, level * stride + (4 if before else 0))[0]


def _shadow_frame(schedule: Schedule, func: int, shadow: bytes, base: int) -> list:
    """The locals of a frame of func as spilled at base (references: 0, as replay has them)."""
    info = schedule.funcs[func]
    locs = [0] * len(info.locals)
    off = base + SHADOW_HEADER
    for x, c in enumerate(info.locals):
        if c == VT_REF:
            continue
        locs[x] = read_value(shadow, off, c)
        off += VT_SIZE[c]
    return locs


def frames_from_shadow(schedule: Schedule, tables: StackTables, depth: int, prev: int,
                       first: int, shadow: bytes, stride: int) -> list[Frame]:
    """The frames after block prev, block first next, from the shadow stack of the depth
    counter's `depth` levels. The counter moves at a function's entry (before its first
    block) and before its exits; the walk moves when the next block runs: entering a callee
    (prev made the call) the counter already has it, returning (prev was the callee's exit)
    it no longer has the callee. Outer frames are suspended at their last call (its block:
    the header), with the locals spilled there."""
    blocks = schedule.blocks
    if prev < 0:
        raise ShadowUnusable("no block before the segment")
    pb = blocks[prev]
    ex = pb.exit
    entry = bool(blocks[first].entry)
    if ex == EXIT_THROW:
        raise ShadowUnusable("an exception is unwinding at the segment's start")
    if ex == EXIT_CALL or (ex == EXIT_CALL_INDIRECT and entry):
        kind, n = "push", depth - 1
    elif ex == EXIT_TAILCALL:
        kind, n = "tail", depth
    elif ex in (EXIT_HOSTCALL, EXIT_CALL_INDIRECT) or first in pb.succ:
        kind, n = "stay", depth
    else:
        kind, n = "ret", depth + 1
    if n < 1 or len(shadow) < (n + 1) * stride:
        raise ShadowUnusable(f"the shadow stack does not reach depth {n}")
    frames = []
    for level in range(1, n):  # suspended at a call
        site = _header(shadow, level, stride)
        if not 0 <= site < len(blocks):
            raise ShadowUnusable(f"no call site at depth {level}")
        b = blocks[site]
        frames.append(Frame(b.func, _shadow_frame(schedule, b.func, shadow, level * stride),
                            int(tables.last_pc[site]), int(tables.ret_pc[site])))
    # the innermost: at prev's last step, with its locals spilled at the flush (it runs on),
    # at its exit (it returns, or tail-calls), or at its call (it calls)
    if kind == "push":  # the walk has not seen this call's callee yet: the call before
        base, site = n * stride, _header(shadow, n, stride, before=True)
    elif kind == "stay":
        base, site = 0, _header(shadow, n, stride)
    elif kind == "tail":
        base, site = n * stride, _header(shadow, 0, stride)
    else:
        base, site = n * stride, _header(shadow, n, stride)
    ret_pc = int(tables.ret_pc[site]) if 0 <= site < len(blocks) else -1
    frames.append(Frame(pb.func, _shadow_frame(schedule, pb.func, shadow, base),
                        int(tables.last_pc[prev]), ret_pc))
    return frames
