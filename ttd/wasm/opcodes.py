"""The WebAssembly operator table: opcode -> (name, immediate kind, classification).

Derived from the official spec opcode tables and wasm-tools' operator list
(the `wast` crate's ``instructions!`` table) so that every operator wasmtime
accepts can be decoded: MVP, sign extension, saturating truncation, bulk
memory, reference types, multi-value, SIMD + relaxed SIMD, tail calls, typed
function references, multi-memory, exceptions (new and legacy), memory64,
GC, threads/atomics, wide arithmetic, plus the stack-switching,
shared-everything and custom-descriptor operators for completeness.

Each row is ``(code, name, immediate_kind, access_width)``. The immediate
kinds are interpreted by ``operators.py``:

====================  =====================================================
kind                  immediates (``Operator.imm``)
====================  =====================================================
``''``                ``()``
``block``             ``(blocktype,)``
``label``             ``(depth,)``
``br_table``          ``(targets_tuple, default)``
``func``              ``(funcidx,)``
``call_indirect``     ``(typeidx, tableidx)``
``type``              ``(typeidx,)``
``local``/``global``  ``(index,)``
``tag``               ``(tagidx,)``
``table``/``mem``     ``(index,)``
``data``/``elem``     ``(segment,)``
``data_mem``          ``(dataidx, memidx)``  memory.init
``mem_mem``           ``(dst_mem, src_mem)``  memory.copy
``elem_table``        ``(elemidx, tableidx)``  table.init
``table_table``       ``(dst_table, src_table)``  table.copy
``memarg``            ``(MemArg,)``
``memarg_lane``       ``(MemArg, lane)``
``lane``              ``(lane,)``
``i32``/``i64``       ``(signed value,)``
``f32``/``f64``       ``(raw little-endian bytes,)``
``v128``              ``(16 raw bytes,)``
``shuffle``           ``(16 lane bytes,)``
``heaptype``          ``(heap,)`` int type index or abstract name  (ref.null)
``select_t``          ``(tuple_of_valtypes,)``
``try_table``         ``(blocktype, catches)``
``ref_nn``/``ref_null`` ``(RefType,)``  ref.test / ref.cast
``br_on_cast``        ``(flags, label, heap1, heap2)``
``type_field``        ``(typeidx, fieldidx)``
``type_type``         ``(typeidx, typeidx)``
``type_count``        ``(typeidx, n)``
``type_data``         ``(typeidx, dataidx)``
``type_elem``         ``(typeidx, elemidx)``
``type_tag``          ``(typeidx, tagidx)``
``zero_byte``         ``()``  (atomic.fence's reserved 0x00)
``ord_idx``           ``(ordering, index)``
``ord_type_field``    ``(ordering, typeidx, fieldidx)``
``resume``            ``(typeidx, handlers)``
``resume_throw``      ``(typeidx, tagidx, handlers)``
====================  =====================================================

``access_width`` is the number of bytes a load/store/atomic touches (the
natural alignment), 0 for non-memory operators.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "OpInfo",
    "OPCODES",
    "SINGLE_BYTE",
    "PREFIXED",
    "PREFIXES",
    "op_info",
    "is_load",
    "is_store",
    "store_value_type",
    "load_value_type",
    "access_size",
    "writes_memory",
    "is_call",
    "is_branch",
    "is_block_start",
    "category",
]

PREFIXES = (0xFB, 0xFC, 0xFD, 0xFE)

# (code, name, immediate kind, access width). One-byte opcodes: MVP, exceptions
# (try_table/throw/throw_ref and the legacy try/catch/rethrow/delegate/catch_all),
# tail calls, typed function references, sign extension, reference types and the
# stack-switching operators 0xE0-0xE6.
_SINGLE_BYTE: tuple[tuple[int, str, str, int], ...] = (
    (0x00, "unreachable", "", 0),
    (0x01, "nop", "", 0),
    (0x02, "block", "block", 0),
    (0x03, "loop", "block", 0),
    (0x04, "if", "block", 0),
    (0x05, "else", "", 0),
    (0x06, "try", "block", 0),
    (0x07, "catch", "tag", 0),
    (0x08, "throw", "tag", 0),
    (0x09, "rethrow", "label", 0),
    (0x0A, "throw_ref", "", 0),
    (0x0B, "end", "", 0),
    (0x0C, "br", "label", 0),
    (0x0D, "br_if", "label", 0),
    (0x0E, "br_table", "br_table", 0),
    (0x0F, "return", "", 0),
    (0x10, "call", "func", 0),
    (0x11, "call_indirect", "call_indirect", 0),
    (0x12, "return_call", "func", 0),
    (0x13, "return_call_indirect", "call_indirect", 0),
    (0x14, "call_ref", "type", 0),
    (0x15, "return_call_ref", "type", 0),
    (0x18, "delegate", "label", 0),
    (0x19, "catch_all", "", 0),
    (0x1A, "drop", "", 0),
    (0x1B, "select", "", 0),
    (0x1C, "select", "select_t", 0),
    (0x1F, "try_table", "try_table", 0),
    (0x20, "local.get", "local", 0),
    (0x21, "local.set", "local", 0),
    (0x22, "local.tee", "local", 0),
    (0x23, "global.get", "global", 0),
    (0x24, "global.set", "global", 0),
    (0x25, "table.get", "table", 0),
    (0x26, "table.set", "table", 0),
    (0x28, "i32.load", "memarg", 4),
    (0x29, "i64.load", "memarg", 8),
    (0x2A, "f32.load", "memarg", 4),
    (0x2B, "f64.load", "memarg", 8),
    (0x2C, "i32.load8_s", "memarg", 1),
    (0x2D, "i32.load8_u", "memarg", 1),
    (0x2E, "i32.load16_s", "memarg", 2),
    (0x2F, "i32.load16_u", "memarg", 2),
    (0x30, "i64.load8_s", "memarg", 1),
    (0x31, "i64.load8_u", "memarg", 1),
    (0x32, "i64.load16_s", "memarg", 2),
    (0x33, "i64.load16_u", "memarg", 2),
    (0x34, "i64.load32_s", "memarg", 4),
    (0x35, "i64.load32_u", "memarg", 4),
    (0x36, "i32.store", "memarg", 4),
    (0x37, "i64.store", "memarg", 8),
    (0x38, "f32.store", "memarg", 4),
    (0x39, "f64.store", "memarg", 8),
    (0x3A, "i32.store8", "memarg", 1),
    (0x3B, "i32.store16", "memarg", 2),
    (0x3C, "i64.store8", "memarg", 1),
    (0x3D, "i64.store16", "memarg", 2),
    (0x3E, "i64.store32", "memarg", 4),
    (0x3F, "memory.size", "mem", 0),
    (0x40, "memory.grow", "mem", 0),
    (0x41, "i32.const", "i32", 0),
    (0x42, "i64.const", "i64", 0),
    (0x43, "f32.const", "f32", 0),
    (0x44, "f64.const", "f64", 0),
    (0x45, "i32.eqz", "", 0),
    (0x46, "i32.eq", "", 0),
    (0x47, "i32.ne", "", 0),
    (0x48, "i32.lt_s", "", 0),
    (0x49, "i32.lt_u", "", 0),
    (0x4A, "i32.gt_s", "", 0),
    (0x4B, "i32.gt_u", "", 0),
    (0x4C, "i32.le_s", "", 0),
    (0x4D, "i32.le_u", "", 0),
    (0x4E, "i32.ge_s", "", 0),
    (0x4F, "i32.ge_u", "", 0),
    (0x50, "i64.eqz", "", 0),
    (0x51, "i64.eq", "", 0),
    (0x52, "i64.ne", "", 0),
    (0x53, "i64.lt_s", "", 0),
    (0x54, "i64.lt_u", "", 0),
    (0x55, "i64.gt_s", "", 0),
    (0x56, "i64.gt_u", "", 0),
    (0x57, "i64.le_s", "", 0),
    (0x58, "i64.le_u", "", 0),
    (0x59, "i64.ge_s", "", 0),
    (0x5A, "i64.ge_u", "", 0),
    (0x5B, "f32.eq", "", 0),
    (0x5C, "f32.ne", "", 0),
    (0x5D, "f32.lt", "", 0),
    (0x5E, "f32.gt", "", 0),
    (0x5F, "f32.le", "", 0),
    (0x60, "f32.ge", "", 0),
    (0x61, "f64.eq", "", 0),
    (0x62, "f64.ne", "", 0),
    (0x63, "f64.lt", "", 0),
    (0x64, "f64.gt", "", 0),
    (0x65, "f64.le", "", 0),
    (0x66, "f64.ge", "", 0),
    (0x67, "i32.clz", "", 0),
    (0x68, "i32.ctz", "", 0),
    (0x69, "i32.popcnt", "", 0),
    (0x6A, "i32.add", "", 0),
    (0x6B, "i32.sub", "", 0),
    (0x6C, "i32.mul", "", 0),
    (0x6D, "i32.div_s", "", 0),
    (0x6E, "i32.div_u", "", 0),
    (0x6F, "i32.rem_s", "", 0),
    (0x70, "i32.rem_u", "", 0),
    (0x71, "i32.and", "", 0),
    (0x72, "i32.or", "", 0),
    (0x73, "i32.xor", "", 0),
    (0x74, "i32.shl", "", 0),
    (0x75, "i32.shr_s", "", 0),
    (0x76, "i32.shr_u", "", 0),
    (0x77, "i32.rotl", "", 0),
    (0x78, "i32.rotr", "", 0),
    (0x79, "i64.clz", "", 0),
    (0x7A, "i64.ctz", "", 0),
    (0x7B, "i64.popcnt", "", 0),
    (0x7C, "i64.add", "", 0),
    (0x7D, "i64.sub", "", 0),
    (0x7E, "i64.mul", "", 0),
    (0x7F, "i64.div_s", "", 0),
    (0x80, "i64.div_u", "", 0),
    (0x81, "i64.rem_s", "", 0),
    (0x82, "i64.rem_u", "", 0),
    (0x83, "i64.and", "", 0),
    (0x84, "i64.or", "", 0),
    (0x85, "i64.xor", "", 0),
    (0x86, "i64.shl", "", 0),
    (0x87, "i64.shr_s", "", 0),
    (0x88, "i64.shr_u", "", 0),
    (0x89, "i64.rotl", "", 0),
    (0x8A, "i64.rotr", "", 0),
    (0x8B, "f32.abs", "", 0),
    (0x8C, "f32.neg", "", 0),
    (0x8D, "f32.ceil", "", 0),
    (0x8E, "f32.floor", "", 0),
    (0x8F, "f32.trunc", "", 0),
    (0x90, "f32.nearest", "", 0),
    (0x91, "f32.sqrt", "", 0),
    (0x92, "f32.add", "", 0),
    (0x93, "f32.sub", "", 0),
    (0x94, "f32.mul", "", 0),
    (0x95, "f32.div", "", 0),
    (0x96, "f32.min", "", 0),
    (0x97, "f32.max", "", 0),
    (0x98, "f32.copysign", "", 0),
    (0x99, "f64.abs", "", 0),
    (0x9A, "f64.neg", "", 0),
    (0x9B, "f64.ceil", "", 0),
    (0x9C, "f64.floor", "", 0),
    (0x9D, "f64.trunc", "", 0),
    (0x9E, "f64.nearest", "", 0),
    (0x9F, "f64.sqrt", "", 0),
    (0xA0, "f64.add", "", 0),
    (0xA1, "f64.sub", "", 0),
    (0xA2, "f64.mul", "", 0),
    (0xA3, "f64.div", "", 0),
    (0xA4, "f64.min", "", 0),
    (0xA5, "f64.max", "", 0),
    (0xA6, "f64.copysign", "", 0),
    (0xA7, "i32.wrap_i64", "", 0),
    (0xA8, "i32.trunc_f32_s", "", 0),
    (0xA9, "i32.trunc_f32_u", "", 0),
    (0xAA, "i32.trunc_f64_s", "", 0),
    (0xAB, "i32.trunc_f64_u", "", 0),
    (0xAC, "i64.extend_i32_s", "", 0),
    (0xAD, "i64.extend_i32_u", "", 0),
    (0xAE, "i64.trunc_f32_s", "", 0),
    (0xAF, "i64.trunc_f32_u", "", 0),
    (0xB0, "i64.trunc_f64_s", "", 0),
    (0xB1, "i64.trunc_f64_u", "", 0),
    (0xB2, "f32.convert_i32_s", "", 0),
    (0xB3, "f32.convert_i32_u", "", 0),
    (0xB4, "f32.convert_i64_s", "", 0),
    (0xB5, "f32.convert_i64_u", "", 0),
    (0xB6, "f32.demote_f64", "", 0),
    (0xB7, "f64.convert_i32_s", "", 0),
    (0xB8, "f64.convert_i32_u", "", 0),
    (0xB9, "f64.convert_i64_s", "", 0),
    (0xBA, "f64.convert_i64_u", "", 0),
    (0xBB, "f64.promote_f32", "", 0),
    (0xBC, "i32.reinterpret_f32", "", 0),
    (0xBD, "i64.reinterpret_f64", "", 0),
    (0xBE, "f32.reinterpret_i32", "", 0),
    (0xBF, "f64.reinterpret_i64", "", 0),
    (0xC0, "i32.extend8_s", "", 0),
    (0xC1, "i32.extend16_s", "", 0),
    (0xC2, "i64.extend8_s", "", 0),
    (0xC3, "i64.extend16_s", "", 0),
    (0xC4, "i64.extend32_s", "", 0),
    (0xD0, "ref.null", "heaptype", 0),
    (0xD1, "ref.is_null", "", 0),
    (0xD2, "ref.func", "func", 0),
    (0xD3, "ref.eq", "", 0),
    (0xD4, "ref.as_non_null", "", 0),
    (0xD5, "br_on_null", "label", 0),
    (0xD6, "br_on_non_null", "label", 0),
    (0xE0, "cont.new", "type", 0),
    (0xE1, "cont.bind", "type_type", 0),
    (0xE2, "suspend", "tag", 0),
    (0xE3, "resume", "resume", 0),
    (0xE4, "resume_throw", "resume_throw", 0),
    (0xE5, "resume_throw_ref", "resume", 0),
    (0xE6, "switch", "type_tag", 0),
)

# 0xFB: GC (struct/array/i31/casts/extern conversion) and custom descriptors (0x20-0x26).
_PREFIX_FB: tuple[tuple[int, str, str, int], ...] = (
    (0x00, "struct.new", "type", 0),
    (0x01, "struct.new_default", "type", 0),
    (0x02, "struct.get", "type_field", 0),
    (0x03, "struct.get_s", "type_field", 0),
    (0x04, "struct.get_u", "type_field", 0),
    (0x05, "struct.set", "type_field", 0),
    (0x06, "array.new", "type", 0),
    (0x07, "array.new_default", "type", 0),
    (0x08, "array.new_fixed", "type_count", 0),
    (0x09, "array.new_data", "type_data", 0),
    (0x0A, "array.new_elem", "type_elem", 0),
    (0x0B, "array.get", "type", 0),
    (0x0C, "array.get_s", "type", 0),
    (0x0D, "array.get_u", "type", 0),
    (0x0E, "array.set", "type", 0),
    (0x0F, "array.len", "", 0),
    (0x10, "array.fill", "type", 0),
    (0x11, "array.copy", "type_type", 0),
    (0x12, "array.init_data", "type_data", 0),
    (0x13, "array.init_elem", "type_elem", 0),
    (0x14, "ref.test", "ref_nn", 0),
    (0x15, "ref.test", "ref_null", 0),
    (0x16, "ref.cast", "ref_nn", 0),
    (0x17, "ref.cast", "ref_null", 0),
    (0x18, "br_on_cast", "br_on_cast", 0),
    (0x19, "br_on_cast_fail", "br_on_cast", 0),
    (0x1A, "any.convert_extern", "", 0),
    (0x1B, "extern.convert_any", "", 0),
    (0x1C, "ref.i31", "", 0),
    (0x1D, "i31.get_s", "", 0),
    (0x1E, "i31.get_u", "", 0),
    (0x20, "struct.new_desc", "type", 0),
    (0x21, "struct.new_default_desc", "type", 0),
    (0x22, "ref.get_desc", "type", 0),
    (0x23, "ref.cast_desc_eq", "ref_nn", 0),
    (0x24, "ref.cast_desc_eq", "ref_null", 0),
    (0x25, "br_on_cast_desc_eq", "br_on_cast", 0),
    (0x26, "br_on_cast_desc_eq_fail", "br_on_cast", 0),
)

# 0xFC: saturating truncation (0-7), bulk memory and table ops (8-17),
# memory.discard (18), wide arithmetic (19-22).
_PREFIX_FC: tuple[tuple[int, str, str, int], ...] = (
    (0x00, "i32.trunc_sat_f32_s", "", 0),
    (0x01, "i32.trunc_sat_f32_u", "", 0),
    (0x02, "i32.trunc_sat_f64_s", "", 0),
    (0x03, "i32.trunc_sat_f64_u", "", 0),
    (0x04, "i64.trunc_sat_f32_s", "", 0),
    (0x05, "i64.trunc_sat_f32_u", "", 0),
    (0x06, "i64.trunc_sat_f64_s", "", 0),
    (0x07, "i64.trunc_sat_f64_u", "", 0),
    (0x08, "memory.init", "data_mem", 0),
    (0x09, "data.drop", "data", 0),
    (0x0A, "memory.copy", "mem_mem", 0),
    (0x0B, "memory.fill", "mem", 0),
    (0x0C, "table.init", "elem_table", 0),
    (0x0D, "elem.drop", "elem", 0),
    (0x0E, "table.copy", "table_table", 0),
    (0x0F, "table.grow", "table", 0),
    (0x10, "table.size", "table", 0),
    (0x11, "table.fill", "table", 0),
    (0x12, "memory.discard", "mem", 0),
    (0x13, "i64.add128", "", 0),
    (0x14, "i64.sub128", "", 0),
    (0x15, "i64.mul_wide_s", "", 0),
    (0x16, "i64.mul_wide_u", "", 0),
)

# 0xFD: SIMD (0x00-0xFF, 236 operators) and relaxed SIMD (0x100-0x113).
_PREFIX_FD: tuple[tuple[int, str, str, int], ...] = (
    (0x00, "v128.load", "memarg", 16),
    (0x01, "v128.load8x8_s", "memarg", 8),
    (0x02, "v128.load8x8_u", "memarg", 8),
    (0x03, "v128.load16x4_s", "memarg", 8),
    (0x04, "v128.load16x4_u", "memarg", 8),
    (0x05, "v128.load32x2_s", "memarg", 8),
    (0x06, "v128.load32x2_u", "memarg", 8),
    (0x07, "v128.load8_splat", "memarg", 1),
    (0x08, "v128.load16_splat", "memarg", 2),
    (0x09, "v128.load32_splat", "memarg", 4),
    (0x0A, "v128.load64_splat", "memarg", 8),
    (0x0B, "v128.store", "memarg", 16),
    (0x0C, "v128.const", "v128", 0),
    (0x0D, "i8x16.shuffle", "shuffle", 0),
    (0x0E, "i8x16.swizzle", "", 0),
    (0x0F, "i8x16.splat", "", 0),
    (0x10, "i16x8.splat", "", 0),
    (0x11, "i32x4.splat", "", 0),
    (0x12, "i64x2.splat", "", 0),
    (0x13, "f32x4.splat", "", 0),
    (0x14, "f64x2.splat", "", 0),
    (0x15, "i8x16.extract_lane_s", "lane", 0),
    (0x16, "i8x16.extract_lane_u", "lane", 0),
    (0x17, "i8x16.replace_lane", "lane", 0),
    (0x18, "i16x8.extract_lane_s", "lane", 0),
    (0x19, "i16x8.extract_lane_u", "lane", 0),
    (0x1A, "i16x8.replace_lane", "lane", 0),
    (0x1B, "i32x4.extract_lane", "lane", 0),
    (0x1C, "i32x4.replace_lane", "lane", 0),
    (0x1D, "i64x2.extract_lane", "lane", 0),
    (0x1E, "i64x2.replace_lane", "lane", 0),
    (0x1F, "f32x4.extract_lane", "lane", 0),
    (0x20, "f32x4.replace_lane", "lane", 0),
    (0x21, "f64x2.extract_lane", "lane", 0),
    (0x22, "f64x2.replace_lane", "lane", 0),
    (0x23, "i8x16.eq", "", 0),
    (0x24, "i8x16.ne", "", 0),
    (0x25, "i8x16.lt_s", "", 0),
    (0x26, "i8x16.lt_u", "", 0),
    (0x27, "i8x16.gt_s", "", 0),
    (0x28, "i8x16.gt_u", "", 0),
    (0x29, "i8x16.le_s", "", 0),
    (0x2A, "i8x16.le_u", "", 0),
    (0x2B, "i8x16.ge_s", "", 0),
    (0x2C, "i8x16.ge_u", "", 0),
    (0x2D, "i16x8.eq", "", 0),
    (0x2E, "i16x8.ne", "", 0),
    (0x2F, "i16x8.lt_s", "", 0),
    (0x30, "i16x8.lt_u", "", 0),
    (0x31, "i16x8.gt_s", "", 0),
    (0x32, "i16x8.gt_u", "", 0),
    (0x33, "i16x8.le_s", "", 0),
    (0x34, "i16x8.le_u", "", 0),
    (0x35, "i16x8.ge_s", "", 0),
    (0x36, "i16x8.ge_u", "", 0),
    (0x37, "i32x4.eq", "", 0),
    (0x38, "i32x4.ne", "", 0),
    (0x39, "i32x4.lt_s", "", 0),
    (0x3A, "i32x4.lt_u", "", 0),
    (0x3B, "i32x4.gt_s", "", 0),
    (0x3C, "i32x4.gt_u", "", 0),
    (0x3D, "i32x4.le_s", "", 0),
    (0x3E, "i32x4.le_u", "", 0),
    (0x3F, "i32x4.ge_s", "", 0),
    (0x40, "i32x4.ge_u", "", 0),
    (0x41, "f32x4.eq", "", 0),
    (0x42, "f32x4.ne", "", 0),
    (0x43, "f32x4.lt", "", 0),
    (0x44, "f32x4.gt", "", 0),
    (0x45, "f32x4.le", "", 0),
    (0x46, "f32x4.ge", "", 0),
    (0x47, "f64x2.eq", "", 0),
    (0x48, "f64x2.ne", "", 0),
    (0x49, "f64x2.lt", "", 0),
    (0x4A, "f64x2.gt", "", 0),
    (0x4B, "f64x2.le", "", 0),
    (0x4C, "f64x2.ge", "", 0),
    (0x4D, "v128.not", "", 0),
    (0x4E, "v128.and", "", 0),
    (0x4F, "v128.andnot", "", 0),
    (0x50, "v128.or", "", 0),
    (0x51, "v128.xor", "", 0),
    (0x52, "v128.bitselect", "", 0),
    (0x53, "v128.any_true", "", 0),
    (0x54, "v128.load8_lane", "memarg_lane", 1),
    (0x55, "v128.load16_lane", "memarg_lane", 2),
    (0x56, "v128.load32_lane", "memarg_lane", 4),
    (0x57, "v128.load64_lane", "memarg_lane", 8),
    (0x58, "v128.store8_lane", "memarg_lane", 1),
    (0x59, "v128.store16_lane", "memarg_lane", 2),
    (0x5A, "v128.store32_lane", "memarg_lane", 4),
    (0x5B, "v128.store64_lane", "memarg_lane", 8),
    (0x5C, "v128.load32_zero", "memarg", 4),
    (0x5D, "v128.load64_zero", "memarg", 8),
    (0x5E, "f32x4.demote_f64x2_zero", "", 0),
    (0x5F, "f64x2.promote_low_f32x4", "", 0),
    (0x60, "i8x16.abs", "", 0),
    (0x61, "i8x16.neg", "", 0),
    (0x62, "i8x16.popcnt", "", 0),
    (0x63, "i8x16.all_true", "", 0),
    (0x64, "i8x16.bitmask", "", 0),
    (0x65, "i8x16.narrow_i16x8_s", "", 0),
    (0x66, "i8x16.narrow_i16x8_u", "", 0),
    (0x67, "f32x4.ceil", "", 0),
    (0x68, "f32x4.floor", "", 0),
    (0x69, "f32x4.trunc", "", 0),
    (0x6A, "f32x4.nearest", "", 0),
    (0x6B, "i8x16.shl", "", 0),
    (0x6C, "i8x16.shr_s", "", 0),
    (0x6D, "i8x16.shr_u", "", 0),
    (0x6E, "i8x16.add", "", 0),
    (0x6F, "i8x16.add_sat_s", "", 0),
    (0x70, "i8x16.add_sat_u", "", 0),
    (0x71, "i8x16.sub", "", 0),
    (0x72, "i8x16.sub_sat_s", "", 0),
    (0x73, "i8x16.sub_sat_u", "", 0),
    (0x74, "f64x2.ceil", "", 0),
    (0x75, "f64x2.floor", "", 0),
    (0x76, "i8x16.min_s", "", 0),
    (0x77, "i8x16.min_u", "", 0),
    (0x78, "i8x16.max_s", "", 0),
    (0x79, "i8x16.max_u", "", 0),
    (0x7A, "f64x2.trunc", "", 0),
    (0x7B, "i8x16.avgr_u", "", 0),
    (0x7C, "i16x8.extadd_pairwise_i8x16_s", "", 0),
    (0x7D, "i16x8.extadd_pairwise_i8x16_u", "", 0),
    (0x7E, "i32x4.extadd_pairwise_i16x8_s", "", 0),
    (0x7F, "i32x4.extadd_pairwise_i16x8_u", "", 0),
    (0x80, "i16x8.abs", "", 0),
    (0x81, "i16x8.neg", "", 0),
    (0x82, "i16x8.q15mulr_sat_s", "", 0),
    (0x83, "i16x8.all_true", "", 0),
    (0x84, "i16x8.bitmask", "", 0),
    (0x85, "i16x8.narrow_i32x4_s", "", 0),
    (0x86, "i16x8.narrow_i32x4_u", "", 0),
    (0x87, "i16x8.extend_low_i8x16_s", "", 0),
    (0x88, "i16x8.extend_high_i8x16_s", "", 0),
    (0x89, "i16x8.extend_low_i8x16_u", "", 0),
    (0x8A, "i16x8.extend_high_i8x16_u", "", 0),
    (0x8B, "i16x8.shl", "", 0),
    (0x8C, "i16x8.shr_s", "", 0),
    (0x8D, "i16x8.shr_u", "", 0),
    (0x8E, "i16x8.add", "", 0),
    (0x8F, "i16x8.add_sat_s", "", 0),
    (0x90, "i16x8.add_sat_u", "", 0),
    (0x91, "i16x8.sub", "", 0),
    (0x92, "i16x8.sub_sat_s", "", 0),
    (0x93, "i16x8.sub_sat_u", "", 0),
    (0x94, "f64x2.nearest", "", 0),
    (0x95, "i16x8.mul", "", 0),
    (0x96, "i16x8.min_s", "", 0),
    (0x97, "i16x8.min_u", "", 0),
    (0x98, "i16x8.max_s", "", 0),
    (0x99, "i16x8.max_u", "", 0),
    (0x9B, "i16x8.avgr_u", "", 0),
    (0x9C, "i16x8.extmul_low_i8x16_s", "", 0),
    (0x9D, "i16x8.extmul_high_i8x16_s", "", 0),
    (0x9E, "i16x8.extmul_low_i8x16_u", "", 0),
    (0x9F, "i16x8.extmul_high_i8x16_u", "", 0),
    (0xA0, "i32x4.abs", "", 0),
    (0xA1, "i32x4.neg", "", 0),
    (0xA3, "i32x4.all_true", "", 0),
    (0xA4, "i32x4.bitmask", "", 0),
    (0xA7, "i32x4.extend_low_i16x8_s", "", 0),
    (0xA8, "i32x4.extend_high_i16x8_s", "", 0),
    (0xA9, "i32x4.extend_low_i16x8_u", "", 0),
    (0xAA, "i32x4.extend_high_i16x8_u", "", 0),
    (0xAB, "i32x4.shl", "", 0),
    (0xAC, "i32x4.shr_s", "", 0),
    (0xAD, "i32x4.shr_u", "", 0),
    (0xAE, "i32x4.add", "", 0),
    (0xB1, "i32x4.sub", "", 0),
    (0xB5, "i32x4.mul", "", 0),
    (0xB6, "i32x4.min_s", "", 0),
    (0xB7, "i32x4.min_u", "", 0),
    (0xB8, "i32x4.max_s", "", 0),
    (0xB9, "i32x4.max_u", "", 0),
    (0xBA, "i32x4.dot_i16x8_s", "", 0),
    (0xBC, "i32x4.extmul_low_i16x8_s", "", 0),
    (0xBD, "i32x4.extmul_high_i16x8_s", "", 0),
    (0xBE, "i32x4.extmul_low_i16x8_u", "", 0),
    (0xBF, "i32x4.extmul_high_i16x8_u", "", 0),
    (0xC0, "i64x2.abs", "", 0),
    (0xC1, "i64x2.neg", "", 0),
    (0xC3, "i64x2.all_true", "", 0),
    (0xC4, "i64x2.bitmask", "", 0),
    (0xC7, "i64x2.extend_low_i32x4_s", "", 0),
    (0xC8, "i64x2.extend_high_i32x4_s", "", 0),
    (0xC9, "i64x2.extend_low_i32x4_u", "", 0),
    (0xCA, "i64x2.extend_high_i32x4_u", "", 0),
    (0xCB, "i64x2.shl", "", 0),
    (0xCC, "i64x2.shr_s", "", 0),
    (0xCD, "i64x2.shr_u", "", 0),
    (0xCE, "i64x2.add", "", 0),
    (0xD1, "i64x2.sub", "", 0),
    (0xD5, "i64x2.mul", "", 0),
    (0xD6, "i64x2.eq", "", 0),
    (0xD7, "i64x2.ne", "", 0),
    (0xD8, "i64x2.lt_s", "", 0),
    (0xD9, "i64x2.gt_s", "", 0),
    (0xDA, "i64x2.le_s", "", 0),
    (0xDB, "i64x2.ge_s", "", 0),
    (0xDC, "i64x2.extmul_low_i32x4_s", "", 0),
    (0xDD, "i64x2.extmul_high_i32x4_s", "", 0),
    (0xDE, "i64x2.extmul_low_i32x4_u", "", 0),
    (0xDF, "i64x2.extmul_high_i32x4_u", "", 0),
    (0xE0, "f32x4.abs", "", 0),
    (0xE1, "f32x4.neg", "", 0),
    (0xE3, "f32x4.sqrt", "", 0),
    (0xE4, "f32x4.add", "", 0),
    (0xE5, "f32x4.sub", "", 0),
    (0xE6, "f32x4.mul", "", 0),
    (0xE7, "f32x4.div", "", 0),
    (0xE8, "f32x4.min", "", 0),
    (0xE9, "f32x4.max", "", 0),
    (0xEA, "f32x4.pmin", "", 0),
    (0xEB, "f32x4.pmax", "", 0),
    (0xEC, "f64x2.abs", "", 0),
    (0xED, "f64x2.neg", "", 0),
    (0xEF, "f64x2.sqrt", "", 0),
    (0xF0, "f64x2.add", "", 0),
    (0xF1, "f64x2.sub", "", 0),
    (0xF2, "f64x2.mul", "", 0),
    (0xF3, "f64x2.div", "", 0),
    (0xF4, "f64x2.min", "", 0),
    (0xF5, "f64x2.max", "", 0),
    (0xF6, "f64x2.pmin", "", 0),
    (0xF7, "f64x2.pmax", "", 0),
    (0xF8, "i32x4.trunc_sat_f32x4_s", "", 0),
    (0xF9, "i32x4.trunc_sat_f32x4_u", "", 0),
    (0xFA, "f32x4.convert_i32x4_s", "", 0),
    (0xFB, "f32x4.convert_i32x4_u", "", 0),
    (0xFC, "i32x4.trunc_sat_f64x2_s_zero", "", 0),
    (0xFD, "i32x4.trunc_sat_f64x2_u_zero", "", 0),
    (0xFE, "f64x2.convert_low_i32x4_s", "", 0),
    (0xFF, "f64x2.convert_low_i32x4_u", "", 0),
    (0x100, "i8x16.relaxed_swizzle", "", 0),
    (0x101, "i32x4.relaxed_trunc_f32x4_s", "", 0),
    (0x102, "i32x4.relaxed_trunc_f32x4_u", "", 0),
    (0x103, "i32x4.relaxed_trunc_f64x2_s_zero", "", 0),
    (0x104, "i32x4.relaxed_trunc_f64x2_u_zero", "", 0),
    (0x105, "f32x4.relaxed_madd", "", 0),
    (0x106, "f32x4.relaxed_nmadd", "", 0),
    (0x107, "f64x2.relaxed_madd", "", 0),
    (0x108, "f64x2.relaxed_nmadd", "", 0),
    (0x109, "i8x16.relaxed_laneselect", "", 0),
    (0x10A, "i16x8.relaxed_laneselect", "", 0),
    (0x10B, "i32x4.relaxed_laneselect", "", 0),
    (0x10C, "i64x2.relaxed_laneselect", "", 0),
    (0x10D, "f32x4.relaxed_min", "", 0),
    (0x10E, "f32x4.relaxed_max", "", 0),
    (0x10F, "f64x2.relaxed_min", "", 0),
    (0x110, "f64x2.relaxed_max", "", 0),
    (0x111, "i16x8.relaxed_q15mulr_s", "", 0),
    (0x112, "i16x8.relaxed_dot_i8x16_i7x16_s", "", 0),
    (0x113, "i32x4.relaxed_dot_i8x16_i7x16_add_s", "", 0),
)

# 0xFE: threads/atomics (0x00-0x4E) and shared-everything-threads (0x4F-0x72).
_PREFIX_FE: tuple[tuple[int, str, str, int], ...] = (
    (0x00, "memory.atomic.notify", "memarg", 4),
    (0x01, "memory.atomic.wait32", "memarg", 4),
    (0x02, "memory.atomic.wait64", "memarg", 8),
    (0x03, "atomic.fence", "zero_byte", 0),
    (0x10, "i32.atomic.load", "memarg", 4),
    (0x11, "i64.atomic.load", "memarg", 8),
    (0x12, "i32.atomic.load8_u", "memarg", 1),
    (0x13, "i32.atomic.load16_u", "memarg", 2),
    (0x14, "i64.atomic.load8_u", "memarg", 1),
    (0x15, "i64.atomic.load16_u", "memarg", 2),
    (0x16, "i64.atomic.load32_u", "memarg", 4),
    (0x17, "i32.atomic.store", "memarg", 4),
    (0x18, "i64.atomic.store", "memarg", 8),
    (0x19, "i32.atomic.store8", "memarg", 1),
    (0x1A, "i32.atomic.store16", "memarg", 2),
    (0x1B, "i64.atomic.store8", "memarg", 1),
    (0x1C, "i64.atomic.store16", "memarg", 2),
    (0x1D, "i64.atomic.store32", "memarg", 4),
    (0x1E, "i32.atomic.rmw.add", "memarg", 4),
    (0x1F, "i64.atomic.rmw.add", "memarg", 8),
    (0x20, "i32.atomic.rmw8.add_u", "memarg", 1),
    (0x21, "i32.atomic.rmw16.add_u", "memarg", 2),
    (0x22, "i64.atomic.rmw8.add_u", "memarg", 1),
    (0x23, "i64.atomic.rmw16.add_u", "memarg", 2),
    (0x24, "i64.atomic.rmw32.add_u", "memarg", 4),
    (0x25, "i32.atomic.rmw.sub", "memarg", 4),
    (0x26, "i64.atomic.rmw.sub", "memarg", 8),
    (0x27, "i32.atomic.rmw8.sub_u", "memarg", 1),
    (0x28, "i32.atomic.rmw16.sub_u", "memarg", 2),
    (0x29, "i64.atomic.rmw8.sub_u", "memarg", 1),
    (0x2A, "i64.atomic.rmw16.sub_u", "memarg", 2),
    (0x2B, "i64.atomic.rmw32.sub_u", "memarg", 4),
    (0x2C, "i32.atomic.rmw.and", "memarg", 4),
    (0x2D, "i64.atomic.rmw.and", "memarg", 8),
    (0x2E, "i32.atomic.rmw8.and_u", "memarg", 1),
    (0x2F, "i32.atomic.rmw16.and_u", "memarg", 2),
    (0x30, "i64.atomic.rmw8.and_u", "memarg", 1),
    (0x31, "i64.atomic.rmw16.and_u", "memarg", 2),
    (0x32, "i64.atomic.rmw32.and_u", "memarg", 4),
    (0x33, "i32.atomic.rmw.or", "memarg", 4),
    (0x34, "i64.atomic.rmw.or", "memarg", 8),
    (0x35, "i32.atomic.rmw8.or_u", "memarg", 1),
    (0x36, "i32.atomic.rmw16.or_u", "memarg", 2),
    (0x37, "i64.atomic.rmw8.or_u", "memarg", 1),
    (0x38, "i64.atomic.rmw16.or_u", "memarg", 2),
    (0x39, "i64.atomic.rmw32.or_u", "memarg", 4),
    (0x3A, "i32.atomic.rmw.xor", "memarg", 4),
    (0x3B, "i64.atomic.rmw.xor", "memarg", 8),
    (0x3C, "i32.atomic.rmw8.xor_u", "memarg", 1),
    (0x3D, "i32.atomic.rmw16.xor_u", "memarg", 2),
    (0x3E, "i64.atomic.rmw8.xor_u", "memarg", 1),
    (0x3F, "i64.atomic.rmw16.xor_u", "memarg", 2),
    (0x40, "i64.atomic.rmw32.xor_u", "memarg", 4),
    (0x41, "i32.atomic.rmw.xchg", "memarg", 4),
    (0x42, "i64.atomic.rmw.xchg", "memarg", 8),
    (0x43, "i32.atomic.rmw8.xchg_u", "memarg", 1),
    (0x44, "i32.atomic.rmw16.xchg_u", "memarg", 2),
    (0x45, "i64.atomic.rmw8.xchg_u", "memarg", 1),
    (0x46, "i64.atomic.rmw16.xchg_u", "memarg", 2),
    (0x47, "i64.atomic.rmw32.xchg_u", "memarg", 4),
    (0x48, "i32.atomic.rmw.cmpxchg", "memarg", 4),
    (0x49, "i64.atomic.rmw.cmpxchg", "memarg", 8),
    (0x4A, "i32.atomic.rmw8.cmpxchg_u", "memarg", 1),
    (0x4B, "i32.atomic.rmw16.cmpxchg_u", "memarg", 2),
    (0x4C, "i64.atomic.rmw8.cmpxchg_u", "memarg", 1),
    (0x4D, "i64.atomic.rmw16.cmpxchg_u", "memarg", 2),
    (0x4E, "i64.atomic.rmw32.cmpxchg_u", "memarg", 4),
    (0x4F, "global.atomic.get", "ord_idx", 0),
    (0x50, "global.atomic.set", "ord_idx", 0),
    (0x51, "global.atomic.rmw.add", "ord_idx", 0),
    (0x52, "global.atomic.rmw.sub", "ord_idx", 0),
    (0x53, "global.atomic.rmw.and", "ord_idx", 0),
    (0x54, "global.atomic.rmw.or", "ord_idx", 0),
    (0x55, "global.atomic.rmw.xor", "ord_idx", 0),
    (0x56, "global.atomic.rmw.xchg", "ord_idx", 0),
    (0x57, "global.atomic.rmw.cmpxchg", "ord_idx", 0),
    (0x58, "table.atomic.get", "ord_idx", 0),
    (0x59, "table.atomic.set", "ord_idx", 0),
    (0x5A, "table.atomic.rmw.xchg", "ord_idx", 0),
    (0x5B, "table.atomic.rmw.cmpxchg", "ord_idx", 0),
    (0x5C, "struct.atomic.get", "ord_type_field", 0),
    (0x5D, "struct.atomic.get_s", "ord_type_field", 0),
    (0x5E, "struct.atomic.get_u", "ord_type_field", 0),
    (0x5F, "struct.atomic.set", "ord_type_field", 0),
    (0x60, "struct.atomic.rmw.add", "ord_type_field", 0),
    (0x61, "struct.atomic.rmw.sub", "ord_type_field", 0),
    (0x62, "struct.atomic.rmw.and", "ord_type_field", 0),
    (0x63, "struct.atomic.rmw.or", "ord_type_field", 0),
    (0x64, "struct.atomic.rmw.xor", "ord_type_field", 0),
    (0x65, "struct.atomic.rmw.xchg", "ord_type_field", 0),
    (0x66, "struct.atomic.rmw.cmpxchg", "ord_type_field", 0),
    (0x67, "array.atomic.get", "ord_idx", 0),
    (0x68, "array.atomic.get_s", "ord_idx", 0),
    (0x69, "array.atomic.get_u", "ord_idx", 0),
    (0x6A, "array.atomic.set", "ord_idx", 0),
    (0x6B, "array.atomic.rmw.add", "ord_idx", 0),
    (0x6C, "array.atomic.rmw.sub", "ord_idx", 0),
    (0x6D, "array.atomic.rmw.and", "ord_idx", 0),
    (0x6E, "array.atomic.rmw.or", "ord_idx", 0),
    (0x6F, "array.atomic.rmw.xor", "ord_idx", 0),
    (0x70, "array.atomic.rmw.xchg", "ord_idx", 0),
    (0x71, "array.atomic.rmw.cmpxchg", "ord_idx", 0),
    (0x72, "ref.i31_shared", "", 0),
)


class OpInfo(NamedTuple):
    """Static facts about one operator encoding."""

    name: str
    prefix: int | None  # 0xFB/0xFC/0xFD/0xFE, or None for single-byte opcodes
    code: int  # the opcode byte, or the u32 sub-opcode after the prefix
    imm: str  # immediate kind (see module docstring)
    category: str  # see _classify
    width: int  # bytes of memory accessed (loads/stores/atomics), else 0
    value_type: str | None  # loads: result type; stores: stored value type; atomics: operand type

    @property
    def opcode_bytes(self) -> tuple[int, ...]:
        """The opcode as bytes as they appear in the file (sub-opcode shown as a number)."""
        return (self.code,) if self.prefix is None else (self.prefix, self.code)


_CONTROL = frozenset(
    """unreachable nop block loop if else end br br_if br_table return try catch catch_all
    delegate try_table throw throw_ref rethrow br_on_null br_on_non_null br_on_cast
    br_on_cast_fail br_on_cast_desc_eq br_on_cast_desc_eq_fail suspend resume resume_throw
    resume_throw_ref switch""".split()
)
_CALLS = frozenset("call call_indirect call_ref return_call return_call_indirect return_call_ref".split())
_BRANCHES = frozenset(
    """br br_if br_table br_on_null br_on_non_null br_on_cast br_on_cast_fail
    br_on_cast_desc_eq br_on_cast_desc_eq_fail""".split()
)
_BLOCK_STARTS = frozenset("block loop if try try_table".split())
_REFERENCE = frozenset(
    """ref.null ref.is_null ref.func ref.eq ref.as_non_null ref.test ref.cast any.convert_extern
    extern.convert_any ref.i31 i31.get_s i31.get_u ref.get_desc ref.cast_desc_eq cont.new
    cont.bind""".split()
)
_MEMORY = frozenset("memory.size memory.grow memory.fill memory.copy memory.init memory.discard data.drop".split())
_MEMORY_WRITERS = frozenset("memory.fill memory.copy memory.init".split())


def _classify(name: str, prefix: int | None) -> str:
    """Coarse classification the instrumenter keys off.

    One of: control, call, parametric, variable, table, memory, load, store,
    atomic, const, reference, gc, simd, numeric.
    """
    if name in _CONTROL:
        return "control"
    if name in _CALLS:
        return "call"
    if name in ("drop", "select"):
        return "parametric"
    if name.startswith(("local.", "global.")):
        return "variable"
    if name.startswith("table.") or name == "elem.drop":
        return "table"
    if name in _MEMORY:
        return "memory"
    if name.startswith(("struct.", "array.")):
        return "gc"
    if name in _REFERENCE:
        return "reference"
    if ".atomic.rmw" in name or name.startswith(("memory.atomic.", "atomic.")):
        return "atomic"
    if ".load" in name:
        return "load"
    if ".store" in name:
        return "store"
    if name.endswith(".const"):
        return "const"
    if prefix == 0xFD:
        return "simd"
    return "numeric"


def _value_type(name: str, cat: str) -> str | None:
    if cat in ("load", "store", "atomic", "const") and name[:1] in "ifv" and "." in name:
        head = name.split(".", 1)[0]
        if head in ("i32", "i64", "f32", "f64", "v128"):
            return head
    return None


def _build() -> tuple[list[OpInfo | None], dict[int, dict[int, OpInfo]], dict[str, OpInfo]]:
    single: list[OpInfo | None] = [None] * 256
    prefixed: dict[int, dict[int, OpInfo]] = {p: {} for p in PREFIXES}
    by_name: dict[str, OpInfo] = {}
    groups: list[tuple[int | None, tuple[tuple[int, str, str, int], ...]]] = [
        (None, _SINGLE_BYTE),
        (0xFB, _PREFIX_FB),
        (0xFC, _PREFIX_FC),
        (0xFD, _PREFIX_FD),
        (0xFE, _PREFIX_FE),
    ]
    for prefix, rows in groups:
        for code, name, imm, width in rows:
            cat = _classify(name, prefix)
            info = OpInfo(name, prefix, code, imm, cat, width, _value_type(name, cat))
            if prefix is None:
                assert single[code] is None, name
                single[code] = info
            else:
                assert code not in prefixed[prefix], name
                prefixed[prefix][code] = info
            by_name.setdefault(name, info)
    return single, prefixed, by_name


SINGLE_BYTE, PREFIXED, OPCODES = _build()
"""``SINGLE_BYTE[b]``: info for one-byte opcodes; ``PREFIXED[prefix][sub]``; ``OPCODES[name]``."""


def op_info(name: str) -> OpInfo:
    """Look up an operator by its text-format name (KeyError if unknown)."""
    return OPCODES[name]


def category(name: str) -> str:
    """The operator's classification (see ``_classify``)."""
    return OPCODES[name].category


def is_load(name: str) -> bool:
    """True for every plain memory load (MVP, SIMD incl. lane/splat/zero, atomic loads)."""
    info = OPCODES.get(name)
    return info is not None and info.category == "load"


def is_store(name: str) -> bool:
    """True for every plain memory store (MVP, SIMD incl. lane stores, atomic stores).

    Atomic read-modify-write operators are category "atomic", not stores; use
    ``writes_memory`` to find every operator that can change linear memory.
    """
    info = OPCODES.get(name)
    return info is not None and info.category == "store"


def store_value_type(name: str) -> str:
    """Type of the value operand of a store: "i64.store32" -> "i64", "v128.store8_lane" -> "v128"."""
    info = OPCODES[name]
    if info.category != "store" or info.value_type is None:
        raise ValueError(f"{name} is not a store")
    return info.value_type


def load_value_type(name: str) -> str:
    """Type a load pushes: "i32.load8_u" -> "i32", "v128.load32_lane" -> "v128"."""
    info = OPCODES[name]
    if info.category != "load" or info.value_type is None:
        raise ValueError(f"{name} is not a load")
    return info.value_type


def access_size(name: str) -> int:
    """Bytes of linear memory a load/store/atomic touches (0 for other operators)."""
    return OPCODES[name].width


def writes_memory(name: str) -> bool:
    """True if the operator may modify linear memory (stores, atomic RMW, bulk ops)."""
    info = OPCODES.get(name)
    if info is None:
        return False
    if info.category == "store" or name in _MEMORY_WRITERS:
        return True
    return info.category == "atomic" and ".rmw" in name


def is_call(name: str) -> bool:
    """call, call_indirect, call_ref and their return_call tail variants."""
    return name in _CALLS


def is_branch(name: str) -> bool:
    """Operators with label immediates that may branch (br*, br_on_*)."""
    return name in _BRANCHES


def is_block_start(name: str) -> bool:
    """Operators that open a structured block closed by a later ``end``."""
    return name in _BLOCK_STARTS
