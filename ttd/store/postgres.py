"""Traces kept in a PostgreSQL database: one schema per trace, same models as a trace file.

A team keeps every trace in one server instead of passing files around. Each
trace lives in its own schema ``ttd_<name>`` holding the same tables (and its
own ``alembic_version``) as a trace file, so migrations run per trace and
dropping one trace is ``DROP SCHEMA``. Connections set ``search_path`` to that
schema, so the store's statements, alembic and raw SQL need no schema names.

Nothing SQLite-specific (header check, hot-journal recovery, PRAGMAs, URIs)
applies here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.pool import NullPool

from ttd.store.errors import NotATrace, TraceError
from ttd.store.sqlite_guard import STATEMENT_TIMEOUT_S

__all__ = ["SCHEMA_PREFIX", "PostgresTrace", "is_postgres_url", "list_traces"]

#: Prefix of the schema holding a trace; keeps ttd's schemas apart from anything else in the database.
SCHEMA_PREFIX = "ttd_"
# Trace names become quoted identifiers: keep them to characters that need no
# escaping anywhere (libpq options, search_path, shell), within PostgreSQL's 63 bytes.
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,58}")
_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")


def is_postgres_url(text_: str) -> bool:
    """Whether a --db value names a PostgreSQL database (the only server ttd supports)."""
    return text_.split("://", 1)[0].lower() in _SCHEMES and "://" in text_


def _driver_url(url: str) -> URL:
    """SQLAlchemy URL with the psycopg (v3) driver; a one-line TraceError for anything else."""
    if not is_postgres_url(url):
        raise TraceError(f"{url}: --db wants a postgresql://user@host:port/dbname URL")
    try:
        parsed = make_url("postgresql" + url[url.index("://"):])
    except ArgumentError as exc:
        raise TraceError(f"{url}: not a valid database URL: {exc}") from None
    if not parsed.database:
        raise TraceError(f"{url}: the URL names no database (postgresql://user@host:port/dbname)")
    return parsed.set(drivername="postgresql+psycopg")


def _redacted(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=True)


@dataclass(frozen=True)
class PostgresTrace:
    """Where a trace lives in PostgreSQL: the database URL and the trace's name.

    Accepted wherever a trace path is (TraceStore.create/open, the recorder's
    --out), and printed as ``NAME in postgresql://user@host:port/db``.
    """

    url: str
    name: str

    def __post_init__(self) -> None:
        _driver_url(self.url)
        if not _NAME.fullmatch(self.name):
            raise TraceError(
                f"{self.name!r}: a trace name in a database is 1-59 letters, digits, '_', '.' or '-' "
                "(not starting with '.' or '-')"
            )

    @property
    def schema(self) -> str:
        """The PostgreSQL schema holding this trace."""
        return SCHEMA_PREFIX + self.name

    @property
    def display_url(self) -> str:
        """The database URL without its password."""
        return _redacted(_driver_url(self.url))

    def __str__(self) -> str:
        return f"{self.name} in {self.display_url}"

    def engine(self, *, writable: bool, in_schema: bool = True) -> Engine:
        """Engine whose sessions start in this trace's schema; read-only ones cannot write by accident.

        Readers run in autocommit (each SELECT its own snapshot, nothing held
        between statements: the same behaviour as a trace file's readers) with
        default_transaction_read_only, so a bug cannot modify a shared trace.
        """
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise TraceError("PostgreSQL traces need the psycopg driver: pip install 'psycopg[binary]'") from None
        options = []
        if in_schema:
            options.append(f'-c search_path="{self.schema}"')
        if not writable:
            # a reader's statement is bounded in time, as on a trace file (sqlite_guard)
            options.append("-c default_transaction_read_only=on")
            options.append(f"-c statement_timeout={int(STATEMENT_TIMEOUT_S * 1000)}")
        engine = create_engine(
            _driver_url(self.url),
            poolclass=NullPool,
            connect_args={"options": " ".join(options), "application_name": "ttd"},
        )
        if not writable:
            engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        return engine

    def exists(self) -> bool:
        """Whether the database has a trace of this name (its schema); TraceError if the server cannot be reached."""
        engine = self.engine(writable=False, in_schema=False)
        try:
            with engine.connect() as conn:
                return _schema_exists(conn, self.schema)
        except DBAPIError as exc:
            raise connection_error(exc, self) from exc
        finally:
            engine.dispose()


def _schema_exists(conn: object, schema: str) -> bool:
    row = conn.execute(  # type: ignore[attr-defined]
        text("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = :s"), {"s": schema}
    ).first()
    return row is not None


def connection_error(exc: BaseException, where: object) -> TraceError:
    """One line for a server that refuses, is unreachable or rejects the login."""
    orig = getattr(exc, "orig", None) or exc
    first = next((line.strip() for line in str(orig).splitlines() if line.strip()), type(orig).__name__)
    return TraceError(f"{where}: cannot access trace database: {first}")


def create_schema(location: PostgresTrace, *, overwrite: bool) -> None:
    """Make the empty schema of a new trace; TraceExists (atomically, by CREATE SCHEMA) if it is taken."""
    from ttd.store.errors import TraceExists

    engine = location.engine(writable=True, in_schema=False)
    try:
        with engine.begin() as conn:
            quoted = conn.dialect.identifier_preparer.quote_identifier(location.schema)
            if overwrite:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {quoted} CASCADE"))
            elif _schema_exists(conn, location.schema):
                raise TraceExists(f"{location}: already exists (pass overwrite=True to replace it)")
            conn.execute(text(f"CREATE SCHEMA {quoted}"))
    except DBAPIError as exc:
        if getattr(getattr(exc, "orig", None), "sqlstate", None) == "42P06":  # duplicate_schema: lost a race
            raise TraceExists(f"{location}: already exists (pass overwrite=True to replace it)") from None
        raise connection_error(exc, location) from exc
    finally:
        engine.dispose()


def drop_schema(location: PostgresTrace) -> None:
    """Remove a trace (best effort: used to clean up a failed create)."""
    engine = location.engine(writable=True, in_schema=False)
    try:
        with engine.begin() as conn:
            quoted = conn.dialect.identifier_preparer.quote_identifier(location.schema)
            conn.execute(text(f"DROP SCHEMA IF EXISTS {quoted} CASCADE"))
    except DBAPIError:
        pass
    finally:
        engine.dispose()


def require_schema(location: PostgresTrace) -> None:
    """NotATrace, one line, if the database has no trace of that name."""
    if not location.exists():
        raise NotATrace(f"{location}: no such trace in that database")


def list_traces(url: str) -> list[str]:
    """Names of the traces in a database (schemas with ttd's prefix and an alembic_version table)."""
    probe = PostgresTrace(url, "x")
    engine = probe.engine(writable=False, in_schema=False)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT n.nspname FROM pg_catalog.pg_namespace n JOIN pg_catalog.pg_class c "
                    "ON c.relnamespace = n.oid WHERE c.relname = 'alembic_version' "
                    "AND n.nspname LIKE :p ORDER BY n.nspname"
                ),
                {"p": SCHEMA_PREFIX.replace("_", "\\_") + "%"},
            ).scalars()
            return [r[len(SCHEMA_PREFIX):] for r in rows]
    except DBAPIError as exc:
        raise connection_error(exc, _redacted(_driver_url(url))) from exc
    finally:
        engine.dispose()
