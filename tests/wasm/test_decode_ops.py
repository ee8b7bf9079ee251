"""decode_ops (the instrumenter's batch decoder) agrees with iter_operators: same instructions,
immediates and errors, on real bodies and on damaged and truncated ones."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import wasmtime

from ttd.wasm.errors import WasmError
from ttd.wasm.module import parse_module
from ttd.wasm.operators import decode_ops, iter_operators

ROOT = Path(__file__).resolve().parents[1]


def modules() -> list[bytes]:
    mods = [p.read_bytes() for p in sorted((ROOT / "programs").glob("*.wasm"))
            if p.stat().st_size < 2_000_000]
    mods += [wasmtime.wat2wasm(p.read_text()) for p in sorted((ROOT / "wat").glob("*.wat"))]
    # the immediates decode_ops reads inline, at the edges of their one- and two-byte forms
    mods.append(wasmtime.wat2wasm("""
      (module (memory 1) (global $g (mut i32) (i32.const 0))
        (func $f (param i32) (result i32)
          (local i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64
                 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64
                 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64
                 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64
                 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64
                 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64
                 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64)
          (local.set 130 (i64.const 1))
          (drop (i32.load offset=127 (i32.const 63)))
          (drop (i32.load offset=128 (i32.const 64)))
          (drop (i32.load offset=16383 (i32.const -1)))
          (drop (i32.load offset=16384 (i32.const -65)))
          (drop (i64.load offset=200 align=1 (i32.const 8191)))
          (i32.store16 offset=300 (i32.const 8192) (i32.const 70000))
          (block (result i32) (i32.const 5))
          (block (drop (i32.const 1)))
          (drop (global.get $g))
          (call $f (i32.const 0))))
    """))
    return mods


MODULES = modules()


def reference(data: bytes, start: int, end: int):
    offs, names, imms = [], [], []
    try:
        for op in iter_operators(data, start, end):
            offs.append(op.offset)
            names.append(op.name)
            imms.append(op.imm)
    except WasmError as e:
        return ("error", type(e), str(e), e.offset)
    return offs + [end], names, imms


def batch(data: bytes, start: int, end: int):
    try:
        offs, names, imms = decode_ops(data, start, end)
    except WasmError as e:
        return ("error", type(e), str(e), e.offset)
    return offs, names, list(imms)


def test_every_body_decodes_the_same():
    n = 0
    for data in MODULES:
        for b in parse_module(data).bodies:
            assert batch(data, b.code_start, b.end) == reference(data, b.code_start, b.end)
            n += 1
    assert n > 100


@pytest.mark.parametrize("seed", range(4))
def test_damaged_and_truncated_bodies_fail_the_same(seed):
    rng = random.Random(seed)
    for _ in range(1500):
        data = rng.choice(MODULES)
        body = rng.choice(parse_module(data).bodies)
        lo, hi = body.code_start, body.end
        b = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            b[rng.randrange(lo, hi)] = rng.choice(
                [rng.randrange(256), 0x80, 0xFF, 0x40, 0x41, 0x28, 0x36, 0x20, 0x21, 0x10])
        end = hi
        if rng.random() < 0.3:  # the module ends inside the body
            end = rng.randrange(lo, hi + 1)
            b = b[:end]
        data = bytes(b)
        assert batch(data, lo, end) == reference(data, lo, end)
