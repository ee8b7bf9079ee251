"""Encodings of the instructions instrumentation emits most: small indices and constants.

Shared by the instrumenter and the call-depth counter; byte for byte what the generic
encoder writes, from precomputed tables where the numbers are small.
"""

from __future__ import annotations

from ttd.wasm.leb import encode_sleb, encode_uleb

# Encodings of the small indices and offsets that make up most of the emitted code.
ULEB = tuple([bytes((i,)) for i in range(0x80)]
        + [bytes((i & 0x7F | 0x80, i >> 7)) for i in range(0x80, 1 << 14)])


def uleb(n: int) -> bytes:
    return ULEB[n] if 0 <= n < 16384 else encode_uleb(n)


def local_get(i: int) -> bytes:
    return b"\x20" + uleb(i)


def local_set(i: int) -> bytes:
    return b"\x21" + uleb(i)


def global_get(i: int) -> bytes:
    return b"\x23" + uleb(i)


def global_set(i: int) -> bytes:
    return b"\x24" + uleb(i)


def i32_const(v: int) -> bytes:
    if 0 <= v < 64:
        return bytes((0x41, v))
    if 0 < v < 1 << 20:  # block ids: two or three bytes
        if v < 8192:
            return bytes((0x41, v & 0x7F | 0x80, v >> 7))
        return bytes((0x41, v & 0x7F | 0x80, v >> 7 & 0x7F | 0x80, v >> 14))
    return b"\x41" + encode_sleb(v)
