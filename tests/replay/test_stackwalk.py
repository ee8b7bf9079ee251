"""The vectorised stack walk gives exactly what the block-by-block machine gives.

Recorded with tiny chunks, so chunk boundaries fall inside deep recursion, tail calls,
exception unwinding and host calls, and the comparison runs at hundreds of boundaries.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import wasmtime

from ttd.record.recorder import RecordOptions, Recorder
from ttd.replay.machine import Frame, MachineState
from ttd.replay.stackwalk import StackTables, walk_chunk
from ttd.replay.trace import Trace
from ttd.store.trace_store import TraceStore

ROOT = Path(__file__).resolve().parents[1]
C_PROGRAMS = [("fib", []), ("heap", []), ("trap", []), ("strings", []), ("bench_sort", ["300"])]
WAT = ["calls", "tailcall", "exceptions", "control", "trap"]


def _record(wasm: Path, args: list[str], out: Path, id_cap: int = 4 * 97) -> Path:
    saved = os.dup(1)
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
        Recorder(RecordOptions(program=wasm, args=args, out=out, quiet=True, overwrite=True,
                               id_cap=id_cap)).run()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    return out


def _exact(trace: Trace, ch, frames: list[Frame], prev: int):
    m = trace.machine
    m.track_memory = False
    st = MachineState(frames=[Frame(f.func, list(f.locals), f.pc, f.ret_pc) for f in frames],
                      globals=[0] * len(trace.schedule.globals), memories=[], prev_block=prev)
    depths = []
    last = len(ch.ids) - 1
    for k, bid in enumerate(ch.ids.tolist()):
        steps = ch.last_steps if k == last and ch.last_steps != len(m.blocks[bid].pcs) else None
        m.run_block(st, bid, ch.vals, int(ch.voffs[k]), None, steps)
        depths.append(len(st.frames))
    m.track_memory = True
    return np.array(depths), st.frames


def _compare(trace_path: Path) -> int:
    with TraceStore.open(trace_path) as store:
        trace = Trace(store)
        tables = StackTables(trace.schedule)
        frames, prev, vectorised = [], -1, 0
        for seq, *_ in trace.chunks:
            ch = trace.chunk(seq)
            depths, after = _exact(trace, ch, frames, prev)
            full = ch.last_steps == int(trace.block_steps[ch.ids[-1]])
            got = walk_chunk(tables, trace.machine, frames, prev, ch.ids, ch.voffs, ch.vals, full)
            if got is not None:
                vectorised += 1
                assert got.depths.tolist() == depths.tolist(), f"chunk {seq}"
                assert [f.to_wire() for f in got.frames] == [f.to_wire() for f in after], \
                    f"chunk {seq}"
            frames, prev = after, int(ch.ids[-1])
        assert [f.to_wire() for f in frames] == trace.walk_frames()[len(trace.chunks)][0]
        return vectorised


@pytest.mark.parametrize("name,args", C_PROGRAMS, ids=[n for n, _ in C_PROGRAMS])
def test_c_programs(name, args, tmp_path):
    out = _record(ROOT / "programs" / f"{name}.wasm", args, tmp_path / "t.db")
    assert _compare(out) > 3


@pytest.mark.parametrize("name", WAT)
def test_wat_families(name, tmp_path):
    wasm = tmp_path / f"{name}.wasm"
    wasm.write_bytes(wasmtime.wat2wasm((ROOT / "wat" / f"{name}.wat").read_text()))
    _compare(_record(wasm, [], tmp_path / "t.db"))
