"""Every numeric operator the operand-stack rebuild computes, against wasmtime itself.

Each operator runs in a one-instruction wasm function (floats passed and returned as their
bits) on edge values and random ones; ttd's result must have the same bits, and trap exactly
where wasmtime traps. Also the SIMD operators ttd computes (lanes, bitwise, integer lanes).
"""

from __future__ import annotations

import platform
import random
import struct

import pytest
import wasmtime

from ttd.record.schedule import VT_F32, VT_F64, VT_I32, VT_I64, VT_V128
from ttd.replay.numerics import NUMERIC, SIMD, shuffle, simd_lane_op

_NAME = {VT_I32: "i32", VT_I64: "i64", VT_F32: "f32", VT_F64: "f64", VT_V128: "v128"}
_CARRIER = {VT_I32: "i32", VT_I64: "i64", VT_F32: "i32", VT_F64: "i64"}
_TO = {VT_F32: "f32.reinterpret_i32", VT_F64: "f64.reinterpret_i64"}
_FROM = {VT_F32: "i32.reinterpret_f32", VT_F64: "i64.reinterpret_f64"}

F32_EDGES = [0x00000000, 0x80000000, 0x3F800000, 0xBF800000, 0x7F800000, 0xFF800000, 0x7FC00000,
             0xFFC00000, 0x7FA00001, 0x7F800001, 0x00000001, 0x807FFFFF, 0x7F7FFFFF, 0x4F000000,
             0xCF000000, 0x4F800000, 0x5F000000, 0xDF000000, 0x3F000000, 0x3FC00000, 0x40200000,
             0xBF400000, 0x4B000001, 0x7FFFFFFF]
F64_EDGES = [0, 1 << 63, 0x3FF0000000000000, 0xBFF0000000000000, 0x7FF0000000000000,
             0xFFF0000000000000, 0x7FF8000000000000, 0xFFF8000000000000, 0x7FF4000000000001,
             0x7FF0000000000001, 1, 0x800FFFFFFFFFFFFF, 0x7FEFFFFFFFFFFFFF, 0x41E0000000000000,
             0xC1E0000000000000, 0x41F0000000000000, 0x43E0000000000000, 0xC3E0000000000000,
             0x3FE0000000000000, 0x3FF8000000000000, 0x4004000000000000, 0xBFE8000000000000,
             0x4330000000000001, 0x47EFFFFFE0000000, 0x47EFFFFFF0000000, 0x36A0000000000000]
I32_EDGES = [0, 1, 2, 31, 32, 33, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFFE, 0x12345678,
             0x00FF00FF, 0x80, 0xFF, 0x8000, 0xFFFF, 0x1000000, 0x1000001]
I64_EDGES = [0, 1, 2, 63, 64, 65, (1 << 63) - 1, 1 << 63, (1 << 64) - 1, (1 << 64) - 2,
             0x123456789ABCDEF0, 0xFFFFFFFF, 0x80000000, 1 << 32, 0x80, 0xFF, 0x8000,
             (1 << 53) + 1, (1 << 24) + 1, 0x20000000000001]
# NaN payloads follow the host CPU (ttd models x86-64, what the recorder ran on here)
NAN_PAYLOADS_VARY = platform.machine().lower() not in ("x86_64", "amd64")


def _is_nan(bits, vt: int) -> bool:
    if not isinstance(bits, int) or vt not in (VT_F32, VT_F64):
        return False
    exp, man = (0x7F800000, 0x7FFFFF) if vt == VT_F32 else (0x7FF << 52, (1 << 52) - 1)
    return bits & exp == exp and bits & man != 0


EDGES = {VT_I32: I32_EDGES, VT_I64: I64_EDGES, VT_F32: F32_EDGES, VT_F64: F64_EDGES}
WIDTH = {VT_I32: 32, VT_I64: 64, VT_F32: 32, VT_F64: 64}


def _operand_types(name: str, n: int) -> list[int]:
    """Operand types of a numeric operator, from its name."""
    head, _, op = name.partition(".")
    if "_" in op and op.split("_")[-1] in ("i32", "i64", "f32", "f64"):
        src = {"i32": VT_I32, "i64": VT_I64, "f32": VT_F32, "f64": VT_F64}[op.split("_")[-1]]
        return [src] * n
    for part in op.split("_"):
        if part in ("i32", "i64", "f32", "f64"):
            return [{"i32": VT_I32, "i64": VT_I64, "f32": VT_F32, "f64": VT_F64}[part]] * n
    return [{"i32": VT_I32, "i64": VT_I64, "f32": VT_F32, "f64": VT_F64}[head]] * n


def _samples(types: list[int], rng: random.Random, n: int) -> list[tuple[int, ...]]:
    out = []
    if len(types) == 1:
        out += [(e,) for e in EDGES[types[0]]]
    else:
        ea, eb = EDGES[types[0]], EDGES[types[1]]
        out += [(a, b) for a in ea for b in eb]
    for _ in range(n):
        vals = []
        for t in types:
            w = WIDTH[t]
            r = rng.random()
            if t in (VT_F32, VT_F64) and r < 0.6:  # ordinary floats: some arithmetic to do
                x = rng.uniform(-1e6, 1e6) * (10.0 ** rng.randint(-8, 8))
                vals.append(struct.unpack("<I", struct.pack("<f", x))[0] if t == VT_F32
                            else struct.unpack("<Q", struct.pack("<d", x))[0])
            elif r < 0.8:
                vals.append(rng.getrandbits(w))
            else:
                vals.append(rng.randrange(-300, 300) % (1 << w))
        out.append(tuple(vals))
    return out


def _module(ops: list[tuple[str, list[int], int]]) -> wasmtime.Instance:
    funcs = []
    for i, (name, types, out) in enumerate(ops):
        params = " ".join(_CARRIER[t] for t in types)
        # operands are pushed one by one, each converted from its integer carrier
        body = " ".join(f"local.get {k}" + (f" {_TO[t]}" if t in _TO else "")
                        for k, t in enumerate(types))
        conv = f" {_FROM[out]}" if out in _FROM else ""
        funcs.append(f'(func (export "f{i}") (param {params}) (result {_CARRIER[out]}) '
                     f"{body} {name}{conv})")
    store = wasmtime.Store()
    module = wasmtime.Module(store.engine, "(module " + "\n".join(funcs) + ")")
    return store, wasmtime.Instance(store, module, [])


def test_numeric_operators_match_wasmtime():
    rng = random.Random(7)
    ops = []
    for name, (n, out, fn) in sorted(NUMERIC.items()):
        ops.append((name, _operand_types(name, n), out))
    store, inst = _module(ops)
    exports = inst.exports(store)
    checked = 0
    bad = []
    for i, (name, types, out) in enumerate(ops):
        f = exports[f"f{i}"]
        fn = NUMERIC[name][2]
        for args in _samples(types, rng, 150):
            signed = [a - (1 << WIDTH[t]) if a >> (WIDTH[t] - 1) else a for a, t in zip(args, types)]
            try:
                want = f(store, *signed) & ((1 << WIDTH[out]) - 1)
            except wasmtime.Trap:
                want = "trap"
            try:
                got = fn(*args)
            except ArithmeticError:
                got = "trap"
            checked += 1
            if got != want and not (NAN_PAYLOADS_VARY and _is_nan(want, out)):
                bad.append((name, [hex(a) for a in args], got if got == "trap" else hex(got),
                            want if want == "trap" else hex(want)))
    assert not bad, bad[:20]
    assert checked > 20_000


def _v128_module(ops: list[tuple[str, int, int]]):
    """Functions taking v128 operands as (lo, hi) i64 pairs, returning the result's halves
    through memory."""
    funcs = []
    for i, (code, n, out) in enumerate(ops):
        params = " ".join("i64 i64" for _ in range(n))
        body = ""
        for k in range(n):
            body += (f"(i64x2.replace_lane 1 (i64x2.splat (local.get {2 * k})) "
                     f"(local.get {2 * k + 1})) ")
        if out == VT_V128:
            funcs.append(f'(func (export "f{i}") (param {params}) '
                         f"(v128.store (i32.const 0) ({code} {body})))")
        else:
            funcs.append(f'(func (export "f{i}") (param {params}) (result {_NAME[out]}) '
                         f"({code} {body}))")
    store = wasmtime.Store()
    text = '(module (memory (export "mem") 1) ' + "\n".join(funcs) + ")"
    module = wasmtime.Module(store.engine, text)
    return store, wasmtime.Instance(store, module, [])


@pytest.mark.parametrize("seed", [1])
def test_simd_operators_match_wasmtime(seed):
    rng = random.Random(seed)
    cases = []  # (wat code, ttd function, number of v128 operands, result type)
    for name, (n, out, fn) in sorted(SIMD.items()):
        if name.endswith(".splat"):
            continue  # a scalar operand: below
        cases.append((name, fn, n, out))
    for shape, n_lanes in (("i8x16", 16), ("i16x8", 8), ("i32x4", 4), ("i64x2", 2)):
        for lane in (0, n_lanes - 1):
            suffixes = ["extract_lane_s", "extract_lane_u"] if n_lanes > 4 else ["extract_lane"]
            for op in suffixes:
                n, out, fn = simd_lane_op(f"{shape}.{op}", lane)
                cases.append((f"{shape}.{op} {lane}", fn, n, out))
    idx = list(range(32))
    rng.shuffle(idx)
    lanes_imm = bytes(idx[:16])
    cases.append(("i8x16.shuffle " + " ".join(map(str, lanes_imm)), shuffle(lanes_imm), 2, VT_V128))
    store, inst = _v128_module([(c, n, out) for c, _fn, n, out in cases])
    exports = inst.exports(store)
    mem = exports["mem"]
    checked = 0
    for i, (code, fn, n, out) in enumerate(cases):
        f = exports[f"f{i}"]
        for _ in range(40):
            vals = [rng.getrandbits(128) if rng.random() < 0.7 else
                    int.from_bytes(bytes(rng.choice([0, 0xFF, 0x80, 1]) for _ in range(16)), "little")
                    for _ in range(n)]
            args = []
            for v in vals:
                for half in (v & (2**64 - 1), v >> 64):
                    args.append(half - (1 << 64) if half >> 63 else half)
            got = fn(*vals)
            r = f(store, *args)
            if out == VT_V128:
                want = int.from_bytes(bytes(mem.read(store, 0, 16)), "little")
            else:
                want = r & ((1 << (32 if out == VT_I32 else 64)) - 1)
            assert got == want, (code, [hex(v) for v in vals], hex(got), hex(want))
            checked += 1
    assert checked > 500
