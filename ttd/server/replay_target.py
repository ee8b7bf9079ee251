"""The gdb-remote Target backed by a replay session.

Translates between LLDB's wasm addresses and the trace's pcs and memory offsets, and between
the session's reasons for stopping and gdb-remote stop kinds. Owns no protocol and no socket.
"""

from __future__ import annotations

import functools
import gc
import logging
import weakref
from typing import Callable

from ttd.gdb.target import (
    SPACE_CODE, SPACE_MEMORY, Library, Region, Resume, StopEvent, StopKind, WatchKind,
    code_addr, split_addr,
)
from ttd.replay.session import ReplaySession, Stop, Why
from ttd.replay.trace import HistoryNotExpanded, Trace, value_bytes
from ttd.store.errors import TraceError

_KIND = {
    Why.POSITIONED: StopKind.SIGNAL,
    Why.BREAKPOINT: StopKind.BREAKPOINT,
    Why.WATCHPOINT: StopKind.WATCHPOINT,
    Why.STEP: StopKind.TRACE,
    Why.TRAP: StopKind.EXCEPTION,
    Why.BEGIN: StopKind.REPLAY_BEGIN,
    Why.END: StopKind.REPLAY_END,
}


_WATCH_NAME = {WatchKind.WRITE: "watch", WatchKind.READ: "rwatch", WatchKind.ACCESS: "awatch"}


class Unexpanded(Exception):
    """History before a segment's start, with nothing to bring it."""


#: The session's state a move changes before it may find it needs earlier history.
_MOVE_STATE = ("pending", "pending_origin", "pending_jump", "pending_watches", "last_stop")


def _whole_history(method):
    """Run `method` over the session; when the session's trace is only the run's last segment
    (a post-mortem served before the capture was expanded) and the method needs history from
    before it, wait for the whole history, move the session onto it where it was, and run the
    method again from the state it started with."""
    @functools.wraps(method)
    def run(self, *args, **kwargs):
        session = self.session
        if self.whole is not None and session is not None and session.trace.is_segment:
            try:
                got = self.whole(False)
            except TraceError:  # it failed: the segment is still served, alone
                got = None
            if got is not None:
                self._rebase(got)
        if session is None or not session.trace.is_segment:
            return method(self, *args, **kwargs)
        step = session.cursor.step
        saved = {k: getattr(session, k) for k in _MOVE_STATE}
        try:
            return method(self, *args, **kwargs)
        except HistoryNotExpanded:
            if self.whole is None:
                raise Unexpanded(f"history before step {session.trace.first_step:,} is not "
                                 f"expanded in this trace") from None
        for k, v in saved.items():
            setattr(session, k, v)
        session.cursor.seek(step)
        try:
            whole = self.whole(True)
        except TraceError as e:
            raise Unexpanded(f"history before step {session.trace.first_step:,}: {e}") from None
        self._rebase(whole)
        return method(self, *args, **kwargs)
    return run


class ReplayTarget:
    def __init__(self, session: ReplaySession,
                 whole: Callable[[bool], Trace | None] | None = None):
        """`whole`, for a session over a segment: the whole history, once expanded (with
        True, waiting for it)."""
        self.session = session
        self.trace = session.trace
        self.whole = whole
        self.wasm = self.trace.wasm
        self.name = self.trace.module_name or "module.wasm"
        self._stacks = None  # operand stacks, rebuilt on demand

    def _rebase(self, trace: Trace) -> None:
        self.session.rebase(trace)
        self.trace = trace
        self._stacks = None

    # ---- motion -------------------------------------------------------------------------

    def _event(self, stop: Stop) -> StopEvent:
        kind = _KIND[stop.why]
        desc = (self.session.trap if kind is StopKind.EXCEPTION
                else self.session.ending() if kind is StopKind.REPLAY_END else None)
        if kind is StopKind.WATCHPOINT:
            return StopEvent(kind, code_addr(stop.pc), watch_addr=stop.watch_addr,
                             watch_kind=stop.watch_kind)
        return StopEvent(kind, code_addr(stop.pc), description=desc)

    @_whole_history
    def stop_event(self) -> StopEvent:
        return self._event(self.session.last_stop)

    @_whole_history
    def resume(self, action: Resume) -> StopEvent:
        s = self.session
        if s.pending is not None:
            if action in (Resume.STEP, Resume.REVERSE_STEP):
                # LLDB steps off the breakpoint under the pc before the continue a ttd command
                # asked for; a real step lets it, the continue then makes the staged move
                # (a step that is not the user's: it reports no watchpoint)
                return self._event(s.step_forward(watch=False) if s.cursor.step < s.total - 1
                                   else s.step_backward(watch=False))
            return self._event(s.take_pending())
        stop = {
            Resume.CONTINUE: s.continue_forward,
            Resume.STEP: s.step_forward,
            Resume.REVERSE_CONTINUE: s.continue_backward,
            Resume.REVERSE_STEP: s.step_backward,
        }[action]()
        return self._event(stop)

    def interrupt(self) -> None:
        """Resumes finish within one search; there is nothing running to stop."""

    # ---- state --------------------------------------------------------------------------

    @_whole_history
    def call_stack(self) -> list[int]:
        return [code_addr(pc) for pc in self.session.cursor.call_stack()]

    @_whole_history
    def read_local(self, frame: int, index: int) -> bytes | None:
        cur = self.session.cursor
        if not 0 <= frame < len(cur.st.frames):
            return None
        locs = cur.locals(frame)
        if not 0 <= index < len(locs):
            return None
        vt, value = locs[index]
        return value_bytes(value, vt) or None

    @_whole_history
    def read_global(self, frame: int, index: int) -> bytes | None:
        globs = self.session.cursor.globals()
        if not 0 <= index < len(globs):
            return None
        vt, value = globs[index]
        return value_bytes(value, vt) or None

    @_whole_history
    def read_stack_value(self, frame: int, index: int) -> bytes | None:
        """Operand-stack value `index` (0 = the bottom, as wasmtime counts) of a frame,
        rebuilt from the trace; None when it is not there or its content is unknown."""
        if self._stacks is None:
            from ttd.replay.operand_stack import OperandStacks
            self._stacks = OperandStacks(self.session)
        got = self._stacks.value(self.session.cursor.step, frame, index)
        return value_bytes(got[1], got[0]) if got is not None else None

    @_whole_history
    def read_memory(self, addr: int, length: int) -> bytes | None:
        space, module, offset = split_addr(addr)
        if length < 0 or module != 0:
            return None
        if space == SPACE_CODE:
            if offset + length > len(self.wasm):
                return None
            return bytes(self.wasm[offset:offset + length])
        if space == SPACE_MEMORY:
            return self.session.cursor.read_memory(offset, length)
        return None

    def libraries(self) -> list[Library]:
        return [Library(self.name, code_addr(0))]

    @_whole_history
    def memory_regions(self) -> list[Region]:
        regions = [Region(code_addr(0), len(self.wasm), "rx", "rom")]
        mems = self.session.cursor.st.memories
        if mems and len(mems[0]):
            regions.append(Region(0, len(mems[0]), "rw", "ram"))
        return regions

    # ---- breakpoints and watchpoints ----------------------------------------------------

    @staticmethod
    def _offset(addr: int, space: int) -> int | None:
        """The offset of `addr` in the given space of module 0 (the only module), else None."""
        sp, module, offset = split_addr(addr)
        return offset if sp == space and module == 0 else None

    @_whole_history
    def add_breakpoint(self, addr: int) -> bool:
        offset = self._offset(addr, SPACE_CODE)
        return offset is not None and self.session.add_breakpoint(offset) is not None

    def remove_breakpoint(self, addr: int) -> bool:
        offset = self._offset(addr, SPACE_CODE)
        return offset is not None and self.session.remove_breakpoint(offset)

    @_whole_history
    def add_watchpoint(self, kind: WatchKind, addr: int, length: int) -> bool | None:
        """Watchpoints on linear memory; read and access ones need a `--reads` trace (the
        default trace has no load addresses), otherwise LLDB gets an error reply."""
        offset = self._offset(addr, SPACE_MEMORY)
        if offset is not None and kind is not WatchKind.WRITE and not self.session.reads_recorded:
            _no_reads_hint(kind, offset, length)
        return offset is not None and self.session.add_watchpoint(offset, length,
                                                                  _WATCH_NAME[kind])

    def remove_watchpoint(self, kind: WatchKind, addr: int, length: int) -> bool | None:
        offset = self._offset(addr, SPACE_MEMORY)
        return offset is not None and self.session.remove_watchpoint(offset, length,
                                                                     _WATCH_NAME[kind])

    def watchpoint_slots(self) -> int | None:
        return 64

    # ---- the rest -----------------------------------------------------------------------

    @_whole_history
    def monitor(self, command: str) -> str:
        from ttd.server.monitor import run_monitor

        return run_monitor(self.session, command)

    def detach(self) -> None:
        pass

    def kill(self) -> None:
        pass

    def close(self) -> None:
        """The connection ended: free the session now. The protocol object that holds this
        target is a reference cycle (its handler tables point back at it), which only the
        cycle collector frees, and a session holds a copy of linear memory (16 MiB for a small
        C program): a server that waited for the collector grew by hundreds of MB."""
        session, self.session, self._stacks = self.session, None, None
        if session is None:
            return
        session.pending = None  # a staged move: a closure over the session
        alive = weakref.ref(session)
        del session
        if alive() is not None:  # another cycle holds it: collect now, not some time later
            gc.collect()


def _no_reads_hint(kind: WatchKind, offset: int, length: int) -> None:
    """LLDB only says "Watchpoint creation failed": the server's terminal (the debugger's own,
    under `ttd lldb`) says why."""
    what = "read" if kind is WatchKind.READ else "read/write"
    logging.getLogger("ttd").warning(
        "%s watchpoint on %d byte(s) at %#x refused: this trace has no load addresses; "
        "record with `ttd record --reads` to watch reads", what, length, offset)
