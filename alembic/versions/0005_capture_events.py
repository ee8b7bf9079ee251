"""The capture's host events: a trace may be a capture of a run, expanded later.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04

`ttd record --capture-only` runs the original module and stores only what re-executing it
cannot reproduce: each import call's results and the bytes the host wrote (batches of calls
in ``capture_events``), the outcome, final hashes. `ttd expand` rebuilds the opcode-level
history (chunks, checkpoints, pages) from them. A trace recorded before this revision has
no capture and is complete: the upgrade only adds the empty table.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: Union[str, Sequence[str], None] = "0004"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "capture_events",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("first_call", sa.BigInteger(), nullable=False),
        sa.Column("n_calls", sa.BigInteger(), nullable=False),
        sa.Column("events", sa.LargeBinary(), nullable=False),
        sa.Column("checksum", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_capture_events")),
    )


def downgrade() -> None:
    op.drop_table("capture_events")
