"""After recording: walk the trace once and store the call stack at every chunk start.

Each checkpoint also gets the set of blocks its chunk runs (a bitmap), so a breakpoint search
reads only the chunks that can hit.

The recorder can see memory and globals at a chunk boundary but not the Wasm call stack, so
the frames (function, pc, locals) of each checkpoint are rebuilt here from the blocks. Seeking
then starts from the nearest checkpoint instead of from step 0.
"""

from __future__ import annotations

from pathlib import Path

from ttd.progress import ProgressLine
from ttd.replay.machine import Frame
from ttd.replay.trace import Trace
from ttd.store import codec
from ttd.store.trace_store import TraceStore


def index_trace(path: Path, quiet: bool = False, start: tuple[int, list, int] | None = None
                ) -> int | None:
    """Store frames at every chunk boundary (from chunk start[0], whose frames and previous
    block are start[1:], if given); returns the pc of the last step."""
    with TraceStore.open(path, writable=True) as store:
        trace = Trace(store)
        line = ProgressLine("indexing", quiet, delay=1.0)

        def progress(done: int, n: int, steps: int) -> None:
            line.show(f"{steps / 1e6:,.1f}M steps, chunk {done}/{n}", force=done == n)

        blocks: dict[int, bytes] = {}
        min_depths: dict[int, int] = {}
        frames = trace.walk_frames(progress, blocks, start, min_depths)
        for seq, (wire, prev) in frames.items():
            raw = store.checkpoint(seq)
            cp = codec.unpack(raw) if raw is not None else {}
            cp["frames"], cp["prev"] = wire, prev
            if seq in blocks:
                cp["blocks"] = blocks[seq]
            if seq in min_depths:
                cp["min_depth"] = min_depths[seq]
            store.put_checkpoint(seq, codec.pack(cp))
        store.commit()
        line.done()
        final_frames, _prev = frames[len(trace.chunks)]
        return Frame.from_wire(final_frames[-1]).pc if final_frames else None
