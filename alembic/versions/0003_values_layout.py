"""Chunk values may be stored in byte planes, as trace_info["values_layout"] says.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21

No table changes. A trace recorded at this revision stores each chunk's values as byte
planes of 4-byte words before compressing them (trace_info["values_layout"] = "planes4");
one upgraded from an older revision keeps its values as recorded (no "values_layout":
"bytes"). The revision exists so that an older ttd, which would read planes as values,
refuses these traces instead of replaying garbage.
"""
from typing import Sequence, Union

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: Union[str, Sequence[str], None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Nothing to change: existing chunks stay as they are, and say so by not naming a layout."""


def downgrade() -> None:
    """Nothing to undo (a trace with planes cannot go back; ttd never downgrades)."""
