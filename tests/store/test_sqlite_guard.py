"""The guards on every connection ttd opens on a trace file, and the schema-object check."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from ttd.store import CorruptTrace, NotATrace, TraceError, TraceStore
from ttd.store.engine import sqlite_uri
from ttd.store.schema_objects import expected_objects, normalize, read_objects
from ttd.store.sqlite_guard import JOURNAL_MAGIC, connect, super_journal_name
from ttd.store.trace_store import recover

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _db(tmp_path: Path) -> Path:
    path = tmp_path / "plain.db"
    c = sqlite3.connect(path)
    c.execute("CREATE TABLE t (x)")
    c.commit()
    c.close()
    return path


def test_reader_is_defensive_untrusting_and_query_only(tmp_path: Path) -> None:
    conn = connect(sqlite_uri(_db(tmp_path), writable=False), writable=False)
    try:
        assert conn.defensive
        assert conn.execute("PRAGMA trusted_schema").fetchone()[0] == 0
        with pytest.raises(sqlite3.OperationalError):
            conn.execute("ATTACH ':memory:' AS other")
    finally:
        conn.close()


def test_writer_is_defensive_too(tmp_path: Path) -> None:
    conn = connect(sqlite_uri(_db(tmp_path), writable=True), writable=True)
    try:
        assert conn.defensive
        assert conn.execute("PRAGMA trusted_schema").fetchone()[0] == 0
        assert conn.budget is None  # writers write ttd's own files: no time budget
        conn.execute("PRAGMA writable_schema = ON")
        with pytest.raises(sqlite3.OperationalError, match="may not be modified"):
            conn.execute("UPDATE sqlite_master SET sql = sql")
    finally:
        conn.close()


def test_a_statement_past_its_budget_is_interrupted(tmp_path: Path) -> None:
    conn = connect(sqlite_uri(_db(tmp_path), writable=False), writable=False, budget=0.2)
    endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"
    try:
        conn.arm()
        t0 = time.monotonic()
        with pytest.raises(sqlite3.OperationalError, match="interrupt"):
            conn.execute(endless).fetchone()
        assert time.monotonic() - t0 < 5
        conn.arm()  # each statement gets its own budget
        assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        conn.close()


def test_schema_sql_longer_than_ttd_writes_is_malformed_not_parsed(tmp_path: Path) -> None:
    path = _db(tmp_path)
    c = sqlite3.connect(path)
    c.execute("CREATE VIEW v AS SELECT '" + "a" * 200_000 + "'")
    c.commit()
    c.close()
    conn = connect(sqlite_uri(path, writable=False), writable=False)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="malformed database schema"):
            read_objects(conn, path)
    finally:
        conn.close()


def _journal_with_super(path: Path, name: bytes) -> None:
    body = b"\0" * 512
    cksum = sum(b if b < 128 else b - 256 for b in name) & 0xFFFFFFFF
    path.write_bytes(body + (1).to_bytes(4, "big") + name + len(name).to_bytes(4, "big")
                     + cksum.to_bytes(4, "big") + JOURNAL_MAGIC)


def test_super_journal_name_read_from_the_tail(tmp_path: Path) -> None:
    j = tmp_path / "t.db-journal"
    assert super_journal_name(j) is None  # absent
    j.write_bytes(b"\xd9\xd5\x05\xf9\x20\xa1\x63\xd7" + b"\0" * 1000)  # header magic only: none
    assert super_journal_name(j) is None
    _journal_with_super(j, b"/home/victim/precious.txt")
    assert super_journal_name(j) == b"/home/victim/precious.txt"
    j.write_bytes(b"\0" * 100 + b"\xff\xff\xff\xff" + b"\0" * 4 + JOURNAL_MAGIC)  # absurd length: still refused
    assert super_journal_name(j) is not None


def test_every_revision_creates_only_tables_and_plain_indexes() -> None:
    for revision, objects in expected_objects().items():
        assert {d[0] for d in objects.values()} <= {"table", "index"}, revision
        for name, (_type, _tbl, sql) in objects.items():
            assert sql is None or " WHERE " not in sql.upper(), name
            assert sql is None or "GENERATED" not in sql.upper(), name


@pytest.mark.parametrize("fixture", sorted(FIXTURES.glob("schema-*/*.db")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_old_traces_hold_exactly_what_their_revision_creates(fixture: Path) -> None:
    """Traces written by earlier ttds pass the check as they are: the migrations' SQL did not drift."""
    conn = connect(sqlite_uri(fixture, writable=False), writable=False)
    try:
        revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
        assert read_objects(conn, fixture) == expected_objects()[revision]
    finally:
        conn.close()


def test_normalize_ignores_layout_only() -> None:
    assert normalize("CREATE TABLE t (\n\ta INTEGER, \n\tb TEXT\n)") == normalize("CREATE TABLE t(a INTEGER,b TEXT)")
    assert normalize("CREATE TABLE t (a INTEGER)") != normalize("CREATE TABLE t (a TEXT)")


def _tamper(src: Path, dst: Path, sql: str) -> Path:
    shutil.copy(src, dst)
    c = sqlite3.connect(dst)
    c.executescript(sql)
    c.commit()
    c.close()
    return dst


@pytest.mark.parametrize("sql, message", [
    ("CREATE TRIGGER evil AFTER INSERT ON chunks BEGIN DELETE FROM pages; END;", "unexpected trigger 'evil'"),
    ("CREATE VIEW v AS SELECT 1;", "unexpected view 'v'"),
    ("CREATE INDEX ix_chunks_host ON chunks (length(host));", "unexpected index 'ix_chunks_host'"),
    ("DROP INDEX ix_chunks_first_step; CREATE INDEX ix_chunks_first_step ON chunks (first_step) WHERE seq > 0;",
     "unexpected definition of index 'ix_chunks_first_step'"),
    ("ANALYZE;", "unexpected table 'sqlite_stat1'"),
])
def test_store_refuses_foreign_objects_before_reading(tmp_path: Path, sql: str, message: str) -> None:
    src = FIXTURES / "schema-0002" / "fib.db"
    path = _tamper(src, tmp_path / "t.db", sql)
    before = path.read_bytes()
    with pytest.raises(NotATrace, match=message):
        TraceStore.open(path)
    assert path.read_bytes() == before  # writable and old: still not upgraded
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.db"]


def test_missing_index_is_corrupt(tmp_path: Path) -> None:
    path = _tamper(FIXTURES / "schema-0002" / "fib.db", tmp_path / "t.db", "DROP INDEX ix_chunks_first_step;")
    with pytest.raises(CorruptTrace, match="missing indexes ix_chunks_first_step"):
        TraceStore.open(path, upgrade=False)


def test_wal_trace_opens_read_only_without_sidecars(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    shutil.copy(FIXTURES / "schema-0002" / "fib.db", path)
    c = sqlite3.connect(path)
    assert c.execute("PRAGMA journal_mode = WAL").fetchone()[0] == "wal"
    c.close()
    path.chmod(0o444)
    tmp_path.chmod(0o555)  # like a read-only mount: no -shm or -wal can be made
    try:
        with TraceStore.open(path) as store:
            assert store.info()["status"] == "complete"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["w.db"]
    finally:
        tmp_path.chmod(0o755)


def test_wal_with_unmerged_log_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    shutil.copy(FIXTURES / "schema-0002" / "fib.db", path)
    c = sqlite3.connect(path)
    c.execute("PRAGMA journal_mode = WAL")
    c.execute("PRAGMA wal_autocheckpoint = 0")
    c.execute("INSERT INTO trace_info VALUES ('note', '1')")
    c.commit()
    keep = sqlite3.connect(path)  # a second connection keeps the -wal from being merged on close
    keep.execute("SELECT 1").fetchone()
    wal = tmp_path / "w.db-wal"
    shutil.copy(wal, tmp_path / "saved-wal")
    c.close()
    keep.close()
    if not wal.exists():
        shutil.copy(tmp_path / "saved-wal", wal)
    (tmp_path / "saved-wal").unlink()
    with pytest.raises(TraceError, match="ttd recover"):
        TraceStore.open(path, upgrade=False)
    with pytest.raises(TraceError, match="ttd recover"):
        TraceStore.open(path)  # also before an upgrade would write to it
    assert "merged" in recover(path)
    assert not wal.exists()
    with TraceStore.open(path) as store:
        assert store.info()["note"] == 1


def test_a_wal_beside_a_rollback_mode_trace_is_not_opened(tmp_path: Path) -> None:
    """SQLite opens a -wal it finds whatever the header says, making a -shm: neither may happen."""
    src = tmp_path / "src.db"
    shutil.copy(FIXTURES / "schema-0002" / "fib.db", src)
    c = sqlite3.connect(src)
    c.execute("PRAGMA journal_mode = WAL")
    c.execute("PRAGMA wal_autocheckpoint = 0")
    c.execute("INSERT INTO trace_info VALUES ('note', '1')")
    c.commit()
    log = (tmp_path / "src.db-wal").read_bytes()
    c.close()
    d = tmp_path / "d"
    d.mkdir()
    path = d / "t.db"
    shutil.copy(FIXTURES / "schema-0002" / "fib.db", path)
    (d / "t.db-wal").write_bytes(log)
    before = {p.name: p.read_bytes() for p in d.iterdir()}
    with pytest.raises(TraceError, match="ttd recover"):
        TraceStore.open(path)
    (d / "t.db-wal").write_bytes(b"")
    with TraceStore.open(path, upgrade=False) as store:
        assert "note" not in store.info()
    assert sorted(p.name for p in d.iterdir()) == ["t.db", "t.db-wal"]
    assert (d / "t.db").read_bytes() == before["t.db"]
