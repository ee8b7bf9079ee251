"""A small synchronous driver over LLDB's Python module for any gdb-remote wasm stub.

Works against the live reference (`wasmtime run -g`, see live.py) and is meant to run the
same way against ttd's replay server:

    with live_wasmtime(FIB) as port, LLDBSession(FIB, port) as s:
        s.break_name("fib")
        stop = s.cont()          # Stop(reason="breakpoint", pc=0x40000000000..., frames=[...])
        s.variables()            # {"n": "10", "a": "0", "b": "0"}
        s.step_inst()

Observed with LLDB 23.1 + wasmtime 49 (see the report in tests/support/reference.py too):
- Right after connecting, the process is "stopped" with reason signal, pc 0 and a single
  frame (wasmtime answers `?` with a T05 without a pc and an empty qWasmCallStack). The
  program has not run any instruction yet; the first step_inst() lands on `_start`.
- Code pcs are 0x4000000000000000 | byte offset in the .wasm file; caller frames show the
  return address (the instruction after the call). `Frame.offset` masks the tag off.
- A breakpoint by function name resolves to the first instruction after the prologue.
- step_inst/step/next/finish complete with reason "plan_complete" (eStopReasonPlanComplete),
  not "trace": LLDB reports the finished thread plan, whatever the stub said.
- By default the target is created *without* the .wasm file (`CreateTarget("")`): LLDB then
  loads the module only from the stub (qXfer:libraries + memory reads). Creating the target
  from the file as well gives every breakpoint a second, never-resolved location at
  0xffffffffffffffff (the file module has no load address), hence `load_file=False`.
- wasmtime's stub has no watchpoints (Z2 gets an empty reply): watch() raises there.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:  # pragma: no cover - exercised by the skip in tests
    import lldb  # type: ignore
except ImportError:  # pragma: no cover
    lldb = None

CODE_TAG = 0x4000000000000000
OFFSET_MASK = 0xFFFFFFFF
_NO_LINE = {0, 0xFFFFFFFF}
MAX_ARRAY_ELEMENTS = 32

_initialized = False


def lldb_available() -> bool:
    return lldb is not None


def require_lldb():
    """For pytest: the lldb module, or skip the calling test when it is missing."""
    if lldb is None:
        import pytest

        pytest.skip("the lldb Python module (PyPI lldb-for-pwndbg) is not installed")
    return lldb


def _ensure_initialized() -> None:
    global _initialized
    if lldb is None:
        raise RuntimeError("the lldb Python module is not installed")
    if not _initialized:
        lldb.SBDebugger.Initialize()
        _initialized = True


def _enum_names(prefix: str) -> dict[int, str]:
    out: dict[int, str] = {}
    if lldb is None:
        return out
    for attr in dir(lldb):
        if attr.startswith(prefix):
            tail = attr[len(prefix):]
            snake = "".join("_" + ch.lower() if ch.isupper() else ch for ch in tail).lstrip("_")
            out.setdefault(getattr(lldb, attr), snake)
    return out


_STOP_REASONS = _enum_names("eStopReason")  # 3 -> "breakpoint", 8 -> "plan_complete", ...


def offset_of(pc: int) -> int:
    """File offset of a code address (drops the 0x4000... tag and module id)."""
    return pc & OFFSET_MASK


def code_address(addr: int) -> int:
    """A file offset (< 2**32) tagged as a module-0 code address; tagged addresses pass."""
    return addr | CODE_TAG if addr <= OFFSET_MASK else addr


@dataclass(frozen=True)
class Frame:
    pc: int
    function: str | None
    file: str | None
    line: int | None
    inlined: bool = False  # a frame LLDB synthesizes from DWARF inline info, not a wasm frame

    @property
    def offset(self) -> int:
        return offset_of(self.pc)

    def to_json(self) -> list:
        return [self.offset, self.function, self.file, self.line]


@dataclass(frozen=True)
class Stop:
    """Where and why the process stopped (or that it exited)."""

    state: str                      # "stopped", "exited", "crashed", "detached", ...
    reason: str                     # "breakpoint", "plan_complete", "trace", "signal", "exception",
                                    # "watchpoint", "history_boundary", "none", ... ("exited" if gone)
    pc: int | None
    frames: tuple[Frame, ...] = ()
    description: str = ""
    exit_status: int | None = None
    exit_description: str | None = None
    breakpoint_ids: tuple[int, ...] = ()
    signal: int | None = None

    @property
    def offset(self) -> int | None:
        return None if self.pc is None else offset_of(self.pc)

    @property
    def alive(self) -> bool:
        return self.state == "stopped"

    @property
    def function(self) -> str | None:
        return self.frames[0].function if self.frames else None

    @property
    def line(self) -> int | None:
        return self.frames[0].line if self.frames else None

    def stack(self) -> tuple[int, ...]:
        """File offsets of the wasm frames (what qWasmCallStack reports), innermost first.

        LLDB also lists a frame per inlined call site (DWARF inline info of optimised code):
        a run of inlined frames ends at the concrete frame they live in, and only the first of
        the run carries that wasm frame's real pc (the others show call-site addresses).
        """
        out = []
        first = None
        for f in self.frames:
            if first is None:
                first = f
            if not f.inlined:
                out.append(first.offset)
                first = None
        return tuple(out)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"state": self.state, "reason": self.reason}
        if self.state == "stopped":
            d.update(
                pc=None if self.pc is None else f"{self.pc:#018x}",
                frames=[f.to_json() for f in self.frames],
                description=self.description,
            )
            if self.breakpoint_ids:
                d["breakpoints"] = list(self.breakpoint_ids)
            if self.signal is not None:
                d["signal"] = self.signal
        else:
            d.update(exit_status=self.exit_status, exit_description=self.exit_description)
        return d


class LLDBSessionError(RuntimeError):
    pass


class LLDBSession:
    """One LLDB debugger connected to a gdb-remote wasm stub on host:port."""

    def __init__(self, wasm_path: str | os.PathLike, port: int, host: str = "127.0.0.1", *,
                 load_file: bool = False, packet_timeout: float = 60.0, log_packets: str | None = None):
        _ensure_initialized()
        self.wasm_path = Path(wasm_path)
        self.port = int(port)
        self.host = host
        self.debugger = lldb.SBDebugger.Create(False)  # no ~/.lldbinit
        self.debugger.SetAsync(False)
        self._closed = False
        self.run_command(f"settings set plugin.process.gdb-remote.packet-timeout {int(packet_timeout)}")
        if log_packets:
            self.run_command(f"log enable -f {log_packets} gdb-remote packets")
        self.target = self.debugger.CreateTarget(str(self.wasm_path) if load_file else "")
        if not self.target.IsValid():
            raise LLDBSessionError(f"could not create a target for {self.wasm_path}")
        error = lldb.SBError()
        self.process = self.target.ConnectRemote(
            self.debugger.GetListener(), f"connect://{host}:{self.port}", "wasm", error)
        if not error.Success() or not self.process.IsValid():
            self.close()
            raise LLDBSessionError(f"connect to {host}:{self.port} failed: {error.GetCString()}")

    # -- context manager -------------------------------------------------------------
    def __enter__(self) -> "LLDBSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- state -----------------------------------------------------------------------
    @property
    def state(self) -> str:
        return lldb.SBDebugger.StateAsCString(self.process.GetState())

    @property
    def alive(self) -> bool:
        return self.process.IsValid() and self.process.GetState() == lldb.eStateStopped

    def _thread(self):
        return self.process.GetSelectedThread()

    def stop(self) -> Stop:
        """The current stop (no resume)."""
        st = self.process.GetState()
        state = lldb.SBDebugger.StateAsCString(st)
        if st != lldb.eStateStopped:
            return Stop(state=state, reason="exited" if st == lldb.eStateExited else state, pc=None,
                        exit_status=self.process.GetExitStatus(),
                        exit_description=self.process.GetExitDescription())
        th = self._thread()
        reason_code = th.GetStopReason()
        reason = _STOP_REASONS.get(reason_code, str(reason_code))
        bp_ids: tuple[int, ...] = ()
        signal = None
        if reason_code == lldb.eStopReasonBreakpoint:
            n = th.GetStopReasonDataCount()
            bp_ids = tuple(int(th.GetStopReasonDataAtIndex(i)) for i in range(0, n, 2))
        elif reason_code == lldb.eStopReasonSignal and th.GetStopReasonDataCount() > 0:
            signal = int(th.GetStopReasonDataAtIndex(0))
        frames = tuple(self._frame(f) for f in th)
        return Stop(state=state, reason=reason, pc=frames[0].pc if frames else None, frames=frames,
                    description=th.GetStopDescription(1024) or "", breakpoint_ids=bp_ids, signal=signal)

    @staticmethod
    def _frame(f) -> Frame:
        le = f.GetLineEntry()
        fname = le.GetFileSpec().GetFilename() if le.IsValid() else None
        line = le.GetLine() if le.IsValid() else None
        if line in _NO_LINE:
            line = None
        return Frame(pc=f.GetPC(), function=f.GetFunctionName(), file=fname, line=line,
                     inlined=bool(f.IsInlined()))

    # -- breakpoints and watchpoints -------------------------------------------------
    def _check_bp(self, bp, what: str) -> int:
        if not bp.IsValid():
            raise LLDBSessionError(f"could not set a breakpoint at {what}")
        return bp.GetID()

    def break_name(self, name: str) -> int:
        return self._check_bp(self.target.BreakpointCreateByName(name), name)

    def break_regex(self, regex: str) -> int:
        """Breakpoint on every function whose name matches (Rust names end in a hash)."""
        return self._check_bp(self.target.BreakpointCreateByRegex(regex), regex)

    def break_line(self, file: str, line: int) -> int:
        return self._check_bp(self.target.BreakpointCreateByLocation(file, line), f"{file}:{line}")

    def break_addr(self, addr: int) -> int:
        """Breakpoint at a code address; a bare file offset (< 2**32) is tagged for module 0."""
        return self._check_bp(self.target.BreakpointCreateByAddress(code_address(addr)), hex(addr))

    def breakpoint_addresses(self, bp_id: int) -> list[int]:
        """Resolved load addresses of a breakpoint's locations (unresolved ones omitted)."""
        bp = self.target.FindBreakpointByID(bp_id)
        out = []
        for i in range(bp.GetNumLocations()):
            a = bp.GetLocationAtIndex(i).GetLoadAddress()
            if a != lldb.LLDB_INVALID_ADDRESS:
                out.append(a)
        return out

    def delete_breakpoint(self, bp_id: int) -> bool:
        return self.target.BreakpointDelete(bp_id)

    def delete_all_breakpoints(self) -> None:
        self.target.DeleteAllBreakpoints()

    def watch(self, addr: int, size: int = 4, *, read: bool = False, write: bool = True) -> int:
        error = lldb.SBError()
        wp = self.target.WatchAddress(addr, size, read, write, error)
        if not error.Success() or not wp.IsValid():
            raise LLDBSessionError(f"watchpoint at {addr:#x} failed: {error.GetCString()}")
        return wp.GetID()

    def delete_watchpoint(self, wp_id: int) -> bool:
        return self.target.DeleteWatchpoint(wp_id)

    # -- execution -------------------------------------------------------------------
    def cont(self) -> Stop:
        if self.alive:
            self.process.Continue()
        return self.stop()

    def _step(self, how: str) -> Stop:
        if not self.alive:
            return self.stop()
        th = self._thread()
        error = lldb.SBError()
        if how == "inst":
            th.StepInstruction(False, error)
        elif how == "into":
            th.StepInto()
        elif how == "over":
            th.StepOver(lldb.eOnlyDuringStepping, error)
        elif how == "out":
            th.StepOut(error)
        if not error.Success() and self.alive:
            raise LLDBSessionError(f"step {how} failed: {error.GetCString()}")
        return self.stop()

    def step_inst(self) -> Stop:
        return self._step("inst")

    def step(self) -> Stop:
        return self._step("into")

    def next(self) -> Stop:
        return self._step("over")

    def finish(self) -> Stop:
        return self._step("out")

    # -- inspection ------------------------------------------------------------------
    def frames(self) -> list[Frame]:
        if not self.alive:
            return []
        return [self._frame(f) for f in self._thread()]

    def register_pc(self) -> int:
        frame = self._thread().GetFrameAtIndex(0)
        reg = frame.FindRegister("pc")
        return reg.GetValueAsUnsigned() if reg.IsValid() else frame.GetPC()

    def read_memory(self, addr: int, n: int) -> bytes:
        error = lldb.SBError()
        data = self.process.ReadMemory(addr, n, error)
        if not error.Success():
            raise LLDBSessionError(f"read {n} bytes at {addr:#x}: {error.GetCString()}")
        return bytes(data)

    def variables(self, frame: int = 0, depth: int = 1) -> dict[str, str]:
        """Arguments and locals in scope of `frame`: name -> LLDB's value string.

        Aggregates are expanded `depth` levels: {a=1, b={...}} for structs, {1, 2, 3} for
        arrays (char arrays use LLDB's string summary). Pointers are not followed. A name
        shadowed in a nested scope gets a '#2' suffix.
        """
        if not self.alive:
            return {}
        fr = self._thread().GetFrameAtIndex(frame)
        if not fr.IsValid():
            return {}
        out: dict[str, str] = {}
        for v in fr.GetVariables(True, True, False, True):
            name = v.GetName()
            key, i = name, 1
            while key in out:
                i += 1
                key = f"{name}#{i}"
            out[key] = render_value(v, depth)
        return out

    def find_function(self, name: str) -> tuple[int, int] | None:
        """(start, end) load addresses of a function with debug info, or None."""
        for ctx in self.target.FindFunctions(name):
            fn = ctx.GetFunction()
            if fn.IsValid():
                return (fn.GetStartAddress().GetLoadAddress(self.target),
                        fn.GetEndAddress().GetLoadAddress(self.target))
        return None

    def run_command(self, cmd: str) -> str:
        ret = lldb.SBCommandReturnObject()
        self.debugger.GetCommandInterpreter().HandleCommand(cmd, ret)
        return (ret.GetOutput() or "") + (ret.GetError() or "")

    def packet(self, text: str) -> str | None:
        """A raw gdb-remote packet sent through LLDB: the reply's hex payload (lower case),
        or None when the stub answered an error."""
        out = self.run_command(f"process plugin packet send '{text}'")
        m = re.search(r"response: ([0-9a-fA-F]*)\n", out)
        if not m or "error" in out:
            return None
        return m.group(1).lower()

    # -- teardown --------------------------------------------------------------------
    def close(self, kill: bool = True) -> None:
        """Kill (or detach from) the process, then destroy the debugger. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            proc = getattr(self, "process", None)
            if proc is not None and proc.IsValid() and proc.GetState() not in (
                    lldb.eStateExited, lldb.eStateDetached, lldb.eStateInvalid):
                if kill:
                    proc.Kill()
                else:
                    proc.Detach()
        finally:
            lldb.SBDebugger.Destroy(self.debugger)


def render_value(v, depth: int = 1) -> str:
    """LLDB's view of one SBValue as a stable string (see LLDBSession.variables)."""
    if not v.IsValid():
        return "<invalid>"
    err = v.GetError()
    if err.Fail():
        return f"<error: {err.GetCString()}>"
    tc = v.GetType().GetCanonicalType().GetTypeClass()
    value = v.GetValue()
    summary = v.GetSummary()
    aggregate = tc in (lldb.eTypeClassStruct, lldb.eTypeClassUnion, lldb.eTypeClassClass,
                       lldb.eTypeClassArray, lldb.eTypeClassVector)
    if not aggregate:
        if value is None:
            return summary if summary is not None else "<unavailable>"
        return f"{value} {summary}" if summary else value
    if summary is not None and tc in (lldb.eTypeClassArray,):
        return summary  # char arrays: "\"hello\""
    if depth <= 0:
        return "{...}"
    n = v.GetNumChildren()
    parts = []
    is_array = tc in (lldb.eTypeClassArray, lldb.eTypeClassVector)
    for i in range(min(n, MAX_ARRAY_ELEMENTS) if is_array else n):
        c = v.GetChildAtIndex(i)
        r = render_value(c, depth - 1)
        parts.append(r if is_array else f"{c.GetName()}={r}")
    if is_array and n > MAX_ARRAY_ELEMENTS:
        parts.append(f"...({n} elements)")
    return "{" + ", ".join(parts) + "}"


__all__ = ["LLDBSession", "LLDBSessionError", "Stop", "Frame", "render_value", "lldb_available",
           "require_lldb", "offset_of", "code_address", "CODE_TAG", "OFFSET_MASK"]
