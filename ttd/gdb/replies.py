"""Reply payloads LLDB's wasm plugin understands, built from Target data.

Pure functions, no state: the connection decides what to answer, these decide how it is
spelled. Why each spelling is what it is (LLDB sources as of LLDB 23):
- Stop replies carry `thread-pcs` (parsed as a big-endian hex number) and the pc as register
  0 in target byte order (`00:` + 16 hex digits little-endian), so LLDB never needs a `p0`
  to know where it stopped.
- `reason:` values are the ones ProcessGDBRemote::SetThreadStopInfo switches on: `breakpoint`,
  `trace`, `watchpoint`, `exception` (with a hex `description`).
- `replaylog:` (any value) makes ProcessGDBRemote set reason "history boundary"; a later
  `reason:` key would override it, so boundary replies carry none (rr spells them the same).
- `watch:`/`rwatch:`/`awatch:` + hex address is rewritten by LLDB into reason "watchpoint"
  with the address as description, which is how it finds the watchpoint that fired; a
  `description:` key after it would clobber that, so watchpoint replies carry none.
"""

from __future__ import annotations

import struct
from xml.sax.saxutils import escape

from ttd.gdb.target import Library, Region, StopEvent, StopKind

U64 = (1 << 64) - 1
TID = 1  # the one thread
PID = 1

# Error replies. LLDB only checks for a leading E; distinct codes help reading packet logs.
E_MALFORMED = b"E01"  # arguments that do not parse
E_TARGET = b"E02"  # the Target raised while answering
E_UNAVAILABLE = b"E03"  # no such local/global/stack value
E_MEMORY = b"E0e"  # memory that cannot be read (EFAULT)
E_READ_ONLY = b"E1e"  # a write to a replay (EROFS)
E_NO_BREAKPOINT = b"E16"  # the Target refused a breakpoint or watchpoint (EINVAL)
E_TOO_LARGE = b"E07"  # a packet over the size limit (E2BIG)
E_NO_REGISTER = b"E45"  # what LLDB expects past the last qRegisterInfo

OK = b"OK"
EMPTY = b""  # "unsupported"

SIGTRAP = 5
SIGINT = 2

TRIPLE_HEX = b"wasm32-unknown-unknown-wasm".hex().encode()

REGISTER_INFO_PC = (
    b"name:pc;alt-name:pc;bitsize:64;offset:0;encoding:uint;format:hex;"
    b"set:General Purpose Registers;gcc:16;dwarf:16;generic:pc;"
)

# A replay reports a watchpoint after the access executed (the write is visible), which is
# also LLDB's default for architectures it does not list; saying so removes the guess.
HOST_INFO = (
    b"triple:" + TRIPLE_HEX + b";endian:little;ptrsize:4;watchpoint_exceptions_received:after;"
)
PROCESS_INFO = b"pid:%x;triple:%s;endian:little;ptrsize:4;" % (PID, TRIPLE_HEX)

_WATCH_KEYS = {"watch", "rwatch", "awatch"}


def hex_u64le(value: int) -> bytes:
    """16 hex digits of a u64 in little-endian byte order (how LLDB reads wasm pcs)."""
    return struct.pack("<Q", value & U64).hex().encode()


def hex_text(text: str) -> bytes:
    """A string as hex of its UTF-8 bytes (stop-reply descriptions, `O` output)."""
    return text.encode("utf-8", "replace").hex().encode()


def stop_reply(event: StopEvent, signal: int = SIGTRAP) -> bytes:
    """The `T` packet for a stop: signal, thread, pc, then what LLDB needs for the reason."""
    pc = event.pc & U64
    out = b"T%02xthread:%x;thread-pcs:%016x;00:%s;" % (signal & 0xFF, TID, pc, hex_u64le(pc))
    kind, desc = event.kind, event.description
    if kind is StopKind.BREAKPOINT:
        out += b"reason:breakpoint;"
    elif kind is StopKind.TRACE:
        out += b"reason:trace;"
    elif kind is StopKind.WATCHPOINT:
        out += b"reason:watchpoint;"
        if event.watch_addr is not None:
            key = event.watch_kind if event.watch_kind in _WATCH_KEYS else "watch"
            out += b"%s:%x;" % (key.encode(), event.watch_addr & U64)
        return out
    elif kind is StopKind.EXCEPTION:
        out += b"reason:exception;"
        desc = desc or "wasm trap"
    elif kind is StopKind.REPLAY_BEGIN:
        out += b"replaylog:begin;"
    elif kind is StopKind.REPLAY_END:
        out += b"replaylog:end;"
    if desc:
        out += b"description:" + hex_text(desc) + b";"
    return out


def minimal_stop_reply(signal: int = SIGTRAP) -> bytes:
    """A stop reply with no pc, for when even the Target's current stop is unavailable."""
    return b"T%02xthread:%x;" % (signal & 0xFF, TID)


# ---- qXfer documents ------------------------------------------------------------------------


def libraries_xml(libraries: list[Library]) -> bytes:
    """`qXfer:libraries:read` document; LLDB loads each library image from its address."""
    parts = [b"<library-list>"]
    for lib in libraries:
        parts.append(
            b'<library name="%s"><section address="0x%x"/></library>'
            % (escape(lib.name, {'"': "&quot;"}).encode("utf-8", "replace"), lib.address & U64)
        )
    parts.append(b"</library-list>")
    return b"".join(parts)


def memory_map_xml(regions: list[Region]) -> bytes:
    """`qXfer:memory-map:read` document: module images as rom, linear memory as ram."""
    parts = [
        b'<?xml version="1.0"?><!DOCTYPE memory-map SYSTEM "memory-map.dtd"><memory-map>'
    ]
    for r in regions:
        if r.size <= 0:
            continue
        kind = b"rom" if r.kind == "rom" else b"ram"
        parts.append(
            b'<memory type="%s" start="0x%x" length="0x%x"/>' % (kind, r.start & U64, r.size)
        )
    parts.append(b"</memory-map>")
    return b"".join(parts)


def xfer_chunk(document: bytes, offset: int, length: int) -> bytes:
    """`m` + a slice when more follows, `l` + the last slice, as qXfer replies go."""
    chunk = document[offset:offset + length]
    more = offset + length < len(document)
    return (b"m" if more else b"l") + chunk


# ---- qMemoryRegionInfo ---------------------------------------------------------------------


def region_at(regions: list[Region], addr: int) -> Region | None:
    """The region holding `addr`, if any."""
    for r in regions:
        if r.size > 0 and r.start <= addr < r.start + r.size:
            return r
    return None


def region_info(regions: list[Region], addr: int) -> bytes:
    """`start:..;size:..;permissions:..;`, or for a gap the unmapped span around `addr`."""
    r = region_at(regions, addr)
    if r is not None:
        perms = "".join(c for c in "rwx" if c in r.permissions)
        return b"start:%x;size:%x;permissions:%s;" % (r.start & U64, r.size & U64, perms.encode())
    lo = max((r.start + r.size for r in regions if r.size > 0 and r.start + r.size <= addr),
             default=0)
    hi = min((r.start for r in regions if r.size > 0 and r.start > addr), default=U64 + 1)
    return b"start:%x;size:%x;" % (lo & U64, min(hi - lo, U64))
