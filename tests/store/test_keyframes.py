"""Page-table keyframes (schema revision 0002): same answers as the full scan, bounded cost, upgrades."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import random
import sqlite3
import stat
from pathlib import Path

import pytest
from alembic import command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ttd.store import CorruptTrace, TraceStore
from ttd.store.engine import trace_engine
from ttd.store.keyframes import KEYFRAME_INTERVAL, decode_page_map, encode_page_map
from ttd.store.trace_store import ALEMBIC_DIR, _alembic_config, _schema_revisions, keyframe_checksum

K = KEYFRAME_INTERVAL


def digest(*parts: object) -> bytes:
    return hashlib.sha256(repr(parts).encode()).digest()


def versions_for(n_chunks: int, seed: int = 0, memories: int = 2) -> dict[int, list[tuple[int, int, bytes]]]:
    """chunk_seq -> (memory, page, digest) rows, as a recorder would write them: a few pages change per chunk."""
    rnd = random.Random(seed)
    out: dict[int, list] = {}
    for seq in range(n_chunks + 1):
        rows = {}
        for _ in range(rnd.randrange(0, 6) if seq else 40):
            m = rnd.randrange(memories)
            p = rnd.randrange(60)
            rows[(m, p)] = (m, p, digest(m, p, seq, rnd.random()))
        out[seq] = list(rows.values())
    return out


def model_table(versions: dict[int, list], seq: int, memory: int) -> dict[int, bytes]:
    table: dict[int, bytes] = {}
    for s in sorted(versions):
        if s <= seq:
            for m, p, d in versions[s]:
                if m == memory:
                    table[p] = d
    return table


def make_0001(path: Path) -> Path:
    """An empty trace file at schema revision 0001, as the previous ttd created it."""
    path.touch()
    engine = trace_engine(path, writable=True)
    try:
        with engine.connect() as conn, conn.begin():
            cfg = _alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0001")
    finally:
        engine.dispose()
    return path


def fill_raw(path: Path, versions: dict[int, list]) -> None:
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO trace_info VALUES ('status', '\"complete\"')")
    conn.executemany(
        "INSERT INTO page_versions VALUES (?, ?, ?, ?)",
        [(m, p, s, d) for s, rows in versions.items() for m, p, d in rows],
    )
    conn.commit()
    conn.close()


def keyframe_rows(path: Path) -> dict[tuple[int, int], dict[int, bytes]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {(m, s): decode_page_map(b) for m, s, b in conn.execute(
            "SELECT memory, chunk_seq, page_map FROM page_keyframes")}
    finally:
        conn.close()


def revision_of(path: Path) -> str:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    finally:
        conn.close()


def test_interval_is_the_same_in_the_migration() -> None:
    spec = importlib.util.spec_from_file_location("m0002", ALEMBIC_DIR / "versions" / "0002_page_keyframes.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.KEYFRAME_INTERVAL == KEYFRAME_INTERVAL
    table = {5: digest(1), 0: digest(2), 1 << 40: digest(3)}
    assert mod._encode(table) == encode_page_map(table)


def test_page_map_round_trip_and_corruption() -> None:
    table = {p: digest(p) for p in range(0, 3000, 7)}
    assert decode_page_map(encode_page_map(table)) == table
    assert decode_page_map(encode_page_map({})) == {}
    from ttd.store import codec

    for bad in (b"", b"junk", codec.compress(b"\x05" + bytes(7)), codec.compress(bytes(8) + b"x")):
        with pytest.raises(CorruptTrace):
            decode_page_map(bad)


def write_online(path: Path, versions: dict[int, list]) -> None:
    with TraceStore.create(path) as store:
        store.set_info(status="complete")
        for seq in sorted(versions):
            store.put_page_versions(seq, versions[seq])
            if seq % 10 == 0:
                store.commit()


def test_recording_writes_keyframes_and_answers_like_the_scan(tmp_path: Path) -> None:
    versions = versions_for(5 * K + 7)
    path = tmp_path / "t.ttd"
    write_online(path, versions)
    frames = keyframe_rows(path)
    assert sorted({s for _m, s in frames}) == [K, 2 * K, 3 * K, 4 * K, 5 * K]
    for (m, s), table in frames.items():
        assert table == model_table(versions, s, m)
    with TraceStore.open(path) as store:
        for seq in list(range(-1, 5 * K + 10)) + [10**6]:
            for m in (0, 1, 2):
                want = model_table(versions, seq, m)
                assert store.page_table(seq, m) == want, (seq, m)
                store._use_keyframes = False
                assert store.page_table(seq, m) == want, (seq, m)
                store._use_keyframes = True


def test_seek_reads_only_versions_after_the_keyframe(tmp_path: Path) -> None:
    path = tmp_path / "t.ttd"
    write_online(path, versions_for(3 * K + 1))
    with TraceStore.open(path) as store:
        plan = " ".join(
            str(r[-1])
            for r in store._conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT page, digest FROM page_versions INDEXED BY ix_page_versions_memory_chunk_seq"
                " WHERE memory = 0 AND chunk_seq > 64 AND chunk_seq <= 70 ORDER BY chunk_seq"
            )
        )
        assert "ix_page_versions_memory_chunk_seq" in plan and "TEMP B-TREE" not in plan


@pytest.fixture(scope="module")
def model_store(tmp_path_factory: pytest.TempPathFactory):
    s = TraceStore.create(tmp_path_factory.mktemp("kf") / "kf.ttd")
    s.next_memory = 0  # type: ignore[attr-defined]
    yield s
    s.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    versions=st.dictionaries(
        st.tuples(st.integers(0, 20), st.integers(0, 4 * K + 3)),  # (page, chunk_seq)
        st.binary(min_size=32, max_size=32),
        max_size=150,
    ),
    order=st.randoms(use_true_random=False),
    queries=st.lists(st.integers(-1, 4 * K + 5), min_size=1, max_size=12),
)
def test_any_insertion_order_matches_the_model(model_store: TraceStore, versions: dict, order, queries) -> None:
    """Versions written out of chunk order invalidate the keyframes they land under."""
    memory = model_store.next_memory  # type: ignore[attr-defined]
    model_store.next_memory += 1  # type: ignore[attr-defined]
    by_seq: dict[int, list] = {}
    for (page, chunk_seq), dig in versions.items():
        by_seq.setdefault(chunk_seq, []).append((memory, page, dig))
    batches = [(s, rows[i:i + 3]) for s, rows in by_seq.items() for i in range(0, len(rows), 3)]
    order.shuffle(batches)
    for n, (chunk_seq, rows) in enumerate(batches):
        model_store.put_page_versions(chunk_seq, rows)
        if n % 4 == 0:
            model_store.commit()
        probe = queries[n % len(queries)]
        assert model_store.page_table(probe, memory) == model_table(
            {s: r for s, r in _written(batches[: n + 1]).items()}, probe, memory
        )
    model_store.commit()
    for seq in queries:
        assert model_store.page_table(seq, memory) == model_table(_written(batches), seq, memory)


def _written(batches: list) -> dict[int, list]:
    out: dict[int, list] = {}
    for s, rows in batches:
        out.setdefault(s, []).extend(rows)
    return out


def test_rebuild_keyframes_reproduces_them(tmp_path: Path) -> None:
    path = tmp_path / "t.ttd"
    write_online(path, versions_for(3 * K + 5, seed=3))
    before = keyframe_rows(path)
    with TraceStore.open(path, writable=True) as store:
        assert store.rebuild_keyframes() == len(before)
    assert keyframe_rows(path) == before


def test_migration_backfills_the_keyframes_recording_would_have_written(tmp_path: Path) -> None:
    versions = versions_for(4 * K + 1, seed=7, memories=3)
    online = tmp_path / "online.ttd"
    write_online(online, versions)
    old = make_0001(tmp_path / "old.ttd")
    fill_raw(old, versions)
    assert revision_of(old) == "0001"
    with TraceStore.open(old, writable=True) as store:
        assert store.revision == _schema_revisions()[0]
    assert revision_of(old) == _schema_revisions()[0]
    assert keyframe_rows(old) == keyframe_rows(online)
    assert keyframe_rows(old)  # not vacuously


def test_read_only_open_upgrades_a_writable_file(tmp_path: Path) -> None:
    versions = versions_for(2 * K + 3, seed=1)
    old = make_0001(tmp_path / "old.ttd")
    fill_raw(old, versions)
    with TraceStore.open(old) as store:
        assert store.revision == _schema_revisions()[0] and not store.writable
        assert store.page_table(2 * K + 1, 0) == model_table(versions, 2 * K + 1, 0)
    assert revision_of(old) == _schema_revisions()[0]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith("-journal")]


def test_read_only_file_is_read_as_it_is(tmp_path: Path) -> None:
    versions = versions_for(2 * K + 3, seed=2)
    old = make_0001(tmp_path / "old.ttd")
    fill_raw(old, versions)
    os.chmod(old, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)  # 0444: root could write it, ttd must not
    before = old.read_bytes()
    with TraceStore.open(old) as store:
        assert store.revision == "0001" and not store._use_keyframes
        for seq in (0, K, 2 * K + 2):
            assert store.page_table(seq, 1) == model_table(versions, seq, 1)
    assert old.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.ttd"]


def test_upgrade_is_not_attempted_when_told_not_to(tmp_path: Path) -> None:
    old = make_0001(tmp_path / "old.ttd")
    fill_raw(old, versions_for(3))
    with TraceStore.open(old, upgrade=False) as store:
        assert store.revision == "0001"
    assert revision_of(old) == "0001"


@pytest.mark.parametrize("resealed", [False, True], ids=["checksum", "decoder"])
def test_corrupt_keyframe_is_a_corrupt_trace(tmp_path: Path, resealed: bool) -> None:
    """Caught by its checksum; and with the checksum recomputed (a forger), by the decoder."""
    path = tmp_path / "t.ttd"
    write_online(path, versions_for(K + 3))
    conn = sqlite3.connect(path)
    bad = bytes.fromhex("28b52ffd00")
    conn.execute("UPDATE page_keyframes SET page_map = ?", (bad,))
    if resealed:
        for m, s in conn.execute("SELECT memory, chunk_seq FROM page_keyframes").fetchall():
            conn.execute("UPDATE page_keyframes SET checksum = ? WHERE memory = ? AND chunk_seq = ?",
                         (keyframe_checksum(m, s, bad), m, s))
    conn.commit()
    conn.close()
    match = "page keyframe: " if resealed else "page keyframe of memory 0 at chunk 64 fails its checksum"
    with TraceStore.open(path) as store, pytest.raises(CorruptTrace, match=match):
        store.page_table(K + 1, 0)


def test_extra_keyframes_from_a_writer_answer_like_the_scan(tmp_path: Path) -> None:
    """put_keyframe() between the regular ones: the same page tables, and versions that
    arrive late for a chunk at or before an extra keyframe drop it."""
    versions = versions_for(3 * K + 5, seed=3)
    path = tmp_path / "t.ttd"
    extra = [7, 30, K + 1, 2 * K + 9]
    with TraceStore.create(path) as store:
        store.set_info(status="complete")
        late = versions.pop(K - 3)  # written after the extra keyframe at K + 1
        for seq in sorted(versions):
            store.put_page_versions(seq, versions[seq])
            if seq in extra:
                for m in (0, 1):
                    store.put_keyframe(m, seq, model_table(versions, seq, m))
        assert {s for _m, s in keyframe_rows_of(store)} >= set(extra)
        store.put_page_versions(K - 3, late)
        versions[K - 3] = late
        kept = keyframe_rows_of(store)
        hit = {m for m, _p, _d in late}
        assert hit
        for m in (0, 1):  # the regular ones come back; the extra ones after the late chunk go
            assert (m, 7) in kept and (m, 30) in kept
            assert ((m, K + 1) in kept) == ((m, 2 * K + 9) in kept) == (m not in hit)
        store.commit()
    for (m, s), table in keyframe_rows(path).items():
        assert table == model_table(versions, s, m), (m, s)
    with TraceStore.open(path) as store:
        for seq in range(-1, 3 * K + 8):
            for m in (0, 1):
                assert store.page_table(seq, m) == model_table(versions, seq, m), (seq, m)


def keyframe_rows_of(store: TraceStore) -> set[tuple[int, int]]:
    return {(int(m), int(s)) for m, s in store._conn.exec_driver_sql(
        "SELECT memory, chunk_seq FROM page_keyframes")}
