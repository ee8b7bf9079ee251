"""An interrupted recording leaves a trace that opens and verifies up to its last chunk; an
interrupted expansion leaves the capture, which `ttd expand` completes later."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from tests.support.cases import PROGRAMS_DIR
from tests.support.recording import TTD, info_json, ttd


def _start(out, *extra, n="950000"):
    # ~10^9 steps: several seconds of recording, so the signal lands mid-run
    return subprocess.Popen([*TTD, "record", "--quiet", *extra, "--out", str(out),
                             str(PROGRAMS_DIR / "bench_sort.wasm"), "--", n],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_for_chunks(out, proc, timeout=60.0, what="recording"):
    """Until a file (out, or the expansion's temporary file beside it) has a few committed
    chunks, so there is something to keep."""
    import sqlite3

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        files = [out] if what == "recording" else out.parent.glob(f".{out.name}.*.expand")
        for path in files:
            try:
                con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.1)
                n = con.execute("select count(*) from chunks").fetchone()[0]
                con.close()
                if n >= 3:
                    return
            except sqlite3.Error:
                pass
        time.sleep(0.05)
    pytest.fail(f"the {what} never committed chunks")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_interrupted_recording_keeps_a_usable_trace(tmp_path, sig):
    out = tmp_path / "t.db"
    proc = _start(out, "--direct")
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


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_interrupted_expansion_keeps_the_capture(tmp_path, sig):
    """The program had finished (the capture is complete): stopping its expansion loses
    nothing, and `ttd expand` builds the same trace later."""
    out = tmp_path / "t.db"
    proc = _start(out, "--jobs", "1", n="300000")  # ~3*10^8 steps: seconds to expand
    _wait_for_chunks(out, proc, what="expansion")
    proc.send_signal(sig)
    rc = proc.wait(timeout=120)
    err = proc.stderr.read().decode()
    assert "Traceback" not in err
    if sig == signal.SIGINT:
        assert rc == 130
        assert "the capture is kept in" in err
        assert not list(tmp_path.glob(".t.db.*"))  # its temporary trace removed
    else:
        assert rc == -signal.SIGKILL
    info = info_json(out)
    assert info["kind"] == "capture" and info["status"] == "complete" and info["exit_code"] == 0
    e = ttd("expand", "--quiet", str(out))
    assert e.returncode == 0, e.stderr.decode()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.db"]  # a killed one's files too
    info = info_json(out)
    assert info["kind"] == "expanded" and info["status"] == "complete" and info["steps"] > 10**8
