"""Operand and result types of the SIMD operators, from their names.

The operand-stack rebuild needs how many values an operator it does not model pops and what
it pushes. Guessing that from name prefixes went wrong (`neg` and `nearest` start with `ne`,
so they were taken for comparisons and popped two values): every operator is named here in
full, and tests/wasm/test_signatures.py validates each signature with wasmtime.
"""

from __future__ import annotations

from ttd.wasm.opcodes import OPCODES

__all__ = ["simd_signature", "SIMD_BINARY", "SIMD_TERNARY"]

_SCALAR = {"i8x16": "i32", "i16x8": "i32", "i32x4": "i32", "i64x2": "i64", "f32x4": "f32",
           "f64x2": "f64"}

SIMD_TERNARY = frozenset((
    "bitselect", "relaxed_laneselect", "relaxed_madd", "relaxed_nmadd",
    "relaxed_dot_i8x16_i7x16_add_s"))

SIMD_BINARY = frozenset((
    "swizzle", "shuffle", "relaxed_swizzle",
    "eq", "ne", "lt", "lt_s", "lt_u", "gt", "gt_s", "gt_u", "le", "le_s", "le_u", "ge", "ge_s",
    "ge_u", "and", "andnot", "or", "xor",
    "add", "add_sat_s", "add_sat_u", "sub", "sub_sat_s", "sub_sat_u", "mul", "div",
    "min", "max", "min_s", "min_u", "max_s", "max_u", "pmin", "pmax", "avgr_u",
    "relaxed_min", "relaxed_max",
    "narrow_i16x8_s", "narrow_i16x8_u", "narrow_i32x4_s", "narrow_i32x4_u",
    "q15mulr_sat_s", "relaxed_q15mulr_s", "dot_i16x8_s", "relaxed_dot_i8x16_i7x16_s",
    "extmul_low_i8x16_s", "extmul_high_i8x16_s", "extmul_low_i8x16_u", "extmul_high_i8x16_u",
    "extmul_low_i16x8_s", "extmul_high_i16x8_s", "extmul_low_i16x8_u", "extmul_high_i16x8_u",
    "extmul_low_i32x4_s", "extmul_high_i32x4_s", "extmul_low_i32x4_u", "extmul_high_i32x4_u"))

_SHIFTS = frozenset(("shl", "shr_s", "shr_u"))
_TO_I32 = frozenset(("any_true", "all_true", "bitmask"))


def simd_signature(name: str) -> tuple[tuple[str, ...], str] | None:
    """(operand types, result type) of a 0xFD operator that neither loads, stores nor is a
    constant; None for those and for names that are not SIMD operators."""
    info = OPCODES.get(name)
    if info is None or info.prefix != 0xFD or info.category != "simd":
        return None
    shape, _, op = name.partition(".")
    scalar = _SCALAR.get(shape, "i32")
    if op == "splat":
        return (scalar,), "v128"
    if op.startswith("extract_lane"):
        return ("v128",), scalar
    if op == "replace_lane":
        return ("v128", scalar), "v128"
    if op in _SHIFTS:
        return ("v128", "i32"), "v128"
    if op in _TO_I32:
        return ("v128",), "i32"
    if op in SIMD_TERNARY:
        return ("v128",) * 3, "v128"
    if op in SIMD_BINARY:
        return ("v128",) * 2, "v128"
    return ("v128",), "v128"
