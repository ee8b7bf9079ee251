"""Module parsing: every section kind, index spaces, names, and error reporting."""

from __future__ import annotations

import pytest

from ttd.wasm import (
    EXTERNREF,
    FUNCREF,
    CompositeType,
    FuncType,
    GlobalType,
    MemoryType,
    RefType,
    TableType,
    WasmError,
    parse_module,
    valtype_size,
)
from ttd.wasm.encode import encode_uleb, section, vec
from ttd.wasm.module import MAX_LOCALS

from .conftest import WAT_DIR
from .features import FEATURES
from .wasm_tools import reference_offsets

KITCHEN_SINK = """(module
 (import "env" "f" (func $imp (param i32) (result i64)))
 (import "env" "g" (global $g (mut i64)))
 (import "env" "m" (memory $m 1 2 shared))
 (import "env" "t" (table $t 3 funcref))
 (import "env" "tag" (tag $tg (param i32)))
 (memory $m64 i64 2 10)
 (memory $small 1 (pagesize 1))
 (table $t64 i64 4 externref)
 (table $ti 2 funcref (ref.func $f))
 (global $c i32 (i32.const 5))
 (global $d (mut f64) (f64.const 1.5))
 (tag $t2 (param i64))
 (func $f (param i32 f32) (result i32) (local i64 i64) (local v128) local.get 0)
 (func (export "g2") (call $f (i32.const 1) (f32.const 0)) drop)
 (start $f2)
 (func $f2)
 (elem (table $t) (i32.const 0) func $f $imp)
 (elem $p funcref (ref.func $f) (ref.null func))
 (elem declare func $f2)
 (elem (table $ti) (i32.const 1) funcref (ref.func $f2))
 (data (memory $m64) (i64.const 16) "abc")
 (data $pd "xyz")
 (func (data.drop $pd))
 (export "mem" (memory $m))
 (export "f" (func $f)))"""


@pytest.fixture(scope="module")
def sink(wat2wasm):
    data = wat2wasm(KITCHEN_SINK)
    return data, parse_module(data)


def test_imports_and_index_spaces(sink) -> None:
    data, m = sink
    assert [(i.module, i.name, i.kind) for i in m.imports] == [
        ("env", "f", "func"),
        ("env", "g", "global"),
        ("env", "m", "memory"),
        ("env", "t", "table"),
        ("env", "tag", "tag"),
    ]
    assert m.imports[0].desc == 0
    assert m.imports[1].desc == GlobalType("i64", True)
    assert m.imports[2].desc == MemoryType(1, 2, True, False)
    assert m.imports[3].desc == TableType(FUNCREF, 3, None, False)
    assert (m.num_imported_funcs, m.num_imported_globals, m.num_imported_memories) == (1, 1, 1)
    assert (m.num_imported_tables, m.num_imported_tags) == (1, 1)
    assert m.num_funcs == 5 and m.num_globals == 3 and m.num_memories == 3 and m.num_tables == 3
    assert m.func_type(0) == FuncType(("i32",), ("i64",))
    assert m.func_type(1) == FuncType(("i32", "f32"), ("i32",))
    assert m.func_type(2) == FuncType((), ())
    assert m.global_type(0) == GlobalType("i64", True)
    assert m.global_type(1) == GlobalType("i32", False)
    assert m.global_type(2) == GlobalType("f64", True)
    assert m.memory_type(0).shared
    assert m.memory_type(1) == MemoryType(2, 10, False, True)
    assert m.memory_type(2).page_size_log2 == 0
    assert m.table_type(1) == TableType(EXTERNREF, 4, None, True)
    assert m.tag_type(0) == FuncType(("i32",), ())
    assert m.tag_type(1) == FuncType(("i64",), ())
    for bad in (lambda: m.func_type(5), lambda: m.global_type(3), lambda: m.memory_type(-1)):
        with pytest.raises(WasmError):
            bad()


def test_globals_tables_start_tags(sink) -> None:
    data, m = sink
    g = m.globals[0]
    assert g.type == GlobalType("i32", False)
    assert data[g.init_offset : g.init_end] == b"\x41\x05\x0b"
    assert data[m.globals[1].init_offset] == 0x44 and data[m.globals[1].init_end - 1] == 0x0B
    assert m.tables[1] == TableType(FUNCREF, 2, None, False)
    assert m.table_inits[0] is None
    s, e = m.table_inits[1]
    assert data[s:e] == b"\xd2\x01\x0b"  # ref.func $f; end
    assert m.start == 3
    assert m.tags == [2]


def test_exports_and_names(sink) -> None:
    data, m = sink
    assert [(e.name, e.kind, e.index) for e in m.exports] == [("g2", "func", 2), ("mem", "memory", 0), ("f", "func", 1)]
    assert m.function_name(1) == "f"  # name section wins
    assert m.function_name(2) == "g2"  # export name
    assert m.function_name(4) == "func[4]"  # neither
    assert m.function_name(0) == "imp"
    assert m.export_of("func", 1) == ["f"]


def test_elements(sink) -> None:
    data, m = sink
    active, passive, declared, exprs = m.elements
    assert (active.mode, active.table, active.func_indices, active.item_exprs) == ("active", 0, (1, 0), None)
    s, e = active.offset_expr
    assert data[s:e] == b"\x41\x00\x0b"
    assert (passive.mode, passive.func_indices) == ("passive", (1, None))
    assert passive.offset_expr is None and len(passive.item_exprs) == 2
    assert (declared.mode, declared.func_indices) == ("declarative", (3,))
    assert (exprs.mode, exprs.table, exprs.func_indices, exprs.elem_type) == ("active", 2, (3,), FUNCREF)
    # segments tile the element section payload
    sec = m.section(9)
    assert active.offset == sec.start + 1 and exprs.end == sec.end


def test_data_segments(sink) -> None:
    data, m = sink
    a, p = m.data_segments
    assert (a.mode, a.memory) == ("active", 1)
    assert data[a.data_start : a.data_end] == b"abc"
    s, e = a.offset_expr
    assert data[s:e] == b"\x42\x10\x0b"
    assert (p.mode, p.offset_expr) == ("passive", None)
    assert data[p.data_start : p.data_end] == b"xyz"
    assert m.data_count == 2
    assert m.datas is m.data_segments


def test_bodies_and_locals(sink) -> None:
    data, m = sink
    b = m.body(1)
    assert (b.index, b.type_index) == (1, 3)
    assert b.locals == [(2, "i64"), (1, "v128")]
    assert b.local_types == ["i32", "f32", "i64", "i64", "v128"]
    assert b.offset < b.body_start == b.locals_start < b.code_start < b.end
    assert data[b.end - 1] == 0x0B
    assert [op.name for op in m.operators(1)] == ["local.get", "end"]
    assert m.function_at(b.code_start) is b
    assert m.function_at(b.end - 1) is b
    assert m.function_at(0) is None
    with pytest.raises(WasmError):
        m.body(0)  # imported


def test_sections_tile_the_file(sink) -> None:
    data, m = sink
    rebuilt = data[:8] + b"".join(m.section_bytes(s) for s in m.sections)
    assert rebuilt == data
    kinds = [s.kind for s in m.sections]
    assert kinds[:3] == ["type", "import", "function"]
    assert "datacount" in kinds and "tag" in kinds
    names = [s.name for s in m.custom_sections]
    assert "name" in names
    name_sec = m.custom("name")[0]
    assert name_sec.content_start == name_sec.start + 5  # "\x04name"


def test_valtype_helpers() -> None:
    assert [valtype_size(t) for t in ("i32", "i64", "f32", "f64", "v128")] == [4, 8, 4, 8, 16]
    assert valtype_size(FUNCREF) is None
    assert str(FUNCREF) == "funcref" and str(EXTERNREF) == "externref"
    assert str(RefType(True, 3)) == "(ref null 3)"
    assert str(RefType(False, "func")) == "(ref func)"
    assert str(RefType(True, "none")) == "nullref"


@pytest.mark.parametrize("path", sorted(WAT_DIR.glob("*.wat")), ids=lambda p: p.stem)
def test_wat_programs_parse(path, wat2wasm) -> None:
    m = parse_module(wat2wasm(path.read_text()))
    assert m.imports[0].name == "fd_write"
    assert any(e.name == "_start" and e.kind == "func" for e in m.exports)
    assert any(e.name == "memory" and e.kind == "memory" for e in m.exports)
    assert len(m.bodies) == len(m.functions) > 0
    for b in m.bodies:
        assert m.func_type(b.index).params == tuple(b.local_types[: len(m.func_type(b.index).params)])


def test_body_offsets_agree_with_wasm_tools(wat2wasm, wasm_tools: str) -> None:
    data = wat2wasm((WAT_DIR / "calls.wat").read_text())
    m = parse_module(data)
    ref = reference_offsets(data, wasm_tools)
    assert sorted(ref) == [b.body_start for b in m.bodies]
    for b in m.bodies:
        assert ref[b.body_start][0][0] == b.code_start


def test_gc_types_and_rec_groups(wat2wasm) -> None:
    data = wat2wasm(FEATURES["gc"])
    m = parse_module(data)
    kinds = [t.kind if isinstance(t, CompositeType) else "func" for t in m.types]
    assert kinds[:5] == ["struct", "array", "struct", "struct", "struct"]
    assert "func" in kinds
    # the rec group is one entry defining two types
    assert [e.count for e in m.type_entries][:4] == [1, 1, 2, 1]
    assert m.type_entries[2].first_index == 2
    sec = m.section(1)
    assert m.type_entries[0].offset == sec.start + 1 and m.type_entries[-1].end == sec.end
    fidx = m.bodies[0].index
    assert m.func_type(fidx) == FuncType((RefType(True, "any"),), ("i32",))
    assert m.bodies[0].local_types[1] == RefType(True, 0)
    with pytest.raises(WasmError, match="not a function type"):
        m.type_at(0)


# --- malformed input -------------------------------------------------------------------------

HEADER = b"\x00asm\x01\x00\x00\x00"


def _err(data: bytes) -> WasmError:
    with pytest.raises(WasmError) as ei:
        parse_module(data)
    return ei.value


def test_header_errors() -> None:
    assert "magic" in str(_err(b"\x00asn\x01\x00\x00\x00"))
    assert _err(b"\x00as").offset == 0
    assert "version" in str(_err(b"\x00asm\x02\x00\x00\x00"))
    e = _err(b"\x00asm\x0d\x00\x01\x00")
    assert "component" in str(e) and e.offset == 4
    assert parse_module(HEADER).bodies == []


def test_component_from_wasm_tools(wasm_tools: str, tmp_path) -> None:
    import subprocess

    wat = tmp_path / "c.wat"
    wat.write_text("(component)")
    out = tmp_path / "c.wasm"
    subprocess.run([wasm_tools, "parse", str(wat), "-o", str(out)], check=True)
    assert "component" in str(_err(out.read_bytes()))


def test_section_errors() -> None:
    types = section(1, vec([b"\x60\x00\x00"]))
    funcs = section(3, vec([b"\x00"]))
    code = section(10, vec([b"\x02\x00\x0b"]))
    good = HEADER + types + funcs + code
    assert len(parse_module(good).bodies) == 1
    assert "past end of file" in str(_err(HEADER + b"\x01\x10\x00"))
    assert "duplicate" in str(_err(HEADER + types + types))
    assert "out of order" in str(_err(HEADER + funcs + types))
    assert "unknown section id" in str(_err(HEADER + b"\x0e\x00"))
    assert "inconsistent" in str(_err(HEADER + types + funcs + section(10, vec([]))))
    assert "code section is missing" in str(_err(HEADER + types + funcs))
    assert "end opcode" in str(_err(HEADER + types + funcs + section(10, vec([b"\x02\x00\x01"])))).lower()
    e = _err(HEADER + section(1, vec([b"\x60\x00\x00"]) + b"\x00"))
    assert "size mismatch" in str(e)
    assert "invalid value type" in str(_err(HEADER + section(1, vec([b"\x60\x01\x10\x00"]))))
    assert "invalid type index" in str(_err(HEADER + types + section(3, vec([b"\x05"])) + code))


def test_data_count_mismatch() -> None:
    data = HEADER + section(12, b"\x02") + section(11, vec([b"\x01\x00"]))
    assert "data count" in str(_err(data))


def test_too_many_locals() -> None:
    types = section(1, vec([b"\x60\x00\x00"]))
    funcs = section(3, vec([b"\x00"]))
    locals_ = vec([encode_uleb(MAX_LOCALS) + b"\x7f", encode_uleb(1) + b"\x7f"])
    body = locals_ + b"\x0b"
    code = section(10, vec([encode_uleb(len(body)) + body]))
    assert "too many locals" in str(_err(HEADER + types + funcs + code))


def test_malformed_name_section_is_ignored() -> None:
    types = section(1, vec([b"\x60\x00\x00"]))
    funcs = section(3, vec([b"\x00"]))
    code = section(10, vec([b"\x02\x00\x0b"]))
    bad_names = section(0, b"\x04name" + b"\x01\x05\x01\x00\x09ab")  # name length runs off
    m = parse_module(HEADER + types + funcs + code + bad_names)
    assert m.func_names == {}
    assert m.function_name(0) == "func[0]"
    good_names = section(0, b"\x04name" + b"\x01\x05\x01\x00\x02ab")
    assert parse_module(HEADER + types + funcs + code + good_names).function_name(0) == "ab"
