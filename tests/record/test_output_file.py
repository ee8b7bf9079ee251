"""The trace file `ttd record` writes: never two writers on one name, never the program itself,
no empty or 0-step leftovers (issue 13)."""

from __future__ import annotations

import fcntl
import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.support.cases import PROGRAMS_DIR
from tests.support.recording import TTD, info_json, ttd
from ttd.store.errors import TraceError, TraceExists
from ttd.store.recording_lock import RecordingInProgress, create_locked, is_being_recorded

FIB = PROGRAMS_DIR / "fib.wasm"
SIDECARS = ("-journal", "-wal", "-shm")


def _one_line_error(stderr: bytes) -> str:
    text = stderr.decode(errors="replace")
    assert "Traceback" not in text, text
    lines = text.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ttd: error: "), text
    return lines[0]


def _no_sidecars(path: Path) -> None:
    left = [s for s in SIDECARS if path.with_name(path.name + s).exists()]
    assert not left, left


def _verify_ok(path: Path) -> None:
    v = ttd("verify", "--quiet", str(path))
    assert v.returncode == 0, v.stdout.decode() + v.stderr.decode()
    assert v.stdout.startswith(b"OK: ")


# ---- 1. two recorders, one --out --------------------------------------------------------------

def test_two_forced_recordings_to_one_file(tmp_path):
    out = tmp_path / "same.db"
    cmd = [*TTD, "record", "--quiet", "--force", "--out", str(out), str(FIB), "--", "22"]
    for round_ in range(6):
        if round_ % 2 == 0 and out.exists():
            out.unlink()  # even rounds start without a file, odd ones replace the last round's
        procs = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  stdin=subprocess.DEVNULL) for _ in range(2)]
        results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
        for p in procs:
            p.stderr.close()
        assert any(rc == 0 for rc, _ in results), results
        for rc, err in results:
            if rc == 0:
                assert err.decode().startswith("trace: "), err
            else:
                line = _one_line_error(err)
                assert "another ttd" in line or "another process" in line, line
        assert out.exists(), results
        _no_sidecars(out)
        _verify_ok(out)
        assert info_json(out)["status"] == "complete"


def test_create_locked_never_replaces_a_held_file(tmp_path):
    """Threads racing create_locked(overwrite=True): whoever holds the lock still has the file at
    the path (nobody replaced it under them); the others fail with a clean TraceError."""
    path = tmp_path / "t.db"
    broken: list[str] = []
    wins = [0]
    stop = time.monotonic() + 3.0

    def worker() -> None:
        while time.monotonic() < stop:
            try:
                lock = create_locked(path, overwrite=True)
            except (RecordingInProgress, TraceError) as exc:
                assert "another" in str(exc), str(exc)
                continue
            try:
                for _ in range(20):
                    st, mine = os.stat(path), os.fstat(lock.fd)
                    if (st.st_dev, st.st_ino) != (mine.st_dev, mine.st_ino):
                        broken.append("replaced while held")
                    time.sleep(0.0005)
                wins[0] += 1
            finally:
                lock.close()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not broken
    assert wins[0] > 0


def test_force_refuses_a_file_being_recorded(tmp_path):
    out = tmp_path / "live.db"
    out.write_bytes(b"a recording in progress")
    with open(out, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # what a live recorder holds
        assert is_being_recorded(out)
        p = ttd("record", "--quiet", "--force", "--out", str(out), str(FIB))
        line = _one_line_error(p.stderr)
        assert line == f"ttd: error: {out}: being recorded by another ttd; choose another --out"
        assert out.read_bytes() == b"a recording in progress"
    assert not is_being_recorded(out)


def test_force_never_replaces_what_is_not_a_trace_file(tmp_path):
    fifo = tmp_path / "pipe.db"
    os.mkfifo(fifo)
    line = _one_line_error(ttd("record", "--quiet", "--force", "--out", str(fifo), str(FIB)).stderr)
    assert line == f"ttd: error: {fifo}: not a regular file; give a trace file to write"
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    folder = tmp_path / "dir.db"
    folder.mkdir()
    line = _one_line_error(ttd("record", "--quiet", "--force", "--out", str(folder), str(FIB)).stderr)
    assert line == f"ttd: error: {folder}: is a directory; give the file to write"
    assert folder.is_dir()


# ---- 2. a full disk before anything useful is committed ---------------------------------------

def _limited(limit: int):
    def preexec() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return preexec


# every commit at once, so the file grows chunk by chunk (not in 1-second batches)
_COMMIT_EACH_CHUNK = ("import sys, ttd.record.writer as w; w.COMMIT_EVERY = 0; "
                      "from ttd.cli.main import main; sys.exit(main())")


@pytest.mark.parametrize("mode", [[], ["--direct"], ["--capture-only"]],
                         ids=["capture+expand", "direct", "capture-only"])
@pytest.mark.parametrize("limit", [100_000, 600_000], ids=["schema", "module"])
def test_full_disk_before_first_commit_leaves_no_file(tmp_path, limit, mode):
    out = tmp_path / "t.db"
    p = subprocess.run([*TTD, "record", "--quiet", *mode, "--out", str(out), str(FIB)],
                       capture_output=True, stdin=subprocess.DEVNULL, preexec_fn=_limited(limit),
                       timeout=300)
    assert p.returncode == 1
    line = _one_line_error(p.stderr)
    assert line.endswith("; no trace written") and str(out) in line, line
    assert not out.exists()
    _no_sidecars(out)


def test_full_disk_after_some_chunks_keeps_them(tmp_path):
    out = tmp_path / "t.db"
    size = FIB.stat().st_size
    p = subprocess.run([sys.executable, "-c", _COMMIT_EACH_CHUNK, "record", "--quiet", "--direct",
                        "--chunk-blocks", "16", "--out", str(out), str(FIB), "--", "25"],
                       capture_output=True, stdin=subprocess.DEVNULL,
                       preexec_fn=_limited(size + 600_000), timeout=300)
    assert p.returncode == 1
    err = p.stderr.decode()
    assert "Traceback" not in err
    trace_line, error_line = err.splitlines()
    assert trace_line.startswith(f"trace: {out} (") and "partial" in trace_line, err
    assert error_line.startswith(f"ttd: error: writing {out} failed: "), err
    steps = int(trace_line.split("(")[1].split(" steps")[0].replace(",", ""))
    assert steps > 0
    info = info_json(out)
    assert info["steps"] == steps and info["status"] == "recording" and not info["in_progress"]
    _no_sidecars(out)
    _verify_ok(out)


def test_full_disk_during_expansion_keeps_the_capture(tmp_path):
    """The capture fits, its history does not: the capture stays, complete, for `ttd expand`."""
    out = tmp_path / "t.db"
    limit = FIB.stat().st_size + 600_000
    p = subprocess.run([*TTD, "record", "--quiet", "--out", str(out), str(FIB), "--", "25"], capture_output=True, stdin=subprocess.DEVNULL,
                       preexec_fn=_limited(limit), timeout=300)
    assert p.returncode == 1
    line = _one_line_error(p.stderr)
    assert line.startswith(f"ttd: error: {out}: the expansion failed writing the history: "), line
    assert line.endswith(f"(the capture is kept in {out}: `ttd expand` retries)"), line
    assert sorted(x.name for x in tmp_path.iterdir()) == ["t.db"]  # no temporary file left
    info = info_json(out)
    assert info["kind"] == "capture" and info["status"] == "complete" and info["calls"] > 0
    e = ttd("expand", "--quiet", str(out))
    assert e.returncode == 0, e.stderr.decode()
    assert info_json(out)["steps"] > 0
    _verify_ok(out)


# ---- 3. an empty file left by a recorder killed right after creating it -----------------------

def test_existing_file_error_says_how_to_replace_it(tmp_path):
    out = tmp_path / "t.db"
    out.write_bytes(b"precious")
    line = _one_line_error(ttd("record", "--out", str(out), str(FIB)).stderr)
    assert line == f"ttd: error: {out}: already exists (use --force to replace it)"
    assert out.read_bytes() == b"precious"


def test_empty_leftover_is_replaced_without_force(tmp_path):
    out = tmp_path / "t.db"
    out.touch()
    (tmp_path / "t.db-journal").write_bytes(b"\0" * 512)  # whatever else the dead one left
    p = ttd("record", "--quiet", "--out", str(out), str(FIB))
    assert p.returncode == 0, p.stderr.decode()
    note, trace = p.stderr.decode().splitlines()
    assert note == f"ttd: note: {out}: replaced the empty file a killed recorder left (it held nothing)"
    assert trace.startswith(f"trace: {out} (")
    _no_sidecars(out)
    _verify_ok(out)


def test_recorder_killed_right_after_creating_its_file(tmp_path):
    """A real recorder stopped right after creating its file leaves it empty; the next one goes on."""
    out = tmp_path / "t.db"
    stopper = ("import os, signal, sys, ttd.store.recording_lock as rl; create = rl.create_locked\n"
               "def stop(*a, **k):\n    create(*a, **k); os.kill(os.getpid(), signal.SIGKILL)\n"
               "rl.create_locked = stop\nimport ttd.store.trace_store as ts; ts.create_locked = stop\n"
               "from ttd.cli.main import main; sys.exit(main())")
    p = subprocess.run([sys.executable, "-c", stopper, "record", "--out", str(out), str(FIB)],
                       capture_output=True, stdin=subprocess.DEVNULL, timeout=300)
    assert p.returncode == -signal.SIGKILL
    assert out.exists() and out.stat().st_size == 0
    assert not is_being_recorded(out)
    p = ttd("record", "--quiet", "--out", str(out), str(FIB))
    assert p.returncode == 0, p.stderr.decode()
    assert "replaced the empty file" in p.stderr.decode()
    _verify_ok(out)


def test_empty_file_of_a_live_recorder_is_left_alone(tmp_path):
    out = tmp_path / "t.db"
    out.touch()
    with open(out, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        line = _one_line_error(ttd("record", "--out", str(out), str(FIB)).stderr)
        assert "being recorded by another ttd" in line
        assert out.exists() and out.stat().st_size == 0


def test_store_api_refuses_and_replaces(tmp_path):
    from ttd.store.trace_store import TraceStore

    path = tmp_path / "t.db"
    path.touch()
    with TraceStore.create(path) as store:  # empty: replaced without overwrite
        assert store.recording_lock is not None and store.recording_lock.replaced_empty
        assert is_being_recorded(path)
        with pytest.raises(RecordingInProgress):
            TraceStore.create(path, overwrite=True)
    assert not is_being_recorded(path)
    with pytest.raises(TraceExists):
        TraceStore.create(path)
    (tmp_path / "d").mkdir()
    with pytest.raises(TraceError, match="is a directory"):
        TraceStore.create(tmp_path / "d", overwrite=True)


# ---- 4. --out naming the program --------------------------------------------------------------

@pytest.mark.parametrize("how", ["same", "symlink", "hardlink"])
@pytest.mark.parametrize("force", [True, False], ids=["force", "no-force"])
def test_out_may_not_be_the_program(tmp_path, how, force):
    prog = tmp_path / "prog.wasm"
    shutil.copyfile(FIB, prog)
    before = prog.read_bytes()
    out = prog
    if how == "symlink":
        out = tmp_path / "link.db"
        out.symlink_to(prog)
    elif how == "hardlink":
        out = tmp_path / "hard.db"
        os.link(prog, out)
    p = ttd("record", "--quiet", *(["--force"] if force else []), "--out", str(out), str(prog))
    line = _one_line_error(p.stderr)
    assert line == f"ttd: error: {out}: is the program being recorded; write the trace somewhere else"
    assert prog.read_bytes() == before
    assert out.exists() and os.path.samefile(out, prog)
