"""The alembic migrations, the models and alembic.ini agree."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import alembic
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext

from ttd.store import TraceStore
from ttd.store.models import SQLITE_APPLICATION_ID, Base
from ttd.store.trace_store import ALEMBIC_DIR

REPO = Path(__file__).resolve().parents[2]


def test_alembic_folder_does_not_shadow_the_library() -> None:
    assert ALEMBIC_DIR == REPO / "alembic"
    assert not (ALEMBIC_DIR / "__init__.py").exists()
    assert Path(alembic.__file__).parent != ALEMBIC_DIR
    out = subprocess.run(
        [sys.executable, "-c", "import alembic.config; print(alembic.__file__)"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "site-packages" in out


def test_migration_matches_models(tmp_path: Path) -> None:
    with TraceStore.create(tmp_path / "t.ttd") as store:
        conn = store._conn
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        assert diffs == []
        assert conn.exec_driver_sql("PRAGMA application_id").scalar() == SQLITE_APPLICATION_ID
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "delete"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "0005"
        plan = " ".join(
            str(r[-1])
            for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN SELECT seq FROM chunks WHERE first_step <= 5 ORDER BY first_step DESC")
        )
        assert "ix_chunks_first_step" in plan


def dev_config(url: str) -> tuple[Config, io.StringIO]:
    out = io.StringIO()
    cfg = Config(str(REPO / "alembic.ini"), stdout=out, output_buffer=out)
    cfg.set_main_option("sqlalchemy.url", url)
    cfg.attributes["configure_logger"] = False  # keep pytest's logging
    return cfg, out


def test_alembic_ini_for_developers(tmp_path: Path) -> None:
    db = tmp_path / "dev.db"
    cfg, _ = dev_config(f"sqlite:///{db}")
    command.upgrade(cfg, "head")
    command.check(cfg)  # models have no changes that lack a migration
    with TraceStore.open(db) as store:  # a developer database is a valid (empty) trace
        assert store.chunk_index() == []
    command.downgrade(cfg, "base")
    command.upgrade(cfg, "head")


def test_offline_sql(tmp_path: Path) -> None:
    cfg, out = dev_config(f"sqlite:///{tmp_path / 'unused.db'}")
    command.upgrade(cfg, "head", sql=True)
    sql = out.getvalue()
    assert "CREATE TABLE page_versions" in sql and "WITHOUT ROWID" in sql
    assert f"PRAGMA application_id = {SQLITE_APPLICATION_ID}" in sql
    assert not (tmp_path / "unused.db").exists()


def test_schema_is_portable_to_postgresql() -> None:
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.schema import CreateTable

    ddl = "\n".join(str(CreateTable(t).compile(dialect=postgresql.dialect())) for t in Base.metadata.sorted_tables)
    assert "BYTEA" in ddl and "BIGINT" in ddl
    assert "ROWID" not in ddl.upper() and "SERIAL" not in ddl.upper()


@pytest.mark.parametrize("name", ["trace_info", "modules", "chunks", "checkpoints", "pages", "page_versions"])
def test_tables_exist(tmp_path: Path, name: str) -> None:
    with TraceStore.create(tmp_path / "t.ttd") as store:
        assert name in set(store._conn.exec_driver_sql("SELECT name FROM sqlite_master").scalars())
