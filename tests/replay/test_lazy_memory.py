"""A lazily loaded memory reads, after any mix of writes and growth, what an eager one does."""

from __future__ import annotations

import hashlib
import random

import numpy as np

from ttd.replay.lazy_memory import PAGE, LazyMemory, MemoryImage, materialize, touch, touch_ranges


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
    untouched = 0
    for seed in range(20):
        rng = random.Random(seed)
        image, store, eager = _image(rng, rng.choice([1, 16, 64]) * PAGE)
        mem = LazyMemory(rng.choice([0, PAGE, 40 * PAGE]))  # a buffer of another size, reused
        mem.reset(image, _Fetch(store))
        for _ in range(40):
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
                touch_ranges(mem, lo, hi)
                for a, b in zip(lo.tolist(), hi.tolist()):
                    mem[a:b] = bytes(b - a)
                    eager[a:b] = bytes(b - a)
            elif op < 0.7:
                mem.extend(bytes(PAGE * rng.randrange(1, 3)))
                eager.extend(bytes(len(mem) - len(eager)))
            elif n:
                a = rng.randrange(n)
                b = min(n, a + rng.randrange(1, 2 * PAGE))
                touch(mem, a, b)
                assert mem[a:b] == eager[a:b], seed
        # the pages touched, as an overlay over the same image, make the same memory
        again = LazyMemory(len(mem), MemoryImage(len(mem), image.digests,
                                                 {**image.overlay, **mem.loaded_pages()}),
                           _Fetch(store))
        untouched += mem.pending > 0
        assert bytes(materialize(again)) == bytes(eager), seed
        assert bytes(materialize(mem)) == bytes(eager), seed
    assert untouched >= 5  # the overlay check saw pages still to load
