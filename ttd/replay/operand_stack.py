"""Operand-stack values of any frame at any step, rebuilt on demand from the trace.

The trace records no operand stack; it records what cannot be recomputed (locals written,
globals, stores, call results, memory.grow results, host results). The operand stack of an
activation is rebuilt from those:

- Validating a function body gives the static operand-stack height before each instruction
  (through block/loop/if/else/end, branches with their label arities, and the polymorphic
  stack after br/return/unreachable). Heights count every value of the frame, across block
  labels, from the bottom: index 0 is the first value pushed, as wasmtime numbers them.
- To know the stack before step t, walk back through the blocks of t's activation (blocks of
  callees have a greater call depth and are skipped whole) to the latest executed
  instruction where the height is 0, or where the stack is already known (a cache), then
  interpret forwards to t on a Python stack: constants, locals, globals and memory read from
  a private cursor positioned at each step (so exactly as they were), numeric operators with
  wasm semantics, branches keeping their label's arity (which branch was taken is the next
  executed pc), calls popping their arguments and pushing the recorded result once the
  callee's steps are skipped (results the trace does not hold, several of them, are the top
  of the callee's own stack at its last step; an exception's payload is the top of the
  thrower's stack, and the values below the catching label stay).
- Anything not modelled (float SIMD lanes, tables, GC, references) yields values of unknown
  content, in the number and types its signature says (ttd.wasm.signatures for SIMD, the
  module's struct and array types for GC); asking for one gets None rather than a guess.

A caller frame is stopped at its call instruction: its stack is the one before the call
executes, arguments included (as wasmtime shows it).

Nothing here knows about gdb-remote.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from ttd.record.schedule import (
    FX_GROW, FX_LOCAL, FX_RESULT, VT_F32, VT_F64, VT_I32, VT_I64, VT_REF, VT_SIZE, VT_V128,
)
from ttd.replay.lazy_memory import touch
from ttd.replay.machine import _UNPACK, read_value
from ttd.replay.numerics import NUMERIC, SIMD, join, lanes, shuffle, simd_lane_op
from ttd.wasm.errors import WasmError
from ttd.wasm.module import Module
from ttd.wasm.opcodes import OPCODES
from ttd.wasm.signatures import simd_signature
from ttd.wasm.valtypes import FuncType

CAP = 200_000  # steps of the activation walked back before giving up
CACHE = 4096  # stacks kept, by step
PAGE = 65536

_VT = {"i32": VT_I32, "i64": VT_I64, "f32": VT_F32, "f64": VT_F64, "v128": VT_V128}


def _vt(valtype) -> int:
    return _VT.get(valtype, VT_REF) if isinstance(valtype, str) else VT_REF


class _Ref:
    """An opaque reference whose null-ness is known."""

    __slots__ = ("func",)

    def __init__(self, func: int | None):
        self.func = func

    def __repr__(self) -> str:
        return "ref.null" if self.func is None else f"ref.func {self.func}"


REF_NULL = _Ref(None)

# ---- static shapes ----------------------------------------------------------------------------

# kinds of compiled instructions
(K_NOP, K_DROP, K_SELECT, K_CONST, K_LGET, K_LSET, K_LTEE, K_GGET, K_GSET, K_LOAD, K_STORE,
 K_NUM, K_IF, K_BRANCH, K_CALL, K_MSIZE, K_MGROW, K_REFNULL, K_REFFUNC, K_ISNULL, K_GENERIC,
 K_THROW, K_LEAVE) = range(23)


class Unsupported(Exception):
    """A function body this module cannot give heights for (GC, legacy exceptions, ...)."""


@dataclass(slots=True)
class Shape:
    """What validation says about one function: per pc, the height before it and how it
    changes the stack, and the pc that follows it in the code."""

    func: int
    ops: dict[int, tuple]  # pc -> (kind, ...)
    height: dict[int, int]  # pc -> operand-stack height before it (reachable code only)
    fallthrough: dict[int, int]  # pc -> pc of the next instruction in the body
    # pc a try_table's catch clause lands on -> (label height, label arity, [(kind, tag)])
    landings: dict[int, tuple[int, int, list]]


@dataclass(slots=True)
class _Ctl:
    kind: str  # "func", "block", "loop", "if", "try_table"
    lh: int  # label height: the stack below the construct's parameters
    params: int
    results: tuple[int, ...]
    target: int | None  # pc a branch to this label continues at (None: the function label)

    @property
    def arity(self) -> int:
        return self.params if self.kind == "loop" else len(self.results)


def _block_type(module: Module, bt) -> tuple[tuple[int, ...], tuple[int, ...]]:
    if bt is None:
        return (), ()
    if isinstance(bt, int):
        ft = module.type_at(bt)
        return tuple(_vt(p) for p in ft.params), tuple(_vt(r) for r in ft.results)
    return (), (_vt(bt),)


def _match(ops) -> dict[int, int]:
    end_of: dict[int, int] = {}
    open_: list[int] = []
    for i, op in enumerate(ops):
        if op.name in ("block", "loop", "if", "try_table", "try"):
            open_.append(i)
        elif op.name == "end" and open_:
            end_of[open_.pop()] = i
    return end_of


def _fields(module: Module, typeidx: int, kind: str) -> tuple:
    """Storage types of a struct's fields or an array's element (one)."""
    t = module.types[typeidx] if 0 <= typeidx < len(module.types) else None
    if getattr(t, "kind", None) != kind:
        raise Unsupported(f"type {typeidx} is not a {kind} type")
    return t.fields


def _field_vt(st) -> int:
    return VT_I32 if st in ("i8", "i16") else _vt(st)


def _gc_effect(module: Module, name: str, imm: tuple) -> tuple[int, tuple[int, ...]] | None:
    """(values popped, value types pushed) of a GC operator; None if not one."""
    R = (VT_REF,)
    if name == "struct.new":
        return len(_fields(module, imm[0], "struct")), R
    if name == "struct.new_default":
        return 0, R
    if name in ("struct.get", "struct.get_s", "struct.get_u"):
        fields = _fields(module, imm[0], "struct")
        if not 0 <= imm[1] < len(fields):
            raise Unsupported(f"struct field {imm[1]} out of range")
        return 1, (_field_vt(fields[imm[1]]),)
    if name == "struct.set":
        return 2, ()
    if name in ("array.get", "array.get_s", "array.get_u"):
        return 2, (_field_vt(_fields(module, imm[0], "array")[0]),)
    pops = {"array.new": 2, "array.new_default": 1, "array.new_data": 2, "array.new_elem": 2,
            "ref.cast": 1, "any.convert_extern": 1, "extern.convert_any": 1, "ref.i31": 1}
    if name in pops:
        return pops[name], R
    if name == "array.new_fixed":
        return imm[1], R
    effects = {"array.set": (3, ()), "array.len": (1, (VT_I32,)), "array.fill": (4, ()),
               "array.copy": (5, ()), "array.init_data": (4, ()), "array.init_elem": (4, ()),
               "ref.test": (1, (VT_I32,)), "i31.get_s": (1, (VT_I32,)),
               "i31.get_u": (1, (VT_I32,))}
    return effects.get(name)


def _sext_load(bits: int, width: int):
    top = 1 << (bits - 1)
    m = (1 << width) - 1
    return lambda raw: (((raw ^ top) - top) & m)


def _load_decoder(name: str, width: int):
    """How a load turns its bytes (as an unsigned little-endian integer) into a value."""
    head, _, op = name.partition(".")
    if head == "v128":
        if op == "load" or op.endswith("_zero"):
            return lambda raw: raw
        if op.endswith("_splat"):
            bits = width * 8
            return lambda raw: join([raw] * (128 // bits), bits)
        if "x" in op:  # load8x8_s, load16x4_u, load32x2_s: widen each lane
            src_bits = int(op[4:op.index("x")])
            n = 64 // src_bits
            signed = op.endswith("_s")

            def widen(raw: int) -> int:
                ls = lanes(raw, src_bits, n)
                if signed:
                    top = 1 << (src_bits - 1)
                    ls = [(x ^ top) - top for x in ls]
                return join(ls, 2 * src_bits)
            return widen
        return None
    full = 4 if head in ("i32", "f32") else 8
    if width == full or op.endswith("_u"):
        return lambda raw: raw
    return _sext_load(width * 8, full * 8)


def analyse(module: Module, func: int, global_vts: list[int], mem64: list[bool]) -> Shape:
    """Validate the body of defined function `func` for operand-stack heights; compile each
    reachable instruction for the interpreter. Raises Unsupported."""
    try:
        ft = module.func_type(func)
        body = module.body(func)
        ops = list(module.operators(func))
    except WasmError as e:
        raise Unsupported(str(e)) from None
    local_vts = [_vt(t) for t in body.local_types]
    end_of = _match(ops)
    n_imported = module.num_imported_funcs
    compiled: dict[int, tuple] = {}
    height: dict[int, int] = {}
    fallthrough = {ops[i].offset: ops[i + 1].offset for i in range(len(ops) - 1)}
    landings: dict[int, tuple[int, int, list]] = {}
    ctl = [_Ctl("func", 0, 0, tuple(_vt(r) for r in ft.results), None)]
    h = 0
    live = True
    dead = 0  # constructs opened inside unreachable code

    def pop(n: int) -> None:
        nonlocal h
        if h - n < ctl[-1].lh:
            raise Unsupported(f"operand stack underflow at {op.offset:#x}")
        h -= n

    def label(depth: int) -> _Ctl:
        if depth >= len(ctl):
            raise Unsupported(f"branch depth {depth} out of range at {op.offset:#x}")
        return ctl[-1 - depth]

    def targets(depths) -> dict[int, tuple[int, int]]:
        out = {}
        for dpt in depths:
            c = label(dpt)
            if c.target is not None:
                out[c.target] = (c.lh, c.arity)
        return out

    def func_type(idx: int) -> FuncType:
        try:
            return module.type_at(idx)
        except WasmError as e:
            raise Unsupported(str(e)) from None

    for i, op in enumerate(ops):
        name = op.name
        pc = op.offset
        if not live:
            if name in ("block", "loop", "if", "try_table", "try"):
                dead += 1
            elif name == "end":
                if dead:
                    dead -= 1
                else:
                    c = ctl.pop()
                    if c.kind == "func":
                        break
                    h = c.lh + len(c.results)
                    live = True
            elif name == "else" and not dead:
                c = ctl[-1]
                h = c.lh + c.params
                live = True
            continue
        height[pc] = h
        info = OPCODES.get(name)
        cat = info.category if info is not None else ""
        k: tuple
        if name in ("block", "loop", "try_table"):
            params, results = _block_type(module, op.imm[0])
            pop(len(params))
            if name == "try_table":  # catch labels are resolved outside the try_table
                for ckind, ctag, depth in op.imm[1]:
                    c = label(depth)
                    if c.target is not None:
                        landings.setdefault(c.target, (c.lh, c.arity, []))[2].append((ckind, ctag))
            target = ops[i + 1].offset if name == "loop" else ops[end_of[i] + 1].offset
            ctl.append(_Ctl(name, h, len(params), results, target))
            h += len(params)
            k = (K_NOP,)
        elif name == "if":
            params, results = _block_type(module, op.imm[0])
            pop(1 + len(params))
            ctl.append(_Ctl("if", h, len(params), results, ops[end_of[i] + 1].offset))
            h += len(params)
            k = (K_IF,)
        elif name == "else":
            c = ctl[-1]
            h = c.lh + c.params
            k = (K_NOP,)
        elif name == "end":
            c = ctl.pop()
            h = c.lh + len(c.results)
            k = (K_LEAVE,) if c.kind == "func" else (K_NOP,)
            if c.kind == "func":
                compiled[pc] = k
                break
        elif name == "nop":
            k = (K_NOP,)
        elif name in ("br", "br_if", "br_table", "br_on_null", "br_on_non_null", "br_on_cast",
                      "br_on_cast_fail"):
            if name == "br":
                t = targets([op.imm[0]])
                k = (K_BRANCH, 0, 0, t) if t else (K_LEAVE,)
                live = False
            elif name == "br_if":
                pop(1)
                k = (K_BRANCH, 1, 1, targets([op.imm[0]]))
            elif name == "br_table":
                pop(1)
                k = (K_BRANCH, 1, 1, targets(list(op.imm[0]) + [op.imm[1]]))
                live = False
            elif name == "br_on_null":
                k = (K_BRANCH, 1, 0, targets([op.imm[0]]))
            elif name in ("br_on_cast", "br_on_cast_fail"):  # the reference stays either way
                pop(1)
                h += 1
                k = (K_BRANCH, 0, 0, targets([op.imm[1]]))
            else:
                k = (K_BRANCH, 0, 1, targets([op.imm[0]]))
                pop(1)
            if not live:
                h = ctl[-1].lh
        elif name in ("return", "unreachable", "return_call", "return_call_indirect",
                      "return_call_ref"):
            k = (K_LEAVE,)
            live = False
            h = ctl[-1].lh
        elif name in ("throw", "throw_ref"):
            if name == "throw":
                try:
                    n = len(module.tag_type(op.imm[0]).params)
                except WasmError as e:
                    raise Unsupported(str(e)) from None
                k = (K_THROW, op.imm[0], n)
            else:
                n = 1
                k = (K_THROW, None, 1)
            pop(n)
            live = False
            h = ctl[-1].lh
        elif name in ("call", "call_indirect", "call_ref"):
            if name == "call":
                cft = func_type(module.func_type_index(op.imm[0]))
                extra, imported = 0, op.imm[0] < n_imported
            else:
                cft = func_type(op.imm[0])
                extra, imported = 1, False
            pop(len(cft.params) + extra)
            results = tuple(_vt(r) for r in cft.results)
            h += len(results)
            k = (K_CALL, len(cft.params) + extra, results, imported)
        elif name == "drop":
            pop(1)
            k = (K_DROP,)
        elif name == "select":
            pop(3)
            h += 1
            k = (K_SELECT,)
        elif name == "local.get":
            h += 1
            k = (K_LGET, op.imm[0], local_vts[op.imm[0]])
        elif name == "local.set":
            pop(1)
            k = (K_LSET,)
        elif name == "local.tee":
            pop(1)
            h += 1
            k = (K_LTEE, op.imm[0], local_vts[op.imm[0]])
        elif name == "global.get":
            h += 1
            k = (K_GGET, op.imm[0], global_vts[op.imm[0]])
        elif name == "global.set":
            pop(1)
            k = (K_GSET,)
        elif cat == "const":
            h += 1
            imm = op.imm[0]
            if name in ("i32.const", "i64.const"):
                k = (K_CONST, _VT[name[:3]], imm & ((1 << (32 if name[1] == "3" else 64)) - 1))
            else:
                k = (K_CONST, _VT[name.split(".")[0]], int.from_bytes(imm, "little"))
        elif cat == "load":
            lane = info.imm == "memarg_lane"
            pop(2 if lane else 1)
            h += 1
            vt = _VT[info.value_type]
            dec = None if lane else _load_decoder(name, info.width)
            if dec is None:
                k = (K_GENERIC, 2 if lane else 1, (vt,))
            else:
                ma = op.imm[0]
                k = (K_LOAD, ma.memory, ma.offset, info.width, dec, vt)
        elif cat == "store":
            pop(2)
            k = (K_STORE,)
        elif name in NUMERIC:
            n, vt, fn = NUMERIC[name]
            pop(n)
            h += 1
            k = (K_NUM, n, vt, fn)
        elif name in ("i64.add128", "i64.sub128", "i64.mul_wide_s", "i64.mul_wide_u"):
            pop(4 if name.endswith("128") else 2)
            h += 2
            k = (K_GENERIC, 4 if name.endswith("128") else 2, (VT_I64, VT_I64))
        elif name == "memory.size":
            h += 1
            k = (K_MSIZE, op.imm[0], mem64[op.imm[0]] if op.imm[0] < len(mem64) else False)
        elif name == "memory.grow":
            pop(1)
            h += 1
            k = (K_MGROW, op.imm[0], mem64[op.imm[0]] if op.imm[0] < len(mem64) else False)
        elif name in ("memory.fill", "memory.copy", "memory.init", "table.set", "table.fill",
                      "table.copy", "table.init", "memory.discard"):
            n = 2 if name in ("table.set", "memory.discard") else 3
            pop(n)
            k = (K_GENERIC, n, ())
        elif name in ("data.drop", "elem.drop"):
            k = (K_NOP,)
        elif name in ("table.get", "table.size", "table.grow"):
            n = {"table.get": 1, "table.size": 0, "table.grow": 2}[name]
            pop(n)
            h += 1
            k = (K_GENERIC, n, (VT_REF if name == "table.get" else VT_I32,))
        elif name == "ref.null":
            h += 1
            k = (K_REFNULL,)
        elif name == "ref.func":
            h += 1
            k = (K_REFFUNC, op.imm[0])
        elif name == "ref.is_null":
            pop(1)
            h += 1
            k = (K_ISNULL,)
        elif name in ("ref.as_non_null", "ref.eq"):
            n = 1 if name == "ref.as_non_null" else 2
            pop(n)
            h += 1
            k = (K_GENERIC, n, (VT_REF if n == 1 else VT_I32,))
        elif cat == "simd":
            if name in SIMD:
                n, vt, fn = SIMD[name]
                k = (K_NUM, n, vt, fn)
            elif info.imm == "lane" and (lop := simd_lane_op(name, op.imm[0])) is not None:
                n, vt, fn = lop
                k = (K_NUM, n, vt, fn)
            elif name == "i8x16.shuffle":
                n, k = 2, (K_NUM, 2, VT_V128, shuffle(op.imm[0]))
            else:
                params, result = simd_signature(name)
                n = len(params)
                k = (K_GENERIC, n, (_vt(result),))
            pop(n)
            h += 1
        elif (gc := _gc_effect(module, name, op.imm)) is not None:
            n, outs = gc
            pop(n)
            h += len(outs)
            k = (K_GENERIC, n, outs)
        else:
            raise Unsupported(f"{name} at {pc:#x}")
        compiled[pc] = k
    return Shape(func, compiled, height, fallthrough, landings)


# ---- reconstruction ------------------------------------------------------------------------

class Mismatch(Exception):
    """The interpretation disagrees with the static heights: a bug, or a corrupt trace."""


Entry = tuple  # (value type or None, value bits / _Ref, or None when unknown)
UNKNOWN: Entry = (None, None)


class OperandStacks:
    """Operand stacks of a replay session's trace, at any step and frame."""

    def __init__(self, session, cap: int = CAP, cache_size: int = CACHE, strict: bool = False):
        self.session = session
        self.trace = trace = session.trace
        self.blocks = trace.schedule.blocks
        self.cap = cap
        self.cache_size = cache_size
        self.strict = strict  # raise Mismatch instead of answering None (tests)
        self._global_vts = list(trace.schedule.globals)
        self._mem64 = list(trace.schedule.memories)
        self._shapes: dict[int, Shape | None] = {}
        self._zeros: dict[int, tuple[int, ...] | None] = {}
        self._cache: OrderedDict[int, tuple] = OrderedDict()
        self._cached: list[int] = []  # the cache's steps, sorted
        self._host: OrderedDict[int, dict[int, list]] = OrderedDict()
        self._cursor = None
        self._min_depth: dict[int, int] = {}  # chunk -> least call depth of its blocks
        self.unknown_reason: str | None = None

    # ---- public -------------------------------------------------------------------------

    def frame_stack(self, step: int, frame: int) -> tuple | None:
        """The operand stack of frame `frame` (0 innermost) at `step`, bottom first: a tuple
        of (value type, value) with value None where it is unknown; None if it cannot be
        rebuilt (no such frame, the activation began too long ago, an unsupported
        function)."""
        if not 0 <= step < self.trace.total_steps or frame < 0:
            return None
        seq, k, depth = self._locate(step)
        d = depth - frame
        if d < 1:
            return None
        t = step if frame == 0 else self._call_step(seq, k, d)
        if t is None:
            return None
        return self.stack_at(t, d)

    def value(self, step: int, frame: int, index: int) -> tuple[int, int] | None:
        """(value type, bits) of one operand-stack value, None when unknown or absent."""
        stack = self.frame_stack(step, frame)
        if stack is None or not 0 <= index < len(stack):
            return None
        vt, v = stack[index]
        if vt is None or v is None or vt == VT_REF or isinstance(v, _Ref):
            return None
        return vt, v

    def stack_at(self, t: int, d: int | None = None) -> tuple | None:
        """The operand stack before step t, of the activation executing t (at depth d)."""
        got = self._cache.get(t)
        if got is not None:
            self._cache.move_to_end(t)
            return got
        if d is None:
            d = self._locate(t)[2]
        try:
            start = self._restart(t, d)
            if start is None:
                return None
            got = self._run(*start, t, d)
        except (Mismatch, IndexError, KeyError) as e:  # a trace contradicting its module
            if self.strict:
                raise
            self.unknown_reason = f"step {t}: {type(e).__name__}: {e}"
            return None
        if got is not None:
            self._remember(t, got)
        return got

    # ---- where things are ---------------------------------------------------------------

    def _depths(self, seq: int) -> np.ndarray:
        depths = self.session._depths(seq)
        if seq not in self._min_depth:
            self._min_depth[seq] = int(depths.min()) if depths.size else 0
        return depths

    def _locate(self, step: int) -> tuple[int, int, int]:
        trace = self.trace
        seq = trace.chunk_for_step(step)
        ch = trace.chunk(seq)
        k = ch.block_at_step(step - ch.first_step)
        return seq, k, int(self._depths(seq)[k])

    def _block_len(self, ch, k: int) -> int:
        return ch.last_steps if k == len(ch.ids) - 1 else len(self.blocks[int(ch.ids[k])].pcs)

    def _call_step(self, seq: int, k: int, d: int) -> int | None:
        """The step at which the frame at depth d, a caller of the block at (seq, k), made
        its call: the last step of its latest block before."""
        trace = self.trace
        while seq >= 0:
            depths = self._depths(seq)
            idx = np.flatnonzero(depths[:k] <= d)
            if idx.size:
                kk = int(idx[-1])
                if int(depths[kk]) != d:
                    return None
                ch = trace.chunk(seq)
                return ch.first_step + int(ch.step_starts[kk]) + self._block_len(ch, kk) - 1
            seq -= 1
            while seq >= 0 and self._min_depth.get(seq, 0) > d:
                seq -= 1
            if seq >= 0:
                k = trace.chunks[seq][4]
        return None

    def _next_block(self, seq: int, k: int, d: int) -> tuple[int, int] | None:
        """The first block after (seq, k) with depth <= d (callees skipped), if it has depth
        d: where the activation continues."""
        trace = self.trace
        n_chunks = len(trace.chunks)
        k += 1
        while seq < n_chunks:
            depths = self._depths(seq)
            if k < depths.shape[0]:
                if depths[k] <= d:
                    return (seq, k) if depths[k] == d else None
                idx = np.flatnonzero(depths[k:] <= d)
                if idx.size:
                    kk = k + int(idx[0])
                    return (seq, kk) if depths[kk] == d else None
            seq += 1
            while seq < n_chunks and self._min_depth.get(seq, 0) > d:
                seq += 1
            k = 0
        return None

    def shape(self, func: int) -> Shape | None:
        if func not in self._shapes:
            try:
                self._shapes[func] = analyse(self.trace.module, func, self._global_vts,
                                             self._mem64)
            except (Unsupported, WasmError, IndexError, KeyError, TypeError) as e:
                self.unknown_reason = f"function {func}: {e}"
                self._shapes[func] = None
        return self._shapes[func]

    def _zero_indices(self, bid: int) -> tuple[int, ...] | None:
        got = self._zeros.get(bid, False)
        if got is False:
            b = self.blocks[bid]
            shape = self.shape(b.func)
            got = None if shape is None else tuple(
                i for i, pc in enumerate(b.pcs) if shape.height.get(pc) == 0)
            self._zeros[bid] = got
        return got

    # ---- the cache ----------------------------------------------------------------------

    def _remember(self, step: int, stack: tuple) -> None:
        cache = self._cache
        if step in cache:
            cache.move_to_end(step)
            return
        cache[step] = stack
        bisect.insort(self._cached, step)
        if len(cache) > self.cache_size:
            old, _ = cache.popitem(last=False)
            i = bisect.bisect_left(self._cached, old)
            del self._cached[i]

    def _latest_cached(self, lo: int, hi: int) -> int | None:
        """The latest cached step in [lo, hi]."""
        i = bisect.bisect_right(self._cached, hi) - 1
        if i >= 0 and self._cached[i] >= lo:
            return self._cached[i]
        return None

    # ---- walking back -------------------------------------------------------------------

    def _restart(self, t: int, d: int):
        """(step, seq, k, j, stack) of the latest step <= t of t's activation whose stack is
        known: height 0, or cached. None beyond the cap."""
        trace = self.trace
        seq = trace.chunk_for_step(t)
        ch = trace.chunk(seq)
        hi = ch.block_at_step(t - ch.first_step) + 1
        first = True
        own = 0
        while True:
            depths = self._depths(seq)
            window = 64
            while hi > 0:
                lo = max(0, hi - window)
                window *= 8
                sub = depths[lo:hi]
                below = np.flatnonzero(sub < d)
                start = lo + int(below[-1]) + 1 if below.size else lo
                cand = np.flatnonzero(sub[start - lo:] == d)
                for k in (cand[::-1] + start).tolist():
                    base = ch.first_step + int(ch.step_starts[k])
                    if first:
                        n = t - base + 1
                        first = False
                    else:
                        n = self._block_len(ch, k)
                    zeros = self._zero_indices(int(ch.ids[k]))
                    if zeros is None:
                        return None
                    best = -1
                    for i in reversed(zeros):
                        if i < n:
                            best = i
                            break
                    c = self._latest_cached(base + max(best, 0), base + n - 1)
                    if c is not None:
                        return c, seq, k, c - base, self._cache[c]
                    if best >= 0:
                        return base + best, seq, k, best, ()
                    own += n
                    if own > self.cap:
                        self.unknown_reason = f"the activation began more than {self.cap} of its steps back"
                        return None
                if below.size or first:
                    raise Mismatch(f"no start found for the activation of step {t}")
                hi = lo
            seq -= 1
            while seq >= 0 and self._min_depth.get(seq, 0) > d:
                seq -= 1  # wholly inside callees
            if seq < 0:
                raise Mismatch(f"no start found for the activation of step {t}")
            ch = trace.chunk(seq)
            hi = len(ch.ids)

    # ---- interpreting forwards ----------------------------------------------------------

    def _state(self, step: int):
        cur = self._cursor
        if cur is None:
            from ttd.replay.cursor import Cursor
            cur = self._cursor = Cursor(self.trace)
        if cur.step != step:
            cur.seek(step)
        return cur.st

    def _host_results(self, seq: int, k: int) -> list | None:
        got = self._host.get(seq)
        if got is None:
            got = {}
            try:
                from ttd.store import codec
                row = self.trace.store.chunk(seq)
                events = codec.unpack(row.host)
                for ev in events if isinstance(events, list) else ():
                    if isinstance(ev, (list, tuple)) and len(ev) == 4 and isinstance(ev[0], int) \
                            and isinstance(ev[2], (list, tuple)) \
                            and all(isinstance(v, int) and 0 <= v < (1 << 64) for v in ev[2]):
                        got[ev[0] - row.first_block] = list(ev[2])
            except Exception:  # a host list the trace cannot give: results stay unknown
                got = {}
            self._host[seq] = got
            if len(self._host) > 8:
                self._host.popitem(last=False)
        return got.get(k)

    def _run(self, step: int, seq: int, k: int, j: int, stack: tuple, t: int, d: int):
        trace = self.trace
        blocks = self.blocks
        stack = list(stack)
        ch = trace.chunk(seq)
        while True:
            b = blocks[int(ch.ids[k])]
            shape = self.shape(b.func)
            if shape is None:
                return None
            ops, heights = shape.ops, shape.height
            pcs = b.pcs
            n = self._block_len(ch, k)
            while j < n:
                if step == t:
                    return tuple(stack)
                pc = pcs[j]
                op = ops.get(pc)
                if op is None:
                    raise Mismatch(f"step {step} executes {pc:#x}, unreachable by validation")
                if j + 1 < n:
                    npc = pcs[j + 1]
                    self._exec(op, stack, step, ch, k, j, npc, None, shape)
                    j += 1
                    step += 1
                else:
                    nxt = self._next_block(seq, k, d)
                    if nxt is None:
                        raise Mismatch(f"the activation of step {t} ends before it")
                    seq2, k2 = nxt
                    ch2 = trace.chunk(seq2)
                    npc = blocks[int(ch2.ids[k2])].pcs[0]
                    self._exec(op, stack, step, ch, k, j, npc, (ch2, k2), shape)
                    step = ch2.first_step + int(ch2.step_starts[k2])
                    seq, k, j, ch = seq2, k2, 0, ch2
                    n = -1  # leave the inner loop: a new block
                h = heights.get(npc)
                if h is None or h != len(stack):
                    raise Mismatch(f"after {pc:#x} the stack holds {len(stack)} values, "
                                   f"validation says {h} at {npc:#x}")
                if n < 0:
                    break
            else:
                if step == t:
                    return tuple(stack)
                raise Mismatch(f"block ended without a successor before step {t}")

    def _exec(self, op: tuple, stack: list, step: int, ch, k: int, j: int, npc: int,
              cont, shape: Shape) -> None:
        kind = op[0]
        if kind == K_LGET:
            vt = op[2]
            if vt == VT_REF:
                stack.append((VT_REF, None))
            else:
                stack.append((vt, self._state(step).frames[-1].locals[op[1]]))
        elif kind == K_CONST:
            stack.append((op[1], op[2]))
        elif kind == K_NUM:
            n, vt, fn = op[1], op[2], op[3]
            args = stack[-n:]
            del stack[-n:]
            vals = [a[1] for a in args]
            if None in vals:
                stack.append((vt, None))
            else:
                try:
                    stack.append((vt, fn(*vals)))
                except (ArithmeticError, ValueError, OverflowError):
                    stack.append((vt, None))
        elif kind == K_LSET or kind == K_GSET or kind == K_DROP or kind == K_IF:
            stack.pop()
        elif kind == K_LOAD:
            _kind, mem, offset, width, dec, vt = op
            addr = stack.pop()[1]
            value = None
            if isinstance(addr, int):
                mems = self._state(step).memories
                if mem < len(mems):
                    ea = addr + offset
                    m = mems[mem]
                    if ea + width <= len(m):
                        touch(m, ea, ea + width)
                        raw = int.from_bytes(m[ea:ea + width], "little")
                        value = dec(raw)
            stack.append((vt, value))
        elif kind == K_STORE:
            del stack[-2:]
        elif kind == K_LTEE:
            vt = op[2]
            top = stack[-1]
            if top[1] is None and vt != VT_REF:
                stack[-1] = (vt, self._effect_value(ch, k, j, FX_LOCAL))
        elif kind == K_GGET:
            vt = op[2]
            stack.append((vt, None) if vt == VT_REF else (vt, self._state(step).globals[op[1]]))
        elif kind == K_NOP:
            pass
        elif kind == K_BRANCH:
            _kind, pop_taken, pop_not, targets = op
            target = targets.get(npc)
            if target is not None:  # taken: the next pc is the label's continuation
                if pop_taken:
                    del stack[-pop_taken:]
                lh, arity = target
                keep = stack[len(stack) - arity:] if arity else []
                del stack[lh:]
                stack.extend(keep)
            elif pop_not:
                del stack[-pop_not:]
        elif kind == K_SELECT:
            c = stack.pop()[1]
            b = stack.pop()
            a = stack.pop()
            if c is None:
                stack.append((a[0] if a[0] is not None else b[0], None))
            else:
                stack.append(a if c else b)
        elif kind == K_CALL:
            self._call(op, stack, step, ch, k, npc, cont, shape)
        elif kind == K_MSIZE:
            mems = self._state(step).memories
            size = len(mems[op[1]]) // PAGE if op[1] < len(mems) else None
            stack.append((VT_I64 if op[2] else VT_I32, size))
        elif kind == K_MGROW:
            stack.pop()
            is64 = op[2]
            stack.append((VT_I64 if is64 else VT_I32, self._effect_value(ch, k, j, FX_GROW)))
        elif kind == K_GENERIC:
            n, outs = op[1], op[2]
            if n:
                del stack[-n:]
            stack.extend((vt, None) for vt in outs)
        elif kind == K_REFNULL:
            stack.append((VT_REF, REF_NULL))
        elif kind == K_REFFUNC:
            stack.append((VT_REF, _Ref(op[1])))
        elif kind == K_ISNULL:
            v = stack.pop()[1]
            stack.append((VT_I32, int(v.func is None) if isinstance(v, _Ref) else None))
        elif kind == K_THROW:
            n = op[2]
            thrown = stack[len(stack) - n:]
            del stack[len(stack) - n:]
            self._land(stack, shape, npc, op[1], thrown if op[1] is not None else None)
        elif kind == K_LEAVE:
            raise Mismatch(f"step {step} leaves its function before the step asked for")
        else:  # pragma: no cover
            raise Mismatch(f"unknown instruction kind {kind}")

    def _call(self, op: tuple, stack: list, step: int, ch, k: int, npc: int, cont,
              shape: Shape) -> None:
        _kind, pops, results, imported = op
        self._remember(step, tuple(stack))  # a caller frame's stack, asked for while inside
        if pops:
            del stack[-pops:]
        if cont is None:
            raise Mismatch(f"the call at step {step} does not end its block")
        pc = self.blocks[int(ch.ids[k])].pcs[-1]
        ch2, k2 = cont
        back = ch2.first_step + int(ch2.step_starts[k2]) - 1  # the callee's last step
        if npc != shape.fallthrough.get(pc):
            # an exception thrown in a callee landed here instead of a return
            tag, thrown = self._thrown(back, step)
            self._land(stack, shape, npc, tag, thrown)
            return
        vals: list | None = None
        if len(results) == 1:
            b2 = self.blocks[int(ch2.ids[k2])]
            for fx in b2.effects:
                if fx[0] == -2 and fx[1] == FX_RESULT:
                    vals = [read_value(ch2.vals, int(ch2.voffs[k2]) + fx[3], fx[2])]
                    break
        if vals is None and imported:
            got = self._host_results(ch.seq, k)
            if got is not None and len(got) == len(results):
                vals = got
        if vals is None and not imported and back > step and results:
            # not recorded (several results, or a reference): what the callee returned is
            # the top of its own stack at its last step
            callee = self.stack_at(back)
            if callee is not None and len(callee) >= len(results):
                vals = [v for _vt, v in callee[len(callee) - len(results):]]
        for i, vt in enumerate(results):
            v = vals[i] if vals is not None else None
            if isinstance(v, int) and (vt == VT_REF or v >= 1 << (8 * VT_SIZE[vt])):
                v = None
            stack.append((vt, v))

    def _effect_value(self, ch, k: int, j: int, kind: int) -> int | None:
        b = self.blocks[int(ch.ids[k])]
        vbase = int(ch.voffs[k])
        for fx in b.effects:
            if fx[0] == j and fx[1] == kind:
                if kind == FX_LOCAL:
                    return read_value(ch.vals, vbase + fx[4], fx[3])
                if kind == FX_GROW:
                    asz = 8 if fx[3] else 4
                    return _UNPACK[asz](ch.vals, vbase + fx[4] + asz)[0]
        return None

    def _thrown(self, step: int, before: int) -> tuple[int | None, list | None]:
        """The tag and values thrown by the instruction at `step` (a callee's), if a throw."""
        if step <= before:
            return None, None
        seq, k, depth = self._locate(step)
        ch = self.trace.chunk(seq)
        b = self.blocks[int(ch.ids[k])]
        shape = self.shape(b.func)
        op = None if shape is None else shape.ops.get(b.pcs[step - ch.first_step
                                                            - int(ch.step_starts[k])])
        if op is None or op[0] != K_THROW or op[1] is None:
            return None, None
        stack = self.stack_at(step, depth)
        if stack is None or len(stack) < op[2]:
            return op[1], None
        return op[1], list(stack[len(stack) - op[2]:])

    def _land(self, stack: list, shape: Shape, npc: int, tag: int | None,
              thrown: list | None) -> None:
        """An exception lands on `npc`: the stack below the catching label stays, the
        clause that caught pushes the payload (and/or an exnref)."""
        info = shape.landings.get(npc)
        if info is None:
            raise Mismatch(f"control lands on {npc:#x}, which no catch clause names")
        lh, arity, clauses = info
        if lh > len(stack):
            raise Mismatch(f"an exception lands on {npc:#x} above the stack it left")
        n = len(thrown) if thrown is not None else None
        layouts = set()
        for ckind, ctag in clauses:
            if ckind == "catch_all" and arity == 0:
                layouts.add(())
            elif ckind == "catch_all_ref" and arity == 1:
                layouts.add(("ref",))
            elif ckind == "catch" and tag is not None and ctag == tag and arity == n:
                layouts.add(("values",))
            elif ckind == "catch_ref" and tag is not None and ctag == tag and arity == n + 1:
                layouts.add(("values", "ref"))
        payload: list = [UNKNOWN] * arity
        if len(layouts) == 1:
            payload = []
            for part in layouts.pop():
                payload.extend(thrown if part == "values" else [(VT_REF, None)])
        del stack[lh:]
        stack.extend(payload)


__all__ = ["OperandStacks", "Shape", "analyse", "Unsupported", "Mismatch", "CAP"]
