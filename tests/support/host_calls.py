"""What a recorded (or expanded) trace says about its import calls, read through the replay
API: the step of each call, and what the program asked fd_write to print."""

from __future__ import annotations

import struct
from pathlib import Path

from ttd.replay.cursor import Cursor
from ttd.replay.trace import Trace
from ttd.store import codec
from ttd.store.trace_store import TraceStore


def call_steps(path: Path) -> list[tuple[str, int]]:
    """(import name, step of its call instruction) of every import call, in order.

    A block that calls an import ends with the call, so the call is the block's last step;
    `ttd query at` that step shows the call instruction."""
    out = []
    with TraceStore.open(path) as st:
        trace = Trace(st)
        for seq, *_ in trace.chunks:
            ch = trace.chunk(seq)
            for ev in codec.unpack(st.chunk(seq).host):
                ordinal, k = ev[0], ev[1]
                i = ordinal - ch.first_block
                block = trace.schedule.blocks[int(ch.ids[i])]
                out.append((trace.schedule.imports[k][1],
                            ch.first_step + int(ch.step_starts[i]) + len(block.pcs) - 1))
    return out


def printed(path: Path, events: list[list], fd: int = 1) -> bytes:
    """The bytes the trace's fd_write calls to fd asked to print: each call's iovecs read
    from the replayed memory at its step (arguments from the capture's events, which the
    expansion checked the program passed)."""
    calls = call_steps(path)
    out = b""
    with TraceStore.open(path) as st:
        cursor = Cursor(Trace(st))
        for (name, step), ev in zip(calls, events):
            if name != "fd_write" or ev[1][0] != fd:
                continue
            cursor.seek(step)
            iovs, n = ev[1][1], ev[1][2]
            for j in range(n):
                base, length = struct.unpack("<II", cursor.read_memory(iovs + 8 * j, 8))
                out += cursor.read_memory(base, length)
    return out
