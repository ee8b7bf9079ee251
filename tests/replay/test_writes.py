"""The write index names every byte that changes (brute force: compare memory across windows)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.cases import get_case
from tests.support.recording import record_case

WINDOW = 1000


@pytest.mark.parametrize("name", ["wild", "stdin_wc", "heap"])
def test_every_changed_byte_is_covered_by_a_write(name, tmp_path):
    from ttd.replay.cursor import Cursor
    from ttd.replay.trace import Trace
    from ttd.replay.writes import WriteIndex
    from ttd.store.trace_store import TraceStore

    trace = Trace(TraceStore.open(record_case(get_case(name), tmp_path / "t.db").trace))
    index = WriteIndex(trace)
    cur = Cursor(trace)
    steps, addrs, sizes = [], [], []
    for seq, *_ in trace.chunks:
        w = index.writes(seq)
        steps.append(w.step), addrs.append(w.addr), sizes.append(w.size)
    steps, addrs, sizes = np.concatenate(steps), np.concatenate(addrs), np.concatenate(sizes)
    assert steps.size and np.all(np.diff(steps) >= 0)
    bounds = list(range(0, trace.total_steps - 1, WINDOW))[:40] + [trace.total_steps - 1]
    prev = np.frombuffer(cur.read_memory(0, len(cur.st.memories[0])), dtype=np.uint8)
    checked = 0
    for a, b in zip(bounds, bounds[1:]):
        cur.seek(b)
        mem = np.frombuffer(cur.read_memory(0, len(cur.st.memories[0])), dtype=np.uint8)
        changed = np.flatnonzero(mem[: prev.size] != prev)
        covered = np.zeros(mem.size, dtype=bool)
        sel = np.flatnonzero((steps >= a) & (steps < b))
        for i in sel.tolist():
            covered[addrs[i]:addrs[i] + sizes[i]] = True
        missing = changed[~covered[changed]]
        assert not missing.size, f"steps {a}-{b}: bytes {missing[:5]} changed, no write names them"
        checked += changed.size
        prev = mem
    assert checked > 0


@pytest.mark.parametrize("name,args", [("heap", []), ("bench_sort", ["3000"]),
                                       ("stdin_wc", None)])
def test_page_maps_never_skip_a_chunk_that_writes(name, args, tmp_path):
    """The recorder's written-page maps are sound (every write's chunk says it may write
    there) and useful (some chunk/address pairs are skipped without decoding)."""
    from tests.replay.test_stackwalk import ROOT, _record
    from ttd.replay.trace import Trace
    from ttd.replay.writes import WriteIndex
    from ttd.store.trace_store import TraceStore

    if args is None:  # through the CLI: stdin fills buffers by host writes
        from tests.support.recording import record
        case = get_case(name)
        path = record(case.wasm_path, tmp_path / "t.db", case.run_args(False),
                      stdin=case.stdin, extra=["--chunk-blocks", "64"]).trace
    else:
        path = _record(ROOT / "programs" / f"{name}.wasm", args, tmp_path / "t.db", 1 << 12)
    trace = Trace(TraceStore.open(path))
    index = WriteIndex(trace)
    skipped = 0
    probes = [0x10000 * p + 8 for p in range(0, 300, 7)]
    for seq, *_ in trace.chunks:
        w = index.writes(seq)
        for a, n, m in zip(w.addr.tolist(), w.size.tolist(), w.memory.tolist()):
            assert index.may_write(seq, a, a + n, m), (seq, a, n)
        for p in probes:
            if not index.may_write(seq, p, p + 4):
                skipped += 1
                assert not w.overlapping(p, p + 4).size
    assert skipped > 0
