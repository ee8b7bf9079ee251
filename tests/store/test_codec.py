"""codec: round trips, and hostile input that must only ever raise CorruptTrace."""

from __future__ import annotations

import struct
import threading
import tracemalloc

import msgpack
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from ttd.store import CorruptTrace
from ttd.store import codec

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

msgpack_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary(),
    lambda children: st.lists(children) | st.dictionaries(st.text() | st.integers(-5, 5), children),
    max_leaves=30,
)


def decodes_or_corrupt(fn, *args: object) -> None:
    """fn(*args) either returns or raises CorruptTrace with a one-line message; nothing else."""
    try:
        fn(*args)
    except CorruptTrace as exc:
        assert str(exc) and "\n" not in str(exc)


def huge_frame_header(declared: int) -> bytes:
    """A zstd frame header (single segment, 8-byte content size) declaring `declared` bytes, plus a tiny RLE block."""
    descriptor = 0b1110_0000  # FCS field 8 bytes, single segment, no checksum, no dict
    rle_block = struct.pack("<I", (1 << 0) | (1 << 1) | (1000 << 3))[:3] + b"\0"  # last block, RLE, 1000 bytes
    return ZSTD_MAGIC + bytes([descriptor]) + struct.pack("<Q", declared) + rle_block


@given(msgpack_values)
def test_pack_round_trip(value: object) -> None:
    packed = codec.pack(value)
    assert packed[0] == codec.TAG_MSGPACK_ZSTD
    assert codec.unpack(packed) == value


def test_pack_keeps_bytes_and_str_apart() -> None:
    assert codec.unpack(codec.pack({"b": b"\xff", "s": "x", 1: (1, 2)})) == {"b": b"\xff", "s": "x", 1: [1, 2]}


@given(st.binary(max_size=200_000))
def test_compress_round_trip(raw: bytes) -> None:
    frame = codec.compress(raw)
    assert zstandard.frame_content_size(frame) == len(raw)
    assert codec.decompress(frame, len(raw)) == raw


@given(st.binary(max_size=5000))
def test_planes_round_trip(raw: bytes) -> None:
    planes = codec.to_planes(raw)
    assert len(planes) == len(raw) and codec.from_planes(planes) == raw


def test_planes_group_bytes_by_position_in_each_word() -> None:
    assert codec.to_planes(bytes(range(10))) == bytes([0, 4, 1, 5, 2, 6, 3, 7, 8, 9])


def test_compress_accepts_buffers() -> None:
    numpy = pytest.importorskip("numpy")
    arr = numpy.arange(10_000, dtype=numpy.int64)
    out = codec.decompress(codec.compress(memoryview(arr)), arr.nbytes)
    assert numpy.array_equal(numpy.frombuffer(out, dtype=numpy.int64), arr)


@settings(max_examples=300)
@given(st.binary(max_size=300) | st.binary(max_size=300).map(lambda b: b"\x01" + ZSTD_MAGIC + b))
def test_unpack_random_bytes(data: bytes) -> None:
    decodes_or_corrupt(codec.unpack, data)


@settings(max_examples=300)
@given(st.binary(max_size=300) | st.binary(max_size=300).map(lambda b: ZSTD_MAGIC + b), st.integers(0, 1 << 20))
def test_decompress_random_bytes(data: bytes, max_size: int) -> None:
    decodes_or_corrupt(codec.decompress, data, max_size)


@given(msgpack_values, st.data())
def test_unpack_truncated(value: object, data: st.DataObject) -> None:
    packed = codec.pack(value)
    cut = data.draw(st.integers(0, len(packed) - 1))
    with pytest.raises(CorruptTrace):
        codec.unpack(packed[:cut])


@given(st.binary(max_size=50_000), st.data())
def test_decompress_truncated(raw: bytes, data: st.DataObject) -> None:
    frame = codec.compress(raw)
    cut = data.draw(st.integers(0, len(frame) - 1))
    with pytest.raises(CorruptTrace):
        codec.decompress(frame[:cut], len(raw))


@settings(max_examples=300)
@given(msgpack_values, st.data())
def test_unpack_bit_flips(value: object, data: st.DataObject) -> None:
    packed = bytearray(codec.pack(value))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(packed) - 1))
        packed[i] ^= 1 << data.draw(st.integers(0, 7))
    decodes_or_corrupt(codec.unpack, bytes(packed))


@pytest.mark.parametrize(
    "payload",
    [
        b"",  # nothing at all
        b"\xdd\xff\xff\xff\xff",  # array32 claiming 4G elements
        b"\xdf\xff\xff\xff\xff",  # map32 claiming 4G pairs
        b"\xc6\xff\xff\xff\xff",  # bin32 claiming 4 GiB
        b"\xdb\xff\xff\xff\xff",  # str32 claiming 4 GiB
        b"\xc9\xff\xff\xff\xff\x01",  # ext32 claiming 4 GiB
        b"\x91" * 100_000 + b"\xc0",  # nesting deeper than any stack
        b"\xa2\xff\xfe",  # invalid UTF-8 string
        b"\x81\x90\x01",  # map with an unhashable (list) key
        b"\xc1",  # reserved byte
        b"\x01\x02",  # trailing data after the object
    ],
    ids=["empty", "array32", "map32", "bin32", "str32", "ext32", "deep", "utf8", "unhashable", "reserved", "trailing"],
)
def test_hostile_msgpack_in_valid_frame(payload: bytes) -> None:
    data = bytes([codec.TAG_MSGPACK_ZSTD]) + codec.compress(payload)
    tracemalloc.start()
    try:
        with pytest.raises(CorruptTrace) as info:
            codec.unpack(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "\n" not in str(info.value)
    assert peak < 64 << 20


def test_unknown_tag_and_empty() -> None:
    with pytest.raises(CorruptTrace, match="tag 0x02"):
        codec.unpack(b"\x02" + codec.compress(msgpack.packb(1)))
    with pytest.raises(CorruptTrace, match="empty"):
        codec.unpack(b"")


@pytest.mark.parametrize("declared", [1 << 31, 1 << 40, 1 << 62])
def test_declared_huge_frame_is_refused_without_allocating(declared: int) -> None:
    frame = huge_frame_header(declared)
    assert zstandard.frame_content_size(frame) == declared
    tracemalloc.start()
    try:
        with pytest.raises(CorruptTrace, match="limit"):
            codec.decompress(frame, 1 << 20)
        with pytest.raises(CorruptTrace, match="limit"):
            codec.unpack(b"\x01" + frame)  # default 1 GiB limit
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_real_bomb_is_refused_without_allocating() -> None:
    bomb = codec.compress(bytes(256 << 20))  # 256 MiB of zeros in a few KiB
    assert len(bomb) < 64 << 10
    tracemalloc.start()
    try:
        with pytest.raises(CorruptTrace, match="limit"):
            codec.decompress(bomb, 1 << 20)
        with pytest.raises(CorruptTrace, match="limit"):
            codec.unpack(b"\x01" + bomb, max_size=1 << 20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_frame_without_content_size_is_refused() -> None:
    stream = zstandard.ZstdCompressor(write_content_size=False).compressobj()
    frame = stream.compress(b"x" * 1000) + stream.flush()
    with pytest.raises(CorruptTrace, match="does not declare"):
        codec.decompress(frame, 1 << 20)


def test_frame_lying_about_size() -> None:
    frame = bytearray(zstandard.ZstdCompressor(write_checksum=False).compress(b"ab" * 5000))
    # Rewrite a 2-byte content size field (value + 256) to claim fewer bytes.
    assert frame[4] & 0xC0 == 0x40
    frame[5:7] = struct.pack("<H", 1000 - 256)
    with pytest.raises(CorruptTrace):
        codec.decompress(bytes(frame), 1 << 20)
    # And a frame claiming to be empty while carrying data.
    body = codec.compress(b"a" * 1000)
    liar = ZSTD_MAGIC + bytes([0b0010_0100, 0]) + body[7:]
    assert zstandard.frame_content_size(liar) == 0
    with pytest.raises(CorruptTrace):
        codec.decompress(liar, 1 << 20)


def test_extra_data_and_skippable_frames_are_refused() -> None:
    frame = codec.compress(b"payload")
    with pytest.raises(CorruptTrace):
        codec.decompress(frame + b"x", 100)
    with pytest.raises(CorruptTrace):
        codec.decompress(frame + frame, 100)
    skippable = b"\x50\x2a\x4d\x18" + struct.pack("<I", 4) + b"abcd"
    with pytest.raises(CorruptTrace, match="not a zstd frame"):
        codec.decompress(skippable, 100)
    assert codec.decompress(codec.compress(b""), 0) == b""


def test_thread_local_compressors() -> None:
    results: dict[int, bool] = {}

    def work(i: int) -> None:
        ok = True
        for j in range(200):
            raw = bytes([i, j % 256]) * (1000 + j)
            ok &= codec.decompress(codec.compress(raw), len(raw)) == raw
            ok &= codec.unpack(codec.pack({"i": i, "j": j})) == {"i": i, "j": j}
        results[i] = ok

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: True for i in range(8)}
