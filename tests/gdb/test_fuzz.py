"""Hypothesis: no input makes GdbConnection raise, send a malformed frame or buffer unboundedly.

Inputs are random bytes and mutations of the packets LLDB really sends (truncated, wrong
checksums, huge or negative numbers, non-hex where hex belongs, unicode), split at random
points, over a well-behaved FakeTarget and over one whose every method raises.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.gdb.fake_target import FakeTarget
from tests.gdb.wire import check_output, frame, transcript_packets, unframe
from ttd.gdb.parse import parse_resume
from ttd.gdb.protocol import GdbConnection

SEEDS = sorted({unframe(f) for f in transcript_packets()} | {
    b"qRcmd,68656c6c6f", b"qRcmd,", b"qXfer:memory-map:read::0,fff", b"Z2,ffffe0,4",
    b"z3,ffffe0,4", b"Z4,0,8", b"qWasmGlobal:0;0", b"qWasmStackValue:0;0", b"bc", b"bs",
    b"c", b"s", b"C05", b"S05;4000000000000010", b"vCont;c", b"vCont;s:1", b"g", b"P0=00",
    b"M0,1:00", b"X0,1:\x00", b"qThreadStopInfo1", b"qRegisterInfo2", b"Hc-1", b"T1", b"k",
    b"qWatchpointSupportInfo", b"p0;thread:0001;", b"vKill;1", b"qAttached",
})
NUMBERS = [b"-1", b"0", b"ffffffffffffffff", b"10000000000000000", b"9" * 40, b"f" * 200,
           b"0x10", b"+5", b" 1", b"1_0", b"\xc3\xa9", "✓".encode(), b"\x00", b"}", b"*",
           b"$", b"#", b";", b":", b",", b"\x03"]


@st.composite
def mutated(draw) -> bytes:
    p = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(0, 3))):
        how = draw(st.integers(0, 4))
        i = draw(st.integers(0, len(p)))
        j = draw(st.integers(i, len(p)))
        if how == 0:
            p = p[:i]
        elif how == 1:
            p = p[:i] + draw(st.sampled_from(NUMBERS)) + p[j:]
        elif how == 2:
            p = p[:i] + draw(st.binary(max_size=8)) + p[j:]
        elif how == 3:
            p = p[:i] + draw(st.text(max_size=6)).encode() + p[j:]
        else:
            p = p + p[i:j] * draw(st.integers(1, 50))
    return p


@st.composite
def wire(draw) -> tuple[list[bytes], bytes]:
    """Some mutated packets framed right or wrong, with acks, interrupts and noise between."""
    payloads, parts = [], []
    for _ in range(draw(st.integers(1, 6))):
        p = draw(mutated())
        payloads.append(p)
        f = frame(p)
        style = draw(st.integers(0, 9))
        if style == 0:
            f = f[:-2] + b"00"  # wrong checksum (or, by chance, right)
        elif style == 1:
            f = f[: draw(st.integers(0, len(f)))]  # truncated frame
        parts.append(draw(st.sampled_from([b"", b"", b"+", b"-", b"\x03", b"junk"])) + f)
    return payloads, b"".join(parts)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts}) + [len(data)]
    out, prev = [], 0
    for c in points:
        out.append(data[prev:c])
        prev = c
    return out


def feed_all(conn: GdbConnection, chunks: list[bytes]) -> list[bytes]:
    out: list[bytes] = []
    for chunk in chunks:
        out += conn.feed(chunk)
        assert conn.reader.buffered <= conn.max_packet + 2
    check_output(out)  # every item is +, - or a well-formed frame
    for item in out:
        assert len(item) <= 2 * conn.max_packet + 4  # escaping can at most double
    return out


SETTINGS = settings(max_examples=600, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@SETTINGS
@given(st.binary(max_size=2000), st.lists(st.integers(0, 2000), max_size=10),
       st.booleans(), st.booleans())
def test_random_bytes(noise, cuts, raising, ack_mode):
    target = FakeTarget(fail={"*"} if raising else set())
    conn = GdbConnection(target, max_packet=256)
    if not ack_mode:
        conn.feed(frame(b"QStartNoAckMode"))
    feed_all(conn, split(noise, cuts))


@SETTINGS
@given(wire(), st.lists(st.integers(0, 5000), max_size=10), st.booleans(), st.booleans(),
       st.sampled_from([160, 256, 0x10000]))  # >= the fixed qSupported reply (140 bytes)
def test_mutated_lldb_packets(stream, cuts, raising, ack_mode, max_packet):
    _payloads, data = stream
    target = FakeTarget(fail={"*"} if raising else set())
    conn = GdbConnection(target, max_packet=max_packet)
    if not ack_mode:
        conn.feed(frame(b"QStartNoAckMode"))
    feed_all(conn, split(data, cuts))


@SETTINGS
@given(st.lists(mutated(), min_size=1, max_size=8), st.booleans())
def test_each_mutated_packet_gets_exactly_one_sane_answer(payloads, raising):
    target = FakeTarget(fail={"*"} if raising else set())
    conn = GdbConnection(target)
    conn.feed(frame(b"QStartNoAckMode"))
    for p in payloads:
        if conn.closed:
            conn = GdbConnection(FakeTarget())
            conn.feed(frame(b"QStartNoAckMode"))
        replies = check_output(conn.feed(frame(p)))
        if len(frame(p)) - 4 > conn.max_packet:
            assert replies == [b"E07"]
            continue
        if p.startswith(b"qRcmd,"):
            assert all(r.startswith(b"O") for r in replies[:-1])
        elif parse_resume(p) is not None:
            # a resume always gets a stop reply, even when the target fails: never E
            assert len(replies) == 1 and replies[0].startswith(b"T05thread:1;"), (p, replies)
        else:
            assert len(replies) == 1, (p, replies)


@SETTINGS
@given(st.binary(min_size=1, max_size=100_000))
def test_huge_packets_stay_bounded(body):
    conn = GdbConnection(FakeTarget(), max_packet=1024)
    conn.feed(frame(b"QStartNoAckMode"))
    out = feed_all(conn, [b"$" + body] + [b"#00"])
    if len(body) > 1024 and b"$" not in body and b"#" not in body:
        assert check_output(out)[:1] == [b"E07"]
