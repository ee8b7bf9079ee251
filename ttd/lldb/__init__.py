"""LLDB commands for going backwards in a ttd trace: `command script import ttd.lldb`.

LLDB 23 can reverse-continue but its step commands only go forwards. These commands send a
`monitor` command to the ttd server (which stages a move in time) and resume; the server
answers the resume with the new position, so LLDB refreshes frames, source and variables as
after any forward step. LLDB owns the line tables, the server owns time: the server walks
back through the trace and asks about the pcs it meets (their line, whether a line-table
entry starts there, the inlined blocks around them), which the command answers from LLDB's
symbol context of each pc; only those pcs are ever looked up. The commands act on the
selected frame, inlined frames included, as the inverse of LLDB's forward `next`, `step`
and `finish` (see ttd/replay/source_moves.py).
"""

from __future__ import annotations

import re
import shlex

import lldb

COMMANDS = [
    # (command, alias, function, help)
    ("reverse-stepi", "rsi", "reverse_stepi", "Step back one instruction (-c N: N instructions)."),
    ("reverse-step", "rs", "reverse_step",
     "Step back to the previous source line of the selected frame, entering calls and inlined "
     "functions backwards (at their last line): the inverse of `step`."),
    ("reverse-next", "rn", "reverse_next",
     "Step back to the previous source line of the selected frame; calls and inlined "
     "functions run from it are undone in one move: the inverse of `next`."),
    ("reverse-finish", "rfinish", "reverse_finish",
     "Go back to where the selected frame (or inlined function) was entered: its call, in "
     "its caller."),
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


# ---- what LLDB knows of pcs, for the server's source-level moves --------------------------
#
# The server walks back through time and asks about the pcs it meets (`need PC,...`); the
# command answers from LLDB's symbol context of each pc (`ttd pcs`) and asks again. Lines
# and inlined blocks are named by small ids, the same for every connection of this LLDB.

OFFSET_MASK = 0xFFFFFFFF
_line_ids: dict[tuple[str, int], int] = {}
_block_ids: dict[tuple, int] = {}
_block_sites: dict[int, int] = {}  # block id -> line id of its call site
_pc_facts: dict[tuple, tuple[str, tuple[int, ...]]] = {}  # (module, pc) -> (facts, block ids)
_first_insn: dict[tuple, int | None] = {}  # (module, function start) -> its first instruction
STATS = {"pcs_resolved": 0, "rounds": 0}  # for tests and measurements


def _path(spec: lldb.SBFileSpec) -> str:
    return f"{spec.GetDirectory() or ''}/{spec.GetFilename() or ''}"


def _line_id(path: str, line: int) -> int:
    if not line:
        return 0
    return _line_ids.setdefault((path, line), len(_line_ids) + 1)


def _entry_key(le: lldb.SBLineEntry) -> int:
    return _line_id(_path(le.GetFileSpec()), le.GetLine()) if le.IsValid() else 0


def _block_id(block: lldb.SBBlock, target: lldb.SBTarget) -> int:
    """An id for an inlined block (its first range, name and call site name it)."""
    site = (_path(block.GetInlinedCallSiteFile()), block.GetInlinedCallSiteLine())
    ident = (block.GetRangeStartAddress(0).GetLoadAddress(target), block.GetInlinedName(),
             site, block.GetNumRanges())
    bid = _block_ids.get(ident)
    if bid is None:
        bid = _block_ids[ident] = len(_block_ids) + 1
        _block_sites[bid] = _line_id(*site)
    return bid


def _inlined_chain(block: lldb.SBBlock) -> list[lldb.SBBlock]:
    """The inlined blocks around `block`, innermost first."""
    out = []
    inl = block.GetContainingInlinedBlock() if block.IsValid() else None
    while inl is not None and inl.IsValid():
        out.append(inl)
        parent = inl.GetParent()
        inl = parent.GetContainingInlinedBlock() if parent.IsValid() else None
    return out


def _module_key(target: lldb.SBTarget, addr: int) -> tuple:
    return (target.GetProcess().GetUniqueID(), addr)


def pc_facts(target: lldb.SBTarget, addr: int) -> tuple[str, tuple[int, ...]]:
    """`OFFSET:LINE:FLAGS:CHAIN` for the code address `addr`, and the block ids of CHAIN.

    Only this pc's own symbol context is read: its line-table entry (whether it starts
    there), its function (a pc in the prologue, before the arguments are stored, has no
    line: LLDB's forward stepping never stops there, but for the function's first
    instruction, where `step` into it stops: FLAGS 4) and the inlined blocks around it."""
    cache_key = _module_key(target, addr)
    got = _pc_facts.get(cache_key)
    if got is not None:
        return got
    STATS["pcs_resolved"] += 1
    sc = target.ResolveSymbolContextForAddress(
        target.ResolveLoadAddress(addr),
        lldb.eSymbolContextFunction | lldb.eSymbolContextBlock | lldb.eSymbolContextLineEntry)
    le = sc.GetLineEntry()
    key, start = 0, False
    if le.IsValid() and le.GetLine():
        key = _entry_key(le)
        start = le.GetStartAddress().GetLoadAddress(target) == addr
    func = sc.GetFunction()
    entry = False
    if func.IsValid():
        lo = func.GetStartAddress().GetLoadAddress(target)
        # LLDB's `step` skips the prologue only when it arrives at `lo` (in wasm the locals
        # declaration, never executed); it stops at the first instruction, at its line
        entry = key != 0 and addr != lo and addr == _first_instruction(target, func, lo)
        if lo <= addr < lo + func.GetPrologueByteSize() and not entry:
            key, start = 0, False
    chain, ids = [], []
    for inl in _inlined_chain(sc.GetBlock()):
        bid = _block_id(inl, target)
        # LLDB shows an inlined call site (and `step` enters it virtually) only at the
        # block's start, its first range: code of the caller between two ranges (an
        # argument computed late) leads `step` straight into the next range's middle
        starts = (inl.GetNumRanges() > 0
                  and inl.GetRangeStartAddress(0).GetLoadAddress(target) == addr)
        chain.append(f"{bid}{'+' if starts else '-'}")
        ids.append(bid)
    flags = int(start) | (2 if le.IsValid() else 0) | (4 if entry else 0)
    got = _pc_facts[cache_key] = (
        f"{addr & OFFSET_MASK:x}:{key}:{flags}:{''.join(chain)}", tuple(ids))
    return got


def _first_instruction(target: lldb.SBTarget, func: lldb.SBFunction, lo: int) -> int | None:
    """Where a wasm function's code starts: after its locals declaration (vec of (count,
    valtype)), which is where the function's DWARF start address points. None if the
    bytes there are no such declaration."""
    got = _first_insn.get(_module_key(target, lo), False)
    if got is not False:
        return got
    start = func.GetStartAddress()
    n = max(0, min(func.GetEndAddress().GetLoadAddress(target) - lo, 1024))
    error = lldb.SBError()
    # from the module file (the code section), not through the connection
    data = start.GetSection().GetSectionData(start.GetOffset(), n).ReadRawData(error, 0, n) or b""
    pos = 0

    def uleb() -> int:
        nonlocal pos
        value = shift = 0
        while True:
            if pos >= len(data) or shift > 35:
                raise ValueError("truncated")
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value

    try:
        if not error.Success():
            raise ValueError("unreadable")
        groups = uleb()
        if groups > 50_000:
            raise ValueError("not a locals declaration")
        for _ in range(groups):
            uleb()
            if pos >= len(data):
                raise ValueError("truncated")
            valtype = data[pos]
            pos += 1
            if valtype in (0x63, 0x64):  # (ref null ht) / (ref ht): a heap type follows
                uleb()
            elif not (0x69 <= valtype <= 0x7F):
                raise ValueError("not a value type")
        got = lo + pos
    except ValueError:
        got = None
    _first_insn[_module_key(target, lo)] = got
    return got


def _tell(debugger: lldb.SBDebugger, target: lldb.SBTarget, base: int, pcs: list[int]) -> None:
    facts, blocks = [], set()
    for off in pcs:
        text, ids = pc_facts(target, base | off)
        facts.append(text)
        blocks.update(ids)
    sites = ",".join(f"{b}:{_block_sites[b]}" for b in sorted(blocks))
    # a qRcmd carries its text hex-encoded in a packet of at most 64 KiB
    for i in range(0, len(facts), 400):
        _monitor(debugger, f"ttd pcs {','.join(facts[i:i + 400])} {sites}".rstrip())


def _context(thread: lldb.SBThread, idx: int) -> tuple[int, int, int]:
    """(wasm frame, inlined block id or 0, line id) of LLDB's frame `idx`."""
    target = thread.GetProcess().GetTarget()
    wasm = sum(1 for i in range(idx) if not thread.GetFrameAtIndex(i).IsInlined())
    frame = thread.GetFrameAtIndex(idx)
    block = 0
    if frame.IsInlined():
        chain = _inlined_chain(frame.GetBlock())
        if chain:
            block = _block_id(chain[0], target)
    return wasm, block, _entry_key(frame.GetLineEntry())


def _ask(debugger: lldb.SBDebugger, text: str) -> tuple[int, int]:
    """Send a source-level move, answering the server's questions: (step, block)."""
    process = debugger.GetSelectedTarget().GetProcess()
    target = process.GetTarget()
    # code addresses are 0x4000000000000000 | module << 32 | offset; the trace's module is 0
    base = process.GetSelectedThread().GetFrameAtIndex(0).GetPC() & ~OFFSET_MASK or 1 << 62
    for _ in range(1000):
        STATS["rounds"] += 1
        out = _monitor(debugger, text)
        m = re.search(r"land (\d+) (\d+)", out)
        if m:
            return int(m.group(1)), int(m.group(2))
        m = re.search(r"need ([0-9a-f,]+)", out)
        if not m:
            raise RuntimeError(out.strip() or "the ttd server did not answer the move")
        _tell(debugger, target, base, [int(x, 16) for x in m.group(1).split(",")])
    raise RuntimeError("the ttd server kept asking about pcs")


def _levels(thread: lldb.SBThread, block: int) -> tuple[int, int]:
    """(inlined levels LLDB shows at the innermost wasm frame, levels wanted for `block`)."""
    target = thread.GetProcess().GetTarget()
    _, ids = pc_facts(target, thread.GetFrameAtIndex(0).GetPC())
    want = len(ids) - ids.index(block) if block in ids else 0
    shown = 0
    while shown < thread.GetNumFrames() and thread.GetFrameAtIndex(shown).IsInlined():
        shown += 1
    return shown, want


def _show_level(debugger: lldb.SBDebugger, block: int) -> tuple[str | None, bool]:
    """After landing, show the inline level `block` (0: the function itself): LLDB shows a
    pc where inlined blocks start at their call site, and `step` enters them without moving
    (a virtual step), as forward `step` does. (The last stop's text if it stepped, whether
    the level is shown.)"""
    thread = debugger.GetSelectedTarget().GetProcess().GetSelectedThread()
    text = None
    for _ in range(64):
        shown, want = _levels(thread, block)
        if want == shown:
            return text, True
        if want < shown:
            return text, False  # LLDB kept a deeper level at this pc: only a new stop resets it
        pc = thread.GetFrameAtIndex(0).GetPC()
        ret = lldb.SBCommandReturnObject()
        debugger.GetCommandInterpreter().HandleCommand("thread step-in", ret)
        text = ret.GetOutput() or ""
        if thread.GetFrameAtIndex(0).GetPC() != pc:
            break  # not a virtual step after all: stop here rather than wander
    return text, True


def _source_move(debugger: lldb.SBDebugger, result, text: str) -> None:
    watches = _watch_list(debugger.GetSelectedTarget())[0]
    step, block = _ask(debugger, f"{text} --watch={watches}")
    thread = debugger.GetSelectedTarget().GetProcess().GetSelectedThread()
    if step > 0 and not watches:
        # land one step early and single-step onto it: LLDB then shows the pc as after a
        # forward step (inlined blocks that start there are at their call site); a plain
        # stop there would show the innermost inlined frame
        _move(debugger, f"ttd goto {step - 1}", None)
        # look at that stop's frames: LLDB forgets the inline level it showed only when it
        # sees the pc change (coming back to the same pc, it would keep it)
        thread.GetNumFrames()
        thread.GetFrameAtIndex(0).GetFunctionName()
        ret = lldb.SBCommandReturnObject()
        debugger.GetCommandInterpreter().HandleCommand("thread step-inst", ret)
        if not ret.Succeeded():
            raise RuntimeError((ret.GetError() or "").strip() or "the last step failed")
        out = ret.GetOutput() or ""
    else:
        # the staged move itself: with watchpoints it stops at a watched access on its way
        # back (single-stepping onto the landing would run the instruction before it again)
        first = lldb.SBCommandReturnObject()
        _resume(debugger, first)
        out = (first.GetOutput() or "").replace("Process 1 resuming\n", "")
        if thread.GetStopReason() == lldb.eStopReasonWatchpoint:
            result.AppendMessage(out.rstrip("\n"))
            return
    shown, _ = _show_level(debugger, block)
    result.AppendMessage((shown if shown is not None else out).rstrip("\n"))


def _selected(debugger: lldb.SBDebugger) -> tuple[lldb.SBThread, int]:
    thread = debugger.GetSelectedTarget().GetProcess().GetSelectedThread()
    return thread, thread.GetSelectedFrame().GetFrameID()


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


def _line_move(debugger, result, cmd: str) -> None:
    thread, idx = _selected(debugger)
    wasm, block, key = _context(thread, idx)
    if not key and idx == 0 and not thread.GetFrameAtIndex(0).GetLineEntry().IsValid():
        _move(debugger, "ttd rsi 1", result)  # no line information: an instruction at a time
        return
    text = f"ttd {cmd} {wasm} {block} {key}"
    if idx > 0:
        iwasm, iblock, _ = _context(thread, idx - 1)
        text += f" {iwasm} {iblock}"
    _source_move(debugger, result, text)


def reverse_next(debugger, command, result, _dict) -> None:
    _run(debugger, result, lambda: _line_move(debugger, result, "rnext"))


def reverse_step(debugger, command, result, _dict) -> None:
    _run(debugger, result, lambda: _line_move(debugger, result, "rstep"))


def reverse_finish(debugger, command, result, _dict) -> None:
    def body():
        thread, idx = _selected(debugger)
        wasm, block, _ = _context(thread, idx)
        _source_move(debugger, result, f"ttd rfinish {wasm} {block}")
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
