"""Scripted LLDB observations, to compare the live reference with ttd's replay server.

The same script is run through an LLDBSession connected to `wasmtime run -g` and to ttd's
replay server for the same program and inputs; the two observation lists must be equal
(`diff_observations` explains where they are not).

A script is a list of JSON objects, each with an "op":

    {"op": "break", "name": "fib"}                    breakpoint by function name
    {"op": "break", "regex": "get_alphabet::h"}      ... on every function name matching
    {"op": "break", "file": "fib.c", "line": 18}       ... by source line
    {"op": "break", "addr": 15398}                     ... by file offset (or tagged pc)
    {"op": "delete_breakpoints"}
    {"op": "continue", "count": 1, "variables": true, "frame": 0, "depth": 1}
                                                       resume `count` times, one stop each
    {"op": "step_inst", "count": 200, "stacks": true}  single steps; each step's call stack
                                                       (file offsets, innermost first); with
                                                       "stacks": false only the last stop
    {"op": "step" | "next" | "finish", "count": 1, "variables": false}
    {"op": "variables", "frame": 0, "depth": 1}
    {"op": "frames"}
    {"op": "read_memory", "addr": 16776704, "size": 64}
    {"op": "command", "cmd": "frame variable"}         raw LLDB command output (text)

`observe` returns one observation per op: the op's own fields plus "result" (JSON-able: a
stop is Stop.to_json(), a stack is a list of offsets, memory is a hex string). Stopping
early: once the process has exited, later resumes record the exited stop again.

Differences to expect between wasmtime and a faithful replay server, by design of the
protocol notes: wasmtime reports a wasm trap, and also a non-zero proc_exit, as a SIGSEGV
signal stop ("reason": "signal", "signal": 11), where a replay server reports
`reason:exception`; and wasmtime drops the connection at the end of such a run, while a
replay server never sends W/X. Compare those stops with `ignore` or compare up to them.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterable, Iterator, Sequence

from tests.support.lldb_session import LLDBSession, Stop

Observation = dict[str, Any]


def collect_single_steps(session: LLDBSession, n: int) -> list[tuple[int, ...]]:
    """Single-step up to `n` instructions; per step, the file offsets of all frames.

    The list holds the position *after* each step (innermost frame first; callers show
    return addresses). It is shorter than n if the process stops being steppable.
    """
    out: list[tuple[int, ...]] = []
    for _ in range(n):
        stop = session.step_inst()
        if not stop.alive:
            break
        out.append(stop.stack())
    return out


def _stop_with_vars(session: LLDBSession, stop: Stop, op: dict) -> dict[str, Any]:
    d = stop.to_json()
    if op.get("variables") and stop.alive:
        d["variables"] = session.variables(op.get("frame", 0), op.get("depth", 1))
    return d


def observe(session: LLDBSession, script: Sequence[dict]) -> list[Observation]:
    """Run a script (see the module docstring) and return the observations."""
    observations: list[Observation] = []
    for op in script:
        kind = op["op"]
        count = int(op.get("count", 1))
        result: Any
        if kind == "break":
            if "name" in op:
                bp = session.break_name(op["name"])
            elif "regex" in op:
                bp = session.break_regex(op["regex"])
            elif "file" in op:
                bp = session.break_line(op["file"], int(op["line"]))
            elif "addr" in op:
                bp = session.break_addr(int(op["addr"]))
            else:
                raise ValueError(f"break needs name, regex, file+line or addr: {op}")
            result = {"id": bp, "locations": [a & 0xFFFFFFFF for a in session.breakpoint_addresses(bp)]}
        elif kind == "delete_breakpoints":
            session.delete_all_breakpoints()
            result = None
        elif kind == "continue":
            result = [_stop_with_vars(session, session.cont(), op) for _ in range(count)]
        elif kind == "step_inst":
            if op.get("stacks", True):
                result = [list(s) for s in collect_single_steps(session, count)]
                last = session.stop()
                if not last.alive:
                    result.append(last.to_json())
            else:
                stop = session.stop()
                for _ in range(count):
                    stop = session.step_inst()
                    if not stop.alive:
                        break
                result = _stop_with_vars(session, stop, op)
        elif kind in ("step", "next", "finish"):
            fn = {"step": session.step, "next": session.next, "finish": session.finish}[kind]
            result = [_stop_with_vars(session, fn(), op) for _ in range(count)]
        elif kind == "variables":
            result = session.variables(op.get("frame", 0), op.get("depth", 1))
        elif kind == "frames":
            result = [f.to_json() for f in session.frames()]
        elif kind == "read_memory":
            result = session.read_memory(int(op["addr"]), int(op["size"])).hex()
        elif kind == "command":
            result = session.run_command(op["cmd"])
        else:
            raise ValueError(f"unknown op {kind!r}")
        observations.append({**op, "result": result})
    return observations


def diff_observations(a: Any, b: Any, ignore: Iterable[str] = (), path: str = "") -> list[str]:
    """Human-readable differences between two observation trees (empty when equal).

    `ignore` names dict keys to skip anywhere (e.g. "description", "signal").
    """
    ignore = set(ignore)
    out: list[str] = []
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if k in ignore:
                continue
            if k not in a or k not in b:
                out.append(f"{path}/{k}: only in {'first' if k in a else 'second'}")
            else:
                out += diff_observations(a[k], b[k], ignore, f"{path}/{k}")
    elif isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            out.append(f"{path}: length {len(a)} != {len(b)}")
        for i, (x, y) in enumerate(zip(a, b)):
            out += diff_observations(x, y, ignore, f"{path}[{i}]")
    elif a != b:
        out.append(f"{path}: {a!r} != {b!r}")
    return out


@contextlib.contextmanager
def live_session(case_or_wasm, args: Sequence[str] = (), smoke: bool = False,
                 **kwargs) -> Iterator[LLDBSession]:
    """An LLDBSession connected to `wasmtime run -g` for a Case (or a .wasm path + args)."""
    from tests.support.cases import Case
    from tests.support.live import live_case, live_wasmtime

    if isinstance(case_or_wasm, Case):
        ctx = live_case(case_or_wasm, smoke=smoke, **kwargs)
        wasm = case_or_wasm.wasm_path
    else:
        ctx = live_wasmtime(case_or_wasm, args, **kwargs)
        wasm = case_or_wasm
    with ctx as port, LLDBSession(wasm, port) as session:
        session.live_port = port  # type: ignore[attr-defined]
        yield session


def observe_live(case_or_wasm, script: Sequence[dict], args: Sequence[str] = (),
                 **kwargs) -> list[Observation]:
    """observe() against the live reference (`wasmtime run -g`)."""
    with live_session(case_or_wasm, args, **kwargs) as session:
        return observe(session, script)


__all__ = ["collect_single_steps", "observe", "observe_live", "live_session", "diff_observations"]
