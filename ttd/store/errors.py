"""Errors a user can hit when opening or reading a trace.

Every message is a single line so the CLI can print ``ttd: <message>`` as-is,
without a traceback.
"""

from __future__ import annotations


def _one_line(message: object) -> str:
    return " ".join(part.strip() for part in str(message).splitlines() if part.strip())


class TraceError(Exception):
    """Base class: anything wrong with a trace file (as opposed to a ttd bug)."""

    def __init__(self, message: object) -> None:
        super().__init__(_one_line(message))


class NotATrace(TraceError):
    """The path is missing, not an SQLite file, or an SQLite file that ttd did not write."""


class CorruptTrace(TraceError):
    """The file is (or was) a ttd trace but its bytes cannot be trusted: truncated, malformed, bad checksum."""


class SchemaTooNew(TraceError):
    """The trace was written by a newer ttd whose schema this one cannot read."""

    def __init__(
        self,
        found: str,
        newest: str,
        where: object = "trace",
        *,
        written_by: str | None = None,
        ours: str | None = None,
    ) -> None:
        self.found = found
        self.newest = newest
        self.written_by = written_by
        writer = f"written by ttd {written_by} with" if written_by else "has"
        reader = f"this ttd {ours}" if ours else "this ttd"
        super().__init__(
            f"{where}: {writer} schema revision {found!r}, newer than {reader} understands "
            f"(newest known: {newest!r}); upgrade ttd to read it"
        )


class MissingRow(CorruptTrace, KeyError):
    """A chunk, module or page the caller expected is not in the trace.

    Callers look these up by keys the trace itself handed out (chunk_index,
    page_table, module 0), so absence means an incomplete or damaged trace:
    a CorruptTrace for the CLI, and a KeyError for code that probes.
    """

    __str__ = BaseException.__str__  # KeyError would repr-quote the message


class TraceExists(TraceError, FileExistsError):
    """create() refused to clobber an existing file; also a FileExistsError for generic callers."""
