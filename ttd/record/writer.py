"""Compress and store chunks on a second thread, so the program keeps running meanwhile.

zstd and SQLite release the GIL; the queue is bounded, so a slow disk slows the recording
instead of growing memory. Every job runs on the writer thread in submission order, which
makes one SQLite connection (owned by that thread) enough.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ttd.store import codec
from ttd.store.trace_store import TraceStore

#: Seconds between commits: each costs an fsync, and a killed recorder loses at most this much
#: of what reached the writer (also while the program waits, e.g. on stdin: see _loop).
COMMIT_EVERY = 1.0
#: An extra page-table keyframe once this many page versions (and at least as many as the
#: table has pages) were stored since the last: a seek then reads a keyframe and few versions.
KEYFRAME_ROWS = 4096


@dataclass(slots=True)
class Boundary:
    """Live state at a chunk boundary: the start of chunk `seq`."""

    seq: int
    globals: list[int]
    mem_sizes: list[int]
    versions: list[tuple[int, int, bytes]]
    pages: dict[bytes, bytes]
    # per memory, a bitmap of the 64 KiB pages written since the previous boundary (where a
    # store starts), or None when unknown; lets "who wrote this" skip whole chunks
    written: list[bytes | None] | None = None
    # False: no pages stored here (see SnapshotPolicy); memory is rebuilt from an earlier one
    snapshot: bool = True

    def state(self) -> bytes:
        return codec.pack(self.state_dict())

    def state_dict(self) -> dict:
        cp = {"globals": self.globals, "mem_sizes": self.mem_sizes}
        if not self.snapshot:
            cp["snapshot"] = False
        if self.written is not None:
            cp["written_before"] = self.written
        return cp


class ChunkWriter:
    def __init__(self, path, block_steps: np.ndarray, progress: Callable[[int, int], None] | None,
                 stack=None):
        self.path = path
        # a StackIndex: checkpoints get the frames at their boundary and the blocks of their
        # chunk as they are written (then the trace needs no indexing pass)
        self.stack = stack
        self._open_cp: tuple[int, dict] | None = None  # the last checkpoint, until its chunk
        self.block_steps = block_steps
        self.progress = progress
        self.jobs: queue.Queue = queue.Queue(maxsize=8)
        self.error: BaseException | None = None
        self.steps = 0
        self.blocks = 0
        self.bytes = 0
        self.chunks = 0
        self.committed = time.monotonic()
        # what the file holds for sure: chunks and steps as of the last successful commit
        self.committed_chunks = 0
        self.committed_steps = 0
        self._dirty = False  # rows written since the last commit
        self.store: TraceStore | None = None
        # per memory: the page table as of the last boundary, and versions since its keyframe
        self.tables: dict[int, dict[int, bytes]] = {}
        self.since_keyframe: dict[int, int] = {}
        self.thread = threading.Thread(target=self._loop, name="ttd-writer", daemon=True)

    def _loop(self) -> None:
        try:
            while True:
                try:
                    # idle (the program waits for input, or computes between full buffers):
                    # commit what came in, so a recorder killed now loses nothing it was given
                    job = self.jobs.get(timeout=max(COMMIT_EVERY, 0.05))
                except queue.Empty:
                    job = self._commit if self._dirty else _nothing
                if job is None:
                    break
                if self.error is not None:
                    continue
                try:
                    job()
                except BaseException as e:  # reported to the recording thread
                    self.error = e
        finally:
            if self.store is not None:
                self.store.close()
                self.store = None

    def call(self, fn: Callable[[TraceStore], None]) -> None:
        """Run fn(store) on the writer thread, after everything submitted before it."""
        self.jobs.put(lambda: fn(self.store))

    def open(self, overwrite: bool):
        """Create the trace here and now (so a refusal or a failure is raised before the program
        runs), then start the writer thread. Returns a second descriptor of the store's
        recording lock (None for a database), for the caller to hold until it is done with the
        file: closing the store does not release the lock while that one is open."""
        self.store = TraceStore.create(self.path, overwrite=overwrite)
        lock = self.store.recording_lock
        self.thread.start()
        return lock.dup() if lock is not None else None

    def _commit(self) -> None:
        self.store.commit()
        self.committed = time.monotonic()
        self.committed_chunks = self.chunks
        self.committed_steps = self.steps
        self._dirty = False

    def boundary(self, b: Boundary) -> None:
        def job() -> None:
            st = self.store
            st.put_pages(b.pages)
            self._versions(b)
            self._checkpoint(b)
            self._commit()
        self.jobs.put(job)

    def _checkpoint(self, b: Boundary) -> None:
        if self.stack is None:
            self.store.put_checkpoint(b.seq, b.state())
            return
        cp = b.state_dict()
        cp.update(self.stack.state())
        self.store.put_checkpoint(b.seq, codec.pack(cp))
        self._open_cp = (b.seq, cp)

    def _index_chunk(self, seq: int, ids: bytes, vals: bytes, last_block_steps: int | None) -> None:
        """Walk chunk seq; its blocks go into the checkpoint at its start (written already)."""
        if self.stack.start_pending() and ids:
            # a segment starting from the shadow stack: its frames are known now, from how
            # its first block is entered
            self.stack.resolve_start(int(np.frombuffer(ids[:4], dtype="<u4")[0]))
            if self._open_cp is not None and self._open_cp[0] == seq:
                self._open_cp[1].update(self.stack.state())
        bitmap = self.stack.chunk(ids, vals, last_block_steps)
        if self._open_cp is not None and self._open_cp[0] == seq:
            cp = self._open_cp[1]
            cp["blocks"] = bitmap
            if self.stack.min_depth is not None:
                cp["min_depth"] = self.stack.min_depth
            self.store.put_checkpoint(seq, codec.pack(cp))

    def _versions(self, b: Boundary) -> None:
        """Store the boundary's page versions, and a keyframe after many of them."""
        self.store.put_page_versions(b.seq, b.versions)
        counts: dict[int, int] = {}
        for mi, page, digest in b.versions:
            self.tables.setdefault(mi, {})[page] = digest
            counts[mi] = counts.get(mi, 0) + 1
        for mi, n in counts.items():
            n += self.since_keyframe.get(mi, 0)
            table = self.tables[mi]
            if n >= max(KEYFRAME_ROWS, len(table)):
                self.store.put_keyframe(mi, b.seq, table)
                n = 0
            self.since_keyframe[mi] = n

    def chunk(self, seq: int, ids: bytes, vals: bytes, host: list, boundary: Boundary,
              last_block_steps: int | None = None) -> None:
        """Store chunk `seq` and the state right after it, in one transaction."""
        packed = None
        if self.jobs.qsize() >= 2:
            # the writer is behind: compress here rather than wait (zstd releases the GIL)
            packed = (codec.compress(ids), codec.compress_values(vals))

        def job() -> None:
            arr = np.frombuffer(ids, dtype="<u4")
            if arr.size and int(arr.max()) >= self.block_steps.shape[0]:
                raise RuntimeError("recorded block id out of range")
            n_steps = int(self.block_steps[arr].sum()) if arr.size else 0
            if last_block_steps is not None and arr.size:
                n_steps -= int(self.block_steps[arr[-1]]) - last_block_steps
            cids, cvals = packed if packed is not None else (codec.compress(ids),
                                                             codec.compress_values(vals))
            chost = codec.pack(host)
            st = self.store
            st.add_chunk(seq, self.steps, n_steps, self.blocks, int(arr.size), cids, cvals, chost)
            if self.stack is not None:
                self._index_chunk(seq, ids, vals, last_block_steps)
            st.put_pages(boundary.pages)
            self._versions(boundary)
            self._checkpoint(boundary)
            self.steps += n_steps
            self.blocks += int(arr.size)
            self.chunks += 1
            self.bytes += len(cids) + len(cvals) + len(chost) + sum(len(p) for p in boundary.pages.values())
            self._dirty = True
            if time.monotonic() - self.committed >= COMMIT_EVERY:
                self._commit()
            if self.progress:
                self.progress(self.steps, self.bytes)
        self.jobs.put(job)

    def finish(self) -> None:
        """Wait for every job, close the store on its own thread; re-raise a writer failure."""
        if self.thread.is_alive():
            self.jobs.put(self._commit)
            self.jobs.put(None)
            self.thread.join()
        elif self.store is not None:  # never started
            self.store.close()
            self.store = None
        if self.error is not None:
            raise self.error


def _nothing() -> None:
    pass
