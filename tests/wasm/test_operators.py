"""Instruction decoding: every opcode, every feature family, exact immediates."""

from __future__ import annotations

import random
import subprocess
import time
from pathlib import Path

import pytest

from ttd.wasm import MemArg, Operator, RefType, UnsupportedOpcode, WasmError, iter_operators, parse_module
from ttd.wasm import opcodes
from ttd.wasm.encode import encode_uleb

from . import synth
from .conftest import BIG_C_MODULE, WAT_DIR
from .features import FEATURES
from .wasm_tools import reference_offsets

WAT_FILES = sorted(WAT_DIR.glob("*.wat"))
_OPENERS = {"block", "loop", "if", "try", "try_table"}


def decode_all(data: bytes) -> dict[int, list[Operator]]:
    """Decode every body of a module: body_start -> operators."""
    m = parse_module(data)
    return {b.body_start: list(iter_operators(data, b.code_start, b.end)) for b in m.bodies}


def check_structure(data: bytes) -> int:
    """Offsets contiguous and increasing, blocks balanced, last op is the body's end."""
    m = parse_module(data)
    total = 0
    for b in m.bodies:
        ops = list(iter_operators(data, b.code_start, b.end))
        assert ops, b
        assert ops[0].offset == b.code_start
        for prev, cur in zip(ops, ops[1:]):
            assert prev.end == cur.offset
            assert prev.offset < cur.offset
        assert ops[-1].name == "end"
        assert ops[-1].end == b.end
        depth = 0
        for op in ops:
            if op.name in _OPENERS:
                depth += 1
            elif op.name in ("end", "delegate"):
                depth -= 1
            assert depth >= -1
        assert depth == -1  # the function body's own end
        total += len(ops)
    return total


def assert_matches_wasm_tools(data: bytes, tool: str) -> None:
    ref = reference_offsets(data, tool)
    m = parse_module(data)
    assert len(ref) == len(m.bodies)
    for b in m.bodies:
        got = [(op.offset, op.name) for op in iter_operators(data, b.code_start, b.end)]
        assert got == ref[b.body_start], f"function {b.index}"


# --- the WAT programs and feature modules ----------------------------------------------


@pytest.mark.parametrize("path", WAT_FILES, ids=lambda p: p.stem)
def test_wat_programs_structure(path: Path, wat2wasm) -> None:
    assert check_structure(wat2wasm(path.read_text())) > 20


@pytest.mark.parametrize("path", WAT_FILES, ids=lambda p: p.stem)
def test_wat_programs_match_wasm_tools(path: Path, wat2wasm, wasm_tools: str) -> None:
    assert_matches_wasm_tools(wat2wasm(path.read_text()), wasm_tools)


@pytest.mark.parametrize("feature", sorted(FEATURES))
def test_feature_modules_structure(feature: str, wat2wasm) -> None:
    check_structure(wat2wasm(FEATURES[feature]))


@pytest.mark.parametrize("feature", sorted(FEATURES))
def test_feature_modules_match_wasm_tools(feature: str, wat2wasm, wasm_tools: str) -> None:
    assert_matches_wasm_tools(wat2wasm(FEATURES[feature]), wasm_tools)


def _ops(wat2wasm, wat: str) -> list[Operator]:
    data = wat2wasm(wat)
    m = parse_module(data)
    out: list[Operator] = []
    for b in m.bodies:
        out.extend(iter_operators(data, b.code_start, b.end))
    return out


def _find(ops: list[Operator], name: str) -> list[tuple]:
    return [op.imm for op in ops if op.name == name]


# --- every opcode in the table ------------------------------------------------------------


def test_every_opcode_decodes() -> None:
    codes = []
    expected = []
    for info in synth.all_infos():
        for variant in range(3):
            codes.append(synth.wrapped_body(info, variant))
            expected.append(info.name)
    data = synth.module_with_bodies(codes)
    m = parse_module(data)
    for b, name in zip(m.bodies, expected):
        names = [op.name for op in iter_operators(data, b.code_start, b.end)]
        assert name in names


def test_every_opcode_matches_wasm_tools(wasm_tools: str) -> None:
    codes = [synth.wrapped_body(info, v) for info in synth.all_infos() for v in range(3)]
    assert_matches_wasm_tools(synth.module_with_bodies(codes), wasm_tools)


def test_table_covers_all_families() -> None:
    prefixed = opcodes.PREFIXED
    assert len(prefixed[0xFD]) == 236 + 20  # SIMD + relaxed SIMD
    assert all(c in prefixed[0xFD] for c in range(0x100, 0x114))
    assert all(c in prefixed[0xFC] for c in range(0, 18))  # sat conv + bulk memory
    assert {0x13, 0x14, 0x15, 0x16} <= set(prefixed[0xFC])  # wide arithmetic
    assert all(opcodes.SINGLE_BYTE[c] is not None for c in range(0xC0, 0xC5))
    for name in (
        "return_call", "return_call_indirect", "call_ref", "return_call_ref", "ref.as_non_null",
        "br_on_null", "br_on_non_null", "ref.eq", "try_table", "throw", "throw_ref", "try",
        "catch", "rethrow", "delegate", "catch_all", "struct.new", "array.new_fixed", "ref.test",
        "ref.cast", "br_on_cast", "br_on_cast_fail", "any.convert_extern", "extern.convert_any",
        "ref.i31", "i31.get_s", "i31.get_u", "memory.atomic.notify", "atomic.fence",
        "i64.atomic.rmw32.cmpxchg_u", "v128.load32_lane", "i8x16.shuffle", "table.fill",
    ):  # fmt: skip
        assert name in opcodes.OPCODES, name


# --- exact immediates ---------------------------------------------------------------------


def test_control_immediates(wat2wasm) -> None:
    ops = _ops(
        wat2wasm,
        """(module (type $t (func (param i32) (result i32 i32)))
        (table 2 funcref) (table $u 1 funcref)
        (func $f (param i32) (result i32)
          (block (result i32) (i32.const 1))
          (block (type $t) (local.get 0))
          (drop) (drop) (drop)
          (loop $l (br_if $l (i32.const 0)))
          (if (local.get 0) (then (nop)) (else (nop)))
          (block $a (block $b (br_table $a $b $a (local.get 0))))
          (drop (call_indirect $u (type $t) (i32.const 1) (i32.const 0)))
          (drop (call_indirect (type $t) (i32.const 1) (i32.const 0)))
          (drop (select (result i64) (i64.const 1) (i64.const -2) (i32.const 0)))
          (drop (select (i32.const 1) (i32.const 2) (i32.const 3)))
          (return_call $f (i32.const -1))))""",
    )
    assert _find(ops, "block") == [("i32",), (0,), (None,), (None,)]
    assert _find(ops, "loop") == [(None,)]
    assert _find(ops, "if") == [(None,)]
    assert _find(ops, "br_if") == [(0,)]
    assert _find(ops, "br_table") == [((1, 0), 1)]  # targets ($a $b), default $a
    assert _find(ops, "call_indirect") == [(0, 1), (0, 0)]
    assert _find(ops, "select") == [(("i64",),), ()]
    assert _find(ops, "return_call") == [(0,)]
    assert _find(ops, "i64.const") == [(1,), (-2,)]
    assert (-1,) in _find(ops, "i32.const")


def test_const_immediates(wat2wasm) -> None:
    ops = _ops(
        wat2wasm,
        """(module (func
          (drop (i32.const -2147483648)) (drop (i32.const 2147483647))
          (drop (i64.const -9223372036854775808)) (drop (i64.const 0x7fffffffffffffff))
          (drop (f32.const 1.5)) (drop (f64.const -2.0))
          (drop (v128.const i32x4 1 2 3 4))
          (drop (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 31
                  (v128.const i64x2 0 0) (v128.const i64x2 0 0)))))""",
    )
    assert _find(ops, "i32.const") == [(-(2**31),), (2**31 - 1,)]
    assert _find(ops, "i64.const") == [(-(2**63),), (2**63 - 1,)]
    assert _find(ops, "f32.const") == [(b"\x00\x00\xc0\x3f",)]
    assert _find(ops, "f64.const") == [(b"\x00\x00\x00\x00\x00\x00\x00\xc0",)]
    v = _find(ops, "v128.const")[0][0]
    assert v[:16] == bytes.fromhex("01000000020000000300000004000000")
    assert _find(ops, "i8x16.shuffle") == [(bytes([0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 31]),)]


def test_memory_immediates(wat2wasm) -> None:
    ops = _ops(
        wat2wasm,
        """(module (memory 1) (memory $b 2) (data $d "x")
        (func
          (drop (i32.load offset=16 align=1 (i32.const 0)))
          (i64.store32 $b offset=70000 (i32.const 0) (i64.const 1))
          (drop (v128.load32_lane $b offset=8 3 (i32.const 0) (v128.const i64x2 0 0)))
          (v128.store8_lane 15 (i32.const 0) (v128.const i64x2 0 0))
          (drop (memory.size $b)) (drop (memory.grow (i32.const 1)))
          (memory.fill $b (i32.const 0) (i32.const 0) (i32.const 0))
          (memory.copy 0 $b (i32.const 0) (i32.const 0) (i32.const 0))
          (memory.init $b $d (i32.const 0) (i32.const 0) (i32.const 0))
          (data.drop $d)))""",
    )
    assert _find(ops, "i32.load") == [(MemArg(0, 16, 0),)]
    assert _find(ops, "i64.store32") == [(MemArg(2, 70000, 1),)]
    assert _find(ops, "v128.load32_lane") == [(MemArg(2, 8, 1), 3)]
    assert _find(ops, "v128.store8_lane") == [(MemArg(0, 0, 0), 15)]
    assert _find(ops, "memory.size") == [(1,)]
    assert _find(ops, "memory.grow") == [(0,)]
    assert _find(ops, "memory.fill") == [(1,)]
    assert _find(ops, "memory.copy") == [(0, 1)]
    assert _find(ops, "memory.init") == [(0, 1)]
    assert _find(ops, "data.drop") == [(0,)]
    m = _find(ops, "i64.store32")[0][0]
    assert (m.align, m.offset, m.memory) == (2, 70000, 1)


def test_memory64_offsets(wat2wasm) -> None:
    ops = _ops(wat2wasm, FEATURES["memory64"])
    assert _find(ops, "i32.load") == [(MemArg(2, 2**32, 0),), (MemArg(2, 4, 1),)]
    assert _find(ops, "i64.store") == [(MemArg(3, 0xFFFFFFFFFFFF, 0),)]
    assert _find(ops, "memory.copy") == [(1, 0)]


def test_table_and_reference_immediates(wat2wasm) -> None:
    ops = _ops(
        wat2wasm,
        """(module (table $a 1 funcref) (table $b 1 externref)
        (elem $e func $f) (elem declare func $f)
        (func $f
          (drop (table.get $b (i32.const 0)))
          (table.set $a (i32.const 0) (ref.func $f))
          (drop (table.size $b)) (drop (table.grow $b (ref.null extern) (i32.const 1)))
          (table.fill $b (i32.const 0) (ref.null extern) (i32.const 1))
          (table.copy $a $a (i32.const 0) (i32.const 0) (i32.const 0))
          (table.init $a $e (i32.const 0) (i32.const 0) (i32.const 0))
          (elem.drop $e)
          (drop (ref.is_null (ref.null func)))))""",
    )
    assert _find(ops, "table.get") == [(1,)]
    assert _find(ops, "table.set") == [(0,)]
    assert _find(ops, "table.size") == [(1,)]
    assert _find(ops, "table.grow") == [(1,)]
    assert _find(ops, "table.fill") == [(1,)]
    assert _find(ops, "table.copy") == [(0, 0)]
    assert _find(ops, "table.init") == [(0, 0)]
    assert _find(ops, "elem.drop") == [(0,)]
    assert _find(ops, "ref.null") == [("extern",), ("extern",), ("func",)]
    assert _find(ops, "ref.func") == [(0,)]


def test_exception_immediates(wat2wasm) -> None:
    ops = _ops(wat2wasm, FEATURES["exceptions_exnref"])
    assert _find(ops, "try_table") == [
        (None, (("catch", 0, 3), ("catch_ref", 0, 2), ("catch_all", None, 1), ("catch_all_ref", None, 0)))
    ]
    assert _find(ops, "throw") == [(0,)]
    assert _find(ops, "throw_ref") == [()]
    legacy = _ops(wat2wasm, FEATURES["legacy_exceptions"])
    assert _find(legacy, "try") == [("i32",), (None,), (None,), (None,)]
    assert _find(legacy, "catch") == [(0,), (0,)]
    assert _find(legacy, "catch_all") == [(), ()]
    assert _find(legacy, "delegate") == [(0,)]
    assert _find(legacy, "rethrow") == [(0,)]


def test_gc_immediates(wat2wasm) -> None:
    ops = _ops(wat2wasm, FEATURES["gc"])
    assert _find(ops, "struct.new") == [(0,)]
    assert _find(ops, "struct.set") == [(0, 0)]
    assert _find(ops, "struct.get") == [(0, 1)]
    assert _find(ops, "array.new_fixed") == [(1, 2)]
    assert _find(ops, "array.new_data") == [(1, 0)]
    assert _find(ops, "array.copy") == [(1, 1)]
    assert _find(ops, "array.len") == [()]
    assert _find(ops, "ref.test") == [(RefType(False, 0),), (RefType(True, 0),)]
    assert _find(ops, "ref.cast") == [(RefType(True, 0),), (RefType(False, "i31"),)]
    assert _find(ops, "br_on_cast") == [(1, 0, "any", 0)]
    assert _find(ops, "br_on_cast_fail") == [(3, 0, "any", 0)]
    assert _find(ops, "ref.i31") == [(), (), ()]
    assert str(RefType(True, 0)) == "(ref null 0)"
    assert str(RefType(False, "i31")) == "(ref i31)"


def test_typed_function_reference_immediates(wat2wasm) -> None:
    ops = _ops(wat2wasm, FEATURES["funcref"])
    assert _find(ops, "call_ref") == [(0,)]
    assert _find(ops, "return_call_ref") == [(0,)]
    assert _find(ops, "br_on_non_null") == [(0,)]
    assert _find(ops, "br_on_null") == [(0,)]
    assert _find(ops, "block")[0] == (RefType(False, 0),)


def test_atomic_immediates(wat2wasm) -> None:
    ops = _ops(wat2wasm, FEATURES["atomics"])
    assert _find(ops, "i64.atomic.load16_u") == [(MemArg(1, 8, 0),)]
    assert _find(ops, "i64.atomic.rmw32.cmpxchg_u") == [(MemArg(2, 0, 0),)]
    assert _find(ops, "atomic.fence") == [()]


# --- errors -------------------------------------------------------------------------------


def test_unknown_opcode_message() -> None:
    body = b"\x41\x00\xfe\x99\x01\x0b"  # i32.const 0; <0xfe 0x99>; end
    data = synth.module_with_bodies([body])
    b = parse_module(data).bodies[0]
    with pytest.raises(UnsupportedOpcode) as ei:
        list(iter_operators(data, b.code_start, b.end))
    e = ei.value
    assert e.offset == b.code_start + 2
    assert e.opcode == (0xFE, 0x99)
    assert str(e) == f"unsupported opcode 0xfe 0x99 at offset 0x{b.code_start + 2:x}"
    with pytest.raises(UnsupportedOpcode, match=r"^unsupported opcode 0x27 at offset 0x1$"):
        list(iter_operators(b"\x01\x27\x0b", 1, 3))
    err = UnsupportedOpcode((0xFE, 0x10), 0x1A2B, name="i32.atomic.load")
    assert str(err) == "unsupported opcode 0xfe 0x10 (i32.atomic.load) at offset 0x1a2b"
    assert isinstance(err, WasmError)


def test_unsupported_helper_for_consumers(wat2wasm) -> None:
    from ttd.wasm.operators import unsupported

    data = wat2wasm(FEATURES["atomics"])
    m = parse_module(data)
    op = next(o for o in m.operators(m.bodies[0].index) if o.name == "i32.atomic.load")
    err = unsupported(op, data)
    assert str(err) == f"unsupported opcode 0xfe 0x10 (i32.atomic.load) at offset 0x{op.offset:x}"
    assert err.offset == op.offset and err.name == "i32.atomic.load"
    assert str(unsupported(op, reason="threads")).endswith(f": threads at offset 0x{op.offset:x}")
    assert op.category == "load" and op.info.width == 4
    relaxed = Operator(0, 3, "i32x4.relaxed_dot_i8x16_i7x16_add_s", ())
    assert str(unsupported(relaxed)).startswith("unsupported opcode 0xfd 0x113 (")


@pytest.mark.parametrize("byte", [0x27, 0xC5, 0xD7, 0xFF, 0x16, 0x17, 0x1D, 0x1E])
def test_unassigned_single_bytes(byte: int) -> None:
    with pytest.raises(UnsupportedOpcode):
        list(iter_operators(bytes([byte, 0x0B]), 0, 2))


def test_truncated_and_overlong_instructions() -> None:
    # i32.const with a LEB running off the end of the data
    with pytest.raises(WasmError) as ei:
        list(iter_operators(b"\x41\x80\x80", 0, 3))
    assert not isinstance(ei.value, UnsupportedOpcode)
    # an instruction that extends past ``end`` (into the next function)
    with pytest.raises(WasmError, match="past the end"):
        list(iter_operators(b"\x41\x80\x01\x0b", 0, 2))
    # f64.const needs 8 bytes
    with pytest.raises(WasmError):
        list(iter_operators(b"\x44\x00\x00", 0, 3))
    # bad range
    with pytest.raises(WasmError):
        list(iter_operators(b"\x0b", 0, 5))
    # br_table with an absurd count
    with pytest.raises(WasmError):
        list(iter_operators(b"\x0e\xff\xff\xff\xff\x0f\x00\x00\x0b", 0, 9))
    # bad try_table catch kind, bad memarg alignment flags
    with pytest.raises(WasmError):
        list(iter_operators(b"\x1f\x40\x01\x07\x00\x0b", 0, 6))
    with pytest.raises(WasmError, match="alignment"):
        list(iter_operators(b"\x28\x80\x01\x00\x0b", 0, 5))


def test_decoding_is_lazy_and_positions_are_absolute() -> None:
    data = b"JUNK" + b"\x41\x05\x41\x06\x6a\x1a\x0b"
    ops = list(iter_operators(data, 4, len(data)))
    assert [(o.offset, o.end, o.name, o.imm) for o in ops] == [
        (4, 6, "i32.const", (5,)),
        (6, 8, "i32.const", (6,)),
        (8, 9, "i32.add", ()),
        (9, 10, "drop", ()),
        (10, 11, "end", ()),
    ]
    assert ops[0].size == 2


# --- metadata ----------------------------------------------------------------------------


def test_load_store_metadata() -> None:
    assert opcodes.is_store("i64.store32") and opcodes.store_value_type("i64.store32") == "i64"
    assert opcodes.store_value_type("v128.store8_lane") == "v128"
    assert opcodes.store_value_type("f32.store") == "f32"
    assert opcodes.store_value_type("i32.atomic.store16") == "i32"
    assert opcodes.access_size("i64.store32") == 4
    assert opcodes.access_size("v128.store") == 16
    assert opcodes.access_size("v128.store8_lane") == 1
    assert opcodes.is_load("i32.load8_u") and opcodes.load_value_type("i32.load8_u") == "i32"
    assert opcodes.is_load("v128.load64_zero") and opcodes.access_size("v128.load64_zero") == 8
    assert opcodes.is_load("i64.atomic.load32_u")
    assert not opcodes.is_store("i32.atomic.rmw.add") and opcodes.writes_memory("i32.atomic.rmw.add")
    assert opcodes.writes_memory("memory.copy") and not opcodes.writes_memory("memory.size")
    assert not opcodes.is_load("i32.add") and not opcodes.is_store("nope")
    with pytest.raises(ValueError):
        opcodes.store_value_type("i32.load")
    stores = [n for n, i in opcodes.OPCODES.items() if i.category == "store"]
    assert len(stores) == 9 + 5 + 7  # MVP, SIMD (store + 4 lanes), atomic stores
    assert all(opcodes.store_value_type(n) in ("i32", "i64", "f32", "f64", "v128") for n in stores)
    loads = [n for n, i in opcodes.OPCODES.items() if i.category == "load"]
    assert len(loads) == 14 + 17 + 7
    assert all(opcodes.OPCODES[n].width in (1, 2, 4, 8, 16) for n in loads + stores)
    assert opcodes.category("call_ref") == "call" and opcodes.is_call("return_call_indirect")
    assert opcodes.is_branch("br_on_cast_fail") and opcodes.is_block_start("try_table")
    assert opcodes.category("i8x16.shuffle") == "simd"
    assert opcodes.category("f64.const") == "const"


# --- scale ---------------------------------------------------------------------------------


def _big_module(n_instr: int, seed: int = 1) -> bytes:
    """A module whose bodies hold ~n_instr instructions with a realistic opcode mix."""
    rng = random.Random(seed)
    common = [opcodes.OPCODES[n] for n in (
        "local.get", "local.set", "local.tee", "i32.const", "i32.add", "i32.load", "i32.store",
        "i64.load", "call", "br_if", "global.get", "i32.eqz", "i32.and", "i64.const", "drop",
        "i32.load8_u", "f64.add", "select", "i32.shl", "br_table",
    )]  # fmt: skip
    everything = synth.all_infos()
    safe = [i for i in everything if i.name not in ("end", "else", "catch", "catch_all", "delegate")]
    bodies = []
    per_body = 2000
    for _ in range(n_instr // per_body):
        parts = []
        for _ in range(per_body - 1):
            info = rng.choice(common) if rng.random() < 0.9 else rng.choice(safe)
            parts.append(synth.instruction(info, rng.randrange(3)))
            if info.name in _OPENERS:
                parts.append(b"\x0b")
        parts.append(b"\x0b")
        bodies.append(b"".join(parts))
    return synth.module_with_bodies(bodies)


def test_large_module_decodes_fast() -> None:
    data = _big_module(500_000)
    t0 = time.perf_counter()
    m = parse_module(data)
    n = 0
    for b in m.bodies:
        for _ in iter_operators(data, b.code_start, b.end):
            n += 1
    elapsed = time.perf_counter() - t0
    assert n >= 500_000
    assert elapsed < 6.0, f"decoding {n} instructions took {elapsed:.2f}s"


def test_real_c_module() -> None:
    data = BIG_C_MODULE.read_bytes()
    t0 = time.perf_counter()
    total = check_structure(data)
    assert total > 10_000
    assert time.perf_counter() - t0 < 5.0
    m = parse_module(data)
    assert m.function_name(m.exports[-1].index) != ""
    assert any(not n.startswith("func[") for n in m.func_names.values())


def test_real_c_module_matches_wasm_tools(wasm_tools: str) -> None:
    assert_matches_wasm_tools(BIG_C_MODULE.read_bytes(), wasm_tools)


# --- random valid modules from wasm-tools smith ------------------------------------------------

_SMITH_FLAGS = [
    "--simd-enabled", "true", "--relaxed-simd-enabled", "true", "--exceptions-enabled", "true",
    "--gc-enabled", "true", "--memory64-enabled", "true", "--threads-enabled", "true",
    "--tail-call-enabled", "true", "--reference-types-enabled", "true", "--bulk-memory-enabled", "true",
    "--multi-value-enabled", "true", "--wide-arithmetic-enabled", "true", "--max-memories", "3",
    "--custom-page-sizes-enabled", "true", "--extended-const-enabled", "true",
    "--compact-imports-enabled", "false", "--min-funcs", "2",
]  # fmt: skip


@pytest.mark.parametrize("seed", range(12))
def test_smith_modules_match_wasm_tools(seed: int, wasm_tools: str) -> None:
    rng = random.Random(seed)
    proc = subprocess.run([wasm_tools, "smith", *_SMITH_FLAGS], input=rng.randbytes(8192), capture_output=True)
    if proc.returncode != 0:
        pytest.skip(f"wasm-tools smith failed: {proc.stderr[:200]!r}")
    assert_matches_wasm_tools(proc.stdout, wasm_tools)
    check_structure(proc.stdout)


def test_prefixed_subopcode_with_padded_leb() -> None:
    # 0xFC 0x80 0x00 is i32.trunc_sat_f32_s with a (legal) padded sub-opcode LEB.
    ops = list(iter_operators(b"\xfc\x80\x00\x0b", 0, 4))
    assert [(o.name, o.offset, o.end) for o in ops] == [("i32.trunc_sat_f32_s", 0, 3), ("end", 3, 4)]
    assert encode_uleb(0x113) == b"\x93\x02"
    ops = list(iter_operators(b"\xfd\x93\x02\x0b", 0, 4))
    assert ops[0].name == "i32x4.relaxed_dot_i8x16_i7x16_add_s"
