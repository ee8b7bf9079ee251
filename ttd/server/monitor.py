"""`monitor` commands (gdb-remote qRcmd) that ttd's LLDB commands send to the server.

A command that moves stages the move; the resume LLDB sends right after performs it and
answers with the new stop, so LLDB refreshes frames and variables as after any step. Line
tables come from LLDB (it owns the DWARF); the server owns time.
"""

from __future__ import annotations

import bisect
import shlex
from typing import Callable

from ttd.replay.session import ReplaySession, Watch
from ttd.replay.summary import format_rows, trace_rows, trace_summary

HELP = """ttd monitor commands:
  when                      current step and trace length
  goto start|end|STEP|+N|-N move to a step (on the next resume)
  info                      what the trace holds
  rsi [N]                   back N instructions
  rnext MAP                 back to the start of the previous line of this frame
  rstep MAP                 back to the previous line, stopping in a callee met on the way
                            (MAP: start-end:line,... with hex pcs)
  linestart MAP             back to the first step of the current line
  rfinish                   back to the call of the current function
  rc                        back to the previous breakpoint or watchpoint hit
  last-write ADDR SIZE      back to the instruction that last wrote those bytes
A move that runs backwards (all but goto) stops at the latest watched access on its way,
before it. --watch=KIND:ADDR:SIZE,... (ttd.lldb sends it) lists the debugger's watchpoints
for the move, KIND m (modify: writes that change the value), w (write), r (read), a (access);
without it the move uses the inserted ones.
"""

_WATCH_KINDS = {"m": ("watch", True), "w": ("watch", False), "r": ("rwatch", False),
                "a": ("awatch", False)}


_MAX_WATCHES = 64  # as many as the server advertises (qWatchpointSupportInfo)


def parse_watch_list(text: str) -> list[Watch]:
    """'m:fffff0:4,r:1000:8' -> watches (addresses and sizes in hex); ValueError for
    anything else, more than 64, or a range outside a 64-bit memory."""
    out = []
    for part in text.split(","):
        if not part:
            continue
        kind, addr_s, size_s = part.split(":")
        if kind not in _WATCH_KINDS:
            raise ValueError(f"unknown watchpoint kind {kind!r}")
        addr, size = int(addr_s, 16), int(size_s, 16)
        if not (0 <= addr and 0 < size <= 1 << 32 and addr + size <= 1 << 63):
            raise ValueError(f"watched range {part!r} out of bounds")
        name, modify = _WATCH_KINDS[kind]
        out.append(Watch(addr, size, name, modify))
        if len(out) > _MAX_WATCHES:
            raise ValueError(f"more than {_MAX_WATCHES} watchpoints")
    return out


def parse_line_map(text: str) -> Callable[[int], int]:
    """'3c0c-3c26:13,3c26-3c3f:15' -> pc -> line (0 outside every range)."""
    entries = []
    for part in text.split(","):
        if not part:
            continue
        span, _, line = part.partition(":")
        lo, _, hi = span.partition("-")
        entries.append((int(lo, 16), int(hi, 16), int(line)))
    entries.sort()
    starts = [e[0] for e in entries]

    def line_of(pc: int) -> int:
        i = bisect.bisect_right(starts, pc) - 1
        if i >= 0 and entries[i][0] <= pc < entries[i][1]:
            return entries[i][2]
        return 0

    return line_of


def run_monitor(s: ReplaySession, command: str) -> str:
    try:
        words = shlex.split(command)
    except ValueError as e:
        return f"error: {e}\n"
    if words[:1] == ["ttd"]:
        words = words[1:]
    if not words or words[0] in ("help", "-h", "--help"):
        return HELP
    cmd, args = words[0], [w for w in words[1:] if not w.startswith("--watch=")]
    try:
        spec = [w[8:] for w in words[1:] if w.startswith("--watch=")]
        watches = parse_watch_list(spec[-1]) if spec else None

        def stage(move, jump=False):
            s.stage(move, jump=jump, watches=watches)

        if cmd == "when":
            return f"step {s.cursor.step} of {s.total}, depth {s.depth}\n"
        if cmd == "info":  # the rows `ttd info TRACE` prints
            summary = trace_summary(s.trace, str(s.trace.store.location))
            return format_rows(trace_rows(dict(summary, in_progress=False)))
        if cmd == "goto":
            target = _goto_target(s, args)
            stage(lambda: s.move_to(target), jump=True)
            return f"going to step {target}\n"
        if cmd == "rsi":
            n = int(args[0]) if args else 1
            if n < 1:
                return "error: rsi wants a positive count\n"
            stage(lambda: s.move_to(s.cursor.step - n))
            return f"back {n} instruction(s)\n"
        if cmd == "rstep":
            line_of = parse_line_map(args[0] if args else "")
            stage(lambda: s.move_to(s.back_step_into(line_of)))
            return "back to the previous line, into calls\n"
        if cmd == "rnext":
            line_of = parse_line_map(args[0] if args else "")
            stage(lambda: _reverse_next(s, line_of))
            return "back to the previous line\n"
        if cmd == "linestart":
            line_of = parse_line_map(args[0] if args else "")
            stage(lambda: s.move_to(s.back_to_line_start(line_of)))
            return "back to the start of the line\n"
        if cmd == "rfinish":
            stage(lambda: s.move_to(s.back_to_caller()))
            return "back to the caller\n"
        if cmd == "last-write":
            addr, size = int(args[0], 0), int(args[1], 0)
            step = s.last_write(addr, size)
            if step is None:
                return f"error: nothing wrote {size} byte(s) at {addr:#x} before this step\n"
            stage(lambda: s.move_to(step))
            return f"last written at step {step}\n"
        if cmd == "rc":
            # LLDB lifts the breakpoint under the pc to step off it when it resumes: search
            # with the breakpoints as they are now
            wanted = set(s.active)
            stage(lambda: s.continue_backward(wanted))
            return "back to the previous breakpoint or watchpoint hit\n"
    except (ValueError, IndexError) as e:
        return f"error: {e}\n"
    return f"error: unknown command {cmd!r}\n{HELP}"


def _reverse_next(s: ReplaySession, line_of: Callable[[int], int]):
    """Back to the start of the previous line of this frame, calls made from it un-executed
    in the same move; out of the function's first line, to the call in the caller."""
    d0 = s.depth
    s.cursor.seek(max(s.back_out_of_line(line_of, into=False), 0))
    if s.depth == d0:
        s.cursor.seek(s.back_to_line_start(line_of))
    return s.move_to(s.cursor.step)


def _goto_target(s: ReplaySession, args: list[str]) -> int:
    if not args:
        raise ValueError("goto wants start, end, STEP, +N or -N")
    a = args[0]
    if a == "start":
        return 0
    if a == "end":
        return s.total - 1
    if a[0] in "+-":
        return min(max(s.cursor.step + int(a), 0), s.total - 1)
    step = int(a)
    if not 0 <= step < s.total:
        raise ValueError(f"step {step} outside the trace (0..{s.total - 1})")
    return step
