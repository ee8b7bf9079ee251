"""An interrupted recording leaves a trace that opens and verifies up to its last chunk."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from tests.support.cases import PROGRAMS_DIR
from tests.support.recording import TTD, info_json, ttd


def _start(out):
    # ~10^9 steps: several seconds of recording, so the signal lands mid-run
    return subprocess.Popen([*TTD, "record", "--quiet", "--out", str(out),
                             str(PROGRAMS_DIR / "bench_sort.wasm"), "--", "950000"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_for_chunks(out, proc, timeout=60.0):
    """Until the trace has a few committed chunks (so there is something to keep)."""
    import sqlite3

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            con = sqlite3.connect(f"file:{out}?mode=ro", uri=True, timeout=0.1)
            n = con.execute("select count(*) from chunks").fetchone()[0]
            con.close()
            if n >= 3:
                return
        except sqlite3.Error:
            pass
        time.sleep(0.05)
    pytest.fail("the recording never committed chunks")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_interrupted_recording_keeps_a_usable_trace(tmp_path, sig):
    out = tmp_path / "t.db"
    proc = _start(out)
    _wait_for_chunks(out, proc)
    proc.send_signal(sig)
    rc = proc.wait(timeout=120)
    assert rc == (130 if sig == signal.SIGINT else -signal.SIGKILL)
    assert b"Traceback" not in proc.stderr.read()
    info = info_json(out)
    assert info["partial"] is True
    assert info["status"] == ("interrupted" if sig == signal.SIGINT else "recording")
    assert info["steps"] > 0
    v = ttd("verify", str(out))
    assert v.returncode == 0, v.stdout.decode() + v.stderr.decode()
