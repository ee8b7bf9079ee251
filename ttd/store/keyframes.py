"""Page-table keyframes: the complete page -> digest map of a memory every KEYFRAME_INTERVAL chunks.

page_table(seq) used to GROUP BY over every page version up to seq, so a seek
cost grew with the trace. With keyframes it reads the nearest keyframe at or
before seq and the versions after it: bounded by the interval, not the trace.

The blob layout is fixed by schema revision 0002 (alembic/versions carries its
own copy for the backfill); a different layout needs a new revision.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

from ttd.store import codec
from ttd.store.errors import CorruptTrace

__all__ = ["KEYFRAME_INTERVAL", "decode_page_map", "encode_page_map"]

#: Chunks between keyframes: a seek reads at most this many chunks of page versions.
KEYFRAME_INTERVAL = 64
_DIGEST_LEN = 32
#: Largest decoded keyframe accepted (2^24 pages: 64 GiB of 4 KiB pages).
MAX_KEYFRAME_SIZE = 8 + (1 << 24) * (8 + _DIGEST_LEN)


def encode_page_map(table: Mapping[int, bytes]) -> bytes:
    """codec.compress(uint64 n, n int64 pages, n 32-byte digests), pages ascending: deterministic bytes."""
    pages = sorted(table)
    digests = [bytes(table[p]) for p in pages]
    for d in digests:
        if len(d) != _DIGEST_LEN:
            raise ValueError(f"page digest must be {_DIGEST_LEN} bytes, got {len(d)}")
    raw = struct.pack(f"<Q{len(pages)}q", len(pages), *pages) + b"".join(digests)
    return codec.compress(raw)


def decode_page_map(blob: bytes, where: object = "trace") -> dict[int, bytes]:
    """Inverse of encode_page_map(); any inconsistency is a CorruptTrace (the blob may come from anywhere)."""
    try:
        raw = codec.decompress(blob, MAX_KEYFRAME_SIZE)
    except CorruptTrace as exc:
        raise CorruptTrace(f"{where}: corrupt trace: page keyframe: {exc}") from None
    if len(raw) < 8:
        raise CorruptTrace(f"{where}: corrupt trace: page keyframe truncated")
    (n,) = struct.unpack_from("<Q", raw)
    if len(raw) != 8 + n * (8 + _DIGEST_LEN):
        raise CorruptTrace(f"{where}: corrupt trace: page keyframe of {n} pages has {len(raw)} bytes")
    pages = struct.unpack_from(f"<{n}q", raw, 8)
    base = 8 + 8 * n
    return {p: raw[base + i * _DIGEST_LEN: base + (i + 1) * _DIGEST_LEN] for i, p in enumerate(pages)}
