"""Initial trace schema.

Revision ID: 0001
Revises:
Create Date: 2025-11-21

Migrations run inside the caller's transaction on the trace file (see
ttd/store/trace_store.py). Keep them self-contained: do not import ttd models,
which describe only the newest schema.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# "TTD1": marks the SQLite header so ttd recognises its files from 100 bytes.
# Must equal ttd.store.models.SQLITE_APPLICATION_ID (checked by tests).
SQLITE_APPLICATION_ID = 0x54544431


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "trace_info",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_trace_info")),
    )
    op.create_table(
        "modules",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("wasm", sa.LargeBinary(), nullable=False),
        sa.Column("schedule", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_modules")),
    )
    op.create_table(
        "chunks",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("first_step", sa.BigInteger(), nullable=False),
        sa.Column("n_steps", sa.BigInteger(), nullable=False),
        sa.Column("first_block", sa.BigInteger(), nullable=False),
        sa.Column("n_blocks", sa.BigInteger(), nullable=False),
        sa.Column("ids", sa.LargeBinary(), nullable=False),
        sa.Column("vals", sa.LargeBinary(), nullable=False),
        sa.Column("host", sa.LargeBinary(), nullable=False),
        sa.Column("checksum", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_chunks")),
    )
    op.create_index("ix_chunks_first_step", "chunks", ["first_step"], unique=False)
    op.create_table(
        "checkpoints",
        sa.Column("chunk_seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("state", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("chunk_seq", name=op.f("pk_checkpoints")),
    )
    op.create_table(
        "pages",
        sa.Column("digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_pages")),
    )
    op.create_table(
        "page_versions",
        sa.Column("memory", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("page", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("chunk_seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("digest", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("memory", "page", "chunk_seq", name=op.f("pk_page_versions")),
        sqlite_with_rowid=False,
    )
    if op.get_context().dialect.name == "sqlite":
        # A header field, written with the rest of this transaction.
        op.execute(f"PRAGMA application_id = {SQLITE_APPLICATION_ID}")


def downgrade() -> None:
    """Downgrade schema."""
    if op.get_context().dialect.name == "sqlite":
        op.execute("PRAGMA application_id = 0")
    op.drop_table("page_versions")
    op.drop_table("pages")
    op.drop_table("checkpoints")
    op.drop_index("ix_chunks_first_step", table_name="chunks")
    op.drop_table("chunks")
    op.drop_table("modules")
    op.drop_table("trace_info")
