"""What the gdb-remote layer needs from a debuggee, and nothing about how it gets it.

Like the gdbstub crate's Target trait: the protocol layer parses packets and formats replies,
and asks a Target for state and for motion. ttd's replay session implements it; a test can
implement it with a dictionary. Addresses are LLDB's 64-bit wasm addresses (see `addr`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol

# LLDB's wasm address spaces: bits 63-62 kind, bits 61-32 module id, bits 31-0 offset.
SPACE_MEMORY = 0
SPACE_CODE = 1
SPACE_GLOBAL = 2


def code_addr(offset: int, module: int = 0) -> int:
    return (SPACE_CODE << 62) | (module << 32) | offset


def split_addr(addr: int) -> tuple[int, int, int]:
    """(space, module id, offset) of a 64-bit wasm address."""
    return (addr >> 62) & 3, (addr >> 32) & 0x3FFFFFFF, addr & 0xFFFFFFFF


class StopKind(Enum):
    SIGNAL = "signal"  # the initial stop, an interrupt, a position set by the user
    BREAKPOINT = "breakpoint"
    TRACE = "trace"  # a single step finished
    WATCHPOINT = "watchpoint"
    EXCEPTION = "exception"  # a wasm trap
    REPLAY_BEGIN = "replay_begin"  # ran backwards into the start of the recording
    REPLAY_END = "replay_end"  # ran forwards off the end of the recording


@dataclass(frozen=True)
class StopEvent:
    kind: StopKind
    pc: int  # full 64-bit code address
    description: str | None = None  # trap message for EXCEPTION
    watch_addr: int | None = None  # for WATCHPOINT
    watch_kind: str | None = None  # "watch", "rwatch" or "awatch"


class Resume(Enum):
    CONTINUE = "c"
    STEP = "s"
    REVERSE_CONTINUE = "bc"
    REVERSE_STEP = "bs"


class WatchKind(Enum):
    WRITE = 2
    READ = 3
    ACCESS = 4


@dataclass(frozen=True)
class Library:
    name: str
    address: int  # load address of the module image (a code address)


@dataclass(frozen=True)
class Region:
    start: int
    size: int
    permissions: str  # e.g. "rx", "rw"
    kind: str  # "rom" or "ram" for the memory map


class Target(Protocol):
    def stop_event(self) -> StopEvent:
        """Why the target is stopped now (answers `?`)."""

    def resume(self, action: Resume) -> StopEvent:
        """Move and return the new stop. Never fails: at a boundary it stops there."""

    def interrupt(self) -> None:
        """Ask a running resume to stop soon (0x03); may be a no-op for instant resumes."""

    def call_stack(self) -> list[int]:
        """Code addresses, innermost first; callers at their return address."""

    def read_local(self, frame: int, index: int) -> bytes | None:
        """Little-endian bytes at the value's own size, None when there is no such local."""

    def read_global(self, frame: int, index: int) -> bytes | None: ...

    def read_stack_value(self, frame: int, index: int) -> bytes | None: ...

    def read_memory(self, addr: int, length: int) -> bytes | None:
        """Bytes at a wasm address (code or linear memory); None if any byte is outside."""

    def libraries(self) -> list[Library]: ...

    def memory_regions(self) -> list[Region]: ...

    def add_breakpoint(self, addr: int) -> bool: ...

    def remove_breakpoint(self, addr: int) -> bool: ...

    def add_watchpoint(self, kind: WatchKind, addr: int, length: int) -> bool | None:
        """None when watchpoints are not supported at all (the packet gets an empty reply)."""

    def remove_watchpoint(self, kind: WatchKind, addr: int, length: int) -> bool | None: ...

    def watchpoint_slots(self) -> int | None:
        """Number of hardware watchpoints to advertise, None when unsupported."""

    def monitor(self, command: str) -> str:
        """Output of a `qRcmd` monitor command (text, may be empty)."""

    def detach(self) -> None: ...

    def kill(self) -> None: ...
