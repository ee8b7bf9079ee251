"""Traces the DAP end-to-end tests debug, recorded once per session through `ttd record`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cases import get_case
from tests.support.dap_client import require_node
from tests.support.lldb_session import require_lldb
from tests.support.recording import record, record_case

SRC = Path(__file__).resolve().parents[1] / "programs" / "src"


@pytest.fixture(scope="session")
def dap_traces(tmp_path_factory) -> dict[str, Path]:
    require_node()
    require_lldb()  # `ttd dap` drives LLDB: without its module the adapter cannot start
    out = {}
    for name in ("fib_arg", "trap", "wild"):
        rec = record_case(get_case(name), tmp_path_factory.mktemp(f"dap-{name}") / "t.db")
        assert rec.trace.is_file(), rec.stderr
        out[name] = rec.trace
    # read data breakpoints need the loads' addresses: `ttd record --reads`
    rec = record(get_case("wild").wasm_path.resolve(),
                 tmp_path_factory.mktemp("dap-wild-reads") / "t.db", extra=["--reads"])
    assert rec.trace.is_file(), rec.stderr
    out["wild_reads"] = rec.trace
    return out


def src(name: str) -> str:
    """The absolute path of a test program's source, as an editor would send it."""
    return str(SRC / name)
