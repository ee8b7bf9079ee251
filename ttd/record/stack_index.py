"""The indexer's work done while recording: the call stack at every chunk boundary.

After recording, `indexer.index_trace` reads every chunk back, decompresses it and walks its
blocks to store the frames at each chunk start. Here the same walk runs on the writer thread
on the raw block ids and values as they are written, before compression: nothing is read back,
and the walk overlaps the program, which runs in wasmtime without holding the GIL. The
checkpoints come out as the indexer makes them (same fields, same order).
"""

from __future__ import annotations

import numpy as np

from ttd.record.schedule import Schedule
from ttd.replay.machine import Machine
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
        if arr.size:
            self.prev = int(arr[-1])
        return block_bitmap(self.block_steps.shape[0], arr)

    def last_pc(self) -> int | None:
        return self.frames[-1].pc if self.frames else None
