"""Linear memory whose pages are filled from the trace only when something touches them.

A seek used to assemble every page of memory (tens of MB for a program with a large heap) and
copy it into the cursor, although the debugger then reads a few hundred bytes and the replayed
stores touch a few pages. Here a seek only says where each page's content comes from (an
image: a stored page by digest, bytes rebuilt by replay, or zeros); a page is loaded when a
store, a bulk operation, the host or a reader first touches it.

A LazyMemory is a bytearray, so numpy views and slices work; every path that reads or writes
it calls `touch` (or `touch_ranges`) first. A page not yet loaded holds stale bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

PAGE = 4096
SHIFT = 12

Fetch = Callable[[list[bytes]], dict[bytes, bytes]]


@dataclass(slots=True)
class MemoryImage:
    """A memory's content at some point, by page: what a LazyMemory loads from."""

    size: int
    digests: dict[int, bytes]  # page -> digest of a stored page (absent: zeros)
    overlay: dict[int, bytes] = field(default_factory=dict)  # page -> bytes; wins over digests


class LazyMemory(bytearray):
    """A bytearray that loads each 4 KiB page from its image on first touch."""

    def __init__(self, size: int, image: MemoryImage | None = None, fetch: Fetch | None = None):
        super().__init__(size)
        self.image = image if image is not None else MemoryImage(size, {})
        self.fetch = fetch
        self.missing = np.zeros(_pages(size), dtype=bool)
        self.pending = 0  # how many pages are missing: 0 skips every check
        if image is not None:
            self.reset(image, fetch)

    def reset(self, image: MemoryImage, fetch: Fetch | None) -> None:
        """Become `image`, reusing this buffer: every page is missing until touched."""
        if len(self) > image.size:
            del self[image.size:]
        elif len(self) < image.size:
            bytearray.extend(self, bytes(image.size - len(self)))
        self.image, self.fetch = image, fetch
        self.missing = np.ones(_pages(image.size), dtype=bool)
        self.pending = self.missing.shape[0]

    def extend(self, data) -> None:
        """memory.grow: the new pages are zeros, which loading them (zeros too) keeps."""
        bytearray.extend(self, data)
        grown = _pages(len(self)) - self.missing.shape[0]
        if grown > 0:
            self.missing = np.concatenate([self.missing, np.ones(grown, dtype=bool)])
            self.pending += grown

    def touch(self, lo: int, hi: int) -> None:
        """Load the pages of bytes lo..hi-1."""
        if self.pending and hi > lo:
            first, last = lo >> SHIFT, min((hi - 1) >> SHIFT, self.missing.shape[0] - 1)
            if last == first:
                if self.missing[first]:
                    self._load(np.array([first]))
            elif last > first:
                want = np.flatnonzero(self.missing[first:last + 1])
                if want.size:
                    self._load(want + first)

    def materialize(self) -> "LazyMemory":
        """Load every page still missing (before a whole-memory read)."""
        if self.pending:
            self._load(np.flatnonzero(self.missing))
        return self

    def loaded_pages(self) -> dict[int, bytes]:
        """The bytes of every page loaded so far (what replay may have changed)."""
        out = {}
        for p in np.flatnonzero(~self.missing).tolist():
            out[p] = bytes(self[p * PAGE:(p + 1) * PAGE])
        return out

    def _load(self, pages: np.ndarray) -> None:
        image = self.image
        plist = pages.tolist()
        overlay, digests = image.overlay, image.digests
        need = [digests[p] for p in plist if p not in overlay and p in digests]
        got = self.fetch(need) if need and self.fetch is not None else {}
        size = len(self)
        full, raws, odd = [], [], []
        for p in plist:
            raw = overlay.get(p)
            if raw is None:
                d = digests.get(p)
                raw = got[d] if d is not None else None
            if raw is None:
                odd.append((p, b""))  # zeros
            elif len(raw) == PAGE and (p + 1) * PAGE <= size:
                full.append(p)
                raws.append(raw)
            else:
                odd.append((p, raw))
        view = np.frombuffer(self, dtype=np.uint8)
        if full:  # whole pages in one copy
            n = size // PAGE
            view[:n * PAGE].reshape(n, PAGE)[full] = \
                np.frombuffer(b"".join(raws), dtype=np.uint8).reshape(len(full), PAGE)
        for p, raw in odd:
            lo = p * PAGE
            hi = min(size, lo + PAGE)
            raw = raw[:hi - lo]
            view[lo:lo + len(raw)] = np.frombuffer(raw, dtype=np.uint8)
            view[lo + len(raw):hi] = 0
        del view
        self.missing[pages] = False
        self.pending -= len(plist)


def _pages(size: int) -> int:
    return (size + PAGE - 1) >> SHIFT


def touch(mem: bytearray, lo: int, hi: int) -> None:
    """Make bytes lo..hi-1 of `mem` valid, whatever kind of memory it is."""
    if type(mem) is LazyMemory and mem.pending:
        mem.touch(lo, hi)


def touch_ranges(mem: bytearray, lo: np.ndarray, hi: np.ndarray) -> None:
    """touch() for many ranges at once (the stores of a fast-forward)."""
    if type(mem) is LazyMemory and mem.pending and lo.size:
        first, last = lo >> SHIFT, (np.maximum(hi, lo + 1) - 1) >> SHIFT
        want = np.zeros(mem.missing.shape[0] + 1, dtype=bool)
        want[np.minimum(first, want.shape[0] - 1)] = True
        want[np.minimum(last, want.shape[0] - 1)] = True
        span = last - first
        if span.size and int(span.max()) > 1:  # a range spanning 3+ pages (bulk data)
            for i in np.flatnonzero(span > 1).tolist():
                want[first[i]:last[i] + 1] = True
        pages = np.flatnonzero(want[:-1] & mem.missing)
        if pages.size:
            mem._load(pages)


def materialize(mem: bytearray) -> bytearray:
    if type(mem) is LazyMemory:
        mem.materialize()
    return mem
