"""Every write to linear memory in a chunk, as arrays: step, address, length.

Stores are gathered with numpy: per block id, the schedule says which of its steps store and
where in the block's values the address is; a chunk's block ids and value offsets then give
every store's step and address without a Python loop over steps. Bulk operations and host
writes (an import call filling a buffer) are few and added one by one. This answers "who wrote
this byte, and when" for watchpoints and queries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ttd.record.schedule import FX_COPY, FX_FILL, FX_INIT, FX_LOAD, FX_STORE
from ttd.replay.fastforward import expand_rows, gather_le
from ttd.replay.trace import Chunk, Trace

PAGE_SHIFT = 16  # the recorder's written-page maps have 64 KiB pages


@dataclass(slots=True)
class Writes:
    """Writes of one chunk, in step order; steps are absolute."""

    step: np.ndarray  # int64: the step that writes
    addr: np.ndarray  # int64: first byte
    size: np.ndarray  # int64: number of bytes
    memory: np.ndarray  # int32

    def overlapping(self, lo: int, hi: int, memory: int = 0) -> np.ndarray:
        """Indices of writes touching bytes [lo, hi) of `memory`."""
        return np.flatnonzero((self.memory == memory) & (self.addr < hi) & (self.addr + self.size > lo))


class WriteIndex:
    """Writes (stores, bulk destinations, host writes) or, with reads=True, reads (loads of a
    trace recorded with `--reads`, and memory.copy sources)."""

    def __init__(self, trace: Trace, reads: bool = False):
        self.trace = trace
        self.reads = reads
        blocks = trace.schedule.blocks
        starts = []
        f_step, f_voff, f_off, f_width, f_64, f_mem = [], [], [], [], [], []
        self.bulk_blocks = set()
        wanted = FX_LOAD if reads else FX_STORE
        for bid, b in enumerate(blocks):
            starts.append(len(f_step))
            for fx in b.effects:
                if fx[1] == wanted:
                    width = fx[3] if fx[3] > 0 else -fx[3]
                    f_step.append(fx[0])
                    f_voff.append(fx[4])
                    f_off.append(fx[5])
                    f_width.append(width)
                    f_64.append(bool(fx[6]))
                    f_mem.append(fx[2])
                elif fx[1] in ((FX_COPY,) if reads else (FX_FILL, FX_COPY, FX_INIT)):
                    self.bulk_blocks.add(bid)
        self.fx_rows = np.array(starts + [len(f_step)], dtype=np.int64)  # CSR row starts
        self.fx_step = np.array(f_step, dtype=np.int64)
        self.fx_voff = np.array(f_voff, dtype=np.int64)
        self.fx_off = np.array(f_off, dtype=np.int64)
        self.fx_width = np.array(f_width, dtype=np.int64)
        self.fx_64 = np.array(f_64, dtype=bool)
        self.fx_mem = np.array(f_mem, dtype=np.int32)
        self._bulk = np.array(sorted(self.bulk_blocks), dtype=np.int64)
        self._cache: dict[int, Writes] = {}
        self._maps: dict[int, list] = {}  # small: a few bytes per chunk

    def may_write(self, seq: int, lo: int, hi: int, memory: int = 0) -> bool:
        """False when the recorder's page map proves chunk `seq` wrote none of [lo, hi), so
        a search skips it without decoding. Checks from 16 bytes before lo: the map marks the
        page a store starts in, and a store may cross into the next page."""
        if self.reads:
            return True  # the recorder keeps page maps of writes only
        maps = self._maps.get(seq)
        if maps is None:
            if seq + 1 > len(self.trace.chunks):
                return True
            try:
                maps = self.trace.checkpoint(seq + 1).get("written_before")
            except Exception:
                maps = None
            maps = self._maps[seq] = maps if isinstance(maps, list) else []
        if memory >= len(maps) or not isinstance(maps[memory], bytes):
            return True
        bits = np.frombuffer(maps[memory], np.uint8)
        first = max(lo - 16, 0) >> PAGE_SHIFT
        last = max(hi - 1, 0) >> PAGE_SHIFT
        if first >= bits.shape[0] * 8:
            return False
        pages = np.arange(first, min(last, bits.shape[0] * 8 - 1) + 1)
        return bool(((bits[pages >> 3] >> (7 - (pages & 7))) & 1).any())

    def writes(self, seq: int) -> Writes:
        got = self._cache.get(seq)
        if got is None:
            got = self._build(self.trace.chunk(seq))
            if len(self._cache) > 32:
                self._cache.pop(next(iter(self._cache)))
            self._cache[seq] = got
        return got

    def _build(self, ch: Chunk) -> Writes:
        ids = ch.ids.astype(np.int64)
        blk, fx = expand_rows(self.fx_rows, ids, np.arange(ids.size))
        rel = ch.step_starts[blk] + self.fx_step[fx]
        pos = ch.voffs[blk] + self.fx_voff[fx]
        raw = np.frombuffer(ch.vals, dtype=np.uint8)
        addr = gather_le(raw, pos, 4)
        is64 = self.fx_64[fx]
        if is64.any():
            addr[is64] = gather_le(raw, pos[is64], 8)
        addr += self.fx_off[fx]
        size = self.fx_width[fx]
        mem = self.fx_mem[fx]
        if ids.size and ch.last_steps != int(self.trace.block_steps[ids[-1]]):
            # the trapping block: its trapping step and those after it wrote nothing
            keep = ~((blk == ids.size - 1) & (self.fx_step[fx] >= ch.last_steps - 1))
            rel, addr, size, mem = rel[keep], addr[keep], size[keep], mem[keep]
        steps = [rel + ch.first_step]
        addrs, sizes, mems = [addr], [size], [mem]
        extra = self._extra(ch)
        if extra:
            e = np.array(extra, dtype=np.int64)
            steps.append(e[:, 0])
            addrs.append(e[:, 1])
            sizes.append(e[:, 2])
            mems.append(e[:, 3].astype(np.int32))
        step = np.concatenate(steps)
        order = np.argsort(step, kind="stable")
        return Writes(step[order], np.concatenate(addrs)[order], np.concatenate(sizes)[order],
                      np.concatenate(mems)[order])

    def _extra(self, ch: Chunk) -> list[tuple[int, int, int, int]]:
        """Bulk-memory writes and host writes: (step, addr, size, memory)."""
        out = []
        blocks = self.trace.schedule.blocks
        wasi_memory = self.trace.machine.wasi_memory
        for k, regions in ([] if self.reads else ch.host.items()):
            step = ch.first_step + int(ch.step_starts[k]) + len(blocks[int(ch.ids[k])].pcs) - 1
            for addr, data in regions:
                out.append((step, addr, len(data), wasi_memory))
        if self._bulk.size:
            for k in np.flatnonzero(np.isin(ch.ids, self._bulk)).tolist():
                b = blocks[int(ch.ids[k])]
                base = int(ch.voffs[k])
                for fx in b.effects:
                    if fx[1] not in ((FX_COPY,) if self.reads else (FX_FILL, FX_COPY, FX_INIT)):
                        continue
                    if k == len(ch.ids) - 1 and fx[0] >= ch.last_steps - 1 and \
                            ch.last_steps != len(b.pcs):
                        continue
                    d64 = bool(fx[3]) if fx[1] == FX_FILL else bool(fx[5])
                    dst = _u(ch.vals, base + fx[4], d64)
                    if fx[1] == FX_FILL:
                        n = _u(ch.vals, base + fx[4] + (8 if d64 else 4) + 4, d64)
                        mem = fx[2]
                    elif fx[1] == FX_COPY:
                        s64 = bool(fx[6])
                        o = fx[4] + (8 if d64 else 4) + (8 if s64 else 4)
                        n = _u(ch.vals, base + o, bool(fx[7]))
                        mem = fx[2]
                        if self.reads:  # the source is what is read
                            dst = _u(ch.vals, base + fx[4] + (8 if d64 else 4), s64)
                            mem = fx[3]
                    else:
                        n = _u(ch.vals, base + fx[4] + (8 if d64 else 4) + 4, False)
                        mem = fx[2]
                    if n:
                        out.append((ch.first_step + int(ch.step_starts[k]) + fx[0], dst, n, mem))
        return out


def _u(vals: bytes, off: int, is64: bool) -> int:
    size = 8 if is64 else 4
    return int.from_bytes(vals[off:off + size], "little")
