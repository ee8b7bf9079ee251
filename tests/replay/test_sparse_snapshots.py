"""Memory at a chunk start without stored pages is rebuilt from the last snapshot exactly.

A program that writes across a large array (bench_sieve) makes snapshots dearer than the
chunks themselves, so the recorder skips them (SnapshotPolicy); replay then moves the last
snapshot forward by the recorded stores of the chunks in between.
"""

from __future__ import annotations

import random

import pytest

from tests.replay.test_stackwalk import ROOT, _record
from ttd.record.snapshot import SnapshotPolicy
from ttd.replay.cursor import Cursor
from ttd.replay.lazy_memory import materialize
from ttd.replay.trace import Trace
from ttd.replay.verify import verify
from ttd.store.errors import CorruptTrace
from ttd.store.trace_store import TraceStore
from ttd.store import codec

# (program, args, blocks per chunk): small chunks make snapshots dear relative to a chunk
PROGRAMS = [("bench_sieve", ["12000"], 1 << 10), ("heap", [], 1 << 9), ("zlib_example", [], 1 << 10)]


def test_policy_skips_dear_snapshots_up_to_a_gap():
    p = SnapshotPolicy()
    assert p.take(4096, 10_000)  # cheap: always
    taken = [p.take(10 << 20, 100_000) for _ in range(3 * p.MAX_GAP)]
    assert taken.count(True) == 3 and taken[p.MAX_GAP - 1] and not taken[0]
    # bytes recorded since the last snapshot accumulate until a snapshot is cheap enough
    p = SnapshotPolicy()
    assert [p.take(1 << 20, 400_000) for _ in range(3)] == [False, False, True]


@pytest.mark.parametrize("name,args,blocks", PROGRAMS, ids=[p[0] for p in PROGRAMS])
def test_memory_between_snapshots_is_exact(name, args, blocks, tmp_path):
    path = _record(ROOT / "programs" / f"{name}.wasm", args, tmp_path / "t.db", 4 * blocks)
    with TraceStore.open(path) as store:
        trace = Trace(store)
        seqs = [c[0] for c in trace.chunks]
        skipped = [s for s in seqs if not trace.has_snapshot(s)]
        assert skipped and len(skipped) < len(seqs)
        gaps = [s - trace.snapshot_before(s) for s in seqs]
        assert max(gaps) < SnapshotPolicy.MAX_GAP
        assert verify(trace).ok
        # the reference: every chunk replayed block by block from the start
        ref = trace.initial_state()
        exact = {}
        for s in seqs:
            exact[s] = [bytes(m) for m in ref.memories]
            trace.run_chunk(ref, trace.chunk(s))
    # from the snapshot alone (a fresh trace), and from the memory kept of an earlier seek
    rng = random.Random(3)
    with TraceStore.open(path) as store:
        trace = Trace(store)
        for s in rng.sample(skipped, min(25, len(skipped))):
            trace._images.clear()
            assert [bytes(m) for m in trace.memory_at(s)] == exact[s], s
        trace._images.clear()
        for s in seqs:
            st = trace.state_at_chunk(s)
            assert [bytes(materialize(m)) for m in st.memories] == exact[s], s


def test_cursor_seeks_agree_with_stepping(tmp_path):
    path = _record(ROOT / "programs" / "bench_sieve.wasm", ["3000"], tmp_path / "t.db", 4 * 512)
    with TraceStore.open(path) as store:
        trace = Trace(store)
        assert any(not trace.has_snapshot(c[0]) for c in trace.chunks)
        walker, seeker = Cursor(trace), Cursor(Trace(store))
        rng = random.Random(5)
        targets = sorted(rng.sample(range(trace.total_steps), 30))
        for step in targets:
            while walker.step < step:  # instruction by instruction from step 0: no seeks
                walker._advance()
            seeker.seek(step)
            size = len(walker.st.memories[0])
            assert seeker.read_memory(0, size) == walker.read_memory(0, size)
            assert seeker.st.globals == walker.st.globals


def test_a_malformed_snapshot_flag_is_a_corrupt_trace(tmp_path):
    path = _record(ROOT / "programs" / "heap.wasm", [], tmp_path / "t.db", 4 * 97)
    with TraceStore.open(path, writable=True) as store:
        cp = codec.unpack(store.checkpoint(1))
        cp["snapshot"] = 1
        store.put_checkpoint(1, codec.pack(cp))
        store.commit()
    with TraceStore.open(path) as store:
        with pytest.raises(CorruptTrace, match="snapshot flag"):
            Trace(store).checkpoint(1)


def test_keyframes_after_many_versions_answer_like_the_scan(tmp_path, monkeypatch):
    """The writer's extra page-table keyframes (after many page versions) hold exactly the
    table a scan of every version finds."""
    import ttd.record.writer as writer_mod

    monkeypatch.setattr(writer_mod, "KEYFRAME_ROWS", 8)
    path = _record(ROOT / "programs" / "heap.wasm", [], tmp_path / "t.db", 4 * 97)
    with TraceStore.open(path) as store:
        seqs = [s for (s,) in store._conn.exec_driver_sql(
            "SELECT chunk_seq FROM page_keyframes WHERE memory = 0")]
        assert any(s % 64 for s in seqs)  # not only the regular ones
        n = len(Trace(store).chunks)
        for seq in list(range(0, n + 1, 3)) + seqs:
            fast = store.page_table(seq, 0)
            store._use_keyframes = False
            assert fast == store.page_table(seq, 0), seq
            store._use_keyframes = True
