"""Decoding of function-body instruction sequences into ``Operator`` records.

The decoder is table-driven (one dispatch list indexed by opcode byte, one
dict per prefix byte) and keeps the common single-byte LEB case inline, since
real modules have hundreds of thousands of instructions and this runs on
every instrumentation and every replay session.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple
from collections.abc import Callable, Iterator

from .errors import UnsupportedOpcode, WasmError
from .leb import read_sleb, read_uleb
from .opcodes import OPCODES, PREFIXED, SINGLE_BYTE, OpInfo
from .opcodes import (  # re-exported for convenience
    access_size,
    is_block_start,
    is_branch,
    is_call,
    is_load,
    is_store,
    load_value_type,
    store_value_type,
    writes_memory,
)
from .valtypes import RefType, read_blocktype, read_heaptype, read_valtype

__all__ = [
    "Operator",
    "MemArg",
    "iter_operators",
    "decode_ops",
    "read_const_expr",
    "unsupported",
    "opcode_of",
    "OPCODES",
    "is_load",
    "is_store",
    "store_value_type",
    "load_value_type",
    "access_size",
    "writes_memory",
    "is_call",
    "is_branch",
    "is_block_start",
]


@dataclass(frozen=True, slots=True)
class Operator:
    """One decoded instruction; ``offset`` (absolute file offset of the opcode) is the pc."""

    offset: int
    end: int
    name: str
    imm: tuple

    @property
    def size(self) -> int:
        """Encoded length in bytes."""
        return self.end - self.offset

    @property
    def info(self) -> OpInfo:
        """Static opcode facts (category, access width, ...) for this operator's name."""
        return OPCODES[self.name]

    @property
    def category(self) -> str:
        """Coarse classification, see ``opcodes._classify``."""
        return OPCODES[self.name].category


class MemArg(NamedTuple):
    """Memory immediate: log2 alignment, static offset (u64 for memory64) and memory index."""

    align: int
    offset: int
    memory: int


_Reader = Callable[[bytes, int], "tuple[tuple, int]"]


def _u32(buf: bytes, pos: int) -> tuple[int, int]:
    b = buf[pos]
    if b < 0x80:
        return b, pos + 1
    return read_uleb(buf, pos, 32)


def _r_u32(buf: bytes, pos: int) -> tuple[tuple, int]:
    b = buf[pos]
    if b < 0x80:
        return (b,), pos + 1
    v, pos = read_uleb(buf, pos, 32)
    return (v,), pos


def _r_u32x2(buf: bytes, pos: int) -> tuple[tuple, int]:
    a, pos = _u32(buf, pos)
    b, pos = _u32(buf, pos)
    return (a, b), pos


def _r_u32x3(buf: bytes, pos: int) -> tuple[tuple, int]:
    a, pos = _u32(buf, pos)
    b, pos = _u32(buf, pos)
    c, pos = _u32(buf, pos)
    return (a, b, c), pos


def _r_block(buf: bytes, pos: int) -> tuple[tuple, int]:
    b = buf[pos]
    if b == 0x40:
        return (None,), pos + 1
    bt, pos = read_blocktype(buf, pos)
    return (bt,), pos


def _r_br_table(buf: bytes, pos: int) -> tuple[tuple, int]:
    start = pos
    n, pos = _u32(buf, pos)
    if n > len(buf) - pos:
        raise WasmError("br_table target count exceeds remaining data", start)
    targets: list[int] = []
    append = targets.append
    for _ in range(n):
        b = buf[pos]
        if b < 0x80:
            append(b)
            pos += 1
        else:
            v, pos = read_uleb(buf, pos, 32)
            append(v)
    default, pos = _u32(buf, pos)
    return (tuple(targets), default), pos


def _memarg(buf: bytes, pos: int) -> tuple[MemArg, int]:
    start = pos
    flags = buf[pos]
    if flags < 0x80:
        pos += 1
    else:
        flags, pos = read_uleb(buf, pos, 32)
    memory = 0
    if flags & 0x40:
        flags ^= 0x40
        memory, pos = _u32(buf, pos)
    if flags >= 0x40:
        raise WasmError("malformed memop alignment: alignment too large", start)
    b = buf[pos]
    if b < 0x80:
        return MemArg(flags, b, memory), pos + 1
    offset, pos = read_uleb(buf, pos, 64)
    return MemArg(flags, offset, memory), pos


def _r_memarg(buf: bytes, pos: int) -> tuple[tuple, int]:
    m, pos = _memarg(buf, pos)
    return (m,), pos


def _r_memarg_lane(buf: bytes, pos: int) -> tuple[tuple, int]:
    m, pos = _memarg(buf, pos)
    return (m, buf[pos]), pos + 1


def _r_lane(buf: bytes, pos: int) -> tuple[tuple, int]:
    return (buf[pos],), pos + 1


def _r_i32(buf: bytes, pos: int) -> tuple[tuple, int]:
    b = buf[pos]
    if b < 0x40:
        return (b,), pos + 1
    v, pos = read_sleb(buf, pos, 32)
    return (v,), pos


def _r_i64(buf: bytes, pos: int) -> tuple[tuple, int]:
    b = buf[pos]
    if b < 0x40:
        return (b,), pos + 1
    v, pos = read_sleb(buf, pos, 64)
    return (v,), pos


def _r_f32(buf: bytes, pos: int) -> tuple[tuple, int]:
    return (buf[pos : pos + 4],), pos + 4


def _r_f64(buf: bytes, pos: int) -> tuple[tuple, int]:
    return (buf[pos : pos + 8],), pos + 8


def _r_v128(buf: bytes, pos: int) -> tuple[tuple, int]:
    return (buf[pos : pos + 16],), pos + 16


def _r_heaptype(buf: bytes, pos: int) -> tuple[tuple, int]:
    h, pos = read_heaptype(buf, pos)
    return (h,), pos


def _r_ref_nn(buf: bytes, pos: int) -> tuple[tuple, int]:
    h, pos = read_heaptype(buf, pos)
    return (RefType(False, h),), pos


def _r_ref_null(buf: bytes, pos: int) -> tuple[tuple, int]:
    h, pos = read_heaptype(buf, pos)
    return (RefType(True, h),), pos


def _r_select_t(buf: bytes, pos: int) -> tuple[tuple, int]:
    start = pos
    n, pos = _u32(buf, pos)
    if n > len(buf) - pos:
        raise WasmError("select type count exceeds remaining data", start)
    types = []
    for _ in range(n):
        vt, pos = read_valtype(buf, pos)
        types.append(vt)
    return (tuple(types),), pos


_CATCH_KINDS = ("catch", "catch_ref", "catch_all", "catch_all_ref")


def _r_try_table(buf: bytes, pos: int) -> tuple[tuple, int]:
    bt, pos = read_blocktype(buf, pos)
    start = pos
    n, pos = _u32(buf, pos)
    if n > len(buf) - pos:
        raise WasmError("try_table catch count exceeds remaining data", start)
    catches = []
    for _ in range(n):
        kind = buf[pos]
        if kind > 3:
            raise WasmError(f"invalid try_table catch kind 0x{kind:02x}", pos)
        pos += 1
        if kind < 2:
            tag, pos = _u32(buf, pos)
        else:
            tag = None
        label, pos = _u32(buf, pos)
        catches.append((_CATCH_KINDS[kind], tag, label))
    return (bt, tuple(catches)), pos


def _r_br_on_cast(buf: bytes, pos: int) -> tuple[tuple, int]:
    flags = buf[pos]
    if flags > 3:
        raise WasmError(f"invalid cast flags 0x{flags:02x}", pos)
    label, pos = _u32(buf, pos + 1)
    h1, pos = read_heaptype(buf, pos)
    h2, pos = read_heaptype(buf, pos)
    return (flags, label, h1, h2), pos


def _r_zero_byte(buf: bytes, pos: int) -> tuple[tuple, int]:
    if buf[pos] != 0:
        raise WasmError("expected a zero byte", pos)
    return (), pos + 1


def _ordering(buf: bytes, pos: int) -> tuple[int, int]:
    o, npos = _u32(buf, pos)
    if o > 1:
        raise WasmError(f"invalid atomic ordering {o}", pos)
    return o, npos


def _r_ord_idx(buf: bytes, pos: int) -> tuple[tuple, int]:
    o, pos = _ordering(buf, pos)
    i, pos = _u32(buf, pos)
    return (o, i), pos


def _r_ord_type_field(buf: bytes, pos: int) -> tuple[tuple, int]:
    o, pos = _ordering(buf, pos)
    t, pos = _u32(buf, pos)
    f, pos = _u32(buf, pos)
    return (o, t, f), pos


def _handlers(buf: bytes, pos: int) -> tuple[tuple, int]:
    start = pos
    n, pos = _u32(buf, pos)
    if n > len(buf) - pos:
        raise WasmError("resume handler count exceeds remaining data", start)
    out: list[tuple[str, int, int | None]] = []
    for _ in range(n):
        kind = buf[pos]
        if kind == 0:
            tag, pos = _u32(buf, pos + 1)
            label, pos = _u32(buf, pos)
            out.append(("on_label", tag, label))
        elif kind == 1:
            tag, pos = _u32(buf, pos + 1)
            out.append(("on_switch", tag, None))
        else:
            raise WasmError(f"invalid resume handler kind 0x{kind:02x}", pos)
    return tuple(out), pos


def _r_resume(buf: bytes, pos: int) -> tuple[tuple, int]:
    t, pos = _u32(buf, pos)
    h, pos = _handlers(buf, pos)
    return (t, h), pos


def _r_resume_throw(buf: bytes, pos: int) -> tuple[tuple, int]:
    t, pos = _u32(buf, pos)
    tag, pos = _u32(buf, pos)
    h, pos = _handlers(buf, pos)
    return (t, tag, h), pos


_READERS: dict[str, _Reader | None] = {
    "": None,
    "block": _r_block,
    "label": _r_u32,
    "br_table": _r_br_table,
    "func": _r_u32,
    "call_indirect": _r_u32x2,
    "type": _r_u32,
    "local": _r_u32,
    "global": _r_u32,
    "tag": _r_u32,
    "table": _r_u32,
    "mem": _r_u32,
    "data": _r_u32,
    "elem": _r_u32,
    "data_mem": _r_u32x2,
    "mem_mem": _r_u32x2,
    "elem_table": _r_u32x2,
    "table_table": _r_u32x2,
    "memarg": _r_memarg,
    "memarg_lane": _r_memarg_lane,
    "lane": _r_lane,
    "i32": _r_i32,
    "i64": _r_i64,
    "f32": _r_f32,
    "f64": _r_f64,
    "v128": _r_v128,
    "shuffle": _r_v128,
    "heaptype": _r_heaptype,
    "select_t": _r_select_t,
    "try_table": _r_try_table,
    "ref_nn": _r_ref_nn,
    "ref_null": _r_ref_null,
    "br_on_cast": _r_br_on_cast,
    "type_field": _r_u32x2,
    "type_type": _r_u32x2,
    "type_count": _r_u32x2,
    "type_data": _r_u32x2,
    "type_elem": _r_u32x2,
    "type_tag": _r_u32x2,
    "zero_byte": _r_zero_byte,
    "ord_idx": _r_ord_idx,
    "ord_type_field": _r_ord_type_field,
    "resume": _r_resume,
    "resume_throw": _r_resume_throw,
}

# Every immediate kind used by the table must have a reader.
_missing = {i.imm for i in OPCODES.values()} - set(_READERS)
assert not _missing, _missing

# Dispatch: entry per first byte. (name, reader) for single-byte opcodes;
# (None, prefix_table) for prefix bytes; None for unknown bytes.
_PREFIX_DISPATCH: dict[int, dict[int, tuple[str, _Reader | None]]] = {
    p: {code: (info.name, _READERS[info.imm]) for code, info in table.items()} for p, table in PREFIXED.items()
}
_DISPATCH: list[Any] = [None] * 256
for _b, _info in enumerate(SINGLE_BYTE):
    if _info is not None:
        _DISPATCH[_b] = (_info.name, _READERS[_info.imm])
for _p, _table in _PREFIX_DISPATCH.items():
    _DISPATCH[_p] = (None, _table)
del _b, _info, _p, _table, _missing


def iter_operators(data: bytes, start: int, end: int) -> Iterator[Operator]:
    """Decode every instruction in ``data[start:end]`` (absolute offsets).

    Raises ``UnsupportedOpcode`` for unknown opcodes and ``WasmError`` for
    truncated/malformed immediates or an instruction that runs past ``end``.
    """
    if not 0 <= start <= end <= len(data):
        raise WasmError(f"instruction range {start}..{end} outside module of {len(data)} bytes", start)
    dispatch = _DISPATCH
    Op = Operator
    empty = ()
    pos = start
    try:
        while pos < end:
            b = data[pos]
            entry = dispatch[b]
            if entry is None:
                raise UnsupportedOpcode((b,), pos)
            name, reader = entry
            if reader is None:
                yield Op(pos, pos + 1, name, empty)
                pos += 1
                continue
            if name is None:  # prefixed: reader is the sub-opcode table
                name, imm, npos = _read_prefixed(data, pos, b, reader)
            else:
                imm, npos = reader(data, pos + 1)
            if npos > end:
                raise WasmError(f"{name} extends past the end of the function body", pos)
            yield Op(pos, npos, name, imm)
            pos = npos
    except IndexError:
        raise WasmError("unexpected end of data while decoding an instruction", pos) from None


def _read_prefixed(data: bytes, pos: int, prefix: int, table: dict) -> tuple[str, tuple, int]:
    """A prefixed opcode at pos: its name, immediates and the position after it."""
    sub = data[pos + 1]
    if sub < 0x80:
        npos = pos + 2
    else:
        sub, npos = read_uleb(data, pos + 1, 32)
    entry = table.get(sub)
    if entry is None:
        raise UnsupportedOpcode((prefix, sub), pos)
    name, reader = entry
    if reader is None:
        return name, (), npos
    imm, npos = reader(data, npos)
    return name, imm, npos


def decode_ops(data: bytes, start: int, end: int) -> tuple[list[int], list[str], list[tuple]]:
    """Decode every instruction in ``data[start:end]`` at once, as parallel lists.

    Returns (offsets, names, immediates); ``offsets`` has one entry more than there are
    instructions (the last is ``end``), so instruction i is ``data[offsets[i]:offsets[i + 1]]``.
    Same checks and errors as ``iter_operators``, without an ``Operator`` per instruction: the
    instrumenter decodes every function of a module and most of their instructions it only
    copies, so building an object for each was most of its decoding time.
    """
    if not 0 <= start <= end <= len(data):
        raise WasmError(f"instruction range {start}..{end} outside module of {len(data)} bytes", start)
    dispatch = _DISPATCH
    empty = ()
    small = _SMALL_U32
    r_u32 = _r_u32
    r_memarg = _r_memarg
    r_i32 = _r_i32
    r_block = _r_block
    memargs = _SMALL_MEMARGS
    no_type = (None,)
    size = len(data)  # a truncated LEB128 is read_uleb's error, not an IndexError
    offs: list[int] = []
    names: list[str] = []
    imms: list[tuple] = []
    add_off = offs.append
    add_name = names.append
    add_imm = imms.append
    pos = start
    try:
        while pos < end:
            b = data[pos]
            entry = dispatch[b]
            if entry is None:
                raise UnsupportedOpcode((b,), pos)
            name, reader = entry
            if reader is None:
                add_off(pos)
                add_name(name)
                add_imm(empty)
                pos += 1
                continue
            # inline the one-byte immediates of the most common instructions
            if reader is r_u32:  # local.get/set/tee, global.get/set, call, br, ...
                v = data[pos + 1]
                if v < 0x80:
                    imm = small[v]
                    npos = pos + 2
                elif pos + 2 < size and (w := data[pos + 2]) < 0x80:  # two bytes: < 16384
                    imm = (v & 0x7F | w << 7,)
                    npos = pos + 3
                else:
                    imm, npos = reader(data, pos + 1)
            elif reader is r_memarg:  # loads and stores
                v = data[pos + 1]
                if v < 0x40:  # no memory index
                    o = data[pos + 2]
                    if o < 0x80:
                        npos = pos + 3
                    elif pos + 3 < size and (w := data[pos + 3]) < 0x80:  # offset < 16384
                        o = o & 0x7F | w << 7
                        npos = pos + 4
                    else:
                        o = -1
                    if o >= 0:
                        imm = memargs.get(v << 14 | o)
                        if imm is None:
                            imm = memargs[v << 14 | o] = (MemArg(v, o, 0),)
                    else:
                        imm, npos = reader(data, pos + 1)
                else:
                    imm, npos = reader(data, pos + 1)
            elif reader is r_i32:  # i32.const
                v = data[pos + 1]
                if v < 0x40:
                    imm = small[v]
                    npos = pos + 2
                else:
                    imm, npos = reader(data, pos + 1)
            elif reader is r_block and data[pos + 1] == 0x40:  # block/loop/if with no type
                imm = no_type
                npos = pos + 2
            elif name is None:  # prefixed: reader is the sub-opcode table
                name, imm, npos = _read_prefixed(data, pos, b, reader)
            else:
                imm, npos = reader(data, pos + 1)
            if npos > end:
                raise WasmError(f"{name} extends past the end of the function body", pos)
            add_off(pos)
            add_name(name)
            add_imm(imm)
            pos = npos
    except IndexError:
        raise WasmError("unexpected end of data while decoding an instruction", pos) from None
    add_off(pos)
    return offs, names, imms


_SMALL_U32 = tuple((v,) for v in range(0x80))
_SMALL_MEMARGS: dict[int, tuple[MemArg]] = {}  # (align << 14 | offset) -> (MemArg,)


def opcode_of(op: Operator, data: bytes | None = None) -> tuple[int, ...]:
    """The opcode bytes of ``op`` (prefix and decoded sub-opcode), read from ``data`` when given."""
    if data is not None and op.offset < len(data):
        b = data[op.offset]
        if b in PREFIXED:
            try:
                sub, _ = read_uleb(data, op.offset + 1, 32)
            except WasmError:
                return (b,)
            return (b, sub)
        return (b,)
    return OPCODES[op.name].opcode_bytes


def unsupported(op: Operator, data: bytes | None = None, reason: str | None = None) -> UnsupportedOpcode:
    """The error a consumer (e.g. the instrumenter) raises for an operator it cannot handle.

    Produces ``unsupported opcode 0xfe 0x10 (i32.atomic.load) at offset 0x1a2b``.
    """
    return UnsupportedOpcode(opcode_of(op, data), op.offset, name=op.name, reason=reason)


def read_const_expr(data: bytes, start: int, limit: int) -> tuple[list[Operator], int]:
    """Decode a constant expression at ``start`` up to its terminating ``end``.

    Returns (operators including the final end, offset one past the end).
    ``limit`` bounds the search (e.g. the section end).
    """
    ops: list[Operator] = []
    depth = 0
    for op in iter_operators(data, start, limit):
        ops.append(op)
        name = op.name
        if name in ("block", "loop", "if", "try", "try_table"):
            depth += 1
        elif name == "end":
            if depth == 0:
                return ops, op.end
            depth -= 1
    raise WasmError("constant expression is missing its end", start)
