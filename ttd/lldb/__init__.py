"""LLDB commands for going backwards in a ttd trace: `command script import ttd.lldb`.

LLDB 23 can reverse-continue but its step commands only go forwards. These commands send a
`monitor` command to the ttd server (which stages a move in time) and resume; the server
answers the resume with the new position, so LLDB refreshes frames, source and variables as
after any forward step. LLDB owns the line tables, the server owns time: a command passes the
current function's line table, the server walks back through the trace.
"""

from __future__ import annotations

import re
import shlex

import lldb

COMMANDS = [
    # (command, alias, function, help)
    ("reverse-stepi", "rsi", "reverse_stepi", "Step back one instruction (-c N: N instructions)."),
    ("reverse-step", "rs", "reverse_step",
     "Step back to the previous source line, entering calls backwards (at their last line)."),
    ("reverse-next", "rn", "reverse_next",
     "Step back to the previous source line of this frame; calls made from it are undone in "
     "one move."),
    ("reverse-finish", "rfinish", "reverse_finish",
     "Go back to the call of the current function, in its caller."),
    ("reverse-continue", "rc", "reverse_continue",
     "Run backwards to the previous breakpoint or watchpoint hit (or the start of the "
     "recording); LLDB stays in forward direction afterwards."),
    ("ttd", None, "ttd_command",
     "ttd when | goto start|end|STEP|+N|-N | info | last-write EXPR: where you are in the "
     "trace, go anywhere, or back to the instruction that last wrote the lvalue EXPR."),
]


def __lldb_init_module(debugger: lldb.SBDebugger, _internal_dict) -> None:
    for name, alias, func, help_text in COMMANDS:
        debugger.HandleCommand(f"command script add -o -f {__name__}.{func} -h {shlex.quote(help_text)} {name}")
        if alias:
            debugger.HandleCommand(f"command alias {alias} {name}")


# ---- talking to the server ----------------------------------------------------------------

def _monitor(debugger: lldb.SBDebugger, text: str) -> str:
    ret = lldb.SBCommandReturnObject()
    debugger.GetCommandInterpreter().HandleCommand(f"process plugin packet monitor {text}", ret)
    out = (ret.GetOutput() or "") + (ret.GetError() or "")
    body = "\n".join(ln for ln in out.splitlines()
                     if not ln.strip().startswith(("packet:", "response:")))
    if not ret.Succeeded() or body.startswith("error") or "error:" in body:
        raise RuntimeError(body.strip() or "the ttd server refused the command")
    return body


def _resume(debugger: lldb.SBDebugger, result: lldb.SBCommandReturnObject | None) -> None:
    """Resume forwards once; the server answers with the staged move (if LLDB first steps
    off a breakpoint, that step carries the move and the server holds on the continue)."""
    ret = lldb.SBCommandReturnObject()
    debugger.GetCommandInterpreter().HandleCommand("process continue -F", ret)
    if result is not None:
        text = (ret.GetOutput() or "").replace("Process 1 resuming\n", "")
        result.AppendMessage(text.rstrip("\n"))


def _move(debugger: lldb.SBDebugger, monitor: str, result) -> None:
    """Stage a move on the server, then resume so that LLDB lands there and refreshes. A
    move back stops at a watchpoint hit on its way (the server is told LLDB's list)."""
    _monitor(debugger, f"{monitor} --watch={_watch_list(debugger.GetSelectedTarget())[0]}")
    _resume(debugger, result)


def _watch_list(target: lldb.SBTarget) -> tuple[str, bool]:
    """LLDB's enabled watchpoints as the server's `--watch=` list (kind:addr:size, kind m for
    LLDB's "modify", w, r or a), and whether any was left out because LLDB judges its hits
    itself (a condition, or an ignore count not used up).

    A move staged on the server is answered to a forward resume; a hit that LLDB does not
    want (an unchanged value for "modify", a false condition) makes LLDB resume forwards,
    so the server must report only hits that LLDB will stop at."""
    parts, judged = [], False
    for i in range(target.GetNumWatchpoints()):
        wp = target.GetWatchpointAtIndex(i)
        if not wp.IsValid() or not wp.IsEnabled():
            continue
        if wp.GetCondition() or wp.GetHitCount() < wp.GetIgnoreCount():
            judged = True
            continue
        stream = lldb.SBStream()
        wp.GetDescription(stream, lldb.eDescriptionLevelBrief)
        m = re.search(r"type = (r?)(w?)(m?)", stream.GetData() or "")
        read, write, modify = (bool(g) for g in m.groups()) if m else (
            wp.IsWatchingReads(), wp.IsWatchingWrites(), False)
        kind = "a" if read and (write or modify) else "r" if read else "m" if modify else "w"
        parts.append(f"{kind}:{wp.GetWatchAddress():x}:{wp.GetWatchSize():x}")
    return ",".join(parts), judged


def _judged_breakpoints(target: lldb.SBTarget) -> bool:
    """Whether LLDB may pass a hit of an enabled breakpoint by itself (a condition, an ignore
    count not used up, auto-continue), resuming the way it was going."""
    for i in range(target.GetNumBreakpoints()):
        bp = target.GetBreakpointAtIndex(i)
        if not bp.IsValid() or not bp.IsEnabled():
            continue
        things = [bp] + [bp.GetLocationAtIndex(j) for j in range(bp.GetNumLocations())]
        for t in things:
            if t.GetCondition() or t.GetAutoContinue() or t.GetIgnoreCount() > bp.GetHitCount():
                return True
    return False


def _check(debugger: lldb.SBDebugger) -> lldb.SBProcess:
    process = debugger.GetSelectedTarget().GetProcess()
    if not process.IsValid() or process.GetState() != lldb.eStateStopped:
        raise RuntimeError("no stopped process: connect to `ttd serve` first")
    return process


def _depth(debugger: lldb.SBDebugger) -> int:
    m = re.search(r"depth (\d+)", _monitor(debugger, "ttd when"))
    return int(m.group(1)) if m else 0


def line_map(frame: lldb.SBFrame) -> str:
    """The line table of the frame's function: 'start-end:id,...' with pc offsets in hex and an
    id per (file, line); line 0 (compiler-made code) keeps id 0."""
    target = frame.GetThread().GetProcess().GetTarget()
    func = frame.GetFunction()
    cu = frame.GetCompileUnit()
    if not func.IsValid() or not cu.IsValid():
        return ""
    lo = func.GetStartAddress().GetLoadAddress(target)
    hi = func.GetEndAddress().GetLoadAddress(target)
    ids: dict[tuple[str, int], int] = {}
    parts = []
    for i in range(cu.GetNumLineEntries()):
        le = cu.GetLineEntryAtIndex(i)
        start = le.GetStartAddress().GetLoadAddress(target)
        end = le.GetEndAddress().GetLoadAddress(target)
        if start >= hi or end <= lo or end <= start:
            continue
        line = le.GetLine()
        key = (str(le.GetFileSpec()), line)
        ident = 0 if line == 0 else ids.setdefault(key, len(ids) + 1)
        parts.append(f"{max(start, lo) & 0xFFFFFFFF:x}-{min(end, hi) & 0xFFFFFFFF:x}:{ident}")
    return ",".join(parts)


def _run(debugger, result, body) -> None:
    try:
        _check(debugger)
        body()
        result.SetStatus(lldb.eReturnStatusSuccessFinishResult)
    except (RuntimeError, ValueError) as e:
        result.SetError(str(e))


# ---- the commands -------------------------------------------------------------------------

def reverse_stepi(debugger, command, result, _dict) -> None:
    args = shlex.split(command)
    n = 1
    if args[:1] in (["-c"], ["--count"]) and len(args) > 1:
        n = int(args[1])
    elif args:
        n = int(args[0])

    def body():
        _move(debugger, f"ttd rsi {n}", result)
    _run(debugger, result, body)


def reverse_next(debugger, command, result, _dict) -> None:
    def body():
        frame = debugger.GetSelectedTarget().GetProcess().GetSelectedThread().GetFrameAtIndex(0)
        table = line_map(frame)
        # no line information: an instruction at a time
        _move(debugger, f"ttd rnext {table}" if table else "ttd rsi 1", result)
    _run(debugger, result, body)


def reverse_step(debugger, command, result, _dict) -> None:
    def body():
        thread = debugger.GetSelectedTarget().GetProcess().GetSelectedThread()
        table = line_map(thread.GetFrameAtIndex(0))
        if not table:
            _move(debugger, "ttd rsi 1", result)  # no line information: an instruction at a time
            return
        d0 = _depth(debugger)
        first = lldb.SBCommandReturnObject()
        _move(debugger, f"ttd rstep {table}", first)
        if _depth(debugger) <= d0 or thread.GetStopReason() == lldb.eStopReasonWatchpoint:
            result.AppendMessage((first.GetOutput() or "").rstrip("\n"))
            return
        # at the last instruction of a callee: back to the start of its last line
        callee = line_map(thread.GetFrameAtIndex(0))
        _move(debugger, f"ttd linestart {callee}" if callee else "ttd goto +0", result)
    _run(debugger, result, body)


def reverse_finish(debugger, command, result, _dict) -> None:
    def body():
        _move(debugger, "ttd rfinish", result)
    _run(debugger, result, body)


def reverse_continue(debugger, command, result, _dict) -> None:
    def body():
        target = debugger.GetSelectedTarget()
        if _watch_list(target)[1] or _judged_breakpoints(target):
            # LLDB judges some hits itself and resumes the way it is going after one it
            # passes: run backwards in LLDB's own direction, which then stays backwards
            ret = lldb.SBCommandReturnObject()
            debugger.GetCommandInterpreter().HandleCommand("process continue -R", ret)
            text = (ret.GetOutput() or "").replace("Process 1 resuming\n", "").rstrip("\n")
            result.AppendMessage(text + "\n(a condition or ignore count is set: LLDB now "
                                 "continues backwards; `process continue -F` goes forwards)")
            return
        _move(debugger, "ttd rc", result)
    _run(debugger, result, body)


def ttd_command(debugger, command, result, _dict) -> None:
    if command.strip().startswith("last-write"):
        _run(debugger, result, lambda: _last_write(debugger, command.strip()[10:].strip(), result))
        return
    args = shlex.split(command)
    if not args or args[0] not in ("when", "goto", "info"):
        result.SetError("usage: ttd when | goto start|end|STEP|+N|-N | info | last-write EXPR")
        return

    def body():
        command = "ttd " + " ".join(shlex.quote(a) for a in args)
        if args[0] == "goto":
            _move(debugger, command, result)
        else:
            result.AppendMessage(_monitor(debugger, command).strip())
    _run(debugger, result, body)


def _last_write(debugger, expr: str, result) -> None:
    """Back to the instruction that last wrote the lvalue `expr` (LLDB finds its bytes)."""
    if not expr:
        raise ValueError("usage: ttd last-write EXPR")
    frame = debugger.GetSelectedTarget().GetProcess().GetSelectedThread().GetSelectedFrame()
    value = frame.EvaluateExpression(expr)
    if not value.GetError().Success():
        raise ValueError(f"cannot evaluate {expr}: {value.GetError().GetCString()}")
    addr = value.GetLoadAddress()
    size = value.GetByteSize()
    if addr == lldb.LLDB_INVALID_ADDRESS or not size:
        raise ValueError(f"{expr} is not in linear memory (a wasm local has no address)")
    _move(debugger, f"ttd last-write {addr:#x} {size}", result)
