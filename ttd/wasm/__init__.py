"""WebAssembly binary layer: module parsing, operator decoding and encoding helpers."""

from .errors import UnsupportedOpcode, WasmError
from .module import (
    CompositeType,
    DataSegment,
    ElementSegment,
    Export,
    FunctionBody,
    Global,
    GlobalType,
    Import,
    MemoryType,
    Module,
    Section,
    TableType,
    TypeEntry,
    parse_module,
)
from .operators import MemArg, Operator, iter_operators
from .valtypes import EXTERNREF, FUNCREF, FuncType, RefType, ValType, valtype_size

__all__ = [
    "WasmError",
    "UnsupportedOpcode",
    "parse_module",
    "Module",
    "Section",
    "FuncType",
    "CompositeType",
    "TypeEntry",
    "RefType",
    "ValType",
    "FUNCREF",
    "EXTERNREF",
    "valtype_size",
    "Import",
    "Export",
    "MemoryType",
    "TableType",
    "GlobalType",
    "Global",
    "FunctionBody",
    "ElementSegment",
    "DataSegment",
    "Operator",
    "MemArg",
    "iter_operators",
]
