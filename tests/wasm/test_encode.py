"""Writer helpers: canonical encodings that round-trip through the parser and wasmtime."""

from __future__ import annotations

import pytest

from ttd.wasm import (
    EXTERNREF,
    FUNCREF,
    Export,
    FuncType,
    GlobalType,
    Import,
    MemoryType,
    RefType,
    TableType,
    iter_operators,
    parse_module,
)
from ttd.wasm.encode import (
    HEADER,
    custom_section,
    encode_blocktype,
    encode_export,
    encode_func_body,
    encode_functype,
    encode_global_type,
    encode_heaptype,
    encode_import,
    encode_limits,
    encode_memarg,
    encode_memory_type,
    encode_sleb,
    encode_table_type,
    encode_uleb,
    encode_valtype,
    name,
    section,
    vec,
)
from ttd.wasm.valtypes import read_blocktype, read_heaptype, read_valtype

from .test_module import KITCHEN_SINK


def test_basic_helpers() -> None:
    assert section(1, b"abc") == b"\x01\x03abc"
    assert section(10, b"x" * 200)[:3] == b"\x0a\xc8\x01"
    assert vec([b"a", b"bc"]) == b"\x02abc"
    assert vec([]) == b"\x00"
    assert name("héllo") == b"\x06h\xc3\xa9llo"
    assert custom_section("name", b"\x00") == b"\x00\x06\x04name\x00"
    assert encode_limits(1) == b"\x00\x01"
    assert encode_limits(1, 2, shared=True) == b"\x03\x01\x02"
    assert encode_limits(1, None, is64=True) == b"\x04\x01"
    assert encode_limits(1, None, page_size_log2=0) == b"\x08\x01\x00"
    assert encode_memarg(2, 16) == b"\x02\x10"
    assert encode_memarg(3, 0, memory=2) == b"\x43\x02\x00"
    assert encode_blocktype(None) == b"\x40"
    assert encode_blocktype("i64") == b"\x7e"
    assert encode_blocktype(130) == b"\x82\x01"


@pytest.mark.parametrize(
    "vt",
    ["i32", "i64", "f32", "f64", "v128", FUNCREF, EXTERNREF, RefType(False, "func"), RefType(True, 5),
     RefType(False, 300), RefType(True, "i31"), RefType(False, "exn"), RefType(True, "shared any")],
)  # fmt: skip
def test_valtype_roundtrip(vt) -> None:
    enc = encode_valtype(vt)
    assert read_valtype(enc, 0) == (vt, len(enc))
    assert read_blocktype(encode_blocktype(vt), 0) == (vt, len(enc))
    if not isinstance(vt, str):
        h = encode_heaptype(vt.heap)
        assert read_heaptype(h, 0) == (vt.heap, len(h))


def test_functype() -> None:
    ft = FuncType(("i32", FUNCREF), ("i64",))
    assert encode_functype(ft) == b"\x60\x02\x7f\x70\x01\x7e"
    with pytest.raises(ValueError):
        encode_valtype("i8")


def test_reencoding_matches_original_sections(wat2wasm) -> None:
    """Sections rebuilt from the parsed entities are byte-identical to wat's output."""
    data = wat2wasm(KITCHEN_SINK)
    m = parse_module(data)

    def payload(sid: int) -> bytes:
        s = m.section(sid)
        assert s is not None
        return data[s.start : s.end]

    assert vec([encode_functype(m.type_at(i)) for i in range(len(m.types))]) == payload(1)
    assert vec([encode_import(i) for i in m.imports]) == payload(2)
    assert vec([encode_uleb(t) for t in m.functions]) == payload(3)
    assert vec([encode_memory_type(mt) for mt in m.memories]) == payload(5)
    assert vec([encode_export(e) for e in m.exports]) == payload(7)
    globals_ = [encode_global_type(g.type) + data[g.init_offset : g.init_end] for g in m.globals]
    assert vec(globals_) == payload(6)
    tables = []
    for tt, init in zip(m.tables, m.table_inits):
        enc = encode_table_type(tt)
        tables.append(enc if init is None else b"\x40\x00" + enc + data[init[0] : init[1]])
    assert vec(tables) == payload(4)
    bodies = [encode_func_body(b.locals, data[b.code_start : b.end]) for b in m.bodies]
    assert vec(bodies) == payload(10)
    # whole-entry copies of type-section entries also rebuild the section
    assert vec([data[e.offset : e.end] for e in m.type_entries]) == payload(1)


def test_build_and_run_a_module(tmp_path) -> None:
    """A WASI hello-world assembled only with the encode helpers runs under wasmtime."""
    wasmtime = pytest.importorskip("wasmtime")
    fd_write = FuncType(("i32", "i32", "i32", "i32"), ("i32",))
    start = FuncType((), ())
    msg = b"hello from encode\n"
    # iovec at 0: {ptr=16, len=len(msg)}; message at 16
    code = (
        b"\x41\x00" + b"\x41\x10" + b"\x36" + encode_memarg(2, 0)  # i32.store [0] = 16
        + b"\x41\x00" + b"\x41" + encode_sleb(len(msg)) + b"\x36" + encode_memarg(2, 4)
        + b"\x02" + encode_blocktype(None)
        + b"\x41\x01\x41\x00\x41\x01\x41\x08\x10\x00\x1a"  # fd_write(1, 0, 1, 8); drop
        + b"\x0b"
        + b"\x0b"
    )  # fmt: skip
    module = (
        HEADER
        + section(1, vec([encode_functype(fd_write), encode_functype(start)]))
        + section(2, vec([encode_import(Import("wasi_snapshot_preview1", "fd_write", "func", 0))]))
        + section(3, vec([encode_uleb(1)]))
        + section(5, vec([encode_memory_type(MemoryType(1, None, False, False))]))
        + section(6, vec([encode_global_type(GlobalType("i32", True)) + b"\x41\x2a\x0b"]))
        + section(7, vec([encode_export(Export("memory", "memory", 0)), encode_export(Export("_start", "func", 1))]))
        + section(10, vec([encode_func_body([(1, "i64")], code)]))
        + section(11, vec([b"\x00\x41\x10\x0b" + encode_uleb(len(msg)) + msg]))
        + custom_section("name", b"\x01" + encode_uleb(len(b"\x01\x01" + name("main"))) + b"\x01\x01" + name("main"))
    )
    m = parse_module(module)
    assert m.function_name(1) == "main"
    assert m.bodies[0].local_types == ["i64"]
    assert [op.name for op in iter_operators(module, m.bodies[0].code_start, m.bodies[0].end)][-3:] == [
        "drop",
        "end",
        "end",
    ]
    engine = wasmtime.Engine()
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    store = wasmtime.Store(engine)
    wasi = wasmtime.WasiConfig()
    out = tmp_path / "out.txt"
    wasi.stdout_file = str(out)
    store.set_wasi(wasi)
    inst = linker.instantiate(store, wasmtime.Module(engine, module))
    inst.exports(store)["_start"](store)
    assert out.read_bytes() == msg


def test_table_type_encoding() -> None:
    assert encode_table_type(TableType(FUNCREF, 1, 10, False)) == b"\x70\x01\x01\x0a"
    assert encode_table_type(TableType(RefType(False, 2), 0, None, True)) == b"\x64\x02\x04\x00"
