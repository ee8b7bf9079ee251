"""The `spectest` host module of the WebAssembly spec tests, for `ttd record --spectest`.

Spec-test modules import from `spectest` (the reference interpreter's host module): print
functions that print their arguments and return nothing, four constant globals (666 and
666.6), a funcref table of 10 (at most 20) null elements and a memory of 1 (at most 2)
zeroed pages. The capture provides them (the functions print `VALUE: TYPE` lines to stdout,
the form `wasmtime wast` uses); what the module can observe of them goes into the capture (each call, and each global's
bits, the table's and memory's limits and contents at instantiation), so an expansion
defines them from the capture alone, never from this module.
"""

from __future__ import annotations

import struct
import sys
from typing import Callable

import wasmtime

MODULE = "spectest"

_F32_666_6 = struct.unpack("<I", struct.pack("<f", 666.6))[0]
_F64_666_6 = struct.unpack("<Q", struct.pack("<d", 666.6))[0]

#: name -> (value type, bits)
GLOBALS = {
    "global_i32": ("i32", 666),
    "global_i64": ("i64", 666),
    "global_f32": ("f32", _F32_666_6),
    "global_f64": ("f64", _F64_666_6),
}
TABLE = ("table", "funcref", 10, 20)
MEMORY = ("memory", 1, 2)
FUNCTIONS = {
    "print": (), "print_i32": ("i32",), "print_i64": ("i64",), "print_f32": ("f32",),
    "print_f64": ("f64",), "print_i32_f32": ("i32", "f32"), "print_f64_f64": ("f64", "f64"),
}

_VT = {"i32": wasmtime.ValType.i32, "i64": wasmtime.ValType.i64,
       "f32": wasmtime.ValType.f32, "f64": wasmtime.ValType.f64}


def value(vt: str, bits: int):
    """A wasmtime-py value of type `vt` from its bits."""
    if vt == "i32":
        return bits - (1 << 32) if bits >= 1 << 31 else bits
    if vt == "i64":
        return bits - (1 << 64) if bits >= 1 << 63 else bits
    if vt == "f32":
        return struct.unpack("<f", struct.pack("<I", bits))[0]
    return struct.unpack("<d", struct.pack("<Q", bits))[0]


def printers(out=None) -> dict[str, Callable]:
    """name -> the host function (what it prints goes to `out`, default stdout)."""
    return {name: _printer(name, out or sys.stdout) for name in FUNCTIONS}


def _printer(name: str, out) -> Callable:
    def host(*vals):
        out.write("".join(f"{v}: {t}\n" for v, t in zip(vals, FUNCTIONS[name])) or "\n")
        out.flush()
    return host


def provides(module: str, name: str, kind: str) -> bool:
    """Whether the spectest host has this import (kind: func, global, table, memory)."""
    if module != MODULE:
        return False
    return ((kind == "func" and name in FUNCTIONS) or (kind == "global" and name in GLOBALS)
            or (kind == "table" and name == TABLE[0]) or (kind == "memory" and name == MEMORY[0]))


def func_type(name: str) -> wasmtime.FuncType:
    return wasmtime.FuncType([_VT[t]() for t in FUNCTIONS[name]], [])


def define(store: wasmtime.Store, linker: wasmtime.Linker, out=None) -> None:
    """Every spectest export in `linker` (its functions print to `out`, default stdout)."""
    out = out or sys.stdout
    for name in FUNCTIONS:
        linker.define(store, MODULE, name, wasmtime.Func(store, func_type(name), _printer(name, out)))
    define_values(store, linker, described())


def described() -> list[list]:
    """The non-function exports as the capture keeps them (see define_values)."""
    out: list[list] = [["global", MODULE, name, vt, False, bits]
                       for name, (vt, bits) in GLOBALS.items()]
    out.append(["table", MODULE, TABLE[0], TABLE[1], TABLE[2], TABLE[3]])
    out.append(["memory", MODULE, MEMORY[0], MEMORY[1], MEMORY[2], ""])
    return out


def define_values(store: wasmtime.Store, linker: wasmtime.Linker, items: list) -> None:
    """Define globals, tables and memories in `linker` from their description:
    ["global", module, name, vt, mutable, bits], ["table", module, name, "funcref", min,
    max|None] (null elements), ["memory", module, name, min, max|None, initial bytes in hex
    (the rest zero)]. A capture holds these for the imports its module has; ValueError for
    anything else."""
    for item in items:
        kind, module, name, item = item[0], str(item[1]), str(item[2]), [item[0], *item[2:]]
        if kind == "global":
            vt, mutable, bits = item[2], bool(item[3]), int(item[4])
            if vt not in _VT or not 0 <= bits < 1 << (32 if vt in ("i32", "f32") else 64):
                raise ValueError(f"global {name}: {vt!r} {bits}")
            g = wasmtime.Global(store, wasmtime.GlobalType(_VT[vt](), mutable), value(vt, bits))
            linker.define(store, module, name, g)
        elif kind == "table":
            if item[2] != "funcref":
                raise ValueError(f"table {name}: element type {item[2]!r}")
            lo, hi = _limits(name, item[3], item[4])
            t = wasmtime.Table(store, wasmtime.TableType(wasmtime.ValType.funcref(),
                                                         wasmtime.Limits(lo, hi)), None)
            linker.define(store, module, name, t)
        elif kind == "memory":
            lo, hi = _limits(name, item[2], item[3])
            data = bytes.fromhex(item[4])
            m = wasmtime.Memory(store, wasmtime.MemoryType(wasmtime.Limits(lo, hi)))
            if len(data) > m.data_len(store):
                raise ValueError(f"memory {name}: {len(data)} initial bytes for {lo} pages")
            if data:
                m.write(store, data, 0)
            linker.define(store, module, name, m)
        else:
            raise ValueError(f"spectest {kind} {name!r}")


def _limits(name: str, lo, hi) -> tuple[int, int | None]:
    lo, hi = int(lo), None if hi is None else int(hi)
    if not 0 <= lo <= (hi if hi is not None else 1 << 32) <= 1 << 32:
        raise ValueError(f"{name}: limits {lo}..{hi}")
    return lo, hi


def described_for(imports) -> list[list]:
    """The descriptions of the non-function spectest imports a module has (imports: its
    (module, name, kind) triples)."""
    wanted = {(name, kind) for mod, name, kind in imports if mod == MODULE and kind != "func"}
    return [d for d in described() if (d[2], d[0]) in wanted]
