"""A global's value as the unsigned integer of its bits, read beneath wasmtime-py's API.

wasmtime-py's Global.value cannot convert a v128 (it raises "Unkown ffi.wasmtime_valkind_t:
4") and hands f32/f64 back as Python floats, through which a NaN's payload is not kept
exactly. The C API's value union holds the bits of every numeric type, so read them there.
"""

from __future__ import annotations

import ctypes

import wasmtime
from wasmtime import _ffi as ffi

_MASK = {"i32": (1 << 32) - 1, "f32": (1 << 32) - 1, "i64": (1 << 64) - 1, "f64": (1 << 64) - 1}


def global_bits(g: wasmtime.Global, store, vt) -> int | None:
    """The bits of global `g` of value type `vt` (from the module: wasmtime-py's Global.type
    aborts the process on a v128 global); None for a reference (not read: reading one would
    root it)."""
    if vt not in _MASK and vt != "v128":
        return None
    raw = ffi.wasmtime_val_t()
    ffi.wasmtime_global_get(store._context(), ctypes.byref(g._global), ctypes.byref(raw))
    if vt == "v128":
        return int.from_bytes(bytes(raw.of.v128), "little")
    return (raw.of.i64 if vt in ("i64", "f64") else raw.of.i32) & _MASK[vt]
