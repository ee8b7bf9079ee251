"""Strict parsing of packet arguments.

Python's int() accepts signs, underscores, spaces and `0x`; a packet field must not. Every
parser here returns None instead of raising, so a malformed packet becomes an error reply
rather than an exception, and bounds every number so a 10,000-digit field costs nothing.
"""

from __future__ import annotations

import re

from ttd.gdb.target import Resume

U64_MAX = (1 << 64) - 1
_HEX = re.compile(rb"[0-9a-fA-F]{1,32}")
_DEC = re.compile(rb"[0-9]{1,10}")
_THREAD = re.compile(rb"(?:p(-1|[0-9a-fA-F]{1,16})\.)?(-1|[0-9a-fA-F]{1,16})")


def parse_hex(field: bytes, limit: int = U64_MAX) -> int | None:
    """A big-endian hex number (leading zeros allowed) no greater than `limit`."""
    if not _HEX.fullmatch(field):
        return None
    value = int(field, 16)
    return value if value <= limit else None


def parse_dec(field: bytes, limit: int = 0x7FFFFFFF) -> int | None:
    """A non-negative decimal number no greater than `limit` (LLDB prints these with %d)."""
    if not _DEC.fullmatch(field):
        return None
    value = int(field)
    return value if value <= limit else None


def parse_addr_len(args: bytes) -> tuple[int, int] | None:
    """`ADDR,LEN` in hex, as in `m` and `x` packets."""
    addr, sep, length = args.partition(b",")
    if not sep:
        return None
    a, n = parse_hex(addr), parse_hex(length)
    return None if a is None or n is None else (a, n)


def parse_thread_id(field: bytes) -> bool:
    """Whether `field` is a thread id: `-1`, `0`, hex, or the multiprocess `pP.T` form."""
    return _THREAD.fullmatch(field) is not None


def strip_thread_suffix(args: bytes) -> bytes:
    """Drop LLDB's `;thread:XXXX;` suffix from a register packet's arguments."""
    return args.split(b";", 1)[0]


def hex_decode(field: bytes) -> bytes | None:
    """Bytes from an even-length hex string."""
    if len(field) % 2 or not re.fullmatch(rb"[0-9a-fA-F]*", field):
        return None
    return bytes.fromhex(field.decode("ascii"))


# What a resume packet asks for; STAY means "report where we are, do not move".
STAY = "stay"


def parse_resume(payload: bytes) -> Resume | str | None:
    """The motion a resume packet asks for, STAY, or None if `payload` is not a resume packet.

    `c`/`C`/`s`/`S` (signals ignored: a replay cannot deliver one, and the optional address is
    ignored: it cannot jump), `bc`/`bs`, and `vCont;ACTION[:TID]...`. In a vCont a step for any
    thread wins over continue (there is one thread); `r` (range step) may be a single step;
    `t` (stop) moves nothing. A malformed resume packet is STAY, never an error: an `E` reply
    to a resume ends LLDB's session.
    """
    if payload == b"bc":
        return Resume.REVERSE_CONTINUE
    if payload == b"bs":
        return Resume.REVERSE_STEP
    if payload.startswith(b"vCont;"):
        return _parse_vcont(payload[6:])
    if payload == b"vCont":
        return STAY
    head, rest = payload[:1], payload[1:]
    if head not in (b"c", b"C", b"s", b"S"):
        return None
    action = Resume.CONTINUE if head in (b"c", b"C") else Resume.STEP
    if head in (b"C", b"S"):  # a signal number, then maybe ;ADDR
        signal, _, rest = rest.partition(b";")
        if parse_hex(signal, 0xFF) is None:
            return STAY
    return action if not rest or parse_hex(rest) is not None else STAY


def _parse_vcont(actions: bytes) -> Resume | str:
    step = cont = False
    for action in actions.split(b";"):
        verb, _, thread = action.partition(b":")
        if thread and not parse_thread_id(thread):
            return STAY
        kind = verb[:1]
        if kind in (b"s", b"S", b"r"):
            step = True
        elif kind in (b"c", b"C"):
            cont = True
        elif kind != b"t":
            return STAY
    if step:
        return Resume.STEP
    return Resume.CONTINUE if cont else STAY
