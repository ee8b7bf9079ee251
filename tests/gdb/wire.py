"""Test helpers: talk to a GdbConnection with payloads, check frames independently."""

from __future__ import annotations

import re
from pathlib import Path

from ttd.gdb.protocol import GdbConnection

TRANSCRIPT = Path("/work/shared/docs/lldb-wasmtime-transcript.txt")
_FRAME = re.compile(rb"\$([^$#]*)#([0-9a-f]{2})", re.S)


def frame(payload: bytes) -> bytes:
    """A correctly framed packet, computed independently of ttd.gdb.framing."""
    esc = bytearray()
    for c in payload:
        if c in b"$#}*":
            esc += bytes((0x7D, c ^ 0x20))
        else:
            esc.append(c)
    return b"$" + bytes(esc) + b"#%02x" % (sum(esc) & 0xFF)


def unframe(data: bytes) -> bytes:
    """The payload of one well-formed frame; AssertionError otherwise."""
    m = _FRAME.fullmatch(data)
    assert m, f"not a well-formed frame: {data[:120]!r}"
    body = m.group(1)
    assert sum(body) & 0xFF == int(m.group(2), 16), f"bad checksum in {data[:120]!r}"
    out = bytearray()
    it = iter(body)
    for c in it:
        if c == 0x7D:
            out.append(next(it) ^ 0x20)
        else:
            assert c != 0x2A, "run-length encoding is never sent"
            out.append(c)
    return bytes(out)


def check_output(out: list[bytes]) -> list[bytes]:
    """Every item is an ack, a nack or a well-formed frame; return the payloads."""
    payloads = []
    for item in out:
        if item in (b"+", b"-"):
            continue
        payloads.append(unframe(item))
    return payloads


def no_ack(conn: GdbConnection) -> GdbConnection:
    assert conn.feed(frame(b"QStartNoAckMode")) == [b"+", b"$OK#9a"]
    assert conn.no_ack
    return conn


def ask(conn: GdbConnection, payload: bytes) -> list[bytes]:
    """Send one packet (no-ack mode); return the reply payloads."""
    out = conn.feed(frame(payload))
    assert b"+" not in out, "no acks in no-ack mode"
    return check_output(out)


def ask1(conn: GdbConnection, payload: bytes) -> bytes:
    replies = ask(conn, payload)
    assert len(replies) == 1, replies
    return replies[0]


def transcript_packets() -> list[bytes]:
    """The raw frames LLDB sent in the wasmtime transcript (every `lldb>` line is complete)."""
    frames = []
    for line in TRANSCRIPT.read_text().splitlines():
        if line.startswith("lldb> "):
            frames.append(line[6:].encode())
    return frames
