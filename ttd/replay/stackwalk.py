"""The call stack across a whole chunk at once, with numpy instead of a loop over blocks.

Indexing a trace needs the frames (function, pc, locals) at every chunk boundary, and reverse
line stepping needs the call depth of every block. Both follow from the block ids alone: how
each block ends says whether the next one is a call, a return or the same frame. Walking
blocks one by one in Python runs at ~4M blocks/s; this runs a chunk in a few milliseconds.

Chunks this cannot vectorise (exceptions unwinding, a trap cutting the last block short, a
stack running empty, anything inconsistent) return None, and callers use the exact
block-by-block machine, which also gives the precise error for a corrupt trace.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ttd.record.schedule import (
    EXIT_CALL, EXIT_CALL_INDIRECT, EXIT_HOSTCALL, EXIT_TAILCALL, EXIT_THROW, FX_LOCAL, Schedule,
)
from ttd.replay.fastforward import expand_rows
from ttd.replay.machine import Frame, MachineState, read_value


SUCC_COLS = 4


class StackTables:
    """Per-block arrays derived once from the schedule."""

    def __init__(self, schedule: Schedule):
        blocks = schedule.blocks
        nb = len(blocks)
        self.n_blocks = nb
        self.exit = np.array([b.exit for b in blocks], dtype=np.int8)
        self.entry = np.array([b.entry for b in blocks], dtype=bool)
        self.func = np.array([b.func for b in blocks], dtype=np.int64)
        self.callee = np.array([b.callee for b in blocks], dtype=np.int64)
        self.last_pc = np.array([b.pcs[-1] if b.pcs else -1 for b in blocks], dtype=np.int64)
        first_pc = [b.pcs[0] if b.pcs else -1 for b in blocks]
        self.ret_pc = np.array([first_pc[b.succ[0]] if b.succ and 0 <= b.succ[0] < nb else -1
                                for b in blocks], dtype=np.int64)
        edges = sorted({p * nb + s for p, b in enumerate(blocks) for s in b.succ if 0 <= s < nb})
        self.edges = np.array(edges, dtype=np.int64)
        # the first SUCC_COLS successors of each block as a table (-1 pads), for a gather
        # instead of a search; blocks with more (br_table) are searched in `edges`
        cols = np.full((SUCC_COLS, nb), -1, dtype=np.int64)
        self.wide = np.zeros(nb, dtype=bool)
        for p, b in enumerate(blocks):
            ss = [x for x in b.succ if 0 <= x < nb]
            cols[:min(len(ss), SUCC_COLS), p] = ss[:SUCC_COLS]
            self.wide[p] = len(ss) > SUCC_COLS
        self.succ_cols = [np.ascontiguousarray(c) for c in cols]
        # local writes (step >= 0) of each block, as CSR arrays in step order
        starts, locs, offs, vts = [0], [], [], []
        for b in blocks:
            for fx in b.effects:
                if fx[1] == FX_LOCAL and fx[0] >= 0:
                    locs.append(fx[2])
                    vts.append(fx[3])
                    offs.append(fx[4])
            starts.append(len(locs))
        self.lw_start = np.array(starts, dtype=np.int64)
        self.lw_local = np.array(locs, dtype=np.int64)
        self.lw_off = np.array(offs, dtype=np.int64)
        self.lw_vt = np.array(vts, dtype=np.int64)
        self.max_locals = max((len(f.locals) for f in schedule.funcs.values()), default=0) + 1


@dataclass(slots=True)
class ChunkStack:
    depths: np.ndarray  # frames on the stack while each block runs
    frames: list[Frame]  # the stack after the chunk's last block


def walk_chunk(tables: StackTables, machine, frames: list[Frame], prev_block: int,
               ids: np.ndarray, voffs: np.ndarray, vals: bytes, full_last: bool = True
               ) -> ChunkStack | None:
    """Depth of every block, and the frames after the chunk; None if it needs the exact walk.

    `frames` and `prev_block` are the state before the chunk; `full_last` is False when the
    last block was cut short by a trap.
    """
    n = ids.shape[0]
    if n == 0:
        return ChunkStack(np.zeros(0, dtype=np.int32), [_copy(f) for f in frames])
    if not full_last:
        return None
    ids = ids.astype(np.int64, copy=False)
    if prev_block < 0:
        if frames:
            return None
        prev = np.empty(n, dtype=np.int64)
        prev[0] = -1
        prev[1:] = ids[:-1]
    else:
        prev = np.empty(n, dtype=np.int64)
        prev[0] = prev_block
        prev[1:] = ids[:-1]
        if not frames:
            return None
    safe_prev = np.where(prev < 0, 0, prev)
    ex = tables.exit[safe_prev]
    if (ex == EXIT_THROW).any():
        return None
    entry = tables.entry[ids]
    first = prev < 0
    push = first | (ex == EXIT_CALL) | ((ex == EXIT_CALL_INDIRECT) & entry)
    if first.any() and not entry[0]:
        return None
    tail = (ex == EXIT_TAILCALL) & ~first
    stay = ((ex == EXIT_HOSTCALL) | (ex == EXIT_CALL_INDIRECT)) & ~push
    other = ~(push | tail | stay | first)
    # anything else stays in the frame if the next block is a successor, else it returns
    found = tables.succ_cols[0][safe_prev] == ids
    for col in tables.succ_cols[1:]:
        found |= col[safe_prev] == ids
    wide = other & tables.wide[safe_prev] & ~found
    if wide.any() and tables.edges.shape[0]:
        kw = np.flatnonzero(wide)
        keys = safe_prev[kw] * tables.n_blocks + ids[kw]
        pos = np.minimum(np.searchsorted(tables.edges, keys), tables.edges.shape[0] - 1)
        found[kw] = tables.edges[pos] == keys
    ret = other & ~found
    # a call must land on its callee's entry; anything else is for the exact walk to report
    real_push = push & ~first
    if real_push.any():
        if not entry[real_push].all():
            return None
        callee = tables.callee[safe_prev[real_push]]
        if ((callee >= 0) & (callee != tables.func[ids[real_push]])).any():
            return None
    delta = push.astype(np.int64) - ret.astype(np.int64) - (tail & ~entry).astype(np.int64)
    depths = len(frames) + np.cumsum(delta)
    if n and int(depths.min()) < 1:
        return None  # the stack ran empty (a top-level return): the exact walk knows what to do
    newact = push | (tail & entry)
    if ret.any() and not _returns_land_home(tables, frames, ids, depths, newact, ret):
        return None

    out_depth = int(depths[-1])
    out: list[Frame] = []
    levels = np.arange(1, out_depth + 1)
    # the live activation of each level: its last start in this chunk, else carried over
    act_pos = _last_by(depths, newact & (depths <= out_depth), out_depth + 1)
    # the last block run at each level (its last pc is that frame's pc): depth moves by at
    # most one per block, so after its last visit to a level <= the final depth the walk
    # stays above it; those last visits are the blocks deeper than nothing after them
    last_at = np.full(out_depth + 1, -1, dtype=np.int64)
    after_min = np.empty(n, dtype=np.int64)
    after_min[-1] = np.iinfo(np.int64).max
    if n > 1:
        after_min[:-1] = np.minimum.accumulate(depths[::-1])[::-1][1:]
    records = np.flatnonzero(depths < after_min)
    last_at[depths[records]] = records  # their depths are distinct
    # the last real push from each level (the callee is one deeper): the caller's return pc
    last_push = _last_by(depths - 1, real_push & (depths <= out_depth + 1), out_depth + 1)

    # local writes belonging to the live activations
    within = depths <= out_depth
    live_start = np.where(act_pos[depths.clip(max=out_depth)] >= 0,
                          act_pos[depths.clip(max=out_depth)], 0)
    sel = np.flatnonzero(within & (np.arange(n) >= live_start))
    latest: dict[int, list[tuple[int, int]]] = {}
    if sel.size and tables.lw_local.size:
        rep_k, w = expand_rows(tables.lw_start, ids, sel)
        if rep_k.size:
            total = rep_k.shape[0]
            level = depths[rep_k]
            key = level * tables.max_locals + tables.lw_local[w]
            rev = key[::-1]
            uniq, idx = np.unique(rev, return_index=True)
            last = total - 1 - idx
            for u, li in zip(uniq.tolist(), last.tolist()):
                wi = int(w[li])
                k = int(rep_k[li])
                latest.setdefault(u // tables.max_locals, []).append((
                    u % tables.max_locals,
                    read_value(vals, int(voffs[k]) + int(tables.lw_off[wi]), int(tables.lw_vt[wi]))))

    for lv in levels.tolist():
        a = int(act_pos[lv])
        if a >= 0:
            bid = int(ids[a])
            f = machine.new_frame(machine.blocks[bid], vals, int(voffs[a]))
        else:
            if lv > len(frames):
                return None
            f = _copy(frames[lv - 1])
        for loc, v in latest.get(lv, ()):
            if loc >= len(f.locals):
                return None
            f.locals[loc] = v
        la = int(last_at[lv])
        if la >= 0:
            f.pc = int(tables.last_pc[ids[la]])
        lp = int(last_push[lv])
        if lp >= 0 and lp > a:
            f.ret_pc = int(tables.ret_pc[prev[lp]])
        out.append(f)
    return ChunkStack(depths.astype(np.int32), out)


def _returns_land_home(tables: StackTables, frames: list[Frame], ids: np.ndarray,
                       depths: np.ndarray, newact: np.ndarray, ret: np.ndarray) -> bool:
    """Whether every return lands in a block of the function it returns to, as the exact walk
    requires (a crafted chunk may return anywhere); without this a corrupt chunk would walk."""
    n = ids.shape[0]
    acts = np.flatnonzero(newact)
    keys = depths[acts] * (n + 1) + acts  # ascending: by level, then position
    order = np.argsort(keys, kind="stable")
    keys, acts = keys[order], acts[order]
    rets = np.flatnonzero(ret)
    level = depths[rets]
    idx = np.searchsorted(keys, level * (n + 1) + rets) - 1
    hit = idx >= 0
    hit[hit] = keys[idx[hit]] // (n + 1) == level[hit]
    want = np.empty(rets.shape[0], dtype=np.int64)
    want[hit] = tables.func[ids[acts[idx[hit]]]]
    carried = level[~hit]
    if carried.size:
        if int(carried.max()) > len(frames):
            return False
        funcs = np.array([f.func for f in frames], dtype=np.int64)
        want[~hit] = funcs[carried - 1]
    return bool((tables.func[ids[rets]] == want).all())


def _last_by(keys: np.ndarray, mask: np.ndarray, size: int) -> np.ndarray:
    """For each key below size: the last position where mask holds with that key, else -1."""
    out = np.full(size, -1, dtype=np.int64)
    pos = np.flatnonzero(mask)
    if pos.size:
        k = keys[pos]
        ok = (k >= 0) & (k < size)
        np.maximum.at(out, k[ok], pos[ok])
    return out


def _copy(f: Frame) -> Frame:
    return Frame(f.func, list(f.locals), f.pc, f.ret_pc)


def stack_after(tables: StackTables, machine, n_globals: int, ids: np.ndarray, voffs: np.ndarray,
                vals: bytes, frames: list[Frame], prev: int, last_steps: int, full_last: bool
                ) -> ChunkStack:
    """walk_chunk, or where it cannot vectorise, the exact walk block by block (which also
    names what is wrong with a corrupt chunk)."""
    got = walk_chunk(tables, machine, frames, prev, ids, voffs, vals, full_last)
    if got is not None:
        return got
    saved, machine.track_memory = machine.track_memory, False
    try:
        st = MachineState(frames=[Frame(f.func, list(f.locals), f.pc, f.ret_pc) for f in frames],
                          globals=[0] * n_globals, memories=[], prev_block=prev)
        depths = np.empty(len(ids), dtype=np.int32)
        id_list = ids.tolist()
        voff_list = voffs.tolist()
        last = len(id_list) - 1
        for k in range(len(id_list)):
            steps = last_steps if k == last and not full_last else None
            machine.run_block(st, id_list[k], vals, voff_list[k], None, steps)
            depths[k] = len(st.frames)
        return ChunkStack(depths, st.frames)
    finally:
        machine.track_memory = saved


def block_bitmap(n_blocks: int, ids: np.ndarray) -> bytes:
    """The set of block ids as a bitmap, as the indexer stores it per chunk."""
    mask = np.zeros(n_blocks, dtype=bool)
    mask[ids] = True
    return np.packbits(mask).tobytes()
