"""Rebuild program state from recorded blocks, without running any Wasm.

The machine holds the call stack (each frame's function, pc and locals), the globals and the
linear memories. Feeding it a block applies that block's recorded effects; the static schedule
says where each value goes and how the stack changes between two blocks.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from ttd.record.schedule import (
    EXIT_CALL, EXIT_CALL_INDIRECT, EXIT_HOSTCALL, EXIT_TAILCALL, EXIT_THROW, FX_COPY, FX_FILL,
    FX_GLOBAL, FX_GROW, FX_INIT, FX_LOAD, FX_LOCAL, FX_RESULT, FX_STORE, VT_SIZE, Block, Schedule,
)
from ttd.replay.lazy_memory import materialize, touch
from ttd.replay.validate import MAX_MEMORY

PAGE = 65536
_UNPACK = {4: struct.Struct("<I").unpack_from, 8: struct.Struct("<Q").unpack_from}


class ReplayError(Exception):
    """The trace contradicts its own schedule: crafted, corrupt, or from a buggy recorder."""


def values_to_wire(values: list[int]) -> list:
    """msgpack integers stop at 64 bits: a v128 value (local, global) travels as its 16 bytes."""
    return [v if v < (1 << 64) else v.to_bytes(16, "little") for v in values]


def values_from_wire(values: list) -> list[int]:
    return [int.from_bytes(v, "little") if isinstance(v, bytes) else int(v) for v in values]


@dataclass(slots=True)
class Frame:
    func: int
    locals: list[int]
    pc: int = -1  # the instruction this frame is at (a caller: its call instruction)
    ret_pc: int = -1  # where a caller resumes: the instruction after its call

    def to_wire(self) -> list:
        return [self.func, values_to_wire(self.locals), self.pc, self.ret_pc]

    @classmethod
    def from_wire(cls, w: list) -> "Frame":
        func, locs, pc, ret = w
        return cls(int(func), values_from_wire(locs), int(pc), int(ret))


@dataclass(slots=True)
class MachineState:
    frames: list[Frame]
    globals: list[int]
    memories: list[bytearray]
    prev_block: int = -1  # id of the last block applied, -1 before the first
    blocks_done: int = 0  # global index of the next block
    steps_done: int = 0  # global index of the next step
    data_dropped: set[int] = field(default_factory=set)

    def copy(self) -> "MachineState":
        return MachineState(
            frames=[Frame(f.func, list(f.locals), f.pc, f.ret_pc) for f in self.frames],
            globals=list(self.globals), memories=[bytearray(materialize(m)) for m in self.memories],
            prev_block=self.prev_block, blocks_done=self.blocks_done,
            steps_done=self.steps_done, data_dropped=set(self.data_dropped))


def read_value(vals: bytes, off: int, vt: int) -> int:
    size = VT_SIZE[vt]
    if size in _UNPACK:
        return _UNPACK[size](vals, off)[0]
    return int.from_bytes(vals[off:off + size], "little")


def _addr(vals: bytes, off: int, is64: bool) -> int:
    return _UNPACK[8 if is64 else 4](vals, off)[0]


class Machine:
    """Applies blocks to a MachineState. One per trace: it caches the schedule lookups."""

    def __init__(self, schedule: Schedule, data_segments: list[bytes], memory0: int = 0):
        self.schedule = schedule
        self.blocks = schedule.blocks
        self.funcs = schedule.funcs
        self.data_segments = data_segments
        self.wasi_memory = memory0
        self.track_memory = True  # off for passes that only need the stack and locals
        self._handled: dict[int, list[tuple[int, int]]] | None = None

    # ---- what a debugger sees of a caller -----------------------------------------------

    def caller_pc(self, f: Frame) -> int:
        """The pc wasmtime reports for a caller frame.

        A call with an exception handler in scope (inside the body of a try_table with a
        catch clause) is compiled as a `try_call`, and wasmtime reports its frame at the
        call instruction; any other call at the instruction after it (`ret_pc`).
        """
        if self._handled is None:
            handled: dict[int, list[tuple[int, int]]] = {}
            for ranges in self.schedule.landings.values():
                for func, start, end in ranges:
                    handled.setdefault(func, []).append((start, end))
            self._handled = handled
        for start, end in self._handled.get(f.func, ()):
            if start <= f.pc < end:
                return f.pc
        return f.ret_pc

    # ---- call stack ---------------------------------------------------------------------

    def new_frame(self, block: Block, vals: bytes, vbase: int) -> Frame:
        info = self.funcs.get(block.func)
        if info is None:
            raise ReplayError(f"block of unknown function {block.func}")
        locs = [0] * len(info.locals)
        for fx in block.effects:
            if fx[0] == -1:  # parameters, recorded at entry
                locs[fx[2]] = read_value(vals, vbase + fx[4], fx[3])
        return Frame(block.func, locs)

    def transition(self, st: MachineState, nid: int, vals: bytes, vbase: int) -> None:
        """Adjust the call stack for entering block `nid` after `st.prev_block`."""
        self._transition(st, nid, vals, vbase)
        top = st.frames[-1]
        if top.func != self.blocks[nid].func:
            # block ids that do not follow the schedule's control flow: a crafted trace
            raise ReplayError(f"block {nid} of function {self.blocks[nid].func} runs in a "
                              f"frame of function {top.func}")

    def _transition(self, st: MachineState, nid: int, vals: bytes, vbase: int) -> None:
        if not 0 <= nid < len(self.blocks):
            raise ReplayError(f"block id {nid} out of range")
        n = self.blocks[nid]
        frames = st.frames
        if st.prev_block < 0 or not frames:
            if not n.entry:
                raise ReplayError(f"trace starts inside function {n.func}, not at an entry")
            frames.append(self.new_frame(n, vals, vbase))
            return
        p = self.blocks[st.prev_block]
        ex = p.exit
        if ex == EXIT_CALL or (ex == EXIT_CALL_INDIRECT and n.entry):
            self._push(frames, p, n, vals, vbase)
            return
        if ex == EXIT_HOSTCALL or ex == EXIT_CALL_INDIRECT:
            return
        if ex == EXIT_TAILCALL:
            frames.pop()
            if n.entry:
                # the new frame inherits the replaced frame's return address
                self._push(frames, None, n, vals, vbase)
            elif not frames:
                raise ReplayError("return from a tail-called import with no caller")
            return
        if ex == EXIT_THROW:
            self._unwind(frames, n, nid, vals, vbase)
            return
        if nid in p.succ:
            return
        frames.pop()  # a return (or a branch to the function label)
        if not frames:
            if not n.entry:
                raise ReplayError(f"return to block {nid} with no caller")
            frames.append(self.new_frame(n, vals, vbase))

    def _push(self, frames: list[Frame], p: Block | None, n: Block, vals: bytes, vbase: int) -> None:
        if not n.entry:
            raise ReplayError(f"call lands on block of function {n.func} that is not its entry")
        if p is not None and p.callee >= 0 and p.callee != n.func:
            raise ReplayError(f"call of function {p.callee} lands in function {n.func}")
        if p is not None and frames:
            frames[-1].ret_pc = self.blocks[p.succ[0]].pcs[0] if p.succ else -1
        if len(frames) > 1_000_000:
            raise ReplayError("call stack deeper than any wasm engine allows")
        frames.append(self.new_frame(n, vals, vbase))

    def _unwind(self, frames: list[Frame], n: Block, nid: int, vals: bytes, vbase: int) -> None:
        landings = self.schedule.landings
        ranges = landings.get(nid, ())
        while frames:
            top = frames[-1]
            if top.func == n.func and any(f == top.func and s <= top.pc < e for f, s, e in ranges):
                return
            # a catch to the function's own label: the function returns, its caller goes on
            returns = any(s <= top.pc < e for _f, s, e in landings.get(-1 - top.func, ()))
            frames.pop()
            if returns and frames and frames[-1].func == n.func:
                return  # (a catch whose tag did not match lets it unwind further)
        raise ReplayError(f"exception lands on block {nid} outside every live frame")

    # ---- effects ------------------------------------------------------------------------

    def apply_effects(self, st: MachineState, b: Block, vals: bytes, vbase: int,
                      upto: int | None = None, start: int = 0) -> None:
        """Apply the effects of steps start <= step < upto (to the end when upto is None)."""
        frame = st.frames[-1]
        for fx in b.effects:
            s = fx[0]
            if s < start:
                continue
            if upto is not None and s >= upto:
                break
            kind = fx[1]
            if kind == FX_LOAD or kind == FX_RESULT:  # a read, a call's result: no state
                continue
            if kind == FX_LOCAL:
                frame.locals[fx[2]] = read_value(vals, vbase + fx[4], fx[3])
            elif kind == FX_GLOBAL:
                st.globals[fx[2]] = read_value(vals, vbase + fx[4], fx[3])
            elif not self.track_memory:
                continue
            elif kind == FX_STORE:
                self._store(st, fx, vals, vbase)
            else:
                self._bulk(st, fx, vals, vbase)

    def _store(self, st: MachineState, fx: tuple, vals: bytes, vbase: int) -> None:
        mem = st.memories[fx[2]]
        width, off, is64 = fx[3], fx[5], fx[6]
        asz = 8 if is64 else 4
        ea = _addr(vals, vbase + fx[4], is64) + off
        if width > 0:
            data = vals[vbase + fx[4] + asz: vbase + fx[4] + asz + width]
        else:
            lane_bytes, lane = -width, fx[7]
            vstart = vbase + fx[4] + asz + lane * lane_bytes
            data = vals[vstart:vstart + lane_bytes]
        if ea + len(data) > len(mem):
            raise ReplayError(f"recorded store at {ea:#x} outside memory {fx[2]}")
        touch(mem, ea, ea + len(data))
        mem[ea:ea + len(data)] = data

    def _bulk(self, st: MachineState, fx: tuple, vals: bytes, vbase: int) -> None:
        kind = fx[1]
        if kind == FX_GROW:
            mem, is64, voff = fx[2], fx[3], fx[4]
            asz = 8 if is64 else 4
            delta = _addr(vals, vbase + voff, is64)
            result = _addr(vals, vbase + voff + asz, is64)
            if result != (1 << (8 * asz)) - 1:
                if delta > (1 << 16) or len(st.memories[mem]) + delta * PAGE > MAX_MEMORY:
                    raise ReplayError("memory.grow beyond 4 GiB in a trace")
                st.memories[mem].extend(bytes(delta * PAGE))
        elif kind == FX_FILL:
            mem, is64, voff = fx[2], fx[3], fx[4]
            d = _addr(vals, vbase + voff, is64)
            o = voff + (8 if is64 else 4)
            val = _UNPACK[4](vals, vbase + o)[0] & 0xFF
            n = _addr(vals, vbase + o + 4, is64)
            m = st.memories[mem]
            if d + n > len(m):
                raise ReplayError("recorded memory.fill outside memory")
            touch(m, d, d + n)
            m[d:d + n] = bytes([val]) * n
        elif kind == FX_COPY:
            dm, sm, voff, d64, s64, n64 = fx[2:8]
            d = _addr(vals, vbase + voff, d64)
            o = voff + (8 if d64 else 4)
            s = _addr(vals, vbase + o, s64)
            o += 8 if s64 else 4
            n = _addr(vals, vbase + o, n64)
            dst, src = st.memories[dm], st.memories[sm]
            if d + n > len(dst) or s + n > len(src):
                raise ReplayError("recorded memory.copy outside memory")
            touch(src, s, s + n)
            touch(dst, d, d + n)
            dst[d:d + n] = src[s:s + n]
        elif kind == FX_INIT:
            mem, seg, voff, is64 = fx[2:6]
            d = _addr(vals, vbase + voff, is64)
            o = voff + (8 if is64 else 4)
            s = _UNPACK[4](vals, vbase + o)[0]
            n = _UNPACK[4](vals, vbase + o + 4)[0]
            if seg >= len(self.data_segments):
                raise ReplayError(f"memory.init of unknown data segment {seg}")
            src = self.data_segments[seg]
            m = st.memories[mem]
            if s + n > len(src) or d + n > len(m):
                raise ReplayError("recorded memory.init outside bounds")
            touch(m, d, d + n)
            m[d:d + n] = src[s:s + n]

    def apply_host(self, st: MachineState, regions: list) -> None:
        """Bytes the host wrote during an import call."""
        mem = st.memories[self.wasi_memory] if st.memories else None
        for addr, data in regions:
            if mem is None or addr + len(data) > len(mem):
                raise ReplayError(f"host write at {addr:#x} outside memory")
            touch(mem, addr, addr + len(data))
            mem[addr:addr + len(data)] = data

    # ---- whole blocks -------------------------------------------------------------------

    def run_block(self, st: MachineState, nid: int, vals: bytes, vbase: int,
                  host: list | None, steps: int | None = None) -> None:
        """Enter block `nid`, execute `steps` of its steps (all by default), apply effects.

        A partial block is the trapping one: the trapping step itself has no effects.
        """
        self.transition(st, nid, vals, vbase)
        b = self.blocks[nid]
        n = len(b.pcs) if steps is None else steps
        self.apply_effects(st, b, vals, vbase, None if steps is None else max(n - 1, 0))
        if n and host is not None and steps is None and self.track_memory:
            self.apply_host(st, host)
        st.frames[-1].pc = b.pcs[n - 1] if n else b.pcs[0]
        st.prev_block = nid
        st.blocks_done += 1
        st.steps_done += n
