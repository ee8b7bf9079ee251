"""Linear memory whose pages are filled from the trace only when something touches them.

A seek used to assemble every page of memory (tens of MB for a program with a large heap) and
copy it into the cursor, although the debugger then reads a few hundred bytes. Here a seek only
says where each page's content comes from (an image: a stored page by digest, bytes rebuilt by
replay, or zeros); a page is loaded when a bulk operation, the host or a reader first touches
it. The vectorised replay of recorded stores does not load the pages it writes: bytes for a
page not yet loaded wait in a patch, applied when (if ever) the page loads. A program that
rewrites an 11 MB array between snapshots would otherwise load all of it at every seek.

A LazyMemory is a bytearray, so numpy views and slices work; every path that reads or writes
it calls `touch` (or `write`) first. A page not yet loaded holds stale bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

PAGE = 4096
SHIFT = 12

DEFER_MIN = 256  # fewer bytes than this for unloaded pages: load the pages instead
PATCHES_MAX = 32  # more patches than this are merged into one
PATCHED_MAX = 1 << 21  # more bytes waiting than this: load their pages (bounds the memory used)

Fetch = Callable[[list[bytes]], dict[bytes, bytes]]
Patch = tuple[np.ndarray, np.ndarray]  # byte addresses (ascending, distinct) and their values


@dataclass(slots=True)
class MemoryImage:
    """A memory's content at some point, by page: what a LazyMemory loads from."""

    size: int
    digests: dict[int, bytes]  # page -> digest of a stored page (absent: zeros)
    overlay: dict[int, bytes] = field(default_factory=dict)  # page -> bytes; wins over digests
    patches: tuple[Patch, ...] = ()  # writes applied, in order, to a page as it loads


class LazyMemory(bytearray):
    """A bytearray that loads each 4 KiB page from its image on first touch."""

    def __init__(self, size: int, image: MemoryImage | None = None, fetch: Fetch | None = None):
        super().__init__(size)
        self.image = image if image is not None else MemoryImage(size, {})
        self.fetch = fetch
        self.missing = np.zeros(_pages(size), dtype=bool)
        self.pending = 0  # how many pages are missing: 0 skips every check
        self.patches: list[Patch] = []  # for pages missing when written; in write order
        self.patched = 0  # bytes in the patches
        if image is not None:
            self.reset(image, fetch)

    def reset(self, image: MemoryImage, fetch: Fetch | None) -> None:
        """Become `image`, reusing this buffer: every page is missing until touched."""
        if len(self) > image.size:
            del self[image.size:]
        elif len(self) < image.size:
            bytearray.extend(self, bytes(image.size - len(self)))
        self.image, self.fetch = image, fetch
        self.patches = list(image.patches)
        self.patched = sum(d.size for d, _ in self.patches)
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

    def as_image(self) -> MemoryImage:
        """This memory as an image, without loading anything: the pages loaded so far (which
        replay may have changed) by value, the others as in the image it started from, with
        the writes still waiting for them."""
        overlay = dict(self.image.overlay)
        for p in np.flatnonzero(~self.missing).tolist():
            overlay[p] = bytes(self[p * PAGE:(p + 1) * PAGE])
        patches = []
        for dst, val in self.patches:  # a page loaded since has these bytes already
            keep = self.missing[dst >> SHIFT]
            if keep.all():
                patches.append((dst, val))
            elif keep.any():
                patches.append((dst[keep], val[keep]))
        return MemoryImage(len(self), self.image.digests, overlay, tuple(patches))

    def write(self, dst: np.ndarray, val: np.ndarray) -> None:
        """self[dst] = val for ascending, distinct byte addresses; bytes for pages not loaded
        are kept as a patch instead (unless there are too few to be worth it)."""
        if self.pending and dst.size:
            later = self.missing[dst >> SHIFT]
            n = int(np.count_nonzero(later))
            if n >= DEFER_MIN:
                self.patches.append((dst[later], val[later]) if n < dst.size else (dst, val))
                self.patched += n
                if len(self.patches) > PATCHES_MAX:
                    self.patches = [_merge(self.patches)]
                    self.patched = self.patches[0][0].size
                if self.patched > PATCHED_MAX:  # apply them: load every page they write
                    pages = np.unique(np.concatenate([d >> SHIFT for d, _ in self.patches]))
                    self._load(pages[self.missing[pages]])
                    self.patches, self.patched = [], 0
                dst, val = dst[~later], val[~later]
            elif n:
                self._load(np.unique(dst[later] >> SHIFT))
        view = np.frombuffer(self, dtype=np.uint8)
        view[dst] = val

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
        if self.patches:
            _apply(view, self.patches, pages, self.missing.shape[0])
        del view
        self.missing[pages] = False
        self.pending -= len(plist)
        if not self.pending:
            self.patches, self.patched = [], 0


class DirtyMemory(bytearray):
    """A whole memory that remembers the 4 KiB pages written (or touched) since `take_dirty`:
    `verify` hashes only those against the recording, not the whole memory at every chunk."""

    def __init__(self, data=b""):
        super().__init__(data)
        self.dirty = np.zeros(_pages(len(self)), dtype=bool)

    def mark(self, lo: int, hi: int) -> None:
        if hi > lo:
            self.dirty[lo >> SHIFT:((hi - 1) >> SHIFT) + 1] = True

    def extend(self, data) -> None:
        """memory.grow: the new pages are new to whoever checks them."""
        bytearray.extend(self, data)
        grown = _pages(len(self)) - self.dirty.shape[0]
        if grown > 0:
            self.dirty = np.concatenate([self.dirty, np.ones(grown, dtype=bool)])

    def take_dirty(self) -> np.ndarray:
        """The pages marked since the last call, ascending; the marks are cleared."""
        pages = np.flatnonzero(self.dirty)
        self.dirty[:] = False
        return pages


def _pages(size: int) -> int:
    return (size + PAGE - 1) >> SHIFT


def _apply(view: np.ndarray, patches: list[Patch], pages: np.ndarray, n_pages: int) -> None:
    """The patches' bytes for `pages`, oldest patch first."""
    if pages.size * 16 >= n_pages:  # many pages: one mask over each patch
        want = np.zeros(n_pages, dtype=bool)
        want[pages] = True
        for dst, val in patches:
            sel = want[dst >> SHIFT]
            view[dst[sel]] = val[sel]
        return
    starts = np.sort(pages) << SHIFT
    for dst, val in patches:
        lo = np.searchsorted(dst, starts)
        n = np.searchsorted(dst, starts + PAGE) - lo
        total = int(n.sum())
        if total:
            idx = np.repeat(lo - (np.cumsum(n) - n), n) + np.arange(total)
            view[dst[idx]] = val[idx]


def _merge(patches: list[Patch]) -> Patch:
    """One patch with the effect of applying `patches` in order: the last write to each byte."""
    dst = np.concatenate([d for d, _ in patches])[::-1]
    val = np.concatenate([v for _, v in patches])[::-1]
    dst, idx = np.unique(dst, return_index=True)
    return dst, val[idx]


def write(mem: bytearray, dst: np.ndarray, val: np.ndarray) -> None:
    """mem[dst] = val (ascending, distinct addresses), deferred for pages a lazy memory has
    not loaded."""
    if type(mem) is LazyMemory:
        mem.write(dst, val)
        return
    if type(mem) is DirtyMemory and dst.size:
        mem.dirty[dst >> SHIFT] = True
    np.frombuffer(mem, dtype=np.uint8)[dst] = val


def touch(mem: bytearray, lo: int, hi: int) -> None:
    """Make bytes lo..hi-1 of `mem` valid, whatever kind of memory it is."""
    if type(mem) is LazyMemory:
        if mem.pending:
            mem.touch(lo, hi)
    elif type(mem) is DirtyMemory:
        mem.mark(lo, hi)  # every writer touches first; a reader marks too, which costs a hash


def materialize(mem: bytearray) -> bytearray:
    if type(mem) is LazyMemory:
        mem.materialize()
    return mem
