"""LLDB sees the same program whether the trace stored memory at every chunk boundary or
rebuilt most of them from recorded stores (a sieve in tiny chunks skips most snapshots)."""

from __future__ import annotations

import pytest

from tests.support.cases import get_case
from tests.support.lldb_session import LLDBSession, require_lldb
from tests.support.recording import record
from tests.support.serve import ttd_serve
from ttd.replay.trace import Trace
from ttd.store.trace_store import TraceStore

SIEVE = get_case("bench_sieve")


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    require_lldb()
    tmp = tmp_path_factory.mktemp("sparse")
    out = {}
    for name, extra in (("dense", []), ("sparse", ["--chunk-blocks", "256"])):
        rec = record(SIEVE.wasm_path.resolve(), tmp / f"{name}.db", ["30000"], extra=extra)
        assert rec.returncode == 0, rec.stderr
        out[name] = rec.trace
    with TraceStore.open(out["sparse"]) as store:
        trace = Trace(store)
        skipped = sum(not trace.has_snapshot(c[0]) for c in trace.chunks)
        assert skipped > len(trace.chunks) // 2
    with TraceStore.open(out["dense"]) as store:
        trace = Trace(store)
        assert all(trace.has_snapshot(c[0]) for c in trace.chunks)
    return out


def _session(trace) -> list[str]:
    shown = []
    with ttd_serve(trace) as srv, LLDBSession(SIEVE.wasm_path, srv.port) as s:
        s.break_line("bench_sieve.c", 22)  # composite[j] = 1
        for _ in range(300):
            s.cont()
        shown += [s.run_command("frame variable"), s.run_command("memory read --count 256 composite")]
        for _ in range(7):
            s.run_command("process continue -R")
            s.stop()
        shown += [s.run_command("frame variable"), s.run_command("memory read --count 256 composite")]
        s.run_command("breakpoint delete --force")
        s.run_command("breakpoint set --file bench_sieve.c --line 27")  # the sieve is done
        s.run_command("process continue -F")  # LLDB keeps going backwards otherwise
        stop = s.stop()
        assert stop.function == "main" and stop.line == 27, stop
        shown += [s.run_command("frame variable"),
                  s.run_command("memory read --count 256 composite+29000")]
    return shown


def test_lldb_shows_the_same_with_sparse_snapshots(traces):
    dense, sparse = _session(traces["dense"]), _session(traces["sparse"])
    assert "01 00 01 00" in dense[1]  # the even numbers are marked by then
    assert dense[0] != dense[2]  # seven writes back, j was smaller
    assert "error" not in dense[5] and " 01 " in dense[5]  # the finished sieve, high up
    assert sparse == dense
