"""A trace opened for replay: its schedule, its chunks decoded, its checkpoints rebuilt.

Only data comes out of the file: block ids, recorded values, memory pages. The module is
parsed (never compiled or run) for its data segments and names.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from ttd.record.schedule import VT_SIZE, Schedule
from ttd.record.snapshot import SNAP_PAGE, ZERO_DIGEST
from ttd.replay.machine import Frame, Machine, MachineState, ReplayError, values_from_wire
from ttd.replay.fastforward import EffectTables, fast_forward
from ttd.replay.lazy_memory import LazyMemory, MemoryImage
from ttd.replay.stackwalk import ChunkStack, StackTables, block_bitmap, stack_after, walk_chunk
from ttd.replay.validate import MAX_MEMORY, check_checkpoint, check_chunk_index, check_info, check_schedule
from ttd.store import codec
from ttd.store.errors import CorruptTrace
from ttd.store.trace_store import TraceStore
from ttd.wasm.errors import WasmError
from ttd.wasm.module import Module, parse_module

PAGE_CACHE = 8192  # decoded 4 KiB pages kept (32 MiB)
IMAGES_KEPT = 4  # memory images of chunk starts kept (with the pages replay rebuilt)
MAX_CHUNK_VALUES = 1 << 30  # recorded values of one chunk (the recorder flushes at 1 MiB)
MAX_CHECKPOINT = 1 << 28  # a decoded checkpoint: a million frames with their locals


class HistoryNotExpanded(BaseException):
    """A segment (the last chunks of a run, expanded first for a post-mortem) was asked for
    history before its start. Whoever serves it waits for the whole history and asks again.
    A BaseException: no `except Exception` on the way may take it for a damaged trace."""

    def __init__(self, seq: int):
        super().__init__(f"chunk {seq} is before the expanded segment")
        self.seq = seq


class ChunkRows:
    """The chunk index, by seq. A segment's starts at its first chunk: asking for an
    earlier one, or walking all of them, raises HistoryNotExpanded."""

    def __init__(self, rows: list[tuple]):
        self.rows = rows
        self.first = rows[0][0] if rows else 0

    def __len__(self) -> int:
        return self.first + len(self.rows)

    def __getitem__(self, seq: int) -> tuple:
        if seq < 0:
            seq += len(self)
        if seq < self.first:
            raise HistoryNotExpanded(seq)
        return self.rows[seq - self.first]

    def __iter__(self):
        if self.first:
            raise HistoryNotExpanded(0)
        return iter(self.rows)


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
        try:
            self.info = check_info(store.info())
        except RecursionError:  # json nested deeper than Python recurses
            raise CorruptTrace("trace_info holds a value nested too deeply") from None
        row = store.module(0)
        self.module_name = row.name
        self.wasm = row.wasm
        if not isinstance(self.wasm, bytes) or not isinstance(self.module_name, str):
            raise CorruptTrace("the module stored in the trace is malformed")
        try:
            self.schedule = Schedule.from_wire(codec.unpack(row.schedule))
        except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as e:
            raise CorruptTrace(f"trace schedule is malformed: {type(e).__name__}: {e}") from None
        try:
            self.module: Module = parse_module(self.wasm)
        except WasmError as e:
            raise CorruptTrace(f"module stored in the trace is malformed: {e}")
        check_schedule(self.schedule, len(self.wasm))
        wasi_memory = self.info.get("wasi_memory") or 0
        if not 0 <= wasi_memory < max(len(self.schedule.memories), 1):
            raise CorruptTrace("trace_info['wasi_memory'] names a memory the module does not have")
        segs = [bytes(self.wasm[d.data_start:d.data_end]) for d in self.module.data_segments]
        self.machine = Machine(self.schedule, segs, wasi_memory)
        self.block_steps = np.array([len(b.pcs) for b in self.schedule.blocks], dtype=np.int64)
        self.block_vsize = np.array([b.vsize for b in self.schedule.blocks], dtype=np.int64)
        rows = store.chunk_index()  # (seq, first_step, n_steps, first_block, n_blocks)
        # (seq, step, block) where the history held here starts: 0 unless a segment
        start = (rows[0][0], rows[0][1], rows[0][3]) if self.info.get("segment") and rows \
            else (0, 0, 0)
        check_chunk_index(rows, int(self.block_steps.max()), start)
        self.first_seq, self.first_step, self.first_block = start
        self.chunks = ChunkRows(rows)
        self.chunk_first_steps = [c[1] for c in rows]
        self.total_steps = self.first_step + sum(c[2] for c in rows)
        self._load_chunk = lru_cache(maxsize=16)(self._load_chunk_uncached)
        self._frames: dict[int, tuple[list, int]] | None = None  # in-memory index, if needed
        self._pc_index = None  # built by the replay session on first use
        self._blocks_cache: dict[int, np.ndarray] = {}  # a bitmap per chunk: blocks/8 bytes
        self._images: dict[int, list[MemoryImage]] = {}  # an LRU of chunk starts, oldest first
        self._scratch: list[LazyMemory] = []  # buffers image_at replays stores into
        self._pages: dict[bytes, bytes] = {}  # pages are immutable by digest: a FIFO cache
        self._snapshot_before: dict[int, int] = {}

    # ---- chunks ---------------------------------------------------------------------------

    @property
    def is_segment(self) -> bool:
        return self.first_step > 0

    def chunk(self, seq: int) -> Chunk:
        if seq < self.first_seq:
            raise HistoryNotExpanded(seq)
        return self._load_chunk(seq)

    def _load_chunk_uncached(self, seq: int) -> Chunk:
        row = self.store.chunk(seq)
        if not self.store.verify_chunk(row):
            raise CorruptTrace(f"chunk {seq} (steps {row.first_step}-"
                               f"{row.first_step + row.n_steps - 1}) fails its checksum")
        try:
            # sizes are bounded by what the row and the schedule say before anything is
            # decompressed: 4 bytes per block id, then exactly the values those blocks record
            raw_ids = codec.decompress(row.ids, max_size=4 * row.n_blocks)
            if len(raw_ids) != 4 * row.n_blocks:
                raise CorruptTrace(f"{len(raw_ids)} bytes of block ids for {row.n_blocks} blocks")
            ids = np.frombuffer(raw_ids, dtype="<u4")
            if ids.size and int(ids.max()) >= self.block_steps.shape[0]:
                raise CorruptTrace("names a block that does not exist")
            need = int(self.block_vsize[ids].sum())
            if need > MAX_CHUNK_VALUES:
                raise CorruptTrace(f"its blocks claim {need} bytes of recorded values")
            vals = codec.decompress_values(row.vals, need, self.info.get("values_layout", "bytes"))
            host_list = codec.unpack(row.host)
        except CorruptTrace as e:
            raise CorruptTrace(f"chunk {seq}: {e}") from None
        steps = self.block_steps[ids]
        vsz = self.block_vsize[ids]
        voffs = np.zeros(ids.size, dtype=np.int64)
        starts = np.zeros(ids.size, dtype=np.int64)
        if ids.size:
            np.cumsum(vsz[:-1], out=voffs[1:])
            np.cumsum(steps[:-1], out=starts[1:])
        if len(vals) != need:
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
                k = ordinal - row.first_block
                if not isinstance(ordinal, int) or not 0 <= k < ids.size:
                    raise ValueError
                out = host[k] = []
                for a, d in regions:
                    if not isinstance(d, bytes) or not isinstance(a, int) or not 0 <= a < MAX_MEMORY:
                        raise ValueError
                    out.append((a, d))
            except (TypeError, ValueError):
                raise CorruptTrace(f"chunk {seq}: host event malformed") from None
        return Chunk(seq, row.first_step, row.n_steps, row.first_block, ids, vals, voffs,
                     starts, last, host)

    def chunk_runs_any(self, seq: int, wanted: np.ndarray) -> bool:
        """Does chunk `seq` run any of the block ids `wanted`? From the bitmap the indexer
        stored, without decoding the chunk (traces indexed before bitmaps decode it)."""
        bits = self._blocks_cache.get(seq)
        if bits is None:
            bitmap = self.checkpoint(seq).get("blocks")
            nb = self.block_steps.shape[0]
            if isinstance(bitmap, bytes) and len(bitmap) == (nb + 7) // 8:
                bits = np.frombuffer(bitmap, np.uint8)
            else:
                bits = np.frombuffer(self.block_bitmap(self.chunk(seq).ids), np.uint8)
            self._blocks_cache[seq] = bits
        return bool(((bits[wanted >> 3] >> (7 - (wanted & 7))) & 1).any())

    def chunk_for_step(self, step: int) -> int:
        if step < self.first_step:
            raise HistoryNotExpanded(-1)
        i = bisect.bisect_right(self.chunk_first_steps, step) - 1
        return max(i, 0) + self.first_seq

    # ---- checkpoints ----------------------------------------------------------------------

    def checkpoint(self, seq: int) -> dict:
        if seq < self.first_seq:
            raise HistoryNotExpanded(seq)
        raw = self.store.checkpoint(seq)
        if raw is None:
            raise CorruptTrace(f"no checkpoint for chunk {seq}")
        try:
            cp = codec.unpack(raw, max_size=MAX_CHECKPOINT)
        except CorruptTrace as e:
            raise CorruptTrace(f"checkpoint {seq}: {e}") from None
        return check_checkpoint(cp, seq, self.schedule)

    def has_snapshot(self, seq: int) -> bool:
        """Were memory pages stored at the start of chunk `seq`? (see SnapshotPolicy)"""
        return seq <= 0 or self.checkpoint(seq).get("snapshot", True) is not False

    def snapshot_before(self, seq: int) -> int:
        """The latest chunk start at or before `seq` with its memory pages stored."""
        s = self._snapshot_before.get(seq)
        if s is None:
            s = seq
            while not self.has_snapshot(s):
                s -= 1
            if len(self._snapshot_before) > 1 << 16:
                self._snapshot_before.clear()
            self._snapshot_before[seq] = s
        return s

    def image_at(self, seq: int) -> list[MemoryImage]:
        """Where each page of memory at the start of chunk `seq` comes from: the pages stored
        at the last snapshot, and the pages the recorded stores of the chunks since changed
        (moved forward from a closer image already built, when there is one)."""
        got = self._images.pop(seq, None)
        if got is not None:
            self._images[seq] = got  # most recently used last
            return got
        s = self.snapshot_before(seq)
        if s == seq:
            images = [MemoryImage(size, self._page_table(seq, mi, size))
                      for mi, size in enumerate(self._mem_sizes(seq))]
        else:
            start = max((b for b in self._images if s <= b < seq), default=s)
            base = self.image_at(start)
            mems = self._scratch = [_reset(old, img, self.page_bytes) for old, img
                                    in zip(self._scratch + [None] * len(base), base)]
            st = MachineState(frames=[], globals=[0] * len(self.schedule.globals), memories=mems)
            for c in range(start, seq):
                ch = self.chunk(c)
                fast_forward(self, self.effect_tables, st, ch, len(ch.ids), with_globals=False)
            if [len(m) for m in st.memories] != self._mem_sizes(seq):
                raise CorruptTrace(f"memory sizes replayed up to chunk {seq} differ from its checkpoint")
            images = [m.as_image() for m in st.memories]
        self._images[seq] = images
        while len(self._images) > IMAGES_KEPT:
            self._images.pop(next(iter(self._images)))
        return images

    def _mem_sizes(self, seq: int) -> list[int]:
        return list(self.checkpoint(seq).get("mem_sizes", []))  # checked by check_checkpoint

    def _page_table(self, seq: int, mi: int, size: int) -> dict[int, bytes]:
        return {page: digest for page, digest in self.store.page_table(seq, mi).items()
                if digest != ZERO_DIGEST and 0 <= page * SNAP_PAGE < size}

    def page_bytes(self, digests: list[bytes]) -> dict[bytes, bytes]:
        """Stored pages by digest, through a FIFO cache (pages never change)."""
        cache = self._pages
        have: dict[bytes, bytes] = {}
        missing = []
        for d in digests:
            raw = cache.get(d)
            if raw is None:
                missing.append(d)
            else:
                have[d] = raw
        if missing:
            got = self.store.pages(missing, max_size=SNAP_PAGE)
            for d in missing:
                if d not in got:
                    raise CorruptTrace("a memory page the trace refers to is missing")
            have.update(got)
            for d, raw in got.items():
                cache[d] = raw
                if len(cache) > PAGE_CACHE:
                    cache.pop(next(iter(cache)))
        return have

    def memory_at(self, seq: int) -> list[bytearray]:
        """Linear memories at the start of chunk `seq`, every page loaded."""
        return [LazyMemory(img.size, img, self.page_bytes).materialize()
                for img in self.image_at(seq)]

    def stored_memory(self, seq: int) -> list[bytearray]:
        """Linear memories at the start of chunk `seq` from the pages stored there alone."""
        return [LazyMemory(size, MemoryImage(size, self._page_table(seq, mi, size)),
                           self.page_bytes).materialize()
                for mi, size in enumerate(self._mem_sizes(seq))]

    def walk_frames(self, progress=None, blocks: dict[int, bytes] | None = None,
                    start: tuple[int, list, int] | None = None,
                    min_depths: dict[int, int] | None = None) -> dict[int, tuple[list, int]]:
        """Call stack (frames on the wire, previous block) at every chunk start, from the
        block ids alone: what the indexer stores, or what an unindexed trace (its recorder
        was killed) gets in memory. Entry len(chunks) is the state at the end. `start`:
        (chunk, frames on the wire, previous block) to walk from instead of the beginning."""
        frames: list[Frame] = []
        prev = -1
        steps = 0
        out: dict[int, tuple[list, int]] = {}
        n = len(self.chunks)
        first = 0
        if start is not None:
            first, wire, prev = start
            frames = [Frame.from_wire(w) for w in wire]
        for i, (seq, *_rest) in enumerate(self.chunks.rows):
            if seq < first:
                continue
            out[seq] = ([f.to_wire() for f in frames], prev)
            ch = self.chunk(seq)
            walked = self.chunk_stack(ch, frames, prev)
            frames = walked.frames
            if min_depths is not None and walked.depths.size:
                min_depths[seq] = int(walked.depths.min())
            if blocks is not None:
                blocks[seq] = self.block_bitmap(ch.ids)
            if len(ch.ids):
                prev = int(ch.ids[-1])
            steps += ch.n_steps
            if progress:
                progress(i + 1, n, steps)
        out[n] = ([f.to_wire() for f in frames], prev)
        return out

    @cached_property
    def stack_tables(self) -> StackTables:
        return StackTables(self.schedule)

    @cached_property
    def effect_tables(self) -> EffectTables:
        return EffectTables(self.schedule)

    def chunk_stack(self, ch: Chunk, frames: list[Frame], prev: int) -> ChunkStack:
        """Depth of each block of `ch` and the frames after it, from the frames before it."""
        full_last = not len(ch.ids) or ch.last_steps == int(self.block_steps[ch.ids[-1]])
        return stack_after(self.stack_tables, self.machine, len(self.schedule.globals), ch.ids,
                           ch.voffs, ch.vals, frames, prev, ch.last_steps, full_last)

    def block_bitmap(self, ids: np.ndarray) -> bytes:
        """The set of block ids as a bitmap, as the indexer stores it per chunk."""
        return block_bitmap(self.block_steps.shape[0], ids)

    def state_at_chunk(self, seq: int, with_memory: bool = True,
                       reuse: list[bytearray] | None = None) -> MachineState:
        """State at the start of chunk `seq`, its memory lazy: pages load when touched.
        `reuse` are memories of a state no longer needed, whose buffers are taken over."""
        cp = self.checkpoint(seq)
        if "frames" not in cp:
            if self._frames is None:
                self._frames = self.walk_frames()
            frames, prev = self._frames[seq]
            cp = dict(cp, frames=frames, prev=prev)
        mem_sizes = list(cp.get("mem_sizes", []))
        if with_memory:
            mems = []
            for i, img in enumerate(self.image_at(seq)):
                old = reuse[i] if reuse is not None and i < len(reuse) else None
                mems.append(_reset(old, img, self.page_bytes))
        else:
            mems = [bytearray() for _ in mem_sizes]
        first_block, first_step = (self.chunks[seq][3], self.chunks[seq][1]) if seq < len(self.chunks) \
            else (self.first_block + sum(c[4] for c in self.chunks.rows), self.total_steps)
        return MachineState(
            frames=[Frame.from_wire(f) for f in cp["frames"]],
            globals=values_from_wire(cp.get("globals", [])), memories=mems,
            prev_block=int(cp.get("prev", -1)), blocks_done=first_block, steps_done=first_step)

    def initial_state(self, with_memory: bool = True) -> MachineState:
        cp = self.checkpoint(0)
        mem_sizes = list(cp.get("mem_sizes", []))
        mems = self.stored_memory(0) if with_memory else [bytearray() for _ in mem_sizes]
        return MachineState(frames=[], globals=values_from_wire(cp.get("globals", [])), memories=mems)

    # ---- sequential replay ----------------------------------------------------------------

    def advance(self, st: MachineState, ch: Chunk, k: int) -> None:
        """Apply the first k blocks of `ch` to `st` (at the chunk's start), vectorised when
        the stack walk allows it: the same result as run_chunk, in a few milliseconds."""
        if k <= 0:
            return
        n = len(ch.ids)
        # a trap cuts the last block short: only the exact machine runs part of a block
        full = k < n or ch.last_steps == int(self.block_steps[ch.ids[-1]])
        got = walk_chunk(self.stack_tables, self.machine, st.frames, st.prev_block,
                         ch.ids[:k], ch.voffs, ch.vals, True) if full else None
        if got is None:
            self.run_chunk(st, ch, upto_block=k)
            return
        fast_forward(self, self.effect_tables, st, ch, k)
        st.frames = got.frames
        st.prev_block = int(ch.ids[k - 1])
        st.blocks_done += k
        st.steps_done += int(ch.step_starts[k]) if k < n else ch.n_steps

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


def _reset(old: bytearray | None, image: MemoryImage, fetch) -> LazyMemory:
    """`old` (a buffer no longer needed) made lazily into `image`, or a new memory."""
    if type(old) is LazyMemory:
        old.reset(image, fetch)
        return old
    return LazyMemory(image.size, image, fetch)


def value_bytes(value: int, vt: int) -> bytes:
    return int(value).to_bytes(VT_SIZE[vt], "little") if VT_SIZE[vt] else b""


__all__ = ["Trace", "Chunk", "ReplayError", "HistoryNotExpanded", "value_bytes"]
