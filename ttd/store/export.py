"""Export: a compact, self-contained SQLite copy of a trace, to attach to a bug report or send a colleague.

The source is never modified (it is opened read-only and not upgraded); the
copy is written next to OUT under a temporary name, brought to the current
schema, and only then moved into place, so OUT is either absent, the old file
(without --force) or a complete trace, never half-written.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Table, insert, select, tuple_

from ttd.store.errors import TraceError, TraceExists
from ttd.store.models import Base
from ttd.store.postgres import PostgresTrace
from ttd.store.trace_store import (
    _REVISION_TABLES,
    TraceLocation,
    TraceStore,
    _as_trace_error,
    _remove_with_sidecars,
    checkpoint_checksum,
    module_checksum,
)

__all__ = ["ExportResult", "export_trace"]

#: Rows per batch when copying from a database: bounds memory whatever the trace size.
COPY_BATCH = 500
# Derived tables the copy rebuilds instead of copying (so they match the rows copied).
_REBUILT = frozenset({"page_keyframes"})


@dataclass(frozen=True)
class ExportResult:
    """What export_trace() wrote."""

    out: Path
    source_bytes: int | None
    size_bytes: int
    revision: str


def _check_out(out: Path, force: bool, source: TraceStore) -> None:
    if out.is_dir():
        raise TraceError(f"{out}: is a directory; give the file to write")
    if out.exists() or out.is_symlink():
        if not force:
            raise TraceExists(f"{out}: already exists (use --force to replace it)")
        if source.path is not None and out.exists() and os.path.samefile(out, source.path):
            raise TraceError(f"{out}: is the trace being exported; write the copy somewhere else")


def _vacuum_into(source: Path, tmp: Path) -> None:
    """SQLite's own compacting copy; a guarded read-only connection (query_only would refuse VACUUM INTO).

    The source's schema was checked when it was opened, so the copy holds nothing else.
    """
    from ttd.store.engine import sqlite_uri
    from ttd.store.sqlite_guard import STATEMENT_TIMEOUT_S, connect

    # time for the copy itself: a minute, plus a second per 20 MB
    budget = STATEMENT_TIMEOUT_S + source.stat().st_size / 20e6
    conn = connect(sqlite_uri(source, writable=False), writable=False, budget=budget)
    try:
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 1)  # VACUUM INTO attaches its output
        conn.arm()
        conn.execute("VACUUM INTO ?", (str(tmp),))
    except sqlite3.Error as exc:
        raise (_as_trace_error(exc, source) or TraceError(f"{source}: cannot export: {exc}")) from exc
    finally:
        conn.close()


def _copy_rows(source: TraceStore, tmp: Path) -> None:
    """Copy every table of a database trace into a new trace file, in primary-key order, a batch at a time.

    Keyset pagination (WHERE pk > last) rather than one big SELECT: the
    driver would otherwise hold the whole trace in memory.
    """
    tables = _REVISION_TABLES.get(source.revision, frozenset(Base.metadata.tables))
    with TraceStore.create(tmp, overwrite=True) as dst:
        src_conn = source._conn
        dst_conn = dst._conn
        for name in sorted(tables - _REBUILT):
            table: Table = Base.metadata.tables[name]
            pk = list(table.primary_key.columns)
            key = tuple_(*pk) if len(pk) > 1 else pk[0]
            last: tuple | None = None
            # a source older than 0004 (a login that may not upgrade it) has no checksum columns:
            # the copy gets them as an upgrade would give them
            columns = [c for c in table.columns if source.blob_checksums or c.name != "checksum"]
            while True:
                query = select(*columns).order_by(*pk).limit(COPY_BATCH)
                if last is not None:
                    query = query.where(key > (tuple_(*last) if len(pk) > 1 else last[0]))
                rows = [dict(r._mapping) for r in src_conn.execute(query)]
                if not rows:
                    break
                if "checksum" in table.c and not source.blob_checksums:
                    for r in rows:
                        r["checksum"] = _checksum_for(name, r)
                dst_conn.execute(insert(table), rows)
                last = tuple(rows[-1][c.name] for c in pk)
        dst.rebuild_keyframes()


def _checksum_for(table: str, row: dict) -> str | None:
    """The checksum revision 0004's upgrade gives an older row (None: a module whose bytes
    do not match its sha256 stays unblessed, and reads as damaged)."""
    if table == "modules":
        if hashlib.sha256(row["wasm"]).hexdigest() != row["sha256"]:
            return None
        return module_checksum(row["id"], row["name"], row["sha256"], row["schedule"])
    if table == "checkpoints":
        return checkpoint_checksum(row["chunk_seq"], row["state"])
    return None


def export_trace(source: TraceLocation, out: str | os.PathLike[str], *, force: bool = False) -> ExportResult:
    """Write a compacted SQLite copy of source (a file or a database trace) to out, at the current schema."""
    out = Path(out)
    src = TraceStore.open(source, upgrade=False)  # a bad source fails before anything is written
    try:
        _check_out(out, force, src)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TraceError(f"{out}: cannot write here: {exc.strerror or exc}") from None
        tmp = out.with_name(f".{out.name}.{os.getpid()}.export-tmp")
        try:
            _remove_with_sidecars(tmp)
            if src.path is not None:
                _vacuum_into(src.path, tmp)
            else:
                _copy_rows(src, tmp)
            with TraceStore.open(tmp, writable=True) as dst:  # upgrades an old schema, adds keyframes
                revision = dst.revision
            _place(tmp, out, force)
        finally:
            _remove_with_sidecars(tmp)
        return ExportResult(out, src.size_bytes(), out.stat().st_size, revision)
    finally:
        src.close()


def _place(tmp: Path, out: Path, force: bool) -> None:
    """Move the finished copy to out: atomically, and without --force never over a file that appeared meanwhile."""
    try:
        if force:
            os.replace(tmp, out)
            return
        try:
            os.link(tmp, out)  # fails if out exists: no window in which a file could be clobbered
        except FileExistsError:
            raise TraceExists(f"{out}: already exists (use --force to replace it)") from None
        except OSError:  # no hard links on this file system
            if out.exists():
                raise TraceExists(f"{out}: already exists (use --force to replace it)") from None
            os.replace(tmp, out)
    except TraceError:
        raise
    except OSError as exc:
        raise TraceError(f"{out}: cannot write: {exc.strerror or exc}") from None
