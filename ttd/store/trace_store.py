"""TraceStore: one self-contained SQLite file (or one PostgreSQL schema) holding a recording.

The store keeps bytes and rows and knows nothing of Wasm or replay. Writers
batch rows and call commit() once per chunk; every commit is atomic, so a
recorder killed at any instant leaves a file with a prefix of its chunks.

Schema changes ship as alembic migrations. Opening a trace written with an
older schema upgrades it when the file may be written, and otherwise reads it
as it is (everything newer revisions add is derived data, e.g. keyframes).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sqlite3
import struct
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import (Connection, Engine, LargeBinary, and_, bindparam, cast, delete, func, insert, inspect,
                        null, select, text, tuple_, type_coerce)
from sqlalchemy.types import NullType
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

import ttd
from ttd.store import codec
from ttd.store.keyframes import KEYFRAME_INTERVAL, decode_page_map, encode_page_map
from ttd.store.recording_lock import RecordingLock, create_locked
from ttd.store.postgres import PostgresTrace, connection_error, create_schema, drop_schema, require_schema
from ttd.store.engine import refuse_super_journal, sqlite_uri, trace_engine
from ttd.store.migrations import ALEMBIC_DIR, alembic_config, migrate, revisions_in_order
from ttd.store.schema_objects import check_known_objects, check_postgres_objects, check_revision_objects
from ttd.store.sqlite_guard import STATEMENT_TIMEOUT_S
from ttd.store.sqlite_guard import connect as guarded_connect
from ttd.store.errors import CorruptTrace, MissingRow, NotATrace, SchemaTooNew, TraceError, TraceExists
from ttd.store.models import (
    SQLITE_APPLICATION_ID,
    TABLES,
    CaptureEvents,
    Checkpoint,
    Chunk,
    Module,
    Page,
    PageKeyframe,
    PageVersion,
    TraceInfo,
)

__all__ = ["ALEMBIC_DIR", "ChunkRow", "MAX_PAGE_SIZE", "ModuleRow", "TraceLocation", "TraceStore", "checkpoint_checksum",
           "capture_checksum", "chunk_checksum", "keyframe_checksum", "module_checksum"]

#: What create() and open() accept: a trace file's path, or a trace in a PostgreSQL database.
TraceLocation = str | os.PathLike[str] | PostgresTrace

#: Largest decompressed page page() accepts by default (bounds hostile traces).
MAX_PAGE_SIZE = 16 << 20

_SQLITE_MAGIC = b"SQLite format 3\x00"
_SIDECARS = ("-journal", "-wal", "-shm")
_DIGEST_LEN = 32

_info = TraceInfo.__table__
_modules = Module.__table__
_chunks = Chunk.__table__
_checkpoints = Checkpoint.__table__
_pages = Page.__table__
_versions = PageVersion.__table__
_keyframes = PageKeyframe.__table__
_capture = CaptureEvents.__table__

# Statements are built once; SQLAlchemy caches their compiled form.
_INSERT_MODULE = insert(_modules)
_INSERT_CHUNK = insert(_chunks)
_INSERT_VERSION = insert(_versions)
_SELECT_INFO = select(_info.c.key, _info.c.value)
_SELECT_NEXT_MODULE_ID = select(func.coalesce(func.max(_modules.c.id) + 1, 0))
_SELECT_MODULE = select(
    _modules.c.name, _modules.c.sha256, _modules.c.wasm, _modules.c.schedule, _modules.c.checksum
).where(_modules.c.id == bindparam("id"))
_SELECT_CHUNK = select(
    _chunks.c.seq,
    _chunks.c.first_step,
    _chunks.c.n_steps,
    _chunks.c.first_block,
    _chunks.c.n_blocks,
    _chunks.c.ids,
    _chunks.c.vals,
    _chunks.c.host,
    _chunks.c.checksum,
).where(_chunks.c.seq == bindparam("seq"))
_SELECT_CHUNK_INDEX = select(
    _chunks.c.seq, _chunks.c.first_step, _chunks.c.n_steps, _chunks.c.first_block, _chunks.c.n_blocks
).order_by(_chunks.c.seq)
# The chunk starting last at or before step (index on first_step); whether it
# contains step is checked in Python so a step past the end is one index probe.
# Ties (empty chunks sharing a first_step) resolve to the highest seq, the only
# one that can hold steps.
_SELECT_CHUNK_AT = (
    select(_chunks.c.seq, _chunks.c.first_step, _chunks.c.n_steps)
    .where(_chunks.c.first_step <= bindparam("step"))
    .order_by(_chunks.c.first_step.desc(), _chunks.c.seq.desc())
    .limit(1)
)
_SELECT_CHECKPOINT = select(_checkpoints.c.state, _checkpoints.c.checksum).where(
    _checkpoints.c.chunk_seq == bindparam("seq")
)
_INSERT_VERSIONS_SQLITE = "INSERT INTO page_versions (memory, page, chunk_seq, digest) VALUES (?, ?, ?, ?)"
_INSERT_PAGES_SQLITE = "INSERT INTO pages (digest, data) VALUES (?, ?) ON CONFLICT (digest) DO NOTHING"
_SELECT_PAGE = select(_pages.c.data).where(_pages.c.digest == bindparam("digest"))
# Latest version <= seq of every page of one memory: the GROUP BY walks the
# (memory, page, chunk_seq) primary key once, then one key lookup per page.
_latest = (
    select(_versions.c.page, func.max(_versions.c.chunk_seq).label("chunk_seq"))
    .where(_versions.c.memory == bindparam("memory"), _versions.c.chunk_seq <= bindparam("seq"))
    .group_by(_versions.c.page)
    .subquery("latest")
)
_SELECT_PAGE_TABLE = select(_versions.c.page, _versions.c.digest).join(
    _latest,
    and_(
        _versions.c.memory == bindparam("memory"),
        _versions.c.page == _latest.c.page,
        _versions.c.chunk_seq == _latest.c.chunk_seq,
    ),
)

# Keyframe path (revision 0002): the nearest keyframe at or before seq, then
# the versions after it in chunk order (ix_page_versions_memory_chunk_seq), so
# later versions of a page overwrite earlier ones.
_SELECT_KEYFRAME = (
    select(_keyframes.c.chunk_seq, _keyframes.c.page_map, _keyframes.c.checksum)
    .where(_keyframes.c.memory == bindparam("memory"), _keyframes.c.chunk_seq <= bindparam("seq"))
    .order_by(_keyframes.c.chunk_seq.desc())
    .limit(1)
)
_SELECT_VERSIONS_AFTER = (
    select(_versions.c.page, _versions.c.digest)
    .where(
        _versions.c.memory == bindparam("memory"),
        _versions.c.chunk_seq > bindparam("lo"),
        _versions.c.chunk_seq <= bindparam("seq"),
    )
    .order_by(_versions.c.chunk_seq)
    .with_hint(_versions, "INDEXED BY ix_page_versions_memory_chunk_seq", "sqlite")
)
_DELETE_KEYFRAMES_FROM = delete(_keyframes).where(
    _keyframes.c.memory == bindparam("m"), _keyframes.c.chunk_seq >= bindparam("seq")
)
_SELECT_NEXT_MEMORY = select(func.min(_versions.c.memory)).where(_versions.c.memory > bindparam("after"))
_SELECT_MAX_VERSION_SEQ = select(func.max(_versions.c.chunk_seq)).where(_versions.c.memory == bindparam("memory"))
_SELECT_KEYFRAME_TOPS = select(_keyframes.c.memory, func.max(_keyframes.c.chunk_seq)).group_by(_keyframes.c.memory)
#: Pages of decoded keyframes a store keeps in memory (~100 bytes each): every
#: keyframe of a typical trace, a few of one with gigabytes of memory.
_KEYFRAME_CACHE_PAGES = 1 << 18

# Every blob row in key order, a batch at a time (keyset pagination: memory stays bounded
# whatever the trace's size), for `ttd verify`'s checksum pass.
_SELECT_CHECKPOINTS_AFTER = (
    select(_checkpoints.c.chunk_seq, _checkpoints.c.state, _checkpoints.c.checksum)
    .where(_checkpoints.c.chunk_seq > bindparam("after"))
    .order_by(_checkpoints.c.chunk_seq)
    .limit(bindparam("n"))
)
_SELECT_KEYFRAMES_AFTER = (
    select(_keyframes.c.memory, _keyframes.c.chunk_seq, _keyframes.c.page_map, _keyframes.c.checksum)
    .where(tuple_(_keyframes.c.memory, _keyframes.c.chunk_seq) > tuple_(bindparam("m"), bindparam("s")))
    .order_by(_keyframes.c.memory, _keyframes.c.chunk_seq)
    .limit(bindparam("n"))
)
_SELECT_PAGES_AFTER = (
    select(_pages.c.digest, _pages.c.data)
    .where(_pages.c.digest > bindparam("after"))
    .order_by(_pages.c.digest)
    .limit(bindparam("n"))
)


def _checksum_as(statement: Any, table: Any, how: str) -> Any:
    """The select, or the same with table.checksum read another way: "null" for a trace of a revision
    before 0004 (opened read-only, not upgraded), whose tables have no such column; "blob" on
    SQLite, where a crafted row may hold text that is not UTF-8, which the driver would fail to
    decode (a mismatch, not a database error)."""
    column = table.c.checksum
    if how == "text":
        return statement
    replacement = null() if how == "null" else cast(column, LargeBinary)
    return statement.with_only_columns(
        *(replacement.label("checksum") if c is column else c for c in statement.selected_columns),
        maintain_column_froms=True,
    )


# Untyped columns: no per-row result processing (a seek may fetch thousands of pages)
_SELECT_PAGES = select(type_coerce(_pages.c.digest, NullType()), type_coerce(_pages.c.data, NullType())).where(
    _pages.c.digest.in_(bindparam("digests", expanding=True))
)

_INSERT_FOR_DIALECT = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


@dataclass(frozen=True, slots=True)
class ModuleRow:
    """A recorded module: original bytes for the debugger plus the caller's schedule blob."""

    name: str
    sha256: str
    wasm: bytes
    schedule: bytes


@dataclass(frozen=True, slots=True)
class ChunkRow:
    """One chunk as stored; pass it to TraceStore.verify_chunk() before trusting the blobs."""

    seq: int
    first_step: int
    n_steps: int
    first_block: int
    n_blocks: int
    ids: bytes
    vals: bytes
    host: bytes
    checksum: str


def chunk_checksum(
    seq: int, first_step: int, n_steps: int, first_block: int, n_blocks: int, ids: bytes, vals: bytes, host: bytes
) -> str:
    """Hex sha256 of a chunk row, so a flipped bit or a row mix-up is caught before replay decodes it.

    Hashed: the five integers as little-endian int64, the three blob lengths as
    uint64 (no ambiguity between adjacent blobs), then the blobs.
    """
    h = hashlib.sha256(
        struct.pack("<5q3Q", seq, first_step, n_steps, first_block, n_blocks, len(ids), len(vals), len(host))
    )
    h.update(ids)
    h.update(vals)
    h.update(host)
    return h.hexdigest()


# Checksums of the other blobs a replay trusts (schema revision 0004), in the manner of
# chunk_checksum: a tag naming the kind of row, its key as little-endian int64s and the
# length of each blob as uint64 (a row's bytes cannot be moved to another row or shifted
# between its blobs), then the blobs. alembic/versions/0004_blob_checksums.py carries a copy
# for its backfill (tests check they agree): changing a format needs a new revision.

def module_checksum(module_id: int, name: str, wasm_sha256: str, schedule: bytes) -> str:
    """Hex sha256 of a modules row: its id, name, the sha256 of its original bytes (the
    row's sha256 column, which the reader checks against the bytes: a module of megabytes is
    hashed once, not twice) and its schedule blob."""
    name_bytes = name.encode("utf-8", "surrogatepass")
    digest = bytes.fromhex(wasm_sha256)
    h = hashlib.sha256(b"ttd module\0" + struct.pack("<q3Q", module_id, len(name_bytes), len(digest), len(schedule)))
    h.update(name_bytes)
    h.update(digest)
    h.update(schedule)
    return h.hexdigest()


def checkpoint_checksum(seq: int, state: bytes) -> str:
    """Hex sha256 of a checkpoints row: the chunk it starts and its state blob."""
    h = hashlib.sha256(b"ttd checkpoint\0" + struct.pack("<qQ", seq, len(state)))
    h.update(state)
    return h.hexdigest()


def keyframe_checksum(memory: int, seq: int, page_map: bytes) -> str:
    """Hex sha256 of a page_keyframes row: its memory, its chunk and its page map blob."""
    h = hashlib.sha256(b"ttd keyframe\0" + struct.pack("<qqQ", memory, seq, len(page_map)))
    h.update(page_map)
    return h.hexdigest()


def capture_checksum(seq: int, first_call: int, n_calls: int, events: bytes) -> str:
    """Hex sha256 of a capture_events row (revision 0005): its key, its calls and its blob."""
    h = hashlib.sha256(b"ttd capture\0" + struct.pack("<qqqQ", seq, first_call, n_calls, len(events)))
    h.update(events)
    return h.hexdigest()


def _checksum_matches(stored: object, compute: Callable[..., str], *fields: object) -> bool:
    """Whether a stored checksum is the one of fields; False for fields of the wrong type or
    range, as a crafted row may hold (SQLite keeps any value in any column)."""
    if isinstance(stored, (bytes, memoryview)):  # read as a blob (SQLite)
        try:
            stored = bytes(stored).decode("ascii")
        except UnicodeDecodeError:
            return False
    if not isinstance(stored, str):
        return False
    try:
        return stored == compute(*fields)
    except (TypeError, ValueError, OverflowError, struct.error):
        return False


def _keyframe_row(memory: int, seq: int, table: Mapping[int, bytes]) -> dict[str, Any]:
    page_map = encode_page_map(table)
    return {"memory": memory, "chunk_seq": seq, "page_map": page_map,
            "checksum": keyframe_checksum(memory, seq, page_map)}


@functools.lru_cache(maxsize=8)
def _zeros(size: int) -> bytes:
    return bytes(size)


_alembic_config = alembic_config


def _schema_revisions() -> tuple[str, frozenset[str]]:
    """(head, every revision) of the migrations shipped with this ttd."""
    revs = revisions_in_order()
    return revs[-1], frozenset(revs)


def _sqlite_errorname(exc: BaseException) -> str:
    orig = getattr(exc, "orig", exc)
    return getattr(orig, "sqlite_errorname", "") or ""


def _sqlite_message(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return str(orig)


def _is_corruption(exc: BaseException) -> bool:
    name = _sqlite_errorname(exc)
    return name.startswith("SQLITE_CORRUPT") or name in ("SQLITE_NOTADB", "SQLITE_IOERR_SHORT_READ")


# Failures of the environment rather than of ttd: full disk, I/O error, lock
# held by another process, permissions. Worth a one-line message, not a traceback.
_ENVIRONMENT_ERRORS = ("SQLITE_FULL", "SQLITE_IOERR", "SQLITE_READONLY", "SQLITE_BUSY", "SQLITE_LOCKED",
                       "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_NOLFS")


# PostgreSQL SQLSTATE classes that are the environment's fault: connection,
# resources, operator intervention, authorization, read-only transaction,
# missing database, insufficient privilege.
_PG_ENVIRONMENT_STATES = ("08", "53", "57", "28", "25", "3D", "42501")


def _as_trace_error(exc: BaseException, where: object) -> TraceError | None:
    """The TraceError to report for a database error, or None if it is a bug to let through (e.g. IntegrityError)."""
    orig = getattr(exc, "orig", None)
    if orig is not None and type(orig).__module__.startswith("psycopg"):
        state = getattr(orig, "sqlstate", None)
        if state is None or state.startswith(_PG_ENVIRONMENT_STATES):
            return connection_error(exc, where)
        return None
    if _is_corruption(exc):
        return CorruptTrace(f"{where}: corrupt trace: {_sqlite_message(exc)}")
    if _sqlite_errorname(exc) == "SQLITE_INTERRUPT":
        return TraceError(f"{where}: reading the trace took longer than {STATEMENT_TIMEOUT_S:g} s for one "
                          f"request; stopped (a crafted or damaged file?)")
    if _sqlite_errorname(exc).startswith(_ENVIRONMENT_ERRORS):
        return TraceError(f"{where}: cannot access trace: {_sqlite_message(exc)}")
    return None


def _database_errors(method: Callable[..., Any]) -> Callable[..., Any]:
    """Report corruption as CorruptTrace and environment failures as TraceError; other errors are bugs and pass through."""

    @functools.wraps(method)
    def wrapper(self: TraceStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except (DBAPIError, sqlite3.Error) as exc:
            error = _as_trace_error(exc, self._where)
            if error is None:
                raise
            raise error from exc

    return wrapper


def _check_header(path: Path) -> bool:
    """Classify the file from its first 100 bytes, before SQLite (which would happily create or misread it) sees it.

    True if the header says write-ahead-log mode (ttd never writes one, but a copy may).
    """
    try:
        with path.open("rb") as f:
            head = f.read(100)
    except FileNotFoundError:
        raise NotATrace(f"{path}: no such trace file") from None
    except IsADirectoryError:
        raise NotATrace(f"{path}: is a directory, not a trace file") from None
    except OSError as exc:
        raise TraceError(f"{path}: cannot read trace: {exc.strerror or exc}") from None
    if not head:
        raise NotATrace(f"{path}: empty file, not a ttd trace")
    if not head.startswith(_SQLITE_MAGIC):
        raise NotATrace(f"{path}: not a ttd trace (not an SQLite file)")
    if len(head) < 100:
        raise CorruptTrace(f"{path}: corrupt trace: SQLite header truncated to {len(head)} bytes")
    if int.from_bytes(head[68:72], "big") != SQLITE_APPLICATION_ID:
        raise NotATrace(f"{path}: SQLite database but not a ttd trace")
    return head[18] == 2 or head[19] == 2


def _sidecar(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def _read_only_mode(path: Path, wal: bool) -> bool:
    """Whether a reader must open the file immutable: a WAL-mode file, or any with a -wal
    beside it (SQLite opens a -wal it finds whatever the header says), which SQLite would
    otherwise give a -shm (a write beside the trace, and impossible on read-only media).
    The log must be empty: merging one is a write the user asks for."""
    log = _sidecar(path, "-wal")
    try:
        size = log.stat().st_size
    except FileNotFoundError:
        return wal
    except OSError as exc:
        raise TraceError(f"{log}: cannot read: {exc.strerror or exc}") from None
    if size:
        raise TraceError(f"{path}: its write-ahead log {log.name} holds changes not merged into the trace; "
                         f"ttd does not write to a trace it only reads: if the trace is yours, "
                         f"`ttd recover {path}` merges them")
    return True


def _hot_journal_error(path: Path) -> TraceError:
    return TraceError(f"{path}: an interrupted write left {path.name}-journal beside the trace; ttd does not "
                      f"write to a trace it only reads: if the trace is yours, `ttd recover {path}` rolls "
                      f"that write back")


#: Tables each schema revision has; a trace missing one is corrupt. Revisions
#: not listed here are the current one (every model table).
_REVISION_TABLES = {
    "0001": frozenset(TABLES) - {"page_keyframes", "capture_events"},
    **{rev: frozenset(TABLES) - {"capture_events"} for rev in ("0002", "0003", "0004")},
}
#: Revisions whose modules, checkpoints and page_keyframes have no checksum column (added
#: by 0004). Such a trace opened read-only is read without those checks; upgraded, the
#: migration computes them for the existing rows.
_REVISIONS_WITHOUT_BLOB_CHECKSUMS = frozenset({"0001", "0002", "0003"})


def _writer_version(conn: Connection) -> str | None:
    """The ttd version recorded in trace_info, if it can be read (for error messages only)."""
    try:
        value = conn.execute(select(_info.c.value).where(_info.c.key == "ttd_version")).scalar_one_or_none()
        return str(json.loads(value)) if value is not None else None
    except Exception:
        return None


def _check_schema(conn: Connection, where: object, schema: str | None = None) -> str:
    """The trace's schema revision, after checking this ttd can read it: known, ttd's tables all there.

    On SQLite, before any table is read, every schema object must be one ttd's migrations
    create (schema_objects): nothing stored in a stranger's file runs as SQL.
    """
    objects = None
    if conn.dialect.name == "sqlite":
        objects = check_known_objects(conn.connection.driver_connection, where)
    elif schema is not None:
        check_postgres_objects(conn, schema, where)
    names = set(inspect(conn).get_table_names(schema=schema))
    if "alembic_version" not in names or "trace_info" not in names:
        raise NotATrace(f"{where}: SQLite database but not a ttd trace (no ttd tables)"
                        if schema is None else f"{where}: not a ttd trace (no ttd tables)")
    revisions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    if len(revisions) != 1:
        raise CorruptTrace(f"{where}: corrupt trace: {len(revisions)} schema revisions recorded, expected 1")
    found = revisions[0]
    head, known = _schema_revisions()
    if found not in known:
        raise SchemaTooNew(found, head, where, written_by=_writer_version(conn), ours=ttd.__version__)
    if objects is not None:
        check_revision_objects(objects, found, where)
    missing = sorted(_REVISION_TABLES.get(found, frozenset(TABLES)) - names)
    if missing:
        raise CorruptTrace(f"{where}: corrupt trace: missing tables {', '.join(missing)}")
    return found


def _file_writable(path: Path) -> bool:
    """Whether an upgrade may write this file: write permission on it and its directory (for the journal).

    The mode bits are checked too, because root may write anything: a trace
    someone made read-only with chmod a-w must stay byte-for-byte as it is.
    """
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    directory = path.resolve().parent
    return bool(mode & 0o222) and os.access(path, os.W_OK) and os.access(directory, os.W_OK | os.X_OK)


_migrate = migrate


def recover(path: str | os.PathLike[str]) -> str:
    """Finish what a killed writer left beside a trace file: roll back its -journal, or merge
    a -wal. Only on the user's request (``ttd recover``), never when a trace is opened, and
    never for a journal naming a super-journal, which SQLite would delete afterwards."""
    path = Path(path)
    wal = _check_header(path)
    journal, log = _sidecar(path, "-journal"), _sidecar(path, "-wal")
    has_log = log.exists() and log.stat().st_size > 0
    has_journal = journal.exists() and journal.stat().st_size > 0
    if not has_log and not has_journal:
        return f"{path}: nothing to recover (no interrupted write beside it)"
    refuse_super_journal(path)
    try:
        conn = guarded_connect(sqlite_uri(path, writable=True), writable=True)
        try:
            # Reading the header takes the shared lock, and with it SQLite's rollback.
            conn.execute("PRAGMA schema_version").fetchone()
            if has_log:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                conn.execute("PRAGMA journal_mode = DELETE").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        if _is_corruption(exc):
            raise CorruptTrace(f"{path}: corrupt trace: {exc}") from None
        raise TraceError(f"{path}: cannot recover: {exc}") from None
    what = "merged its write-ahead log" if has_log else "rolled back the interrupted write"
    return f"{path}: {what}; the trace is as of its last commit"


def _remove_with_sidecars(path: Path) -> None:
    # sidecars first: once path is gone another writer may create it, and its -journal
    for p in (*(path.with_name(path.name + s) for s in _SIDECARS), path):
        try:
            p.unlink(missing_ok=True)
        except IsADirectoryError:
            raise TraceError(f"{p}: is a directory") from None


def _upgrade_file(path: Path) -> bool:
    """Migrate a trace file to head on its own short-lived writable connection.

    False when the environment prevents it (locked, read-only medium, disk
    full): the caller then reads the trace as it is. Corruption still raises.
    """
    engine = trace_engine(path, writable=True)
    try:
        with engine.connect() as conn:
            _check_schema(conn, path)
            _migrate(conn)
        return True
    except CorruptTrace as exc:
        raise CorruptTrace(f"{path}: {exc}") from None
    except (DBAPIError, sqlite3.Error) as exc:
        if _is_corruption(exc):
            raise CorruptTrace(f"{path}: corrupt trace: {_sqlite_message(exc)}") from exc
        return False
    finally:
        engine.dispose()


def _upgrade_postgres(location: PostgresTrace) -> bool:
    """Migrate a database trace to head; False if this login may not (e.g. a read-only role)."""
    engine = location.engine(writable=True)
    try:
        with engine.connect() as conn:
            _check_schema(conn, location, schema=location.schema)
            _migrate(conn)
        return True
    except DBAPIError:
        return False
    finally:
        engine.dispose()


class TraceStore:
    """Rows of one trace behind one long-lived connection (use from one thread at a time)."""

    url: str
    path: Path | None
    location: Path | PostgresTrace
    #: Schema revision of the trace as opened (older than head only when it could not be upgraded).
    revision: str
    #: create() of a file: the exclusive flock held until close() (see recording_lock).
    recording_lock: RecordingLock | None = None

    def __init__(
        self,
        engine: Engine,
        conn: Connection,
        location: Path | PostgresTrace,
        writable: bool,
        revision: str | None = None,
    ) -> None:
        """Use create() or open()."""
        self._engine = engine
        self._connection: Connection | None = conn
        self.location = location
        if isinstance(location, PostgresTrace):
            self.path = None
            self.url = f"{location.display_url}#{location.name}"
        else:
            self.path = location
            self.url = f"sqlite:///{location.absolute()}"
        self.writable = writable
        self._where = str(location)
        self.revision = revision or _schema_revisions()[0]
        # Revision 0001 (opened read-only, not upgraded) has no keyframes: page_table() scans.
        self._use_keyframes = "page_keyframes" in _REVISION_TABLES.get(self.revision, frozenset(TABLES))
        #: Whether modules, checkpoints and keyframes carry checksums (revision 0004); before
        #: it (opened read-only, not upgraded) the selects must not name the column.
        self.blob_checksums = self.revision not in _REVISIONS_WITHOUT_BLOB_CHECKSUMS
        how = "null" if not self.blob_checksums else "blob" if engine.dialect.name == "sqlite" else "text"
        self._select_module = _checksum_as(_SELECT_MODULE, _modules, how)
        self._select_checkpoint = _checksum_as(_SELECT_CHECKPOINT, _checkpoints, how)
        self._select_keyframe = _checksum_as(_SELECT_KEYFRAME, _keyframes, how)
        self._select_checkpoints_after = _checksum_as(_SELECT_CHECKPOINTS_AFTER, _checkpoints, how)
        self._select_keyframes_after = _checksum_as(_SELECT_KEYFRAMES_AFTER, _keyframes, how)
        #: Whether the trace can hold a capture's host events (revision 0005)
        self.has_capture_table = "capture_events" in _REVISION_TABLES.get(self.revision, frozenset(TABLES))
        self._select_capture_after = _checksum_as(
            select(_capture.c.seq, _capture.c.first_call, _capture.c.n_calls, _capture.c.events,
                   _capture.c.checksum).where(_capture.c.seq > bindparam("after"))
            .order_by(_capture.c.seq).limit(bindparam("n")),
            _capture, "text" if how == "text" else "blob")
        # Upserts and insert-or-ignore need the dialect's INSERT (SQLite and
        # PostgreSQL spell ON CONFLICT the same way); built once per store.
        dialect_insert = _INSERT_FOR_DIALECT[engine.dialect.name]
        info = dialect_insert(_info)
        self._upsert_info = info.on_conflict_do_update(index_elements=[_info.c.key], set_={"value": info.excluded.value})
        checkpoint = dialect_insert(_checkpoints)
        self._upsert_checkpoint = checkpoint.on_conflict_do_update(
            index_elements=[_checkpoints.c.chunk_seq],
            set_={"state": checkpoint.excluded.state, "checksum": checkpoint.excluded.checksum},
        )
        self._insert_pages = dialect_insert(_pages).on_conflict_do_nothing(index_elements=[_pages.c.digest])
        self._insert_keyframe = dialect_insert(_keyframes).on_conflict_do_nothing(
            index_elements=[_keyframes.c.memory, _keyframes.c.chunk_seq])
        # Digests known to be stored (committed) / inserted in the open batch:
        # lets put_pages skip compressing pages the file already has.
        self._known_pages: set[bytes] = set()
        self._pending_pages: set[bytes] = set()
        # Keyframe upkeep (writers): per memory, the last keyframe position
        # dealt with, and the highest chunk_seq given versions; loaded lazily.
        self._kf_done: dict[int, int] | None = None
        self._kf_top = -1
        self._kf_extra_top: dict[int, int] = {}  # per memory, the last put_keyframe() position
        # (memory, chunk_seq) -> decoded keyframe, most recent last.
        self._kf_cache: dict[tuple[int, int], dict[int, bytes]] = {}
        self._kf_cached_pages = 0

    # -- lifecycle -----------------------------------------------------------

    @classmethod
    def create(cls, path: TraceLocation, *, overwrite: bool = False) -> TraceStore:
        """Create an empty trace with the current schema (built by alembic, in one transaction)."""
        if isinstance(path, PostgresTrace):
            return cls._create_postgres(path, overwrite)
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TraceError(f"{path}: cannot create trace: {exc.strerror or exc}") from None
        # O_EXCL plus an exclusive flock held for the store's life (recording_lock): a file a
        # live writer holds is never replaced, even with overwrite, nor its -journal removed;
        # an empty file nobody holds (a writer killed right after creating it) is replaced.
        lock = create_locked(path, overwrite)
        engine = trace_engine(path, writable=True)
        conn: Connection | None = None
        try:
            conn = engine.connect()
            _migrate(conn)
            store = cls(engine, conn, path, writable=True)
            store.recording_lock = lock
            return store
        except BaseException as exc:
            if conn is not None:
                conn.close()
            engine.dispose()
            try:
                _remove_with_sidecars(path)  # still ours: we hold its lock
            finally:
                lock.close()
            error = _as_trace_error(exc, path) if isinstance(exc, (DBAPIError, sqlite3.Error)) else None
            if error is None:
                raise
            raise error from exc

    @classmethod
    def _create_postgres(cls, location: PostgresTrace, overwrite: bool) -> TraceStore:
        create_schema(location, overwrite=overwrite)
        engine = location.engine(writable=True)
        conn: Connection | None = None
        try:
            conn = engine.connect()
            _migrate(conn)
            return cls(engine, conn, location, writable=True)
        except BaseException as exc:
            if conn is not None:
                conn.close()
            engine.dispose()
            drop_schema(location)
            error = _as_trace_error(exc, location) if isinstance(exc, DBAPIError) else None
            if error is None:
                raise
            raise error from exc

    @classmethod
    def open(cls, path: TraceLocation, *, writable: bool = False, upgrade: bool = True) -> TraceStore:
        """Open an existing trace, read-only unless asked; any problem is a one-line TraceError.

        A trace from an older ttd is migrated to the current schema first when
        it may be written (always when writable; for a read-only open if the
        file is writable and upgrade is true), and otherwise read as it is.
        """
        if isinstance(path, PostgresTrace):
            return cls._open_postgres(path, writable, upgrade)
        path = Path(path)
        wal = _check_header(path)
        head = _schema_revisions()[0]
        tried_upgrade = not upgrade
        for _attempt in range(4):
            immutable = not writable and _read_only_mode(path, wal)
            engine = trace_engine(path, writable=writable, immutable=immutable)
            conn: Connection | None = None
            try:
                conn = engine.connect()
                revision = _check_schema(conn, path)
                if revision != head:
                    if writable:
                        _migrate(conn)
                        revision = head
                    elif not tried_upgrade and _file_writable(path):
                        tried_upgrade = True
                        conn.close()
                        engine.dispose()
                        conn = None
                        _upgrade_file(path)
                        wal = _check_header(path)  # an upgrade leaves the file in rollback-journal mode
                        continue  # reopen read-only and look again
                return cls(engine, conn, path, writable=writable, revision=revision)
            except BaseException as exc:
                if conn is not None:
                    conn.close()
                engine.dispose()
                if not isinstance(exc, (DBAPIError, sqlite3.Error)):
                    raise
                if _sqlite_errorname(exc) == "SQLITE_READONLY_ROLLBACK":
                    raise _hot_journal_error(path) from None
                raise _as_trace_error(exc, path) or TraceError(
                    f"{path}: cannot open trace: {_sqlite_message(exc)}"
                ) from exc
        raise TraceError(f"{path}: cannot open trace: it keeps changing while being opened")

    @classmethod
    def _open_postgres(cls, location: PostgresTrace, writable: bool, upgrade: bool) -> TraceStore:
        require_schema(location)
        head = _schema_revisions()[0]
        tried_upgrade = not upgrade
        for _attempt in range(2):
            engine = location.engine(writable=writable)
            conn: Connection | None = None
            try:
                conn = engine.connect()
                revision = _check_schema(conn, location, schema=location.schema)
                if revision != head:
                    if writable:
                        _migrate(conn)
                        revision = head
                    elif not tried_upgrade:
                        tried_upgrade = True
                        conn.close()
                        engine.dispose()
                        conn = None
                        _upgrade_postgres(location)
                        continue
                return cls(engine, conn, location, writable=writable, revision=revision)
            except BaseException as exc:
                if conn is not None:
                    conn.close()
                engine.dispose()
                if not isinstance(exc, DBAPIError):
                    raise
                raise _as_trace_error(exc, location) or connection_error(exc, location) from exc
        raise AssertionError("unreachable")

    @property
    def _conn(self) -> Connection:
        conn = self._connection
        if conn is None:
            raise ValueError(f"{self._where}: trace store is closed")
        return conn

    def _writing(self) -> Connection:
        if not self.writable:
            raise TraceError(f"{self._where}: trace is open read-only")
        return self._conn

    def _sqlite_batch(self, conn: Connection):
        """The SQLite driver connection, inside the batch's transaction (SQLAlchemy emits
        BEGIN when it begins one: a statement sent past it would commit on its own)."""
        if not conn.in_transaction():
            conn.begin()
        return conn.connection.driver_connection

    @_database_errors
    def commit(self) -> None:
        """Make everything written since the last commit durable, atomically."""
        if not self.writable:
            return
        self._conn.commit()
        self._known_pages |= self._pending_pages
        self._pending_pages.clear()

    def close(self) -> None:
        """Close the file; uncommitted writes are discarded (the with-block commits on success)."""
        conn, self._connection = self._connection, None
        if conn is None:
            return
        self._pending_pages.clear()
        try:
            try:
                if conn.in_transaction():
                    conn.rollback()
            finally:
                conn.close()
        finally:
            try:
                self._engine.dispose()
            finally:
                # only now: closing any descriptor of the file drops SQLite's POSIX locks on it
                if self.recording_lock is not None:
                    self.recording_lock.close()

    def __enter__(self) -> TraceStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is None and self._connection is not None:
                self.commit()
        finally:
            self.close()

    def __repr__(self) -> str:
        state = "closed" if self._connection is None else ("rw" if self.writable else "ro")
        return f"<TraceStore {self.url} {state}>"

    # -- trace_info ----------------------------------------------------------

    @_database_errors
    def set_info(self, **items: Any) -> None:
        """Upsert metadata; values are stored as JSON so new keys need no schema change."""
        if not items:
            return
        rows = [{"key": k, "value": json.dumps(v, separators=(",", ":"))} for k, v in items.items()]
        self._writing().execute(self._upsert_info, rows)

    @_database_errors
    def info(self) -> dict[str, Any]:
        """All metadata, JSON-decoded."""
        out: dict[str, Any] = {}
        for key, value in self._conn.execute(_SELECT_INFO):
            try:
                if not isinstance(key, str) or not isinstance(value, (str, bytes)):
                    raise ValueError  # a crafted file can put any type in any column
                out[key] = json.loads(value)
            except ValueError:
                raise CorruptTrace(f"{self._where}: corrupt trace: trace_info[{key!r}] is not JSON") from None
        return out

    # -- modules -------------------------------------------------------------

    @_database_errors
    def add_module(self, name: str, wasm: bytes, schedule: bytes) -> int:
        """Store a module's original bytes; returns its id (0, 1, ... in insertion order)."""
        conn = self._writing()
        module_id = int(conn.execute(_SELECT_NEXT_MODULE_ID).scalar_one())
        sha256 = hashlib.sha256(wasm).hexdigest()
        conn.execute(
            _INSERT_MODULE,
            {
                "id": module_id,
                "name": name,
                "sha256": sha256,
                "wasm": wasm,
                "schedule": schedule,
                "checksum": module_checksum(module_id, name, sha256, schedule),
            },
        )
        return module_id

    @_database_errors
    def module(self, module_id: int = 0) -> ModuleRow:
        """A stored module, checked: its sha256 is that of its bytes and (revision 0004) its
        checksum covers id, name, bytes and schedule; CorruptTrace if not, MissingRow (a
        CorruptTrace and a KeyError) if there is none with that id."""
        row = self._conn.execute(self._select_module, {"id": module_id}).one_or_none()
        if row is None:
            raise MissingRow(f"{self._where}: incomplete trace: no module {module_id}")
        name, sha256, wasm, schedule = row.name, row.sha256, row.wasm, row.schedule
        if not (isinstance(name, str) and isinstance(sha256, str) and isinstance(wasm, bytes)
                and isinstance(schedule, bytes)):
            raise CorruptTrace(f"{self._where}: corrupt trace: the stored module is malformed")
        if sha256 != hashlib.sha256(wasm).hexdigest() or (
                self.blob_checksums
                and not _checksum_matches(row.checksum, module_checksum, module_id, name, sha256, schedule)):
            raise CorruptTrace(f"{self._where}: corrupt trace: the stored module fails its checksum")
        return ModuleRow(name, sha256, wasm, schedule)

    # -- chunks --------------------------------------------------------------

    @_database_errors
    def add_chunk(
        self,
        seq: int,
        first_step: int,
        n_steps: int,
        first_block: int,
        n_blocks: int,
        ids: bytes,
        vals: bytes,
        host: bytes,
    ) -> None:
        """Queue one chunk (caller-encoded blobs) in the current batch; the store adds its checksum."""
        self._writing().execute(
            _INSERT_CHUNK,
            {
                "seq": seq,
                "first_step": first_step,
                "n_steps": n_steps,
                "first_block": first_block,
                "n_blocks": n_blocks,
                "ids": ids,
                "vals": vals,
                "host": host,
                "checksum": chunk_checksum(seq, first_step, n_steps, first_block, n_blocks, ids, vals, host),
            },
        )

    @_database_errors
    def chunk(self, seq: int) -> ChunkRow:
        """One chunk with all its columns (MissingRow if absent); not verified, see verify_chunk()."""
        row = self._conn.execute(_SELECT_CHUNK, {"seq": seq}).one_or_none()
        if row is None:
            raise MissingRow(f"{self._where}: incomplete trace: no chunk {seq}")
        return ChunkRow(*row)

    @_database_errors
    def chunk_index(self) -> list[tuple[int, int, int, int, int]]:
        """(seq, first_step, n_steps, first_block, n_blocks) of every chunk, by seq: small, so replay loads it once."""
        return [tuple(r) for r in self._conn.execute(_SELECT_CHUNK_INDEX)]  # type: ignore[misc]

    @_database_errors
    def chunk_for_step(self, step: int) -> int | None:
        """Seq of the chunk whose [first_step, first_step + n_steps) holds step, or None."""
        row = self._conn.execute(_SELECT_CHUNK_AT, {"step": step}).one_or_none()
        if row is None or step >= row.first_step + row.n_steps:
            return None
        return int(row.seq)

    def verify_chunk(self, row: ChunkRow) -> bool:
        """True if the row's checksum matches its contents."""
        return row.checksum == chunk_checksum(
            row.seq, row.first_step, row.n_steps, row.first_block, row.n_blocks, row.ids, row.vals, row.host
        )

    # -- a capture's host events (revision 0005) -----------------------------

    @_database_errors
    def add_capture_events(self, seq: int, first_call: int, n_calls: int, events: bytes) -> None:
        """Queue one batch of a capture's import calls (caller-encoded); the store adds its checksum."""
        self._writing().execute(insert(_capture), {
            "seq": seq, "first_call": first_call, "n_calls": n_calls, "events": events,
            "checksum": capture_checksum(seq, first_call, n_calls, events)})

    @_database_errors
    def capture_calls_stored(self) -> int:
        """Import calls in the capture's committed batches (a capture still running, or killed,
        has no total in its info)."""
        if not self.has_capture_table:
            return 0
        n = self._conn.execute(select(func.coalesce(func.sum(_capture.c.n_calls), 0))).scalar_one()
        return n if isinstance(n, int) and n >= 0 else 0

    @_database_errors
    def capture_batches(self, batch: int = 64) -> Iterator[tuple[int, int, int, bytes]]:
        """(seq, first_call, n_calls, events) of every batch, in order, each checked: CorruptTrace
        for a batch that fails its checksum or does not follow the one before."""
        if not self.has_capture_table:
            return
        after, expect_seq, expect_call = -(1 << 31), 0, 0
        while True:
            rows = self._fetch(self._select_capture_after, {"after": after, "n": batch})
            for seq, first_call, n_calls, events, checksum in rows:
                if not (isinstance(events, bytes) and isinstance(n_calls, int)
                        and _checksum_matches(checksum, capture_checksum, seq, first_call, n_calls, events)):
                    raise CorruptTrace(f"{self._where}: corrupt trace: capture batch {seq} fails its checksum")
                if seq != expect_seq or first_call != expect_call or n_calls < 0:
                    raise CorruptTrace(f"{self._where}: corrupt trace: capture batch {seq} is out of order")
                expect_seq, expect_call = seq + 1, first_call + n_calls
                yield seq, first_call, n_calls, events
            if len(rows) < batch:
                return
            after = rows[-1][0]

    @_database_errors
    def delete_capture_events(self) -> None:
        """Drop the capture's events once an expansion has put them into chunks."""
        self._writing().execute(_capture.delete())

    # -- checkpoints ---------------------------------------------------------

    @_database_errors
    def put_checkpoint(self, seq: int, state: bytes) -> None:
        """Store (or replace: the indexer enriches checkpoints after recording) the opaque state at the start of chunk seq."""
        self._writing().execute(
            self._upsert_checkpoint, {"chunk_seq": seq, "state": state, "checksum": checkpoint_checksum(seq, state)}
        )

    @_database_errors
    def checkpoint(self, seq: int) -> bytes | None:
        """The state stored for chunk seq (checked against its checksum: CorruptTrace if it
        fails, from revision 0004 on), or None."""
        row = self._conn.execute(self._select_checkpoint, {"seq": seq}).one_or_none()
        if row is None:
            return None
        state = row.state
        if self.blob_checksums and not (isinstance(state, bytes)
                                        and _checksum_matches(row.checksum, checkpoint_checksum, seq, state)):
            raise CorruptTrace(f"{self._where}: corrupt trace: checkpoint {seq} fails its checksum")
        return state

    # -- memory pages --------------------------------------------------------

    @_database_errors
    def put_pages(self, pages: Mapping[bytes, bytes]) -> None:
        """Store pages by digest (sha256 of the raw page, trusted, not re-hashed); known digests and all-zero pages are skipped."""
        conn = self._writing()
        new: list[bytes] = []
        raws = []
        for digest, raw in pages.items():
            if len(digest) != _DIGEST_LEN:
                raise ValueError(f"page digest must be {_DIGEST_LEN} bytes, got {len(digest)}")
            if digest in self._known_pages or digest in self._pending_pages:
                continue
            if raw == _zeros(len(raw)):  # callers represent zero pages by digest alone
                continue
            new.append(bytes(digest))
            raws.append(raw)
        if not new:
            return
        datas = codec.compress_many(raws)
        if self.path is not None:
            # SQLite: the driver's executemany; a recording stores ~10^5 pages, and
            # SQLAlchemy's per-row parameter processing cost more than their compression
            self._sqlite_batch(conn).executemany(_INSERT_PAGES_SQLITE, zip(new, datas))
        else:
            conn.execute(self._insert_pages, [{"digest": d, "data": b} for d, b in zip(new, datas)])
        self._pending_pages.update(new)

    @_database_errors
    def page(self, digest: bytes, *, max_size: int = MAX_PAGE_SIZE) -> bytes:
        """Raw page content; MissingRow if absent, CorruptTrace if it does not decompress within max_size."""
        data = self._conn.execute(_SELECT_PAGE, {"digest": digest}).scalar_one_or_none()
        if data is None:
            raise MissingRow(f"{self._where}: incomplete trace: no page with digest {bytes(digest).hex()}")
        return codec.decompress(data, max_size)

    @_database_errors
    def pages(self, digests: Iterable[bytes], *, max_size: int = MAX_PAGE_SIZE) -> dict[bytes, bytes]:
        """Raw content of many pages in one query per 500 digests (a seek needs hundreds)."""
        want = list(dict.fromkeys(bytes(d) for d in digests))
        out: dict[bytes, bytes] = {}
        for i in range(0, len(want), 500):
            part = want[i:i + 500]
            if self.path is not None:  # SQLite: the driver's rows as they are (tuples)
                raw = self._conn.connection.driver_connection
                raw.arm()
                rows = raw.execute(f"SELECT digest, data FROM pages WHERE digest IN "
                                   f"({','.join('?' * len(part))})", part).fetchall()
            else:
                rows = self._conn.execute(_SELECT_PAGES, {"digests": part}).fetchall()
            for digest, data in rows:
                if not isinstance(data, (bytes, memoryview)):
                    raise CorruptTrace(f"{self._where}: corrupt trace: a page is not a blob")
                out[bytes(digest)] = codec.decompress(data, max_size)
        missing = [d for d in want if d not in out]
        if missing:
            raise MissingRow(f"{self._where}: incomplete trace: no page with digest {missing[0].hex()}")
        return out

    @_database_errors
    def put_page_versions(self, seq: int, rows: Iterable[tuple[int, int, bytes]]) -> None:
        """Record (memory, page, digest) as the content at the start of chunk seq (only pages that changed).

        Keyframes are kept up to date in the same transaction: once versions
        for a later chunk arrive, every keyframe position before it is
        complete and gets its keyframe; versions for a chunk at or before an
        existing keyframe (out of order) drop the keyframes they invalidate.
        """
        rows = [(int(m), int(p), seq, bytes(d)) for m, p, d in rows]
        if not rows:
            return
        conn = self._writing()
        if self.path is not None:  # SQLite: the driver's executemany (see put_pages)
            self._sqlite_batch(conn).executemany(_INSERT_VERSIONS_SQLITE, rows)
        else:
            conn.execute(_INSERT_VERSION, [{"memory": m, "page": p, "chunk_seq": c, "digest": d}
                                           for m, p, c, d in rows])
        if self._use_keyframes:
            self._update_keyframes(conn, seq, {r[0] for r in rows})

    def _load_keyframe_state(self, conn: Connection) -> dict[int, int]:
        """Per memory, the last keyframe position dealt with; and the highest versioned chunk_seq."""
        done: dict[int, int] = {int(m): int(k) for m, k in conn.execute(_SELECT_KEYFRAME_TOPS)}
        after: int | None = -1  # memory indexes start at 0
        while True:  # distinct memories by index probes: a handful, however many versions
            after = conn.execute(_SELECT_NEXT_MEMORY, {"after": after}).scalar()
            if after is None:
                break
            done.setdefault(int(after), 0)
            top = conn.execute(_SELECT_MAX_VERSION_SEQ, {"memory": after}).scalar()
            self._kf_top = max(self._kf_top, int(top))
        return done

    def _update_keyframes(self, conn: Connection, seq: int, memories: set[int]) -> None:
        done = self._kf_done
        if done is None:
            # Loaded after this call's insert: count its rows as already there.
            done = self._kf_done = self._load_keyframe_state(conn)
        for m in memories:
            done.setdefault(m, 0)
            if seq <= done[m] or seq <= self._kf_extra_top.get(m, -1):
                self._kf_extra_top.pop(m, None)
                conn.execute(_DELETE_KEYFRAMES_FROM, {"m": m, "seq": seq})
                done[m] = max(0, (seq - 1) // KEYFRAME_INTERVAL * KEYFRAME_INTERVAL)
                for key in [k for k in self._kf_cache if k[0] == m and k[1] >= seq]:
                    self._kf_cached_pages -= len(self._kf_cache.pop(key))
        self._kf_top = max(self._kf_top, seq)
        for m in sorted(done):
            k = done[m] + KEYFRAME_INTERVAL
            while k < self._kf_top:
                table = self._page_table(conn, k, m)
                if table:
                    conn.execute(self._insert_keyframe, _keyframe_row(m, k, table))
                    self._cache_keyframe(m, k, table)
                done[m] = k
                k += KEYFRAME_INTERVAL

    @_database_errors
    def put_keyframe(self, memory: int, seq: int, table: Mapping[int, bytes]) -> None:
        """A keyframe at `seq` besides the regular ones, from a writer that tracked the page
        table itself: one put after many versions (a program that rewrites most of its memory
        between chunks) bounds what a seek reads by the table's size, not 64 chunks of versions.
        `table` must be page_table(seq, memory), versions of `seq` included."""
        if not self._use_keyframes or not table:
            return
        conn = self._writing()
        conn.execute(self._insert_keyframe, _keyframe_row(memory, seq, table))
        self._kf_extra_top[memory] = max(seq, self._kf_extra_top.get(memory, -1))
        self._cache_keyframe(memory, seq, dict(table))

    @_database_errors
    def rebuild_keyframes(self) -> int:
        """Drop and rebuild every keyframe from page_versions (after a bulk copy); returns how many were written."""
        conn = self._writing()
        if not self._use_keyframes:
            raise TraceError(f"{self._where}: schema revision {self.revision!r} has no keyframes")
        conn.execute(delete(_keyframes))
        self._kf_cache.clear()
        self._kf_cached_pages = 0
        self._kf_top = -1
        self._kf_done = done = self._load_keyframe_state(conn)
        for m in done:
            done[m] = 0
        if self._kf_top < 0:
            return 0
        self._update_keyframes(conn, self._kf_top, set())
        return int(conn.execute(select(func.count()).select_from(_keyframes)).scalar_one())

    def _cache_keyframe(self, memory: int, seq: int, table: dict[int, bytes]) -> None:
        cache = self._kf_cache
        old = cache.pop((memory, seq), None)
        if old is not None:
            self._kf_cached_pages -= len(old)
        cache[(memory, seq)] = table
        self._kf_cached_pages += len(table)
        while self._kf_cached_pages > _KEYFRAME_CACHE_PAGES and len(cache) > 1:
            self._kf_cached_pages -= len(cache.pop(next(iter(cache))))

    def _page_table(self, conn: Connection, seq: int, memory: int) -> dict[int, bytes]:
        if not self._use_keyframes:
            return {int(page): digest for page, digest in conn.execute(_SELECT_PAGE_TABLE, {"memory": memory, "seq": seq})}
        row = conn.execute(self._select_keyframe, {"memory": memory, "seq": seq}).one_or_none()
        if row is None:
            out: dict[int, bytes] = {}
            lo = -(1 << 31)  # below any chunk_seq; fits PostgreSQL's INTEGER
        else:
            lo = int(row.chunk_seq)
            base = self._kf_cache.get((memory, lo))
            if base is None:
                if self.blob_checksums and not (
                        isinstance(row.page_map, bytes)
                        and _checksum_matches(row.checksum, keyframe_checksum, memory, lo, row.page_map)):
                    raise CorruptTrace(f"{self._where}: corrupt trace: the page keyframe of memory {memory} "
                                       f"at chunk {lo} fails its checksum")
                base = decode_page_map(row.page_map, self._where)
            self._cache_keyframe(memory, lo, base)
            out = dict(base)
        # Rows in chunk order: a later version of a page replaces an earlier one.
        out.update(conn.execute(_SELECT_VERSIONS_AFTER, {"memory": memory, "lo": lo, "seq": seq}).fetchall())
        return out

    @_database_errors
    def page_table(self, seq: int, memory: int) -> dict[int, bytes]:
        """page -> digest as of the start of chunk seq: each page's latest version with chunk_seq <= seq.

        The nearest keyframe at or before seq plus the versions after it, so
        the cost is bounded by the keyframe interval, not the trace length.
        """
        return self._page_table(self._conn, seq, memory)

    # -- checking every blob (ttd verify) --------------------------------------

    @_database_errors
    def _fetch(self, statement: Any, params: Mapping[str, Any]) -> list[tuple]:
        return [tuple(r) for r in self._conn.execute(statement, dict(params))]

    @_database_errors
    def _count(self, table: Any) -> int:
        return int(self._conn.execute(select(func.count()).select_from(table)).scalar_one())

    def iter_pages(self, batch: int = 256) -> Iterator[tuple[Any, Any]]:
        """Every page row as (digest, data as stored: zstd), in digest order, `batch` rows per
        query, so checking them all holds one batch in memory. Nothing is checked here (the
        caller decompresses and hashes); rows whose digest is not a non-empty blob are not
        visited: compare their number with page_count()."""
        after: Any = b""
        while True:
            rows = self._fetch(_SELECT_PAGES_AFTER, {"after": after, "n": batch})
            yield from rows
            if len(rows) < batch:
                return
            after = rows[-1][0]

    def blobs_without_checksums(self) -> tuple[str, ...]:
        """What this trace's revision stores without a checksum (read-only opens of revisions
        before 0004): nothing can check those blobs."""
        if self.blob_checksums:
            return ()
        kinds = ("the module's schedule", "the checkpoints")
        return kinds + ("the page-table keyframes",) if self._use_keyframes else kinds

    def page_count(self) -> int:
        """Rows of the pages table (to compare with what iter_pages() visited)."""
        return self._count(_pages)

    def checksum_failures(self, batch: int = 256) -> Iterator[str]:
        """One line per blob row that fails its checksum: the module (also when its sha256 is
        not that of its bytes), each checkpoint, each page keyframe; and rows the walk cannot
        reach by their key (a crafted key). Reads `batch` rows at a time. A trace of a
        revision before 0004 (see blob_checksums) has a checksum only for the module's bytes."""
        for (module_id,) in self._fetch(select(_modules.c.id).order_by(_modules.c.id), {}):
            try:
                self.module(module_id)
            except CorruptTrace:
                yield f"module {module_id} fails its checksum" if module_id else "the module fails its checksum"
        if not self.blob_checksums:
            return
        # keys start below any chunk or memory number ttd writes, within PostgreSQL's INTEGER
        seen, after = 0, -(1 << 31)
        while True:
            rows = self._fetch(self._select_checkpoints_after, {"after": after, "n": batch})
            for seq, state, checksum in rows:
                if not (isinstance(state, bytes) and _checksum_matches(checksum, checkpoint_checksum, seq, state)):
                    yield f"checkpoint {seq} fails its checksum"
            seen += len(rows)
            if len(rows) < batch:
                break
            after = rows[-1][0]
        total = self._count(_checkpoints)
        if total != seen:
            yield f"{total - seen} checkpoints have a key that is not a chunk number"
        if not self._use_keyframes:
            return
        seen, after_m, after_s = 0, -(1 << 31), -(1 << 31)
        while True:
            rows = self._fetch(self._select_keyframes_after, {"m": after_m, "s": after_s, "n": batch})
            for memory, seq, page_map, checksum in rows:
                if not (isinstance(page_map, bytes)
                        and _checksum_matches(checksum, keyframe_checksum, memory, seq, page_map)):
                    yield f"the page keyframe of memory {memory} at chunk {seq} fails its checksum"
            seen += len(rows)
            if len(rows) < batch:
                break
            after_m, after_s = rows[-1][0], rows[-1][1]
        total = self._count(_keyframes)
        if total != seen:
            yield f"{total - seen} page keyframes have a key that is not a memory and chunk number"

    @_database_errors
    def size_bytes(self) -> int | None:
        """Bytes the trace occupies: the file, or the schema's tables and indexes in PostgreSQL."""
        if self.path is not None:
            try:
                return self.path.stat().st_size
            except OSError:
                return None
        assert isinstance(self.location, PostgresTrace)
        size = self._conn.execute(
            text(
                "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_catalog.pg_class c "
                "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :s AND c.relkind = 'r'"
            ),
            {"s": self.location.schema},
        ).scalar()
        return int(size) if size is not None else None
