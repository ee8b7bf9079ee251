"""A capture from a stranger: `ttd expand` re-executes its module with every import answered
from the capture, so a capture that does not fit its module must be reported where it stops
fitting (one line, non-zero exit, never a different history), and nothing in a capture may
reach the host: no files, no output, no exit of ttd with the program's code, bounded time and
memory.

The expected step of import call k is the step of the k-th import call of a direct recording
of the same run (`ttd record --direct`, read through the replay API), and, independently, the
last step of the expansion of the capture cut to its first k calls (a partial capture, which
expands up to the call it does not hold).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import wasmtime

from tests.support.capture_craft import edit_events, info, read_events, replace_module, set_info, write_events
from tests.support.cases import load_cases
from tests.support.host_calls import call_steps
from tests.support.recording import TTD, info_json, record, ttd

CASE = next(c for c in load_cases() if c.name == "stdin_wc")
STEP = re.compile(r"at step ([\d,]+)")

HOSTILE_WAT = """
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_send" (func $sock_send (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_shutdown" (func $sock_shutdown (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 256) "sentinel.txt")
  (data (i32.const 272) "created.txt")
  (data (i32.const 300) "PWNED\\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 300))
    (i32.store (i32.const 4) (i32.const 6))
    ;; O_CREAT|O_TRUNC sentinel.txt, O_CREAT created.txt, in the first preopen (fd 3)
    (drop (call $path_open (i32.const 3) (i32.const 0) (i32.const 256) (i32.const 12) (i32.const 9)
                           (i64.const 0x1fffffff) (i64.const 0x1fffffff) (i32.const 0) (i32.const 16)))
    (drop (call $path_open (i32.const 3) (i32.const 0) (i32.const 272) (i32.const 11) (i32.const 1)
                           (i64.const 0x1fffffff) (i64.const 0x1fffffff) (i32.const 0) (i32.const 32)))
    (drop (call $fd_write (i32.load (i32.const 16)) (i32.const 0) (i32.const 1) (i32.const 20)))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 20)))
    (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 20)))
    (drop (call $sock_send (i32.const 3) (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 24)))
    (drop (call $sock_shutdown (i32.const 3) (i32.const 3)))
    (call $proc_exit (i32.const 7))))
"""

LOOPS = {
    "loop_in_start_export": '(module (memory (export "memory") 1) (func (export "_start") (loop (br 0))))',
    "loop_in_start_function": '(module (memory (export "memory") 1) (func $s (loop (br 0))) (start $s) '
                              '(func (export "_start")))',
    "recursion_forever": '(module (memory (export "memory") 1) (func $f (loop (call $f) (br 0))) '
                         '(func (export "_start") (call $f)))',
}

GROW_4GIB = """
(module
  (memory (export "memory") 1)
  (func (export "_start")
    (drop (memory.grow (i32.const 65535)))
    ;; touch the whole range: if the grow succeeded, these are real pages
    (memory.fill (i32.const 0) (i32.const 1) (i32.const 0x7fffffff))
    (memory.fill (i32.const 0x7fffffff) (i32.const 1) (i32.const 0x7fffffff))))
"""

GROW_4GIB_SPARSE = """
(module
  (memory (export "memory") 1)
  (func (export "_start")
    (drop (memory.grow (i32.const 65535)))
    (i32.store8 (i32.const 0x7fff0000) (i32.const 1))
    (i32.store8 (i32.const -1) (i32.const 1))))
"""


# ---- helpers -------------------------------------------------------------------------------

def one_line_error(p: subprocess.CompletedProcess) -> str:
    """The single `ttd: error:` line a failure must be, with a non-zero exit."""
    err = p.stderr.decode(errors="replace")
    assert p.returncode not in (0, None), err
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("ttd: error: "), err
    assert p.stdout == b""
    return lines[0]


def step_in(message: str) -> int:
    m = STEP.search(message)
    assert m, message
    return int(m.group(1).replace(",", ""))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def expand(path: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([*TTD, "expand", "--quiet", str(path)], capture_output=True,
                          stdin=subprocess.DEVNULL, timeout=600, env={**os.environ, **env})


def prefix_end_step(capture: Path, n_calls: int, tmp: Path) -> int:
    """The last step of the expansion of the capture's first n_calls calls, as a partial
    capture: where the re-execution stands when it asks for call n_calls (or ends)."""
    cut = tmp / f"prefix{n_calls}.db"
    shutil.copyfile(capture, cut)
    events = read_events(cut)
    write_events(cut, events[:n_calls])
    set_info(cut, status="interrupted")
    p = expand(cut)
    assert p.returncode == 0, p.stderr.decode()
    return info_json(cut)["steps"] - 1


def wasm_of(wat: str, path: Path) -> Path:
    path.write_bytes(wasmtime.wat2wasm(wat))
    return path


# ---- a real run, captured and recorded directly ---------------------------------------------

@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("stdin_wc")
    cap = record(CASE.wasm_path.resolve(), tmp / "cap.db", stdin=CASE.stdin, extra=["--capture-only"])
    direct = record(CASE.wasm_path.resolve(), tmp / "direct.db", stdin=CASE.stdin, extra=["--direct"])
    assert cap.returncode == direct.returncode == 0, cap.stderr + direct.stderr
    assert cap.stdout == direct.stdout == CASE.expected_stdout
    events = read_events(cap.trace)
    calls = call_steps(direct.trace)
    imports = info(cap.trace)["capture"]["imports"]
    # the same calls in both runs (random_get's bytes differ; the calls and steps do not)
    assert [imports[ev[0]][1] for ev in events] == [name for name, _ in calls]
    assert len(events) >= 6
    return {"capture": cap.trace, "events": events, "steps": [s for _, s in calls],
            "names": [n for n, _ in calls], "imports": [tuple(i) for i in imports]}


@pytest.fixture
def capture(run, tmp_path) -> Path:
    path = tmp_path / "crafted.db"
    shutil.copyfile(run["capture"], path)
    return path


def first_call(run, name: str) -> int:
    return run["names"].index(name)


def assert_capture_kept(path: Path) -> None:
    """A failed expansion leaves the capture as it was, and nothing beside it."""
    assert info(path)["kind"] == "capture"
    leftovers = [p.name for p in path.parent.iterdir() if p.name.startswith(f".{path.name}")]
    assert leftovers == []


# ---- divergence at the right step -------------------------------------------------------------

@pytest.mark.parametrize("per_batch", [None, 2], ids=["one_batch", "batches_of_2"])
@pytest.mark.parametrize("what", ["import", "argument", "one_call_short"])
def test_divergence_names_the_step_and_the_call(run, capture, tmp_path, what, per_batch):
    events = [list(ev) for ev in run["events"]]
    k = first_call(run, "fd_read")
    if what == "import":  # call k is said to be another import
        other = next(i for i, imp in enumerate(run["imports"]) if imp[1] == "fd_write")
        events[k][0] = other
    elif what == "argument":  # call k had another iovec count
        events[k][1] = list(events[k][1])
        events[k][1][2] += 1
    else:  # the capture lacks its last call: the program makes one call more than it holds
        k = len(events) - 1
        events = events[:k]
    write_events(capture, events, per_batch)
    before = sha256(capture)
    line = one_line_error(expand(capture))
    assert str(capture) in line and "diverged from the capture" in line
    assert f"import call {k} ({run['names'][k]})" in line, line
    assert step_in(line) == run["steps"][k], line
    assert step_in(line) == prefix_end_step(capture, k, tmp_path)
    assert sha256(capture) == before
    assert_capture_kept(capture)


def test_fewer_calls_than_captured(run, capture, tmp_path):
    """A write result that fails makes the program stop writing: captured calls left over."""
    k = len(run["events"]) - 2
    assert run["names"][k] == "fd_write"

    def fail_write(events):
        events[k][2] = [8]  # EBADF
    edit_events(capture, fail_write)
    line = one_line_error(expand(capture))
    m = re.search(r"ended after (\d+) import calls, the capture has (\d+) \(import call (\d+) was not made\)", line)
    assert m, line
    used, total, missing = map(int, m.groups())
    assert total == len(run["events"]) and used < total and missing == used
    assert step_in(line) == prefix_end_step(capture, used, tmp_path)
    assert_capture_kept(capture)


def test_a_result_that_changes_control_flow(run, capture, tmp_path):
    """fd_read says it read fewer bytes: the program then reads elsewhere, or ends sooner."""
    k = first_call(run, "fd_read")

    def short_read(events):
        ev = events[k]
        nread_ptr = ev[1][3]
        ev[3] = [[a, d[:5]] if a != nread_ptr else [a, (5).to_bytes(4, "little")] for a, d in ev[3]]
    edit_events(capture, short_read)
    line = one_line_error(expand(capture))
    assert "diverged from the capture" in line
    step = step_in(line)
    assert step > run["steps"][k]  # after the call whose result changed
    m = re.search(r"import call (\d+)", line)
    assert m and int(m.group(1)) > k, line
    if "ended after" in line:
        used = int(re.search(r"ended after (\d+)", line).group(1))
        assert step == prefix_end_step(capture, used, tmp_path)
    else:
        assert step == prefix_end_step(capture, int(m.group(1)), tmp_path)


def test_bytes_read_that_change_only_the_final_memory(run, capture, tmp_path):
    """Same calls with the same arguments, but other bytes read ("the" becomes "t e": one word
    more, the same number of digits printed): the run ends with other memory than the
    capture's, which the expansion must not take for the captured run."""
    k = first_call(run, "fd_read")

    def other_bytes(events):
        ev = events[k]
        assert any(b"the quick" in d for _a, d in ev[3])
        ev[3] = [[a, d.replace(b"the quick", b"t e quick")] for a, d in ev[3]]
    edit_events(capture, other_bytes)
    line = one_line_error(expand(capture))
    assert "exported memory 'memory' ends with other contents" in line, line
    assert step_in(line) == prefix_end_step(capture, len(run["events"]), tmp_path)


def test_a_batch_that_fails_its_checksum_is_corrupt(run, capture):
    import sqlite3

    con = sqlite3.connect(capture)
    con.execute("UPDATE capture_events SET checksum = ?", ("0" * 64,))
    con.commit()
    con.close()
    line = one_line_error(expand(capture))
    assert "corrupt" in line and str(capture) in line and "diverged" not in line, line
    assert "writing" not in line, line  # not a failure to write the expansion
    assert_capture_kept(capture)


def test_replay_commands_report_the_divergence_too(run, capture):
    def swap(events):
        events[0][0] = (events[0][0] + 1) % len(run["imports"])
    edit_events(capture, swap)
    for cmd in (["info"], ["verify"], ["query", str(capture), "at", "0"]):
        args = cmd if cmd[0] == "query" else [*cmd, str(capture)]
        p = ttd(*args)
        if cmd == ["info"]:  # a capture's info is not an expansion
            assert p.returncode == 0 and b"capture" in p.stdout
            continue
        err = p.stderr.decode()
        assert p.returncode != 0 and "Traceback" not in err, err
        errors = [ln for ln in err.splitlines() if ln.startswith("ttd: error:")]
        assert len(errors) == 1 and "diverged from the capture at step" in errors[0], err


# ---- a capture cannot reach the host ---------------------------------------------------------

def _hostile_capture(tmp_path: Path) -> tuple[Path, Path]:
    """A real capture of a program that opens, creates, writes and exits 7 (its run did)."""
    wasm = wasm_of(HOSTILE_WAT, tmp_path / "hostile.wasm")
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    (sandbox / "sentinel.txt").write_text("keep me\n")
    cap = record(wasm, tmp_path / "hostile.db", dirs=[(str(sandbox), ".")], extra=["--capture-only"])
    assert cap.returncode == 7 and "PWNED" in cap.stdout, cap.stderr
    assert (sandbox / "sentinel.txt").read_text() == "PWNED\n" and (sandbox / "created.txt").exists()
    return cap.trace, sandbox


def _reset(sandbox: Path) -> tuple[int, int]:
    (sandbox / "created.txt").unlink(missing_ok=True)
    sentinel = sandbox / "sentinel.txt"
    sentinel.write_text("keep me\n")
    old = time.time() - 3600  # atime before mtime: a read would move it even with relatime
    os.utime(sentinel, (old - 60, old))
    st = sentinel.stat()
    return st.st_atime_ns, st.st_mtime_ns


def _assert_untouched(sandbox: Path, stamps: tuple[int, int]) -> None:
    sentinel = sandbox / "sentinel.txt"
    assert sentinel.read_bytes() == b"keep me\n"
    assert not (sandbox / "created.txt").exists()
    assert sorted(p.name for p in sandbox.iterdir()) == ["sentinel.txt"]


def test_expanding_a_hostile_capture_repeats_none_of_its_effects(tmp_path):
    capture, sandbox = _hostile_capture(tmp_path)
    stamps = _reset(sandbox)
    p = expand(capture)
    err = p.stderr.decode()
    assert p.returncode == 0, err  # not 7: the program's exit is in the trace, not ttd's
    assert p.stdout == b"" and "PWNED" not in err
    assert all(ln.startswith("trace: ") for ln in err.splitlines()), err
    st = (sandbox / "sentinel.txt").stat()
    assert (st.st_atime_ns, st.st_mtime_ns) == stamps
    _assert_untouched(sandbox, stamps)
    got = info_json(capture)
    assert got["exit_code"] == 7 and got["status"] == "complete" and got["steps"] > 0


def test_replaying_a_hostile_capture_repeats_none_of_its_effects(tmp_path):
    """info, verify and query expand a capture into a temporary trace: the same sandbox."""
    capture, sandbox = _hostile_capture(tmp_path)
    stamps = _reset(sandbox)
    for args in (["verify", str(capture)], ["query", str(capture), "at", "3"]):
        p = ttd(*args, cwd=sandbox)
        assert p.returncode == 0, p.stderr.decode()
        assert b"PWNED" not in p.stdout + p.stderr
        _assert_untouched(sandbox, stamps)


def test_a_module_swapped_into_a_capture_diverges_without_effects(run, capture, tmp_path):
    """The stdin_wc capture with the hostile module, and the sandbox named as its preopen."""
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    stamps = _reset(sandbox)
    replace_module(capture, wasmtime.wat2wasm(HOSTILE_WAT))
    set_info(capture, dirs=[f"{sandbox}::."])
    line = one_line_error(expand(capture))
    assert "import call 0 (path_open)" in line and "diverged" in line, line
    assert "PWNED" not in line
    _assert_untouched(sandbox, stamps)


def test_a_capture_that_answers_the_hostile_calls_has_no_effects_either(tmp_path):
    """The hostile capture's answers rewritten to success (fds 3 and 4 opened, all bytes
    written): the re-execution believes them and still touches nothing."""
    capture, sandbox = _hostile_capture(tmp_path)
    stamps = _reset(sandbox)

    def succeed(events):
        for ev in events:
            if ev[2] is not None:
                ev[2] = [0] * len(ev[2])
    edit_events(capture, succeed)
    set_info(capture, dirs=[f"{sandbox}::."])
    p = expand(capture)
    err = p.stderr.decode()
    assert "Traceback" not in err and "PWNED" not in err and p.stdout == b""
    assert p.returncode == 0 or len(err.splitlines()) == 1, err
    _assert_untouched(sandbox, stamps)


@pytest.mark.parametrize("name", sorted(LOOPS))
def test_a_module_that_never_ends_stops_at_the_time_limit(run, capture, tmp_path, name):
    replace_module(capture, wasmtime.wat2wasm(LOOPS[name]))
    t0 = time.monotonic()
    p = expand(capture, TTD_EXPAND_TIME_LIMIT="2")
    took = time.monotonic() - t0
    err = p.stderr.decode()
    if name == "recursion_forever":  # stack exhaustion comes first: another outcome
        line = one_line_error(p)
        assert "diverged" in line or "time limit" in line, line  # (a stack overflow: "diverged from")
    else:
        line = one_line_error(p)
        assert "time limit (2 s)" in line and str(capture) in line, err
    assert took < 60, took
    assert_capture_kept(capture)


@pytest.mark.parametrize("status", ["complete", "interrupted"])
def test_a_memory_grown_to_4_gib_is_bounded(run, capture, status):
    """The stdin_wc run's memory ended at 16 MiB: a module growing it to 4 GiB (and touching
    every page) is stopped by the expansion's memory bound, cheaply, not run for minutes. A
    partial capture does not say how large memory got (the run may have gone on); there the
    module grows to 4 GiB, touches two bytes, and its expansion must not copy the 4 GiB."""
    if status == "complete":
        replace_module(capture, wasmtime.wat2wasm(GROW_4GIB))
    else:
        replace_module(capture, wasmtime.wat2wasm(GROW_4GIB_SPARSE))
        set_info(capture, status=status)
    code = ("import resource, subprocess, sys; "
            "p = subprocess.run(sys.argv[1:], capture_output=True); "
            "sys.stdout.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)); "
            "sys.stderr.buffer.write(p.stderr); sys.exit(p.returncode)")
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-c", code, *TTD, "expand", "--quiet", str(capture)],
                       capture_output=True, timeout=600)
    took = time.monotonic() - t0
    peak_kib = int(p.stdout)
    line = one_line_error(subprocess.CompletedProcess(p.args, p.returncode, b"", p.stderr))
    assert "diverged" in line, line
    assert took < 60, took
    assert peak_kib < 1 << 20, f"{peak_kib} KiB"  # well under the 4 GiB the module asks for
