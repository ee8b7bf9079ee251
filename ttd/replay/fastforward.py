"""Apply the first k blocks of a chunk to a state in a few numpy operations.

A seek lands anywhere in a chunk of ~65,000 blocks; applying them one by one in Python costs
tens of milliseconds. Everything a block changes is either a frame (the stack walk), a global
(the last write wins), or memory. Stores are scattered byte by byte with the last write to each
byte winning; blocks whose effects depend on memory as it is at that moment (memory.copy,
memory.grow, bulk fills, host writes) split the chunk into runs and are applied one by one.
"""

from __future__ import annotations

import numpy as np

from ttd.record.schedule import FX_COPY, FX_FILL, FX_GLOBAL, FX_GROW, FX_INIT, FX_STORE, Schedule
from ttd.replay.lazy_memory import write
from ttd.replay.machine import MachineState, ReplayError, read_value

_BULK = (FX_GROW, FX_FILL, FX_COPY, FX_INIT)


class EffectTables:
    """Per-block arrays of stores and global writes, derived once from the schedule."""

    def __init__(self, schedule: Schedule):
        s_start, s_mem, s_addr, s_val, s_width, s_64, s_off = [0], [], [], [], [], [], []
        g_start, g_idx, g_off, g_vt = [0], [], [], []
        special = []
        for b in schedule.blocks:
            sp = False
            for fx in b.effects:
                kind = fx[1]
                if kind == FX_STORE:
                    width, voff, off, is64 = fx[3], fx[4], fx[5], bool(fx[6])
                    asz = 8 if is64 else 4
                    if width > 0:
                        vpos = voff + asz
                    else:
                        width = -width
                        vpos = voff + asz + fx[7] * width
                    s_mem.append(fx[2])
                    s_addr.append(voff)
                    s_val.append(vpos)
                    s_width.append(width)
                    s_64.append(is64)
                    s_off.append(off)
                elif kind == FX_GLOBAL:
                    g_idx.append(fx[2])
                    g_off.append(fx[4])
                    g_vt.append(fx[3])
                elif kind in _BULK:
                    sp = True
            s_start.append(len(s_mem))
            g_start.append(len(g_idx))
            special.append(sp)
        i64 = np.int64
        self.s_start, self.s_mem = np.array(s_start, i64), np.array(s_mem, i64)
        self.s_addr, self.s_val = np.array(s_addr, i64), np.array(s_val, i64)
        self.s_width, self.s_64 = np.array(s_width, i64), np.array(s_64, bool)
        self.s_off = np.array(s_off, i64)
        self.g_start, self.g_idx = np.array(g_start, i64), np.array(g_idx, i64)
        self.g_off, self.g_vt = np.array(g_off, i64), np.array(g_vt, i64)
        self.special = np.array(special, bool)
        self.max_width = int(self.s_width.max()) if self.s_width.size else 0


def expand_rows(start: np.ndarray, ids: np.ndarray, ks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For blocks ks (positions) with ids, every (position, table row) of their entries."""
    bids = ids[ks]
    counts = start[bids + 1] - start[bids]
    total = int(counts.sum())
    if not total:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    rep = np.repeat(ks, counts)
    first = np.repeat(start[bids], counts)
    within = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    return rep, first + within


def apply_globals(t: EffectTables, st: MachineState, ids: np.ndarray, voffs: np.ndarray,
                  vals: bytes) -> None:
    """Globals after blocks `ids`: the last write to each."""
    if not t.g_idx.size:
        return
    rep, row = expand_rows(t.g_start, ids, np.arange(ids.shape[0]))
    if not rep.size:
        return
    g = t.g_idx[row][::-1]
    uniq, idx = np.unique(g, return_index=True)
    last = rep.shape[0] - 1 - idx
    for gi, li in zip(uniq.tolist(), last.tolist()):
        if gi >= len(st.globals):
            raise ReplayError(f"write to global {gi}, which does not exist")
        st.globals[gi] = read_value(vals, int(voffs[rep[li]]) + int(t.g_off[row[li]]),
                                    int(t.g_vt[row[li]]))


def apply_stores(t: EffectTables, st: MachineState, ids: np.ndarray, voffs: np.ndarray,
                 raw: np.ndarray, lo: int, hi: int) -> None:
    """Memory after the stores of blocks lo..hi-1 (none of them special), in order."""
    if hi <= lo or not t.s_mem.size:
        return
    rep, row = expand_rows(t.s_start, ids, np.arange(lo, hi))
    if not rep.size:
        return
    base = voffs[rep]
    apos = base + t.s_addr[row]
    is64 = t.s_64[row]
    addr = gather_le(raw, apos, 4)
    if is64.any():
        addr[is64] = gather_le(raw, apos[is64], 8)
    addr += t.s_off[row]
    width = t.s_width[row]
    vpos = base + t.s_val[row]
    mem = t.s_mem[row]
    for mi in ([0] if len(st.memories) == 1 else np.unique(mem).tolist()):
        sel = mem == mi
        if mi >= len(st.memories):
            raise ReplayError(f"store to memory {mi}, which does not exist")
        m = st.memories[mi]
        a, w, v = addr[sel], width[sel], vpos[sel]
        if a.size and (int(a.min()) < 0 or int(a.max()) > len(m) or int((a + w).max()) > len(m)):
            raise ReplayError(f"recorded store outside memory {mi}")
        # a slot written again and again (the stack) counts once: its last write
        key = (a << 5 | w)[::-1]
        _, idx = np.unique(key, return_index=True)
        pos = a.shape[0] - 1 - idx  # position in write order; entries ordered by address
        a, w, v = a[pos], w[pos], v[pos]
        # slots that overlap no other (most of them) have one writer per byte; the rest (a
        # stack slot reused at another width) are written byte by byte, the last write of
        # each byte winning. Either way the bytes go to distinct, ascending addresses.
        alone = np.ones(a.shape[0], dtype=bool)
        if a.shape[0] > 1:
            fresh = a[1:] >= np.maximum.accumulate(a + w)[:-1]  # starts a new cluster
            alone[1:] = fresh
            alone[:-1] &= fresh
        if alone.all():
            dst, src = _bytes_of(a, w, v)
        else:
            dst, src = _bytes_of(a[alone], w[alone], v[alone])
            order = np.argsort(pos[~alone], kind="stable")
            dst2, src2 = _bytes_of(a[~alone][order], w[~alone][order], v[~alone][order])
            dst2, idx = np.unique(dst2[::-1], return_index=True)
            src2 = src2[::-1][idx]
            both = np.concatenate([dst, dst2])
            order = np.argsort(both, kind="stable")
            dst, src = both[order], np.concatenate([src, src2])[order]
        write(m, dst, raw[src])


def _bytes_of(a: np.ndarray, w: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Destination and source byte positions of copying w bytes from raw[v] to memory[a]."""
    n = int(w.sum())
    within = np.arange(n) - np.repeat(np.cumsum(w) - w, w)
    return np.repeat(a, w) + within, np.repeat(v, w) + within


def gather_le(raw: np.ndarray, pos: np.ndarray, size: int) -> np.ndarray:
    """Little-endian unsigned integers of `size` bytes at byte positions `pos`."""
    out = np.zeros(pos.shape[0], dtype=np.int64)
    for k in range(size):
        out |= raw[pos + k].astype(np.int64) << (8 * k)
    return out


def fast_forward(trace, t: EffectTables, st: MachineState, ch, k: int,
                 with_globals: bool = True) -> None:
    """Memory and globals of `st` (at the start of chunk `ch`) moved past its first k blocks.

    The caller sets the frames (the stack walk) and the counters.
    """
    if k <= 0:
        return
    ids = ch.ids[:k].astype(np.int64)
    voffs = ch.voffs
    vals = ch.vals
    if with_globals:
        apply_globals(t, st, ids, voffs, vals)
    m = trace.machine
    if not m.track_memory or not st.memories:
        return
    raw = np.frombuffer(vals, dtype=np.uint8)
    cuts = np.flatnonzero(t.special[ids]).tolist()
    hosts = sorted(h for h in ch.host if h < k)
    cuts = sorted(set(cuts) | set(hosts))
    lo = 0
    blocks = m.blocks
    for c in cuts:
        apply_stores(t, st, ids, voffs, raw, lo, c)
        b = blocks[int(ids[c])]
        base = int(voffs[c])
        for fx in b.effects:  # this block's memory effects, in order
            if fx[1] == FX_STORE:
                m._store(st, fx, vals, base)
            elif fx[1] in _BULK:
                m._bulk(st, fx, vals, base)
        host = ch.host.get(c)
        if host is not None:
            m.apply_host(st, host)
        lo = c + 1
    apply_stores(t, st, ids, voffs, raw, lo, k)
