"""Every SQLite connection ttd opens on a trace file, hardened before its first statement.

A trace may come from a stranger. Its schema objects are checked against what ttd's
migrations create (schema_objects.py) before anything reads a table; these settings are
the second wall: stored SQL may not call functions with side effects (trusted_schema off),
the schema cannot be edited behind SQLite's back (defensive mode), a schema statement
longer than any ttd writes is "malformed" instead of parsed, and a reader's statement
that runs past its time budget is interrupted (a progress handler), so a file that
passes the check still cannot stall a reader.
"""

from __future__ import annotations

import ctypes
import sqlite3
import time
from pathlib import Path

from ttd.store.errors import TraceError

#: How long one statement of a reader may run (it is re-armed before every statement).
STATEMENT_TIMEOUT_S = 60.0
#: Longest SQL text SQLite will parse, schema statements included (ttd's longest DDL is ~400 bytes).
MAX_SQL_LENGTH = 64 << 10
#: How many VM instructions pass between two looks at the clock.
_PROGRESS_EVERY = 20_000
#: sqlite3.h: SQLITE_DBCONFIG_DEFENSIVE.
_DBCONFIG_DEFENSIVE = 1010
#: How long a statement waits for another process's lock (seconds).
BUSY_TIMEOUT_S = 10.0
#: The bytes ending a rollback journal that names a super-journal (the journal header magic).
JOURNAL_MAGIC = bytes.fromhex("d9d505f920a163d7")


class GuardedConnection(sqlite3.Connection):
    """An sqlite3 connection that carries its statement deadline (None: unbounded)."""

    deadline: float | None = None
    budget: float | None = None
    defensive: bool = False

    def arm(self, seconds: float | None = None) -> None:
        """Start the time budget of the next statement (and the fetches that follow it)."""
        budget = seconds if seconds is not None else self.budget
        self.deadline = None if budget is None else time.monotonic() + budget


def _set_defensive(conn: sqlite3.Connection) -> bool:
    """SQLITE_DBCONFIG_DEFENSIVE on; Python 3.12 has setconfig, 3.11 needs the C API."""
    setconfig = getattr(conn, "setconfig", None)
    if setconfig is not None:  # Python >= 3.12
        setconfig(_DBCONFIG_DEFENSIVE, True)
        return bool(conn.getconfig(_DBCONFIG_DEFENSIVE))  # type: ignore[attr-defined]
    try:
        import _sqlite3

        lib = ctypes.CDLL(_sqlite3.__file__)
        # CPython 3.11's pysqlite_Connection starts with PyObject_HEAD, then `sqlite3 *db`.
        handle = ctypes.c_void_p.from_address(id(conn) + ctypes.sizeof(ctypes.c_ssize_t) * 2).value
        if not handle:
            return False
        # Only trust that pointer if SQLite agrees it is this connection.
        lib.sqlite3_db_handle.restype = ctypes.c_void_p
        lib.sqlite3_next_stmt.restype = ctypes.c_void_p
        lib.sqlite3_db_filename.restype = ctypes.c_char_p
        lib.sqlite3_db_filename.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        name = lib.sqlite3_db_filename(handle, b"main")
        want = conn.execute("PRAGMA database_list").fetchone()[2]
        if name is None or name.decode("utf-8", "replace") != want:
            return False
        out = ctypes.c_int(-1)
        rc = lib.sqlite3_db_config(ctypes.c_void_p(handle), ctypes.c_int(_DBCONFIG_DEFENSIVE),
                                   ctypes.c_int(1), ctypes.byref(out))
        return rc == 0 and out.value == 1
    except (OSError, AttributeError, ValueError, sqlite3.Error):
        return False


def _progress_handler(conn: GuardedConnection):
    def check() -> int:
        deadline = conn.deadline
        return 1 if deadline is not None and time.monotonic() > deadline else 0

    return check


def connect(uri: str, *, writable: bool, budget: float | None = None) -> GuardedConnection:
    """A connection on a trace URI with the guards on; a reader's statements get `budget` seconds each.

    Writers get no time budget: they write files ttd created or upgrades the user asked
    for, after the schema check.
    """
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False,
                           timeout=BUSY_TIMEOUT_S, factory=GuardedConnection)
    assert isinstance(conn, GuardedConnection)
    try:
        conn.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, MAX_SQL_LENGTH)
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)  # a trace is one file: no ATTACH
        conn.execute("PRAGMA trusted_schema = OFF")
        conn.defensive = _set_defensive(conn)
        if not writable:
            conn.budget = STATEMENT_TIMEOUT_S if budget is None else budget
            conn.set_progress_handler(_progress_handler(conn), _PROGRESS_EVERY)
    except BaseException:
        conn.close()
        raise
    return conn


def super_journal_name(journal: Path) -> bytes | None:
    """The super-journal a rollback journal names, or None; read the way SQLite's pager reads it.

    A rollback that finds such a name deletes that file afterwards: a crafted journal next
    to a trace could delete any file the user may delete. Conservative: any journal that
    ends with the journal magic is taken to name one, whatever its checksum.
    """
    try:
        with journal.open("rb") as f:
            f.seek(0, 2)
            size = f.tell()
            if size < 16:
                return None
            f.seek(size - 16)
            tail = f.read(16)
            if tail[8:] != JOURNAL_MAGIC:
                return None
            length = int.from_bytes(tail[:4], "big")
            if 0 < length <= size - 16:
                f.seek(size - 16 - length)
                return f.read(min(length, 4096))
            return b"?"
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise TraceError(f"{journal}: cannot read: {exc.strerror or exc}") from None
