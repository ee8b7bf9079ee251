"""open() on anything that is not a healthy trace: the right TraceError, one line, file untouched."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.store.conftest import file_state
from ttd.store import CorruptTrace, NotATrace, SchemaTooNew, TraceError, TraceStore
from ttd.store.models import SQLITE_APPLICATION_ID
from ttd.store.trace_store import _schema_revisions

MODES = [pytest.param(False, id="read-only"), pytest.param(True, id="writable")]


def expect_refused(path: Path, error: type[TraceError], writable: bool, match: str = "") -> TraceError:
    """open() raises exactly `error` with a one-line message and leaves the directory byte-for-byte as it was."""
    directory = path.parent
    before = file_state(directory)
    with pytest.raises(TraceError) as info:
        TraceStore.open(path, writable=writable)
    assert type(info.value) is error, f"{type(info.value).__name__}: {info.value}"
    message = str(info.value)
    assert message and "\n" not in message
    assert str(path) in message
    assert match in message
    assert file_state(directory) == before
    return info.value


@pytest.mark.parametrize("writable", MODES)
def test_missing_file(tmp_path: Path, writable: bool) -> None:
    expect_refused(tmp_path / "nope.ttd", NotATrace, writable, "no such trace file")
    assert list(tmp_path.iterdir()) == []  # SQLite did not create it


@pytest.mark.parametrize("writable", MODES)
def test_directory(tmp_path: Path, writable: bool) -> None:
    (tmp_path / "d.ttd").mkdir()
    expect_refused(tmp_path / "d.ttd", NotATrace, writable, "directory")


@pytest.mark.parametrize("writable", MODES)
@pytest.mark.parametrize("content", [b"", b"hello, world\n" * 100, b"SQLite format 2\x00" + bytes(200)], ids=["empty", "text", "near-miss"])
def test_not_sqlite(tmp_path: Path, writable: bool, content: bytes) -> None:
    path = tmp_path / "t.ttd"
    path.write_bytes(content)
    expect_refused(path, NotATrace, writable)


@pytest.mark.parametrize("writable", MODES)
def test_truncated_trace(real_trace: Path, tmp_path: Path, writable: bool) -> None:
    data = real_trace.read_bytes()
    assert len(data) > 200_000
    path = tmp_path / "cut.ttd"
    path.write_bytes(data[: len(data) // 2])
    expect_refused(path, CorruptTrace, writable, "corrupt")


@pytest.mark.parametrize("writable", MODES)
def test_truncated_header(real_trace: Path, tmp_path: Path, writable: bool) -> None:
    path = tmp_path / "cut.ttd"
    path.write_bytes(real_trace.read_bytes()[:60])
    expect_refused(path, CorruptTrace, writable, "header")


@pytest.mark.parametrize("writable", MODES)
def test_unrelated_sqlite_database(tmp_path: Path, writable: bool) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO users(name) VALUES ('ann')")
    conn.close()
    expect_refused(path, NotATrace, writable, "not a ttd trace")


@pytest.mark.parametrize("writable", MODES)
def test_unrelated_database_claiming_our_application_id(tmp_path: Path, writable: bool) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA application_id = {SQLITE_APPLICATION_ID}")
    conn.execute("CREATE TABLE alembic_version(version_num VARCHAR(32) PRIMARY KEY)")
    conn.execute("INSERT INTO alembic_version VALUES ('abc123')")
    conn.commit()
    conn.close()
    expect_refused(path, NotATrace, writable, "not a ttd trace")


def _set_revision(path: Path, revision: str) -> None:
    conn = sqlite3.connect(path)
    conn.execute("UPDATE alembic_version SET version_num = ?", (revision,))
    conn.commit()
    conn.close()


@pytest.mark.parametrize("writable", MODES)
def test_newer_schema(real_trace: Path, tmp_path: Path, writable: bool) -> None:
    path = tmp_path / "future.ttd"
    shutil.copyfile(real_trace, path)
    _set_revision(path, "0042_from_the_future")
    err = expect_refused(path, SchemaTooNew, writable)
    assert "0042_from_the_future" in str(err) and repr(_schema_revisions()[0]) in str(err)
    assert isinstance(err, SchemaTooNew) and (err.found, err.newest) == ("0042_from_the_future", _schema_revisions()[0])


def test_newer_schema_names_both_ttd_versions(real_trace: Path, tmp_path: Path) -> None:
    import ttd

    path = tmp_path / "future.ttd"
    shutil.copyfile(real_trace, path)
    conn = sqlite3.connect(path)
    conn.execute("INSERT OR REPLACE INTO trace_info VALUES ('ttd_version', '\"9.0.0\"')")
    conn.commit()
    conn.close()
    _set_revision(path, "0099")
    err = expect_refused(path, SchemaTooNew, False)
    assert f"written by ttd 9.0.0 with schema revision '0099', newer than this ttd {ttd.__version__}" in str(err)


def test_missing_table_is_corrupt(real_trace: Path, tmp_path: Path) -> None:
    path = tmp_path / "t.ttd"
    shutil.copyfile(real_trace, path)
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE page_versions")
    conn.commit()
    conn.close()
    expect_refused(path, CorruptTrace, False, "page_versions")


def test_damaged_pages_surface_as_corrupt_trace(real_trace: Path, tmp_path: Path) -> None:
    """Garbage past the schema pages: open() may succeed, but reading must raise CorruptTrace, not sqlite3 errors."""
    data = bytearray(real_trace.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    for offset in range(8 * page_size, len(data), page_size):
        data[offset : offset + 64] = b"\xa5" * 64  # smash every b-tree page header
    path = tmp_path / "t.ttd"
    path.write_bytes(bytes(data))
    before = file_state(tmp_path)
    with pytest.raises(CorruptTrace) as info:
        with TraceStore.open(path) as s:
            s.chunk_index()
            for seq in range(60):
                s.chunk(seq)
    assert "\n" not in str(info.value)
    assert file_state(tmp_path) == before


def test_unreadable_file(real_trace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "t.ttd"
    shutil.copyfile(real_trace, path)

    def denied(self: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", denied)  # root ignores chmod 0, so simulate it
    with pytest.raises(TraceError, match="cannot read trace: Permission denied") as info:
        TraceStore.open(path)
    assert type(info.value) is TraceError
