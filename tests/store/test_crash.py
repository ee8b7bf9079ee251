"""SIGKILL a recorder-like writer: the trace must open with a checksummed prefix of its chunks."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.store._tracegen import check_prefix
from tests.store.conftest import file_state
from ttd.store import TraceError, TraceStore
from ttd.store.trace_store import recover

REPO = Path(__file__).resolve().parents[2]
CHUNK_SIZE = 64 << 10  # large enough that the writer spends most of its time inside a batch

WRITER = textwrap.dedent(
    """
    import sys, time
    from tests.store._tracegen import write_chunk
    from ttd.store import TraceStore

    path, mode, n, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    store = TraceStore.create(path)
    store.set_info(status="recording")
    store.commit()
    if mode == "loop":
        # Commit forever, reporting each committed chunk; the parent kills us at some point.
        seq = 0
        while True:
            write_chunk(store, seq, size)
            store.commit()
            print(seq, flush=True)
            seq += 1
    else:
        # Commit n chunks, then leave a big batch half-written: with a tiny page
        # cache SQLite spills uncommitted pages into the file itself, so only
        # the -journal can restore the committed state.
        for seq in range(n):
            write_chunk(store, seq, size)
            store.commit()
        store._conn.exec_driver_sql("PRAGMA cache_size = 8")
        for seq in range(n, n + 200):
            write_chunk(store, seq, size)
        print("mid-batch", flush=True)
        time.sleep(600)
    """
)


def start_writer(path: Path, mode: str, n: int = 0) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), mode, str(n), str(CHUNK_SIZE)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )


def _journal_is_cold(journal: Path) -> bool:
    with journal.open("rb") as f:
        return f.read(1) in (b"", b"\x00")


def kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize("after", [1, 25, 80])
def test_sigkill_while_writing_many_chunks(tmp_path: Path, after: int) -> None:
    path = tmp_path / "live.ttd"
    proc = start_writer(path, "loop")
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if int(line) >= after:
                break
        else:
            pytest.fail("writer exited early")
    finally:
        kill(proc)
    journal = tmp_path / "live.ttd-journal"
    # killed inside a batch: rolled back on request only. Killed just after SQLite created
    # the journal and before its header's first byte landed, the journal is empty or starts
    # with a zero byte, which SQLite's pager (hasHotJournal) treats as nothing to roll back
    cold = journal.exists() and _journal_is_cold(journal)
    if journal.exists() and not cold:
        with pytest.raises(TraceError, match="ttd recover"):
            TraceStore.open(path)
        assert "rolled back" in recover(path)
    with TraceStore.open(path) as store:
        n = check_prefix(store, CHUNK_SIZE)
        assert n >= after + 1  # everything reported as committed is there
        assert store.info() == {"status": "recording"}
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == (["live.ttd", "live.ttd-journal"] if cold else ["live.ttd"])  # a single file again


@pytest.mark.parametrize("writable", [False, True], ids=["read-only", "writable"])
def test_sigkill_mid_batch_with_spilled_pages(tmp_path: Path, writable: bool) -> None:
    path = tmp_path / "live.ttd"
    proc = start_writer(path, "spill", n=10)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "mid-batch"
    finally:
        kill(proc)
    journal = tmp_path / "live.ttd-journal"
    assert journal.stat().st_size > 0  # a hot journal: the file alone is not a consistent trace
    # The spilled file alone is inconsistent: looking at it without the journal
    # (immutable=1 makes SQLite ignore the journal) shows uncommitted chunks.
    peek = f"file:{path}?immutable=1"
    raw = sqlite3.connect(peek, uri=True)
    try:
        uncommitted = raw.execute("SELECT count(*) FROM chunks WHERE seq >= 10").fetchone()[0]
    except sqlite3.DatabaseError:
        uncommitted = -1  # torn mid-spill: unreadable, which is just as bad
    finally:
        raw.close()
    assert uncommitted != 0

    # A writer's open rolls the journal back (SQLite does it); a reader refuses and changes
    # nothing, and `ttd recover` rolls it back on request. Either way exactly the committed
    # chunks are left.
    if writable:
        with TraceStore.open(path, writable=True) as store:
            assert check_prefix(store, CHUNK_SIZE) == 10
    else:
        before = file_state(tmp_path)
        with pytest.raises(TraceError, match="ttd recover") as info:
            TraceStore.open(path)
        assert "\n" not in str(info.value)
        assert file_state(tmp_path) == before
        assert "rolled back" in recover(path)
    assert not journal.exists()
    with TraceStore.open(path) as store:
        assert check_prefix(store, CHUNK_SIZE) == 10


def test_hot_journal_that_cannot_be_rolled_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """E.g. a crashed trace in a read-only directory: `ttd recover` says so in one line, and the files stay as they are."""
    path = tmp_path / "live.ttd"
    proc = start_writer(path, "spill", n=3)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "mid-batch"
    finally:
        kill(proc)
    before = file_state(tmp_path)
    real_connect = sqlite3.connect

    def no_write_access(database: str, *args: object, **kwargs: object) -> sqlite3.Connection:
        if "mode=rw" in str(database):  # what SQLite reports in a read-only directory
            raise sqlite3.OperationalError("unable to open database file")
        return real_connect(database, *args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", no_write_access)
    with pytest.raises(TraceError, match="interrupted write"):
        TraceStore.open(path)
    assert file_state(tmp_path) == before
    with pytest.raises(TraceError, match="cannot recover") as info:
        recover(path)
    assert type(info.value) is TraceError and "\n" not in str(info.value)
    assert file_state(tmp_path) == before
