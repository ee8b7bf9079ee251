"""Post-mortem on a capture: the history of the run's last chunks, built before the rest.

A trap is at the end of the run, so a post-mortem needs the last chunks first. Chunk
boundaries are deterministic, so a count pass (the instrumented module run through the whole
capture, every chunk discarded in place, nothing copied out of wasmtime) finds how many there
are, and a second run fast-forwards the same way to the last few and keeps those, from a
boundary that stores every page. What such a segment lacks are the locals (and functions,
call sites) of the frames already live where it starts: `start_depth` says how many.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from ttd.record.expand import (
    _check_outcome, _overflowed, _read_capture, overflow_depth, run_segment,
)
from ttd.record.depth import has_tags
from ttd.store.trace_store import _remove_with_sidecars
from ttd.wasm.module import parse_module

#: Chunks kept in the last segment (65,536 blocks each by default).
LAST_CHUNKS = 8


@dataclass
class LastSegment:
    path: Path  # chunks [start_chunk, chunks) of the run, with every page at start_chunk
    start_chunk: int
    chunks: int  # of the whole run
    first_step: int  # the run's step at start_chunk
    steps: int  # of the whole run
    # frames live at start_chunk (the program's depth counter: the one being entered or left
    # there may be counted or not), whose locals the segment does not hold
    start_depth: int
    frames: bool  # the checkpoints from start_chunk on hold the frames, as the whole history's
    count_seconds: float
    segment_seconds: float


def expand_last_segment(capture: Path, out: Path, *, keep: int = LAST_CHUNKS,
                        quiet: bool = True, use_cache: bool = True) -> LastSegment:
    """Count the capture's chunks, then expand only the last `keep` of them into out (our own
    new file), checking that the run ends as the capture did (exit, trap, depth, memory)."""
    capture, out = Path(capture), Path(out)
    info, data = _read_capture(capture)
    depth = overflow_depth(capture, info, data) if _overflowed(info) else None
    t0 = time.perf_counter()
    scratch = out.with_name(f".{out.name}.{os.getpid()}.count")
    try:
        count = run_segment(str(capture), str(scratch), 1 << 62, None, True, use_cache, False,
                            depth)
    finally:
        _remove_with_sidecars(scratch)
    _check_outcome(capture, info, count, depth, data)
    t1 = time.perf_counter()
    start = max(0, count["chunks"] - max(1, keep))
    # the shadow stack needs every frame to leave through its exits: no exceptions
    frames = start == 0 or not has_tags(parse_module(data))
    state = run_segment(str(capture), str(out), start, None, quiet, use_cache, frames, depth,
                        shadow=frames and start > 0)
    _check_outcome(capture, info, state, depth, data)
    t2 = time.perf_counter()
    from ttd.store.trace_store import TraceStore

    with TraceStore.open(out) as st:
        rows = st.chunk_index()
    first = rows[0][1] if rows else state["steps"]
    return LastSegment(out, start, state["chunks"], first, state["steps"],
                       int(state.get("start_depth") or 0), frames, t1 - t0, t2 - t1)
