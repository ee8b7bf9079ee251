"""Every blob a replay trusts is covered by a checksum that `ttd verify` checks (schema 0004).

Chunks (with their host events) have had one from the start; pages are named by the sha256
of their content; the module, its schedule, the checkpoints and the page-table keyframes
carry one since revision 0004. Damage to any of them fails `ttd verify` with a line naming
it; the module, a checkpoint or a keyframe is refused as soon as it is read, with one line.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import sqlite3
import stat
from pathlib import Path

import pytest

from tests.support.cases import PROGRAMS_DIR
from tests.support.recording import ttd
from ttd.replay.session import ReplaySession
from ttd.replay.trace import Trace
from ttd.replay.verify import verify
from ttd.store import codec
from ttd.store.errors import CorruptTrace
from ttd.store.trace_store import (
    ALEMBIC_DIR,
    TraceStore,
    _schema_revisions,
    checkpoint_checksum,
    keyframe_checksum,
    module_checksum,
)
from ttd.wasm.module import parse_module

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
#: 304 chunks of fib: checkpoints, page versions, and keyframes at chunks 64, 128, 192, 256.
OLD = FIXTURES / "schema-0003" / "fib_small_chunks.db"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """fib recorded by this ttd with small chunks, so it has keyframes; tests damage copies."""
    out = tmp_path_factory.mktemp("checksums") / "fib.db"
    p = ttd("record", "--quiet", "--chunk-blocks", "16", "--out", str(out), str(PROGRAMS_DIR / "fib.wasm"))
    assert p.returncode == 0, p.stderr.decode()
    return out


@pytest.fixture
def trace(recorded: Path, tmp_path: Path) -> Path:
    path = tmp_path / "t.db"
    shutil.copyfile(recorded, path)
    return path


def _sql(path: Path, sql: str, *args: object) -> list[tuple]:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def _flip(data: bytes, at: int, n: int = 4) -> bytes:
    b = bytearray(data)
    for i in range(at, at + n):
        b[i] ^= 0x5A
    return bytes(b)


def _verify(path: Path) -> tuple[int, list[str], str]:
    """exit status, stdout lines, stderr of `ttd verify -q`."""
    p = ttd("verify", "-q", str(path))
    return p.returncode, p.stdout.decode().splitlines(), p.stderr.decode()


def _one_line_error(err: str, *wanted: str) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("ttd: error: "), err
    for w in wanted:
        assert w in lines[0], (w, err)


def _mismatches(out: list[str]) -> list[str]:
    assert out and all(line.startswith("MISMATCH: ") for line in out), out
    return [line.removeprefix("MISMATCH: ") for line in out]


def _debug_line_offset(wasm: bytes) -> int:
    (section,) = parse_module(wasm).custom(".debug_line")
    assert section.end - section.content_start > 64
    return section.content_start + (section.end - section.content_start) // 2


# ---- the formats --------------------------------------------------------------------------


def test_the_migration_computes_the_same_checksums() -> None:
    spec = importlib.util.spec_from_file_location("m0004", ALEMBIC_DIR / "versions" / "0004_blob_checksums.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    sha = hashlib.sha256(b"\0asm").hexdigest()
    for args in ((0, "fib.wasm", sha, b"sched"), (3, "", sha, b""), (1, "\udcff", sha, b"x" * 1000)):
        assert mod.module_checksum(*args) == module_checksum(*args)
    for args in ((0, b""), (5, b"state"), (2**40, b"\0" * 4097)):
        assert mod.checkpoint_checksum(*args) == checkpoint_checksum(*args)
    for args in ((0, 64, b"map"), (7, 2**31 - 1, b"")):
        assert mod.keyframe_checksum(*args) == keyframe_checksum(*args)


def test_rows_cannot_be_swapped_or_shifted() -> None:
    sha = hashlib.sha256(b"w").hexdigest()
    assert module_checksum(0, "a", sha, b"s") != module_checksum(1, "a", sha, b"s")
    assert module_checksum(0, "ab", sha, b"") != module_checksum(0, "a", sha, b"b")
    assert checkpoint_checksum(1, b"s") != checkpoint_checksum(2, b"s")
    assert keyframe_checksum(0, 64, b"m") != keyframe_checksum(1, 64, b"m")
    assert keyframe_checksum(0, 64, b"m") != keyframe_checksum(0, 128, b"m")
    assert checkpoint_checksum(64, b"m") != keyframe_checksum(0, 64, b"m")


def test_a_recorded_trace_has_every_checksum(recorded: Path) -> None:
    with TraceStore.open(recorded) as store:
        assert store.revision == _schema_revisions()[0] and store.blob_checksums
        (row,) = _sql(recorded, "SELECT id, name, sha256, wasm, schedule, checksum FROM modules")
        assert row[2] == hashlib.sha256(row[3]).hexdigest()
        assert row[5] == module_checksum(row[0], row[1], row[2], row[4])
        checkpoints = _sql(recorded, "SELECT chunk_seq, state, checksum FROM checkpoints")
        assert len(checkpoints) == 305
        assert all(c == checkpoint_checksum(s, st) for s, st, c in checkpoints)
        keyframes = _sql(recorded, "SELECT memory, chunk_seq, page_map, checksum FROM page_keyframes")
        assert len(keyframes) >= 4
        assert all(c == keyframe_checksum(m, s, pm) for m, s, pm, c in keyframes)
        assert list(store.checksum_failures()) == []


def test_an_untouched_trace_verifies(recorded: Path) -> None:
    code, out, err = _verify(recorded)
    assert code == 0 and out[0].startswith("OK: 40,724 steps in 304 chunks"), (out, err)
    assert not err


# ---- the module and its schedule ----------------------------------------------------------


def test_flipped_debug_line_fails_verify_and_open(trace: Path) -> None:
    """The reported case: four bytes flipped inside .debug_line were invisible."""
    (wasm,) = _sql(trace, "SELECT wasm FROM modules WHERE id = 0")[0]
    _sql(trace, "UPDATE modules SET wasm = ? WHERE id = 0", _flip(wasm, _debug_line_offset(wasm)))
    code, out, err = _verify(trace)
    assert code == 1 and not out
    _one_line_error(err, "the stored module fails its checksum")
    p = ttd("info", str(trace))
    assert p.returncode == 1
    _one_line_error(p.stderr.decode(), "the stored module fails its checksum")
    with TraceStore.open(trace) as store, pytest.raises(CorruptTrace) as exc:
        Trace(store)
    assert "\n" not in str(exc.value)


def test_module_sha256_recomputed_but_not_the_checksum(trace: Path) -> None:
    (wasm,) = _sql(trace, "SELECT wasm FROM modules WHERE id = 0")[0]
    new = _flip(wasm, _debug_line_offset(wasm))
    _sql(trace, "UPDATE modules SET wasm = ?, sha256 = ? WHERE id = 0", new, hashlib.sha256(new).hexdigest())
    code, _out, err = _verify(trace)
    assert code == 1
    _one_line_error(err, "the stored module fails its checksum")


def test_info_shows_the_hash_of_the_stored_module(trace: Path) -> None:
    """Even when whoever changed the module recomputed every checksum, `info` shows the
    sha256 of the bytes stored now, not what the recorder noted."""
    recorded_sha = json.loads(ttd("info", "--json", str(trace)).stdout)["module_sha256"]
    assert recorded_sha == hashlib.sha256((PROGRAMS_DIR / "fib.wasm").read_bytes()).hexdigest()
    (wasm, name, schedule) = _sql(trace, "SELECT wasm, name, schedule FROM modules WHERE id = 0")[0]
    new = _flip(wasm, _debug_line_offset(wasm))
    sha = hashlib.sha256(new).hexdigest()
    _sql(trace, "UPDATE modules SET wasm = ?, sha256 = ?, checksum = ? WHERE id = 0",
         new, sha, module_checksum(0, name, sha, schedule))
    p = ttd("info", str(trace))
    assert p.returncode == 0, p.stderr.decode()
    assert f"module:    {sha}" in p.stdout.decode().splitlines()
    assert json.loads(ttd("info", "--json", str(trace)).stdout)["module_sha256"] == sha != recorded_sha


@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_flipped_schedule_fails_verify_and_open(trace: Path, where: str) -> None:
    (schedule,) = _sql(trace, "SELECT schedule FROM modules WHERE id = 0")[0]
    at = {"start": 1, "middle": len(schedule) // 2, "end": len(schedule) - 4}[where]
    _sql(trace, "UPDATE modules SET schedule = ? WHERE id = 0", _flip(schedule, at))
    code, out, err = _verify(trace)
    assert code == 1 and not out
    _one_line_error(err, "the stored module fails its checksum")
    with TraceStore.open(trace) as store, pytest.raises(CorruptTrace, match="the stored module fails its checksum"):
        store.module(0)


def test_module_renamed(trace: Path) -> None:
    _sql(trace, "UPDATE modules SET name = 'other.wasm' WHERE id = 0")
    with TraceStore.open(trace) as store, pytest.raises(CorruptTrace, match="fails its checksum"):
        store.module(0)


# ---- checkpoints and keyframes ------------------------------------------------------------


def test_flipped_checkpoint_fails_verify_and_replay(trace: Path) -> None:
    (state,) = _sql(trace, "SELECT state FROM checkpoints WHERE chunk_seq = 100")[0]
    _sql(trace, "UPDATE checkpoints SET state = ? WHERE chunk_seq = 100", _flip(state, len(state) // 2))
    code, out, err = _verify(trace)
    assert code == 1 and not err
    assert _mismatches(out) == ["checkpoint 100 fails its checksum"]
    with TraceStore.open(trace) as store:
        tr = Trace(store)
        first = tr.chunks[100][1]
        with pytest.raises(CorruptTrace) as exc:
            ReplaySession(tr, first + 1)
        assert "checkpoint 100 fails its checksum" in str(exc.value) and "\n" not in str(exc.value)


def test_swapped_checkpoints_fail_verify(trace: Path) -> None:
    (a,) = _sql(trace, "SELECT state FROM checkpoints WHERE chunk_seq = 10")[0]
    (b,) = _sql(trace, "SELECT state FROM checkpoints WHERE chunk_seq = 11")[0]
    assert a != b
    _sql(trace, "UPDATE checkpoints SET state = ? WHERE chunk_seq = 10", b)
    _sql(trace, "UPDATE checkpoints SET state = ? WHERE chunk_seq = 11", a)
    code, out, _err = _verify(trace)
    assert code == 1
    assert _mismatches(out) == ["checkpoint 10 fails its checksum", "checkpoint 11 fails its checksum"]


def test_checkpoint_without_checksum_is_refused(trace: Path) -> None:
    _sql(trace, "UPDATE checkpoints SET checksum = NULL WHERE chunk_seq = 3")
    with TraceStore.open(trace) as store, pytest.raises(CorruptTrace, match="checkpoint 3 fails its checksum"):
        store.checkpoint(3)


def test_checksum_that_is_not_text_is_a_mismatch(trace: Path) -> None:
    """Text that is not UTF-8 (which the driver cannot decode), a number, a blob: all mismatches."""
    _sql(trace, "UPDATE checkpoints SET checksum = CAST(x'ff00fe' AS TEXT) WHERE chunk_seq = 1")
    _sql(trace, "UPDATE checkpoints SET checksum = 7 WHERE chunk_seq = 2")
    (good,) = _sql(trace, "SELECT checksum FROM checkpoints WHERE chunk_seq = 3")[0]
    _sql(trace, "UPDATE checkpoints SET checksum = CAST(? AS BLOB) WHERE chunk_seq = 3", good)
    with TraceStore.open(trace) as store:
        for seq in (1, 2):
            with pytest.raises(CorruptTrace, match=f"checkpoint {seq} fails its checksum"):
                store.checkpoint(seq)
        assert store.checkpoint(3)  # the same characters, stored as a blob
        assert list(store.checksum_failures()) == ["checkpoint 1 fails its checksum",
                                                   "checkpoint 2 fails its checksum"]


def test_flipped_keyframe_fails_verify_and_seek(trace: Path) -> None:
    (page_map,) = _sql(trace, "SELECT page_map FROM page_keyframes WHERE memory = 0 AND chunk_seq = 128")[0]
    _sql(trace, "UPDATE page_keyframes SET page_map = ? WHERE memory = 0 AND chunk_seq = 128",
         _flip(page_map, len(page_map) // 2))
    code, out, err = _verify(trace)
    assert code == 1 and not err
    assert _mismatches(out) == ["the page keyframe of memory 0 at chunk 128 fails its checksum"]
    with TraceStore.open(trace) as store:
        assert store.page_table(100, 0)  # before the damaged keyframe: fine
        with pytest.raises(CorruptTrace, match="page keyframe of memory 0 at chunk 128 fails its checksum"):
            store.page_table(130, 0)


# ---- pages --------------------------------------------------------------------------------


def test_page_with_other_content_fails_verify(trace: Path) -> None:
    """Re-compressed, so it decompresses fine: only its digest tells."""
    digest, data = _sql(trace, "SELECT digest, data FROM pages ORDER BY digest LIMIT 1 OFFSET 3")[0]
    raw = codec.decompress(data, 1 << 20)
    _sql(trace, "UPDATE pages SET data = ? WHERE digest = ?", codec.compress(_flip(raw, len(raw) // 2)), digest)
    code, out, err = _verify(trace)
    assert code == 1 and not err
    assert _mismatches(out) == [f"page {digest.hex()[:16]}... fails its checksum (its content's sha256 is not its digest)"]


def test_page_that_does_not_decompress_fails_verify(trace: Path) -> None:
    digest, data = _sql(trace, "SELECT digest, data FROM pages ORDER BY digest LIMIT 1")[0]
    _sql(trace, "UPDATE pages SET data = ? WHERE digest = ?", data[:-5], digest)
    code, out, _err = _verify(trace)
    assert code == 1
    (line,) = _mismatches(out)
    assert line.startswith(f"page {digest.hex()[:16]}... does not decompress")


def test_page_the_walk_cannot_reach_is_reported(trace: Path) -> None:
    _sql(trace, "INSERT INTO pages(digest, data) VALUES ('not a digest', x'00')")
    code, out, _err = _verify(trace)
    assert code == 1
    assert _mismatches(out) == ["1 pages have a digest that is not a sha256"]


def test_pages_are_read_in_bounded_batches(trace: Path) -> None:
    with TraceStore.open(trace) as store:
        n = store.page_count()
        assert n > 20
        digests = [d for d, _ in store.iter_pages(batch=7)]
        assert len(digests) == n and digests == sorted(digests) and len(set(digests)) == n


def test_many_failures_are_listed_up_to_a_limit(trace: Path) -> None:
    _sql(trace, "UPDATE checkpoints SET checksum = 'x' WHERE chunk_seq < 50")
    code, out, _err = _verify(trace)
    assert code == 1
    lines = _mismatches(out)
    assert lines[:2] == ["checkpoint 0 fails its checksum", "checkpoint 1 fails its checksum"]
    assert len(lines) == 21 and lines[-1] == "and 30 more blobs fail their checksums"


# ---- older revisions ----------------------------------------------------------------------


def test_old_revision_read_as_it_is_says_what_it_could_not_check(tmp_path: Path) -> None:
    ro = tmp_path / "ro.db"
    shutil.copyfile(OLD, ro)
    os.chmod(ro, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    before = ro.read_bytes()
    with TraceStore.open(ro) as store:
        assert store.revision == "0003" and not store.blob_checksums
        assert store.checkpoint(5) and store.page_table(200, 0)  # no checksum column: not named
        rep = verify(Trace(store))
    assert rep.ok and rep.complete, rep.problems
    assert rep.problems == [
        "not checked: the module's schedule, the checkpoints and the page-table keyframes (schema "
        "revision 0003, read as it is, has no checksums for them; `ttd export` makes an upgraded "
        "copy that has them)"]
    code, out, _err = _verify(ro)
    assert code == 0 and out[0].startswith("OK: ")
    assert ro.read_bytes() == before


def test_old_revision_read_as_it_is_still_checks_module_bytes_and_pages(tmp_path: Path) -> None:
    ro = tmp_path / "ro.db"
    shutil.copyfile(OLD, ro)
    (wasm,) = _sql(ro, "SELECT wasm FROM modules WHERE id = 0")[0]
    _sql(ro, "UPDATE modules SET wasm = ? WHERE id = 0", _flip(wasm, _debug_line_offset(wasm)))
    os.chmod(ro, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    code, _out, err = _verify(ro)
    assert code == 1
    _one_line_error(err, "the stored module fails its checksum")


def test_upgrade_backfills_what_recording_would_have_written(tmp_path: Path) -> None:
    rw = tmp_path / "rw.db"
    shutil.copyfile(OLD, rw)
    with TraceStore.open(rw, writable=True) as store:
        assert store.revision == _schema_revisions()[0] and store.blob_checksums
        assert list(store.checksum_failures()) == []
    ((mid, name, sha, schedule, checksum),) = _sql(rw, "SELECT id, name, sha256, schedule, checksum FROM modules")
    assert checksum == module_checksum(mid, name, sha, schedule)
    rows = _sql(rw, "SELECT chunk_seq, state, checksum FROM checkpoints")
    assert len(rows) == 305 and all(c == checkpoint_checksum(s, st) for s, st, c in rows)
    rows = _sql(rw, "SELECT memory, chunk_seq, page_map, checksum FROM page_keyframes")
    assert len(rows) == 4 and all(c == keyframe_checksum(m, s, pm) for m, s, pm, c in rows)
    code, out, _err = _verify(rw)
    assert code == 0 and out[0].startswith("OK: ")


def test_upgrade_does_not_bless_a_damaged_module(tmp_path: Path) -> None:
    rw = tmp_path / "rw.db"
    shutil.copyfile(OLD, rw)
    (wasm,) = _sql(rw, "SELECT wasm FROM modules WHERE id = 0")[0]
    _sql(rw, "UPDATE modules SET wasm = ? WHERE id = 0", _flip(wasm, _debug_line_offset(wasm)))
    code, _out, err = _verify(rw)  # upgrades the file, then refuses the module
    assert code == 1
    _one_line_error(err, "the stored module fails its checksum")
    assert _sql(rw, "SELECT version_num FROM alembic_version") == [(_schema_revisions()[0],)]
    assert _sql(rw, "SELECT checksum FROM modules") == [(None,)]
