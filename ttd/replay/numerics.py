"""WebAssembly numeric instructions on bit patterns, as the spec defines them.

Every value is the unsigned integer of its bits (an i32 is 0..2**32-1, an f32 is its IEEE
bits). `NUMERIC[name]` is (number of operands, result type, function of the operand bits);
a function raises ArithmeticError where the instruction would trap (division by zero, an
unrepresentable truncation): a step that did not trap never does, so the caller treats it
as "value unknown" rather than guessing.

NaN results: wasm leaves the payload of an arithmetic NaN open. These follow what wasmtime
does on x86-64 (SSE): a NaN operand comes out quieted (the first one when both are NaN, the
second for min/max), an invalid operation makes the default NaN (sign set, quiet bit set).
"""

from __future__ import annotations

import math
import struct
from typing import Callable

from ttd.record.schedule import VT_F32, VT_F64, VT_I32, VT_I64

M32 = 0xFFFFFFFF
M64 = 0xFFFFFFFFFFFFFFFF

_F32 = struct.Struct("<f")
_F64 = struct.Struct("<d")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")

F32_DEFAULT_NAN = 0xFFC00000
F64_DEFAULT_NAN = 0xFFF8000000000000


def s32(x: int) -> int:
    return x - (1 << 32) if x & 0x80000000 else x


def s64(x: int) -> int:
    return x - (1 << 64) if x & 0x8000000000000000 else x


# ---- float encodings ------------------------------------------------------------------------

def f32_of(bits: int) -> float:
    return _F32.unpack(_U32.pack(bits))[0]


def f64_of(bits: int) -> float:
    return _F64.unpack(_U64.pack(bits))[0]


def f32_bits(x: float) -> int:
    """x rounded to the nearest f32 (ties to even), overflowing to infinity."""
    try:
        return _U32.unpack(_F32.pack(x))[0]
    except OverflowError:  # finite, but rounds beyond the largest f32
        return 0xFF800000 if x < 0 else 0x7F800000


def f64_bits(x: float) -> int:
    return _U64.unpack(_F64.pack(x))[0]


def _nan32(b: int) -> bool:
    return (b & 0x7F800000) == 0x7F800000 and (b & 0x7FFFFF) != 0


def _nan64(b: int) -> bool:
    return (b & 0x7FF0000000000000) == 0x7FF0000000000000 and (b & 0xFFFFFFFFFFFFF) != 0


class _Float:
    """One float width: how to decode, encode and quiet its NaNs."""

    def __init__(self, width: int):
        self.width = width
        if width == 32:
            self.of, self.bits, self.isnan = f32_of, f32_bits, _nan32
            self.quiet, self.default_nan, self.sign = 0x400000, F32_DEFAULT_NAN, 0x80000000
            self.mantissa = 23
        else:
            self.of, self.bits, self.isnan = f64_of, f64_bits, _nan64
            self.quiet, self.default_nan, self.sign = 0x8000000000000, F64_DEFAULT_NAN, 1 << 63
            self.mantissa = 52

    def nan_of(self, *ops: int) -> int | None:
        """The NaN an operation on these operands gives if one of them is a NaN."""
        for b in ops:
            if self.isnan(b):
                return b | self.quiet
        return None

    def result(self, x: float) -> int:
        return self.default_nan if x != x else self.bits(x)

    # arithmetic
    def binop(self, fn: Callable[[float, float], float]):
        def op(a: int, b: int) -> int:
            nan = self.nan_of(a, b)
            if nan is not None:
                return nan
            try:
                x = fn(self.of(a), self.of(b))
            except ZeroDivisionError:
                x = _div0(self.of(a), self.of(b))
            return self.result(x)
        return op

    def sqrt(self, a: int) -> int:
        nan = self.nan_of(a)
        if nan is not None:
            return nan
        x = self.of(a)
        if x < 0:
            return self.default_nan
        return self.bits(math.sqrt(x))

    def rounding(self, fn: Callable[[float], int]):
        def op(a: int) -> int:
            nan = self.nan_of(a)
            if nan is not None:
                return nan
            x = self.of(a)
            if math.isinf(x) or x == 0 or abs(x) >= 2.0 ** self.mantissa:
                return a  # already integral
            return self.bits(math.copysign(float(fn(x)), x))
        return op

    def minmax(self, is_min: bool):
        def op(a: int, b: int) -> int:
            nan = self.nan_of(b, a)  # wasmtime's min/max: the second NaN when both are
            if nan is not None:
                return nan
            x, y = self.of(a), self.of(b)
            if x == y:  # +0 and -0: min takes the negative one, max the positive one
                return (a | b) if is_min else (a & b)
            return a if (x < y) == is_min else b
        return op

    def copysign(self, a: int, b: int) -> int:
        return (a & ~self.sign & ((self.sign << 1) - 1)) | (b & self.sign)

    def cmp(self, fn: Callable[[float, float], bool]):
        return lambda a, b: int(fn(self.of(a), self.of(b)))


def _div0(x: float, y: float) -> float:
    if x == 0 or x != x:
        return math.nan
    return math.copysign(math.inf, x) * math.copysign(1.0, y)


F32 = _Float(32)
F64 = _Float(64)


def _nearest(x: float) -> int:
    return round(x)  # Python rounds floats half to even, exactly


# ---- integer helpers ------------------------------------------------------------------------

def _int_ops(width: int) -> dict[str, tuple[int, int, Callable]]:
    m = (1 << width) - 1
    sh = width - 1
    top = 1 << (width - 1)
    vt = VT_I32 if width == 32 else VT_I64

    def signed(x: int) -> int:
        return x - (1 << width) if x & top else x

    def div_s(a: int, b: int) -> int:
        sa, sb = signed(a), signed(b)
        if sb == 0 or (sa == -top and sb == -1):
            raise ArithmeticError("trap")
        q = abs(sa) // abs(sb)
        return (q if (sa < 0) == (sb < 0) else -q) & m

    def div_u(a: int, b: int) -> int:
        if b == 0:
            raise ArithmeticError("trap")
        return a // b

    def rem_s(a: int, b: int) -> int:
        sa, sb = signed(a), signed(b)
        if sb == 0:
            raise ArithmeticError("trap")
        r = abs(sa) % abs(sb)
        return (-r if sa < 0 else r) & m

    def rem_u(a: int, b: int) -> int:
        if b == 0:
            raise ArithmeticError("trap")
        return a % b

    def rotl(a: int, b: int) -> int:
        k = b & sh
        return ((a << k) | (a >> (width - k))) & m

    def rotr(a: int, b: int) -> int:
        k = b & sh
        return ((a >> k) | (a << (width - k))) & m

    def ctz(a: int) -> int:
        return (a & -a).bit_length() - 1 if a else width

    p = "i32." if width == 32 else "i64."
    B, U = 2, 1
    ops = {
        "add": (B, vt, lambda a, b: (a + b) & m),
        "sub": (B, vt, lambda a, b: (a - b) & m),
        "mul": (B, vt, lambda a, b: (a * b) & m),
        "div_s": (B, vt, div_s), "div_u": (B, vt, div_u),
        "rem_s": (B, vt, rem_s), "rem_u": (B, vt, rem_u),
        "and": (B, vt, lambda a, b: a & b),
        "or": (B, vt, lambda a, b: a | b),
        "xor": (B, vt, lambda a, b: a ^ b),
        "shl": (B, vt, lambda a, b: (a << (b & sh)) & m),
        "shr_s": (B, vt, lambda a, b: (signed(a) >> (b & sh)) & m),
        "shr_u": (B, vt, lambda a, b: a >> (b & sh)),
        "rotl": (B, vt, rotl), "rotr": (B, vt, rotr),
        "clz": (U, vt, lambda a: width - a.bit_length()),
        "ctz": (U, vt, ctz),
        "popcnt": (U, vt, lambda a: bin(a).count("1")),
        "eqz": (U, VT_I32, lambda a: int(a == 0)),
        "eq": (B, VT_I32, lambda a, b: int(a == b)),
        "ne": (B, VT_I32, lambda a, b: int(a != b)),
        "lt_s": (B, VT_I32, lambda a, b: int(signed(a) < signed(b))),
        "lt_u": (B, VT_I32, lambda a, b: int(a < b)),
        "gt_s": (B, VT_I32, lambda a, b: int(signed(a) > signed(b))),
        "gt_u": (B, VT_I32, lambda a, b: int(a > b)),
        "le_s": (B, VT_I32, lambda a, b: int(signed(a) <= signed(b))),
        "le_u": (B, VT_I32, lambda a, b: int(a <= b)),
        "ge_s": (B, VT_I32, lambda a, b: int(signed(a) >= signed(b))),
        "ge_u": (B, VT_I32, lambda a, b: int(a >= b)),
    }
    return {p + k: v for k, v in ops.items()}


def _float_ops(f: _Float) -> dict[str, tuple[int, int, Callable]]:
    vt = VT_F32 if f.width == 32 else VT_F64
    p = "f32." if f.width == 32 else "f64."
    sign = f.sign
    ops = {
        "add": (2, vt, f.binop(lambda x, y: x + y)),
        "sub": (2, vt, f.binop(lambda x, y: x - y)),
        "mul": (2, vt, f.binop(lambda x, y: x * y)),
        "div": (2, vt, f.binop(lambda x, y: x / y)),
        "min": (2, vt, f.minmax(True)),
        "max": (2, vt, f.minmax(False)),
        "copysign": (2, vt, f.copysign),
        "abs": (1, vt, lambda a: a & (sign - 1)),
        "neg": (1, vt, lambda a: a ^ sign),
        "sqrt": (1, vt, f.sqrt),
        "ceil": (1, vt, f.rounding(math.ceil)),
        "floor": (1, vt, f.rounding(math.floor)),
        "trunc": (1, vt, f.rounding(math.trunc)),
        "nearest": (1, vt, f.rounding(_nearest)),
        "eq": (2, VT_I32, f.cmp(lambda x, y: x == y)),
        "ne": (2, VT_I32, f.cmp(lambda x, y: x != y)),
        "lt": (2, VT_I32, f.cmp(lambda x, y: x < y)),
        "gt": (2, VT_I32, f.cmp(lambda x, y: x > y)),
        "le": (2, VT_I32, f.cmp(lambda x, y: x <= y)),
        "ge": (2, VT_I32, f.cmp(lambda x, y: x >= y)),
    }
    return {p + k: v for k, v in ops.items()}


# ---- conversions ----------------------------------------------------------------------------

def _int_to_f32(v: int) -> int:
    """An integer rounded to the nearest f32, ties to even, in one rounding (going through
    an f64 first would round twice)."""
    a = abs(v)
    n = a.bit_length()
    if n > 24:
        shift = n - 24
        q, r = a >> shift, a & ((1 << shift) - 1)
        half = 1 << (shift - 1)
        if r > half or (r == half and q & 1):
            q += 1
        a = q << shift
    return f32_bits(float(-a if v < 0 else a))


def _trunc(f: _Float, width: int, signed_: bool, sat: bool):
    lo = -(1 << (width - 1)) if signed_ else 0
    hi = (1 << (width - 1)) - 1 if signed_ else (1 << width) - 1
    m = (1 << width) - 1

    def op(a: int) -> int:
        if f.isnan(a):
            if sat:
                return 0
            raise ArithmeticError("trap")
        x = f.of(a)
        if math.isinf(x):
            if not sat:
                raise ArithmeticError("trap")
            return (hi if x > 0 else lo) & m
        v = math.trunc(x)
        if v < lo or v > hi:
            if not sat:
                raise ArithmeticError("trap")
            v = hi if v > hi else lo
        return v & m
    return op


def _demote(a: int) -> int:
    if _nan64(a):
        return ((a >> 32) & 0x80000000) | 0x7FC00000 | ((a >> 29) & 0x3FFFFF)
    return f32_bits(f64_of(a))


def _promote(a: int) -> int:
    if _nan32(a):
        return ((a & 0x80000000) << 32) | 0x7FF8000000000000 | ((a & 0x3FFFFF) << 29)
    return f64_bits(f32_of(a))


def _sext(bits: int, width: int):
    top, m = 1 << (bits - 1), (1 << bits) - 1
    wm = (1 << width) - 1
    return lambda a: (((a & m) ^ top) - top) & wm


NUMERIC: dict[str, tuple[int, int, Callable]] = {}
NUMERIC.update(_int_ops(32))
NUMERIC.update(_int_ops(64))
NUMERIC.update(_float_ops(F32))
NUMERIC.update(_float_ops(F64))
NUMERIC.update({
    "i32.wrap_i64": (1, VT_I32, lambda a: a & M32),
    "i64.extend_i32_s": (1, VT_I64, lambda a: s32(a) & M64),
    "i64.extend_i32_u": (1, VT_I64, lambda a: a),
    "i32.extend8_s": (1, VT_I32, _sext(8, 32)),
    "i32.extend16_s": (1, VT_I32, _sext(16, 32)),
    "i64.extend8_s": (1, VT_I64, _sext(8, 64)),
    "i64.extend16_s": (1, VT_I64, _sext(16, 64)),
    "i64.extend32_s": (1, VT_I64, _sext(32, 64)),
    "f32.convert_i32_s": (1, VT_F32, lambda a: _int_to_f32(s32(a))),
    "f32.convert_i32_u": (1, VT_F32, _int_to_f32),
    "f32.convert_i64_s": (1, VT_F32, lambda a: _int_to_f32(s64(a))),
    "f32.convert_i64_u": (1, VT_F32, _int_to_f32),
    "f64.convert_i32_s": (1, VT_F64, lambda a: f64_bits(float(s32(a)))),
    "f64.convert_i32_u": (1, VT_F64, lambda a: f64_bits(float(a))),
    "f64.convert_i64_s": (1, VT_F64, lambda a: f64_bits(float(s64(a)))),
    "f64.convert_i64_u": (1, VT_F64, lambda a: f64_bits(float(a))),
    "f32.demote_f64": (1, VT_F32, _demote),
    "f64.promote_f32": (1, VT_F64, _promote),
    "i32.reinterpret_f32": (1, VT_I32, lambda a: a),
    "i64.reinterpret_f64": (1, VT_I64, lambda a: a),
    "f32.reinterpret_i32": (1, VT_F32, lambda a: a),
    "f64.reinterpret_i64": (1, VT_F64, lambda a: a),
})
for _iw, _ivt in ((32, VT_I32), (64, VT_I64)):
    for _f, _fn in ((F32, "f32"), (F64, "f64")):
        for _sg in ("s", "u"):
            NUMERIC[f"i{_iw}.trunc_{_fn}_{_sg}"] = (1, _ivt, _trunc(_f, _iw, _sg == "s", False))
            NUMERIC[f"i{_iw}.trunc_sat_{_fn}_{_sg}"] = (1, _ivt, _trunc(_f, _iw, _sg == "s", True))

__all__ = ["NUMERIC", "F32", "F64", "f32_of", "f64_of", "f32_bits", "f64_bits", "s32", "s64"]


# ---- SIMD: the lane-moving and bitwise operators, integer lane arithmetic --------------------
# (float lane arithmetic and the rest are left to the caller as unknown values)

M128 = (1 << 128) - 1
_SHAPES = {"i8x16": (8, 16, VT_I32), "i16x8": (16, 8, VT_I32), "i32x4": (32, 4, VT_I32),
           "i64x2": (64, 2, VT_I64), "f32x4": (32, 4, VT_F32), "f64x2": (64, 2, VT_F64)}


def lanes(v: int, bits: int, n: int) -> list[int]:
    m = (1 << bits) - 1
    return [(v >> (i * bits)) & m for i in range(n)]


def join(values: list[int], bits: int) -> int:
    m = (1 << bits) - 1
    out = 0
    for i, x in enumerate(values):
        out |= (x & m) << (i * bits)
    return out


def _simd_ops() -> dict[str, tuple[int, int, Callable]]:
    from ttd.record.schedule import VT_V128
    V = VT_V128
    ops: dict[str, tuple[int, int, Callable]] = {
        "v128.not": (1, V, lambda a: a ^ M128),
        "v128.and": (2, V, lambda a, b: a & b),
        "v128.andnot": (2, V, lambda a, b: a & (b ^ M128)),
        "v128.or": (2, V, lambda a, b: a | b),
        "v128.xor": (2, V, lambda a, b: a ^ b),
        "v128.bitselect": (3, V, lambda a, b, c: (a & c) | (b & (c ^ M128))),
        "v128.any_true": (1, VT_I32, lambda a: int(a != 0)),
    }

    def swizzle(a: int, s: int) -> int:
        src = lanes(a, 8, 16)
        return join([src[i] if i < 16 else 0 for i in lanes(s, 8, 16)], 8)

    ops["i8x16.swizzle"] = (2, V, swizzle)
    for shape, (bits, n, svt) in _SHAPES.items():
        m = (1 << bits) - 1
        ops[f"{shape}.splat"] = (1, V, lambda a, bits=bits, n=n, m=m: join([a & m] * n, bits))
        if shape.startswith("i"):
            top = 1 << (bits - 1)
            ops[f"{shape}.all_true"] = (1, VT_I32, lambda a, bits=bits, n=n: int(all(lanes(a, bits, n))))
            ops[f"{shape}.bitmask"] = (1, VT_I32, lambda a, bits=bits, n=n, top=top: sum(
                1 << i for i, x in enumerate(lanes(a, bits, n)) if x & top))
            for name, fn in (("add", lambda x, y: x + y), ("sub", lambda x, y: x - y),
                             ("mul", lambda x, y: x * y),
                             ("eq", lambda x, y, m=m: m if x == y else 0),
                             ("ne", lambda x, y, m=m: m if x != y else 0)):
                if name == "mul" and bits == 8:
                    continue
                ops[f"{shape}.{name}"] = (2, V, lambda a, b, bits=bits, n=n, fn=fn: join(
                    [fn(x, y) for x, y in zip(lanes(a, bits, n), lanes(b, bits, n))], bits))
            ops[f"{shape}.neg"] = (1, V, lambda a, bits=bits, n=n: join(
                [-x for x in lanes(a, bits, n)], bits))
    return ops


SIMD = _simd_ops()


def simd_lane_op(name: str, lane: int) -> tuple[int, int, Callable] | None:
    """extract_lane / replace_lane of one lane (the lane is an immediate)."""
    shape, _, op = name.partition(".")
    if shape not in _SHAPES:
        return None
    bits, n, svt = _SHAPES[shape]
    m = (1 << bits) - 1
    if not 0 <= lane < n:
        return None
    sh = lane * bits
    if op.startswith("extract_lane"):
        if op.endswith("_s"):
            top = 1 << (bits - 1)
            return 1, svt, lambda a: ((((a >> sh) & m) ^ top) - top) & M32
        return 1, svt, lambda a: (a >> sh) & m
    if op == "replace_lane":
        from ttd.record.schedule import VT_V128
        return 2, VT_V128, lambda a, x: (a & ~(m << sh) & M128) | ((x & m) << sh)
    return None


def shuffle(lanes_imm: bytes) -> Callable[[int, int], int]:
    def op(a: int, b: int) -> int:
        src = lanes(a | (b << 128), 8, 32)
        return join([src[i] if i < 32 else 0 for i in lanes_imm], 8)
    return op
