"""Pages of live linear memory that changed since the last chunk boundary.

Taken while the program is paused in the flush hook, so each chunk boundary has the true memory
contents: the replay starts from them, and `ttd verify` checks its own reconstruction against
them. Pages are content-addressed (sha256), so a page that returns to an earlier content costs
nothing.
"""

from __future__ import annotations

import ctypes
import hashlib

import numpy as np

SNAP_PAGE = 4096
WRITE_PAGE = 65536  # granularity of the recorder's dirty maps


def _pages(mem: np.ndarray, n: int) -> np.ndarray:
    """The first n whole snapshot pages, as rows of 8-byte words (cheaper to compare)."""
    return mem[: n * SNAP_PAGE].view(np.uint64).reshape(n, SNAP_PAGE // 8)
ZERO_DIGEST = hashlib.sha256(bytes(SNAP_PAGE)).digest()


def live_view(ptr, size: int) -> np.ndarray:
    """A numpy view of wasm memory without copying it."""
    if size == 0:
        return np.zeros(0, dtype=np.uint8)
    buf = (ctypes.c_ubyte * size).from_address(ctypes.addressof(ptr.contents))
    return np.frombuffer(buf, dtype=np.uint8)


class SnapshotPolicy:
    """Whether a chunk boundary stores the pages written since the last snapshot.

    Most chunks write a few pages, and a snapshot at every boundary costs little. A program
    that scatters writes across a large array (a sieve) rewrites every page in every chunk:
    its snapshots would outweigh the chunks themselves. Then a snapshot is taken only when
    the pages to compare are no more than RATIO times the bytes recorded since the last one,
    or after MAX_GAP chunks without one: a seek rebuilds memory from the last snapshot by
    applying the recorded stores of at most MAX_GAP - 1 chunks.
    """

    RATIO = 1.0
    MAX_GAP = 6

    def __init__(self) -> None:
        self.recorded = 0  # bytes of block ids and values since the last snapshot
        self.gap = 0  # boundaries since the last snapshot

    def take(self, dirty_bytes: int, recorded: int) -> bool:
        self.recorded += recorded
        self.gap += 1
        if dirty_bytes <= self.RATIO * self.recorded or self.gap >= self.MAX_GAP:
            self.recorded = self.gap = 0
            return True
        return False


#: Pages compared at a time: a memory grown to 4 GiB is not copied whole to compare it.
COMPARE_BATCH = 4096


def _changed(live: np.ndarray, old: np.ndarray, candidates: np.ndarray, every: bool) -> list[int]:
    """The candidate pages (rows) that differ, compared COMPARE_BATCH pages at a time;
    `every`: candidates are all the pages, compared through views instead of copies."""
    dirty: list[int] = []
    for i in range(0, candidates.size, COMPARE_BATCH):
        if every:
            j = min(i + COMPARE_BATCH, candidates.size)
            differ = (live[i:j] != old[i:j]).any(axis=1)
            dirty.extend((np.flatnonzero(differ) + i).tolist())
        else:
            c = candidates[i:i + COMPARE_BATCH]
            dirty.extend(c[(live[c] != old[c]).any(axis=1)].tolist())
    return dirty


class MemorySnapshotter:
    def __init__(self, n_memories: int):
        self.shadow = [np.zeros(0, dtype=np.uint8) for _ in range(n_memories)]

    def capture(self, views: list[np.ndarray], written: list[np.ndarray | None] | None = None
                ) -> tuple[list[tuple[int, int, bytes]], dict[bytes, bytes], list[int]]:
        """(page versions, new pages by digest, memory sizes) since the previous capture.

        `written[mi]` lists the 64 KiB pages the program may have written since then (from
        the instrumented code's dirty map); only those, and the head of the page after each
        (a store may cross into it), are compared. None compares the whole memory.
        """
        versions: list[tuple[int, int, bytes]] = []
        pages: dict[bytes, bytes] = {}
        sizes = []
        for mi, live in enumerate(views):
            size = live.shape[0]
            sizes.append(size)
            old = self.shadow[mi]
            if old.shape[0] != size:
                grown = np.zeros(size, dtype=np.uint8)
                grown[:min(size, old.shape[0])] = old[:size]
                old = self.shadow[mi] = grown
            full = size // SNAP_PAGE
            hint = written[mi] if written is not None else None
            if hint is None:
                candidates = np.arange(full, dtype=np.int64)
            else:
                per = WRITE_PAGE // SNAP_PAGE
                hint = np.asarray(hint, dtype=np.int64)
                candidates = (hint[:, None] * per + np.arange(per + 1)[None, :]).ravel()
                candidates = np.unique(candidates[candidates < full])
            dirty = _changed(_pages(live, full), _pages(old, full), candidates, hint is None)
            if size % SNAP_PAGE and not np.array_equal(live[full * SNAP_PAGE:], old[full * SNAP_PAGE:]):
                dirty.append(full)
            for p in dirty:
                lo, hi = p * SNAP_PAGE, min(size, (p + 1) * SNAP_PAGE)
                raw = live[lo:hi].tobytes()
                old[lo:hi] = live[lo:hi]
                digest = hashlib.sha256(raw).digest()
                if digest != ZERO_DIGEST:
                    pages[digest] = raw
                versions.append((mi, p, digest))
        return versions, pages, sizes


def memory_digest(data) -> str:
    """sha256 of a memory's bytes, hashed in slices: a 4 GiB memory is not copied (twice)."""
    view = memoryview(data).cast("B")
    h = hashlib.sha256()
    for i in range(0, len(view), DIGEST_SLICE):
        h.update(view[i:i + DIGEST_SLICE])
    return h.hexdigest()


def live_digest(mem, store) -> str:
    """memory_digest of a wasmtime memory, read in place."""
    return memory_digest(live_view(mem.data_ptr(store), mem.data_len(store)))


#: Bytes hashed at a time by memory_digest.
DIGEST_SLICE = 1 << 24
