"""SQLAlchemy models of a trace file (schema revision "0005").

These models are the source of truth that ``alembic revision --autogenerate``
diffs against; the migration in ``alembic/versions`` is what actually builds a
file. Only portable types are used (Text, Integer, BigInteger, LargeBinary) so
the same schema can live in PostgreSQL later. No foreign keys: the store keeps
opaque rows, and e.g. page_versions may name the all-zero page, which by
design has no row in ``pages``.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, MetaData, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

#: Written to the SQLite header (PRAGMA application_id) by migration 0001 so a
#: trace can be told from any other SQLite file by reading 100 bytes. "TTD1".
SQLITE_APPLICATION_ID = 0x54544431

#: Deterministic constraint names, so later migrations (and PostgreSQL) can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TraceInfo(Base):
    """Free-form metadata; values are JSON text so new keys need no migration."""

    __tablename__ = "trace_info"

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)


class Module(Base):
    """Original module bytes (what LLDB is served) plus an opaque schedule blob.

    sha256 is that of ``wasm``; checksum (revision 0004) is trace_store.module_checksum of
    id, name, sha256 (so the bytes, through their hash) and schedule. The checksum columns are nullable only because SQLite adds
    a column that way without rewriting the table; the 0004 upgrade fills them, and the
    store reads a NULL as a failed check.
    """

    __tablename__ = "modules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    sha256: Mapped[str] = mapped_column(Text, nullable=False)
    wasm: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    schedule: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    checksum: Mapped[str | None] = mapped_column(Text, nullable=True)


class Chunk(Base):
    """One recorded chunk: caller-encoded blobs plus a store-computed checksum."""

    __tablename__ = "chunks"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    first_step: Mapped[int] = mapped_column(BigInteger, nullable=False)
    n_steps: Mapped[int] = mapped_column(BigInteger, nullable=False)
    first_block: Mapped[int] = mapped_column(BigInteger, nullable=False)
    n_blocks: Mapped[int] = mapped_column(BigInteger, nullable=False)
    ids: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    vals: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    host: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    checksum: Mapped[str] = mapped_column(Text, nullable=False)

    __table_args__ = (Index("ix_chunks_first_step", "first_step"),)


class Checkpoint(Base):
    """Opaque state at the start of chunk ``chunk_seq``; checksum: trace_store.checkpoint_checksum (revision 0004)."""

    __tablename__ = "checkpoints"

    chunk_seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    state: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    checksum: Mapped[str | None] = mapped_column(Text, nullable=True)


class Page(Base):
    """Content-addressed memory page: digest = sha256(raw), data = zstd(raw)."""

    __tablename__ = "pages"

    digest: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class PageVersion(Base):
    """Digest of (memory, page) as of the start of chunk_seq; only rows where it changed."""

    __tablename__ = "page_versions"

    memory: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    page: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    chunk_seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    digest: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)

    # Small rows looked up by their key: the clustered primary key is the index
    # a per-page lookup walks (ignored by other dialects). The (memory,
    # chunk_seq) index (revision 0002) finds the versions between a keyframe
    # and a seek target without touching the rest of the trace.
    __table_args__ = (
        Index("ix_page_versions_memory_chunk_seq", "memory", "chunk_seq"),
        {"sqlite_with_rowid": False},
    )


class PageKeyframe(Base):
    """Complete page -> digest map of one memory as of the start of chunk_seq (revision 0002).

    Written by the store every KEYFRAME_INTERVAL chunks so page_table(seq) is
    one keyframe plus at most that many chunks of page_versions, whatever the
    trace length. Derived data: a trace without keyframes (an older schema
    opened read-only) is still complete.
    """

    __tablename__ = "page_keyframes"

    memory: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    chunk_seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    #: codec.compress of: uint64 count n, n int64 page numbers, n 32-byte digests (little-endian).
    page_map: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    #: trace_store.keyframe_checksum of memory, chunk_seq and page_map (revision 0004).
    checksum: Mapped[str | None] = mapped_column(Text, nullable=True)


class CaptureEvents(Base):
    """A batch of a capture's import calls (revision 0005): calls first_call ..
    first_call + n_calls - 1, each its import, results and the bytes the host wrote, as
    codec.compress(codec.pack(...)); checksum: trace_store.capture_checksum."""

    __tablename__ = "capture_events"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    first_call: Mapped[int] = mapped_column(BigInteger, nullable=False)
    n_calls: Mapped[int] = mapped_column(BigInteger, nullable=False)
    events: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    checksum: Mapped[str] = mapped_column(Text, nullable=False)


#: Tables a file must have to be read as a trace of this schema.
TABLES = tuple(sorted(Base.metadata.tables))
