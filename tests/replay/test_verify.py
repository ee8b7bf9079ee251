"""`verify` replays whole chunks with the vectorised path a seek uses, and hashes only pages
that can have changed: it must reach the same states as the exact block-by-block machine,
and reject what that machine rejects."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import wasmtime

from tests.support.cases import get_case
from tests.support.recording import record
from ttd.replay.lazy_memory import DirtyMemory, materialize
from ttd.replay.machine import ReplayError
from ttd.replay.stackwalk import walk_chunk
from ttd.replay.trace import Trace
from ttd.replay.verify import verify
from ttd.store.trace_store import TraceStore

ROOT = Path(__file__).resolve().parents[2]
WAT_DIR = ROOT / "tests" / "wat"
PROGRAMS = ROOT / "tests" / "programs"
#: programs with calls, recursion, a heap, a trap, and (the bench ones) several chunks
CASES = ["fib_arg", "heap", "strings", "trap", "bench_recurse", "bench_sort", "bench_lz"]


def _recorded(name: str, tmp_path: Path) -> Path:
    if name.startswith("wat:"):
        stem = name[4:]
        wasm = tmp_path / f"{stem}.wasm"
        wasm.write_bytes(wasmtime.wat2wasm((WAT_DIR / f"{stem}.wat").read_text()))
        args: list[str] = []
    else:
        case = get_case(name)
        wasm, args = case.wasm_path, case.run_args(smoke=case.smoke_args is not None)
    rec = record(wasm, tmp_path / "t.db", args)
    assert rec.trace.exists(), rec.stderr
    return rec.trace


def _state(st) -> tuple:
    return ([f.to_wire() for f in st.frames], list(st.globals), st.prev_block, st.blocks_done,
            st.steps_done, [bytes(materialize(m)) for m in st.memories])


@pytest.mark.parametrize("name", CASES + [f"wat:{p.stem}" for p in sorted(WAT_DIR.glob("*.wat"))])
def test_whole_chunk_advance_equals_exact_machine(name, tmp_path):
    trace = Trace(TraceStore.open(_recorded(name, tmp_path)))
    try:
        fast = trace.initial_state(with_memory=True)
        fast.memories = [DirtyMemory(m) for m in fast.memories]
        exact = trace.initial_state(with_memory=True)
        for seq, *_ in trace.chunks:
            ch = trace.chunk(seq)
            trace.advance(fast, ch, len(ch.ids))
            trace.run_chunk(exact, ch)
            assert _state(fast) == _state(exact), f"chunk {seq}"
        assert verify(trace).ok
    finally:
        trace.store.close()


def test_a_return_into_another_function_is_left_to_the_exact_walk(tmp_path):
    """A crafted chunk whose return lands in a block of a function that is not the caller's:
    the exact machine names the error; the vectorised walk must not accept the chunk."""
    trace = Trace(TraceStore.open(_recorded("fib_arg", tmp_path)))
    try:
        ch = trace.chunk(0)
        blocks = trace.schedule.blocks
        ok = walk_chunk(trace.stack_tables, trace.machine, [], -1, ch.ids, ch.voffs, ch.vals)
        assert ok is not None
        depths = ok.depths.astype(np.int64)
        # a return: the depth drops; land it on a non-entry block of another function
        k = int(np.flatnonzero(np.diff(depths) < 0)[0]) + 1
        here = blocks[int(ch.ids[k])].func
        other = next(i for i, b in enumerate(blocks) if b.func != here and not b.entry)
        ids = ch.ids.copy()
        ids[k] = other
        assert walk_chunk(trace.stack_tables, trace.machine, [], -1, ids[:k + 1], ch.voffs,
                          ch.vals) is None
        st = trace.initial_state(with_memory=False)
        trace.machine.track_memory = False
        with pytest.raises(ReplayError, match="runs in a frame of function"):
            for j in range(k + 1):
                trace.machine.run_block(st, int(ids[j]), ch.vals, int(ch.voffs[j]), None)
    finally:
        trace.store.close()


def test_a_page_the_recording_changed_without_a_write_is_caught(tmp_path):
    """Pages replay never wrote are skipped only while the recording's digest for them stays
    the same: a later snapshot that disagrees about an unwritten page still fails."""
    trace = Trace(TraceStore.open(_recorded("bench_sort", tmp_path)))
    try:
        assert verify(trace).ok
        # the last boundary with stored pages, and a page replay does not write before it
        # (since the boundary with pages before that one)
        snaps = [s for s in range(1, len(trace.chunks) + 1) if trace.has_snapshot(s)]
        assert len(snaps) >= 2  # a first check (every page), then one that skips pages
        at, since = snaps[-1], snaps[-2]
        st = trace.initial_state(with_memory=True)
        st.memories = [DirtyMemory(m) for m in st.memories]
        for seq in range(at):
            if seq == since:
                st.memories[0].take_dirty()
            ch = trace.chunk(seq)
            trace.advance(st, ch, len(ch.ids))
        written = set(st.memories[0].take_dirty().tolist())
        page = next(p for p in range(len(st.memories[0]) >> 12) if p not in written)
        real = trace.store.page_table

        def forged(seq, mi):
            table = dict(real(seq, mi))
            if seq == at and mi == 0:
                table[page] = b"\x01" * 32
            return table

        trace.store.page_table = forged
        rep = verify(trace)
        assert not rep.ok and f"page at {page * 4096:#x} differs" in rep.problems[-1], rep.problems
    finally:
        trace.store.close()
