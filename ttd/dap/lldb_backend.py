"""The adapter's debugger: LLDB's Python API connected to the real `ttd serve`.

LLDB reads DWARF and evaluates expressions; the server (a subprocess: LLDB's SB calls hold
the GIL while they wait for packets, a server thread here would starve) moves in time.
Reverse moves are ttd.lldb's commands (rn, rs, rfinish, rsi, rc, ttd goto|last-write).
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections import deque
from pathlib import Path
from typing import Any

from ttd.dap.backend import BackendError, FrameInfo, Instruction, StopInfo, VarInfo

MAX_CHILDREN = 1000
_NO_LINE = (0, 0xFFFFFFFF)
_initialized = False


def _lldb():
    global _initialized
    try:
        import lldb
    except ImportError:
        raise BackendError("the lldb Python module is missing: pip install lldb-for-pwndbg")
    if not _initialized:
        lldb.SBDebugger.Initialize()
        _initialized = True
    return lldb


def _die_with_parent() -> None:
    """In the server's process (Linux): end when the adapter ends, however it ends."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def start_server(trace: Path, at: str, timeout: float = 120.0) -> tuple[subprocess.Popen, int]:
    """`ttd serve TRACE --port 0 --at AT` (opens the trace read-only); (process, port)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ttd.cli.main", "serve", "--port", "0", "--at", at, "--quiet",
         str(trace)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, errors="replace",
        preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
    errors: deque[str] = deque(maxlen=20)

    def drain(stream, keep):
        for line in stream:
            if keep is not None:
                keep.append(line.rstrip("\n"))
    threading.Thread(target=drain, args=(proc.stderr, errors), daemon=True).start()
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        for line in proc.stdout:
            m = re.search(r"connect://127\.0\.0\.1:(\d+)", line)
            if m:
                threading.Thread(target=drain, args=(proc.stdout, None), daemon=True).start()
                return proc, int(m.group(1))
    finally:
        timer.cancel()
    proc.wait()
    why = next((ln for ln in reversed(errors) if ln.strip()), f"exit status {proc.returncode}")
    raise BackendError(why.removeprefix("ttd: error: "))


class LLDBBackend:
    """One LLDB debugger connected to one `ttd serve` of `trace`, stopped at `at`."""

    def __init__(self, trace: Path, at: str = "start"):
        self.lldb = lldb = _lldb()
        self.server, port = start_server(trace, at)
        self.debugger = lldb.SBDebugger.Create(False)
        self.debugger.SetAsync(False)
        try:
            self.command("settings set plugin.process.gdb-remote.packet-timeout 60")
            self.command("command script import ttd.lldb")
            self.target = self.debugger.CreateTarget("")
            err = lldb.SBError()
            self.process = self.target.ConnectRemote(
                self.debugger.GetListener(), f"connect://127.0.0.1:{port}", "wasm", err)
            if not err.Success() or not self.process.IsValid():
                raise BackendError(f"LLDB could not connect to ttd serve: {err.GetCString()}")
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        try:
            proc = getattr(self, "process", None)
            if proc is not None and proc.IsValid():
                proc.Kill()
            self.lldb.SBDebugger.Destroy(self.debugger)
        finally:
            self.server.terminate()
            try:
                self.server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()

    # ---- commands and state --------------------------------------------------------
    def command(self, text: str) -> str:
        ret = self.lldb.SBCommandReturnObject()
        self.debugger.GetCommandInterpreter().HandleCommand(text, ret)
        if not ret.Succeeded():
            msg = " ".join((ret.GetError() or "").split()) or f"{text}: failed"
            raise BackendError(msg.removeprefix("error: "))
        return ret.GetOutput() or ""

    def _thread(self):
        if not self.process.IsValid() or self.process.GetState() != self.lldb.eStateStopped:
            raise BackendError("the program is not stopped")
        return self.process.GetSelectedThread()

    def _frame(self, index: int):
        frame = self._thread().GetFrameAtIndex(index)
        if not frame.IsValid():
            raise BackendError(f"no frame {index}")
        return frame

    def stop_info(self) -> StopInfo:
        lldb = self.lldb
        if not self.process.IsValid() or self.process.GetState() != lldb.eStateStopped:
            return StopInfo("exited", description=self.process.GetExitDescription() or "")
        th = self.process.GetSelectedThread()
        reason = th.GetStopReason()
        desc = th.GetStopDescription(1024) or ""
        n = th.GetStopReasonDataCount()
        if reason == lldb.eStopReasonBreakpoint:
            ids = sorted({int(th.GetStopReasonDataAtIndex(i)) for i in range(0, n, 2)})
            return StopInfo("breakpoint", ids, desc)
        if reason == lldb.eStopReasonWatchpoint:
            return StopInfo("watchpoint", [int(th.GetStopReasonDataAtIndex(0))] if n else [], desc)
        if reason == lldb.eStopReasonException or (  # the first stop is a SIGTRAP: not a trap
                reason == lldb.eStopReasonSignal and n and th.GetStopReasonDataAtIndex(0) != 5):
            return StopInfo("exception", description=desc)
        if reason == getattr(lldb, "eStopReasonHistoryBoundary", -1):
            return StopInfo("boundary", description=desc)
        return StopInfo("step", description=desc)

    # ---- moving in time ------------------------------------------------------------
    _COMMANDS = {"continue": "process continue -F", "stepBack": "reverse-next",
                 "stepBackInst": "reverse-stepi", "reverseContinue": "reverse-continue",
                 "reverseStepIn": "reverse-step", "reverseStepOut": "reverse-finish"}

    def move(self, kind: str, frame: int = 0) -> None:
        """`frame`: the frame the user selected; stepOut and the reverse source-level moves
        act on it (as ttd.lldb's commands on LLDB's selected frame), the others on frame 0."""
        th = self._thread()
        if kind in ("stepOut", "stepBack", "reverseStepIn", "reverseStepOut"):
            th.SetSelectedFrame(self._frame(frame).GetFrameID())
        else:
            th.SetSelectedFrame(0)
        err = self.lldb.SBError()
        if kind in self._COMMANDS:
            self.command(self._COMMANDS[kind])
        elif kind == "next":
            th.StepOver(self.lldb.eOnlyDuringStepping, err)
        elif kind == "stepIn":
            th.StepInto()
        elif kind == "stepOut":
            th.StepOutOfFrame(th.GetSelectedFrame(), err)
        elif kind in ("nextInst", "stepInInst"):
            th.StepInstruction(kind == "nextInst", err)
        else:
            raise BackendError(f"unknown move {kind}")
        if err.Fail():
            raise BackendError(err.GetCString() or f"{kind} failed")
        self._discard_plans()

    def _discard_plans(self) -> None:
        """A step that stopped early (a breakpoint in a call) leaves its plan on LLDB's
        stack, and the next resume would finish it: every DAP move starts afresh."""
        if self.process.GetState() != self.lldb.eStateStopped:
            return
        for _ in range(16):
            ret = self.lldb.SBCommandReturnObject()
            self.debugger.GetCommandInterpreter().HandleCommand("thread plan discard 1", ret)
            if not ret.Succeeded():
                return

    def goto(self, position: str) -> None:
        self._thread()
        self.command(f"ttd goto {position}")

    def last_write(self, expression: str, frame: int) -> None:
        self._thread().SetSelectedFrame(self._frame(frame).GetFrameID())
        self.command(f"ttd last-write {expression}")

    def when(self) -> tuple[int, int]:
        self._thread()
        m = re.search(r"step (\d+) of (\d+)", self.command("ttd when"))
        if not m:
            raise BackendError("the ttd server did not say where it is")
        return int(m.group(1)), int(m.group(2))

    # ---- threads and frames --------------------------------------------------------
    def threads(self) -> list[tuple[int, str]]:
        if not self.process.IsValid() or self.process.GetState() != self.lldb.eStateStopped:
            return []
        return [(t.GetThreadID(), t.GetName() or f"thread {t.GetIndexID()}")
                for t in self.process]

    def frames(self, thread: int) -> list[FrameInfo]:
        th = self.process.GetThreadByID(thread)
        if not th.IsValid():
            raise BackendError(f"no thread {thread}")
        out = []
        for f in th:
            le = f.GetLineEntry()
            path, line, col = None, 0, 0
            if le.IsValid() and le.GetLine() not in _NO_LINE:
                path, line, col = le.GetFileSpec().fullpath, le.GetLine(), le.GetColumn()
            name = f.GetDisplayFunctionName() or f.GetFunctionName() or f"{f.GetPC():#x}"
            out.append(FrameInfo(name, path, line, col, f.GetPC()))
        return out

    # ---- breakpoints ---------------------------------------------------------------
    def _configure(self, bp, condition: str | None, ignore: int) -> None:
        if condition:
            bp.SetCondition(condition)
        if ignore:
            bp.SetIgnoreCount(ignore)

    def break_source(self, path: str, line: int, condition: str | None,
                     ignore: int) -> tuple[int, bool, int, str | None]:
        """(id, resolved, line, the DWARF file name it resolved in)."""
        bp = self.target.BreakpointCreateByLocation(path, line)
        if bp.IsValid() and bp.GetNumLocations() == 0 and "/" in path:
            self.target.BreakpointDelete(bp.GetID())  # a path LLDB does not know: its name
            bp = self.target.BreakpointCreateByLocation(Path(path).name, line)
        if not bp.IsValid():
            raise BackendError(f"cannot set a breakpoint at {path}:{line}")
        self._configure(bp, condition, ignore)
        actual, dwarf = line, None
        if bp.GetNumLocations():
            le = bp.GetLocationAtIndex(0).GetAddress().GetLineEntry()
            if le.IsValid() and le.GetLine() not in _NO_LINE:
                actual, dwarf = le.GetLine(), le.GetFileSpec().fullpath
        return bp.GetID(), bp.GetNumLocations() > 0, actual, dwarf

    def break_function(self, name: str, condition: str | None, ignore: int) -> tuple[int, bool]:
        bp = self.target.BreakpointCreateByName(name)
        if not bp.IsValid():
            raise BackendError(f"cannot set a breakpoint on {name}")
        self._configure(bp, condition, ignore)
        return bp.GetID(), bp.GetNumLocations() > 0

    def delete_breakpoint(self, bp: int) -> None:
        self.target.BreakpointDelete(bp)

    def enable_breakpoint(self, bp: int, enabled: bool) -> None:
        b = self.target.FindBreakpointByID(bp)
        if b.IsValid():
            b.SetEnabled(enabled)

    def watch(self, addr: int, size: int, read: bool, write: bool, condition: str | None,
              ignore: int) -> int:
        lldb = self.lldb
        err = lldb.SBError()
        opts = lldb.SBWatchpointOptions()
        opts.SetWatchpointTypeRead(read)
        opts.SetWatchpointTypeWrite(lldb.eWatchpointWriteTypeAlways if write
                                    else lldb.eWatchpointWriteTypeDisabled)
        wp = self.target.WatchpointCreateByAddress(addr, size, opts, err)
        if err.Fail() or not wp.IsValid():
            raise BackendError(err.GetCString() or f"cannot watch {size} bytes at {addr:#x}")
        if condition:
            wp.SetCondition(condition)
        if ignore:
            wp.SetIgnoreCount(ignore)
        return wp.GetID()

    def delete_watch(self, wp: int) -> None:
        self.target.DeleteWatchpoint(wp)

    # ---- values --------------------------------------------------------------------
    def _info(self, v, name: str | None = None) -> VarInfo:
        lldb = self.lldb
        err = v.GetError()
        tname = v.GetDisplayTypeName() or ""
        if err.Fail():
            return VarInfo(name or v.GetName() or "", f"<{err.GetCString()}>", tname, False, v)
        value, summary = v.GetValue(), v.GetSummary()
        n = v.GetNumChildren()
        if value is not None:
            text = f"{value} {summary}" if summary else value
        else:
            text = summary if summary is not None else ("{...}" if n else "")
        mem = None
        tc = v.GetType().GetCanonicalType().GetTypeClass()
        if tc == lldb.eTypeClassPointer:
            mem = f"{v.GetValueAsUnsigned():#x}"
        elif v.GetValueType() != lldb.eValueTypeConstResult:
            a = v.GetLoadAddress()
            if a != lldb.LLDB_INVALID_ADDRESS:
                mem = f"{a:#x}"
        stream = lldb.SBStream()
        ev = v.GetExpressionPath(stream) and stream.GetData() or None
        return VarInfo(name or v.GetName() or "", text, tname, n > 0, v, mem, ev)

    def scope(self, frame: int, kind: str) -> list[VarInfo]:
        f = self._frame(frame)
        if kind == "locals":
            values = f.GetVariables(True, True, False, True)
        else:
            values = f.GetVariables(False, False, True, True)
        seen: dict[str, int] = {}
        out = []
        for v in values:
            name = v.GetName() or ""
            seen[name] = seen.get(name, 0) + 1
            out.append(self._info(v, name if seen[name] == 1 else f"{name} #{seen[name]}"))
        return out

    def children(self, handle: Any) -> list[VarInfo]:
        n = min(handle.GetNumChildren(), MAX_CHILDREN)
        return [self._info(handle.GetChildAtIndex(i)) for i in range(n)]

    def address_of(self, handle: Any) -> tuple[int, int] | None:
        a = handle.GetLoadAddress()
        size = handle.GetByteSize()
        if a == self.lldb.LLDB_INVALID_ADDRESS or not size:
            return None
        return a, size

    def evaluate(self, expression: str, frame: int) -> VarInfo:
        f = self._frame(frame)
        v = f.GetValueForVariablePath(expression)
        if not v.IsValid() or v.GetError().Fail():
            v = f.EvaluateExpression(expression)
        if not v.IsValid() or v.GetError().Fail():
            why = v.GetError().GetCString() if v.IsValid() else None
            raise BackendError(" ".join((why or f"cannot evaluate {expression}").split())
                               .removeprefix("error: "))
        return self._info(v, expression)

    def read_memory(self, addr: int, count: int) -> bytes:
        err = self.lldb.SBError()
        data = self.process.ReadMemory(addr, count, err) if count else b""
        if err.Fail():
            raise BackendError(err.GetCString() or f"cannot read memory at {addr:#x}")
        return bytes(data)

    def disassemble(self, addr: int, offset: int, count: int) -> list[Instruction | None]:
        """`count` slots from `offset` instructions away from `addr`, within its function
        (None where the window leaves it)."""
        target = self.target
        func = target.ResolveSymbolContextForAddress(
            target.ResolveLoadAddress(addr), self.lldb.eSymbolContextFunction).GetFunction()
        if func.IsValid():
            insts = list(func.GetInstructions(target))
        else:
            insts = list(target.ReadInstructions(target.ResolveLoadAddress(addr),
                                                 max(offset + count, 1)))
        addrs = [i.GetAddress().GetLoadAddress(target) for i in insts]
        at = addrs.index(addr) if addr in addrs else 0
        out: list[Instruction | None] = []
        for k in range(at + offset, at + offset + count):
            if not 0 <= k < len(insts):
                out.append(None)
                continue
            ins = insts[k]
            raw = ins.GetData(target)
            err = self.lldb.SBError()
            data = bytes(raw.ReadRawData(err, 0, raw.GetByteSize())) if raw.GetByteSize() else b""
            le = ins.GetAddress().GetLineEntry()
            path = le.GetFileSpec().fullpath if le.IsValid() and le.GetLine() not in _NO_LINE else None
            text = f"{ins.GetMnemonic(target)} {ins.GetOperands(target)}".strip()
            out.append(Instruction(addrs[k], text, data.hex(" "), path, le.GetLine() if path else 0))
        return out
