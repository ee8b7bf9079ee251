"""Synthesise instruction bytes for every operator in the opcode table.

Used to check the decoder against wasm-tools on *every* opcode (random
modules from ``wasm-tools smith`` do not reach them all) and to build large
bodies for the performance test. The modules built here are not meant to
validate, only to be decodable.
"""

from __future__ import annotations

from ttd.wasm.encode import encode_blocktype, encode_memarg, encode_uleb, name, section, vec
from ttd.wasm.leb import encode_sleb
from ttd.wasm.opcodes import OPCODES, PREFIXED, SINGLE_BYTE, OpInfo

_OPENERS = {"block", "loop", "if", "try", "try_table"}


def opcode_bytes(info: OpInfo) -> bytes:
    """The opcode encoding: one byte, or prefix + u32 LEB sub-opcode."""
    if info.prefix is None:
        return bytes((info.code,))
    return bytes((info.prefix,)) + encode_uleb(info.code)


def immediate_bytes(info: OpInfo, variant: int = 0) -> bytes:
    """Plausible immediates for the operator's immediate kind (variant picks alternatives)."""
    k = info.imm
    u = encode_uleb
    if k == "":
        return b""
    if k == "block":
        return [b"\x40", b"\x7f", encode_blocktype(0)][variant % 3]
    if k in ("label", "func", "type", "local", "global", "tag", "table", "mem", "data", "elem"):
        return u([0, 1, 200][variant % 3])
    if k == "br_table":
        return vec([u(0), u(1), u(130)]) + u(0)
    if k in ("call_indirect", "data_mem", "mem_mem", "elem_table", "table_table",
             "type_field", "type_type", "type_count", "type_data", "type_elem", "type_tag"):  # fmt: skip
        return u(variant % 2) + u(1 + variant)
    if k == "memarg":
        if variant % 2:
            return encode_memarg(0, 70000, memory=1)
        return encode_memarg(2 if info.width >= 4 else 0, 300)
    if k == "memarg_lane":
        return encode_memarg(0, 5 + variant) + bytes((variant % 2,))
    if k == "lane":
        return bytes((1,))
    if k == "i32":
        return encode_sleb([-12345, 0x7FFFFFFF, -(2**31)][variant % 3])
    if k == "i64":
        return encode_sleb([2**40, -(2**63), 63][variant % 3])
    if k == "f32":
        return b"\x00\x00\xc0\x3f"
    if k == "f64":
        return b"\x00\x00\x00\x00\x00\x00\xf8\x3f"
    if k in ("v128", "shuffle"):
        return bytes(range(16)) if k == "shuffle" else bytes(range(100, 116))
    if k == "heaptype":
        return [b"\x70", b"\x6f", encode_sleb(0)][variant % 3]
    if k == "select_t":
        return vec([b"\x7f"]) if variant % 2 == 0 else vec([b"\x6f"])
    if k == "try_table":
        return b"\x40" + vec([b"\x00" + u(0) + u(0), b"\x01" + u(0) + u(1), b"\x02" + u(0), b"\x03" + u(1)])
    if k in ("ref_nn", "ref_null"):
        return [b"\x6e", encode_sleb(0), b"\x6c"][variant % 3]
    if k == "br_on_cast":
        return bytes((variant % 4,)) + u(0) + b"\x6e" + b"\x6c"
    if k == "zero_byte":
        return b"\x00"
    if k == "ord_idx":
        return u(variant % 2) + u(0)
    if k == "ord_type_field":
        return u(variant % 2) + u(0) + u(0)
    if k == "resume":
        return u(0) + vec([b"\x00" + u(0) + u(0), b"\x01" + u(0)])
    if k == "resume_throw":
        return u(0) + u(0) + vec([b"\x01" + u(0)])
    raise AssertionError(f"no synthesiser for immediate kind {k!r}")


def instruction(info: OpInfo, variant: int = 0) -> bytes:
    """One complete instruction."""
    return opcode_bytes(info) + immediate_bytes(info, variant)


def all_infos() -> list[OpInfo]:
    """Every distinct encoding in the table (both ``select`` forms, both ref.test forms, ...)."""
    out = [i for i in SINGLE_BYTE if i is not None]
    for table in PREFIXED.values():
        out.extend(table.values())
    return out


def wrapped_body(info: OpInfo, variant: int = 0) -> bytes:
    """Instruction bytes for a function body exercising ``info``, with frames balanced."""
    ins = instruction(info, variant)
    if info.name in _OPENERS:
        code = ins + b"\x0b"
    elif info.name == "else":
        code = b"\x04\x40" + ins + b"\x0b"
    elif info.name in ("catch", "catch_all"):
        code = b"\x06\x40" + ins + b"\x0b"
    elif info.name == "delegate":
        code = b"\x06\x40" + ins  # delegate closes the try
    elif info.name == "end":
        code = b"\x02\x40" + ins
    else:
        code = ins
    return code + b"\x0b"


def module_with_bodies(codes: list[bytes]) -> bytes:
    """A module with one ``(func)`` type and one function per instruction sequence."""
    types = section(1, vec([b"\x60\x00\x00"]))
    funcs = section(3, vec([b"\x00"] * len(codes)))
    bodies = []
    for code in codes:
        body = b"\x00" + code  # no locals
        bodies.append(encode_uleb(len(body)) + body)
    code_sec = section(10, vec(bodies))
    return b"\x00asm\x01\x00\x00\x00" + types + funcs + code_sec


__all__ = ["all_infos", "instruction", "wrapped_body", "module_with_bodies", "OPCODES", "name"]
