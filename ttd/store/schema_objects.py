"""A trace file's schema may hold exactly what ttd's migrations create, nothing else.

Triggers, views, generated columns, CHECK constraints, virtual tables and expression or
partial indexes are all SQL that SQLite runs on the reader's behalf; a stranger's trace
could carry any of them (a trigger fired by an upgrade, a generated column that takes
minutes per row). So before any statement reads a table, every object in sqlite_master
is compared with what the migrations build, as SQLite stores it: same type, name, table
and (whitespace aside) the same SQL text. The expected objects come from running the
migrations, revision by revision, on an empty in-memory database once per process, so they
cannot drift from alembic/versions.
"""

from __future__ import annotations

import functools
import re
import sqlite3

from sqlalchemy import create_engine
from sqlalchemy.pool import StaticPool

from ttd.store.errors import CorruptTrace, NotATrace
from ttd.store.migrations import migrate, revisions_in_order

__all__ = ["check_known_objects", "check_revision_objects", "expected_objects"]

#: (type, table, normalised SQL) of one schema object.
Definition = tuple[str, str, str | None]

_SPACE = re.compile(r"\s*([(),])\s*|\s+")
#: The schema check reads this many rows of sqlite_master at most (ttd's schema has ~16).
MAX_SCHEMA_OBJECTS = 256
#: Seconds the schema check may take, however the file is built.
CHECK_BUDGET_S = 5.0


def normalize(sql: str | None) -> str | None:
    """SQL text with whitespace runs collapsed and none around parentheses and commas."""
    if sql is None:
        return None
    return _SPACE.sub(lambda m: m.group(1) or " ", sql).strip()


@functools.cache
def expected_objects() -> dict[str, dict[str, Definition]]:
    """revision -> object name -> definition, as the migrations leave an empty database."""
    from ttd.store.engine import use_sqlalchemy_transactions

    raw = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    engine = create_engine("sqlite://", creator=lambda: raw, poolclass=StaticPool)
    use_sqlalchemy_transactions(engine)
    out: dict[str, dict[str, Definition]] = {}
    try:
        with engine.connect() as conn:
            for rev in revisions_in_order():
                migrate(conn, rev)
                out[rev] = read_objects(raw, "ttd's migrations")
    finally:
        engine.dispose()
        raw.close()
    return out


@functools.cache
def _any_revision() -> dict[str, frozenset[Definition]]:
    names: dict[str, set[Definition]] = {}
    for objects in expected_objects().values():
        for name, definition in objects.items():
            names.setdefault(name, set()).add(definition)
    return {name: frozenset(defs) for name, defs in names.items()}


def _unexpected(where: object, name: str, definition: Definition, changed: bool) -> NotATrace:
    kind = definition[0] if definition[0] in ("table", "index", "view", "trigger") else "object"
    if definition[2] is not None and definition[2].upper().startswith("CREATE VIRTUAL TABLE"):
        kind = "virtual table"
    what = f"definition of {kind}" if changed else kind
    return NotATrace(f"{where}: not a ttd trace: unexpected {what} {name!r}")


def read_objects(conn: sqlite3.Connection, where: object) -> dict[str, Definition]:
    """sqlite_master, bounded: at most MAX_SCHEMA_OBJECTS rows, read within CHECK_BUDGET_S."""
    arm = getattr(conn, "arm", None)
    if arm is not None:
        arm(CHECK_BUDGET_S)
    rows = conn.execute(f"SELECT type, name, tbl_name, sql FROM sqlite_master LIMIT {MAX_SCHEMA_OBJECTS + 1}"
                        ).fetchall()
    if len(rows) > MAX_SCHEMA_OBJECTS:
        raise NotATrace(f"{where}: not a ttd trace: more than {MAX_SCHEMA_OBJECTS} schema objects")
    out: dict[str, Definition] = {}
    for type_, name, tbl, sql in rows:
        if not isinstance(name, str) or not isinstance(type_, str) or not isinstance(sql, (str, type(None))):
            raise CorruptTrace(f"{where}: corrupt trace: malformed schema table")
        out[name] = (type_, tbl, normalize(sql))
    return out


def check_known_objects(conn: sqlite3.Connection, where: object) -> dict[str, Definition]:
    """Every object is one some revision of ttd creates, exactly; run before reading any table."""
    known = _any_revision()
    objects = read_objects(conn, where)
    for name, definition in sorted(objects.items()):
        defs = known.get(name)
        if defs is None:
            raise _unexpected(where, name, definition, changed=False)
        if definition not in defs:
            raise _unexpected(where, name, definition, changed=True)
    return objects


def check_revision_objects(objects: dict[str, Definition], revision: str, where: object) -> None:
    """The objects are exactly those of `revision` (checked by check_known_objects already)."""
    want = expected_objects()[revision]
    for name, definition in sorted(objects.items()):
        if want.get(name) != definition:
            raise _unexpected(where, name, definition, changed=name in want)
    missing = sorted(n for n in want if n not in objects)
    if missing:
        tables = [n for n in missing if want[n][0] == "table"]
        if tables:
            raise CorruptTrace(f"{where}: corrupt trace: missing tables {', '.join(tables)}")
        raise CorruptTrace(f"{where}: corrupt trace: missing indexes {', '.join(missing)}")


# PostgreSQL: the same rule for a trace's schema `ttd_<name>` in a team database, where anyone
# who may write the database could add objects. Catalog queries list what is in the schema
# beyond plain tables and their key and named indexes.
_PG_FOREIGN = (
    ("trigger", "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE c.relnamespace = :ns AND NOT t.tgisinternal"),
    ("rule", "SELECT r.rulename FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class "
             "WHERE c.relnamespace = :ns"),
    ("policy", "SELECT p.polname FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid "
               "WHERE c.relnamespace = :ns"),
    ("generated or default column", "SELECT c.relname || '.' || a.attname FROM pg_attribute a "
                                    "JOIN pg_class c ON c.oid = a.attrelid WHERE c.relnamespace = :ns "
                                    "AND a.attnum > 0 AND NOT a.attisdropped AND (a.atthasdef OR a.attgenerated <> '')"),
    ("constraint", "SELECT conname FROM pg_constraint WHERE connamespace = :ns AND contype NOT IN ('p', 'u')"),
    ("function", "SELECT proname FROM pg_proc WHERE pronamespace = :ns"),
    ("operator", "SELECT oprname FROM pg_operator WHERE oprnamespace = :ns"),
    ("type", "SELECT typname FROM pg_type WHERE typnamespace = :ns AND typtype NOT IN ('c') "
             "AND NOT (typcategory = 'A' AND typelem IN (SELECT oid FROM pg_type WHERE typnamespace = :ns "
             "AND typtype = 'c'))"),
)


@functools.cache
def _pg_known() -> tuple[frozenset[str], frozenset[str]]:
    """(tables, indexes) any revision may have, from the models (PostgreSQL has no autoindexes)."""
    from ttd.store.models import Base

    tables = set(Base.metadata.tables) | {"alembic_version"}
    indexes = {"alembic_version_pkc"}
    for table in Base.metadata.tables.values():
        if table.primary_key.name:
            indexes.add(str(table.primary_key.name))
        indexes.update(str(ix.name) for ix in table.indexes)
    return frozenset(tables), frozenset(indexes)


def check_postgres_objects(conn, schema: str, where: object) -> None:  # type: ignore[no-untyped-def]
    """No object in the trace's PostgreSQL schema but ttd's tables and indexes."""
    from sqlalchemy import text

    ns = conn.execute(text("SELECT oid FROM pg_namespace WHERE nspname = :s"), {"s": schema}).scalar()
    if ns is None:
        return
    tables, indexes = _pg_known()
    kinds = {"r": "table", "i": "index", "v": "view", "m": "materialized view", "S": "sequence",
             "f": "foreign table", "p": "table", "c": "type"}
    for name, kind in conn.execute(text("SELECT relname, relkind FROM pg_class WHERE relnamespace = :ns "
                                        "ORDER BY relname"), {"ns": ns}):
        allowed = tables if kind == "r" else indexes if kind == "i" else frozenset()
        if name not in allowed:
            raise NotATrace(f"{where}: not a ttd trace: unexpected {kinds.get(kind, 'object')} {name!r}")
    for what, sql in _PG_FOREIGN:
        row = conn.execute(text(sql + " LIMIT 1"), {"ns": ns}).first()
        if row is not None:
            raise NotATrace(f"{where}: not a ttd trace: unexpected {what} {row[0]!r}")
