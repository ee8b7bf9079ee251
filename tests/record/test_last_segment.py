"""Post-mortem's first piece: the last chunks of a capture's run, expanded without the rest.

Each trapping program is captured with small chunks, then expanded twice: whole (`ttd
expand`) and only its last chunks (expand_last_segment, which counts the chunks in a fast
pass first). The segment must be the whole history's tail exactly: the same chunks (block ids,
values, host events), the same globals and memory where it starts, the same outcome; and
start_depth must be the number of frames the whole history has live there (give or take the
one being entered or left at that boundary).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.support.recording import capture_and_expanded_copy, record
from ttd.record.last_segment import expand_last_segment
from ttd.record.recorder import RecordError
from ttd.replay.trace import Trace
from ttd.store import codec
from ttd.store.trace_store import TraceStore

ROOT = Path(__file__).resolve().parents[2]
PROGRAMS = ROOT / "tests" / "programs"

# (name, module, args, chunk blocks, chunks kept)
CASES = [
    ("trap", PROGRAMS / "trap.wasm", [], 256, 3),
    ("bench_trap_deep", PROGRAMS / "bench_trap.wasm", ["3000"], 1024, 4),  # 27 frames, after memory.grow
    ("wat_trap", ROOT / "tests" / "wat" / "trap.wat", [], 64, 1),
    ("names_cpp", PROGRAMS / "names.wasm", [], 64, 5),
]


def _rows(path: Path, first: int) -> list:
    with TraceStore.open(path) as st:
        layout = st.info().get("values_layout", "bytes")
        out = []
        for row in st.chunk_index():
            if row[0] < first:
                continue
            c = st.chunk(row[0])
            out.append((tuple(row), codec.decompress(c.ids, 1 << 30),
                        codec.decompress_values(c.vals, 1 << 30, layout), codec.unpack(c.host)))
        return out


def _stored_memory(path: Path, seq: int) -> list[bytes]:
    """Memory at chunk seq from the pages the segment stored there (every page)."""
    with TraceStore.open(path) as st:
        cp = codec.unpack(st.checkpoint(seq))
        mems = []
        for mi, size in enumerate(cp["mem_sizes"]):
            buf = bytearray(size)
            table = st.page_table(seq, mi)
            pages = st.pages(list(table.values()))
            for page, digest in table.items():
                data = pages[digest]
                at = page * len(data)
                if at < size:
                    buf[at:at + len(data)] = data[:size - at]
            mems.append(bytes(buf))
        return mems


def _boundaries(path: Path, first: int) -> dict:
    """What the walk keeps at each boundary from chunk `first` on: frames, previous block,
    blocks of the chunk, globals."""
    with TraceStore.open(path) as st:
        out = {}
        for seq in range(first, len(st.chunk_index()) + first + 1):
            raw = st.checkpoint(seq)
            if raw is None:
                continue
            cp = codec.unpack(raw)
            out[seq] = (cp.get("frames"), cp.get("prev"), cp.get("blocks"), cp.get("globals"))
        return out


def _whole(wasm: Path, args: list[str], blocks: int, tmp_path: Path, code: int) -> tuple[Path, Path]:
    return capture_and_expanded_copy(wasm, tmp_path, args, chunk_blocks=blocks, code=code)


def _check_tail(seg, full: Path, keep: int) -> None:
    whole = Trace(TraceStore.open(full))
    try:
        assert seg.chunks == len(whole.chunks) > keep
        assert seg.start_chunk == seg.chunks - keep
        assert seg.steps == whole.total_steps
        assert seg.first_step == whole.chunks[seg.start_chunk][1]
        assert _rows(seg.path, 0) == _rows(full, seg.start_chunk)
        start = whole.checkpoint(seg.start_chunk)
        with TraceStore.open(seg.path) as st:
            mine = codec.unpack(st.checkpoint(seg.start_chunk))
            info = st.info()
        assert mine["globals"] == start["globals"]
        assert mine["mem_sizes"] == start["mem_sizes"]
        assert _stored_memory(seg.path, seg.start_chunk) == [bytes(m) for m in whole.memory_at(seg.start_chunk)]
        if seg.frames:  # (with tags, frames an exception unwinds keep their depth counted)
            # the depth counter moves at a function's entry and before its exit, the walked
            # stack when the next block runs: a boundary between the two differs by that frame
            assert abs(seg.start_depth - len(start["frames"])) <= 1
        for key in ("exit_code", "trap", "trap_pc", "steps", "status"):
            assert info.get(key) == whole.info.get(key), key
        assert info["final"]["mem_sha256"] == whole.info["final"]["mem_sha256"]
    finally:
        whole.store.close()
    if seg.frames:  # the frames where it starts, from the shadow stack, as the walk has them
        mine, want = _boundaries(seg.path, seg.start_chunk), _boundaries(full, seg.start_chunk)
        assert mine.keys() == want.keys()
        for seq in want:
            assert mine[seq] == want[seq], f"boundary {seq} differs"


@pytest.mark.parametrize("name,wasm,args,blocks,keep", CASES, ids=[c[0] for c in CASES])
def test_last_segment_is_the_tail_of_the_whole_history(name, wasm, args, blocks, keep, tmp_path):
    cap, full = _whole(wasm, args, blocks, tmp_path, 134)
    seg = expand_last_segment(cap, tmp_path / "last.db", keep=keep)
    assert seg.frames
    _check_tail(seg, full, keep)
    if name == "bench_trap_deep":
        assert seg.start_depth == 27  # _start, 25 descend, work


# (module, args, chunk blocks, exit status): a segment from every chunk boundary, so
# boundaries of every kind (in a call, a return, a tail call, a loop) start one
STARTS = [
    ("fib", PROGRAMS / "fib.wasm", ["6"], 64, 0),
    ("trap", PROGRAMS / "trap.wasm", [], 64, 134),
    ("names", PROGRAMS / "names.wasm", [], 64, 134),
    *[(f"wat_{p.stem}", p, [], 64, None) for p in sorted((ROOT / "tests" / "wat").glob("*.wat"))],
]


@pytest.mark.parametrize("name,wasm,args,blocks,code", STARTS, ids=[c[0] for c in STARTS])
def test_a_segment_from_every_boundary_has_the_frames_of_the_whole_history(
        name, wasm, args, blocks, code, tmp_path):
    cap, full = _whole(wasm, args, blocks, tmp_path, code if code is not None else
                       record(wasm, tmp_path / "probe.db", args,
                              extra=["--capture-only"]).returncode)
    with TraceStore.open(full) as st:
        chunks = len(st.chunk_index())
    tags = "exceptions" in name or "catch" in name or "try" in name
    # every boundary of a short run, eight spread over a long one (tailcall: ~300 chunks)
    keeps = sorted({1 + (chunks - 2) * i // 7 for i in range(8)}) if chunks > 13 else range(1, chunks)
    for keep in keeps:
        out = tmp_path / f"last{keep}.db"
        seg = expand_last_segment(cap, out, keep=keep)
        assert seg.frames == (not tags)
        _check_tail(seg, full, keep)
        out.unlink()


def test_a_capture_the_re_execution_leaves_is_an_error(tmp_path):
    """A capture whose run ends otherwise than its re-execution: the count pass says so."""
    cap = record(PROGRAMS / "bench_trap.wasm", tmp_path / "cap.db", ["300"],
                 extra=["--capture-only", "--chunk-blocks", "64"])
    other = record(PROGRAMS / "bench_trap.wasm", tmp_path / "other.db", ["400"],
                   extra=["--capture-only", "--chunk-blocks", "64"])
    assert cap.returncode == other.returncode == 134
    # the capture of N=300 with the import answers of N=400: argv differs, the run too
    a = sqlite3.connect(cap.trace)
    try:
        a.execute("ATTACH DATABASE ? AS o", (str(other.trace),))
        a.execute("DELETE FROM capture_events")
        a.execute("INSERT INTO capture_events SELECT * FROM o.capture_events")
        a.commit()
    finally:
        a.close()
    with pytest.raises(RecordError, match="diverged"):
        expand_last_segment(cap.trace, tmp_path / "last.db", keep=2)


def test_bench_trap_is_built_from_its_source():
    import wasmtime

    src = (PROGRAMS / "src" / "bench_trap.wat").read_text()
    assert wasmtime.wat2wasm(src) == (PROGRAMS / "bench_trap.wasm").read_bytes()
