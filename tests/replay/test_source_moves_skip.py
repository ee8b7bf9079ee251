"""The backward walk of source-level moves skips chunks run wholly deeper than the frame it
walks (from the least depth the indexer stores per chunk) and yields what the block-by-block
walk yields; a trace without those depths is walked block by block."""

from __future__ import annotations

import random
from itertools import islice
from pathlib import Path

import pytest

from tests.support.recording import record
from ttd.replay.session import ReplaySession
from ttd.replay.source_moves import SourceFacts, SourceMoves
from ttd.replay.trace import Trace
from ttd.store.trace_store import TraceStore

PROGRAMS = Path(__file__).resolve().parents[2] / "tests" / "programs"


class _NoDepths(Trace):
    """The same trace as one indexed before the least depths were stored."""

    def checkpoint(self, seq):
        cp = dict(super().checkpoint(seq))
        cp.pop("min_depth", None)
        return cp


@pytest.mark.parametrize("wasm,args", [("fib.wasm", ["14"]), ("bench_recurse.wasm", ["9"])])
def test_skipping_deep_chunks_yields_the_same_steps(tmp_path, wasm, args):
    rec = record(PROGRAMS / wasm, tmp_path / "t.db", args, extra=["--chunk-blocks", "16"])
    assert rec.returncode == 0, rec.stderr
    fast = Trace(TraceStore.open(rec.trace))
    slow = _NoDepths(TraceStore.open(rec.trace))
    try:
        stored = [fast.checkpoint(s).get("min_depth") for s in range(len(fast.chunks))]
        assert None not in stored and len(set(stored)) > 1
        rng = random.Random(7)
        skipped = 0
        for step in sorted(rng.sample(range(1, fast.total_steps), 12)):
            a, b = ReplaySession(fast, step), ReplaySession(slow, step)
            for depth in range(1, a.depth + 1):
                want = list(islice(SourceMoves(b, SourceFacts()).steps_back(step, depth), 4000))
                got = list(islice(SourceMoves(a, SourceFacts()).steps_back(step, depth), 4000))
                assert got == want, (step, depth)
                # chunks the walk passed wholly deeper than `depth`
                if want:
                    reached = fast.chunk_for_step(want[-1][0])
                    here = fast.chunk_for_step(step - 1)
                    skipped += sum(1 for s in range(reached + 1, here) if stored[s] > depth)
        assert skipped > 0
    finally:
        fast.store.close()
        slow.store.close()
