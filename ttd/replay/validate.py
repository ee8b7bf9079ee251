"""Shape and range checks for what replay takes from a trace file before trusting it.

A trace may come from a stranger. The schedule, the chunk index and the checkpoints are
checked once, as they are read, against each other and against the module: every block id,
function index, local, global and memory index in range, every recorded-value offset inside
its block's values, every size below what a wasm engine allows. After that, the machine,
the stack walk and the fast-forward can index arrays without checking, and a crafted trace
fails here with a one-line CorruptTrace naming what is wrong instead of an IndexError,
a TypeError or a 4 GiB allocation deep inside replay.
"""

from __future__ import annotations

from typing import Any

from ttd.record import schedule as S
from ttd.record.schedule import VT_SIZE, Schedule
from ttd.store.codec import VALUES_LAYOUTS
from ttd.store.errors import CorruptTrace

#: Largest wasm memory replay rebuilds (4 GiB: memory64 traces larger than this are refused).
MAX_MEMORY = 1 << 32
#: wasm pages
PAGE = 65536
#: Most blocks one chunk can hold (the recorder's --chunk-blocks limit).
MAX_CHUNK_BLOCKS = 1 << 22
#: Most locals a function may declare (wasmtime's and the spec's implementation limit).
MAX_LOCALS = 50_000
#: Most bytes of recorded values one block can write.
MAX_BLOCK_VALUES = 1 << 24
#: Deepest call stack a checkpoint may hold.
MAX_FRAMES = 1_000_000
#: Largest memarg offset accepted (memory64 allows 2**64; replay indexes int64 arrays).
MAX_OFFSET = 1 << 62

_EXITS = frozenset(v for k, v in vars(S).items() if k.startswith("EXIT_"))


def _int(v: Any) -> bool:
    return isinstance(v, int)  # bools are ints too: addr64 flags are stored as bools


def _ints(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, int) for x in v)


def _vt(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < len(VT_SIZE)


# Effects by kind: the fields after (step, kind), and the recorded bytes they occupy from
# voff as a function of the effect tuple (None: checked separately).
def _asz(flag: Any) -> int:
    return 8 if flag else 4


def check_schedule(sched: Schedule, wasm_size: int) -> None:
    """Raise CorruptTrace unless every field of the schedule is in range."""
    blocks = sched.blocks
    nb = len(blocks)
    if not nb:
        raise CorruptTrace("trace schedule has no blocks")
    if not isinstance(sched.globals, list) or not all(_vt(g) for g in sched.globals):
        raise CorruptTrace("trace schedule: global types malformed")
    n_mem = len(sched.memories)
    for idx, f in sched.funcs.items():
        if idx < 0 or f.index != idx:
            raise CorruptTrace(f"trace schedule: function index {idx} malformed")
        if not all(_vt(t) for t in f.locals) or not all(_vt(t) for t in f.params):
            raise CorruptTrace(f"trace schedule: function {idx} has malformed local types")
        if len(f.locals) > MAX_LOCALS or len(f.params) > len(f.locals) \
                or f.locals[:len(f.params)] != f.params:
            raise CorruptTrace(f"trace schedule: function {idx} locals do not fit its parameters")
        if not 0 <= f.entry_block < nb or blocks[f.entry_block].func != idx:
            raise CorruptTrace(f"trace schedule: function {idx} entry block {f.entry_block} "
                               f"is not one of its blocks")
    for bid, b in enumerate(blocks):
        _check_block(sched, bid, b, nb, n_mem, wasm_size)
    for nid, ranges in sched.landings.items():
        if nid < 0 and -1 - nid in sched.funcs:  # catches that return from function -1 - nid
            if any(len(r) != 3 or r[0] != -1 - nid for r in ranges):
                raise CorruptTrace(f"trace schedule: catches returning from function {-1 - nid} "
                                   f"malformed")
        elif not 0 <= nid < nb:
            raise CorruptTrace(f"trace schedule: exception landing on block {nid}, which does not exist")
        for r in ranges:
            if len(r) != 3 or not _ints(list(r)):
                raise CorruptTrace(f"trace schedule: exception landing {nid} malformed")


def _check_block(sched: Schedule, bid: int, b, nb: int, n_mem: int, wasm_size: int) -> None:
    def bad(what: str) -> CorruptTrace:
        return CorruptTrace(f"trace schedule: block {bid}: {what}")

    func = sched.funcs.get(b.func)
    if func is None:
        raise bad(f"function {b.func} does not exist")
    if not b.pcs or not _ints(b.pcs) or not all(0 <= pc < wasm_size for pc in b.pcs):
        raise bad("instruction offsets missing or outside the module")
    if b.exit not in _EXITS:
        raise bad(f"unknown exit kind {b.exit}")
    if b.callee < -1:
        raise bad(f"callee {b.callee} malformed")
    if not all(isinstance(s, int) and 0 <= s < nb for s in b.succ):
        raise bad("successor block does not exist")
    if not 0 <= b.vsize <= MAX_BLOCK_VALUES:
        raise bad(f"value size {b.vsize} impossible")
    n_steps = len(b.pcs)
    n_locals = len(func.locals)
    n_globals = len(sched.globals)
    for fx in b.effects:
        if len(fx) < 2 or not all(isinstance(x, int) for x in fx):
            raise bad("effect malformed")
        step, kind = fx[0], fx[1]
        if not -2 <= step < n_steps:
            raise bad(f"effect at step {step} outside the block")
        need = _effect_bytes(fx, n_locals, n_globals, n_mem)
        if need is None:
            raise bad(f"effect {tuple(fx)[:8]} malformed or out of range")
        voff, size = need
        if voff < 0 or voff + size > b.vsize:
            raise bad(f"effect reads values at {voff}..{voff + size}, past the block's {b.vsize}")
        if step == -1 and kind != S.FX_LOCAL or step == -2 and kind != getattr(S, "FX_RESULT", None):
            raise bad(f"effect of kind {kind} at step {step}")


def _effect_bytes(fx: tuple, n_locals: int, n_globals: int, n_mem: int) -> tuple[int, int] | None:
    """(voff, bytes of recorded values) the effect reads, or None if a field is out of range."""
    kind, n = fx[1], len(fx)

    def mem_ok(m: int) -> bool:
        return 0 <= m < n_mem

    if kind == S.FX_LOCAL and n == 5:
        if not (0 <= fx[2] < n_locals and _vt(fx[3])):
            return None
        return fx[4], VT_SIZE[fx[3]]
    if kind == S.FX_GLOBAL and n == 5:
        if not (0 <= fx[2] < n_globals and _vt(fx[3])):
            return None
        return fx[4], VT_SIZE[fx[3]]
    if kind == S.FX_STORE and n in (7, 8):
        width, asz = fx[3], _asz(fx[6])
        if not mem_ok(fx[2]) or not 0 <= fx[5] < MAX_OFFSET:
            return None
        if width > 0:
            return (fx[4], asz + width) if width <= 16 else None
        if n != 8 or not 0 < -width <= 8 or not 0 <= fx[7] < 16 // -width:
            return None
        return fx[4], asz + 16
    if kind == getattr(S, "FX_LOAD", None) and n == 7:
        if not mem_ok(fx[2]) or not 0 <= fx[5] < MAX_OFFSET or not -16 <= fx[3] <= 16:
            return None
        return fx[4], _asz(fx[6])
    if kind == S.FX_GROW and n == 5:
        return (fx[4], 2 * _asz(fx[3])) if mem_ok(fx[2]) else None
    if kind == S.FX_FILL and n == 5:
        return (fx[4], 2 * _asz(fx[3]) + 4) if mem_ok(fx[2]) else None
    if kind == S.FX_COPY and n == 8:
        if not (mem_ok(fx[2]) and mem_ok(fx[3])):
            return None
        return fx[4], _asz(fx[5]) + _asz(fx[6]) + _asz(fx[7])
    if kind == S.FX_INIT and n == 6:
        if not mem_ok(fx[2]) or fx[3] < 0:
            return None
        return fx[4], _asz(fx[5]) + 8
    if kind == getattr(S, "FX_RESULT", None) and n == 4:
        return (fx[3], VT_SIZE[fx[2]]) if _vt(fx[2]) else None
    return None


def check_chunk_index(chunks: list[tuple], max_block_steps: int,
                      start: tuple[int, int, int] = (0, 0, 0)) -> None:
    """The chunks follow each other: seq 0, 1, ..., each starting where the previous ended
    (a segment's from its first chunk: `start` is its seq, step and block)."""
    first, step, block = start
    if min(start) < 0:
        raise CorruptTrace(f"a segment starting at chunk {first}, step {step}, block {block}")
    for i, row in enumerate(chunks, first):
        seq, first_step, n_steps, first_block, n_blocks = row
        where = f"chunk {seq}" if seq == i else f"chunk {i}"
        if seq != i:
            raise CorruptTrace(f"incomplete trace: chunk {i} is missing (found chunk {seq})")
        if first_step != step or first_block != block:
            raise CorruptTrace(f"{where} starts at step {first_step}, block {first_block}; "
                               f"the chunks before it end at step {step}, block {block}")
        if not 0 <= n_blocks <= MAX_CHUNK_BLOCKS:
            raise CorruptTrace(f"{where} claims {n_blocks} blocks")
        if not 0 <= n_steps <= n_blocks * max_block_steps:
            raise CorruptTrace(f"{where} claims {n_steps} steps in {n_blocks} blocks")
        step += n_steps
        block += n_blocks


def check_checkpoint(cp: Any, seq: int, sched: Schedule) -> dict:
    """The checkpoint of chunk `seq`, checked against the schedule; returned as is."""
    def bad(what: str) -> CorruptTrace:
        return CorruptTrace(f"checkpoint {seq}: {what}")

    if not isinstance(cp, dict):
        raise bad("malformed")
    globs = cp.get("globals", [])
    if not isinstance(globs, list) or len(globs) != len(sched.globals) \
            or not all(_value_ok(v, t) or isinstance(v, bytes) and len(v) == 16 == VT_SIZE[t]
                       for v, t in zip(globs, sched.globals)):
        raise bad("globals malformed")
    sizes = cp.get("mem_sizes", [])
    if not isinstance(sizes, list) or len(sizes) != len(sched.memories):
        raise bad("memory sizes malformed")
    for mi, size in enumerate(sizes):
        if not isinstance(size, int) or not 0 <= size <= MAX_MEMORY or size % PAGE:
            raise bad(f"memory {mi} size {size!r} is impossible")
    if "frames" in cp:
        frames = cp["frames"]
        if not isinstance(frames, list) or len(frames) > MAX_FRAMES:
            raise bad("frames malformed")
        for f in frames:
            check_frame(f, sched, bad)
    if not isinstance(cp.get("snapshot", True), bool):
        raise bad("snapshot flag malformed")
    prev = cp.get("prev", -1)
    if not isinstance(prev, int) or not -1 <= prev < len(sched.blocks):
        raise bad(f"previous block {prev!r} does not exist")
    low = cp.get("min_depth", 0)
    if type(low) is not int or low < 0:
        raise bad(f"least depth {low!r} is not a depth")
    return cp


def check_frame(f: Any, sched: Schedule, bad) -> None:
    if not isinstance(f, list) or len(f) != 4 or not isinstance(f[1], list) \
            or not all(isinstance(x, int) for x in (f[0], f[2], f[3])):
        raise bad("frame malformed")
    info = sched.funcs.get(f[0])
    if info is None:
        raise bad(f"frame of function {f[0]}, which does not exist")
    if len(f[1]) != len(info.locals):
        raise bad(f"frame of function {f[0]} has {len(f[1])} locals, the function {len(info.locals)}")
    for v, t in zip(f[1], info.locals):
        if isinstance(v, bytes) and len(v) == 16 == VT_SIZE[t]:
            continue  # a v128 local travels as its bytes
        if not _value_ok(v, t):
            raise bad(f"frame of function {f[0]} has a malformed local")


def _value_ok(v: Any, vt: int) -> bool:
    """An unsigned integer that fits its value type (references carry no bits)."""
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        return False
    size = VT_SIZE[vt]
    return size == 0 or v < 1 << (8 * size)


__all__ = ["MAX_CHUNK_BLOCKS", "MAX_MEMORY", "check_checkpoint", "check_chunk_index",
           "check_frame", "check_schedule"]


# trace_info keys replay and `ttd info` read, with the types they must have (None allowed)
_INFO_TYPES: dict[str, tuple[type, ...]] = {
    "program": (str,), "invoke": (str,), "recorded_at": (str,), "ttd_version": (str,),
    "wasmtime_version": (str,), "module_sha256": (str,), "status": (str,), "trap": (str,),
    "functions": (int,), "exit_code": (int,), "trap_pc": (int,), "steps": (int,),
    "blocks": (int,), "chunks": (int,), "wasi_memory": (int,), "final": (dict,),
    "args": (list,), "env": (list,), "dirs": (list,), "layout": (dict,), "reads": (bool,),
    "values_layout": (str,),
}


def check_info(info: dict) -> dict:
    """trace_info, each known key of the type replay and `ttd info` expect; returned as is."""
    def bad(key: str) -> CorruptTrace:
        return CorruptTrace(f"trace_info[{key!r}] is malformed")

    for key, types in _INFO_TYPES.items():
        v = info.get(key)
        if v is not None and (not isinstance(v, types) or isinstance(v, bool) and bool not in types):
            raise bad(key)
    for key in ("args", "env", "dirs"):
        if key in info and not (isinstance(info[key], list)
                                and all(isinstance(x, str) for x in info[key])):
            raise bad(key)
    if not isinstance(info.get("status"), str):
        raise bad("status")
    if info.get("values_layout", "bytes") not in VALUES_LAYOUTS:
        raise CorruptTrace(f"chunk values in a layout this ttd does not know: "
                           f"{str(info['values_layout'])[:40]!r}")
    final = info.get("final")
    if final is not None:
        if not isinstance(final.get("mem_sha256", []), list) or \
                not isinstance(final.get("globals", []), list) or \
                not isinstance(final.get("last_pc"), (int, type(None))):
            raise bad("final")
    return info


__all__ += ["check_info"]
