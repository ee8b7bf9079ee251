"""The team store: traces recorded into, read from, served from and exported out of a real PostgreSQL.

The server is started here (initdb into a temporary directory, loopback only).
Without PostgreSQL binaries the tests skip, unless TTD_REQUIRE_POSTGRES=1 (set
by .ci/run, which installs them) makes that a failure.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
from pathlib import Path

import pytest

from tests.store.pg_server import REQUIRE_ENV, find_bindir, remove, start_server
from tests.store.test_keyframes import K, make_0001, model_table, versions_for
from tests.support.cases import PROGRAMS_DIR
from tests.support.recording import TTD, ttd
from ttd.store import NotATrace, TraceError, TraceExists, TraceStore
from ttd.store.postgres import PostgresTrace, list_traces
from ttd.store.trace_store import _schema_revisions


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_url():
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("the psycopg driver is not installed")
    if find_bindir() is None:
        _unavailable("no PostgreSQL server binaries (apt-get install postgresql)")
    server = start_server()
    try:
        yield server.create_database("traces")
    finally:
        remove(server)


def _ok(*args: str) -> str:
    p = ttd(*args)
    assert p.returncode == 0, (args, p.stdout.decode(), p.stderr.decode())
    return p.stdout.decode()


def _one_line_error(*args: str) -> str:
    p = ttd(*args)
    err = p.stderr.decode()
    assert p.returncode != 0 and "Traceback" not in err
    assert err.startswith("ttd: error: ") and err.count("\n") == 1, err
    return err


def _ask_stop_reason(port: int) -> bytes:
    """A gdb-remote '?' packet over TCP: the server's answer (after its '+' ack)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(b"$?#3f")
        data = b""
        while not re.search(rb"\$[^#]*#[0-9a-f]{2}", data):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        s.sendall(b"+$D#44")
    return data


def test_record_info_verify_serve_and_export(pg_url: str, tmp_path: Path) -> None:
    fib = str(PROGRAMS_DIR / "fib.wasm")
    p = ttd("record", "--quiet", "--db", pg_url, "--out", "fib-team", fib, "--", "12")
    assert p.returncode == 0, p.stderr.decode()
    assert "fib(12) = 144" in p.stdout.decode()
    assert re.search(r"trace: fib-team in postgresql://ttd@127\.0\.0\.1:\d+/traces \([\d,]+ steps, complete\)",
                     p.stderr.decode()), p.stderr.decode()

    info = json.loads(_ok("info", "--json", "--db", pg_url, "fib-team"))
    assert (info["program"], info["args"], info["status"]) == ("fib.wasm", ["12"], "complete")
    assert info["steps"] > 10_000 and info["size_bytes"] > 0
    assert _ok("verify", "--db", pg_url, "fib-team").startswith("OK: ")
    assert "fib-team" in list_traces(pg_url)
    assert "fib-team" in json.loads(_ok("info", "--json", "--db", pg_url))
    assert "fib-team" in _ok("info", "--db", pg_url).splitlines()

    proc = subprocess.Popen([*TTD, "serve", "--db", pg_url, "--port", "0", "fib-team"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        banner = [proc.stdout.readline(), proc.stdout.readline()]
        assert banner[0].startswith("ttd: serving fib.wasm"), (banner, proc.stderr.read() if proc.poll() else "")
        m = re.fullmatch(r"\(lldb\) process connect --plugin wasm connect://127\.0\.0\.1:(\d+)\n", banner[1])
        assert m, banner
        reply = _ask_stop_reason(int(m.group(1)))
        assert reply.startswith(b"+$T05thread:1;"), reply
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    out = tmp_path / "shared" / "fib.db"
    assert _ok("export", "--db", pg_url, "fib-team", str(out)).startswith("exported fib-team in postgresql://")
    assert _ok("verify", str(out)).startswith("OK: ")
    exported = json.loads(_ok("info", "--json", str(out)))
    for key in ("program", "args", "env", "dirs", "steps", "chunks", "status", "exit_code", "module_sha256"):
        assert exported[key] == info[key], key
    for step in (0, info["steps"] // 2, info["steps"] - 1):
        from_db = _ok("query", "--db", pg_url, "fib-team", "at", str(step), "--json")
        assert _ok("query", str(out), "at", str(step), "--json") == from_db

    err = _one_line_error("export", "--db", pg_url, "fib-team", str(out))
    assert "already exists" in err and "--force" in err
    assert _ok("export", "--force", "--db", pg_url, "fib-team", str(out))


def test_many_chunks_in_postgres(pg_url: str) -> None:
    fib = str(PROGRAMS_DIR / "fib.wasm")
    p = ttd("record", "--quiet", "--chunk-blocks", "16", "--db", pg_url, "--out", "fib_small", fib)
    assert p.returncode == 0, p.stderr.decode()
    assert _ok("verify", "--db", pg_url, "fib_small").startswith("OK: 40,724 steps in 304 chunks")


def test_bad_input_is_one_line(pg_url: str, tmp_path: Path) -> None:
    fib = str(PROGRAMS_DIR / "fib.wasm")
    assert "no such trace" in _one_line_error("info", "--db", pg_url, "nothing-here")
    assert "a trace name" in _one_line_error("verify", "--db", pg_url, "no spaces please")
    assert "postgresql://" in _one_line_error("info", "--db", "mysql://h/db", "x")
    port = pg_url.rsplit(":", 1)[1].split("/")[0]
    gone = pg_url.replace(f":{port}/", ":1/")
    assert "cannot access trace database" in _one_line_error("info", "--db", gone, "x")
    assert "does not exist" in _one_line_error("info", "--db", pg_url.rsplit("/", 1)[0] + "/nodb", "x")
    assert ttd("record", "--quiet", "--db", pg_url, "--out", "twice", fib).returncode == 0
    assert "already exists" in _one_line_error("record", "--quiet", "--db", pg_url, "--out", "twice", fib)
    assert ttd("record", "--quiet", "--force", "--db", pg_url, "--out", "twice", fib, "--", "3").returncode == 0
    assert json.loads(_ok("info", "--json", "--db", pg_url, "twice"))["args"] == ["3"]
    assert not (tmp_path / "out.db").exists()
    assert "no such trace" in _one_line_error("export", "--db", pg_url, "nothing-here", str(tmp_path / "out.db"))
    assert not (tmp_path / "out.db").exists()


def test_store_api_on_postgres(pg_url: str) -> None:
    """Keyframes, upserts and lookups behave as on SQLite (types differ: BYTEA, INTEGER bounds)."""
    loc = PostgresTrace(pg_url, "api")
    versions = versions_for(3 * K + 5, seed=11)
    with TraceStore.create(loc) as store:
        assert store.path is None and store.revision == _schema_revisions()[0]
        store.set_info(status="complete", args=["a"])
        store.set_info(status="interrupted")
        store.add_module("m.wasm", b"\0asm\x01\0\0\0", b"sched")
        store.add_chunk(0, 0, 10, 0, 2, b"ids", b"vals", b"")
        store.put_pages({b"\x01" * 32: b"\x07" * 4096, b"\x02" * 32: bytes(4096)})
        store.put_checkpoint(0, b"s0")
        store.put_checkpoint(0, b"s0'")
        for seq in sorted(versions):
            store.put_page_versions(seq, versions[seq])
    with pytest.raises(TraceExists):
        TraceStore.create(loc)
    with TraceStore.open(loc) as store:
        assert not store.writable
        assert store.info() == {"status": "interrupted", "args": ["a"]}
        assert store.module(0).name == "m.wasm"
        assert store.verify_chunk(store.chunk(0)) and store.chunk_for_step(9) == 0
        assert store.checkpoint(0) == b"s0'"
        assert store.page(b"\x01" * 32) == b"\x07" * 4096
        for seq in (-1, 0, K - 1, K, K + 1, 2 * K + 7, 3 * K + 5, 10**6):
            for m in (0, 1):
                assert store.page_table(seq, m) == model_table(versions, seq, m)
        with pytest.raises(TraceError, match="read-only"):
            store.set_info(x=1)


def test_old_schema_in_postgres_is_upgraded_on_open(pg_url: str) -> None:
    from alembic import command

    from ttd.store.postgres import create_schema
    from ttd.store.trace_store import _alembic_config

    loc = PostgresTrace(pg_url, "old")
    create_schema(loc, overwrite=True)
    engine = loc.engine(writable=True)
    versions = versions_for(2 * K + 3, seed=5)
    try:
        with engine.connect() as conn, conn.begin():
            cfg = _alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0001")
            conn.exec_driver_sql("INSERT INTO trace_info VALUES ('status', '\"complete\"')")
            for seq, rows in versions.items():
                for m, p, d in rows:
                    conn.exec_driver_sql("INSERT INTO page_versions VALUES (%s, %s, %s, %s)", (m, p, seq, d))
    finally:
        engine.dispose()
    with TraceStore.open(loc) as store:
        assert store.revision == _schema_revisions()[0]
        assert store.page_table(2 * K + 1, 1) == model_table(versions, 2 * K + 1, 1)
        n = store._conn.exec_driver_sql("SELECT count(*) FROM page_keyframes").scalar()
        assert n == 4  # two memories, keyframes at 64 and 128


def test_missing_name_is_not_a_trace(pg_url: str) -> None:
    with pytest.raises(NotATrace, match="no such trace"):
        TraceStore.open(PostgresTrace(pg_url, "absent"))


def test_migrations_match_the_models_on_postgres(pg_url: str) -> None:
    """The same check as test_schema.py's, on PostgreSQL: the models and the migrations agree there too."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from ttd.store.models import Base

    with TraceStore.create(PostgresTrace(pg_url, "schema-check")) as store:
        diffs = compare_metadata(MigrationContext.configure(store._conn, opts={"compare_type": True}), Base.metadata)
        assert diffs == []
        assert store._conn.exec_driver_sql("SELECT current_schema()").scalar() == "ttd_schema-check"


@pytest.mark.parametrize("sql, message", [
    ('CREATE FUNCTION evil() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$; '
     'CREATE TRIGGER evil AFTER UPDATE ON alembic_version FOR EACH ROW EXECUTE FUNCTION evil()', "unexpected "),
    ("CREATE VIEW v AS SELECT 1 AS one", "unexpected view 'v'"),
    ("ALTER TABLE trace_info ADD COLUMN extra TEXT GENERATED ALWAYS AS (repeat(value, 1000)) STORED",
     "unexpected generated or default column 'trace_info.extra'"),
    ("ALTER TABLE chunks ADD CONSTRAINT ck_slow CHECK (length(host) >= 0)", "unexpected constraint 'ck_slow'"),
    ("CREATE TABLE extra (a int)", "unexpected table 'extra'"),
])
def test_foreign_objects_in_a_trace_schema_are_refused(pg_url: str, sql: str, message: str) -> None:
    """A teammate with write access to the database cannot make readers run SQL of theirs."""
    loc = PostgresTrace(pg_url, "tampered")
    with TraceStore.create(loc, overwrite=True) as store:
        store.set_info(status="complete")
    engine = loc.engine(writable=True)
    try:
        with engine.connect() as conn, conn.begin():
            conn.exec_driver_sql(sql)
    finally:
        engine.dispose()
    with pytest.raises(NotATrace, match=message):
        TraceStore.open(loc)
    err = _one_line_error("info", "--db", pg_url, "tampered")
    assert "not a ttd trace: unexpected" in err
