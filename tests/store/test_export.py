"""ttd export: a compact SQLite copy that verifies and replays like the original, source untouched."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from tests.support.recording import ttd
from ttd.store import TraceExists, TraceStore
from ttd.store.export import export_trace
from ttd.store.trace_store import _schema_revisions

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
OLD = FIXTURES / "schema-0001" / "fib_small_chunks.db"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _ok(*args: str) -> str:
    p = ttd(*args)
    assert p.returncode == 0, (args, p.stdout.decode(), p.stderr.decode())
    return p.stdout.decode()


def _error(*args: str) -> str:
    p = ttd(*args)
    err = p.stderr.decode()
    assert p.returncode != 0 and "Traceback" not in err, err
    assert err.startswith("ttd: error: ") and err.count("\n") == 1, err
    return err


def test_export_of_an_old_read_only_trace(tmp_path: Path) -> None:
    """The copy is at the current schema (keyframes included) and answers like the source; the source is not upgraded."""
    src = tmp_path / "src.db"
    shutil.copyfile(OLD, src)
    os.chmod(src, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    before = _sha(src)
    out = tmp_path / "out" / "copy.db"
    assert _ok("export", str(src), str(out)).startswith(f"exported {src} to {out}: ")
    assert _sha(src) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "src.db"]
    assert [p.name for p in out.parent.iterdir()] == ["copy.db"]  # no temporary left behind
    with TraceStore.open(out) as store:
        assert store.revision == _schema_revisions()[0]
        assert store._conn.exec_driver_sql("SELECT count(*) FROM page_keyframes").scalar() > 0
    assert _ok("verify", str(out)).startswith("OK: 40,724 steps in 304 chunks")
    a = json.loads(_ok("info", "--json", str(src)))
    b = json.loads(_ok("info", "--json", str(out)))
    assert {k: v for k, v in a.items() if k not in ("path", "size_bytes", "bytes_per_step")} == {
        k: v for k, v in b.items() if k not in ("path", "size_bytes", "bytes_per_step")}
    for step in (0, 20_000, 40_723):
        assert _ok("query", str(out), "at", str(step), "--json") == _ok("query", str(src), "at", str(step), "--json")


def test_export_compacts(tmp_path: Path) -> None:
    src = tmp_path / "src.db"
    shutil.copyfile(OLD, src)
    with TraceStore.open(src, writable=True) as store:  # free pages, as left by deleted rows
        store._conn.exec_driver_sql("CREATE TABLE scratch(x BLOB)")
        store._conn.exec_driver_sql("INSERT INTO scratch VALUES (zeroblob(4000000))")
        store.commit()
        store._conn.exec_driver_sql("DROP TABLE scratch")
    res = export_trace(src, tmp_path / "small.db")
    assert res.size_bytes < src.stat().st_size - 3_000_000
    assert res.source_bytes == src.stat().st_size


def test_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    out = tmp_path / "out.db"
    out.write_bytes(b"precious")
    assert "already exists (use --force" in _error("export", str(OLD), str(out))
    assert out.read_bytes() == b"precious"
    with pytest.raises(TraceExists):
        export_trace(OLD, out)
    _ok("export", "--force", str(OLD), str(out))
    assert _ok("info", str(out)).startswith("program:   fib.wasm")


@pytest.mark.parametrize("case", ["missing", "not-sqlite", "empty", "directory-out", "same-file"])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path: Path, case: str) -> None:
    src, out = tmp_path / "src.db", tmp_path / "out.db"
    if case == "missing":
        msg = _error("export", str(src), str(out))
        assert "no such trace file" in msg
    elif case == "not-sqlite":
        src.write_text("hello\n")
        assert "not a ttd trace" in _error("export", str(src), str(out))
    elif case == "empty":
        src.write_bytes(b"")
        assert "empty file" in _error("export", str(src), str(out))
    elif case == "directory-out":
        shutil.copyfile(OLD, src)
        out.mkdir()
        assert "is a directory" in _error("export", str(src), str(out))
        assert list(out.iterdir()) == []
        return
    else:
        shutil.copyfile(OLD, src)
        before = _sha(src)
        assert "is the trace being exported" in _error("export", "--force", str(src), str(src))
        assert _sha(src) == before
        return
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ([src.name] if src.exists() else [])
