"""Answer a re-executed module's imports from a capture, and notice when it goes another way.

The expansion runs the trace's module with no WASI and no host access: each import call
takes the capture's next event, checks it is the same import with the same arguments, writes
the bytes the host wrote back into memory and returns the recorded results. Anything else
(another import, other arguments, more calls than were captured) is a divergence, reported
with the step it happened at rather than recorded as a different history.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ttd.store import codec
from ttd.store.errors import TraceError


class Divergence(Exception):
    """The re-execution left the captured run (one line, without the step: the caller adds it)."""


class CapturedExit(Exception):
    """The program called proc_exit in the capture: end the re-execution the same way."""

    def __init__(self, code: int):
        super().__init__(f"exit {code}")
        self.code = code


class CapturedTrap(Exception):
    """A host call trapped in the capture."""


class CaptureExhausted(Exception):
    """A partial capture (interrupted, killed) has no more calls: expansion ends here."""


class CaptureUnreadable(Exception):
    """The capture's stored calls cannot be read (a batch fails its checksum, ...): a corrupt
    capture, reported as such rather than as a failure to write the expansion."""


#: Largest capture batch decompressed (bounds a crafted blob).
MAX_BATCH = 256 << 20


def _value(bits: int, vt: str):
    if vt == "i32":
        return bits - (1 << 32) if bits & 0x80000000 else bits
    if vt == "i64":
        return bits - (1 << 64) if bits & (1 << 63) else bits
    if vt == "f32":
        return struct.unpack("<f", struct.pack("<I", bits & 0xFFFFFFFF))[0]
    if vt == "f64":
        return struct.unpack("<d", struct.pack("<Q", bits & 0xFFFFFFFFFFFFFFFF))[0]
    raise Divergence(f"a result of type {vt}")


@dataclass
class CaptureFeed:
    """The capture's calls in order, consumed by the re-executed module's imports."""

    imports: list[tuple[str, str]]  # the capture's import numbering
    batches: Iterator[tuple[int, int, int, bytes]]
    complete: bool  # False: the capture was interrupted or killed
    total_calls: int | None = None
    arg_sizes: dict = field(default_factory=dict)
    host_values: list = field(default_factory=list)  # imported globals/tables/memories
    calls: int = 0
    _events: list = field(default_factory=list)
    _pos: int = 0

    def _next(self) -> list:
        """The next captured call; _Ended when the capture holds no more."""
        while self._pos >= len(self._events):
            try:
                _seq, _first, n, blob = next(self.batches)
            except StopIteration:
                raise _Ended()
            except TraceError as e:
                raise CaptureUnreadable(str(e)) from None
            try:
                events = codec.unpack(codec.decompress(blob, max_size=MAX_BATCH))
            except TraceError as e:
                raise CaptureUnreadable(f"corrupt capture: batch {_seq}: {e}") from None
            if not isinstance(events, list) or len(events) != n:
                raise CaptureUnreadable(f"corrupt capture: batch {_seq} is malformed")
            self._events, self._pos = events, 0
        ev = self._events[self._pos]
        self._pos += 1
        return ev

    def remaining(self) -> int:
        """How many captured calls are left unused (a complete run must use every one)."""
        left = len(self._events) - self._pos
        self._events, self._pos = [], 0
        while True:
            try:
                self._next()
            except _Ended:
                return left
            left += 1 + len(self._events) - self._pos
            self._events, self._pos = [], 0

    def answer(self, module: str, name: str, args: list[int], rtypes: list[str],
               write: Callable[[int, bytes], None]):
        """The recorded outcome of this call: results (as wasmtime-py values), after writing
        the host's bytes with write(addr, data)."""
        call = self.calls
        try:
            ev = self._next()
        except _Ended:
            if self.complete:
                raise Divergence(f"import call {call} ({name}) is one more than the capture "
                                 f"holds ({call} calls)") from None
            raise CaptureExhausted() from None
        self.calls += 1
        try:
            k, cargs, results, regions = ev[0], ev[1], ev[2], ev[3]
            expected = tuple(self.imports[k])
        except (TypeError, IndexError, KeyError):
            raise Divergence(f"capture call {call} is malformed")
        if expected != (module, name):
            raise Divergence(f"import call {call} ({name}) is {module}::{name}, the capture "
                             f"has {expected[0]}::{expected[1]}")
        if list(cargs) != list(args):
            raise Divergence(f"import call {call} ({name}) has arguments {args}, the capture "
                             f"has {list(cargs)}")
        for addr, data in regions:
            write(int(addr), bytes(data))
        if len(ev) > 4:  # the call ended the run
            how, what = ev[4][0], ev[4][1]
            if how == "exit":
                raise CapturedExit(int(what))
            raise CapturedTrap(str(what))
        if results is None or len(results) != len(rtypes):
            raise Divergence(f"capture call {call} ({name}) has {results!r} for {len(rtypes)} results")
        vals = [_value(int(b), t) for b, t in zip(results, rtypes)]
        return None if not vals else vals[0] if len(vals) == 1 else vals


class _Ended(Exception):
    """No more batches in the capture."""
