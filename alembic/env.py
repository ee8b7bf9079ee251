"""Alembic environment for ttd trace files.

Two callers:
* ttd itself (TraceStore.create): passes its open Connection, already inside a
  transaction, in ``config.attributes["connection"]``; the whole schema is then
  built atomically in that transaction and TraceStore commits it.
* developers running ``alembic`` with the repo's alembic.ini (e.g. ``alembic
  revision --autogenerate --rev-id 0002 -m ...``) against ``sqlalchemy.url``.
"""

from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection, engine_from_config, pool

from ttd.store.engine import use_sqlalchemy_transactions
from ttd.store.models import Base

config = context.config

# Only configure logging when run from the command line: ttd (and its tests)
# run migrations in-process and must keep their own logging setup.
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    if config.attributes.get("connection") is None:
        fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata

_COMMON = dict(
    target_metadata=target_metadata,
    # SQLite cannot ALTER most things: let autogenerate emit batch (copy-table) ops.
    render_as_batch=True,
    # With use_sqlalchemy_transactions, SQLite DDL is transactional: one
    # migration run is all-or-nothing.
    transactional_ddl=True,
    compare_type=True,
)


def run_migrations_offline() -> None:
    """Emit SQL to stdout (``alembic upgrade head --sql``)."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **_COMMON,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    context.configure(connection=connection, **_COMMON)
    # A no-op when the caller's connection is already in a transaction.
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate a live database: ttd's connection if given, else sqlalchemy.url."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    if engine.dialect.name == "sqlite":
        use_sqlalchemy_transactions(engine)
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
