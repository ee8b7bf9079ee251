"""`ttd info` and `ttd serve` on a trace whose recorder is still running, or was killed (issue 13).

The recording is real: stdin_wc.wasm waits on a stdin pipe the test keeps open, after the
writer committed what the program ran so far (it commits within a second when idle).
"""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest

from tests.support.cases import PROGRAMS_DIR
from tests.support.recording import TTD, info_json, ttd
from ttd.store.recording_lock import is_being_recorded

WC = PROGRAMS_DIR / "stdin_wc.wasm"


def _start(out):
    return subprocess.Popen([*TTD, "record", "--direct", "--quiet", "--chunk-blocks", "16", "--out", str(out),
                             str(WC)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def _wait_for_steps(out, proc, timeout=60.0) -> dict:
    """Until `ttd info` sees committed steps of the live recording."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode()
        if out.exists() and out.stat().st_size:
            p = ttd("info", "--json", str(out))
            if p.returncode == 0:
                info = json.loads(p.stdout)
                if info["steps"] > 0:
                    return info
        time.sleep(0.2)
    pytest.fail("the live recording never committed steps")


def _serve(out) -> tuple[str, list[str]]:
    """`ttd serve` until its banner: (the banner, what it wrote on stderr)."""
    serve = subprocess.Popen([*TTD, "serve", "--port", "0", str(out)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        banner = serve.stdout.readline().decode()
        assert banner.startswith("ttd: serving "), banner
    finally:
        serve.send_signal(signal.SIGINT)
        serve.wait(timeout=60)
    err = serve.stderr.read().decode().splitlines()
    serve.stdout.close()
    serve.stderr.close()
    assert not any("Traceback" in line for line in err), err
    return banner, err


@pytest.fixture
def live(tmp_path):
    out = tmp_path / "live.db"
    proc = _start(out)
    try:
        proc.stdin.write(b"the quick brown fox\njumps over the lazy dog\n")
        proc.stdin.flush()  # the program counts these, then waits for more
        yield out, proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=60)
        for f in (proc.stdin, proc.stdout, proc.stderr):
            f.close()


def test_info_and_serve_while_recording(live):
    out, proc = live
    info = _wait_for_steps(out, proc)
    assert info["status"] == "recording" and info["in_progress"] is True
    assert is_being_recorded(out)
    steps = info["steps"]

    text = ttd("info", str(out))
    assert text.returncode == 0, text.stderr.decode()
    rows = dict(line.split(":", 1) for line in text.stdout.decode().splitlines())
    assert rows["status"].strip() == f"recording (in progress: {steps:,} steps so far)"
    assert rows["outcome"].strip() == "unknown (still recording)"

    banner, notice = _serve(out)
    assert f"({steps:,} steps)" in banner, banner
    assert notice[0] == (f"ttd: {out} is still being recorded: serving the {steps:,} steps "
                         f"recorded so far"), notice

    # the end of input ends the program: the same file, now complete and no longer held
    proc.stdin.write(b"one more line\n")
    proc.stdin.close()
    assert proc.wait(timeout=120) == 0
    assert proc.stdout.read() == b"lines=3 words=12 bytes=58\n"
    assert not is_being_recorded(out)
    done = info_json(out)
    assert done["status"] == "complete" and done["in_progress"] is False and done["steps"] > steps
    banner, notice = _serve(out)
    assert f"({done['steps']:,} steps)" in banner, banner
    assert not any("still being recorded" in line for line in notice), notice


def test_info_after_the_recorder_was_killed(live):
    out, proc = live
    _wait_for_steps(out, proc)
    proc.kill()
    proc.wait(timeout=60)
    assert not is_being_recorded(out)
    info = info_json(out)
    assert info["status"] == "recording" and info["in_progress"] is False and info["steps"] > 0
    text = ttd("info", str(out)).stdout.decode()
    assert "status:    recording (partial trace)" in text
    assert "outcome:   unknown (recording did not finish)" in text


def test_info_serve_and_expand_while_capturing(tmp_path):
    """A capture being written: info says so, and neither serve nor expand reads half a run."""
    out = tmp_path / "live.db"
    proc = subprocess.Popen([*TTD, "record", "--quiet", "--capture-only", "--out", str(out), str(WC)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        proc.stdin.write(b"the quick brown fox\njumps over the lazy dog\n")
        proc.stdin.flush()
        deadline = time.monotonic() + 60
        while True:  # until the calls so far are committed (within FLUSH_EVERY)
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the live capture never committed calls"
            if out.exists() and out.stat().st_size:
                p = ttd("info", "--json", str(out))
                if p.returncode == 0 and (json.loads(p.stdout).get("calls") or 0) > 0:
                    info = json.loads(p.stdout)
                    break
            time.sleep(0.2)
        assert info["kind"] == "capture" and info["status"] == "recording" and info["in_progress"]
        assert is_being_recorded(out)
        for cmd, want in ((["expand", "--quiet"], "being captured or expanded by another ttd"),
                          (["verify", "--quiet"], "still being captured")):
            p = ttd(*cmd, str(out))
            err = p.stderr.decode().strip()
            assert p.returncode != 0 and "Traceback" not in err and len(err.splitlines()) == 1, err
            assert want in err, err
        proc.stdin.write(b"one more line\n")
        proc.stdin.close()
        assert proc.wait(timeout=120) == 0
        assert proc.stdout.read() == b"lines=3 words=12 bytes=58\n"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=60)
        for f in (proc.stdout, proc.stderr):
            f.close()
    assert info_json(out)["status"] == "complete"
    e = ttd("expand", "--quiet", str(out))
    assert e.returncode == 0, e.stderr.decode()
    assert info_json(out)["steps"] > 0
