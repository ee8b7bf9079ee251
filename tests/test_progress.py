"""Progress lines: rewritten in place on a terminal, plain lines in a log."""

from __future__ import annotations

import io

import pytest

from tests.support.cases import PROGRAMS_DIR
from tests.support.recording import ttd
from ttd import progress
from ttd.progress import ProgressLine


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: now[0])
    return now


def test_a_terminal_gets_one_line_rewritten(clock):
    out = _Terminal()
    line = ProgressLine("recording", stream=out, delay=0.5)
    for i in range(10):
        clock[0] += 0.3
        line.show(f"{i}")
    line.done()
    text = out.getvalue()
    assert text.count("\r") > 1 and text.count("\n") == 1 and text.endswith("\n")


def test_a_log_gets_plain_lines_now_and_then(clock):
    out = io.StringIO()
    line = ProgressLine("recording", stream=out, delay=0.5)
    for i in range(100):  # 30 s of updates every 0.3 s
        clock[0] += 0.3
        line.show(f"{i}")
    line.show("last", force=True)
    line.done()
    lines = out.getvalue().splitlines(keepends=True)
    assert "\r" not in out.getvalue()
    assert 3 <= len(lines) <= 1 + 30 / progress.LOG_EVERY + 1
    assert all(ln.startswith("recording: ") and ln.endswith("\n") for ln in lines)
    assert lines[-1] == "recording: last\n"


def test_short_and_quiet_runs_print_nothing(clock):
    out = _Terminal()
    ProgressLine("verifying", stream=out, delay=1.0).show("x", force=True)
    quiet = ProgressLine("verifying", quiet=True, stream=out, delay=0.0)
    quiet.show("x", force=True)
    quiet.done()
    assert out.getvalue() == ""


def test_record_and_verify_into_a_log_have_no_carriage_returns(tmp_path):
    """stderr redirected to a file: every progress update a line of its own."""
    trace = tmp_path / "t.db"
    # ~200M steps: verify (vectorised, ~55M steps/s here) runs long enough to show progress
    rec = ttd("record", "--out", str(trace), str(PROGRAMS_DIR / "bench_sort.wasm"), "--", "200000")
    assert rec.returncode == 0, rec.stderr.decode()
    ver = ttd("verify", str(trace))
    assert ver.returncode == 0, ver.stderr.decode()
    for err in (rec.stderr.decode(), ver.stderr.decode()):
        assert "\r" not in err
    assert "expanding: " in rec.stderr.decode()
    assert "verifying: " in ver.stderr.decode()
