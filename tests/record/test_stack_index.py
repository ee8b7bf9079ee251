"""Frames walked while recording (record/stack_index.py) are the frames the indexer walks
afterwards from the stored chunks: every checkpoint of a recorded trace is unchanged when
`index_trace` indexes a copy of it again. Small chunks, so most boundaries fall mid-call; the
WAT families cover the exact block-by-block walk (exceptions, traps, tail calls)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import wasmtime

from tests.support.cases import load_cases
from ttd.record.indexer import index_trace
from ttd.record.recorder import RecordOptions, Recorder
from ttd.store.trace_store import TraceStore

WAT_DIR = Path(__file__).resolve().parents[1] / "wat"
FAMILIES = sorted(p.stem for p in WAT_DIR.glob("*.wat"))
CASES = {c.name: c for c in load_cases()}


def record(wasm: Path, out: Path, args: tuple[str, ...], env: dict, chunk_blocks: int) -> Path:
    """In this process (a recording of these is shorter than an interpreter's start)."""
    Recorder(RecordOptions(program=wasm, args=list(args), env=list(env.items()), out=out,
                           quiet=True, id_cap=4 * chunk_blocks)).run()
    return out


def checkpoints(path: Path) -> dict[int, bytes | None]:
    with TraceStore.open(path) as st:
        n = len(st.chunk_index())
        return {seq: st.checkpoint(seq) for seq in range(n + 1)}


def assert_indexed_alike(trace: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.db"
    shutil.copyfile(trace, again)
    with TraceStore.open(trace) as st:
        last_pc = st.info()["final"]["last_pc"]
    assert index_trace(again, quiet=True) == last_pc
    walked, indexed = checkpoints(trace), checkpoints(again)
    assert len(walked) > 2
    assert walked == indexed


@pytest.mark.parametrize("name", FAMILIES)
def test_wat_family(name: str, tmp_path: Path) -> None:
    wasm = tmp_path / f"{name}.wasm"
    wasm.write_bytes(wasmtime.wat2wasm((WAT_DIR / f"{name}.wat").read_text()))
    # blocks per chunk: most boundaries mid-call; tailcall runs ~2.4M blocks, fewer chunks there
    chunk_blocks = 1024 if name == "tailcall" else 16
    assert_indexed_alike(record(wasm, tmp_path / "t.db", (), {}, chunk_blocks), tmp_path)


@pytest.mark.parametrize("name", ["fib", "trap", "opstack", "wild"])
def test_program(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    assert case.stdin is None and not case.dirs
    args = case.run_args(case.smoke_args is not None)
    assert_indexed_alike(record(case.wasm_path.resolve(), tmp_path / "t.db", args, dict(case.env), 64),
                         tmp_path)
