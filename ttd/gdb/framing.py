"""gdb-remote framing: bytes from the wire in, events out; payloads in, frames out.

Sans-I/O (like h11): `PacketReader.feed` takes whatever the socket delivered, split anywhere,
and returns what it completed. It holds at most one packet's payload, so a peer that never
sends `#` cannot make it buffer without bound: a payload past `max_packet` is dropped and
reported as `Oversized`. Run-length encoding is never produced and never expected from a
client (LLDB does not send it), so `*` in an incoming payload is literal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Largest payload accepted, and the PacketSize advertised in qSupported. LLDB sizes its `m`
# reads from it ((PacketSize - 70) / 2 bytes per read), so bigger means fewer round trips.
MAX_PACKET = 0x10000

_ESCAPE = 0x7D  # '}'
_NEEDS_ESCAPE = re.compile(rb"[$#}*]")
_IDLE_STOP = re.compile(rb"[$+\-\x03]")  # what means something between packets
_PAYLOAD_STOP = re.compile(rb"[$#}]")  # what ends a run of plain payload bytes
_HEX = frozenset(b"0123456789abcdefABCDEF")


@dataclass(frozen=True)
class Packet:
    """A complete packet whose checksum matched; `payload` is unescaped."""

    payload: bytes


@dataclass(frozen=True)
class BadPacket:
    """A complete packet whose checksum did not match (or was not two hex digits)."""

    payload: bytes
    expected: int
    received: bytes


@dataclass(frozen=True)
class Ack:
    """`+`: the peer accepted our last packet (ack mode only)."""


@dataclass(frozen=True)
class Nack:
    """`-`: the peer wants our last packet again (ack mode only)."""


@dataclass(frozen=True)
class Interrupt:
    """0x03 outside a packet: the peer asks a running target to stop."""


@dataclass(frozen=True)
class Oversized:
    """A packet longer than the limit was dropped; the peer still waits for a reply."""

    size: int  # payload bytes seen when it was dropped (more than the limit)


Event = Packet | BadPacket | Ack | Nack | Interrupt | Oversized

_ACK = Ack()
_NACK = Nack()
_INTERRUPT = Interrupt()

# reader states
_IDLE, _PAYLOAD, _ESCAPED, _CHECKSUM, _DISCARD, _DISCARD_CHECKSUM = range(6)


def checksum(data: bytes) -> int:
    """The modulo-256 sum gdb-remote puts after `#`."""
    return sum(data) & 0xFF


def encode_binary(data: bytes) -> bytes:
    """Escape `$ # } *` as `}` + (byte ^ 0x20), so any bytes survive framing and LLDB's RLE."""
    return _NEEDS_ESCAPE.sub(lambda m: bytes((_ESCAPE, m.group()[0] ^ 0x20)), data)


def encode_packet(payload: bytes) -> bytes:
    """Frame a reply: `$` + escaped payload + `#` + two hex digits of checksum."""
    body = encode_binary(payload)
    return b"$" + body + b"#" + b"%02x" % checksum(body)


class PacketReader:
    """Incremental gdb-remote tokenizer with bounded memory."""

    def __init__(self, max_packet: int = MAX_PACKET) -> None:
        if max_packet < 1:
            raise ValueError("max_packet must be positive")
        self.max_packet = max_packet
        self._state = _IDLE
        self._payload = bytearray()
        self._raw_len = 0  # payload bytes as sent (escapes included), bounded by max_packet
        self._sum = 0
        self._csum = bytearray()
        self._skip = 0

    @property
    def buffered(self) -> int:
        """Bytes held for an incomplete packet (never more than max_packet + 2)."""
        return len(self._payload) + len(self._csum)

    def feed(self, data: bytes) -> list[Event]:
        """Consume `data`; return the events it completed, in order."""
        events: list[Event] = []
        buf = bytes(data)
        i, n = 0, len(buf)
        while i < n:
            state = self._state
            if state == _IDLE:
                m = _IDLE_STOP.search(buf, i)
                if m is None:
                    break  # garbage between packets
                c = buf[m.start()]
                i = m.start() + 1
                if c == 0x24:  # $
                    self._start()
                elif c == 0x2B:  # +
                    events.append(_ACK)
                elif c == 0x2D:  # -
                    events.append(_NACK)
                else:
                    events.append(_INTERRUPT)
            elif state == _PAYLOAD:
                m = _PAYLOAD_STOP.search(buf, i)
                end = n if m is None else m.start()
                if end > i and not self._take(buf[i:end], events):
                    i = end
                    continue
                if m is None:
                    break
                c = buf[end]
                i = end + 1
                if c == 0x23:  # '#'
                    self._state = _CHECKSUM
                elif c == 0x24:  # '$' inside a packet: that one was broken, start again
                    self._start()
                elif self._count(c, events):  # '}': the next byte is escaped
                    self._state = _ESCAPED
            elif state == _ESCAPED:
                c = buf[i]
                if c == 0x23:  # a dangling escape right before '#': keep the framing
                    self._state = _PAYLOAD
                    continue
                i += 1
                if c == 0x24:
                    self._start()
                elif self._count(c, events):
                    self._payload.append(c ^ 0x20)
                    self._state = _PAYLOAD
            elif state == _CHECKSUM:
                self._csum.append(buf[i])
                i += 1
                if len(self._csum) == 2:
                    events.append(self._finish())
            elif state == _DISCARD:
                m = _PAYLOAD_STOP.search(buf, i)
                if m is None:
                    break
                c = buf[m.start()]
                i = m.start() + 1
                if c == 0x23:
                    self._state, self._skip = _DISCARD_CHECKSUM, 2
                elif c == 0x24:
                    self._start()
            else:  # _DISCARD_CHECKSUM: the two checksum digits of a dropped packet
                take = min(self._skip, n - i)
                i += take
                self._skip -= take
                if self._skip == 0:
                    self._state = _IDLE
        return events

    # ---- internals ------------------------------------------------------------------------

    def _start(self) -> None:
        self._state = _PAYLOAD
        self._payload = bytearray()
        self._raw_len = 0
        self._sum = 0
        self._csum = bytearray()

    def _take(self, chunk: bytes, events: list[Event]) -> bool:
        """Append plain payload bytes; False (and discard mode) when that passes the limit."""
        self._raw_len += len(chunk)
        if self._raw_len > self.max_packet:
            self._overflow(events)
            return False
        self._payload += chunk
        self._sum += sum(chunk)
        return True

    def _count(self, c: int, events: list[Event]) -> bool:
        """Account for one raw byte that the checksum covers; False when over the limit."""
        self._raw_len += 1
        if self._raw_len > self.max_packet:
            self._overflow(events)
            return False
        self._sum += c
        return True

    def _overflow(self, events: list[Event]) -> None:
        events.append(Oversized(self._raw_len))
        self._payload = bytearray()
        self._csum = bytearray()
        self._state = _DISCARD

    def _finish(self) -> Event:
        payload, received = bytes(self._payload), bytes(self._csum)
        expected = self._sum & 0xFF
        self._payload = bytearray()
        self._csum = bytearray()
        self._state = _IDLE
        if all(c in _HEX for c in received) and int(received, 16) == expected:
            return Packet(payload)
        return BadPacket(payload, expected, received)
