"""A Target with canned state: a scripted run over a list of code offsets.

The "program" is the sequence of pcs a run visits. Continue moves to the next visit of a
breakpoint (or the end), reverse-continue to the previous one (or the start), steps move one
visit. Every call is recorded in `calls`, and `fail` names methods that should raise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ttd.gdb.target import (
    SPACE_CODE, SPACE_MEMORY, Library, Region, Resume, StopEvent, StopKind, WatchKind,
    code_addr, split_addr,
)

# A stand-in module image: the wasm magic and version, then filler.
DEFAULT_MODULE = b"\x00asm\x01\x00\x00\x00" + bytes(range(256)) * 4


@dataclass
class FakeTarget:
    module: bytes = DEFAULT_MODULE
    memory: bytes = bytes(range(256)) * 256  # 64 KiB of linear memory
    path: list[int] = field(default_factory=lambda: [0x10, 0x12, 0x14, 0x20, 0x12, 0x14, 0x30])
    callers: list[int] = field(default_factory=lambda: [code_addr(0x40), code_addr(0x50)])
    locals: dict[int, list[bytes]] = field(
        default_factory=lambda: {0: [b"\x2a\x00\x00\x00", b"\x01" * 8], 1: [b"\x07\x00\x00\x00"]})
    globals: list[bytes] = field(default_factory=lambda: [b"\x00\x00\x01\x00"])
    stack_values: list[bytes] = field(default_factory=lambda: [b"\x05\x00\x00\x00"])
    name: str = "test.wasm"
    watch_slots: int | None = None
    watch_result: bool | None = None  # what add/remove_watchpoint answer
    initial: StopKind = StopKind.SIGNAL
    fail: set[str] = field(default_factory=set)
    index: int = 0
    breakpoints: set[int] = field(default_factory=set)
    calls: list[tuple] = field(default_factory=list)
    last: StopEvent | None = None

    def _call(self, name: str, *args: object) -> None:
        self.calls.append((name, *args))
        if name in self.fail or "*" in self.fail:
            raise RuntimeError(f"{name} failed on purpose")

    def _at(self, kind: StopKind) -> StopEvent:
        self.last = StopEvent(kind, code_addr(self.path[self.index]),
                              description="unreachable" if kind is StopKind.EXCEPTION else None)
        return self.last

    # ---- motion ---------------------------------------------------------------------------

    def stop_event(self) -> StopEvent:
        self._call("stop_event")
        return self.last or self._at(self.initial)

    def resume(self, action: Resume) -> StopEvent:
        self._call("resume", action)
        last = len(self.path) - 1
        bps = {split_addr(a)[2] for a in self.breakpoints}
        if action is Resume.STEP:
            if self.index == last:
                return self._at(StopKind.REPLAY_END)
            self.index += 1
            return self._at(StopKind.TRACE)
        if action is Resume.REVERSE_STEP:
            if self.index == 0:
                return self._at(StopKind.REPLAY_BEGIN)
            self.index -= 1
            return self._at(StopKind.TRACE)
        if action is Resume.CONTINUE:
            for i in range(self.index + 1, last + 1):
                if self.path[i] in bps:
                    self.index = i
                    return self._at(StopKind.BREAKPOINT)
            self.index = last
            return self._at(StopKind.REPLAY_END)
        for i in range(self.index - 1, -1, -1):
            if self.path[i] in bps:
                self.index = i
                return self._at(StopKind.BREAKPOINT)
        self.index = 0
        return self._at(StopKind.REPLAY_BEGIN)

    def interrupt(self) -> None:
        self._call("interrupt")

    # ---- state ----------------------------------------------------------------------------

    def call_stack(self) -> list[int]:
        self._call("call_stack")
        return [code_addr(self.path[self.index]), *self.callers]

    def read_local(self, frame: int, index: int) -> bytes | None:
        self._call("read_local", frame, index)
        values = self.locals.get(frame, [])
        return values[index] if index < len(values) else None

    def read_global(self, frame: int, index: int) -> bytes | None:
        self._call("read_global", frame, index)
        return self.globals[index] if index < len(self.globals) else None

    def read_stack_value(self, frame: int, index: int) -> bytes | None:
        self._call("read_stack_value", frame, index)
        if frame != 0 or index >= len(self.stack_values):
            return None
        return self.stack_values[index]

    def read_memory(self, addr: int, length: int) -> bytes | None:
        self._call("read_memory", addr, length)
        space, module, offset = split_addr(addr)
        image = {SPACE_CODE: self.module, SPACE_MEMORY: self.memory}.get(space)
        if image is None or module != 0 or length < 0 or offset + length > len(image):
            return None
        return image[offset:offset + length]

    def libraries(self) -> list[Library]:
        self._call("libraries")
        return [Library(self.name, code_addr(0))]

    def memory_regions(self) -> list[Region]:
        self._call("memory_regions")
        return [Region(code_addr(0), len(self.module), "rx", "rom"),
                Region(0, len(self.memory), "rw", "ram")]

    def add_breakpoint(self, addr: int) -> bool:
        self._call("add_breakpoint", addr)
        if split_addr(addr)[0] != SPACE_CODE:
            return False
        self.breakpoints.add(addr)
        return True

    def remove_breakpoint(self, addr: int) -> bool:
        self._call("remove_breakpoint", addr)
        if addr not in self.breakpoints:
            return False
        self.breakpoints.discard(addr)
        return True

    def add_watchpoint(self, kind: WatchKind, addr: int, length: int) -> bool | None:
        self._call("add_watchpoint", kind, addr, length)
        return self.watch_result

    def remove_watchpoint(self, kind: WatchKind, addr: int, length: int) -> bool | None:
        self._call("remove_watchpoint", kind, addr, length)
        return self.watch_result

    def watchpoint_slots(self) -> int | None:
        self._call("watchpoint_slots")
        return self.watch_slots

    def monitor(self, command: str) -> str:
        self._call("monitor", command)
        if command == "boom":
            raise ValueError("no such command")
        if command.startswith("repeat "):
            return "x" * min(int(command.split()[1]), 100_000)
        return f"ran {command}\n" if command else ""

    def detach(self) -> None:
        self._call("detach")

    def kill(self) -> None:
        self._call("kill")

    def called(self, name: str) -> list[tuple]:
        return [c for c in self.calls if c[0] == name]
