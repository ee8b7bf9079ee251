"""The pieces of a post-mortem on a capture: the segment served first, the whole history
expanded in the background, and what a segment file is not good for."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support.recording import capture_and_expanded_copy, record, ttd
from ttd.record.post_mortem import open_post_mortem
from ttd.store.trace_store import TraceStore

ROOT = Path(__file__).resolve().parents[2]
PROGRAMS = ROOT / "tests" / "programs"


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    return capture_and_expanded_copy(PROGRAMS / "bench_trap.wasm", tmp_path_factory.mktemp("pm"),
                                     ["3000"], chunk_blocks=128)


def test_the_whole_history_from_the_background_is_the_expanded_trace(capture, tmp_path):
    cap, full = capture
    seg, whole = open_post_mortem(cap, tmp_path, quiet=True)
    try:
        assert seg.is_segment and seg.info["segment"]["first_step"] == seg.first_step
        got = whole(True)
        with TraceStore.open(full) as st:
            assert got.store.chunk_index() == st.chunk_index()
            assert got.info["final"] == st.info()["final"]
        assert whole(False) is got  # once there, without waiting
    finally:
        whole.close()
        seg.store.close()


def test_a_session_waiting_for_the_whole_history_does_not_block_the_others(tmp_path):
    """One connection moving back past the segment waits; another only polls, and must not
    wait behind it."""
    import threading

    # ~10^8 steps: the background expansion takes over a second
    cap = record(PROGRAMS / "bench_trap.wasm", tmp_path / "cap.db", ["4500000"],
                 extra=["--capture-only"])
    assert cap.returncode == 134, cap.stderr
    seg, whole = open_post_mortem(cap.trace, tmp_path, quiet=True)
    try:
        waiter = threading.Thread(target=whole, args=(True,))
        waiter.start()
        time.sleep(0.2)
        t = time.monotonic()
        polled = whole(False)
        took = time.monotonic() - t
        assert polled is None and waiter.is_alive() and took < 0.5, took
        waiter.join(120)
        assert whole(False) is not None
    finally:
        whole.close()
        seg.store.close()


def test_closing_stops_the_background_expansion(capture, tmp_path):
    cap, _full = capture
    seg, whole = open_post_mortem(cap, tmp_path, quiet=True)
    whole.close()
    seg.store.close()
    assert whole._proc.poll() is not None


def test_a_module_with_exceptions_gets_no_segment(tmp_path):
    cap = record(ROOT / "tests" / "wat" / "exceptions.wat", tmp_path / "cap.db",
                 extra=["--capture-only", "--chunk-blocks", "16"])
    assert cap.trace.exists(), cap.stderr
    assert open_post_mortem(cap.trace, tmp_path, quiet=True) is None


@pytest.mark.parametrize("command", [["verify", "{}"], ["query", "{}", "calls", "descend"],
                                     ["serve", "--port", "0", "{}"],
                                     ["serve", "--port", "0", "--at", "end", "{}"]])
def test_a_segment_handed_over_is_one_line_not_a_traceback(capture, tmp_path, command):
    """The segment is ttd's own temporary file; one given as a trace is refused plainly."""
    cap, _full = capture
    seg, whole = open_post_mortem(cap, tmp_path, quiet=True)
    whole.close()
    seg.store.close()
    p = ttd(*[w.format(seg.store.path) for w in command], timeout=120)
    err = p.stderr.decode()
    assert p.returncode == 1 and "Traceback" not in err, err
    assert err.count("\n") == 1 and "not a whole trace" in err, err


def test_serve_at_end_on_a_capture_serves_before_the_whole_expansion(capture, tmp_path):
    """The banner says which steps are ready; the server answers at once."""
    import socket

    from tests.support.serve import ttd_serve

    cap, _full = capture
    t = time.monotonic()
    with ttd_serve(cap, at="end") as srv:
        assert any("being expanded in the background" in line for line in srv.banner), srv.banner
        with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as sock:
            sock.sendall(b"+$?#3f")
            got = b""
            while b"#" not in got:
                got += sock.recv(4096)
        assert b"$T" in got, got
    assert time.monotonic() - t < 60
