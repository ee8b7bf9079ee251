"""ttd's schema migrations (repo-level ``alembic/``): where they are, their order, running them."""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection

import ttd
from ttd.store.errors import CorruptTrace, TraceError

#: alembic's script directory (repo-level ``alembic/``), next to the ttd package.
ALEMBIC_DIR = Path(ttd.__file__).resolve().parent.parent / "alembic"


def alembic_config() -> Config:
    cfg = Config()
    # ConfigParser interpolation: a literal '%' in the path must be doubled.
    cfg.set_main_option("script_location", str(ALEMBIC_DIR).replace("%", "%%"))
    return cfg


@functools.cache
def revisions_in_order() -> tuple[str, ...]:
    """Every revision shipped with this ttd, oldest first (the last is head)."""
    if not ALEMBIC_DIR.is_dir():
        raise TraceError(f"ttd installation is missing its schema migrations ({ALEMBIC_DIR})")
    script = ScriptDirectory.from_config(alembic_config())
    revs = tuple(s.revision for s in reversed(list(script.walk_revisions())))
    assert revs, "alembic/versions has no revisions"
    return revs


def migrate(conn: Connection, target: str = "head") -> None:
    """Bring the schema to target in one transaction on conn (a no-op if there); committed on success."""
    if conn.in_transaction():
        conn.commit()
    try:
        with conn.begin():
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, target)
    except CommandError as exc:  # e.g. alembic_version's rows do not say what its table holds
        raise CorruptTrace(f"corrupt trace: its schema cannot be upgraded: {exc}") from None
