"""Every instruction family wasmtime accepts by default records, runs unchanged, and verifies."""

from __future__ import annotations

from pathlib import Path

import pytest
import wasmtime

from tests.support.recording import record, ttd

WAT_DIR = Path(__file__).resolve().parents[1] / "wat"
FAMILIES = sorted(p.stem for p in WAT_DIR.glob("*.wat"))


@pytest.mark.parametrize("name", FAMILIES)
def test_family_records_and_verifies(name, tmp_path):
    wasm = tmp_path / f"{name}.wasm"
    wasm.write_bytes(wasmtime.wat2wasm((WAT_DIR / f"{name}.wat").read_text()))
    rec = record(wasm, tmp_path / f"{name}.db")
    assert rec.stdout == (WAT_DIR / f"{name}.expected").read_text()
    assert rec.returncode == (134 if name == "trap" else 0), rec.stderr
    v = ttd("verify", str(rec.trace))
    assert v.returncode == 0, v.stdout.decode() + v.stderr.decode()
