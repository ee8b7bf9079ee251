from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.support.recording import TTD

PROGRAMS = Path(__file__).resolve().parents[1] / "programs"

#: The real traces every mutant starts from: (program, --chunk-blocks). Small chunks give
#: many chunk boundaries, checkpoints and page versions to damage in a small file; heap
#: grows memory and frees it, trap ends inside a block cut short by the trap.
SEEDS = {
    "fib": ("fib.wasm", 512),
    "heap": ("heap.wasm", 8192),
    "trap": ("trap.wasm", 512),
}


def _normalise(path: Path) -> None:
    """Same bytes every session: fixed recording time, then VACUUM lays the file out afresh."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    try:
        conn.execute("UPDATE trace_info SET value='\"2026-01-01T00:00:00+00:00\"' WHERE key='recorded_at'")
        conn.execute("UPDATE trace_info SET value='1.0' WHERE key='record_seconds'")
        conn.execute("VACUUM")
    finally:
        conn.close()


@pytest.fixture(scope="session")
def seed_traces(tmp_path_factory) -> dict[str, Path]:
    """The seed traces, recorded once per session through the real command line."""
    out = tmp_path_factory.mktemp("fuzz-seeds")
    procs = {}
    for name, (program, chunk_blocks) in SEEDS.items():
        path = out / f"{name}.db"
        procs[name] = (path, subprocess.Popen(
            [*TTD, "record", "--quiet", "--force", "--chunk-blocks", str(chunk_blocks),
             "--out", str(path), str(PROGRAMS / program)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=out))
    traces = {}
    for name, (path, proc) in procs.items():
        _out, err = proc.communicate(timeout=300)
        assert path.exists() and b"trace:" in err, f"recording {name} failed: {err.decode()}"
        _normalise(path)
        traces[name] = path
    return traces
