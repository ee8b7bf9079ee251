"""What the adapter needs from a debugger, as plain data: the seam between DAP state
(ttd/dap/adapter.py) and LLDB (ttd/dap/lldb_backend.py), so the adapter is testable alone."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class BackendError(Exception):
    """A request the debugger refused: its one-line message goes back to the client."""


@dataclass
class StopInfo:
    """Why the program is stopped. kind: breakpoint, watchpoint, exception, step, boundary
    (an end of the recording), exited."""

    kind: str
    ids: list[int] = field(default_factory=list)  # breakpoint or watchpoint ids hit
    description: str = ""


@dataclass
class FrameInfo:
    name: str
    path: str | None  # the DWARF file name, None without line information
    line: int
    column: int
    pc: int


@dataclass
class VarInfo:
    """One value: `handle` is the backend's own object, passed back for children."""

    name: str
    value: str
    type: str
    expandable: bool
    handle: Any = None
    memory_reference: str | None = None
    evaluate_name: str | None = None


@dataclass
class Instruction:
    address: int
    text: str
    raw: str
    path: str | None = None
    line: int = 0


class Backend(Protocol):
    """Every method may raise BackendError. Frames are indexes into the stopped thread."""

    def close(self) -> None: ...
    def stop_info(self) -> StopInfo: ...
    def move(self, kind: str, frame: int = 0) -> None: ...
    def goto(self, position: str) -> None: ...
    def last_write(self, expression: str, frame: int) -> None: ...
    def when(self) -> tuple[int, int]: ...
    def threads(self) -> list[tuple[int, str]]: ...
    def frames(self, thread: int) -> list[FrameInfo]: ...
    def break_source(self, path: str, line: int, condition: str | None,
                     ignore: int) -> tuple[int, bool, int, str | None]: ...
    def break_function(self, name: str, condition: str | None, ignore: int) -> tuple[int, bool]: ...
    def delete_breakpoint(self, bp: int) -> None: ...
    def enable_breakpoint(self, bp: int, enabled: bool) -> None: ...
    def watch(self, addr: int, size: int, read: bool, write: bool, condition: str | None,
              ignore: int) -> int: ...
    def delete_watch(self, wp: int) -> None: ...
    def scope(self, frame: int, kind: str) -> list[VarInfo]: ...
    def children(self, handle: Any) -> list[VarInfo]: ...
    def address_of(self, handle: Any) -> tuple[int, int] | None: ...
    def evaluate(self, expression: str, frame: int) -> VarInfo: ...
    def command(self, text: str) -> str: ...
    def read_memory(self, addr: int, count: int) -> bytes: ...
    def disassemble(self, addr: int, offset: int, count: int) -> list[Instruction | None]: ...
