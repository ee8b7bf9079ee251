"""LEB128 integer coding as used by the Wasm binary format.

Decoders enforce the spec's limits (at most ceil(bits/7) bytes, unused bits
of the last byte zero / sign-extended) so overlong or truncated encodings in
a malformed module are reported as ``WasmError`` with the offending offset.
"""

from __future__ import annotations

from .errors import WasmError

__all__ = ["read_uleb", "read_sleb", "encode_uleb", "encode_sleb", "read_u32", "read_s33"]


def read_uleb(buf: bytes, pos: int, bits: int = 32) -> tuple[int, int]:
    """Decode an unsigned LEB128 of at most ``bits`` bits at ``pos``; return (value, newpos)."""
    start = pos
    n = len(buf)
    if pos < n:
        b = buf[pos]
        if b < 0x80:
            return b, pos + 1
    result = 0
    shift = 0
    while True:
        if pos >= n:
            raise WasmError("unexpected end of data in LEB128 integer", start)
        b = buf[pos]
        pos += 1
        if shift + 7 >= bits:
            # Last permitted byte: no continuation and the bits above
            # ``bits`` must be zero.
            if b & 0x80:
                raise WasmError(f"integer representation too long (u{bits})", start)
            if b >> (bits - shift):
                raise WasmError(f"integer too large (u{bits})", start)
            return result | (b << shift), pos
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def read_sleb(buf: bytes, pos: int, bits: int = 32) -> tuple[int, int]:
    """Decode a signed LEB128 of at most ``bits`` bits at ``pos``; return (value, newpos)."""
    start = pos
    n = len(buf)
    result = 0
    shift = 0
    while True:
        if pos >= n:
            raise WasmError("unexpected end of data in LEB128 integer", start)
        b = buf[pos]
        pos += 1
        if shift + 7 >= bits:
            if b & 0x80:
                raise WasmError(f"integer representation too long (s{bits})", start)
            # The remaining (bits - shift) bits hold value + sign; every bit
            # above them in this 7-bit group must equal the sign bit.
            rem = bits - shift
            high = b >> (rem - 1)  # sign bit and the unused bits above it
            if high != 0 and high != (0x7F >> (rem - 1)):
                raise WasmError(f"integer too large (s{bits})", start)
            result |= (b & 0x7F) << shift
            shift += 7
            if b & 0x40:
                result -= 1 << shift
            return result, pos
        result |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            if b & 0x40:
                result -= 1 << shift
            return result, pos


def read_u32(buf: bytes, pos: int) -> tuple[int, int]:
    """Fast path for the very common single-byte u32 (indices, counts)."""
    b = buf[pos] if pos < len(buf) else 0x80
    if b < 0x80:
        return b, pos + 1
    return read_uleb(buf, pos, 32)


def read_s33(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode the s33 used by block types and heap types."""
    return read_sleb(buf, pos, 33)


def encode_uleb(n: int) -> bytes:
    """Encode a non-negative int as minimal unsigned LEB128."""
    if n < 0:
        raise ValueError(f"encode_uleb needs a non-negative value, got {n}")
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def encode_sleb(n: int) -> bytes:
    """Encode an int as minimal signed LEB128."""
    if -64 <= n < 64:
        return bytes((n & 0x7F,))
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if (n == 0 and not b & 0x40) or (n == -1 and b & 0x40):
            out.append(b)
            return bytes(out)
        out.append(b | 0x80)
