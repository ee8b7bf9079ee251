"""`ttd dap` leaves nothing behind: its `ttd serve` ends with the session, whether the client
disconnects or dies (an editor killed mid-session)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from tests.support.dap_client import DAPClient


def _ttd_processes_on(trace: Path) -> list[int]:
    """Pids of processes whose command line names this trace (the adapter's `ttd serve`)."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if str(trace).encode() in args and any(b"ttd" in a for a in args):
            out.append(int(pid))
    return out


def _gone(trace: Path, timeout: float = 15.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := _ttd_processes_on(trace)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


@pytest.mark.parametrize("how", ["disconnect", "client killed"])
def test_the_server_ends_with_the_session(dap_traces, tmp_path, how):
    trace = tmp_path / f"own-{how.replace(' ', '-')}.db"
    shutil.copy(dap_traces["fib_arg"], trace)
    c = DAPClient()
    try:
        c.launch(trace=str(trace), stop_reason="entry")
        c.stopped_after("next")
        assert _ttd_processes_on(trace), "the adapter serves the trace from a ttd process"
        if how == "disconnect":
            c.close()
        else:
            c.kill()  # node and its DebugClient die: the adapter's stdin closes
        assert _gone(trace) == []
    finally:
        c.close()
