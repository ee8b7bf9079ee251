"""Checksums for the module, its schedule, the checkpoints and the page-table keyframes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04

Adds a nullable ``checksum`` Text column to modules, checkpoints and page_keyframes
(a plain ALTER TABLE ADD COLUMN: no table is copied, no existing row rewritten by the
schema change), then computes the checksums of the rows already there. Chunks have had a
checksum since 0001 and pages are named by the sha256 of their content, so from this
revision every blob a replay trusts is covered.

Self-contained like 0002: the checksum formats are written out here (they must equal
ttd.store.trace_store's module_checksum, checkpoint_checksum and keyframe_checksum, which
tests check), so this revision keeps producing what it always did.

The backfill does not bless damage it can see: a module whose sha256 is not that of its
bytes, or a row whose columns do not have the types ttd writes, keeps a NULL checksum,
which ttd reads as a failed check.
"""
import hashlib
import struct
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: Union[str, Sequence[str], None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

#: Rows read per statement: bounds memory whatever the trace's size.
BATCH = 256
#: Below any chunk or memory number ttd writes, and within PostgreSQL's INTEGER.
_MIN = -(1 << 31)


def module_checksum(module_id: int, name: str, wasm_sha256: str, schedule: bytes) -> str:
    name_bytes = name.encode("utf-8", "surrogatepass")
    digest = bytes.fromhex(wasm_sha256)
    h = hashlib.sha256(b"ttd module\0" + struct.pack("<q3Q", module_id, len(name_bytes), len(digest), len(schedule)))
    h.update(name_bytes)
    h.update(digest)
    h.update(schedule)
    return h.hexdigest()


def checkpoint_checksum(seq: int, state: bytes) -> str:
    h = hashlib.sha256(b"ttd checkpoint\0" + struct.pack("<qQ", seq, len(state)))
    h.update(state)
    return h.hexdigest()


def keyframe_checksum(memory: int, seq: int, page_map: bytes) -> str:
    h = hashlib.sha256(b"ttd keyframe\0" + struct.pack("<qqQ", memory, seq, len(page_map)))
    h.update(page_map)
    return h.hexdigest()


def _or_none(compute, *fields):
    """The checksum, or None for a row whose fields ttd would never have written."""
    try:
        return compute(*fields)
    except (TypeError, ValueError, OverflowError, struct.error):
        return None


_modules = sa.table("modules", sa.column("id"), sa.column("name"), sa.column("sha256"), sa.column("wasm"),
                    sa.column("schedule"), sa.column("checksum"))
_checkpoints = sa.table("checkpoints", sa.column("chunk_seq"), sa.column("state"), sa.column("checksum"))
_keyframes = sa.table("page_keyframes", sa.column("memory"), sa.column("chunk_seq"), sa.column("page_map"),
                      sa.column("checksum"))


def _backfill_modules(bind: sa.engine.Connection) -> None:
    ids = bind.execute(sa.select(_modules.c.id).order_by(_modules.c.id)).scalars().all()
    for module_id in ids:  # one at a time: a module may be megabytes
        row = bind.execute(
            sa.select(_modules.c.name, _modules.c.sha256, _modules.c.wasm, _modules.c.schedule)
            .where(_modules.c.id == module_id)
        ).one()
        name, sha256, wasm, schedule = row
        if not (isinstance(name, str) and isinstance(wasm, bytes) and isinstance(schedule, bytes)
                and sha256 == hashlib.sha256(wasm).hexdigest()):
            continue
        checksum = _or_none(module_checksum, module_id, name, sha256, schedule)
        if checksum is not None:
            bind.execute(sa.update(_modules).where(_modules.c.id == module_id).values(checksum=checksum))


def _backfill_checkpoints(bind: sa.engine.Connection) -> None:
    after = _MIN
    while True:
        rows = bind.execute(
            sa.select(_checkpoints.c.chunk_seq, _checkpoints.c.state)
            .where(_checkpoints.c.chunk_seq > after)
            .order_by(_checkpoints.c.chunk_seq)
            .limit(BATCH)
        ).all()
        updates = [{"k": seq, "c": _or_none(checkpoint_checksum, seq, state)} for seq, state in rows
                   if isinstance(state, bytes)]
        updates = [u for u in updates if u["c"] is not None]
        if updates:
            bind.execute(
                sa.update(_checkpoints).where(_checkpoints.c.chunk_seq == sa.bindparam("k"))
                .values(checksum=sa.bindparam("c")),
                updates,
            )
        if len(rows) < BATCH:
            return
        after = rows[-1][0]


def _backfill_keyframes(bind: sa.engine.Connection) -> None:
    after_m, after_s = _MIN, _MIN
    key = sa.tuple_(_keyframes.c.memory, _keyframes.c.chunk_seq)
    while True:
        rows = bind.execute(
            sa.select(_keyframes.c.memory, _keyframes.c.chunk_seq, _keyframes.c.page_map)
            .where(key > sa.tuple_(sa.literal(after_m), sa.literal(after_s)))
            .order_by(_keyframes.c.memory, _keyframes.c.chunk_seq)
            .limit(BATCH)
        ).all()
        updates = [{"m": m, "k": seq, "c": _or_none(keyframe_checksum, m, seq, page_map)}
                   for m, seq, page_map in rows if isinstance(page_map, bytes)]
        updates = [u for u in updates if u["c"] is not None]
        if updates:
            bind.execute(
                sa.update(_keyframes)
                .where(_keyframes.c.memory == sa.bindparam("m"), _keyframes.c.chunk_seq == sa.bindparam("k"))
                .values(checksum=sa.bindparam("c")),
                updates,
            )
        if len(rows) < BATCH:
            return
        after_m, after_s = rows[-1][0], rows[-1][1]


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column("modules", sa.Column("checksum", sa.Text(), nullable=True))
    op.add_column("checkpoints", sa.Column("checksum", sa.Text(), nullable=True))
    op.add_column("page_keyframes", sa.Column("checksum", sa.Text(), nullable=True))
    if not op.get_context().as_sql:  # offline (--sql) scripts have no rows to backfill
        bind = op.get_bind()
        _backfill_modules(bind)
        _backfill_checkpoints(bind)
        _backfill_keyframes(bind)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_column("page_keyframes", "checksum")
    op.drop_column("checkpoints", "checksum")
    op.drop_column("modules", "checksum")
