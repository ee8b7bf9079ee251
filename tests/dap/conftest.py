from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.lldb_session import require_lldb
from tests.support.recording import record

PROGRAMS = Path(__file__).resolve().parents[1] / "programs"
SRC = str(PROGRAMS / "src")


def _record(factory, name: str, args=()) -> Path:
    require_lldb()
    rec = record(PROGRAMS / f"{name}.wasm", factory.mktemp(name) / f"{name}.db", list(args))
    assert rec.trace.exists(), rec.stderr
    return rec.trace


@pytest.fixture(scope="session")
def fib_trace(tmp_path_factory) -> Path:
    return _record(tmp_path_factory, "fib")


@pytest.fixture(scope="session")
def trap_trace(tmp_path_factory) -> Path:
    return _record(tmp_path_factory, "trap")


@pytest.fixture
def dap():
    from tests.dap.wire import WireClient

    c = WireClient.stdio()
    yield c
    try:
        c.send("disconnect")
    except OSError:
        pass
    c.close()


def launch(trace: Path, **extra) -> dict:
    """A launch configuration whose DWARF names (src/x.c) map to tests/programs/src."""
    return {"type": "ttd", "request": "launch", "trace": str(trace),
            "sourceMap": {"src": SRC}, **extra}
