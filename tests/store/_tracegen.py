"""Deterministic trace contents, shared by the tests and the subprocesses they kill."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

from ttd.store import TraceStore

PAGE_SIZE = 4096
STEPS_PER_CHUNK = 1000


def chunk_blobs(seq: int, size: int = 2048) -> tuple[bytes, bytes, bytes]:
    """(ids, vals, host) of chunk seq; the sizes vary so rows straddle SQLite pages differently."""
    rnd = random.Random(seq)
    return rnd.randbytes(size + seq % 97), rnd.randbytes(size // 2 + seq % 13), rnd.randbytes(seq % 50)


def page_for(seq: int) -> bytes:
    """A non-zero page first written at the start of chunk seq."""
    return random.Random(-1 - seq).randbytes(64) * (PAGE_SIZE // 64)


def digest(raw: bytes) -> bytes:
    return hashlib.sha256(raw).digest()


def write_chunk(store: TraceStore, seq: int, size: int = 2048) -> None:
    """One chunk's batch, as a recorder writes it: chunk row, checkpoint, a new page and its version."""
    ids, vals, host = chunk_blobs(seq, size)
    store.add_chunk(seq, seq * STEPS_PER_CHUNK, STEPS_PER_CHUNK, seq * 10, 10, ids, vals, host)
    store.put_checkpoint(seq, b"state-%d" % seq)
    raw = page_for(seq)
    store.put_pages({digest(raw): raw})
    store.put_page_versions(seq, [(0, seq % 7, digest(raw))])


def make_trace(path: Path, n_chunks: int, size: int = 2048) -> Path:
    """A committed, closed trace with n_chunks chunks."""
    with TraceStore.create(path, overwrite=True) as store:
        store.set_info(program="prog.wasm", args=["a", "b"], status="complete")
        store.add_module("prog.wasm", b"\0asm\x01\0\0\0", b"schedule")
        for seq in range(n_chunks):
            write_chunk(store, seq, size)
            store.commit()
    return path


def check_prefix(store: TraceStore, size: int = 2048) -> int:
    """Assert the trace holds chunks 0..n-1 exactly as write_chunk wrote them, every table consistent; return n."""
    index = store.chunk_index()
    n = len(index)
    assert [row[0] for row in index] == list(range(n))
    for seq in range(n):
        row = store.chunk(seq)
        assert store.verify_chunk(row), seq
        assert (row.ids, row.vals, row.host) == chunk_blobs(seq, size)
        assert store.checkpoint(seq) == b"state-%d" % seq
        raw = page_for(seq)
        assert store.page(digest(raw)) == raw
    assert store.checkpoint(n) is None
    return n
