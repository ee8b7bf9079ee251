"""Framing: checksums, escapes, acks, interrupts, garbage, bounds."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.gdb.wire import frame, transcript_packets, unframe
from ttd.gdb.framing import (
    Ack, BadPacket, Interrupt, Nack, Oversized, Packet, PacketReader, checksum, encode_binary,
    encode_packet,
)


def test_known_frames():
    assert encode_packet(b"OK") == b"$OK#9a"
    assert encode_packet(b"") == b"$#00"
    assert encode_packet(b"E45") == b"$E45#ae"
    assert checksum(b"QStartNoAckMode") == 0xB0


def test_escapes_the_four_special_bytes():
    assert encode_binary(b"a$b#c}d*e") == b"a}\x04b}\x03c}]d}\x0ae"
    assert encode_packet(b"*") == b"$}\x0a#87"


def test_every_lldb_line_in_the_transcript_is_a_valid_packet():
    frames = transcript_packets()
    assert len(frames) > 100
    events = PacketReader().feed(b"".join(frames))
    assert all(isinstance(e, Packet) for e in events)
    assert len(events) == len(frames)
    assert events[0] == Packet(b"QStartNoAckMode")
    assert Packet(b"vCont;c:p1.-1") in events


def test_acks_interrupts_and_garbage():
    r = PacketReader()
    events = r.feed(b"+garbage-\x03$OK#9a\x03xx+")
    assert events == [Ack(), Nack(), Interrupt(), Packet(b"OK"), Interrupt(), Ack()]


def test_interrupt_byte_inside_a_packet_is_data():
    assert PacketReader().feed(frame(b"a\x03b")) == [Packet(b"a\x03b")]


def test_bad_checksum():
    events = PacketReader().feed(b"$OK#00$OK#zz$OK#9a")
    assert events == [BadPacket(b"OK", 0x9A, b"00"), BadPacket(b"OK", 0x9A, b"zz"), Packet(b"OK")]


def test_uppercase_checksum_digits_are_accepted():
    assert PacketReader().feed(b"$qC#B4") == [Packet(b"qC")]


def test_dollar_inside_a_packet_restarts():
    assert PacketReader().feed(b"$qfThr$qC#b4") == [Packet(b"qC")]


def test_oversized_packet_is_dropped_and_reading_recovers():
    r = PacketReader(max_packet=16)
    events = r.feed(b"$" + b"A" * 100)
    assert len(events) == 1 and isinstance(events[0], Oversized) and events[0].size > 16
    assert r.buffered == 0
    events = r.feed(b"A" * 10_000 + b"#00" + frame(b"qC"))
    assert events == [Packet(b"qC")]


def test_oversized_by_escapes():
    r = PacketReader(max_packet=8)
    assert r.feed(frame(b"}" * 5)) == [Oversized(9)]
    assert r.feed(frame(b"}" * 4)) == [Packet(b"}" * 4)]


def test_dangling_escape_before_hash_keeps_framing():
    body = b"ab}"
    assert PacketReader().feed(b"$" + body + b"#%02x" % checksum(body)) == [Packet(b"ab")]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=6), st.data())
def test_round_trip_with_random_splits(payloads, data):
    wire = b"".join(encode_packet(p) for p in payloads)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=8)))
    r = PacketReader(max_packet=1024)
    events = []
    prev = 0
    for cut in cuts + [len(wire)]:
        events += r.feed(wire[prev:cut])
        prev = cut
        assert r.buffered <= r.max_packet + 2
    assert events == [Packet(p) for p in payloads]
    for p in payloads:  # and the independent decoder agrees
        assert unframe(encode_packet(p)) == p


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000), st.integers(1, 64))
def test_random_bytes_never_raise_and_stay_bounded(noise, chunk):
    r = PacketReader(max_packet=64)
    for i in range(0, len(noise), chunk):
        for e in r.feed(noise[i:i + chunk]):
            if isinstance(e, (Packet, BadPacket)):
                assert len(e.payload) <= 64
        assert r.buffered <= 66
