"""Small writer helpers for building (instrumented) modules.

The instrumenter copies most of the original module verbatim and re-encodes
only the sections it changes; these helpers produce exactly the canonical
encodings the parser in ``module.py`` reads back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .leb import encode_sleb, encode_uleb
from .module import (
    KIND_CODES,
    Export,
    GlobalType,
    Import,
    MemoryType,
    TableType,
)
from .valtypes import FuncType, ValType, encode_heaptype, encode_valtype

__all__ = [
    "encode_uleb",
    "encode_sleb",
    "section",
    "custom_section",
    "vec",
    "name",
    "encode_valtype",
    "encode_heaptype",
    "encode_functype",
    "encode_limits",
    "encode_memory_type",
    "encode_table_type",
    "encode_global_type",
    "encode_import",
    "encode_export",
    "encode_locals",
    "encode_func_body",
    "encode_blocktype",
    "encode_memarg",
    "module_header",
    "HEADER",
]

HEADER = b"\x00asm\x01\x00\x00\x00"


def module_header() -> bytes:
    """Magic number and version 1."""
    return HEADER


def section(id: int, payload: bytes) -> bytes:
    """A section: id byte, u32 payload size, payload."""
    return bytes((id,)) + encode_uleb(len(payload)) + payload


def name(s: str) -> bytes:
    """A UTF-8 name with its length prefix."""
    raw = s.encode("utf-8")
    return encode_uleb(len(raw)) + raw


def custom_section(section_name: str, payload: bytes) -> bytes:
    """A custom section (id 0) with the given name and payload."""
    return section(0, name(section_name) + payload)


def vec(items: Iterable[bytes]) -> bytes:
    """A vector: u32 count followed by the already-encoded items."""
    items = list(items)
    return encode_uleb(len(items)) + b"".join(items)


def encode_functype(ft: FuncType) -> bytes:
    """A function type entry of the type section (0x60 params results)."""
    return (
        b"\x60"
        + vec([encode_valtype(t) for t in ft.params])
        + vec([encode_valtype(t) for t in ft.results])
    )


def encode_limits(
    minimum: int,
    maximum: int | None = None,
    *,
    shared: bool = False,
    is64: bool = False,
    page_size_log2: int | None = None,
) -> bytes:
    """Limits with the flags byte used by memories and tables.

    Flag bits: 0 = has max, 1 = shared, 2 = 64-bit, 3 = custom page size
    (memories only; pass ``page_size_log2`` to encode it).
    """
    flags = (1 if maximum is not None else 0) | (2 if shared else 0) | (4 if is64 else 0)
    if page_size_log2 is not None:
        flags |= 8
    out = bytes((flags,)) + encode_uleb(minimum)
    if maximum is not None:
        out += encode_uleb(maximum)
    if page_size_log2 is not None:
        out += encode_uleb(page_size_log2)
    return out


def encode_memory_type(mt: MemoryType) -> bytes:
    """A memory type (limits with shared/64-bit/page-size flags)."""
    page = mt.page_size_log2 if (mt.has_page_size or mt.page_size_log2 != 16) else None
    return encode_limits(mt.minimum, mt.maximum, shared=mt.shared, is64=mt.is64, page_size_log2=page)


def encode_table_type(tt: TableType) -> bytes:
    """A table type (element reftype then limits)."""
    return encode_valtype(tt.elem) + encode_limits(tt.minimum, tt.maximum, shared=tt.shared, is64=tt.is64)


def encode_global_type(gt: GlobalType) -> bytes:
    """A global type (value type then mutability/shared flags)."""
    return encode_valtype(gt.valtype) + bytes(((1 if gt.mutable else 0) | (2 if gt.shared else 0),))


def encode_import(imp: Import) -> bytes:
    """One import section entry."""
    head = name(imp.module) + name(imp.name) + bytes((KIND_CODES[imp.kind],))
    d = imp.desc
    if imp.kind == "func":
        assert isinstance(d, int)
        return head + encode_uleb(d)
    if imp.kind == "tag":
        assert isinstance(d, int)
        return head + b"\x00" + encode_uleb(d)
    if isinstance(d, TableType):
        return head + encode_table_type(d)
    if isinstance(d, MemoryType):
        return head + encode_memory_type(d)
    if isinstance(d, GlobalType):
        return head + encode_global_type(d)
    raise ValueError(f"bad import descriptor {d!r}")


def encode_export(exp: Export) -> bytes:
    """One export section entry."""
    return name(exp.name) + bytes((KIND_CODES[exp.kind],)) + encode_uleb(exp.index)


def encode_locals(groups: Sequence[tuple[int, ValType]]) -> bytes:
    """The locals vector of a function body from (count, type) groups."""
    return vec([encode_uleb(n) + encode_valtype(t) for n, t in groups])


def encode_func_body(groups: Sequence[tuple[int, ValType]], code: bytes) -> bytes:
    """A complete code-section entry: size, locals, instructions (``code`` must end with 0x0b)."""
    body = encode_locals(groups) + code
    return encode_uleb(len(body)) + body


def encode_blocktype(bt: None | ValType | int) -> bytes:
    """Block type: None -> 0x40, value type, or s33 type index."""
    if bt is None:
        return b"\x40"
    if isinstance(bt, int):
        return encode_sleb(bt)
    return encode_valtype(bt)


def encode_memarg(align: int, offset: int, memory: int = 0) -> bytes:
    """A memarg, using the multi-memory flag bit 6 only when memory != 0."""
    if memory:
        return encode_uleb(align | 0x40) + encode_uleb(memory) + encode_uleb(offset)
    return encode_uleb(align) + encode_uleb(offset)
