"""Page-table keyframes: page_table(seq) no longer scans the whole trace.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-02

Adds page_keyframes (the complete page -> digest map of each memory every 64
chunks) and an index on page_versions(memory, chunk_seq), then backfills the
keyframes of an existing trace. Self-contained like 0001: the blob layout is
written out here, not imported, so this revision keeps producing what it
always did even if ttd's store changes later.
"""
import struct
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

from ttd.store.codec import compress  # a plain zstd frame with its size: stable format

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: Union[str, Sequence[str], None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

#: Must equal ttd.store.keyframes.KEYFRAME_INTERVAL (checked by tests).
KEYFRAME_INTERVAL = 64


def _encode(table: dict) -> bytes:
    pages = sorted(table)
    return compress(struct.pack(f"<Q{len(pages)}q", len(pages), *pages) + b"".join(bytes(table[p]) for p in pages))


def _backfill(bind: sa.engine.Connection) -> None:
    """One keyframe per memory at every multiple of the interval below the last chunk_seq, empty maps skipped.

    The same rule the store applies while recording, so an upgraded trace and
    a freshly recorded one hold identical keyframes.
    """
    versions = sa.table(
        "page_versions", sa.column("memory"), sa.column("page"), sa.column("chunk_seq"), sa.column("digest")
    )
    keyframes = sa.table("page_keyframes", sa.column("memory"), sa.column("chunk_seq"), sa.column("page_map"))
    top = bind.execute(sa.select(sa.func.max(versions.c.chunk_seq))).scalar()
    if top is None:
        return
    memories = bind.execute(sa.select(versions.c.memory).distinct().order_by(versions.c.memory)).scalars().all()
    for memory in memories:
        table: dict = {}
        rows = bind.execute(
            sa.select(versions.c.page, versions.c.chunk_seq, versions.c.digest)
            .where(versions.c.memory == memory)
            .order_by(versions.c.chunk_seq)
        )
        k = KEYFRAME_INTERVAL
        out = []

        def emit_upto(limit: int) -> None:
            nonlocal k
            while k < top and k < limit:
                if table:
                    out.append({"memory": memory, "chunk_seq": k, "page_map": _encode(table)})
                k += KEYFRAME_INTERVAL

        for page, chunk_seq, digest in rows:
            emit_upto(chunk_seq)  # keyframe k holds versions with chunk_seq <= k
            table[page] = bytes(digest)
            if len(out) >= 16:
                bind.execute(sa.insert(keyframes), out)
                out.clear()
        emit_upto(top)
        if out:
            bind.execute(sa.insert(keyframes), out)


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "page_keyframes",
        sa.Column("memory", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("chunk_seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("page_map", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("memory", "chunk_seq", name=op.f("pk_page_keyframes")),
    )
    op.create_index(
        "ix_page_versions_memory_chunk_seq", "page_versions", ["memory", "chunk_seq"], unique=False
    )
    if not op.get_context().as_sql:  # offline (--sql) scripts have no rows to backfill
        _backfill(op.get_bind())


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_page_versions_memory_chunk_seq", table_name="page_versions")
    op.drop_table("page_keyframes")
