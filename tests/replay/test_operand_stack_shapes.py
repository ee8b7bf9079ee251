"""The operand-stack rebuild pops and pushes, for every SIMD operator, what wasmtime's
validator says it does (ttd.wasm.signatures, itself checked in tests/wasm/test_signatures.py):
a value below the operator stays, the operator's own result is one value of its type."""

from __future__ import annotations

import pytest
import wasmtime

from ttd.record.schedule import VT_F32, VT_F64, VT_I32, VT_I64, VT_V128
from ttd.replay.operand_stack import K_GENERIC, K_NUM, analyse
from ttd.wasm.module import parse_module
from tests.wasm.test_signatures import SIMD, _IMM
from ttd.wasm.opcodes import OPCODES
from ttd.wasm.signatures import simd_signature

_VT = {"i32": VT_I32, "i64": VT_I64, "f32": VT_F32, "f64": VT_F64, "v128": VT_V128}


@pytest.mark.parametrize("name", SIMD)
def test_simd_operator_height(name):
    params, result = simd_signature(name)
    gets = " ".join(f"local.get {i}" for i in range(len(params)))
    wat = (f"(module (func (param {' '.join(params)}) (result i32) i32.const 7 {gets} "
           f"{name}{_IMM.get(OPCODES[name].imm, '')} drop))")
    module = parse_module(wasmtime.wat2wasm(wat))
    shape = analyse(module, 0, [], [])
    ops = list(module.operators(0))
    at = next(i for i, op in enumerate(ops) if op.name == name)
    assert shape.height[ops[at].offset] == 1 + len(params)
    assert shape.height[ops[at + 1].offset] == 2  # the 7 and the result
    k = shape.ops[ops[at].offset]
    assert k[0] in (K_NUM, K_GENERIC)
    assert k[1] == len(params)
    assert k[2] == _VT[result] if k[0] == K_NUM else k[2] == (_VT[result],)
