"""Value, reference and function types shared by the decoder, parser and encoder.

Numeric value types are plain strings ("i32", "i64", "f32", "f64", "v128")
because they are compared and printed constantly; reference types need a
nullability bit and a heap type, so they get a small frozen dataclass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from .errors import WasmError
from .leb import encode_sleb, encode_uleb, read_sleb, read_uleb

__all__ = [
    "ValType",
    "RefType",
    "FuncType",
    "FUNCREF",
    "EXTERNREF",
    "EXNREF",
    "NUMERIC_TYPES",
    "ABSTRACT_HEAP_TYPES",
    "valtype_size",
    "read_valtype",
    "read_heaptype",
    "read_blocktype",
    "encode_valtype",
    "encode_heaptype",
]

# Binary codes of the numeric value types.
NUMERIC_TYPES: dict[int, str] = {0x7F: "i32", 0x7E: "i64", 0x7D: "f32", 0x7C: "f64", 0x7B: "v128"}
_NUMERIC_CODES: dict[str, int] = {v: k for k, v in NUMERIC_TYPES.items()}

# Binary codes of the abstract heap types (reference types, GC, exceptions,
# stack switching).
ABSTRACT_HEAP_TYPES: dict[int, str] = {
    0x70: "func",
    0x6F: "extern",
    0x6E: "any",
    0x6D: "eq",
    0x6C: "i31",
    0x6B: "struct",
    0x6A: "array",
    0x69: "exn",
    0x68: "cont",
    0x71: "none",
    0x72: "noextern",
    0x73: "nofunc",
    0x74: "noexn",
    0x75: "nocont",
}
_HEAP_CODES: dict[str, int] = {v: k for k, v in ABSTRACT_HEAP_TYPES.items()}

# Text-format shorthands for nullable abstract reference types.
_SHORTHAND: dict[str, str] = {
    "func": "funcref",
    "extern": "externref",
    "any": "anyref",
    "eq": "eqref",
    "i31": "i31ref",
    "struct": "structref",
    "array": "arrayref",
    "exn": "exnref",
    "cont": "contref",
    "none": "nullref",
    "noextern": "nullexternref",
    "nofunc": "nullfuncref",
    "noexn": "nullexnref",
    "nocont": "nullcontref",
}


@dataclass(frozen=True, slots=True)
class RefType:
    """A reference type: ``heap`` is a type index (int) or an abstract heap type name.

    Abstract names are those of ``ABSTRACT_HEAP_TYPES``, optionally prefixed
    with ``"shared "`` (shared-everything-threads); ``"exact N"`` denotes an
    exact concrete type (custom-descriptors proposal).
    """

    nullable: bool
    heap: int | str

    def __str__(self) -> str:
        if self.nullable and isinstance(self.heap, str) and self.heap in _SHORTHAND:
            return _SHORTHAND[self.heap]
        return f"(ref {'null ' if self.nullable else ''}{self.heap})"


ValType = Union[str, RefType]  # noqa: UP007 (runtime alias, kept explicit)

FUNCREF = RefType(True, "func")
EXTERNREF = RefType(True, "extern")
EXNREF = RefType(True, "exn")

_SHORT_REFS: dict[int, RefType] = {code: RefType(True, name) for code, name in ABSTRACT_HEAP_TYPES.items()}


@dataclass(frozen=True, slots=True)
class FuncType:
    """A function signature."""

    params: tuple[ValType, ...]
    results: tuple[ValType, ...]

    def __str__(self) -> str:
        p = " ".join(str(t) for t in self.params)
        r = " ".join(str(t) for t in self.results)
        return f"(func (param {p}) (result {r}))"


_SIZES = {"i32": 4, "i64": 8, "f32": 4, "f64": 8, "v128": 16}


def valtype_size(vt: ValType) -> int | None:
    """Byte size of a numeric value type; None for references (opaque to the recorder)."""
    return _SIZES.get(vt) if isinstance(vt, str) else None


def read_heaptype(buf: bytes, pos: int) -> tuple[int | str, int]:
    """Decode a heap type (s33 type index or abstract code); return (heap, newpos)."""
    if pos >= len(buf):
        raise WasmError("unexpected end of data in heap type", pos)
    b = buf[pos]
    name = ABSTRACT_HEAP_TYPES.get(b)
    if name is not None:
        return name, pos + 1
    if b == 0x65:
        if pos + 1 >= len(buf):
            raise WasmError("unexpected end of data in heap type", pos)
        name = ABSTRACT_HEAP_TYPES.get(buf[pos + 1])
        if name is None:
            raise WasmError("invalid shared heap type", pos)
        return "shared " + name, pos + 2
    if b == 0x62:
        idx, npos = read_uleb(buf, pos + 1, 32)
        return f"exact {idx}", npos
    value, npos = read_sleb(buf, pos, 33)
    if value < 0:
        raise WasmError(f"invalid heap type 0x{b:02x}", pos)
    return value, npos


def read_valtype(buf: bytes, pos: int) -> tuple[ValType, int]:
    """Decode a value type; return (valtype, newpos)."""
    if pos >= len(buf):
        raise WasmError("unexpected end of data in value type", pos)
    b = buf[pos]
    num = NUMERIC_TYPES.get(b)
    if num is not None:
        return num, pos + 1
    ref = _SHORT_REFS.get(b)
    if ref is not None:
        return ref, pos + 1
    if b == 0x63 or b == 0x64:
        heap, npos = read_heaptype(buf, pos + 1)
        return RefType(b == 0x63, heap), npos
    if b == 0x65:
        heap, npos = read_heaptype(buf, pos)
        return RefType(True, heap), npos
    raise WasmError(f"invalid value type 0x{b:02x}", pos)


def read_blocktype(buf: bytes, pos: int) -> tuple[None | ValType | int, int]:
    """Decode a block type: None (empty), a value type, or a type index."""
    if pos >= len(buf):
        raise WasmError("unexpected end of data in block type", pos)
    b = buf[pos]
    if b == 0x40:
        return None, pos + 1
    if b & 0xC0 == 0x40:  # single-byte negative s33: a value type
        return read_valtype(buf, pos)
    value, npos = read_sleb(buf, pos, 33)
    if value < 0:
        raise WasmError("invalid block type", pos)
    return value, npos


def encode_heaptype(heap: int | str) -> bytes:
    """Encode a heap type (inverse of ``read_heaptype``)."""
    if isinstance(heap, int):
        return encode_sleb(heap)
    if heap.startswith("shared "):
        return b"\x65" + bytes((_HEAP_CODES[heap[7:]],))
    if heap.startswith("exact "):
        return b"\x62" + encode_uleb(int(heap[6:]))
    try:
        return bytes((_HEAP_CODES[heap],))
    except KeyError:
        raise ValueError(f"unknown heap type {heap!r}") from None


def encode_valtype(vt: ValType) -> bytes:
    """Encode a value type, using the one-byte shorthand for nullable abstract refs."""
    if isinstance(vt, str):
        try:
            return bytes((_NUMERIC_CODES[vt],))
        except KeyError:
            raise ValueError(f"unknown value type {vt!r}") from None
    heap = vt.heap
    if vt.nullable and isinstance(heap, str) and heap in _HEAP_CODES:
        return bytes((_HEAP_CODES[heap],))
    return (b"\x63" if vt.nullable else b"\x64") + encode_heaptype(heap)
