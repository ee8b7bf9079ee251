"""SQLite engines for trace files: read-only URIs, crash-safe pragmas, real transactions.

Kept apart from TraceStore so ``alembic/env.py`` can give developer databases
the same transaction behaviour as traces.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.pool import NullPool

from ttd.store.errors import TraceError
from ttd.store.sqlite_guard import BUSY_TIMEOUT_S, super_journal_name
from ttd.store.sqlite_guard import connect as guarded_connect

#: Writer page cache (KiB, as a negative cache_size). Large enough that a chunk's
#: transaction never spills dirty pages into the file before COMMIT.
WRITER_CACHE_KIB = 64 * 1024
#: Reader page cache (KiB).
READER_CACHE_KIB = 32 * 1024


def sqlite_uri(path: Path, *, writable: bool) -> str:
    """SQLite URI for path; percent-quoted so '?', '#' and '%' in file names survive."""
    mode = "rw" if writable else "ro"
    return f"file:{quote(str(path.resolve()), safe='/')}?mode={mode}"


def use_sqlalchemy_transactions(engine: Engine) -> None:
    """Make SQLAlchemy, not the sqlite3 module, emit BEGIN, so DDL and batches are atomic.

    Python 3.11's sqlite3 only opens a transaction before DML; this is
    SQLAlchemy's documented recipe for real transactions on that driver.
    """

    @event.listens_for(engine, "connect")
    def _autocommit_driver(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(connection: object) -> None:
        connection.exec_driver_sql("BEGIN")  # type: ignore[attr-defined]


def trace_engine(path: Path, *, writable: bool, immutable: bool = False) -> Engine:
    """Engine on a single trace file; the file must already exist (mode=ro / mode=rw never create it).

    Writers get rollback-journal mode (the trace stays one file after a crash:
    the -journal only holds pre-images of the uncommitted batch and is rolled
    back on the next open) and synchronous=NORMAL. Readers issue no BEGIN: each
    SELECT is its own snapshot and no lock outlives a statement, so a live
    recorder is never blocked by someone inspecting its trace.
    """
    uri = sqlite_uri(path, writable=writable) + ("&immutable=1" if immutable and not writable else "")

    def connect() -> sqlite3.Connection:
        if writable:
            refuse_super_journal(path)
        conn = guarded_connect(uri, writable=writable)
        try:
            if writable:
                # for a new file only: chunk blobs of ~150 KB span 10 pages instead of 40, so
                # reading one hops less, and the last page of each wastes less (a 10^9-step
                # sort trace: 0.229 -> 0.220 bytes/step; a sieve's worst seek 51 -> 38 ms)
                conn.execute("PRAGMA page_size = 16384")
                conn.execute(f"PRAGMA cache_size = -{WRITER_CACHE_KIB}")
                conn.execute("PRAGMA journal_mode = DELETE")
                conn.execute("PRAGMA synchronous = NORMAL")
            else:
                conn.execute(f"PRAGMA cache_size = -{READER_CACHE_KIB}")
                conn.execute("PRAGMA query_only = ON")
        except BaseException:
            conn.close()
            raise
        return conn

    # check_same_thread=False: the recorder may hand the store to a writer
    # thread; the store is used by one thread at a time, never concurrently.
    engine = create_engine("sqlite://", creator=connect, poolclass=NullPool)
    if writable:
        use_sqlalchemy_transactions(engine)
    else:
        @event.listens_for(engine, "before_cursor_execute")
        def _arm(conn, _cursor, _statement, _params, _context, _many) -> None:  # type: ignore[no-untyped-def]
            conn.connection.driver_connection.arm()

    return engine


def refuse_super_journal(path: Path) -> None:
    """Refuse to let SQLite roll back a journal that names a super-journal (it would delete that file)."""
    journal = path.with_name(path.name + "-journal")
    name = super_journal_name(journal)
    if name is not None:
        shown = name.decode("utf-8", "replace")
        raise TraceError(f"{path}: its journal {journal.name} names a super-journal ({shown!r}), which a "
                         f"rollback would delete; ttd will not roll it back (a crafted file?)")
