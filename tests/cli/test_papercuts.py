"""What a new user trips over first: bad options, option order, what `info` says."""

from __future__ import annotations

import dataclasses
import json
import shlex
import signal
import subprocess
import time

import pytest

from tests.support.cases import PROGRAMS_DIR, get_case, prepared_dirs
from tests.support.recording import TTD, info_json, record, record_case, ttd
from tests.support.wasmtime_cli import require_wasmtime

WAT_DIR = PROGRAMS_DIR.parent / "wat"


@pytest.fixture(scope="module")
def fib(tmp_path_factory):
    return record_case(get_case("fib_arg"), tmp_path_factory.mktemp("fib") / "t.db").trace


@pytest.mark.parametrize("port", ["99999", "65536", "-1", "http"])
def test_a_port_out_of_range_is_a_usage_error(fib, port):
    p = ttd("serve", "--port", port, str(fib), timeout=60)
    err = p.stderr.decode()
    assert p.returncode == 2, err
    assert "Traceback" not in err and "internal error" not in err
    assert err.splitlines()[-1].startswith("ttd serve: error: argument --port: "), err
    assert "not a port number" in err


@pytest.mark.parametrize("where", ["before the trace", "before the query", "after the query",
                                   "at the end"])
def test_query_json_anywhere_on_the_line(fib, where):
    line = {"before the trace": ["--json", str(fib), "at", "100"],
            "before the query": [str(fib), "--json", "at", "100"],
            "after the query": [str(fib), "at", "--json", "100"],
            "at the end": [str(fib), "at", "100", "--json"]}[where]
    p = ttd("query", *line)
    assert p.returncode == 0, p.stderr.decode()
    assert json.loads(p.stdout)["step"] == 100


def test_query_without_json_is_a_table(fib):
    p = ttd("query", str(fib), "at", "100")
    assert p.returncode == 0 and p.stdout.decode().startswith("step 100: pc 0x")


MODES = {"default": [], "direct": ["--direct"], "capture": ["--capture-only"],
         "expanded": ["--capture-only"]}


def _recorded(case_name: str, mode: str, tmp_path, **kw):
    case = get_case(case_name)
    if kw:
        case = dataclasses.replace(case, **kw)
    with prepared_dirs(case) as dirs:
        rec = record(case.wasm_path, tmp_path / "t.db", case.run_args(), dirs=dirs, env=dict(case.env),
                     stdin=case.stdin, extra=MODES[mode], cwd=PROGRAMS_DIR)
    assert rec.returncode == case.expected_exit_code, rec.stderr
    if mode == "expanded":
        assert ttd("expand", "--quiet", str(rec.trace)).returncode == 0
    text = ttd("info", str(rec.trace)).stdout.decode()
    rows = dict(line.split(":", 1) for line in text.splitlines())
    return {k: v.strip() for k, v in rows.items()}, info_json(rec.trace)


@pytest.mark.parametrize("mode", MODES)
def test_info_quotes_arguments_as_a_shell_would(tmp_path, mode):
    rows, info = _recorded("envargs", mode, tmp_path)
    assert info["args"] == ["one", "two words"]
    assert rows["args"] == shlex.join(info["args"]) == "one 'two words'"
    assert shlex.split(rows["env"]) == ["TTD_TEST_VAR=hello ttd"]


@pytest.mark.parametrize("mode", MODES)
def test_info_shows_the_files_as_the_program_named_them(tmp_path, mode):
    case = get_case("files")
    assert case.dirs == (("data", "data"),) and case.args == ("data/input.txt",)
    rows, info = _recorded("files", mode, tmp_path)
    assert info["files"] == ["data/input.txt"]  # not "input.txt", relative to the preopen
    assert rows["files"] == "data/input.txt"
    assert rows["stdin"] == "not read" and info["stdin_bytes"] == 0


@pytest.mark.parametrize("mode", MODES)
def test_info_says_whether_stdin_was_read(tmp_path, mode):
    case = get_case("stdin_wc")
    rows, info = _recorded("stdin_wc", mode, tmp_path)
    n = len(case.stdin.encode())
    assert info["stdin_bytes"] == n and rows["stdin"] == f"read ({n:,} bytes)"


@pytest.mark.parametrize("mode", ["default", "direct", "expanded"])
def test_a_text_module_is_recorded_as_wasmtime_run_runs_it(tmp_path, mode):
    wat = WAT_DIR / "calls.wat"
    live = subprocess.run([str(require_wasmtime()), "run", str(wat)], capture_output=True, text=True)
    assert live.returncode == 0 and live.stdout
    rec = record(wat, tmp_path / "t.db", extra=MODES[mode])
    assert rec.returncode == 0, rec.stderr
    assert rec.stdout == live.stdout
    if mode == "expanded":
        assert ttd("expand", "--quiet", str(rec.trace)).returncode == 0
    assert info_json(rec.trace)["program"] == "calls.wat"
    assert b"OK:" in ttd("verify", str(rec.trace)).stdout


@pytest.mark.parametrize("text", ['(module (func (export "_start") (i32.addx)))', "(module",
                                  "(module \xff)"])
def test_a_bad_text_module_is_one_line(tmp_path, text):
    wat = tmp_path / "bad.wat"
    wat.write_bytes(text.encode("latin-1"))
    p = ttd("record", "--out", str(tmp_path / "t.db"), str(wat))
    err = p.stderr.decode()
    assert p.returncode == 1 and err.count("\n") == 1, err
    assert err.startswith(f"ttd: error: {wat}: not a valid WebAssembly text module: "), err
    assert not (tmp_path / "t.db").exists()


@pytest.mark.parametrize("mode", ["default", "direct", "capture"])
def test_ctrl_c_at_any_moment_is_one_line_and_130(tmp_path, mode):
    """Loading, instrumenting, creating the trace, running, expanding: a Ctrl-C anywhere is
    one line and status 130; before the program started nothing is left, after it a trace
    that opens."""
    for i, delay in enumerate((0.3, 0.6, 1.0, 1.5, 2.5, 4.0)):
        out = tmp_path / f"t{i}.db"
        proc = subprocess.Popen([*TTD, "record", "--out", str(out), *MODES[mode],
                                 str(PROGRAMS_DIR / "bench_sort.wasm"), "--", "950000"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        err = proc.communicate(timeout=120)[1].decode()
        assert "Traceback" not in err, (delay, err)
        last = err.splitlines()[-1]
        assert last.startswith(("ttd: interrupted", "trace: ", "ttd: expansion interrupted")), err
        # 130 (or death by SIGINT, which a shell reports as 130: seen when the Ctrl-C lands
        # in wasmtime's compile), unless it came after the command finished (its status stands)
        assert proc.returncode in (130, -signal.SIGINT) or (
            proc.returncode == 0 and ", complete" in last), (delay, err)
        if "no trace written" in last:
            assert not out.exists()
        elif out.exists():  # interrupted, or expanded from an interrupted capture (partial)
            assert info_json(out)["status"] in ("interrupted", "partial", "complete"), (delay, err)
