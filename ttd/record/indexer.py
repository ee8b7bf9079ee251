"""After recording: walk the trace once and store the call stack at every chunk start.

The recorder can see memory and globals at a chunk boundary but not the Wasm call stack, so
the frames (function, pc, locals) of each checkpoint are rebuilt here from the blocks. Seeking
then starts from the nearest checkpoint instead of from step 0.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ttd.replay.trace import Trace
from ttd.store import codec
from ttd.store.trace_store import TraceStore


def _save(store: TraceStore, trace: Trace, seq: int, st) -> None:
    raw = store.checkpoint(seq)
    cp = codec.unpack(raw) if raw is not None else {"globals": list(st.globals), "mem_sizes": []}
    cp["frames"] = [f.to_wire() for f in st.frames]
    cp["prev"] = st.prev_block
    store.put_checkpoint(seq, codec.pack(cp))


def index_trace(path: Path, quiet: bool = False) -> int | None:
    """Store frames at every chunk boundary; returns the pc of the last step."""
    with TraceStore.open(path, writable=True) as store:
        trace = Trace(store)
        trace.machine.track_memory = False
        st = trace.initial_state(with_memory=False)
        last_shown = 0.0
        t0 = time.monotonic()
        shown = False
        n = len(trace.chunks)
        for i, (seq, _first, _n, _fb, _nb) in enumerate(trace.chunks):
            _save(store, trace, seq, st)
            trace.run_chunk(st, trace.chunk(seq))
            now = time.monotonic()
            if not quiet and now - t0 > 1.0 and (now - last_shown > 0.5 or i == n - 1):
                last_shown = now
                shown = True
                sys.stderr.write(f"\rindexing: {st.steps_done / 1e6:,.1f}M steps, chunk {i + 1}/{n} ")
                sys.stderr.flush()
        _save(store, trace, n, st)
        store.commit()
        if shown:
            sys.stderr.write("\n")
        return st.frames[-1].pc if st.frames else None
