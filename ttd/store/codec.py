"""Byte encodings used inside a trace: msgpack+zstd objects and zstd raw arrays.

A trace may come from anywhere (a bug report, a colleague), so decoding is
bounded: sizes are checked against a limit *before* any buffer is allocated,
and every failure surfaces as a one-line :class:`CorruptTrace` instead of a
MemoryError or a library-specific exception.
"""

from __future__ import annotations

import threading
from typing import Any

import msgpack
import numpy as np
import zstandard

from ttd.store.errors import CorruptTrace

__all__ = [
    "DEFAULT_MAX_SIZE",
    "TAG_MSGPACK_ZSTD",
    "VALUES_LAYOUT",
    "VALUES_LAYOUTS",
    "ZSTD_LEVEL",
    "compress",
    "compress_values",
    "decompress",
    "decompress_values",
    "from_planes",
    "to_planes",
    "pack",
    "unpack",
]

#: Largest decoded object unpack() accepts unless told otherwise.
DEFAULT_MAX_SIZE = 1 << 30
#: zstd level: 1 keeps compression off the recording's critical path; level 3 saved <1% of the trace.
ZSTD_LEVEL = 1
#: First byte of a pack() result; lets a future ttd change the encoding without guessing.
TAG_MSGPACK_ZSTD = 0x01

#: How a chunk's recorded values are laid out before compression, as trace_info
#: ["values_layout"] names it (absent: "bytes", as recorded; schema revisions before 0003).
#: "planes4": the first byte of every 4-byte word, then every second byte, and so on, then
#: the 0-3 bytes left over. Values are mostly 4- and 8-byte integers whose high bytes barely
#: change, so the planes hold long runs: at level 1, a sieve's values compress to 53% of the
#: size they had as recorded, a loop of stores to 15%, in the same time or less.
VALUES_LAYOUT = "planes4"
VALUES_LAYOUTS = ("bytes", "planes4")

# zstd contexts are not thread-safe, and the recorder compresses on a worker
# thread while the main thread may decode: one context of each kind per thread.
_local = threading.local()
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def _cctx() -> zstandard.ZstdCompressor:
    cctx = getattr(_local, "cctx", None)
    if cctx is None:
        cctx = _local.cctx = zstandard.ZstdCompressor(
            level=ZSTD_LEVEL, write_content_size=True, write_checksum=True
        )
    return cctx


def _dctx() -> zstandard.ZstdDecompressor:
    dctx = getattr(_local, "dctx", None)
    if dctx is None:
        dctx = _local.dctx = zstandard.ZstdDecompressor()
    return dctx


def compress(raw: bytes | bytearray | memoryview) -> bytes:
    """zstd-compress a raw buffer (e.g. a numpy array's bytes), recording its size so decoding can be bounded."""
    return _cctx().compress(raw)


def compress_many(raws: list) -> list[bytes]:
    """compress() of each buffer, in one call: the same frames, a tenth of the overhead per
    small buffer (a recording compresses ~10^5 memory pages)."""
    if len(raws) < 8:
        return [compress(r) for r in raws]
    return [bytes(b) for b in _cctx().multi_compress_to_buffer([bytes(r) for r in raws])]


def to_planes(raw: bytes | bytearray | memoryview) -> bytes:
    """The "planes4" layout of `raw` (see VALUES_LAYOUT); from_planes() undoes it."""
    raw = memoryview(raw).cast("B")
    cut = len(raw) & ~3
    words = np.frombuffer(raw[:cut], dtype=np.uint8).reshape(-1, 4)
    return words.T.tobytes() + bytes(raw[cut:])


def from_planes(data: bytes | bytearray | memoryview) -> bytes:
    """Inverse of to_planes()."""
    data = memoryview(data).cast("B")
    cut = len(data) & ~3
    planes = np.frombuffer(data[:cut], dtype=np.uint8).reshape(4, -1)
    return planes.T.tobytes() + bytes(data[cut:])


def compress_values(raw: bytes | bytearray | memoryview) -> bytes:
    """A chunk's recorded values, compressed in the VALUES_LAYOUT a new trace names."""
    return compress(to_planes(raw))


def decompress_values(data: bytes | bytearray | memoryview, max_size: int, layout: str) -> bytes:
    """Inverse of compress_values() for a trace whose values are in `layout` (VALUES_LAYOUTS)."""
    raw = decompress(data, max_size)
    return from_planes(raw) if layout == "planes4" else raw


def decompress(data: bytes | bytearray | memoryview, max_size: int) -> bytes:
    """Inverse of compress(); refuses frames without a declared size or declaring more than max_size."""
    if bytes(memoryview(data)[:4]) != _ZSTD_MAGIC:  # also rejects skippable frames
        raise CorruptTrace("not a zstd frame")
    try:
        declared = zstandard.frame_content_size(data)
    except zstandard.ZstdError as exc:
        raise CorruptTrace(f"bad zstd frame header: {exc}") from None
    if declared < 0:
        raise CorruptTrace("zstd frame does not declare its decompressed size")
    if declared > max_size:
        raise CorruptTrace(f"zstd frame declares {declared} bytes, more than the {max_size}-byte limit")
    if declared == 0:
        # python-zstandard's one-shot decompress() returns b"" for any frame
        # declaring size 0 without looking at it; stream it instead so a frame
        # that lies about being empty is caught (zstd stops within one block).
        obj = _dctx().decompressobj()
        try:
            out = obj.decompress(data)
        except zstandard.ZstdError as exc:
            raise CorruptTrace(f"corrupt zstd frame: {exc}") from None
        if out or not obj.eof or obj.unused_data:
            raise CorruptTrace("zstd frame declaring size 0 is not an empty frame")
        return b""
    try:
        out = _dctx().decompress(data, max_output_size=declared, allow_extra_data=False)
    except zstandard.ZstdError as exc:
        raise CorruptTrace(f"corrupt zstd frame: {exc}") from None
    if len(out) != declared:
        raise CorruptTrace(f"zstd frame decoded to {len(out)} bytes, declared {declared}")
    return out


def pack(obj: Any) -> bytes:
    """Encode a msgpack-able object as tag byte + zstd(msgpack); bytes stay bytes (use_bin_type)."""
    return bytes((TAG_MSGPACK_ZSTD,)) + compress(msgpack.packb(obj, use_bin_type=True))


def unpack(data: bytes | bytearray | memoryview, max_size: int = DEFAULT_MAX_SIZE) -> Any:
    """Inverse of pack(); tuples come back as lists. Any malformed input raises CorruptTrace."""
    view = memoryview(data)
    if len(view) == 0:
        raise CorruptTrace("empty packed object")
    tag = view[0]
    if tag != TAG_MSGPACK_ZSTD:
        raise CorruptTrace(f"unknown packed-object codec tag {tag:#04x}")
    raw = decompress(view[1:], max_size)
    limit = max(len(raw), 1)
    unpacker = msgpack.Unpacker(
        raw=False,
        strict_map_key=False,
        max_buffer_size=limit,
        max_str_len=limit,
        max_bin_len=limit,
        max_array_len=limit,
        max_map_len=limit,
        max_ext_len=limit,
    )
    try:
        unpacker.feed(raw)
        obj = unpacker.unpack()
        end = unpacker.tell()
    except msgpack.OutOfData:
        raise CorruptTrace("truncated msgpack object") from None
    except Exception as exc:  # msgpack raises ValueError, TypeError, StackError, UnicodeDecodeError...
        raise CorruptTrace(f"malformed msgpack object: {type(exc).__name__}: {exc}") from None
    if end != len(raw):
        raise CorruptTrace(f"{len(raw) - end} bytes of trailing data after msgpack object")
    return obj
