"""Recording C programs (and zlib's own test program) behaves exactly like `wasmtime run`."""

from __future__ import annotations

import pytest

from tests.support.cases import load_cases, run_case_cli
from tests.support.recording import info_json, record, record_case, ttd

CASES = [c for c in load_cases() if not c.name.startswith("bench_")]
BENCH = [c for c in load_cases() if c.name.startswith("bench_")]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_record_reproduces_wasmtime_run_and_verifies(case, tmp_path):
    # A non-benchmark case with smoke_args (sqlite_driver: ~10^8 steps, a minute to record
    # and verify at its default size) is recorded at those; test_support_programs runs both.
    smoke = case.smoke_args is not None
    rec = record_case(case, tmp_path / f"{case.name}.db", smoke=smoke)
    assert rec.stdout == case.stdout_for(smoke)
    assert rec.returncode == case.expected_exit_code, rec.stderr
    info = info_json(rec.trace)
    assert info["exit_code"] == case.expected_exit_code
    assert info["status"] == "complete" and not info["partial"]
    assert info["steps"] > 1000
    assert len(info["module_sha256"]) == 64
    assert (info["trap"] is not None) == (case.expected_exit_code == 134)
    v = ttd("verify", str(rec.trace))
    assert v.returncode == 0, v.stdout.decode() + v.stderr.decode()
    assert b"OK:" in v.stdout


@pytest.mark.parametrize("case", BENCH, ids=lambda c: c.name)
def test_benchmark_programs_record_small(case, tmp_path):
    rec = record_case(case, tmp_path / f"{case.name}.db", smoke=True)
    assert rec.stdout == case.smoke_expected_stdout
    assert rec.returncode == 0
    assert ttd("verify", str(rec.trace)).returncode == 0


@pytest.mark.parametrize("mode", [(), ("--direct",), ("--capture-only",)], ids=lambda m: m[0] if m else "default")
def test_trap_is_reported_like_wasmtime(tmp_path, mode):
    """wasmtime's causes, the memory fault's address included, printed and kept in the trace."""
    case = next(c for c in CASES if c.name == "trap")
    live = run_case_cli(case)
    causes = [ln.strip() for ln in live.stderr.splitlines()
              if ln.strip().startswith(("2: memory fault at wasm address 0x", "3: wasm trap: "))]
    assert len(causes) == 2, live.stderr
    rec = record(case.wasm_path, tmp_path / "trap.db", extra=mode)
    assert rec.returncode == 134
    assert "read_balance" in rec.stderr  # the Wasm backtrace names the trapping function
    assert rec.stderr.splitlines()[-3:-1] == [f"    1: {causes[0].split(': ', 1)[1]}",
                                              f"    2: {causes[1].split(': ', 1)[1]}"], rec.stderr
    if mode == ("--capture-only",):
        assert ttd("expand", "--quiet", str(rec.trace)).returncode == 0
    info = info_json(rec.trace)
    fault, kind = (c.split(": ", 1)[1] for c in causes)
    assert info["trap"] == f"{fault}: {kind.removeprefix('wasm trap: ')}"
    assert isinstance(info["trap_pc"], int)


def test_info_names_the_files_the_program_opened(tmp_path):
    """What a shared trace reveals: the guest paths opened (names, not host paths)."""
    from tests.support.cases import get_case

    case = get_case("files")
    rec = record_case(case, tmp_path / "files.db")
    assert rec.returncode == 0, rec.stderr
    info = info_json(rec.trace)
    assert info["files"] == list(case.args), info["files"]  # as the program named it
    assert str(tmp_path) not in " ".join(info["files"] + info["dirs"])
    text = ttd("info", str(rec.trace)).stdout.decode()
    assert "files:" in text and "input.txt" in text
    assert info_json(record_case(get_case("fib"), tmp_path / "fib.db").trace)["files"] == []
