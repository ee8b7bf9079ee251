"""Traces written by older ttd schemas still open, verify and replay: upgraded, and read-only as they are.

Every tests/fixtures/schema-*/ directory counts, so a future schema revision
only adds a directory of traces written before it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import stat
from pathlib import Path

import pytest

from tests.support.recording import ttd
from ttd.store.trace_store import TraceStore, _schema_revisions

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TRACES = sorted(FIXTURES.glob("schema-*/*.db"))


def _revision(path: Path) -> str:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    finally:
        conn.close()


def _json(*args: str) -> object:
    p = ttd(*args)
    assert p.returncode == 0, p.stderr.decode()
    assert not p.stderr, p.stderr.decode()
    return json.loads(p.stdout)


def _exercise(trace: Path, expected: dict) -> dict:
    """What a user would do with a trace a colleague sent: info, verify, look at a few steps."""
    info = _json("info", "--json", str(trace))
    assert (info["program"], info["steps"], info["chunks"]) == (
        expected["program"], expected["steps"], expected["chunks"])
    p = ttd("verify", str(trace))
    assert p.returncode == 0 and p.stdout.decode().startswith("OK: "), (p.stdout, p.stderr)
    steps = info["steps"]
    at = {n: _json("query", str(trace), "at", str(n), "--json") for n in (0, steps // 3, steps - 1)}
    for n, row in at.items():
        assert row["step"] == n and row["stack"], row
    return at


def test_there_are_fixtures() -> None:
    assert any(p.name == "fib.db" for p in TRACES)
    for directory in {p.parent for p in TRACES}:
        assert sorted(json.loads((directory / "expected.json").read_text())) == sorted(
            p.name for p in directory.glob("*.db"))


@pytest.mark.parametrize("fixture", TRACES, ids=[f"{p.parent.name}/{p.name}" for p in TRACES])
def test_old_trace_upgraded_and_read_only(fixture: Path, tmp_path: Path) -> None:
    expected = json.loads((fixture.parent / "expected.json").read_text())[fixture.name]
    old = fixture.parent.name.removeprefix("schema-")
    head = _schema_revisions()[0]
    assert _revision(fixture) == old

    # Read-only: replayed as it is, not a byte changed, no journal left behind.
    ro_dir = tmp_path / "ro"
    ro_dir.mkdir()
    ro = ro_dir / fixture.name
    shutil.copyfile(fixture, ro)
    os.chmod(ro, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    digest = hashlib.sha256(ro.read_bytes()).hexdigest()
    as_is = _exercise(ro, expected)
    with TraceStore.open(ro) as store:  # no checksum columns before 0004: verify says so
        assert store.revision == old
        assert bool(store.blobs_without_checksums()) == (old in ("0001", "0002", "0003"))
    assert hashlib.sha256(ro.read_bytes()).hexdigest() == digest
    assert _revision(ro) == old
    assert [p.name for p in ro_dir.iterdir()] == [fixture.name]

    # Writable: the first open upgrades it to the current schema, then the same answers.
    rw = tmp_path / fixture.name
    shutil.copyfile(fixture, rw)
    upgraded = _exercise(rw, expected)
    assert _revision(rw) == head
    assert upgraded == as_is
    conn = sqlite3.connect(rw)
    if expected["chunks"] > 64:  # the upgrade backfilled keyframes
        assert conn.execute("SELECT count(*) FROM page_keyframes").fetchone()[0] > 0
    for table in ("modules", "checkpoints", "page_keyframes"):  # and checksums (0004)
        assert conn.execute(f"SELECT count(*) FROM {table} WHERE checksum IS NULL").fetchone()[0] == 0, table
    assert conn.execute("SELECT count(*) FROM checkpoints").fetchone()[0] == expected["chunks"] + 1
    conn.close()
    with TraceStore.open(rw) as store:
        assert not store.blobs_without_checksums() and list(store.checksum_failures()) == []
