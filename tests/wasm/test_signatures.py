"""Every SIMD operator's signature in ttd.wasm.signatures is the one wasmtime validates.

A function that takes exactly the operands and returns the operator's result validates only
if the operator pops exactly those operands and pushes exactly that result (a function body
must end with exactly its results on the stack).
"""

from __future__ import annotations

import pytest
import wasmtime

from ttd.wasm.opcodes import OPCODES
from ttd.wasm.signatures import simd_signature

SIMD = sorted(n for n, i in OPCODES.items() if i.prefix == 0xFD and i.category == "simd")
_IMM = {"lane": " 0", "shuffle": " 0" * 16}


def _validates(name: str, params: tuple[str, ...], result: str) -> bool:
    gets = " ".join(f"local.get {i}" for i in range(len(params)))
    wat = (f"(module (func (param {' '.join(params)}) (result {result}) "
           f"{gets} {name}{_IMM.get(OPCODES[name].imm, '')}))")
    try:
        return wasmtime.Module.validate(wasmtime.Engine(), wasmtime.wat2wasm(wat)) is None
    except wasmtime.WasmtimeError:
        return False


def test_every_simd_operator_has_a_signature():
    assert len(SIMD) > 200
    assert [n for n in SIMD if simd_signature(n) is None] == []


@pytest.mark.parametrize("name", SIMD)
def test_simd_signature_validates(name):
    params, result = simd_signature(name)
    assert _validates(name, params, result), (name, params, result)
    # one operand fewer does not: the count is exact, not merely enough
    assert not _validates(name, params[1:], result), (name, params, result)
