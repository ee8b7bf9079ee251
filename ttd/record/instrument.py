"""Rewrite a module so that it records its own execution into a second linear memory.

Every function is cut into blocks: straight runs of instructions that always execute together
(wasmtime's step points: every opcode, a taken branch skipping to the label's continuation).
At run time a block stores its id in the id stream and reserves room in the value stream for
the values nobody can recompute: parameters at entry, locals and globals written, store
addresses and values, memory.grow/fill/copy/init operands. The host is called only when a
stream is full (slot 0 of a private table) and after each import call (to record its effects),
never per instruction or per block. Calls go through `call_indirect` on a table we append, so
no import is added and no function index moves.
"""

from __future__ import annotations

import bisect
import gc
import operator
from dataclasses import dataclass, field

from ttd.wasm import encode
from ttd.wasm.errors import WasmError
from ttd.wasm.emit import (
    global_get as _gg, global_set as _gs, i32_const as _i32c, local_get as _lg, local_set as _ls,
    uleb as _uleb,
)
from ttd.wasm.leb import encode_uleb, read_uleb
from ttd.wasm.module import FuncType, Module, parse_module
from ttd.wasm.opcodes import OPCODES
from ttd.wasm.operators import Operator, decode_ops, unsupported
from ttd.record import depth as _depth
from ttd.record.schedule import (
    EXIT_BRANCH, EXIT_CALL, EXIT_CALL_INDIRECT, EXIT_ELSE, EXIT_FALL, EXIT_HOSTCALL,
    EXIT_RETURN, EXIT_TAILCALL, EXIT_THROW, EXIT_TRAP, FX_COPY, FX_FILL, FX_GLOBAL, FX_GROW, FX_LOAD,
    FX_INIT, FX_LOCAL, FX_RESULT, FX_STORE, VT_OF_NAME, VT_REF, VT_SIZE, Block, FuncInfo, Schedule,
)

EXPORT_PREFIX = "__ttd_"
HOOK_FLUSH = 0  # slot in the hook table; import k's hook is at 1 + k

# Plain stores of each value type, to write recorded values into the trace memory.
VT_STORE = {"i32": "i32.store", "i64": "i64.store", "f32": "f32.store", "f64": "f64.store",
            "v128": "v128.store"}


def _opcode_bytes(name: str) -> bytes:
    info = OPCODES[name]
    return bytes([info.code]) if info.prefix is None else bytes([info.prefix]) + encode_uleb(info.code)


BRANCHES = {"br", "br_if", "br_table", "br_on_null", "br_on_non_null", "br_on_cast",
            "br_on_cast_fail"}
CONDITIONAL = {"br_if", "br_on_null", "br_on_non_null", "br_on_cast", "br_on_cast_fail"}
TERMINATORS = {"br", "br_table", "return", "unreachable", "throw", "throw_ref", "rethrow",
               "return_call", "return_call_indirect", "return_call_ref"}
LEGACY_EH = {"try", "catch", "catch_all", "delegate", "rethrow"}
DIRTY_SHIFT = 16  # dirty maps track 64 KiB pages
DIRTY_MAP = 1 << (32 - DIRTY_SHIFT)  # bytes in the map of a 32-bit memory


@dataclass(slots=True)
class TraceLayout:
    """Where the streams live in the trace memory, and the names Python finds them by."""

    id_cap: int  # bytes of ids before a flush (4 per block)
    val_base: int
    val_cap: int  # bytes of values before a flush
    pages: int
    trace_memory: int
    tpi_global: int
    tpv_global: int
    hook_table: int
    hook_types: list[FuncType] = field(default_factory=list)  # per function import
    id_base: int = 0  # the ids follow the dirty maps
    # per program memory: offset of its dirty map (one byte per 64 KiB page), None = no map
    dirty_maps: list[int | None] = field(default_factory=list)
    # the call depth and its limit (see ttd.record.depth), exported as __ttd_depth/__ttd_limit
    depth_global: int = -1
    limit_global: int = -1
    # the shadow stack (instrument(shadow=True)), exported as __ttd_shadow: -1 = none
    shadow_memory: int = -1
    shadow_stride: int = 0


@dataclass(slots=True)
class Instrumented:
    wasm: bytes
    schedule: Schedule
    layout: TraceLayout
    module: Module
    start_func: int | None
    # sorted instrumented offsets with the original pc found there, to map trap frames back
    map_new: list[int] = field(default_factory=list)
    map_orig: list[int] = field(default_factory=list)

    def original_pc(self, instrumented_offset: int) -> int | None:
        """The original pc of the instruction at (or containing) an instrumented offset."""
        i = bisect.bisect_right(self.map_new, instrumented_offset) - 1
        return self.map_orig[i] if i >= 0 else None


def hook_types(m: Module) -> list[FuncType]:
    """The type of each function import's hook: its parameters then its results."""
    out = []
    for imp in m.imports:
        if imp.kind == "func":
            ft = m.types[imp.desc]
            out.append(FuncType(tuple(ft.params) + tuple(ft.results), ()))
    return out


def _vt(valtype) -> int:
    return VT_OF_NAME.get(valtype, VT_REF) if isinstance(valtype, str) else VT_REF


class _Emitter:
    """Byte-level helpers bound to one module's trace memory, globals and scratch locals."""

    def __init__(self, trace_mem: int, tpi: int, tpv: int, hook_table: int, void_type: int):
        self.trace_mem = trace_mem
        self.tpi = tpi
        self.tpv = tpv
        self.hook_table = hook_table
        self.void_type = void_type
        self._memarg = b"\x00" if trace_mem == 0 else encode_uleb(0x40) + encode_uleb(trace_mem)
        self._store: dict[str, bytes] = {}  # store opcode + memarg up to the offset

    def memarg(self, offset: int) -> bytes:
        return self._memarg + _uleb(offset)

    def store(self, name: str, offset: int) -> bytes:
        head = self._store.get(name)
        if head is None:
            head = self._store[name] = _opcode_bytes(name) + self._memarg
        return head + _uleb(offset)


class _Scratch:
    """Indices of the locals the recording code borrows, appended after the function's own."""

    KINDS = ("b", "i32a", "i32b", "i32c", "i32d", "i32e", "i64a", "i64b", "i64c", "f32", "f64", "v128")

    def __init__(self, first: int):
        for i, k in enumerate(self.KINDS):
            setattr(self, k, first + i)
        self._value = {"i32": self.i32b, "i64": self.i64b, "f32": self.f32, "f64": self.f64,
                       "v128": self.v128}

    @staticmethod
    def decl() -> bytes:
        groups = [(6, 0x7F), (3, 0x7E), (1, 0x7D), (1, 0x7C), (1, 0x7B)]
        return b"".join(encode_uleb(n) + bytes([t]) for n, t in groups), len(groups)

    def addr(self, is64: bool, which: str) -> int:
        return getattr(self, ("i64" if is64 else "i32") + which)

    def value(self, vt: str) -> int:
        return self._value[vt]


# What the rewriting loop does with an instruction, by name; every other instruction is copied
# as it is, in runs, so the per-instruction work is only for these.
(_K_CALL, _K_REF_FUNC, _K_LOCAL, _K_GLOBAL, _K_ATOMIC, _K_STORE, _K_LOAD, _K_GROW,
 _K_BULK) = range(9)
_SPECIAL: dict[str, int] = {"call": _K_CALL, "return_call": _K_CALL, "ref.func": _K_REF_FUNC,
                            "local.set": _K_LOCAL, "local.tee": _K_LOCAL, "global.set": _K_GLOBAL}
for _n, _info in OPCODES.items():
    if _n.startswith("memory.atomic") or ".atomic." in _n or _n == "atomic.fence":
        _SPECIAL.setdefault(_n, _K_ATOMIC)
for _n, _info in OPCODES.items():
    if _info.category == "store":
        _SPECIAL.setdefault(_n, _K_STORE)
_SPECIAL_READS = dict(_SPECIAL)  # with `reads`, loads too
for _n, _info in OPCODES.items():
    if _info.category == "load":
        _SPECIAL_READS.setdefault(_n, _K_LOAD)
for _table in (_SPECIAL, _SPECIAL_READS):
    _table.setdefault("memory.grow", _K_GROW)
    for _n in ("memory.fill", "memory.copy", "memory.init"):
        _table.setdefault(_n, _K_BULK)
del _n, _info, _table

_CALLS = ("call", "call_indirect", "call_ref")
_OPENERS = ("block", "loop", "if", "try_table", "try")
_CTL_OPENERS = ("block", "loop", "if", "try_table")
# after these the next instruction starts a block
_NEXT_LEADS = frozenset({"loop", "if", "else", *_CALLS}) | BRANCHES | TERMINATORS
# the instructions that decide where blocks start and end and how they end
_CONTROL = _NEXT_LEADS | frozenset(_OPENERS) | LEGACY_EH | {"end"}
# the instructions that end a block otherwise than by falling into the next one
_EXITS_NOT_FALL = frozenset({"call", "call_indirect", "call_ref", "return_call",
                             "return_call_indirect", "return_call_ref", "return", "unreachable",
                             "throw", "throw_ref", "else", "if"}) | BRANCHES
_STORE_OF_VT = {_vt(t): name for t, name in VT_STORE.items()}
_PAD0 = b"\x80\x80\x80\x80\x00"  # _pad_sleb5(0)
#: A shadow frame: the call sites (block ids) of the frame's last call and of the one before
#: (-1: none since its entry), then its locals.
SHADOW_HEADER = 8
#: Shadow frames the shadow memory holds: a deeper call traps (the run is then not the
#: capture's, and says so).
SHADOW_DEPTH = 1 << 15


def shadow_stride(m: Module) -> int:
    """Bytes of a shadow frame: the header and the largest function's locals, 8-aligned."""
    most = 0
    for body in m.bodies:
        size = sum(VT_SIZE[c] for c in (VT_OF_NAME.get(t, VT_REF) if isinstance(t, str) else VT_REF
                                        for t in body.local_types) if c != VT_REF)
        most = max(most, size)
    return (SHADOW_HEADER + most + 7) & ~7


def _leader_of(leaders: list[int], j: int) -> int:
    """The leader of the block holding instruction j."""
    return leaders[bisect.bisect_right(leaders, j) - 1]


def _match_constructs(names: list[str], offs: list[int], ctrl: list[int]
                      ) -> tuple[dict[int, int], dict[int, int], dict[int, int]]:
    """Map each block/loop/if/try_table to its end (and else), and each end/else back.

    ``ctrl`` holds the indices of the control instructions, in order."""
    end_of: dict[int, int] = {}
    else_of: dict[int, int] = {}
    opener_of: dict[int, int] = {}
    stack: list[int] = []
    last = len(names) - 1
    for i in ctrl:
        n = names[i]
        if n in _OPENERS:
            stack.append(i)
        elif n == "else":
            if not stack:
                raise WasmError(f"else without if at offset {offs[i]:#x}", offs[i])
            else_of[stack[-1]] = i
            opener_of[i] = stack[-1]
        elif n == "end":
            if stack:
                j = stack.pop()
                end_of[j] = i
                opener_of[i] = j
            elif i != last:
                raise WasmError(f"unbalanced end at offset {offs[i]:#x}", offs[i])
    if stack:
        raise WasmError(f"unterminated block at offset {offs[stack[-1]]:#x}", offs[stack[-1]])
    return end_of, else_of, opener_of


_SCRATCH_DECL = _Scratch.decl()


class Instrumenter:
    def __init__(self, data: bytes, *, id_cap: int = 1 << 18, val_cap: int = 1 << 20,
                 reads: bool = False, shadow: bool = False):
        self.data = data
        self.reads = reads  # also record every load's address (read watchpoints)
        self.mod = parse_module(data)
        self.id_cap = id_cap
        self.val_cap = val_cap
        m = self.mod
        self.n_imp_funcs = m.num_imported_funcs
        self.n_funcs = self.n_imp_funcs + len(m.functions)
        self.func_imports = [imp for imp in m.imports if imp.kind == "func"]
        n_mem = m.num_imported_memories + len(m.memories)
        n_glob = m.num_imported_globals + len(m.globals)
        n_tab = m.num_imported_tables + len(m.tables)
        self.mem_is64 = [m.memory_type(i).is64 for i in range(n_mem)]
        self.glob_vt = [m.global_type(i).valtype for i in range(n_glob)]
        self.glob_vtc = [_vt(t) for t in self.glob_vt]
        n_types = len(m.types)
        self.void_type = n_types
        self.hook_types = hook_types(m)
        self.hook_type_index = [n_types + 1 + k for k in range(len(self.func_imports))]
        self.trace_mem = n_mem
        # One byte per 64 KiB page of each 32-bit memory, set by every write to that page, so
        # a chunk boundary compares only the pages written since the last one.
        self.dirty_maps: list[int | None] = []
        n32 = 0
        for is64 in self.mem_is64:
            self.dirty_maps.append(None if is64 else n32 * DIRTY_MAP)
            n32 += 0 if is64 else 1
        self.id_base = n32 * DIRTY_MAP
        self.tpi = n_glob
        self.tpv = n_glob + 1
        self.depth_g = n_glob + 2
        self.limit_g = n_glob + 3
        self.tags = _depth.has_tags(m)  # exceptions unwind frames past their exits
        # the shadow stack: not with tags (an exception unwinds frames without their exits)
        self.shadow = shadow and not self.tags
        self.shadow_mem = n_mem + 1
        self.shadow_stride = shadow_stride(m) if self.shadow else 0
        self._shadow_memarg = encode_uleb(0x40) + encode_uleb(self.shadow_mem)
        self.hook_table = n_tab
        self.wrapper_base = self.n_funcs  # wrapper of import k is function wrapper_base + k
        self.em = _Emitter(self.trace_mem, self.tpi, self.tpv, self.hook_table, self.void_type)
        self.special = _SPECIAL_READS if reads else _SPECIAL
        self._result_vt: dict[tuple[bool, int], str | None] = {}  # by (direct?, func/type)
        self.blocks: list[Block] = []
        self.funcs: dict[int, FuncInfo] = {}
        self.landings: dict[int, list[tuple[int, int, int]]] = {}

    def _elements(self, payload: bytes) -> bytes:
        """The element section with every reference to an imported function made one to its
        wrapper, so a call through a table records the host call as a direct call does."""
        n_imp = self.n_imp_funcs
        segs = self.mod.elements
        if not any(f is not None and f < n_imp for seg in segs for f in seg.func_indices or ()):
            return payload
        data = self.data

        def fn(f: int) -> int:
            return self.wrapper_base + f if f < n_imp else f

        out = bytearray(encode_uleb(len(segs)))
        for seg in segs:
            funcs = seg.func_indices
            if funcs is None or not any(f is not None and f < n_imp for f in funcs):
                out += data[seg.offset:seg.end]
            elif seg.item_exprs is None:  # a vector of function indices ends the segment
                items = encode_uleb(len(funcs)) + b"".join(encode_uleb(fn(f)) for f in funcs)
                old = len(encode_uleb(len(funcs))) + sum(len(encode_uleb(f)) for f in funcs)
                out += data[seg.offset:seg.end - old] + items
            else:  # ref.func / ref.null expressions
                out += data[seg.offset:seg.item_exprs[0][0]]
                for f, (a, b) in zip(funcs, seg.item_exprs):
                    out += data[a:b] if f is None or f >= n_imp else \
                        b"\xd2" + encode_uleb(fn(f)) + b"\x0b"
        return bytes(out)

    # ---- analysis -------------------------------------------------------------------------

    def _leaders(self, names, offs, imms, ctrl, end_of, else_of) -> list[int]:
        """Op indices that start a block, in order."""
        leaders = {0}
        add = leaders.add
        for i in ctrl:
            name = names[i]
            if name in LEGACY_EH:
                op = Operator(offs[i], offs[i + 1], name, imms[i])
                raise unsupported(op, self.data, "legacy exception handling is not recorded")
            if name in _NEXT_LEADS:
                add(i + 1)
            if name in ("block", "if", "try_table"):
                add(end_of[i] + 1)
            if name == "if" and i in else_of:
                add(else_of[i] + 1)
        n = len(names)
        return sorted(x for x in leaders if x < n)

    def _label_target(self, ctl: list[tuple[str, int]], depth: int, end_of, ids) -> int | None:
        """Block id a branch to `depth` lands on, None for the function label (a return)."""
        if depth >= len(ctl):
            return None
        kind, i = ctl[len(ctl) - 1 - depth]
        if kind == "loop":
            return ids[i + 1]
        return ids.get(end_of[i] + 1)

    def _exits(self, names, offs, imms, ctrl, end_of, else_of, opener_of, ids, fidx
               ) -> tuple[dict[int, tuple[int, int, tuple[int, ...]]], int, Exception | None]:
        """How each block that ends in a control instruction ends, by that instruction's
        index, following the enclosing labels; notes the landing pads of try_tables.

        Also the index of the instruction an invalid module failed at, and the error, for the
        rewriting to raise when it gets there (so it fails as it would rewriting in one pass).
        """
        exits = {}
        ctl: list[tuple[str, int]] = []
        last = len(names) - 1
        for i in ctrl:
            try:
                name = names[i]
                if name in _CTL_OPENERS:
                    ctl.append((name, i))
                elif name == "end" and i in opener_of:
                    ctl.pop()
                if name == "try_table":
                    self._note_landings(i, offs, imms[i], end_of, ctl, ids, fidx)
                if i + 1 in ids or i == last:
                    exits[i] = self._exit(name, imms[i], i, last, ctl, end_of, else_of,
                                          opener_of, ids)
            except Exception as e:
                return exits, i, e
        return exits, last + 1, None

    # ---- rewriting ------------------------------------------------------------------------

    def _function(self, body) -> tuple[bytes, list[int], int, list[int]]:
        """The rewritten body; how far each instruction moved: it is at its pc plus that in
        the code after the locals, whose length is the third item; the instructions' pcs (one
        more: the end)."""
        m = self.mod
        data = self.data
        offs, names, imms = decode_ops(data, body.code_start, body.end)
        n = len(names)
        if not n or names[-1] != "end":
            raise WasmError(f"function {body.index} does not end with end", body.offset)
        fidx = body.index
        ftype = m.types[body.type_index]
        local_types = body.local_types
        get_vt = VT_OF_NAME.get
        lvt = [get_vt(t, VT_REF) if isinstance(t, str) else VT_REF for t in local_types]
        scratch = _Scratch(len(local_types))
        first_id = len(self.blocks)
        ctrl = [i for i, name in enumerate(names) if name in _CONTROL]
        end_of, else_of, opener_of = _match_constructs(names, offs, ctrl)
        leaders = self._leaders(names, offs, imms, ctrl, end_of, else_of)
        ids = {ld: first_id + k for k, ld in enumerate(leaders)}
        exits, fail_at, failure = self._exits(names, offs, imms, ctrl, end_of, else_of,
                                              opener_of, ids, fidx)

        special = self.special
        sp = [i for i, name in enumerate(names) if name in special]
        depth_pre, depth_post, entry = self._depth_code(names, imms, offs, ctrl, opener_of,
                                                        scratch, len(local_types))
        if depth_pre or depth_post:
            sp = sorted(set(sp).union(depth_pre, depth_post))
        nsp = len(sp)
        spi = 0
        em = self.em
        store = em.store
        glob_vtc = self.glob_vtc
        n_imp = self.n_imp_funcs
        sb = scratch.b
        lgb = _lg(sb)
        local_store = {c: store(_STORE_OF_VT[c], 0)[:-1] for c in _STORE_OF_VT}
        stores: dict[tuple[str, int], tuple] = {}  # _store_parts by (store, memory)
        head, mid, tail = self._prologue_parts(sb)
        shadow_pre: dict[int, bytes] = {}
        if self.shadow:
            # the running frame's locals where the buffers are flushed (a segment may start
            # there): into level 0, which no frame uses
            flush_spill = self._spill(lvt, False)
            cut = head.index(b"\x04\x40" + _i32c(HOOK_FLUSH) + b"\x11") + 2  # inside the `if`
            head = head[:cut] + flush_spill + head[cut:]
            entry = entry + self._shadow_at_depth() + _i32c(-1) + self._shadow_store("i32.store", 0)
            spill = self._spill(lvt, True)
            for j, name in enumerate(names):
                if (name == "call" and imms[j][0] >= n_imp) or name in ("call_indirect", "call_ref"):
                    # the caller's locals, and its call site (the block this call ends)
                    at = self._shadow_at_depth()
                    shadow_pre[j] = (spill + at + at + self._shadow_load("i32.load", 0)
                                     + self._shadow_store("i32.store", 4)
                                     + at + _i32c(ids[_leader_of(leaders, j)])
                                     + self._shadow_store("i32.store", 0))
            for j in depth_pre:
                code = spill
                if names[j] in _depth._TAIL_CALLS:  # the callee's entry takes this header
                    code += (_i32c(0) + self._shadow_at_depth() + self._shadow_load("i32.load", 0)
                             + self._shadow_store("i32.store", 0))
                shadow_pre[j] = code
            sp = sorted(set(sp).union(shadow_pre))
            nsp = len(sp)
        blocks = self.blocks
        out = bytearray(entry)
        moved: list[int] = []  # how far each instruction moved: it lands at its pc + this
        patches: list[tuple[Block, int]] = []  # where each block's value size goes
        n_lead = len(leaders)

        for k in range(n_lead):
            s = leaders[k]
            e = leaders[k + 1] if k + 1 < n_lead else n
            blk = Block(fidx, offs[s:e], EXIT_FALL, -1, (), [], 0, s == 0)
            blocks.append(blk)
            effects = blk.effects
            out += head
            out += _i32c(first_id + k)
            out += mid
            patches.append((blk, len(out)))
            out += _PAD0
            out += tail
            if s:
                if names[s - 1] in _CALLS:
                    out += self._call_result(names[s - 1], imms[s - 1], blk, scratch)
            else:
                for p, vt in enumerate(ftype.params):
                    c = _vt(vt)
                    if c == VT_REF:
                        continue
                    out += lgb + _lg(p) + store(VT_STORE[vt], blk.vsize)
                    effects.append((-1, FX_LOCAL, p, c, blk.vsize))
                    blk.vsize += VT_SIZE[c]
            vsize = blk.vsize
            a = s  # first instruction not emitted yet
            while spi < nsp and sp[spi] < e:
                j = sp[spi]
                if j > fail_at:
                    raise failure
                spi += 1
                if a < j:  # copy the plain instructions before this one as they are
                    o = offs[a]
                    d = len(out) - o
                    moved += [d] * (j - a)
                    out += data[o:offs[j]]
                a = j + 1
                name = names[j]
                kind = special.get(name)
                imm = imms[j]
                step = j - s
                raw = None
                pre = post = b""
                if kind is None:  # only a depth exit or re-entry point
                    pass
                elif kind == _K_LOCAL:
                    x = imm[0]
                    c = lvt[x]
                    if c != VT_REF:
                        post = lgb + b"\x20" + _uleb(x) + local_store[c] + _uleb(vsize)
                        effects.append((step, FX_LOCAL, x, c, vsize))
                        vsize += VT_SIZE[c]
                elif kind == _K_STORE:
                    ma = imm[0]
                    mem = ma.memory
                    parts = stores.get((name, mem))
                    if parts is None:
                        parts = stores[name, mem] = self._store_parts(name, mem, scratch)
                    set_aside, rec_value, asz, width, lane, is64, mark, restore = parts
                    # set the operands aside, record address and value, mark the page dirty,
                    # put the operands back
                    off = ma.offset
                    pre = set_aside + _uleb(vsize) + rec_value + _uleb(vsize + asz)
                    if mark is not None:
                        if off:
                            pre += mark[0] + _i32c(off & 0xFFFFFFFF if off < (1 << 31)
                                                   else off - (1 << 32)) + b"\x6a" + mark[1]
                        else:
                            pre += mark[0] + mark[1]
                    pre += restore
                    if not lane:
                        effects.append((step, FX_STORE, mem, width, vsize, off, is64))
                    else:  # a lane store records the whole vector; replay takes the lane from it
                        effects.append((step, FX_STORE, mem, -OPCODES[name].width, vsize, off,
                                        is64, imm[1]))
                    vsize += asz + width
                elif kind == _K_GLOBAL:
                    g = imm[0]
                    c = glob_vtc[g]
                    if c != VT_REF:
                        post = lgb + _gg(g) + local_store[c] + _uleb(vsize)
                        effects.append((step, FX_GLOBAL, g, c, vsize))
                        vsize += VT_SIZE[c]
                elif kind == _K_CALL:
                    if imm[0] < n_imp:
                        raw = (b"\x10" if name == "call" else b"\x12") + _uleb(
                            self.wrapper_base + imm[0])
                elif kind == _K_REF_FUNC:
                    if imm[0] < n_imp:  # a pointer to the import's recording wrapper
                        raw = b"\xd2" + _uleb(self.wrapper_base + imm[0])
                elif kind == _K_ATOMIC:
                    raise unsupported(Operator(offs[j], offs[j + 1], name, imm), data,
                                      "threads and atomics are not recorded")
                elif kind == _K_LOAD:
                    ma = imm[0]
                    is64 = self.mem_is64[ma.memory]
                    ad = scratch.addr(is64, "a")
                    st = "i64.store" if is64 else "i32.store"
                    if OPCODES[name].imm == "memarg_lane":  # (address, vector): set it aside
                        v = scratch.value("v128")
                        pre = (_ls(v) + _ls(ad) + lgb + _lg(ad) + store(st, vsize)
                               + _lg(ad) + _lg(v))
                    else:
                        pre = _ls(ad) + lgb + _lg(ad) + store(st, vsize) + _lg(ad)
                    effects.append((step, FX_LOAD, ma.memory, OPCODES[name].width, vsize,
                                    ma.offset, is64))
                    vsize += 8 if is64 else 4
                elif kind == _K_GROW:
                    mem = imm[0]
                    is64 = self.mem_is64[mem]
                    st = "i64.store" if is64 else "i32.store"
                    d, r = scratch.addr(is64, "a"), scratch.addr(is64, "c")
                    pre = _ls(d) + _lg(d)
                    post = (_ls(r) + lgb + _lg(d) + store(st, vsize)
                            + lgb + _lg(r) + store(st, vsize + (8 if is64 else 4)) + _lg(r))
                    effects.append((step, FX_GROW, mem, is64, vsize))
                    vsize += 16 if is64 else 8
                else:  # _K_BULK
                    pre, size, fx = self._bulk(name, imm, scratch, vsize, step)
                    effects.append(fx)
                    vsize += size
                if depth_pre:
                    pre = depth_pre.get(j, b"") + pre
                if shadow_pre:
                    pre = shadow_pre.get(j, b"") + pre
                if depth_post:
                    post += depth_post.get(j, b"")
                if pre:
                    out += pre
                moved.append(len(out) - offs[j])
                out += data[offs[j]:offs[j + 1]] if raw is None else raw
                if post:
                    out += post
            if a < e:
                o = offs[a]
                d = len(out) - o
                moved += [d] * (e - a)
                out += data[o:offs[e]]
            blk.vsize = vsize
            if e > fail_at:
                raise failure
            ex = exits.get(e - 1)
            if ex is None:  # a block that falls into a leader (not a control instruction)
                ex = self._exit(names[e - 1], imms[e - 1], e - 1, n - 1, None, end_of, else_of,
                                opener_of, ids)
            blk.exit, blk.callee, blk.succ = ex

        for b, pos in patches:
            if b.vsize:
                out[pos:pos + 5] = _pad_sleb5(b.vsize)

        self.funcs[fidx] = FuncInfo(
            index=fidx, name=m.function_name(fidx), params=[_vt(p) for p in ftype.params],
            locals=lvt, entry_block=ids[0], start=offs[0], end=body.end)

        decl_extra, n_groups = _SCRATCH_DECL
        if self.tags:  # the function's own depth (see _depth_code)
            decl_extra, n_groups = decl_extra + b"\x01\x7f", n_groups + 1
        locals_raw = data[body.locals_start:body.code_start]
        count, pos = read_uleb(locals_raw, 0)
        locals_blob = encode_uleb(count + n_groups) + locals_raw[pos:] + decl_extra
        return locals_blob + bytes(out), moved, len(locals_blob), offs

    def _depth_code(self, names, imms, offs, ctrl, opener_of, scratch: _Scratch, n_locals: int
                    ) -> tuple[dict[int, bytes], dict[int, bytes], bytes]:
        """The call-depth accounting of a function (ttd.record.depth): code before each
        instruction that leaves it, after each one control can come back to past unwound
        frames (modules with tags), and at its entry, before its first block is logged."""
        points = _depth.exit_points(names, imms, offs, ctrl, opener_of, self.data)
        pre = {j: _depth.exit_code(p, self.depth_g, scratch.i32c) for j, p in points.items()}
        saved = None
        post: dict[int, bytes] = {}
        if self.tags:
            saved = n_locals + len(_Scratch.KINDS)
            reset = _depth.reset_code(self.depth_g, saved)
            post = dict.fromkeys(_depth.reentry_points(names, opener_of), reset)
        return pre, post, _depth.entry_code(self.depth_g, self.limit_g, saved)

    def _shadow_at_depth(self) -> bytes:
        """The address of the current depth's shadow frame."""
        return _gg(self.depth_g) + _i32c(self.shadow_stride) + b"\x6c"  # i32.mul

    def _shadow_store(self, name: str, offset: int) -> bytes:
        return _opcode_bytes(name) + self._shadow_memarg + _uleb(offset)

    def _shadow_load(self, name: str, offset: int) -> bytes:
        return _opcode_bytes(name) + self._shadow_memarg + _uleb(offset)

    def _spill(self, lvt: list[int], at_depth: bool) -> bytes:
        """Store the function's locals (not references) in the shadow frame of the current
        depth, or (at_depth False) of level 0."""
        out = bytearray()
        base = self._shadow_at_depth() if at_depth else _i32c(0)
        off = SHADOW_HEADER
        for x, c in enumerate(lvt):
            if c == VT_REF:
                continue
            out += base + _lg(x) + self._shadow_store(_STORE_OF_VT[c], off)
            off += VT_SIZE[c]
        return bytes(out)

    def _call_result(self, name: str, imm: tuple, blk: Block, scratch: _Scratch) -> bytes:
        """A block after a call to a defined function starts with the call's result on the
        operand stack (only the call falls through to it): record it, for `query calls`."""
        key = (name == "call", imm[0])
        vt = self._result_vt.get(key, False)
        if vt is False:
            vt = self._result_vt[key] = self._recorded_result(name, imm)
        if vt is None:
            return b""
        tmp = scratch.value(vt)
        code = _ls(tmp) + _lg(scratch.b) + _lg(tmp) + self.em.store(VT_STORE[vt], blk.vsize) + _lg(tmp)
        blk.effects.append((-2, FX_RESULT, _vt(vt), blk.vsize))
        blk.vsize += VT_SIZE[_vt(vt)]
        return code

    def _recorded_result(self, name: str, imm: tuple) -> str | None:
        """The value type of the result a call leaves for the block after it to record."""
        if name == "call":
            if imm[0] < self.n_imp_funcs:
                return None  # the host hook records an import's results
            results = self.mod.func_type(imm[0]).results
        elif name in ("call_indirect", "call_ref"):
            results = self.mod.types[imm[0]].results
        else:
            return None
        if len(results) != 1 or _vt(results[0]) == VT_REF:
            return None
        return results[0]

    def _prologue_parts(self, b: int) -> tuple[bytes, bytes, bytes]:
        """A block's prologue: flush check, id store, pointer bumps, as the code before the
        block id, the code between it and the value size (patched in at the end), the rest."""
        em = self.em
        v_limit = self.val_base + self.val_cap
        head = bytearray()
        head += _gg(em.tpv) + b"\x22" + encode_uleb(b) + _i32c(v_limit) + b"\x4b"
        head += _gg(em.tpi) + _i32c(self.id_base + self.id_cap) + b"\x4f" + b"\x72"
        head += b"\x04\x40" + _i32c(HOOK_FLUSH) + b"\x11" + encode_uleb(em.void_type) \
            + encode_uleb(em.hook_table) + _gg(em.tpv) + _ls(b) + b"\x0b"
        head += _gg(em.tpi)
        mid = em.store("i32.store", 0) + _gg(em.tpi) + _i32c(4) + b"\x6a" + _gs(em.tpi) \
            + _lg(b) + b"\x41"
        tail = b"\x6a" + _gs(em.tpv)
        return bytes(head), mid, tail

    def _bulk(self, name: str, imm: tuple, s: _Scratch, voff: int, step: int
              ) -> tuple[bytes, int, tuple]:
        em = self.em
        if name == "memory.fill":
            mem = imm[0]
            a64 = self.mem_is64[mem]
            kinds = [(a64, "a"), (False, "b"), (a64, "c")]
            fx = (step, FX_FILL, mem, a64, voff)
        elif name == "memory.copy":
            dm, sm = imm
            d64, s64 = self.mem_is64[dm], self.mem_is64[sm]
            n64 = d64 and s64
            kinds = [(d64, "a"), (s64, "b"), (n64, "c")]
            fx = (step, FX_COPY, dm, sm, voff, d64, s64, n64)
        else:
            data_idx, mem = imm
            a64 = self.mem_is64[mem]
            kinds = [(a64, "a"), (False, "b"), (False, "c")]
            fx = (step, FX_INIT, mem, data_idx, voff, a64)
        locs = [s.addr(is64, w) for is64, w in kinds]
        code = bytearray()
        for loc in reversed(locs):
            code += _ls(loc)
        off = voff
        for (is64, _), loc in zip(kinds, locs):
            code += _lg(s.b) + _lg(loc) + em.store("i64.store" if is64 else "i32.store", off)
            off += 8 if is64 else 4
        dest = fx[2]
        if self.dirty_maps[dest] is not None:
            code += self._mark_range(dest, locs[0], locs[2], s)
        for loc in locs:
            code += _lg(loc)
        return bytes(code), off - voff, fx

    def _store_parts(self, name: str, mem: int, s: _Scratch) -> tuple:
        """The code around a store of `name` to memory `mem`, but for the value offsets and the
        store's own offset: (set aside and record the address, record the value, address
        size, recorded width, lane store?, is64, the dirty-page marking before and after the
        store's offset (None without a dirty map), put the operands back)."""
        em = self.em
        is64 = self.mem_is64[mem]
        asz = 8 if is64 else 4
        a = s.addr(is64, "a")
        info = OPCODES[name]
        lane = info.imm == "memarg_lane"
        # a lane store records the whole vector; replay takes the lane from it
        width, rec = (16, "v128.store") if lane else (info.width, name)
        v = s.value(info.value_type)
        lgb = _lg(s.b)
        set_aside = (_ls(v) + _ls(a) + lgb + _lg(a)
                     + em.store("i64.store" if is64 else "i32.store", 0)[:-1])
        rec_value = lgb + _lg(v) + em.store(rec, 0)[:-1]
        base = self.dirty_maps[mem]
        # Set the dirty byte of the 64 KiB page a store starts in (a store that crosses into
        # the next page is caught by the boundary, which also compares the next page's head).
        mark = None if base is None else (
            _lg(a), _i32c(DIRTY_SHIFT) + b"\x76" + _i32c(1) + em.store("i32.store8", base))
        return set_aside, rec_value, asz, width, lane, is64, mark, _lg(a) + _lg(v)

    def _mark_range(self, mem: int, d: int, n: int, s: _Scratch) -> bytes:
        """Set the dirty bytes of every 64 KiB page in [d, d + n] (bulk memory writes)."""
        base = self.dirty_maps[mem]
        p, q = s.i32d, s.i32e
        sh = _i32c(DIRTY_SHIFT) + b"\x76"
        return (_lg(d) + sh + _ls(p) + _lg(d) + _lg(n) + b"\x6a" + sh + _ls(q)
                + b"\x02\x40\x03\x40"
                + _lg(p) + _i32c(1) + self.em.store("i32.store8", base)
                + _lg(p) + _lg(q) + b"\x4f\x0d\x01"
                + _lg(p) + _i32c(1) + b"\x6a" + _ls(p) + b"\x0c\x00"
                + b"\x0b\x0b")

    def _note_landings(self, i, offs, imm, end_of, ctl, ids, fidx) -> None:
        # catch labels are resolved outside the try_table: skip its own label
        outer = ctl[:-1]
        body_start = offs[i + 1]
        body_end = offs[end_of[i]]
        for _kind, _tag, label in imm[1]:
            target = self._label_target(outer, label, end_of, ids)
            # a catch to the function's own label returns from it: noted under -1 - fidx
            key = target if target is not None else -1 - fidx
            self.landings.setdefault(key, []).append((fidx, body_start, body_end))

    def _exit(self, name, imm, i, last, ctl, end_of, else_of, opener_of, ids
              ) -> tuple[int, int, tuple[int, ...]]:
        """(exit, callee, successors) of the block that instruction i ends."""
        if i == last:
            return EXIT_RETURN, -1, ()
        nxt = ids.get(i + 1)
        if name not in _EXITS_NOT_FALL:  # the common cases first
            return EXIT_FALL, -1, () if nxt is None else (nxt,)
        if name == "call":
            callee = imm[0]
            return (EXIT_HOSTCALL if callee < self.n_imp_funcs else EXIT_CALL, callee,
                    () if nxt is None else (nxt,))
        succ: list[int] = []
        callee = -1
        if name in ("call_indirect", "call_ref"):
            exit_ = EXIT_CALL_INDIRECT
            succ = [nxt]
        elif name in ("return_call", "return_call_indirect", "return_call_ref"):
            exit_ = EXIT_TAILCALL
            if name == "return_call":
                callee = imm[0]
        elif name == "return":
            exit_ = EXIT_RETURN
        elif name == "unreachable":
            exit_ = EXIT_TRAP
        elif name in ("throw", "throw_ref"):
            exit_ = EXIT_THROW
        elif name == "else":
            exit_ = EXIT_ELSE
            succ = [ids[end_of[opener_of[i]] + 1]]
        elif name == "if":
            exit_ = EXIT_BRANCH
            alt = else_of.get(i)
            succ = [nxt, ids[(alt if alt is not None else end_of[i]) + 1]]
        else:  # BRANCHES
            exit_ = EXIT_BRANCH
            # ctl already reflects the branch's own context
            depths = list(imm[0]) + [imm[1]] if name == "br_table" else [imm[0]] \
                if name in ("br", "br_if", "br_on_null", "br_on_non_null") else [imm[1]]
            for d in depths:
                t = self._label_target(ctl, d, end_of, ids)
                if t is not None:
                    succ.append(t)
            if name in CONDITIONAL:
                succ.append(nxt)
        return exit_, callee, tuple(sorted({s for s in succ if s is not None}))

    # ---- wrappers and module assembly -----------------------------------------------------

    def _wrapper(self, k: int, imp) -> bytes:
        ft = self.mod.types[imp.desc]
        np_, nr = len(ft.params), len(ft.results)
        locals_blob = encode_uleb(nr) + b"".join(
            encode_uleb(1) + encode.encode_valtype(r) for r in ft.results)
        code = bytearray()
        for p in range(np_):
            code += _lg(p)
        code += b"\x10" + encode_uleb(k)  # function imports come first: import k is function k
        for r in reversed(range(nr)):
            code += _ls(np_ + r)
        for p in range(np_):
            code += _lg(p)
        for r in range(nr):
            code += _lg(np_ + r)
        code += _i32c(1 + k) + b"\x11" + encode_uleb(self.hook_type_index[k]) \
            + encode_uleb(self.hook_table)
        for r in range(nr):
            code += _lg(np_ + r)
        code += b"\x0b"
        return locals_blob + bytes(code)

    def run(self) -> Instrumented:
        m = self.mod
        data = self.data
        bodies_out: list[bytes] = []
        # per body: how far its instructions moved, the length of its locals, their pcs
        body_maps: list[tuple[list[int], int, list[int]] | None] = []
        # The value-stream limit must leave room for the largest block: instrument with a
        # provisional base, then lay the memory out once the largest block is known.
        self.val_base = self.id_base + self.id_cap
        for body in m.bodies:
            code, moved, locals_len, pcs = self._function(body)
            bodies_out.append(code)
            body_maps.append((moved, locals_len, pcs))
        for k, imp in enumerate(self.func_imports):
            bodies_out.append(self._wrapper(k, imp))
            body_maps.append(None)
        max_v = max((b.vsize for b in self.blocks), default=0)
        total = self.val_base + self.val_cap + max_v + 64
        pages = (total + 0xFFFF) // 0x10000
        layout = TraceLayout(self.id_cap, self.val_base, self.val_cap, pages, self.trace_mem,
                             self.tpi, self.tpv, self.hook_table, self.hook_types,
                             self.id_base, list(self.dirty_maps), self.depth_g, self.limit_g,
                             self.shadow_mem if self.shadow else -1, self.shadow_stride)

        code_payload = bytearray(encode_uleb(len(bodies_out)))
        map_new: list[int] = []
        map_orig: list[int] = []
        body_offsets = []
        for code in bodies_out:
            code_payload += encode_uleb(len(code))
            body_offsets.append(len(code_payload))
            code_payload += code

        sections = self._sections(layout, bytes(code_payload))
        out = bytearray(b"\x00asm\x01\x00\x00\x00")
        code_start = None
        for sid, payload in sections:
            out += bytes([sid]) + encode_uleb(len(payload))
            if sid == 10:
                code_start = len(out)
            out += payload
        assert code_start is not None or not bodies_out
        for base, bmap in zip(body_offsets, body_maps):
            if bmap is not None:
                moved, locals_len, pcs = bmap
                shift = code_start + base + locals_len
                del pcs[-1]
                map_new += map(shift.__add__, map(operator.add, pcs, moved))
                map_orig += pcs
        if map_new != sorted(map_new):  # never: instructions are emitted in order
            order = sorted(range(len(map_new)), key=map_new.__getitem__)
            map_new = [map_new[i] for i in order]
            map_orig = [map_orig[i] for i in order]
        schedule = Schedule(
            blocks=self.blocks, funcs=self.funcs,
            globals=[_vt(t) for t in self.glob_vt], memories=list(self.mem_is64),
            landings=self.landings,
            imports=[(imp.module, imp.name) for imp in self.func_imports])
        return Instrumented(
            wasm=bytes(out), schedule=schedule, layout=layout, module=m,
            start_func=m.start, map_new=map_new, map_orig=map_orig)

    def _sections(self, layout: TraceLayout, code_payload: bytes) -> list[tuple[int, bytes]]:
        m = self.mod
        data = self.data
        raw = {}
        for s in m.sections:
            if s.id != 0:
                raw[s.id] = data[s.start:s.end]

        def extend(sid: int, items: list[bytes]) -> bytes:
            payload = raw.get(sid)
            if payload is None:
                return encode_uleb(len(items)) + b"".join(items)
            count, pos = read_uleb(payload, 0)
            return encode_uleb(count + len(items)) + payload[pos:] + b"".join(items)

        new_types = [encode.encode_functype(FuncType((), ()))] + [
            encode.encode_functype(ft) for ft in self.hook_types]
        n_wr = len(self.func_imports)
        wrappers_types = [encode_uleb(imp.desc) for imp in self.func_imports]
        n_hooks = 1 + n_wr
        table = b"\x70\x01" + encode_uleb(n_hooks) + encode_uleb(n_hooks)
        memory = b"\x00" + encode_uleb(layout.pages)
        memories = [memory]
        if layout.shadow_memory >= 0:
            memories.append(b"\x00" + encode_uleb(shadow_pages(layout.shadow_stride)))
        glob = [b"\x7f\x01" + _i32c(layout.id_base) + b"\x0b", b"\x7f\x01" + _i32c(layout.val_base) + b"\x0b",
                b"\x7f\x01" + _i32c(0) + b"\x0b",  # the call depth
                b"\x7f\x01" + _i32c(_depth.NO_LIMIT - (1 << 32)) + b"\x0b"]  # its limit
        exports = []

        def export(name: str, kind: int, idx: int) -> None:
            exports.append(encode.name(EXPORT_PREFIX + name) + bytes([kind]) + encode_uleb(idx))

        export("trace", 2, layout.trace_memory)
        export("tpi", 3, layout.tpi_global)
        export("tpv", 3, layout.tpv_global)
        export("depth", 3, layout.depth_global)
        export("limit", 3, layout.limit_global)
        export("hooks", 1, layout.hook_table)
        if layout.shadow_memory >= 0:
            export("shadow", 2, layout.shadow_memory)
        for i in range(len(self.mem_is64)):
            export(f"mem{i}", 2, i)
        for i in range(len(self.glob_vt)):
            export(f"g{i}", 3, i)
        if m.start is not None:
            export("start", 0, m.start)

        out: list[tuple[int, bytes]] = []
        order = [1, 2, 3, 4, 5, 13, 6, 7, 8, 9, 12, 10, 11]
        for sid in order:
            if sid == 1:
                out.append((1, extend(1, new_types)))
            elif sid == 3:
                out.append((3, extend(3, wrappers_types)))
            elif sid == 4:
                out.append((4, extend(4, [table])))
            elif sid == 5:
                out.append((5, extend(5, memories)))
            elif sid == 6:
                out.append((6, extend(6, glob)))
            elif sid == 7:
                out.append((7, extend(7, exports)))
            elif sid == 8:
                continue  # the start function is called by the recorder, after the hooks exist
            elif sid == 9 and sid in raw:
                out.append((9, self._elements(raw[9])))
            elif sid == 10:
                out.append((10, code_payload))
            elif sid in raw:
                out.append((sid, raw[sid]))
        for s in m.sections:
            if s.id == 0 and s.name == "name":
                out.append((0, data[s.start:s.end]))
        return out


def _pad_sleb5(v: int) -> bytes:
    """A fixed-width (5-byte) signed LEB128, so a value can be patched in place."""
    return bytes((v & 0x7F | 0x80, v >> 7 & 0x7F | 0x80, v >> 14 & 0x7F | 0x80,
                  v >> 21 & 0x7F | 0x80, v >> 28 & 0x7F))


def shadow_pages(stride: int) -> int:
    return max(1, (stride * SHADOW_DEPTH + 0xFFFF) >> 16)


def instrument(data: bytes, *, id_cap: int = 1 << 18, val_cap: int = 1 << 20,
               reads: bool = False, shadow: bool = False) -> Instrumented:
    """Instrument a module; errors are WasmError with a one-line message."""
    # Nothing here makes reference cycles, but the millions of tuples and lists it makes set
    # off the cycle collector over and over (a quarter of the time on a big module).
    enabled = gc.isenabled()
    gc.disable()
    try:
        return Instrumenter(data, id_cap=id_cap, val_cap=val_cap, reads=reads, shadow=shadow).run()
    finally:
        if enabled:
            gc.enable()
