"""Capture + expansion gives the history a direct recording gives: the same chunks (block ids,
values, host events), the same frames and globals at every chunk boundary, the same outcome.

Each program is recorded twice through the real command line: `ttd record --direct` (one
instrumented run on WASI) and `ttd record` (the plain module captured, then re-executed with
its imports answered from the capture). The benchmark programs are also expanded by two
workers with small chunks, so segments are merged.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import wasmtime

from tests.support.cases import load_cases, prepared_dirs
from tests.support.recording import record, ttd
from ttd.store import codec
from ttd.store.trace_store import TraceStore

CASES = load_cases()
WAT_DIR = Path(__file__).resolve().parents[1] / "wat"
FAMILIES = sorted(p.stem for p in WAT_DIR.glob("*.wat"))
INFO_KEYS = ("exit_code", "trap", "trap_pc", "steps", "status", "invoke_results")
#: Imports whose answers differ from run to run: two runs of such a program are two histories.
NONDETERMINISTIC = {"random_get", "clock_time_get", "clock_res_get"}


def deterministic(wasm: Path) -> bool:
    module = wasmtime.Module(wasmtime.Engine(), wasm.read_bytes())
    return not any(i.name in NONDETERMINISTIC for i in module.imports)


def history(path: Path) -> tuple[dict, list, dict]:
    with TraceStore.open(path) as st:
        info = st.info()
        layout = info.get("values_layout", "bytes")
        chunks = []
        index = st.chunk_index()
        for row in index:
            c = st.chunk(row[0])
            chunks.append((tuple(row), codec.decompress(c.ids, 1 << 30),
                           codec.decompress_values(c.vals, 1 << 30, layout), codec.unpack(c.host)))
        boundaries = {}
        for seq in range(len(index) + 1):
            raw = st.checkpoint(seq)
            cp = codec.unpack(raw) if raw is not None else {}
            boundaries[seq] = (cp.get("frames"), cp.get("prev"), cp.get("globals"), cp.get("mem_sizes"),
                               cp.get("blocks"), cp.get("written_before"))
        return info, chunks, boundaries


def assert_same_history(direct: Path, expanded: Path) -> None:
    info_d, chunks_d, bounds_d = history(direct)
    info_e, chunks_e, bounds_e = history(expanded)
    assert {k: info_e.get(k) for k in INFO_KEYS} == {k: info_d.get(k) for k in INFO_KEYS}
    assert info_e["final"]["mem_sha256"] == info_d["final"]["mem_sha256"]
    assert info_e["final"]["globals"] == info_d["final"]["globals"]
    assert len(chunks_e) == len(chunks_d)
    for a, b in zip(chunks_d, chunks_e):
        assert a == b, f"chunk {a[0][0]} differs"
    assert bounds_e == bounds_d
    assert "kind" not in info_e  # a complete trace, no longer a capture


def _record_both(case, tmp_path: Path, smoke: bool, extra=()):
    with prepared_dirs(case) as dirs:
        cwd = Path(dirs[0][0]) if any(g == "." for _, g in dirs) else None
        args = case.run_args(smoke)
        direct = record(case.wasm_path.resolve(), tmp_path / "direct.db", args, env=dict(case.env),
                        dirs=dirs, stdin=case.stdin, cwd=cwd, extra=["--direct", *extra])
    with prepared_dirs(case) as dirs:
        cwd = Path(dirs[0][0]) if any(g == "." for _, g in dirs) else None
        expanded = record(case.wasm_path.resolve(), tmp_path / "expanded.db", args, env=dict(case.env),
                          dirs=dirs, stdin=case.stdin, cwd=cwd, extra=["--expand", *extra])
    return direct, expanded


@pytest.mark.parametrize("case", [c for c in CASES if not c.name.startswith("bench_")], ids=lambda c: c.name)
def test_program(case, tmp_path):
    smoke = case.smoke_args is not None
    direct, expanded = _record_both(case, tmp_path, smoke)
    assert expanded.returncode == direct.returncode == case.expected_exit_code, expanded.stderr
    assert expanded.stdout == direct.stdout == case.stdout_for(smoke)
    if deterministic(case.wasm_path):
        assert_same_history(direct.trace, expanded.trace)
        return
    # another run is another history (random_get, clocks): the capture's own history instead,
    # expanded again from a copy of the capture by two workers with small chunks
    with prepared_dirs(case) as dirs:
        cwd = Path(dirs[0][0]) if any(g == "." for _, g in dirs) else None
        cap = record(case.wasm_path.resolve(), tmp_path / "cap.db", case.run_args(smoke),
                     env=dict(case.env), dirs=dirs, stdin=case.stdin, cwd=cwd,
                     extra=["--capture-only", "--chunk-blocks", "256"])
    assert cap.returncode == case.expected_exit_code and cap.stdout == case.stdout_for(smoke)
    import shutil

    shutil.copyfile(cap.trace, tmp_path / "cap2.db")
    one = ttd("expand", "--jobs", "1", str(cap.trace))
    two = ttd("expand", "--jobs", "2", str(tmp_path / "cap2.db"))
    assert one.returncode == 0 and two.returncode == 0, one.stderr + two.stderr
    assert_same_history(cap.trace, tmp_path / "cap2.db")
    v = ttd("verify", str(tmp_path / "cap2.db"))
    assert v.returncode == 0, v.stdout.decode() + v.stderr.decode()


@pytest.mark.parametrize("case", [c for c in CASES if c.name in ("bench_sort", "bench_sieve", "bench_recurse",
                                                                 "bench_lz_o2")],
                         ids=lambda c: c.name)
def test_benchmark_in_two_workers(case, tmp_path):
    """Small chunks, two workers: segments fast-forward, record and merge into one history."""
    direct, expanded = _record_both(case, tmp_path, True, extra=["--chunk-blocks", "1024", "--jobs", "2"])
    assert expanded.returncode == direct.returncode == 0, expanded.stderr
    assert expanded.stdout == direct.stdout
    with TraceStore.open(expanded.trace) as st:
        info = st.info()
    assert info["expand_jobs"] == 2 and info["chunks"] >= 8
    assert_same_history(direct.trace, expanded.trace)
    v = ttd("verify", str(expanded.trace))
    assert v.returncode == 0, v.stdout.decode() + v.stderr.decode()


@pytest.mark.parametrize("name", FAMILIES)
def test_wat_family(name, tmp_path):
    wasm = tmp_path / f"{name}.wasm"
    wasm.write_bytes(wasmtime.wat2wasm((WAT_DIR / f"{name}.wat").read_text()))
    direct = record(wasm, tmp_path / "direct.db", extra=["--direct"])
    expanded = record(wasm, tmp_path / "expanded.db", extra=["--expand"])
    assert expanded.returncode == direct.returncode, expanded.stderr
    assert expanded.stdout == direct.stdout == (WAT_DIR / f"{name}.expected").read_text()
    assert_same_history(direct.trace, expanded.trace)
