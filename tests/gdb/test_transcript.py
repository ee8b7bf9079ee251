"""Replay every packet LLDB 23 sent to wasmtime's stub (the measured transcript) against ttd."""

from __future__ import annotations

import re

from tests.gdb.fake_target import FakeTarget
from tests.gdb.wire import check_output, transcript_packets, unframe
from ttd.gdb.framing import PacketReader
from ttd.gdb.protocol import GdbConnection


def big_target() -> FakeTarget:
    # Large enough for every read in the transcript: the module image up to ~1.4 MB, and
    # linear memory past 0x1010000.
    module = b"\x00asm\x01\x00\x00\x00" + bytes(0x160000)
    four = b"\x00\x00\xc0\x00"
    return FakeTarget(module=module, memory=bytes(0x1020000),
                      path=[0x459E, 0x45A0, 0x45AE, 0x487E, 0x46B7, 0x45F7],
                      locals={0: [four] * 3, 1: [four] * 3})


def sane(packet: bytes, reply: bytes) -> bool:
    """What a correct answer to each kind of packet LLDB sent looks like."""
    hexes = re.compile(rb"([0-9a-f]{2})+")
    if packet.startswith((b"vCont;", b"?")):
        return reply.startswith(b"T05thread:1;thread-pcs:") and b"00:" in reply
    if packet.startswith(b"m"):
        length = int(packet.split(b",")[1], 16)
        return hexes.fullmatch(reply) is not None and len(reply) == 2 * length
    if packet.startswith(b"qWasmCallStack"):
        return len(reply) % 16 == 0 and hexes.fullmatch(reply) is not None
    if packet.startswith(b"qWasmLocal"):
        return hexes.fullmatch(reply) is not None
    if packet.startswith((b"Z0", b"z0", b"Hg", b"D", b"QStartNoAckMode")):
        return reply == b"OK"
    if packet.startswith(b"qXfer:"):
        return reply[:1] in (b"m", b"l")
    if packet.startswith(b"qMemoryRegionInfo"):
        return reply.startswith(b"start:")
    if packet == b"p0":
        return len(reply) == 16
    if packet == b"qRegisterInfo1":
        return reply == b"E45"
    expected = {
        b"qfThreadInfo": b"m1", b"qsThreadInfo": b"l", b"qC": b"QC1",
        b"Z2,ffffe0,4": b"", b"x0,0": b"", b"qSymbol::": b"OK",
    }
    if packet in expected:
        return reply == expected[packet]
    return not reply.startswith(b"E")


def test_the_whole_lldb_session_packet_by_packet():
    frames = transcript_packets()
    target = big_target()
    conn = GdbConnection(target)
    for i, raw in enumerate(frames):
        assert not conn.closed
        payload = unframe(raw)
        out = conn.feed(raw)
        acks = [o for o in out if o in (b"+", b"-")]
        assert acks == ([b"+"] if i == 0 else []), (payload, out)  # ack mode until the 1st
        replies = check_output(out)
        assert len(replies) == 1, (payload, replies)
        assert sane(payload, replies[0]), (payload, replies[0][:200])
    assert conn.closed  # the session ends with D;0000000000000001
    assert target.called("detach")
    assert not conn.unsupported, conn.unsupported  # every packet LLDB sent is known
    assert not target.breakpoints  # every Z0 was matched by a z0


def test_the_session_in_one_read_gives_the_same_bytes():
    frames = transcript_packets()
    one_by_one = []
    conn = GdbConnection(big_target())
    for raw in frames:
        one_by_one += conn.feed(raw)
    at_once = GdbConnection(big_target()).feed(b"".join(frames))
    assert b"".join(at_once) == b"".join(one_by_one)
    # and what we sent parses as packets again
    events = PacketReader().feed(b"".join(o for o in at_once if o not in (b"+", b"-")))
    assert len(events) == len(frames)


def test_connect_sequence_replies():
    """The start of the transcript, reply by reply (what LLDB needs to attach)."""
    conn = GdbConnection(big_target())
    frames = transcript_packets()
    got = {}
    for raw in frames[:22]:
        replies = check_output(conn.feed(raw))
        got[unframe(raw)] = replies[0]
    assert got[b"QStartNoAckMode"] == b"OK"
    assert got[b"QThreadSuffixSupported"] == b""
    assert got[b"vCont?"] == b"vCont;c;C;s;S"
    assert got[b"?"] == b"T05thread:1;thread-pcs:400000000000459e;00:9e45000000000040;"
    assert got[b"qXfer:libraries:read::0,fff"].startswith(b"l<library-list><library name=")
    assert got[b"qXfer:libraries:read::66,fff"][:1] == b"l"
    assert got[b"m4000000000000000,200"].startswith(b"0061736d01000000")
