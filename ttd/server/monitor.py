"""`monitor` commands (gdb-remote qRcmd) that ttd's LLDB commands send to the server.

A command that moves stages the move; the resume LLDB sends right after performs it and
answers with the new stop, so LLDB refreshes frames and variables as after any step. Line
tables come from LLDB (it owns the DWARF); the server owns time.
"""

from __future__ import annotations

import shlex

from ttd.replay.session import ReplaySession, Watch
from ttd.replay.source_moves import NeedPcs, SourceFacts, SourceMoves
from ttd.replay.summary import format_rows, trace_rows, trace_summary

HELP = """ttd monitor commands:
  when                      current step and trace length
  goto start|end|STEP|+N|-N move to a step (on the next resume)
  info                      what the trace holds
  rsi [N]                   back N instructions
  rnext F B KEY [IF IB]     back to the previous line of a frame (wasm frame F, inlined
                            block B or 0, its line KEY; IF IB: the frame below it)
  rstep F B KEY [IF IB]     the same, entering the calls and inlined blocks met on the way
  rfinish [F [B]]           back to where that frame (or inlined block) was entered
  pcs FACTS [BLOCKS]        what LLDB knows of pcs (PC:KEY:FLAGS:CHAIN,... and ID:KEY,...)
                            A move answers `need PC,...` (tell `pcs`, then ask again) or
                            `land STEP BLOCK` (the step, and the inline level to show there)
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
        if cmd == "pcs":
            if not args:
                return "error: pcs wants FACTS [BLOCKS]\n"
            n = _facts(s).parse(args[0], args[1] if len(args) > 1 else "")
            return f"{n} pc(s)\n"
        if cmd in ("rnext", "rstep", "rfinish"):
            return _source_move(s, cmd, [int(a) for a in args], stage)
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


def _facts(s: ReplaySession) -> SourceFacts:
    facts = getattr(s, "source_facts", None)
    if facts is None:
        facts = s.source_facts = SourceFacts()
    return facts


def _source_move(s: ReplaySession, cmd: str, nums: list[int], stage) -> str:
    """A source-level move (ttd/replay/source_moves.py): `need PC,...` until the server
    knows every pc on its way, then `land STEP BLOCK`, the move staged (a watched access
    on the way back stops it there, as any move back)."""
    moves = SourceMoves(s, _facts(s))
    try:
        if cmd == "rfinish":
            if len(nums) > 2:
                raise ValueError("rfinish wants [FRAME [BLOCK]]")
            nums += [0] * (2 - len(nums))
            land = moves.reverse_finish(nums[0], nums[1])
        else:
            if len(nums) not in (3, 5):
                raise ValueError(f"{cmd} wants FRAME BLOCK KEY [INNER_FRAME INNER_BLOCK]")
            inner = (nums[3], nums[4]) if len(nums) == 5 else None
            move = moves.reverse_step if cmd == "rstep" else moves.reverse_next
            land = move(nums[0], nums[1], nums[2], inner)
    except NeedPcs as need:
        return "need " + ",".join(f"{pc:x}" for pc in need.pcs) + "\n"
    step = land.step
    stage(lambda: s.move_to(step))
    return f"land {step} {land.block}\n"


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
