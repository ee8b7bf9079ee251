"""Bad input is one line on stderr and a non-zero exit: never a traceback, never a trace."""

from __future__ import annotations

import shutil

import pytest
import wasmtime

from tests.support.cases import PROGRAMS_DIR
from tests.support.recording import record, ttd


def _err(p) -> str:
    text = p.stderr.decode()
    assert "Traceback" not in text
    assert text.startswith("ttd: error: "), text
    assert text.count("\n") == 1, text
    return text


def _wat(tmp_path, name: str, text: str):
    path = tmp_path / f"{name}.wasm"
    path.write_bytes(wasmtime.wat2wasm(text))
    return path


def test_missing_program(tmp_path):
    p = ttd("record", "--out", str(tmp_path / "t.db"), str(tmp_path / "nope.wasm"))
    assert p.returncode != 0
    assert "no such file" in _err(p)
    assert not (tmp_path / "t.db").exists()


@pytest.mark.parametrize("content", [b"hello\n", b"\0asm\x01\0\0\0\x01\x05", b""])
def test_invalid_modules(tmp_path, content):
    bad = tmp_path / "bad.wasm"
    bad.write_bytes(content)
    p = ttd("record", "--out", str(tmp_path / "t.db"), str(bad))
    assert p.returncode != 0
    assert "not a valid WebAssembly module" in _err(p)
    assert not (tmp_path / "t.db").exists()


def test_unsupported_opcode_names_it_and_its_offset(tmp_path):
    wasm = _wat(tmp_path, "atomics", '(module (memory 1 1 shared) (func (export "_start") '
                                     "(drop (i32.atomic.load (i32.const 0)))))")
    p = ttd("record", "--out", str(tmp_path / "t.db"), str(wasm))
    assert p.returncode != 0
    msg = _err(p)
    assert "i32.atomic.load" in msg and "0xfe 0x10" in msg and "at offset 0x" in msg
    assert not (tmp_path / "t.db").exists()


def test_unknown_import(tmp_path):
    wasm = _wat(tmp_path, "imp", '(module (import "env" "f" (func)) (func (export "_start") call 0))')
    p = ttd("record", "--out", str(tmp_path / "t.db"), str(wasm))
    assert "env::f" in _err(p)


def test_invoke_checks_before_recording(tmp_path):
    wasm = _wat(tmp_path, "add", '(module (func (export "add") (param i32 i32) (result i32) '
                                 "local.get 0 local.get 1 i32.add))")
    out = tmp_path / "t.db"
    assert "no _start" in _err(ttd("record", "--out", str(out), str(wasm)))
    assert "takes 2 arguments" in _err(ttd("record", "--out", str(out), "--invoke", "add", str(wasm), "1"))
    assert not out.exists()
    rec = record(wasm, out, ["2", "40"], extra=["--invoke", "add"])
    assert rec.returncode == 0 and rec.stdout == "42\n"
    assert ttd("verify", str(out)).returncode == 0


def test_existing_trace_is_not_clobbered(tmp_path):
    out = tmp_path / "t.db"
    out.write_bytes(b"precious")
    p = ttd("record", "--out", str(out), str(PROGRAMS_DIR / "exit3.wasm"))
    assert "already exists" in _err(p)
    assert out.read_bytes() == b"precious"


@pytest.mark.parametrize("command", ["info", "verify"])
def test_foreign_and_broken_traces(tmp_path, command):
    text = tmp_path / "notes.txt"
    text.write_text("not a trace\n")
    assert ttd(command, str(text)).returncode != 0
    assert "not a ttd trace" in _err(ttd(command, str(text)))
    assert "no such" in _err(ttd(command, str(tmp_path / "missing.db")))
    rec = record(PROGRAMS_DIR / "fib.wasm", tmp_path / "good.db")
    data = rec.trace.read_bytes()
    trunc = tmp_path / "trunc.db"
    trunc.write_bytes(data[: len(data) // 3])
    before = trunc.read_bytes()
    p = ttd(command, str(trunc))
    assert p.returncode != 0
    _err(p)
    assert trunc.read_bytes() == before


def test_corrupted_chunk_fails_verify(tmp_path):
    import sqlite3

    rec = record(PROGRAMS_DIR / "fib.wasm", tmp_path / "good.db")
    bad = tmp_path / "bad.db"
    shutil.copy(rec.trace, bad)
    con = sqlite3.connect(bad)
    row = con.execute("select seq, vals from chunks order by seq limit 1").fetchone()
    vals = bytearray(row[1])
    vals[len(vals) // 2] ^= 0xFF
    con.execute("update chunks set vals=? where seq=?", (bytes(vals), row[0]))
    con.commit()
    con.close()
    p = ttd("verify", str(bad))
    assert p.returncode != 0
    assert "Traceback" not in p.stderr.decode()
    assert b"checksum" in p.stdout + p.stderr


def test_atomic_store_is_refused_too(tmp_path):
    wasm = _wat(tmp_path, "atomic_store", '(module (memory 1 1 shared) (func (export "_start") '
                                          "(i32.atomic.store (i32.const 0) (i32.const 1))))")
    p = ttd("record", "--out", str(tmp_path / "t.db"), str(wasm))
    assert "i32.atomic.store" in _err(p)


def test_a_trace_without_steps_is_refused_by_query_and_serve(tmp_path):
    """What a recorder killed before its first commit leaves: no chunks at all."""
    import sqlite3

    rec = record(PROGRAMS_DIR / "fib.wasm", tmp_path / "good.db")
    empty = tmp_path / "empty.db"
    shutil.copy(rec.trace, empty)
    con = sqlite3.connect(empty)
    con.execute("delete from chunks")
    con.commit()
    con.close()
    for cmd in (["query", str(empty), "at", "0"], ["serve", str(empty), "--port", "0"]):
        p = ttd(*cmd, timeout=60)
        assert p.returncode != 0
        assert "no steps" in _err(p), p
