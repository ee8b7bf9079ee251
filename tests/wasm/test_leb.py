"""LEB128 coding: round trips, spec vectors, and malformed encodings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ttd.wasm.errors import WasmError
from ttd.wasm.leb import encode_sleb, encode_uleb, read_sleb, read_uleb


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_uleb_roundtrip_u64(n: int) -> None:
    enc = encode_uleb(n)
    assert read_uleb(enc, 0, 64) == (n, len(enc))


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_uleb_roundtrip_u32(n: int) -> None:
    enc = encode_uleb(n)
    assert len(enc) <= 5
    assert read_uleb(b"\xaa" + enc + b"\xbb", 1, 32) == (n, len(enc) + 1)


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_sleb_roundtrip_s64(n: int) -> None:
    enc = encode_sleb(n)
    assert read_sleb(enc, 0, 64) == (n, len(enc))


@given(st.integers(min_value=-(2**31), max_value=2**31 - 1))
def test_sleb_roundtrip_s32(n: int) -> None:
    enc = encode_sleb(n)
    assert len(enc) <= 5
    assert read_sleb(enc, 0, 32) == (n, len(enc))


@given(st.integers(min_value=-(2**32), max_value=2**32 - 1))
def test_sleb_roundtrip_s33(n: int) -> None:
    enc = encode_sleb(n)
    assert read_sleb(enc, 0, 33) == (n, len(enc))


@pytest.mark.parametrize(
    "data,value",
    [
        (b"\x00", 0),
        (b"\x7f", 127),
        (b"\x80\x01", 128),
        (b"\xe5\x8e\x26", 624485),
        (b"\x80\x80\x80\x80\x00", 0),  # padded (non-minimal but within 5 bytes) is allowed
        (b"\xff\xff\xff\xff\x0f", 2**32 - 1),
    ],
)
def test_uleb_vectors(data: bytes, value: int) -> None:
    assert read_uleb(data, 0, 32) == (value, len(data))


@pytest.mark.parametrize(
    "data,value",
    [
        (b"\x00", 0),
        (b"\x7f", -1),
        (b"\x40", -64),
        (b"\x3f", 63),
        (b"\xc0\x00", 64),
        (b"\xc0\xbb\x78", -123456),
        (b"\x80\x80\x80\x80\x78", -(2**31)),
        (b"\xff\xff\xff\xff\x07", 2**31 - 1),
        (b"\xff\x7f", -1),  # padded
    ],
)
def test_sleb_vectors(data: bytes, value: int) -> None:
    assert read_sleb(data, 0, 32) == (value, len(data))


def test_encodings_are_minimal() -> None:
    assert encode_uleb(0) == b"\x00"
    assert encode_uleb(128) == b"\x80\x01"
    assert encode_sleb(-1) == b"\x7f"
    assert encode_sleb(64) == b"\xc0\x00"
    assert encode_sleb(-65) == b"\xbf\x7f"
    with pytest.raises(ValueError):
        encode_uleb(-1)


@pytest.mark.parametrize(
    "data,bits,signed",
    [
        (b"", 32, False),
        (b"\x80", 32, False),
        (b"\xff\xff", 32, False),
        (b"\x80\x80\x80\x80\x80\x00", 32, False),  # too long (6 bytes for u32)
        (b"\xff\xff\xff\xff\x1f", 32, False),  # unused bits set (value >= 2**32)
        (b"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x02", 64, False),
        (b"", 32, True),
        (b"\xc0", 32, True),
        (b"\x80\x80\x80\x80\x80\x00", 32, True),
        (b"\xff\xff\xff\xff\x4f", 32, True),  # sign bits inconsistent
        (b"\x80\x80\x80\x80\x08", 32, True),  # 2**31 does not fit s32
        (b"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x02", 64, True),
    ],
)
def test_malformed(data: bytes, bits: int, signed: bool) -> None:
    reader = read_sleb if signed else read_uleb
    with pytest.raises(WasmError) as ei:
        reader(data, 0, bits)
    assert ei.value.offset == 0


def test_error_offset_is_start_of_integer() -> None:
    with pytest.raises(WasmError) as ei:
        read_uleb(b"\x00\x00\x00\x80\x80", 3, 32)
    assert ei.value.offset == 3
    assert "0x3" in str(ei.value)


@given(st.binary(max_size=12), st.sampled_from([32, 33, 64]), st.booleans())
def test_random_bytes_only_wasm_error(data: bytes, bits: int, signed: bool) -> None:
    reader = read_sleb if signed else read_uleb
    try:
        v, pos = reader(data, 0, bits)
    except WasmError:
        return
    assert 0 < pos <= len(data)
    if signed:
        assert -(2 ** (bits - 1)) <= v < 2 ** (bits - 1)
    else:
        assert 0 <= v < 2**bits
