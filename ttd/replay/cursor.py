"""A position in a trace, movable to any step, with the program state at that step.

State at step k is the state just before instruction k executes, as a debugger stopped there
would show it. Moving forward applies recorded effects step by step; moving anywhere else
starts from the nearest chunk checkpoint. Nothing here knows about gdb-remote.
"""

from __future__ import annotations

from ttd.replay.lazy_memory import touch
from ttd.replay.machine import MachineState
from ttd.replay.trace import Chunk, HistoryNotExpanded, Trace


class Cursor:
    def __init__(self, trace: Trace):
        self.trace = trace
        self.machine = trace.machine
        self.total = trace.total_steps
        self.st: MachineState | None = None
        self.chunk: Chunk | None = None
        self.k = 0  # block index within the chunk
        self.j = 0  # step index within the block
        self.step = -1
        if self.total:
            self.seek(trace.first_step)

    # ---- moving ---------------------------------------------------------------------------

    def seek(self, step: int) -> None:
        if not 0 <= step < self.total:
            raise IndexError(f"step {step} outside the trace (0..{self.total - 1})")
        if step < self.trace.first_step:
            raise HistoryNotExpanded(-1)
        saved = (self.st, self.chunk, self.k, self.j, self.step)
        try:
            self._seek(step)
        except BaseException:
            # a damaged trace stopped the move part way, after the state was partly moved
            # (or its memory buffers reused): rebuild it, afresh, where it was
            self.st = self.chunk = None
            try:
                if saved[4] >= 0:
                    self._seek(saved[4])
            except Exception:
                self.st, self.chunk, self.k, self.j, self.step = saved
            else:
                if self.st is None:
                    self.st, self.chunk, self.k, self.j, self.step = saved
            raise

    def _seek(self, step: int) -> None:
        if self.st is not None and self.chunk is not None and step >= self.step and \
                step < self.chunk.first_step + self.chunk.n_steps and step - self.step < 4096:
            while self.step < step:
                self._advance()
            return
        trace = self.trace
        seq = trace.chunk_for_step(step)
        ch = trace.chunk(seq)
        st = trace.state_at_chunk(seq, reuse=self.st.memories if self.st is not None else None)
        rel = step - ch.first_step
        k = ch.block_at_step(rel)
        trace.advance(st, ch, k)
        self.st, self.chunk, self.k = st, ch, k
        self._enter_block()
        self.j = rel - int(ch.step_starts[k])
        b = self.machine.blocks[int(ch.ids[k])]
        self.machine.apply_effects(st, b, ch.vals, int(ch.voffs[k]), upto=self.j)
        st.frames[-1].pc = b.pcs[self.j]
        self.step = step

    def _enter_block(self) -> None:
        ch, k = self.chunk, self.k
        self.machine.transition(self.st, int(ch.ids[k]), ch.vals, int(ch.voffs[k]))
        self.j = 0

    def _advance(self) -> None:
        """Execute the current step."""
        st, ch, k = self.st, self.chunk, self.k
        bid = int(ch.ids[k])
        b = self.machine.blocks[bid]
        vbase = int(ch.voffs[k])
        self.machine.apply_effects(st, b, ch.vals, vbase, upto=self.j + 1, start=self.j)
        self.j += 1
        self.step += 1
        if self.j < len(b.pcs):
            st.frames[-1].pc = b.pcs[self.j]
            return
        host = ch.host.get(k)
        if host is not None and self.machine.track_memory:
            self.machine.apply_host(st, host)
        st.prev_block = bid
        if self.step >= self.total:
            return
        if k + 1 >= len(ch.ids):
            self.chunk = ch = self.trace.chunk(ch.seq + 1)
            self.k = 0
        else:
            self.k = k + 1
        self._enter_block()
        st.frames[-1].pc = self.machine.blocks[int(self.chunk.ids[self.k])].pcs[0]

    def forward(self, n: int = 1) -> None:
        self.seek(min(self.step + n, self.total - 1))

    def backward(self, n: int = 1) -> None:
        self.seek(max(self.step - n, 0))

    # ---- what is there --------------------------------------------------------------------

    @property
    def pc(self) -> int:
        return self.st.frames[-1].pc

    def call_stack(self) -> list[int]:
        """pcs innermost first; callers where wasmtime reports them (Machine.caller_pc)."""
        frames = self.st.frames
        return [frames[-1].pc] + [self.machine.caller_pc(f) for f in reversed(frames[:-1])]

    def functions(self) -> list[int]:
        return [f.func for f in reversed(self.st.frames)]

    def locals(self, frame: int = 0) -> list[tuple[int, int]]:
        """(value type, raw bits) of every local of frame `frame` (0 = innermost)."""
        f = self.st.frames[-1 - frame]
        types = self.trace.schedule.funcs[f.func].locals
        return list(zip(types, f.locals))

    def globals(self) -> list[tuple[int, int]]:
        return list(zip(self.trace.schedule.globals, self.st.globals))

    def read_memory(self, addr: int, n: int, memory: int = 0) -> bytes | None:
        mems = self.st.memories
        if memory >= len(mems) or addr < 0 or n < 0 or addr + n > len(mems[memory]):
            return None
        touch(mems[memory], addr, addr + n)
        return bytes(mems[memory][addr:addr + n])
