"""Round trips through every TraceStore method, and the lifecycle rules around them."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.store._tracegen import check_prefix, digest, make_trace, page_for
from ttd.store import ChunkRow, CorruptTrace, MissingRow, ModuleRow, TraceError, TraceExists, TraceStore


@pytest.fixture
def store(tmp_path: Path):
    s = TraceStore.create(tmp_path / "t.ttd")
    yield s
    s.close()


def reopen(store: TraceStore, *, writable: bool = False) -> TraceStore:
    store.commit()
    store.close()
    assert store.path is not None
    return TraceStore.open(store.path, writable=writable)


def test_create_builds_schema_and_reopens_read_only(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "t.ttd"
    with TraceStore.create(path) as s:
        assert s.path == path and s.writable
        assert s.url == f"sqlite:///{path.absolute()}"
    assert [p.name for p in path.parent.iterdir()] == ["t.ttd"]  # one file, no journal left
    with TraceStore.open(path) as s:
        assert not s.writable
        assert s.info() == {} and s.chunk_index() == []


def test_info_round_trip_and_upsert(store: TraceStore) -> None:
    store.set_info(program="p.wasm", args=["x", "y z"], env={"A": "1"}, exit_code=0, trap=None, total_steps=2**62)
    store.set_info(status="recording")
    store.commit()
    store.set_info(status="complete", exit_code=3)
    store.set_info()
    with reopen(store) as s:
        assert s.info() == {
            "program": "p.wasm",
            "args": ["x", "y z"],
            "env": {"A": "1"},
            "exit_code": 3,
            "trap": None,
            "total_steps": 2**62,
            "status": "complete",
        }


def test_modules(store: TraceStore) -> None:
    wasm = b"\0asm\x01\0\0\0" + os.urandom(1000)
    assert store.add_module("main.wasm", wasm, b"sched0") == 0
    assert store.add_module("other.wasm", b"\0asm", b"") == 1
    with reopen(store) as s:
        assert s.module() == ModuleRow("main.wasm", hashlib.sha256(wasm).hexdigest(), wasm, b"sched0")
        assert s.module(1).name == "other.wasm"
        with pytest.raises(MissingRow, match="no module 2") as info:
            s.module(2)
        # Both a KeyError for probing code and a one-line CorruptTrace for the CLI.
        assert isinstance(info.value, KeyError) and isinstance(info.value, CorruptTrace)
        assert str(info.value) == f"{s.path}: incomplete trace: no module 2"


def test_chunks_round_trip_with_checksums(store: TraceStore) -> None:
    store.add_chunk(0, 0, 100, 0, 7, b"ids0", b"vals0", b"")
    store.add_chunk(1, 100, 50, 7, 3, b"ids1", b"", b"host1")
    store.add_chunk(2, 150, 2**40, 10, 2**33, os.urandom(1 << 20), b"\0" * 10, b"h")
    with reopen(store) as s:
        assert s.chunk_index() == [(0, 0, 100, 0, 7), (1, 100, 50, 7, 3), (2, 150, 2**40, 10, 2**33)]
        row = s.chunk(1)
        assert isinstance(row, ChunkRow)
        assert (row.seq, row.first_step, row.n_steps, row.first_block, row.n_blocks) == (1, 100, 50, 7, 3)
        assert (row.ids, row.vals, row.host) == (b"ids1", b"", b"host1")
        assert len(row.checksum) == 64
        assert all(s.verify_chunk(s.chunk(i)) for i in range(3))
        for field, value in [("ids", b"idsX"), ("vals", b"x"), ("host", b"host"), ("n_steps", 51), ("seq", 0)]:
            assert not s.verify_chunk(dataclasses.replace(row, **{field: value})), field
        # Moving bytes between adjacent blobs must change the checksum too.
        assert not s.verify_chunk(dataclasses.replace(row, ids=b"ids", vals=b"1"))
        with pytest.raises(MissingRow, match="no chunk 3"):
            s.chunk(3)


def test_chunk_tampered_on_disk_fails_verification(store: TraceStore) -> None:
    store.add_chunk(0, 0, 10, 0, 1, b"a", b"b", b"c")
    store._conn.exec_driver_sql("UPDATE chunks SET vals = x'00' WHERE seq = 0")
    store.commit()
    assert not store.verify_chunk(store.chunk(0))


def test_chunk_for_step(store: TraceStore) -> None:
    assert store.chunk_for_step(0) is None
    store.add_chunk(0, 5, 10, 0, 1, b"", b"", b"")  # steps 5..14
    store.add_chunk(1, 15, 0, 1, 0, b"", b"", b"")  # empty
    store.add_chunk(2, 15, 5, 1, 1, b"", b"", b"")  # steps 15..19
    store.add_chunk(3, 20, 0, 2, 0, b"", b"", b"")  # trailing empty chunk
    with reopen(store) as s:
        expect = {0: None, 4: None, 5: 0, 14: 0, 15: 2, 19: 2, 20: None, 10**15: None, -1: None}
        assert {step: s.chunk_for_step(step) for step in expect} == expect


def test_checkpoints(store: TraceStore) -> None:
    store.put_checkpoint(0, b"s0")
    store.put_checkpoint(8, os.urandom(100_000))
    with reopen(store, writable=True) as s:
        assert s.checkpoint(0) == b"s0"
        assert len(s.checkpoint(8) or b"") == 100_000
        assert s.checkpoint(1) is None
        s.put_checkpoint(0, b"s0 with frames")  # the indexer rewrites checkpoints after recording
    with TraceStore.open(s.path) as s:
        assert s.checkpoint(0) == b"s0 with frames"


def test_pages_content_addressed_and_compressed(store: TraceStore) -> None:
    a = b"\x01" * 65536
    b = os.urandom(65536)
    zero = bytes(65536)
    store.put_pages({digest(a): a, digest(b): b, digest(zero): zero})
    store.put_pages({digest(a): a})  # same batch again: skipped
    store.commit()
    store.put_pages({digest(a): a})  # already committed: skipped
    stored = dict(store._conn.exec_driver_sql("SELECT digest, length(data) FROM pages").all())
    assert set(stored) == {digest(a), digest(b)}  # zero pages are never stored
    assert stored[digest(a)] < 1000  # compressed by the store
    with reopen(store, writable=True) as s:
        s.put_pages({digest(a): a, digest(b): b})  # fresh store, file already has them: insert-or-ignore
        s.commit()
        assert s.page(digest(a)) == a and s.page(digest(b)) == b
        with pytest.raises(MissingRow, match="no page with digest"):
            s.page(digest(zero))
        with pytest.raises(CorruptTrace, match="limit"):
            s.page(digest(a), max_size=4096)
        with pytest.raises(ValueError):
            s.put_pages({b"short": a})


def test_uncommitted_pages_are_not_remembered_after_close(tmp_path: Path) -> None:
    page = b"\x07" * 4096
    s = TraceStore.create(tmp_path / "t.ttd")
    s.put_pages({digest(page): page})
    s.close()  # discards the batch
    with TraceStore.open(tmp_path / "t.ttd") as r:
        with pytest.raises(CorruptTrace):
            r.page(digest(page))


def test_page_table_latest_version_not_after_seq(store: TraceStore) -> None:
    d = [bytes([i]) * 32 for i in range(6)]
    store.put_page_versions(0, [(0, 0, d[0]), (0, 1, d[1]), (1, 0, d[2])])
    store.put_page_versions(3, [(0, 1, d[3])])
    store.put_page_versions(5, [(0, 0, d[4]), (0, 9, d[5])])
    store.put_page_versions(6, [])
    with reopen(store) as s:
        assert s.page_table(0, 0) == {0: d[0], 1: d[1]}
        assert s.page_table(2, 0) == {0: d[0], 1: d[1]}
        assert s.page_table(3, 0) == {0: d[0], 1: d[3]}
        assert s.page_table(4, 0) == {0: d[0], 1: d[3]}
        assert s.page_table(5, 0) == {0: d[4], 1: d[3], 9: d[5]}
        assert s.page_table(10**6, 0) == {0: d[4], 1: d[3], 9: d[5]}
        assert s.page_table(5, 1) == {0: d[2]}
        assert s.page_table(5, 2) == {}
        assert s.page_table(-1, 0) == {}


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory):
    s = TraceStore.create(tmp_path_factory.mktemp("pt") / "pt.ttd")
    s.next_memory = 0  # type: ignore[attr-defined]
    yield s
    s.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    versions=st.dictionaries(
        st.tuples(st.integers(0, 40), st.integers(0, 30)),  # (page, chunk_seq)
        st.binary(min_size=32, max_size=32),
        max_size=120,
    ),
    seq=st.integers(-1, 32),
)
def test_page_table_matches_model(shared_store: TraceStore, versions: dict, seq: int) -> None:
    memory = shared_store.next_memory  # type: ignore[attr-defined]
    shared_store.next_memory += 1  # type: ignore[attr-defined]
    by_seq: dict[int, list] = {}
    for (page, chunk_seq), dig in versions.items():
        by_seq.setdefault(chunk_seq, []).append((memory, page, dig))
    for chunk_seq, rows in by_seq.items():
        shared_store.put_page_versions(chunk_seq, rows)
    shared_store.commit()
    expected: dict[int, tuple[int, bytes]] = {}
    for (page, chunk_seq), dig in versions.items():
        if chunk_seq <= seq and (page not in expected or expected[page][0] < chunk_seq):
            expected[page] = (chunk_seq, dig)
    assert shared_store.page_table(seq, memory) == {p: dig for p, (_, dig) in expected.items()}


def test_duplicate_keys_are_bugs_not_trace_errors(store: TraceStore) -> None:
    from sqlalchemy.exc import IntegrityError

    store.add_chunk(0, 0, 1, 0, 1, b"", b"", b"")
    with pytest.raises(IntegrityError):
        store.add_chunk(0, 0, 1, 0, 1, b"", b"", b"")


def test_disk_full_is_a_one_line_trace_error(store: TraceStore) -> None:
    store.commit()
    pages = store._conn.exec_driver_sql("PRAGMA page_count").scalar()
    store._conn.exec_driver_sql(f"PRAGMA max_page_count = {pages + 2}")
    with pytest.raises(TraceError, match="cannot access trace: database or disk is full") as info:
        store.add_chunk(0, 0, 1, 0, 1, os.urandom(1 << 20), b"", b"")
    assert type(info.value) is TraceError


def test_info_that_is_not_json_is_corrupt(store: TraceStore) -> None:
    store._conn.exec_driver_sql("INSERT INTO trace_info VALUES ('status', '{oops')")
    with pytest.raises(CorruptTrace, match="status"):
        store.info()


def test_create_refuses_to_clobber(tmp_path: Path) -> None:
    path = tmp_path / "t.ttd"
    path.write_bytes(b"precious")
    with pytest.raises(TraceExists, match="overwrite=True") as info:
        TraceStore.create(path)
    assert isinstance(info.value, FileExistsError) and isinstance(info.value, TraceError)
    assert path.read_bytes() == b"precious"


def test_create_overwrite_replaces_trace_and_stale_journal(tmp_path: Path) -> None:
    path = make_trace(tmp_path / "t.ttd", n_chunks=3)
    (tmp_path / "t.ttd-journal").write_bytes(os.urandom(4096))  # left over from another trace
    with TraceStore.create(path, overwrite=True) as s:
        s.add_chunk(0, 0, 1, 0, 1, b"new", b"", b"")
    with TraceStore.open(path) as s:
        assert s.chunk_index() == [(0, 0, 1, 0, 1)] and s.chunk(0).ids == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.ttd"]


def test_create_in_unwritable_place(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(TraceError, match="cannot create trace") as info:
        TraceStore.create(tmp_path / "file" / "t.ttd")  # parent is a regular file
    assert type(info.value) is TraceError


def test_create_failure_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ttd.store.trace_store as ts

    def broken_upgrade(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    import ttd.store.migrations as migrations

    monkeypatch.setattr(migrations.command, "upgrade", broken_upgrade)
    with pytest.raises(RuntimeError):
        TraceStore.create(tmp_path / "t.ttd")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["with space.ttd", "q?mark#hash%25.ttd", "ünï.ttd"])
def test_awkward_file_names(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    make_trace(path, n_chunks=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
    with TraceStore.open(path) as s:
        assert check_prefix(s) == 2


def test_read_only_store_refuses_writes(real_trace: Path) -> None:
    with TraceStore.open(real_trace) as s:
        for call in (
            lambda: s.set_info(a=1),
            lambda: s.add_module("m", b"", b""),
            lambda: s.add_chunk(99, 0, 0, 0, 0, b"", b"", b""),
            lambda: s.put_checkpoint(99, b""),
            lambda: s.put_pages({b"\1" * 32: b"\1"}),
            lambda: s.put_page_versions(99, [(0, 0, b"\1" * 32)]),
        ):
            with pytest.raises(TraceError, match="read-only"):
                call()
        s.commit()  # harmless


def test_closed_store(tmp_path: Path) -> None:
    s = TraceStore.create(tmp_path / "t.ttd")
    s.close()
    s.close()
    with pytest.raises(ValueError, match="closed"):
        s.info()
    assert "closed" in repr(s)


def test_context_manager_commits_on_success_and_discards_on_error(tmp_path: Path) -> None:
    path = tmp_path / "t.ttd"
    with TraceStore.create(path) as s:
        s.add_chunk(0, 0, 1, 0, 1, b"", b"", b"")
    with pytest.raises(RuntimeError):
        with TraceStore.open(path, writable=True) as s:
            s.add_chunk(1, 1, 1, 1, 1, b"", b"", b"")
            raise RuntimeError
    with TraceStore.open(path) as s:
        assert [r[0] for r in s.chunk_index()] == [0]


def test_reader_sees_only_commits_and_never_blocks_the_writer(tmp_path: Path) -> None:
    path = tmp_path / "t.ttd"
    writer = TraceStore.create(path)
    writer.add_chunk(0, 0, 1, 0, 1, b"", b"", b"")
    writer.commit()
    reader = TraceStore.open(path)
    assert len(reader.chunk_index()) == 1
    writer.add_chunk(1, 1, 1, 1, 1, b"", b"", b"")
    assert len(reader.chunk_index()) == 1  # uncommitted batch invisible
    writer.commit()  # must not wait on the open reader
    assert len(reader.chunk_index()) == 2
    reader.close()
    writer.close()


def test_writable_open_appends(real_trace: Path, tmp_path: Path) -> None:
    path = tmp_path / "copy.ttd"
    path.write_bytes(real_trace.read_bytes())
    with TraceStore.open(path, writable=True) as s:
        s.add_chunk(60, 60_000, 1, 600, 1, b"more", b"", b"")
    with TraceStore.open(path) as s:
        assert s.chunk_index()[-1] == (60, 60_000, 1, 600, 1)


def test_store_usable_from_another_thread(tmp_path: Path) -> None:
    """The recorder may hand the store to a writer thread."""
    s = TraceStore.create(tmp_path / "t.ttd")
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for seq in range(20):
                s.add_chunk(seq, seq, 1, seq, 1, b"i", b"v", b"h")
                s.commit()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert not errors
    assert len(s.chunk_index()) == 20
    s.close()


def test_real_trace_fixture_is_consistent(real_trace: Path) -> None:
    with TraceStore.open(real_trace) as s:
        assert check_prefix(s) == 60
        assert s.info()["status"] == "complete"
        # write_chunk gives chunk seq a new version of page seq % 7.
        assert s.page_table(6, 0) == {p: digest(page_for(p)) for p in range(7)}
        assert s.page_table(59, 0) == {p: digest(page_for(seq)) for seq in range(53, 60) for p in [seq % 7]}
