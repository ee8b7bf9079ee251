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
from dataclasses import dataclass, field

from ttd.wasm import encode
from ttd.wasm.errors import WasmError
from ttd.wasm.leb import encode_sleb, encode_uleb, read_uleb
from ttd.wasm.module import FuncType, Module, parse_module
from ttd.wasm.opcodes import OPCODES
from ttd.wasm.operators import Operator, iter_operators, unsupported
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

    def memarg(self, offset: int) -> bytes:
        if self.trace_mem == 0:
            return b"\x00" + encode_uleb(offset)
        return encode_uleb(0x40) + encode_uleb(self.trace_mem) + encode_uleb(offset)

    def store(self, name: str, offset: int) -> bytes:
        return _opcode_bytes(name) + self.memarg(offset)


def _lg(i: int) -> bytes:
    return b"\x20" + encode_uleb(i)


def _ls(i: int) -> bytes:
    return b"\x21" + encode_uleb(i)


def _gg(i: int) -> bytes:
    return b"\x23" + encode_uleb(i)


def _gs(i: int) -> bytes:
    return b"\x24" + encode_uleb(i)


def _i32c(v: int) -> bytes:
    return b"\x41" + encode_sleb(v)


class _Scratch:
    """Indices of the locals the recording code borrows, appended after the function's own."""

    KINDS = ("b", "i32a", "i32b", "i32c", "i32d", "i32e", "i64a", "i64b", "i64c", "f32", "f64", "v128")

    def __init__(self, first: int):
        for i, k in enumerate(self.KINDS):
            setattr(self, k, first + i)

    @staticmethod
    def decl() -> bytes:
        groups = [(6, 0x7F), (3, 0x7E), (1, 0x7D), (1, 0x7C), (1, 0x7B)]
        return b"".join(encode_uleb(n) + bytes([t]) for n, t in groups), len(groups)

    def addr(self, is64: bool, which: str) -> int:
        return getattr(self, ("i64" if is64 else "i32") + which)

    def value(self, vt: str) -> int:
        return {"i32": self.i32b, "i64": self.i64b, "f32": self.f32, "f64": self.f64,
                "v128": self.v128}[vt]


def _match_constructs(ops: list[Operator]) -> tuple[dict[int, int], dict[int, int], dict[int, int]]:
    """Map each block/loop/if/try_table to its end (and else), and each end/else back."""
    end_of: dict[int, int] = {}
    else_of: dict[int, int] = {}
    opener_of: dict[int, int] = {}
    stack: list[int] = []
    for i, op in enumerate(ops):
        n = op.name
        if n in ("block", "loop", "if", "try_table", "try"):
            stack.append(i)
        elif n == "else":
            if not stack:
                raise WasmError(f"else without if at offset {op.offset:#x}", op.offset)
            else_of[stack[-1]] = i
            opener_of[i] = stack[-1]
        elif n == "end":
            if stack:
                j = stack.pop()
                end_of[j] = i
                opener_of[i] = j
            elif i != len(ops) - 1:
                raise WasmError(f"unbalanced end at offset {op.offset:#x}", op.offset)
    if stack:
        raise WasmError(f"unterminated block at offset {ops[stack[-1]].offset:#x}",
                        ops[stack[-1]].offset)
    return end_of, else_of, opener_of


class Instrumenter:
    def __init__(self, data: bytes, *, id_cap: int = 1 << 18, val_cap: int = 1 << 20,
                 reads: bool = False):
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
        n_types = len(m.types)
        self.void_type = n_types
        self.hook_types: list[FuncType] = []
        for imp in self.func_imports:
            ft = m.types[imp.desc]
            self.hook_types.append(FuncType(tuple(ft.params) + tuple(ft.results), ()))
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
        self.hook_table = n_tab
        self.wrapper_base = self.n_funcs  # wrapper of import k is function wrapper_base + k
        self.em = _Emitter(self.trace_mem, self.tpi, self.tpv, self.hook_table, self.void_type)
        self.blocks: list[Block] = []
        self.funcs: dict[int, FuncInfo] = {}
        self.landings: dict[int, list[tuple[int, int, int]]] = {}
        self._check_function_refs()

    def _check_function_refs(self) -> None:
        # A function pointer to an import would bypass the wrapper that records host effects.
        for seg in getattr(self.mod, "elements", []):
            for f in getattr(seg, "func_indices", None) or ():
                if f is not None and f < self.n_imp_funcs:
                    raise WasmError(
                        f"element segment refers to imported function {f}: "
                        "function pointers to imports are not supported", None)

    # ---- analysis -------------------------------------------------------------------------

    def _analyse(self, body, ops: list[Operator]) -> tuple[list[int], dict[int, int]]:
        """Leaders (op indices that start a block) and the block id of each leader."""
        end_of, else_of, _ = _match_constructs(ops)
        n = len(ops)
        leaders = {0}
        for i, op in enumerate(ops):
            name = op.name
            if name in LEGACY_EH:
                raise unsupported(op, self.data, "legacy exception handling is not recorded")
            if name in ("loop", "if", "else") or name in BRANCHES or name in TERMINATORS \
                    or name in ("call", "call_indirect", "call_ref"):
                leaders.add(i + 1)
            if name in ("block", "if", "try_table"):
                leaders.add(end_of[i] + 1)
            if name == "if" and i in else_of:
                leaders.add(else_of[i] + 1)
        ordered = sorted(x for x in leaders if x < n)
        first_id = len(self.blocks)
        return ordered, {ld: first_id + k for k, ld in enumerate(ordered)}

    def _label_target(self, ctl: list[tuple[str, int]], depth: int, end_of, ids) -> int | None:
        """Block id a branch to `depth` lands on, None for the function label (a return)."""
        if depth >= len(ctl):
            return None
        kind, i = ctl[len(ctl) - 1 - depth]
        if kind == "loop":
            return ids[i + 1]
        return ids.get(end_of[i] + 1)

    # ---- rewriting ------------------------------------------------------------------------

    def _function(self, body) -> tuple[bytes, list[tuple[int, int]]]:
        m = self.mod
        data = self.data
        ops = list(iter_operators(data, body.code_start, body.end))
        if not ops or ops[-1].name != "end":
            raise WasmError(f"function {body.index} does not end with end", body.offset)
        fidx = body.index
        ftype = m.types[body.type_index]
        local_types = list(body.local_types)
        scratch = _Scratch(len(local_types))
        leaders, ids = self._analyse(body, ops)
        end_of, else_of, opener_of = _match_constructs(ops)
        lead_set = set(leaders)
        em = self.em
        out = bytearray()
        omap: list[tuple[int, int]] = []
        ctl: list[tuple[str, int]] = []
        blk: Block | None = None
        step = 0
        patches: list[tuple[Block, int]] = []  # where each block's value size goes
        n = len(ops)

        for i, op in enumerate(ops):
            name = op.name
            if i in lead_set:
                blk = Block(func=fidx, pcs=[], exit=EXIT_FALL, entry=(i == 0))
                self.blocks.append(blk)
                step = 0
                prologue, patch = self._prologue_placeholder(ids[i], scratch)
                patches.append((blk, len(out) + patch))
                out += prologue
                if i > 0:
                    out += self._call_result(ops[i - 1], blk, scratch)
                if i == 0:
                    for p, vt in enumerate(ftype.params):
                        if _vt(vt) == VT_REF:
                            continue
                        out += _lg(scratch.b) + _lg(p) + em.store(VT_STORE[vt], blk.vsize)
                        blk.effects.append((-1, FX_LOCAL, p, _vt(vt), blk.vsize))
                        blk.vsize += VT_SIZE[_vt(vt)]
            assert blk is not None
            blk.pcs.append(op.offset)
            raw = data[op.offset:op.end]
            pre = b""
            post = b""
            if name in ("call", "return_call") and op.imm[0] < self.n_imp_funcs:
                raw = (b"\x10" if name == "call" else b"\x12") + encode_uleb(
                    self.wrapper_base + op.imm[0])
            elif name == "ref.func" and op.imm[0] < self.n_imp_funcs:
                raise WasmError(f"ref.func of imported function {op.imm[0]} at offset "
                                f"{op.offset:#x} is not supported", op.offset)
            elif name in ("local.set", "local.tee"):
                x = op.imm[0]
                vt = local_types[x]
                if _vt(vt) != VT_REF:
                    post = _lg(scratch.b) + _lg(x) + em.store(VT_STORE[vt], blk.vsize)
                    blk.effects.append((step, FX_LOCAL, x, _vt(vt), blk.vsize))
                    blk.vsize += VT_SIZE[_vt(vt)]
            elif name == "global.set":
                g = op.imm[0]
                vt = self.glob_vt[g]
                if _vt(vt) != VT_REF:
                    post = _lg(scratch.b) + _gg(g) + em.store(VT_STORE[vt], blk.vsize)
                    blk.effects.append((step, FX_GLOBAL, g, _vt(vt), blk.vsize))
                    blk.vsize += VT_SIZE[_vt(vt)]
            elif name.startswith("memory.atomic") or ".atomic." in name or name == "atomic.fence":
                raise unsupported(op, data, "threads and atomics are not recorded")
            elif (info := OPCODES.get(name)) is not None and info.category == "store":
                ma = op.imm[0]
                is64 = self.mem_is64[ma.memory]
                asz = 8 if is64 else 4
                a = scratch.addr(is64, "a")
                lane = info.imm == "memarg_lane"
                # a lane store records the whole vector; replay takes the lane from it
                vt = info.value_type
                width, rec = (16, "v128.store") if lane else (info.width, name)
                v = scratch.value(vt)
                pre = (_ls(v) + _ls(a)
                       + _lg(scratch.b) + _lg(a) + em.store("i64.store" if is64 else "i32.store", blk.vsize)
                       + _lg(scratch.b) + _lg(v) + em.store(rec, blk.vsize + asz)
                       + self._mark_page(ma.memory, a, ma.offset)
                       + _lg(a) + _lg(v))
                if not lane:
                    blk.effects.append((step, FX_STORE, ma.memory, width, blk.vsize, ma.offset, is64))
                else:
                    blk.effects.append((step, FX_STORE, ma.memory, -info.width, blk.vsize,
                                        ma.offset, is64, op.imm[1]))
                blk.vsize += asz + width
            elif self.reads and (info := OPCODES.get(name)) is not None and info.category == "load":
                ma = op.imm[0]
                is64 = self.mem_is64[ma.memory]
                a = scratch.addr(is64, "a")
                st = "i64.store" if is64 else "i32.store"
                if info.imm == "memarg_lane":  # (address, vector): set the vector aside
                    v = scratch.value("v128")
                    pre = (_ls(v) + _ls(a) + _lg(scratch.b) + _lg(a) + em.store(st, blk.vsize)
                           + _lg(a) + _lg(v))
                else:
                    pre = _ls(a) + _lg(scratch.b) + _lg(a) + em.store(st, blk.vsize) + _lg(a)
                blk.effects.append((step, FX_LOAD, ma.memory, info.width, blk.vsize, ma.offset,
                                    is64))
                blk.vsize += 8 if is64 else 4
            elif name == "memory.grow":
                mem = op.imm[0]
                is64 = self.mem_is64[mem]
                st = "i64.store" if is64 else "i32.store"
                d, r = scratch.addr(is64, "a"), scratch.addr(is64, "c")
                pre = _ls(d) + _lg(d)
                post = (_ls(r) + _lg(scratch.b) + _lg(d) + em.store(st, blk.vsize)
                        + _lg(scratch.b) + _lg(r) + em.store(st, blk.vsize + (8 if is64 else 4)) + _lg(r))
                blk.effects.append((step, FX_GROW, mem, is64, blk.vsize))
                blk.vsize += 16 if is64 else 8
            elif name in ("memory.fill", "memory.copy", "memory.init"):
                pre, size, fx = self._bulk(op, scratch, blk.vsize, step)
                blk.effects.append(fx)
                blk.vsize += size

            out += pre
            omap.append((len(out), op.offset))
            out += raw
            out += post
            step += 1

            # control bookkeeping and how the block ends
            if name in ("block", "loop", "if", "try_table"):
                ctl.append((name, i))
            if name == "end" and i in opener_of:
                ctl.pop()
            if name == "try_table":
                self._note_landings(op, ops, i, end_of, ctl, ids, fidx)
            if i + 1 in lead_set or i == n - 1:
                self._finish_block(blk, op, i, n, ops, ctl, end_of, else_of, opener_of, ids)

        for b, pos in patches:
            out[pos:pos + 5] = _pad_sleb5(b.vsize)

        self.funcs[fidx] = FuncInfo(
            index=fidx, name=m.function_name(fidx), params=[_vt(p) for p in ftype.params],
            locals=[_vt(t) for t in local_types], entry_block=ids[0], start=ops[0].offset,
            end=body.end)

        decl_extra, n_groups = _Scratch.decl()
        locals_raw = data[body.locals_start:body.code_start]
        count, pos = read_uleb(locals_raw, 0)
        locals_blob = encode_uleb(count + n_groups) + locals_raw[pos:] + decl_extra
        return locals_blob + bytes(out), [(off + len(locals_blob), pc) for off, pc in omap]

    def _call_result(self, call: Operator, blk: Block, scratch: _Scratch) -> bytes:
        """A block after a call to a defined function starts with the call's result on the
        operand stack (only the call falls through to it): record it, for `query calls`."""
        name = call.name
        if name == "call":
            if call.imm[0] < self.n_imp_funcs:
                return b""  # the host hook records an import's results
            results = self.mod.func_type(call.imm[0]).results
        elif name in ("call_indirect", "call_ref"):
            results = self.mod.types[call.imm[0]].results
        else:
            return b""
        if len(results) != 1 or _vt(results[0]) == VT_REF:
            return b""
        vt = results[0]
        tmp = scratch.value(vt)
        code = _ls(tmp) + _lg(scratch.b) + _lg(tmp) + self.em.store(VT_STORE[vt], blk.vsize) + _lg(tmp)
        blk.effects.append((-2, FX_RESULT, _vt(vt), blk.vsize))
        blk.vsize += VT_SIZE[_vt(vt)]
        return code

    def _prologue_placeholder(self, block_id: int, scratch: _Scratch) -> tuple[bytes, int]:
        """Flush check, id store, pointer bumps; the value size is patched in at the end."""
        em = self.em
        v_limit = self.val_base + self.val_cap
        code = bytearray()
        code += _gg(em.tpv) + b"\x22" + encode_uleb(scratch.b) + _i32c(v_limit) + b"\x4b"
        code += _gg(em.tpi) + _i32c(self.id_base + self.id_cap) + b"\x4f" + b"\x72"
        code += b"\x04\x40" + _i32c(HOOK_FLUSH) + b"\x11" + encode_uleb(em.void_type) \
            + encode_uleb(em.hook_table) + _gg(em.tpv) + _ls(scratch.b) + b"\x0b"
        code += _gg(em.tpi) + _i32c(block_id) + em.store("i32.store", 0)
        code += _gg(em.tpi) + _i32c(4) + b"\x6a" + _gs(em.tpi)
        code += _lg(scratch.b) + b"\x41"
        patch = len(code)
        code += _pad_sleb5(0) + b"\x6a" + _gs(em.tpv)
        return bytes(code), patch

    def _bulk(self, op: Operator, s: _Scratch, voff: int, step: int) -> tuple[bytes, int, tuple]:
        em = self.em
        name = op.name
        if name == "memory.fill":
            mem = op.imm[0]
            a64 = self.mem_is64[mem]
            kinds = [(a64, "a"), (False, "b"), (a64, "c")]
            fx = (step, FX_FILL, mem, a64, voff)
        elif name == "memory.copy":
            dm, sm = op.imm
            d64, s64 = self.mem_is64[dm], self.mem_is64[sm]
            n64 = d64 and s64
            kinds = [(d64, "a"), (s64, "b"), (n64, "c")]
            fx = (step, FX_COPY, dm, sm, voff, d64, s64, n64)
        else:
            data_idx, mem = op.imm
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

    def _mark_page(self, mem: int, addr_local: int, offset: int) -> bytes:
        """Set the dirty byte of the 64 KiB page a store starts in (a store that crosses into
        the next page is caught by the boundary, which also compares the next page's head)."""
        base = self.dirty_maps[mem]
        if base is None:
            return b""
        code = _lg(addr_local)
        if offset:
            code += _i32c(offset & 0xFFFFFFFF if offset < (1 << 31) else offset - (1 << 32)) + b"\x6a"
        return code + _i32c(DIRTY_SHIFT) + b"\x76" + _i32c(1) + self.em.store("i32.store8", base)

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

    def _note_landings(self, op, ops, i, end_of, ctl, ids, fidx) -> None:
        # catch labels are resolved outside the try_table: skip its own label
        outer = ctl[:-1]
        body_start = ops[i + 1].offset if i + 1 < len(ops) else op.end
        body_end = ops[end_of[i]].offset
        for _kind, _tag, label in op.imm[1]:
            target = self._label_target(outer, label, end_of, ids)
            if target is not None:
                self.landings.setdefault(target, []).append((fidx, body_start, body_end))

    def _finish_block(self, blk, op, i, n, ops, ctl, end_of, else_of, opener_of, ids) -> None:
        name = op.name
        nxt = ids.get(i + 1)
        succ: list[int] = []
        if i == n - 1:
            blk.exit = EXIT_RETURN
        elif name == "call":
            callee = op.imm[0]
            blk.callee = callee
            blk.exit = EXIT_HOSTCALL if callee < self.n_imp_funcs else EXIT_CALL
            succ = [nxt]
        elif name in ("call_indirect", "call_ref"):
            blk.exit = EXIT_CALL_INDIRECT
            succ = [nxt]
        elif name in ("return_call", "return_call_indirect", "return_call_ref"):
            blk.exit = EXIT_TAILCALL
            if name == "return_call":
                blk.callee = op.imm[0]
        elif name == "return":
            blk.exit = EXIT_RETURN
        elif name == "unreachable":
            blk.exit = EXIT_TRAP
        elif name in ("throw", "throw_ref"):
            blk.exit = EXIT_THROW
        elif name == "else":
            blk.exit = EXIT_ELSE
            succ = [ids[end_of[opener_of[i]] + 1]]
        elif name == "if":
            blk.exit = EXIT_BRANCH
            alt = else_of.get(i)
            succ = [nxt, ids[(alt if alt is not None else end_of[i]) + 1]]
        elif name in BRANCHES:
            blk.exit = EXIT_BRANCH
            # ctl already reflects the branch's own context
            depths = list(op.imm[0]) + [op.imm[1]] if name == "br_table" else [op.imm[0]] \
                if name in ("br", "br_if", "br_on_null", "br_on_non_null") else [op.imm[1]]
            for d in depths:
                t = self._label_target(ctl, d, end_of, ids)
                if t is not None:
                    succ.append(t)
            if name in CONDITIONAL:
                succ.append(nxt)
        else:
            blk.exit = EXIT_FALL
            succ = [nxt]
        blk.succ = tuple(sorted({s for s in succ if s is not None}))

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
        body_maps: list[list[tuple[int, int]]] = []
        # The value-stream limit must leave room for the largest block: instrument with a
        # provisional base, then lay the memory out once the largest block is known.
        self.val_base = self.id_base + self.id_cap
        for body in m.bodies:
            code, omap = self._function(body)
            bodies_out.append(code)
            body_maps.append(omap)
        for k, imp in enumerate(self.func_imports):
            bodies_out.append(self._wrapper(k, imp))
            body_maps.append([])
        max_v = max((b.vsize for b in self.blocks), default=0)
        total = self.val_base + self.val_cap + max_v + 64
        pages = (total + 0xFFFF) // 0x10000
        layout = TraceLayout(self.id_cap, self.val_base, self.val_cap, pages, self.trace_mem,
                             self.tpi, self.tpv, self.hook_table, self.hook_types,
                             self.id_base, list(self.dirty_maps))

        code_payload = bytearray(encode_uleb(len(bodies_out)))
        map_new: list[int] = []
        map_orig: list[int] = []
        body_offsets = []
        for code, omap in zip(bodies_out, body_maps):
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
        for base, omap in zip(body_offsets, body_maps):
            for off, pc in omap:
                map_new.append(code_start + base + off)
                map_orig.append(pc)
        order = sorted(range(len(map_new)), key=map_new.__getitem__)
        schedule = Schedule(
            blocks=self.blocks, funcs=self.funcs,
            globals=[_vt(t) for t in self.glob_vt], memories=list(self.mem_is64),
            landings=self.landings,
            imports=[(imp.module, imp.name) for imp in self.func_imports])
        return Instrumented(
            wasm=bytes(out), schedule=schedule, layout=layout, module=m,
            start_func=m.start, map_new=[map_new[i] for i in order],
            map_orig=[map_orig[i] for i in order])

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
        glob = [b"\x7f\x01" + _i32c(layout.id_base) + b"\x0b", b"\x7f\x01" + _i32c(layout.val_base) + b"\x0b"]
        exports = []

        def export(name: str, kind: int, idx: int) -> None:
            exports.append(encode.name(EXPORT_PREFIX + name) + bytes([kind]) + encode_uleb(idx))

        export("trace", 2, layout.trace_memory)
        export("tpi", 3, layout.tpi_global)
        export("tpv", 3, layout.tpv_global)
        export("hooks", 1, layout.hook_table)
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
                out.append((5, extend(5, [memory])))
            elif sid == 6:
                out.append((6, extend(6, glob)))
            elif sid == 7:
                out.append((7, extend(7, exports)))
            elif sid == 8:
                continue  # the start function is called by the recorder, after the hooks exist
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
    out = bytearray()
    for k in range(5):
        byte = (v >> (7 * k)) & 0x7F
        out.append(byte | (0x80 if k < 4 else 0))
    return bytes(out)


def instrument(data: bytes, *, id_cap: int = 1 << 18, val_cap: int = 1 << 20,
               reads: bool = False) -> Instrumented:
    """Instrument a module; errors are WasmError with a one-line message."""
    return Instrumenter(data, id_cap=id_cap, val_cap=val_cap, reads=reads).run()
