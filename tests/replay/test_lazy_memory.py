"""A lazily loaded memory reads, after any mix of writes and growth, what an eager one does."""

from __future__ import annotations

import hashlib
import random

import numpy as np
import pytest

from ttd.replay import lazy_memory
from ttd.replay.lazy_memory import PAGE, PATCHES_MAX, LazyMemory, MemoryImage, materialize, touch, write


def _image(rng: random.Random, size: int):
    """A random image (stored pages, replayed pages, zeros) and the bytes it stands for."""
    store, digests, overlay = {}, {}, {}
    eager = bytearray(size)
    for p in range(size // PAGE):
        kind = rng.random()
        if kind < 0.2:
            continue  # zeros
        raw = bytes(rng.randrange(256) for _ in range(16)) * (PAGE // 16)
        if kind < 0.7:
            d = hashlib.sha256(raw).digest()
            store[d], digests[p] = raw, d
        else:
            overlay[p] = raw
            if rng.random() < 0.5:  # an overlay hides a stored page
                digests[p] = hashlib.sha256(b"stale").digest()
        eager[p * PAGE:(p + 1) * PAGE] = raw
    return MemoryImage(size, digests, overlay), store, eager


class _Fetch:
    def __init__(self, store):
        self.store, self.asked = store, []

    def __call__(self, digests):
        self.asked.extend(digests)
        return {d: self.store[d] for d in digests}


def test_only_touched_pages_load():
    rng = random.Random(1)
    image, store, eager = _image(rng, 64 * PAGE)
    fetch = _Fetch(store)
    mem = LazyMemory(image.size, image, fetch)
    assert mem.pending == 64 and not fetch.asked
    touch(mem, 5 * PAGE + 10, 5 * PAGE + 20)
    assert mem[5 * PAGE:6 * PAGE] == eager[5 * PAGE:6 * PAGE]
    assert mem.pending == 63 and len(fetch.asked) <= 1
    touch(mem, 7 * PAGE - 1, 9 * PAGE + 1)  # across four pages
    assert mem.pending == 59
    assert bytes(materialize(mem)) == bytes(eager)
    assert mem.pending == 0


def test_random_operations_match_an_eager_memory():
    untouched = patched = 0
    for seed in range(20):
        rng = random.Random(seed)
        image, store, eager = _image(rng, rng.choice([1, 16, 64]) * PAGE)
        mem = LazyMemory(rng.choice([0, PAGE, 40 * PAGE]))  # a buffer of another size, reused
        mem.reset(image, _Fetch(store))
        for _ in range(rng.choice([8, 40])):
            op = rng.random()
            n = len(eager)
            if op < 0.4 and n:
                a = rng.randrange(n)
                b = min(n, a + rng.choice([1, 4, 8, 5000, 3 * PAGE]))
                data = bytes(rng.randrange(256) for _ in range(b - a))
                touch(mem, a, b)
                mem[a:b] = data
                eager[a:b] = data
            elif op < 0.6 and n:
                lo = np.array([rng.randrange(n) for _ in range(30)], dtype=np.int64)
                w = np.array([rng.choice([1, 2, 4, 8]) for _ in range(30)], dtype=np.int64)
                hi = np.minimum(lo + w, n)
                for a, b in zip(lo.tolist(), hi.tolist()):
                    touch(mem, a, b)
                    mem[a:b] = bytes(b - a)
                    eager[a:b] = bytes(b - a)
            elif op < 0.75 and n:
                # a replayed batch of stores: distinct ascending addresses, few or many
                k = rng.choice([3, 300, 3000])
                dst = np.unique(np.array([rng.randrange(n) for _ in range(k)], dtype=np.int64))
                val = np.array([rng.randrange(256) for _ in range(dst.size)], dtype=np.uint8)
                write(mem, dst, val)
                for d, x in zip(dst.tolist(), val.tolist()):
                    eager[d] = x
            elif op < 0.8:
                mem.extend(bytes(PAGE * rng.randrange(1, 3)))
                eager.extend(bytes(len(mem) - len(eager)))
            elif n:
                a = rng.randrange(n)
                b = min(n, a + rng.randrange(1, 2 * PAGE))
                touch(mem, a, b)
                assert mem[a:b] == eager[a:b], seed
        # as an image (pages touched by value, writes still waiting as patches), it makes the
        # same memory, and so does a copy of that one after more writes
        again = LazyMemory(len(mem), mem.as_image(), _Fetch(store))
        untouched += mem.pending > 0
        patched += bool(mem.patches)
        if len(eager) >= 2 * PAGE:
            dst = np.arange(PAGE // 2, len(eager), 7, dtype=np.int64)
            write(again, dst, np.full(dst.size, seed, dtype=np.uint8))
            third = LazyMemory(0, again.as_image(), _Fetch(store))
            later = bytearray(eager)
            later[PAGE // 2::7] = bytes([seed]) * dst.size
            assert bytes(materialize(third)) == bytes(later), seed
        assert bytes(materialize(mem)) == bytes(eager), seed
    assert untouched >= 5  # the image check saw pages still to load
    assert patched >= 3  # and writes still waiting for their pages


@pytest.mark.parametrize("limit", [1 << 30, 2000])
def test_writes_to_pages_not_loaded_wait_and_merge_in_order(monkeypatch, limit):
    monkeypatch.setattr(lazy_memory, "PATCHED_MAX", limit)
    image = MemoryImage(8 * PAGE, {}, {p: bytes([p]) * PAGE for p in range(8)})
    mem = LazyMemory(image.size, image)
    eager = bytearray(b"".join(bytes([p]) * PAGE for p in range(8)))
    rng = random.Random(5)
    for i in range(3 * PATCHES_MAX):
        dst = np.unique(np.array([rng.randrange(PAGE, 8 * PAGE) for _ in range(400)], dtype=np.int64))
        write(mem, dst, np.full(dst.size, i, dtype=np.uint8))
        for d in dst.tolist():
            eager[d] = i
        assert len(mem.patches) <= PATCHES_MAX and mem.patched <= limit
    if limit > 1 << 20:
        assert mem.pending == 8  # nothing loaded: every byte written waits
        touch(mem, 3 * PAGE, 3 * PAGE + 1)
        assert mem[3 * PAGE:4 * PAGE] == eager[3 * PAGE:4 * PAGE] and mem.pending == 7
    else:
        assert mem.pending == 1  # too many waiting bytes: their pages were loaded
    assert bytes(materialize(mem)) == bytes(eager)
