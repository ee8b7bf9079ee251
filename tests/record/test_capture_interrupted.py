"""A capture stopped midway (Ctrl-C, or killed) keeps the calls it flushed, and expands into
the history up to the last of them: what the program printed up to there is what the
expanded trace's fd_write calls print.

The program prints a numbered line, then sleeps 20 ms (poll_oneoff), forever: two import calls
a line, spread over time, so batches are flushed by time (capture.FLUSH_EVERY) while it runs.
The test waits until the file holds some committed calls, so what it checks does not depend
on how often that happens.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
import wasmtime

from tests.support.capture_craft import flushed_calls, read_events
from tests.support.host_calls import call_steps, printed
from tests.support.recording import TTD, info_json, ttd

TICKER_WAT = """
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 256) "tick ")
  ;; "tick <i>\\n" at 256; returns its length
  (func $line (param $i i32) (result i32)
    (local $n i32) (local $j i32) (local $t i32)
    (local.set $t (local.get $i)) (local.set $n (i32.const 1))
    (block $d (loop $c
      (br_if $d (i32.lt_u (local.get $t) (i32.const 10)))
      (local.set $t (i32.div_u (local.get $t) (i32.const 10)))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $c)))
    (local.set $t (local.get $i)) (local.set $j (local.get $n))
    (loop $w
      (local.set $j (i32.sub (local.get $j) (i32.const 1)))
      (i32.store8 (i32.add (i32.const 261) (local.get $j))
                  (i32.add (i32.const 48) (i32.rem_u (local.get $t) (i32.const 10))))
      (local.set $t (i32.div_u (local.get $t) (i32.const 10)))
      (br_if $w (local.get $j)))
    (i32.store8 (i32.add (i32.const 261) (local.get $n)) (i32.const 10))
    (i32.add (i32.const 6) (local.get $n)))
  (func (export "_start")
    (local $i i32)
    ;; a clock subscription at 512: 20 ms on the monotonic clock
    (i32.store8 (i32.const 520) (i32.const 0))
    (i32.store (i32.const 528) (i32.const 1))
    (i64.store (i32.const 536) (i64.const 20000000))
    (loop $l
      (i32.store (i32.const 0) (i32.const 256))
      (i32.store (i32.const 4) (call $line (local.get $i)))
      (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
      (drop (call $poll (i32.const 512) (i32.const 600) (i32.const 1) (i32.const 12)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l))))
"""

#: Committed calls to wait for before the signal (10 lines).
ENOUGH = 20

ECHO_WAT = """
(module
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (local $n i32)
    (loop $l
      (i32.store (i32.const 0) (i32.const 64))
      (i32.store (i32.const 4) (i32.const 1024))
      (if (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)) (then return))
      (local.set $n (i32.load (i32.const 8)))
      (if (i32.eqz (local.get $n)) (then return))
      (i32.store (i32.const 16) (i32.const 64))
      (i32.store (i32.const 20) (local.get $n))
      (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24)))
      (br $l))))
"""


def _start(wasm: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen([*TTD, "record", "--capture-only", "--quiet", "--out", str(out), str(wasm)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for_calls(out: Path, proc: subprocess.Popen, n: int, timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        got = flushed_calls(out)
        if got >= n:
            return got
        time.sleep(0.05)
    pytest.fail(f"the capture never committed {n} calls")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_interrupted_capture_expands_up_to_its_last_flushed_call(tmp_path, sig):
    wasm = tmp_path / "ticker.wasm"
    wasm.write_bytes(wasmtime.wat2wasm(TICKER_WAT))
    out = tmp_path / "cap.db"
    proc = _start(wasm, out)
    flushed = _wait_for_calls(out, proc, ENOUGH)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == (130 if sig == signal.SIGINT else -signal.SIGKILL), stderr
    assert b"Traceback" not in stderr
    lines = stdout.decode().splitlines(keepends=True)
    assert lines == [f"tick {i}\n" for i in range(len(lines))]  # what the program printed

    cap = info_json(out)
    assert cap["kind"] == "capture" and cap["partial"] is True
    assert cap["status"] == ("interrupted" if sig == signal.SIGINT else "recording")
    text = ttd("info", str(out))
    assert text.returncode == 0 and b"(partial capture)" in text.stdout
    events = read_events(out)
    assert len(events) >= flushed
    if sig == signal.SIGINT:  # stopped at an import call or a loop: everything is flushed
        assert cap["calls"] == len(events)

    p = ttd("expand", "--quiet", str(out))
    assert p.returncode == 0, p.stderr.decode()
    assert p.stdout == b""
    got = info_json(out)
    assert got["kind"] == "expanded" and got["partial"] is True and got["status"] == "partial"
    assert got["steps"] > 0
    # up to the last captured call, and no further: the one after it is where it stops
    calls = call_steps(out)
    assert len(calls) == len(events)
    assert calls[-1][1] < got["steps"] - 1
    # what the expansion's fd_write calls print is what the program printed, up to there
    again = printed(out, events)
    assert again and again.decode() == "".join(lines[:again.count(b"\n")])
    assert again.count(b"\n") == sum(1 for name, _ in calls if name == "fd_write")
    if sig == signal.SIGINT:
        assert again == stdout
    else:  # killed: calls made after the last commit are lost, the rest is there
        assert again.count(b"\n") >= flushed // 2
    q = ttd("query", str(out), "at", str(got["steps"] - 1))
    assert q.returncode == 0, q.stderr.decode()
    v = ttd("verify", str(out))
    assert v.returncode == 0, v.stdout.decode() + v.stderr.decode()


def test_ctrl_c_while_the_program_waits_for_stdin(tmp_path):
    """The program echoes stdin; the test feeds it lines one at a time, then presses Ctrl-C
    while it waits for the next: the capture stops (stdin still open) and keeps every line."""
    wasm = tmp_path / "echo.wasm"
    wasm.write_bytes(wasmtime.wat2wasm(ECHO_WAT))
    out = tmp_path / "cap.db"
    proc = subprocess.Popen([*TTD, "record", "--capture-only", "--quiet", "--out", str(out), str(wasm)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    echoed = b""
    try:
        for i in range(5):
            line = f"line {i}\n".encode()
            proc.stdin.write(line)
            proc.stdin.flush()
            echoed += proc.stdout.readline()
        assert echoed == b"".join(f"line {i}\n".encode() for i in range(5))
        _wait_for_calls(out, proc, 10)  # 5 reads and 5 writes; the 6th read is waiting
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=20)  # without the stdin it waits for ever being closed
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdin.close()
    stderr = proc.stderr.read()
    assert rc == 130, stderr
    assert b"Traceback" not in stderr and b"interrupted" in stderr
    cap = info_json(out)
    assert cap["partial"] is True and cap["status"] == "interrupted" and cap["calls"] == 10
    events = read_events(out)
    p = ttd("expand", "--quiet", str(out))
    assert p.returncode == 0, p.stderr.decode()
    got = info_json(out)
    assert got["partial"] is True and got["steps"] > 0
    assert printed(out, events) == echoed
