"""Time-travel queries over a whole trace: who wrote these bytes, every call of a function,
what was happening at a step. Answers are plain dicts; the CLI formats them."""

from __future__ import annotations

import numpy as np

from ttd.replay.session import ReplaySession


def _pc_at(session: ReplaySession, step: int) -> int:
    trace = session.trace
    ch = trace.chunk(trace.chunk_for_step(step))
    k = ch.block_at_step(step - ch.first_step)
    return trace.schedule.blocks[int(ch.ids[k])].pcs[step - ch.first_step - int(ch.step_starts[k])]


def _func_name(session: ReplaySession, pc: int) -> str:
    func = session.trace.module.function_at(pc)
    return session.trace.module.function_name(func.index) if func is not None else "?"


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
    out = []
    cur = session.cursor
    for step in found[:limit]:
        cur.seek(step)
        old = cur.read_memory(addr, length)
        new = None
        if step + 1 < trace.total_steps:
            cur.seek(step + 1)
            new = cur.read_memory(addr, length)
        pc = _pc_at(session, step)
        out.append({"step": step, "pc": pc, "function": _func_name(session, pc),
                    "old": old.hex() if old is not None else None,
                    "new": new.hex() if new is not None else None})
    return out


def calls(session: ReplaySession, name: str, limit: int = 1000) -> list[dict]:
    """Every call of function `name`: step in, step out (its last step), arguments, result
    (None when the call does not return exactly one number)."""
    trace = session.trace
    funcs = [f for f in trace.schedule.funcs.values() if f.name == name]
    if not funcs:
        raise ValueError(f"no function named {name!r} in the module")
    info = funcs[0]
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
            out.append({"step_in": step_in, "step_out": step_out, "args": args,
                        "result": result})
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
    stack = [{"pc": pc, "function": _func_name(session, pc)} for pc in cur.call_stack()]
    lines = _source_lines(session, [f["pc"] for f in stack])
    for frame, line in zip(stack, lines):
        if line:
            frame["source"] = line
    return {"step": step, "pc": cur.pc, "function": stack[0]["function"],
            "source": stack[0].get("source"), "stack": stack}


def _source_lines(session: ReplaySession, pcs: list[int]) -> list[str | None]:
    """file:line per pc from the module's DWARF, read by LLDB's Python module if installed."""
    try:
        import lldb
    except ImportError:
        return [None] * len(pcs)
    import os
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".wasm", delete=False) as f:
        f.write(session.trace.wasm)
        path = f.name
    try:
        dbg = lldb.SBDebugger.Create(False)
        target = dbg.CreateTarget(path)
        out: list[str | None] = []
        if target.IsValid() and target.GetNumModules():
            target.SetModuleLoadAddress(target.GetModuleAtIndex(0), 0x4000000000000000)
            for i, pc in enumerate(pcs):
                # callers are at their return address: look up the call before it
                le = target.ResolveLoadAddress(0x4000000000000000 | max(pc - (i > 0), 0)).GetLineEntry()
                out.append(f"{le.GetFileSpec().GetFilename()}:{le.GetLine()}"
                           if le.IsValid() and le.GetLine() else None)
        else:
            out = [None] * len(pcs)
        lldb.SBDebugger.Destroy(dbg)
        return out
    finally:
        os.unlink(path)
