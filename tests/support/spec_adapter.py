"""An exported adapter around a spec-test function whose values wasmtime-py cannot pass.

wasmtime-py passes no v128 at all and floats only as Python floats (a NaN's payload does not
survive `--invoke`'s decimal text). The adapter, appended to the module (no index of the
module moves), takes each v128 as two i64 (low, high) and each float as the integer of its
bits, calls the function, and returns v128 results as two i64 and float results as bits: so
the module's own code runs, plain and recorded, on exact values.
"""

from __future__ import annotations

from ttd.wasm import encode
from ttd.wasm.leb import encode_uleb, read_uleb
from ttd.wasm.module import Module
from ttd.wasm.opcodes import OPCODES
from ttd.wasm.valtypes import FuncType

ADAPTER = "__ttd_spec_adapter"
# parameter: (adapter types, code turning them into the value); result: (code, adapter types)
_IN = {"f32": (("i32",), "f32.reinterpret_i32"), "f64": (("i64",), "f64.reinterpret_i64")}
_OUT = {"f32": "i32.reinterpret_f32", "f64": "i64.reinterpret_f64"}
_INT = {"f32": "i32", "f64": "i64"}


def _op(name: str, *imm: int) -> bytes:
    code = OPCODES[name].opcode_bytes
    return bytes(code[:1]) + b"".join(encode_uleb(c) for c in code[1:]) + bytes(imm)


def needs_adapter(ft: FuncType) -> bool:
    return any(t in ("v128", "f32", "f64") for t in (*ft.params, *ft.results))


def adapter_type(ft: FuncType) -> FuncType:
    def flat(ts):
        out = []
        for t in ts:
            out += ["i64", "i64"] if t == "v128" else [_INT.get(t, t)]
        return tuple(out)
    return FuncType(flat(ft.params), flat(ft.results))


def with_adapter(data: bytes, module: Module, func: int) -> bytes:
    """The module with ADAPTER exported: function `func` called through it."""
    ft = module.func_type(func)
    at = adapter_type(ft)
    code = bytearray()
    a = 0
    for t in ft.params:
        if t == "v128":
            code += _op("local.get") + encode_uleb(a) + _op("i64x2.splat")
            code += _op("local.get") + encode_uleb(a + 1) + _op("i64x2.replace_lane", 1)
            a += 2
        else:
            code += _op("local.get") + encode_uleb(a)
            if t in _IN:
                code += _op(_IN[t][1])
            a += 1
    code += _op("call") + encode_uleb(func)
    base = len(at.params)  # one local per result, in the result's own type
    for r in reversed(range(len(ft.results))):
        code += _op("local.set") + encode_uleb(base + r)
    for r, t in enumerate(ft.results):
        get = _op("local.get") + encode_uleb(base + r)
        if t == "v128":
            code += get + _op("i64x2.extract_lane", 0) + get + _op("i64x2.extract_lane", 1)
        else:
            code += get + (_op(_OUT[t]) if t in _OUT else b"")
    body = encode.encode_func_body([(1, t) for t in ft.results], bytes(code) + b"\x0b")
    type_index = len(module.types)
    new_func = module.num_funcs
    add = {1: encode.encode_functype(at), 3: encode_uleb(type_index),
           7: encode.name(ADAPTER) + b"\x00" + encode_uleb(new_func), 10: body}
    out = bytearray(data[:8])
    for s in module.sections:
        payload = data[s.start:s.end]
        if s.id in add:
            count, pos = read_uleb(payload, 0)
            payload = encode_uleb(count + 1) + payload[pos:] + add[s.id]
        out += bytes([s.id]) + encode_uleb(len(payload)) + payload
    return bytes(out)
