"""Time-travel queries over a whole trace: who wrote these bytes, every call of a function,
what was happening at a step. Answers are plain dicts; the CLI formats them."""

from __future__ import annotations

import numpy as np

from ttd.replay.lldb_dwarf import function_names, lldb_target, source_line
from ttd.replay.names import display_name, resolve
from ttd.replay.session import ReplaySession


def _pc_at(session: ReplaySession, step: int) -> int:
    return session.pc_at(step)


class _Names:
    """Function names as LLDB shows them: the DWARF name where LLDB reads one, else the
    name section's, demangled (as in wasmtime's backtraces)."""

    def __init__(self, session: ReplaySession, target):
        self.module = session.trace.module
        self.target = target
        self.cache: dict[int, str] = {}

    def at(self, pc: int) -> str:
        func = self.module.function_at(pc)
        if func is None:
            return "?"
        name = self.cache.get(func.index)
        if name is None:
            dwarf = function_names(self.target, pc) if self.target is not None else []
            name = dwarf[0] if dwarf else display_name(self.module.function_name(func.index))
            self.cache[func.index] = name
        return name


def writes(session: ReplaySession, addr: int, length: int, start: int = 0,
           end: int | None = None, limit: int = 1000) -> list[dict]:
    """Every write to [addr, addr + length) with step, pc, function, old -> new bytes."""
    trace = session.trace
    end = trace.total_steps if end is None else min(end, trace.total_steps)
    found: list[int] = []
    for seq, first, n, _fb, _nb in trace.chunks:
        if first + n <= start or first >= end or not session.writes.may_write(seq, addr, addr + length):
            continue
        w = session.writes.writes(seq)
        idx = w.overlapping(addr, addr + length)
        steps = w.step[idx]
        found.extend(int(x) for x in np.unique(steps[(steps >= start) & (steps < end)]))
        if len(found) >= limit:
            break
    with lldb_target(trace.wasm) as target:
        names = _Names(session, target)
        return [_write_row(session, names, step, addr, length) for step in found[:limit]]


def _write_row(session: ReplaySession, names: _Names, step: int, addr: int, length: int) -> dict:
    """One write: the bytes before and after `step`, where it happened."""
    cur = session.cursor
    cur.seek(step)
    old = cur.read_memory(addr, length)
    new = None
    if step + 1 < session.trace.total_steps:
        cur.seek(step + 1)
        new = cur.read_memory(addr, length)
    pc = _pc_at(session, step)
    return {"step": step, "pc": pc, "function": names.at(pc),
            "old": old.hex() if old is not None else None,
            "new": new.hex() if new is not None else None}


def calls(session: ReplaySession, name: str, limit: int = 1000) -> list[dict]:
    """Every call of function `name` (any form names.resolve accepts): step in, step out (its
    last step), arguments, result (None when the call does not return exactly one number)."""
    trace = session.trace
    funcs = trace.schedule.funcs
    raw = {i: f.name for i, f in funcs.items()}
    with lldb_target(trace.wasm) as target:
        index = resolve(name, raw, None if target is None else
                        (lambda i: function_names(target, funcs[i].start)))
        info = funcs[index]
        shown = _Names(session, target).at(info.start)
    entry = info.entry_block
    params = [fx for fx in trace.schedule.blocks[entry].effects if fx[0] == -1]
    out = []
    for seq, *_ in trace.chunks:
        ch = trace.chunk(seq)
        for k in np.flatnonzero(ch.ids == entry).tolist():
            step_in = ch.first_step + int(ch.step_starts[k])
            args = []
            from ttd.replay.machine import read_value
            for fx in params:
                args.append(read_value(ch.vals, int(ch.voffs[k]) + fx[4], fx[3]))
            step_out, result = _return(session, seq, k)
            out.append({"function": shown, "step_in": step_in, "step_out": step_out,
                        "args": args, "result": result})
            if len(out) >= limit:
                return out
    return out


def _return(session: ReplaySession, seq: int, k: int) -> tuple[int | None, int | None]:
    """Last step of the call entered at block k of chunk seq, and its result (recorded by the
    caller's next block); (None, None) if it never returned."""
    from ttd.record.schedule import FX_RESULT
    from ttd.replay.machine import read_value

    trace = session.trace
    depth = int(session._depths(seq)[k])
    start = k + 1
    for s in range(seq, len(trace.chunks)):
        d = session._depths(s)
        after = np.flatnonzero(d[start:] < depth)
        if after.size:
            ch = trace.chunk(s)
            kc = start + int(after[0])
            result = None
            for fx in trace.schedule.blocks[int(ch.ids[kc])].effects:
                if fx[1] == FX_RESULT:
                    result = read_value(ch.vals, int(ch.voffs[kc]) + fx[3], fx[2])
            return ch.first_step + int(ch.step_starts[kc]) - 1, result
        start = 0
    return None, None


def at(session: ReplaySession, step: int) -> dict:
    """pc, function, source line (when LLDB can read the module's DWARF) and call stack."""
    session.goto(step)
    cur = session.cursor
    # a caller's line (and function) is its call instruction's, wherever wasmtime shows it
    with lldb_target(session.trace.wasm) as target:
        names = _Names(session, target)
        stack = [{"pc": pc, "function": names.at(f.pc)}
                 for pc, f in zip(cur.call_stack(), reversed(cur.st.frames))]
        if target is not None:
            for frame, f in zip(stack, reversed(cur.st.frames)):
                line = source_line(target, f.pc)
                if line:
                    frame["source"] = line
    return {"step": step, "pc": cur.pc, "function": stack[0]["function"],
            "source": stack[0].get("source"), "stack": stack}
