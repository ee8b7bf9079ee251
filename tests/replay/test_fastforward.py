"""A vectorised seek inside a chunk rebuilds exactly the state the block-by-block replay does."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import wasmtime

from tests.replay.test_stackwalk import ROOT, _record
from ttd.replay.lazy_memory import materialize
from ttd.replay.trace import Trace
from ttd.store.trace_store import TraceStore

PROGRAMS = [("heap", []), ("strings", []), ("trap", []), ("bench_sort", ["2000"]),
            ("zlib_example", [])]
WAT = ["bulk", "memory", "multimemory", "simd", "calls"]


def _state(st):
    return ([f.to_wire() for f in st.frames], list(st.globals), [bytes(materialize(m)) for m in st.memories],
            st.prev_block, st.blocks_done, st.steps_done)


def _compare(path: Path, samples: int = 40) -> None:
    rng = random.Random(7)
    with TraceStore.open(path) as store:
        trace = Trace(store)
        for seq, *_ in trace.chunks:
            ch = trace.chunk(seq)
            ks = {0, len(ch.ids) - 1, len(ch.ids) // 2} | {rng.randrange(len(ch.ids))
                                                             for _ in range(samples)}
            for k in sorted(ks):
                a = trace.state_at_chunk(seq)
                trace.run_chunk(a, ch, upto_block=k)
                b = trace.state_at_chunk(seq)
                trace.advance(b, ch, k)
                assert _state(a) == _state(b), f"chunk {seq}, block {k}"


@pytest.mark.parametrize("name,args", PROGRAMS, ids=[n for n, _ in PROGRAMS])
def test_c_programs(name, args, tmp_path):
    _compare(_record(ROOT / "programs" / f"{name}.wasm", args, tmp_path / "t.db", 1 << 14), 6)


@pytest.mark.parametrize("name", WAT)
def test_wat_families(name, tmp_path):
    wasm = tmp_path / f"{name}.wasm"
    wasm.write_bytes(wasmtime.wat2wasm((ROOT / "wat" / f"{name}.wat").read_text()))
    _compare(_record(wasm, [], tmp_path / "t.db", 4 * 37))


def test_a_tiny_page_cache_still_rebuilds_memory(tmp_path, monkeypatch):
    """Pages evicted while a seek loads others must not go missing."""
    import ttd.replay.trace as trace_mod

    monkeypatch.setattr(trace_mod, "PAGE_CACHE", 3)
    _compare(_record(ROOT / "programs" / "heap.wasm", [], tmp_path / "t.db", 1 << 12), 3)
