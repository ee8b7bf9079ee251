"""A trace opened for replay: its schedule, its chunks decoded, its checkpoints rebuilt.

Only data comes out of the file: block ids, recorded values, memory pages. The module is
parsed (never compiled or run) for its data segments and names.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ttd.record.schedule import VT_SIZE, Schedule
from ttd.record.snapshot import SNAP_PAGE, ZERO_DIGEST
from ttd.replay.machine import Frame, Machine, MachineState, ReplayError
from ttd.store import codec
from ttd.store.errors import CorruptTrace
from ttd.store.trace_store import TraceStore
from ttd.wasm.errors import WasmError
from ttd.wasm.module import Module, parse_module

MAX_MEMORY = 1 << 32


@dataclass(slots=True)
class Chunk:
    seq: int
    first_step: int
    n_steps: int
    first_block: int
    ids: np.ndarray  # block ids, uint32
    vals: bytes
    voffs: np.ndarray  # value offset of each block
    step_starts: np.ndarray  # step index (relative) of each block's first step
    last_steps: int  # steps of the final block (fewer than its length after a trap)
    host: dict[int, list]  # block index within chunk -> regions written by the host

    def block_at_step(self, rel_step: int) -> int:
        return int(np.searchsorted(self.step_starts, rel_step, side="right")) - 1


class Trace:
    def __init__(self, store: TraceStore):
        self.store = store
        self.info = store.info()
        row = store.module(0)
        self.module_name = row.name
        self.wasm = row.wasm
        try:
            self.schedule = Schedule.from_wire(codec.unpack(row.schedule))
        except (ValueError, KeyError, TypeError) as e:
            raise CorruptTrace(f"trace schedule is malformed: {e}")
        try:
            self.module: Module = parse_module(self.wasm)
        except WasmError as e:
            raise CorruptTrace(f"module stored in the trace is malformed: {e}")
        segs = [bytes(self.wasm[d.data_start:d.data_end]) for d in self.module.data_segments]
        self.machine = Machine(self.schedule, segs, int(self.info.get("wasi_memory", 0) or 0))
        self.block_steps = np.array([len(b.pcs) for b in self.schedule.blocks], dtype=np.int64)
        self.block_vsize = np.array([b.vsize for b in self.schedule.blocks], dtype=np.int64)
        self.chunks = store.chunk_index()  # (seq, first_step, n_steps, first_block, n_blocks)
        self.chunk_first_steps = [c[1] for c in self.chunks]
        self.total_steps = sum(c[2] for c in self.chunks)
        self._load_chunk = lru_cache(maxsize=16)(self._load_chunk_uncached)
        self._frames: dict[int, tuple[list, int]] | None = None  # in-memory index, if needed
        self._pc_index = None  # built by the replay session on first use
        self._page = lru_cache(maxsize=8192)(store.page)  # pages are immutable by digest

    # ---- chunks ---------------------------------------------------------------------------

    def chunk(self, seq: int) -> Chunk:
        return self._load_chunk(seq)

    def _load_chunk_uncached(self, seq: int) -> Chunk:
        row = self.store.chunk(seq)
        if not self.store.verify_chunk(row):
            raise CorruptTrace(f"chunk {seq} (steps {row.first_step}-"
                               f"{row.first_step + row.n_steps - 1}) fails its checksum")
        ids = np.frombuffer(codec.decompress(row.ids, max_size=1 << 30), dtype="<u4")
        vals = codec.decompress(row.vals, max_size=1 << 31)
        host_list = codec.unpack(row.host)
        if ids.size != row.n_blocks:
            raise CorruptTrace(f"chunk {seq} holds {ids.size} blocks, its row says {row.n_blocks}")
        if ids.size and int(ids.max()) >= self.block_steps.shape[0]:
            raise CorruptTrace(f"chunk {seq} names a block that does not exist")
        steps = self.block_steps[ids]
        vsz = self.block_vsize[ids]
        voffs = np.zeros(ids.size, dtype=np.int64)
        starts = np.zeros(ids.size, dtype=np.int64)
        if ids.size:
            np.cumsum(vsz[:-1], out=voffs[1:])
            np.cumsum(steps[:-1], out=starts[1:])
            if int(voffs[-1] + vsz[-1]) > len(vals):
                raise CorruptTrace(f"chunk {seq} has fewer recorded values than its blocks need")
        full = int(steps.sum())
        last = int(steps[-1]) if ids.size else 0
        if row.n_steps != full:
            last -= full - row.n_steps
            if not ids.size or not 0 < last <= int(steps[-1]):
                raise CorruptTrace(f"chunk {seq}: step count {row.n_steps} does not fit its blocks")
        host: dict[int, list] = {}
        if not isinstance(host_list, list):
            raise CorruptTrace(f"chunk {seq}: host events malformed")
        for ev in host_list:
            try:
                ordinal, _k, _results, regions = ev
                host[int(ordinal) - row.first_block] = [(int(a), bytes(d)) for a, d in regions]
            except (TypeError, ValueError):
                raise CorruptTrace(f"chunk {seq}: host event malformed")
        return Chunk(seq, row.first_step, row.n_steps, row.first_block, ids, vals, voffs,
                     starts, last, host)

    def chunk_for_step(self, step: int) -> int:
        i = bisect.bisect_right(self.chunk_first_steps, step) - 1
        return max(i, 0)

    # ---- checkpoints ----------------------------------------------------------------------

    def checkpoint(self, seq: int) -> dict:
        raw = self.store.checkpoint(seq)
        if raw is None:
            raise CorruptTrace(f"no checkpoint for chunk {seq}")
        cp = codec.unpack(raw)
        if not isinstance(cp, dict):
            raise CorruptTrace(f"checkpoint {seq} malformed")
        return cp

    def memory_at(self, seq: int, mem_sizes: list[int]) -> list[bytearray]:
        """Linear memories as they were at the start of chunk `seq`, from stored pages."""
        out = []
        for mi, size in enumerate(mem_sizes):
            if not 0 <= size <= MAX_MEMORY:
                raise CorruptTrace(f"memory {mi} size {size} in checkpoint {seq} is impossible")
            mem = bytearray(size)
            for page, digest in self.store.page_table(seq, mi).items():
                if digest == ZERO_DIGEST:
                    continue
                lo = page * SNAP_PAGE
                if lo >= size:
                    continue
                raw = self._page(digest)
                mem[lo:lo + len(raw)] = raw[: max(0, size - lo)]
            out.append(mem)
        return out

    def walk_frames(self, progress=None) -> dict[int, tuple[list, int]]:
        """Call stack (frames on the wire, previous block) at every chunk start, by replaying
        the blocks without memory: what the indexer stores, or what an unindexed trace (its
        recorder was killed) gets in memory. Entry len(chunks) is the state at the end."""
        m = self.machine
        saved, m.track_memory = m.track_memory, False
        try:
            st = self.initial_state(with_memory=False)
            out: dict[int, tuple[list, int]] = {}
            n = len(self.chunks)
            for i, (seq, *_rest) in enumerate(self.chunks):
                out[seq] = ([f.to_wire() for f in st.frames], st.prev_block)
                self.run_chunk(st, self.chunk(seq))
                if progress:
                    progress(i + 1, n, st.steps_done)
            out[n] = ([f.to_wire() for f in st.frames], st.prev_block)
            return out
        finally:
            m.track_memory = saved

    def state_at_chunk(self, seq: int, with_memory: bool = True) -> MachineState:
        cp = self.checkpoint(seq)
        if "frames" not in cp:
            if self._frames is None:
                self._frames = self.walk_frames()
            frames, prev = self._frames[seq]
            cp = dict(cp, frames=frames, prev=prev)
        mem_sizes = list(cp.get("mem_sizes", []))
        mems = self.memory_at(seq, mem_sizes) if with_memory else [bytearray() for _ in mem_sizes]
        first_block, first_step = (self.chunks[seq][3], self.chunks[seq][1]) if seq < len(self.chunks) \
            else (sum(c[4] for c in self.chunks), self.total_steps)
        return MachineState(
            frames=[Frame.from_wire(f) for f in cp["frames"]],
            globals=list(cp.get("globals", [])), memories=mems,
            prev_block=int(cp.get("prev", -1)), blocks_done=first_block, steps_done=first_step)

    def initial_state(self, with_memory: bool = True) -> MachineState:
        cp = self.checkpoint(0)
        mem_sizes = list(cp.get("mem_sizes", []))
        mems = self.memory_at(0, mem_sizes) if with_memory else [bytearray() for _ in mem_sizes]
        return MachineState(frames=[], globals=list(cp.get("globals", [])), memories=mems)

    # ---- sequential replay ----------------------------------------------------------------

    def run_chunk(self, st: MachineState, ch: Chunk, upto_block: int | None = None) -> None:
        """Apply a chunk's blocks to `st` (all of them, or those before `upto_block`)."""
        m = self.machine
        ids = ch.ids.tolist()
        voffs = ch.voffs.tolist()
        n = len(ids) if upto_block is None else upto_block
        last = len(ids) - 1
        vals = ch.vals
        host = ch.host
        for k in range(n):
            steps = ch.last_steps if k == last and ch.last_steps != self.block_steps[ids[k]] else None
            m.run_block(st, ids[k], vals, voffs[k], host.get(k), steps)


def value_bytes(value: int, vt: int) -> bytes:
    return int(value).to_bytes(VT_SIZE[vt], "little") if VT_SIZE[vt] else b""


__all__ = ["Trace", "Chunk", "ReplayError", "value_bytes"]
